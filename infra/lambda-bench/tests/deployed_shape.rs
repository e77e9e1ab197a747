//! The deployed shape, locally: three processes each of the on-save, patient-action and reminder
//! binaries (target/debug) behind local Lambda Runtime APIs, their AWS calls going through the
//! fault-injecting proxy to moto. An EMR client saves, moves and cancels appointments (some saves
//! twice at once), patients confirm, the reminders fire twice each, and now and then the process
//! handling an invocation is SIGKILLed mid-way. Everything is retried as the EMR and Lambda
//! retry. At the end: every expected message went out on each channel at least once, at most
//! once more than the proxy's lost answers allow, nothing is left sending, pending or failed, and
//! the ledger bills each text once.
//!
//! Needs `cargo build -p on-save -p reminder -p patient-action` first, and moto
//! (`RAPPEL_MOTO_SERVER`, else infra/aws-faults/moto/moto-server). `RAPPEL_FAULT_SEED` replays
//! a run's faults (the interleaving of processes still varies).

use chrono::{DateTime, Duration as Span, Utc};
use rappel_aws_faults::moto::Moto;
use rappel_aws_faults::{FaultPlan, FaultProxy, Rates, Service};
use rappel_lambda_bench::fleet::{Failure, Fleet};
use rappel_lambda_bench::runtime_api::Answer;
use rappel_lambda_bench::scenarios;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many appointments (`RAPPEL_SHAPE_APPOINTMENTS`, default 24: the test command's short run;
/// `scripts/bench.sh reliability` runs 2,000).
fn appointments() -> usize {
    setting("RAPPEL_SHAPE_APPOINTMENTS", 24)
}
/// Processes of each function (`RAPPEL_SHAPE_INSTANCES`, default 3).
fn instances() -> usize {
    setting("RAPPEL_SHAPE_INSTANCES", 3)
}
/// How many appointments live at once (the EMR's concurrency).
/// (`RAPPEL_SHAPE_LANES`, default four per instance; an appointment waiting out a lease holds
/// its lane, so the long runs open more.)
fn concurrency() -> usize {
    setting("RAPPEL_SHAPE_LANES", 4 * instances())
}

/// A bulk import (`RAPPEL_SHAPE_IMPORT=1`, `scripts/bench.sh import`): one save of each
/// appointment, from many instances at once, without kills; the type sends notices only.
fn import_mode() -> bool {
    setting("RAPPEL_SHAPE_IMPORT", 0) == 1
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A mobile number per appointment, never ending in 99 (moto treats those as opted out): the
/// national digits, `514` then seven.
fn mobile_digits(i: usize) -> String {
    format!(
        "514{}{:04}",
        200 + i / 8100,
        1000 + (i % 8100) / 99 * 100 + (i % 8100) % 99
    )
}
/// Every n-th invocation (while kills are on) kills the process that took it.
/// (`RAPPEL_SHAPE_KILL_EVERY`, default 15.)
fn kill_every() -> u64 {
    setting("RAPPEL_SHAPE_KILL_EVERY", 15) as u64
}
/// How long the EMR keeps retrying one call (`RAPPEL_SHAPE_RETRY_SECONDS`, default 90): a call
/// killed twice waits out two 30-second leases.
fn retry_for() -> Duration {
    Duration::from_secs(setting("RAPPEL_SHAPE_RETRY_SECONDS", 90) as u64)
}
/// The claims' lease (`CLAIM_LEASE`), plus a margin.
const LEASE: Duration = Duration::from_secs(31);
const CLINIC: &str = "fleet";
const API_KEY: &str = "fleet-key-0123456789abcdef";

fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn binary(name: &str) -> PathBuf {
    // `RAPPEL_SHAPE_PROFILE=release` runs the release binaries (the long run).
    let profile = std::env::var("RAPPEL_SHAPE_PROFILE").unwrap_or_else(|_| "debug".to_owned());
    let path = target_dir().join(profile).join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p on-save -p reminder -p patient-action` first",
        path.display()
    );
    path
}

fn function_env(name: &str, endpoint: &str, home: &Path) -> BTreeMap<String, String> {
    let pairs = [
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]fleet".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_REGION", "ca-central-1".to_owned()),
        ("AWS_DEFAULT_REGION", "ca-central-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_SESSION_TOKEN", "test".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("HOME", home.display().to_string()),
        ("RUST_LOG", "info".to_owned()),
        ("RAPPEL_TABLE", "rappel".to_owned()),
        (
            "RAPPEL_PUBLIC_URL",
            "https://fleet.execute-api.ca-central-1.amazonaws.com".to_owned(),
        ),
        ("RAPPEL_SCHEDULE_GROUP", "rappel".to_owned()),
        (
            "RAPPEL_REMINDER_FUNCTION_ARN",
            "arn:aws:lambda:ca-central-1:123456789012:function:reminder".to_owned(),
        ),
        (
            "RAPPEL_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/rappel-scheduler".to_owned(),
        ),
        ("RAPPEL_SES_CONFIGURATION_SET", "rappel".to_owned()),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The EMR, the patients and Lambda's async retries, as the functions meet them.
struct Client {
    on_save: Fleet,
    patient: Fleet,
    reminder: Fleet,
    calls: AtomicU64,
    kills_on: AtomicBool,
    jitter: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    OnSave,
    Patient,
    Reminder,
}

impl Client {
    fn fleet(&self, which: Which) -> &Fleet {
        match which {
            Which::OnSave => &self.on_save,
            Which::Patient => &self.patient,
            Which::Reminder => &self.reminder,
        }
    }

    fn random(&self, below: u64) -> u64 {
        // xorshift over a shared state: only for jitter and kill delays.
        let mut x = self.jitter.load(Ordering::Relaxed) | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        x % below.max(1)
    }

    /// One invocation; every `kill_every()`-th (while kills are on) kills its process.
    async fn invoke(&self, which: Which, event: &Value) -> Result<Answer, Failure> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let fleet = self.fleet(which);
        if self.kills_on.load(Ordering::Relaxed) && n.is_multiple_of(kill_every()) {
            let after = Duration::from_millis(10 + self.random(300));
            fleet.invoke_and_kill(event, after).await
        } else {
            fleet.invoke(event).await
        }
    }

    /// An HTTP call as the EMR (or a patient's browser) makes it: retried on 5xx, on a function
    /// error and on a killed invocation, with backoff, for up to `retry_for()`.
    async fn http(&self, which: Which, event: &Value, what: &str) -> (u64, Value) {
        let deadline = Instant::now() + retry_for();
        let mut attempt = 0u32;
        loop {
            let why = match self.invoke(which, event).await {
                Ok(Answer::Response(body)) => {
                    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    match scenarios::status_code(&answer) {
                        Some(code) if code < 500 => {
                            return (code, scenarios::json_body(&answer).unwrap_or(Value::Null))
                        }
                        code => format!("status {code:?}"),
                    }
                }
                Ok(Answer::Error(body)) => format!("function error {}", String::from_utf8_lossy(&body)),
                Err(failure) => failure.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "{what}: still failing after {:?} ({attempt} retries), last: {why}",
                retry_for()
            );
            attempt += 1;
            let backoff = 250u64.saturating_mul(1 << attempt.min(5)).min(5_000);
            tokio::time::sleep(Duration::from_millis(backoff / 2 + self.random(backoff / 2 + 1))).await;
        }
    }

    /// One reminder invocation as Lambda's async invocation makes it: retried twice on error.
    /// Returns the outcome, or the last failure.
    async fn fire(&self, payload: &Value) -> Result<String, String> {
        let mut last = String::new();
        for attempt in 0..3 {
            if attempt > 0 {
                // A killed sender's claims hold for the lease: a retry before it runs out fails
                // again, so the second retry always comes after it.
                let wait = if attempt == 1 && !last.contains("killed") {
                    Duration::from_secs(2)
                } else {
                    LEASE
                };
                tokio::time::sleep(wait).await;
            }
            match self.invoke(Which::Reminder, payload).await {
                Ok(Answer::Response(body)) => {
                    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    return Ok(answer["outcome"].as_str().unwrap_or("?").to_owned());
                }
                Ok(Answer::Error(body)) => last = format!("error {}", String::from_utf8_lossy(&body)),
                Err(failure) => last = failure.to_string(),
            }
        }
        Err(last)
    }
}

#[derive(Debug, Clone)]
struct Plan {
    id: String,
    duplicate: bool,
    moved: bool,
    confirms: bool,
    cancelled: bool,
}

fn plans() -> Vec<Plan> {
    (0..appointments())
        .map(|i| Plan {
            id: format!("FLEET-{i:02}"),
            duplicate: i % 3 == 0 && !import_mode(),
            moved: i % 2 == 0 && !import_mode(),
            confirms: i % 3 == 1 && !import_mode(),
            cancelled: matches!(i % 8, 1 | 2) && !import_mode(),
        })
        .collect()
}

fn appointment(i: usize, revision: u64, start: DateTime<Utc>, cancelled: bool) -> Value {
    let mut body = scenarios::appointment(revision, start);
    body["type_code"] = json!("full");
    body["status"] = json!(if cancelled { "cancelled" } else { "booked" });
    body["patient"] = json!({
        "first_name": "Pat",
        "last_name": format!("Fleet{i:02}"),
        "email": format!("patient{i:02}@example.com"),
        "mobile": mobile_digits(i),
        "language": "en"
    });
    body
}

/// What one appointment's life left behind.
#[derive(Debug, Clone, Default)]
struct Outcome {
    last_save: Value,
    last_revision: u64,
}

async fn live(client: Arc<Client>, i: usize, plan: Plan, start: DateTime<Utc>) -> Outcome {
    let path = format!("/v1/appointments/{}", plan.id);
    let put = |body: Value| scenarios::http_event("PUT", &path, Some(API_KEY), Some(&body));
    let what = |rev: u64| format!("{} rev {rev}", plan.id);

    let first = put(appointment(i, 1, start, false));
    let (code, answer) = if plan.duplicate {
        let label = what(1);
        let (a, b) = tokio::join!(
            client.http(Which::OnSave, &first, &label),
            client.http(Which::OnSave, &first, &label)
        );
        assert!(
            [a.0, b.0].iter().all(|c| *c == 200 || *c == 201),
            "{}: {a:?} {b:?}",
            plan.id
        );
        a
    } else {
        client.http(Which::OnSave, &first, &what(1)).await
    };
    assert!(code == 200 || code == 201, "{}: {code} {answer}", what(1));
    let token = answer["patient_url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .unwrap_or_else(|| panic!("{}: no patient_url in {answer}", what(1)))
        .to_owned();
    let mut outcome = Outcome {
        last_save: first,
        last_revision: 1,
    };
    let mut start = start;
    if plan.moved {
        start += Span::hours(1);
        let event = put(appointment(i, 2, start, false));
        let (code, answer) = client.http(Which::OnSave, &event, &what(2)).await;
        assert_eq!(code, 200, "{}: {answer}", what(2));
        outcome = Outcome {
            last_save: event,
            last_revision: 2,
        };
    }
    if plan.confirms {
        let event = scenarios::http_event("POST", &format!("/p/{token}/confirm"), None, None);
        let (code, answer) = client
            .http(Which::Patient, &event, &format!("{} confirm", plan.id))
            .await;
        assert_eq!(code, 200, "{} confirm: {answer}", plan.id);
        assert_eq!(answer["patient_status"], "confirmed", "{answer}");
    }
    if plan.cancelled {
        let rev = outcome.last_revision + 1;
        let event = put(appointment(i, rev, start, true));
        let (code, answer) = client.http(Which::OnSave, &event, &what(rev)).await;
        assert_eq!(code, 200, "{}: {answer}", what(rev));
        outcome = Outcome {
            last_save: event,
            last_revision: rev,
        };
    }
    outcome
}

fn kind_of_email(subject: &str) -> &'static str {
    if subject.starts_with("Confirmation of") {
        "confirmation"
    } else if subject.contains("has changed") {
        "change"
    } else if subject.contains("is cancelled") {
        "cancellation"
    } else if subject.starts_with("Reminder:") {
        "reminder"
    } else {
        "other"
    }
}

fn kind_of_text(text: &str) -> &'static str {
    if text.contains("Details and confirmation") {
        "confirmation"
    } else if text.contains("appointment changed") {
        "change"
    } else if text.contains("is cancelled") {
        "cancellation"
    } else if text.contains("reminder, appointment") {
        "reminder"
    } else {
        "other"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_shape_sends_everything_once_through_faults_and_kills() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let began = Instant::now();
    let binaries = ["on-save", "patient-action", "reminder"].map(binary);
    let seed: u64 = std::env::var("RAPPEL_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7);
            nanos ^ (u64::from(std::process::id()) << 32)
        });
    println!("RAPPEL_FAULT_SEED={seed}");

    let out = target_dir().join("deployed-shape");
    std::fs::create_dir_all(out.join("home")).unwrap();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint, seed, FaultPlan::default())
        .await
        .unwrap();

    // Setup, without faults: the table, SES identity, schedule group, and the clinic.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(rappel_aws::sdk::https_client(rappel_aws::sdk::Roots::System))
        .endpoint_url(&moto.endpoint)
        .region(aws_config::Region::new("ca-central-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "fleet",
        ))
        .load()
        .await;
    rappel_aws::local::provision(
        &sdk,
        &rappel_aws::local::LocalResources {
            table: "rappel".to_owned(),
            ses_identity: "example.ca".to_owned(),
            configuration_set: "rappel".to_owned(),
            schedule_group: "rappel".to_owned(),
        },
    )
    .await
    .unwrap();
    let store = rappel_aws::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "rappel");
    // Quiet hours: one hour, twelve hours from now on the clinic's clock (the functions use the
    // real clock).
    let zone: chrono_tz_like::Zone = "America/Toronto";
    let local_now = chrono_tz_like::local_hm(zone, Utc::now() + Span::hours(12));
    let local_end = chrono_tz_like::local_hm(zone, Utc::now() + Span::hours(13));
    let mut settings_json = scenarios::clinic_settings();
    settings_json["name"] = json!("Clinique Fleet");
    settings_json["timezone"] = json!(zone);
    settings_json["quiet_hours"] = json!({ "start": local_now, "end": local_end });
    settings_json["sender_domain"] = json!("example.ca");
    let settings: rappel::domain::ClinicSettings = serde_json::from_value(settings_json).unwrap();
    assert!(settings.sms_enabled && settings.allow_patient_cancellation);
    let clinic_id = rappel::domain::ClinicId::parse(CLINIC).unwrap();
    rappel::services::register_clinic(
        &store,
        &rappel::domain::Clinic {
            id: clinic_id.clone(),
            settings,
        },
        API_KEY,
    )
    .await
    .unwrap();

    let start_fleet = |index: usize, name: &str| {
        let env = function_env(name, &proxy.url, &out.join("home"));
        Fleet::start(
            binaries[index].clone(),
            instances(),
            env,
            out.join(format!("{name}.log")),
            Duration::from_secs(45),
        )
    };
    let client = Arc::new(Client {
        on_save: start_fleet(0, "on-save").await.unwrap(),
        patient: start_fleet(1, "patient-action").await.unwrap(),
        reminder: start_fleet(2, "reminder").await.unwrap(),
        calls: AtomicU64::new(0),
        kills_on: AtomicBool::new(false),
        jitter: AtomicU64::new(seed | 1),
    });
    let (code, answer) = client
        .http(
            Which::OnSave,
            &scenarios::http_event(
                "PUT",
                "/v1/appointment-types/full",
                Some(API_KEY),
                Some(&if import_mode() {
                    json!({ "communications": "notices" })
                } else {
                    scenarios::type_settings()
                }),
            ),
            "type",
        )
        .await;
    assert!(code == 200 || code == 201, "type: {code} {answer}");
    println!("setup done in {:.1?}", began.elapsed());

    // Faults on, and kills.
    let ses_sns = Rates {
        throttle: 0.03,
        error_before: 0.02,
        error_after: 0.01,
        ..Rates::default()
    };
    proxy.set_plan(FaultPlan {
        dynamodb: Rates {
            conflict: 0.05,
            throttle: 0.03,
            error_before: 0.02,
            error_after: 0.02,
            timeout: 0.0,
        },
        ses: ses_sns,
        sns: ses_sns,
        scheduler: ses_sns,
        ..FaultPlan::default()
    });
    client.kills_on.store(!import_mode(), Ordering::Relaxed);

    // T ≈ now + 40 h: the reminder (T − 36 h) lies ahead, its window [T − 48 h, T − 24 h] holds now.
    let base = Utc::now() + Span::hours(40);
    let base =
        base - Span::nanoseconds(i64::from(base.timestamp_subsec_nanos())) - Span::seconds(base.timestamp() % 60);
    let plans = plans();
    // A reader following the feed while everything is written, as an EMR polls it.
    let following = Arc::new(AtomicBool::new(true));
    let follower = {
        let reader = rappel_aws::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "rappel");
        tokio::spawn(follow_feed(reader, clinic_id.clone(), following.clone()))
    };
    let lanes = Arc::new(tokio::sync::Semaphore::new(concurrency()));
    let mut lives = tokio::task::JoinSet::new();
    for (i, plan) in plans.iter().cloned().enumerate() {
        let client = client.clone();
        // Within four hours of each other, so every reminder window holds now.
        let start = base + Span::minutes((i % 48) as i64 * 5);
        let permit = lanes.clone().acquire_owned();
        lives.spawn(async move {
            let _permit = permit.await;
            (i, live(client, i, plan, start).await)
        });
    }
    let mut outcomes: Vec<Outcome> = vec![Outcome::default(); appointments()];
    while let Some(done) = lives.join_next().await {
        let (i, outcome) = done.expect("an appointment's life panicked");
        outcomes[i] = outcome;
    }
    println!("saves done in {:.1?}", began.elapsed());

    // The reminders, fired twice each (at-least-once delivery), each retried as Lambda does.
    use rappel::ports::AppointmentStore;
    let mut firings = tokio::task::JoinSet::new();
    for plan in plans.iter().filter(|p| !p.cancelled && !import_mode()) {
        let id = rappel::domain::AppointmentId::parse(&plan.id).unwrap();
        let record = store.appointment(&clinic_id, &id).await.unwrap().expect("saved");
        let planned = record
            .reminder(rappel::domain::ReminderOffset::DEFAULT)
            .unwrap_or_else(|| panic!("{}: no reminder planned", plan.id));
        let payload =
            json!({ "clinic_id": CLINIC, "appointment_id": plan.id, "revision": planned.revision, "kind": "reminder" });
        for _ in 0..2 {
            let (client, payload, id) = (client.clone(), payload.clone(), plan.id.clone());
            let permit = lanes.clone().acquire_owned();
            firings.spawn(async move {
                let _permit = permit.await;
                (id, client.fire(&payload).await)
            });
        }
    }
    let mut reminder_failures = Vec::new();
    let mut outcomes_seen: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(done) = firings.join_next().await {
        let (id, result) = done.unwrap();
        match result {
            Ok(outcome) => *outcomes_seen.entry(outcome).or_default() += 1,
            Err(e) => reminder_failures.push(format!("{id}: {e}")),
        }
    }
    println!(
        "reminders done in {:.1?}: outcomes {outcomes_seen:?}, given up after 3 attempts: {reminder_failures:?}",
        began.elapsed()
    );

    // Faults off, and one replay of each last save: an Unchanged replay completes what was left.
    client.kills_on.store(false, Ordering::Relaxed);
    proxy.set_plan(FaultPlan::default());
    let mut replays = tokio::task::JoinSet::new();
    for (plan, outcome) in plans.iter().zip(&outcomes) {
        let (client, event, id) = (client.clone(), outcome.last_save.clone(), plan.id.clone());
        let permit = lanes.clone().acquire_owned();
        replays.spawn(async move {
            let _permit = permit.await;
            let (code, answer) = client.http(Which::OnSave, &event, &format!("{id} replay")).await;
            assert_eq!(code, 200, "{id} replay: {answer}");
        });
    }
    while let Some(done) = replays.join_next().await {
        done.expect("a replay failed");
    }
    println!("replays done in {:.1?}", began.elapsed());

    // What went out, per (appointment, kind, channel).
    let data = moto.data().await;
    std::fs::write(out.join("data.json"), serde_json::to_vec_pretty(&data).unwrap()).unwrap();
    let mut sent: HashMap<(usize, &'static str, &'static str), u64> = HashMap::new();
    let by_email: HashMap<String, usize> = (0..appointments())
        .map(|i| (format!("patient{i:02}@example.com"), i))
        .collect();
    let by_phone: HashMap<String, usize> = (0..appointments())
        .map(|i| (format!("+1{}", mobile_digits(i)), i))
        .collect();
    let mut strays = Vec::new();
    for m in data["ses"]["Message"].as_array().cloned().unwrap_or_default() {
        let to = m["destinations"]["ToAddresses"][0].as_str().unwrap_or("");
        let kind = kind_of_email(m["subject"].as_str().unwrap_or(""));
        match by_email.get(to) {
            Some(i) => *sent.entry((*i, kind, "email")).or_default() += 1,
            None => strays.push(format!("email to {to:?}: {}", m["subject"])),
        }
    }
    for m in data["sns"]["SMS"].as_array().cloned().unwrap_or_default() {
        let to = m["phone_number"].as_str().unwrap_or("");
        let kind = kind_of_text(m["message"].as_str().unwrap_or(""));
        match by_phone.get(to) {
            Some(i) => *sent.entry((*i, kind, "sms")).or_default() += 1,
            None => strays.push(format!("text to {to:?}: {}", m["message"])),
        }
    }
    // The events feed, read once every writer is done: no write is on its way, so the reader
    // need not stay behind the present.
    let reader = rappel_aws::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "rappel")
        .with_feed_lag(chrono::Duration::zero());
    let feed = read_feed(&reader, &clinic_id, 0).await;
    // The follower never passed a cursor whose event came later: what it read while the writers
    // ran, then what is left after where it stopped, is the whole feed.
    following.store(false, Ordering::Relaxed);
    let mut followed = follower.await.expect("the feed follower");
    let polls = followed.len();
    let stopped_at = followed.last().map_or(0, |e| e.cursor);
    followed.extend(read_feed(&reader, &clinic_id, stopped_at).await);
    let cursors = |events: &[rappel::domain::Event]| events.iter().map(|e| e.cursor).collect::<Vec<_>>();
    let missed: Vec<u64> = {
        let seen: std::collections::HashSet<u64> = cursors(&followed).into_iter().collect();
        cursors(&feed).into_iter().filter(|c| !seen.contains(c)).collect()
    };
    println!(
        "feed: {} events; the follower read {polls} of them while they were written, and missed {}",
        feed.len(),
        missed.len()
    );
    let resent = |channel| {
        feed.iter()
            .filter(|e| {
                e.event.event_type == rappel::domain::EventType::MessageSent
                    && e.event.channel == Some(channel)
                    && e.event.reason.as_deref() == Some(rappel::services::POSSIBLE_DUPLICATE)
            })
            .count() as u64
    };
    let stats = proxy.stats();
    // A duplicate is allowed where a provider's answer was lost: by the proxy (the SDK retried),
    // or by a kill between the provider's acceptance and the record (the feed says "resent").
    let allowed_emails = stats.answers_lost(Service::Ses, "SendEmail") + resent(rappel::domain::Channel::Email);
    let allowed_texts = stats.answers_lost(Service::Sns, "Publish") + resent(rappel::domain::Channel::Sms);

    let mut problems = strays;
    if !missed.is_empty() || cursors(&followed) != cursors(&feed) {
        problems.push(format!(
            "the feed's follower missed events at cursors {:?}",
            &missed[..missed.len().min(20)]
        ));
    }
    let (mut duplicate_emails, mut duplicate_texts) = (0u64, 0u64);
    let mut expected_count = 0;
    for (i, plan) in plans.iter().enumerate() {
        let mut expected = vec!["confirmation"];
        if plan.moved {
            expected.push("change");
        }
        if plan.cancelled {
            expected.push("cancellation");
        } else if !import_mode() {
            expected.push("reminder");
        }
        for kind in ["confirmation", "change", "cancellation", "reminder", "other"] {
            for channel in ["email", "sms"] {
                let n = sent.get(&(i, kind, channel)).copied().unwrap_or(0);
                if expected.contains(&kind) {
                    expected_count += 1;
                    if n == 0 {
                        problems.push(format!("{}: no {kind} {channel} went out", plan.id));
                    }
                    let extra = n.saturating_sub(1);
                    if channel == "email" {
                        duplicate_emails += extra;
                    } else {
                        duplicate_texts += extra;
                    }
                } else if n > 0 {
                    problems.push(format!("{}: {n} unexpected {kind} {channel}", plan.id));
                }
            }
        }
    }
    if duplicate_emails > allowed_emails {
        problems.push(format!(
            "{duplicate_emails} duplicate emails, but only {allowed_emails} SendEmail answers were lost"
        ));
    }
    if duplicate_texts > allowed_texts {
        problems.push(format!(
            "{duplicate_texts} duplicate texts, but only {allowed_texts} Publish answers were lost"
        ));
    }

    // The views and the ledger, through on-save; one `message_sent` event per message sent.
    let mut sent_events: HashMap<String, usize> = HashMap::new();
    for e in &feed {
        if e.event.event_type == rappel::domain::EventType::MessageSent {
            *sent_events.entry(e.event.appointment_id.to_string()).or_default() += 1;
        }
    }
    let mut texts_marked_sent: HashMap<String, usize> = HashMap::new();
    for plan in &plans {
        let event = scenarios::http_event("GET", &format!("/v1/appointments/{}", plan.id), Some(API_KEY), None);
        let (code, view) = client.http(Which::OnSave, &event, &format!("{} view", plan.id)).await;
        assert_eq!(code, 200, "{view}");
        let marked_sent = view["messages"]
            .as_array()
            .map_or(0, |all| all.iter().filter(|m| m["status"] == "sent").count());
        let events = sent_events.get(&plan.id).copied().unwrap_or(0);
        if marked_sent != events {
            let listed: Vec<String> = feed
                .iter()
                .filter(|e| {
                    e.event.event_type == rappel::domain::EventType::MessageSent
                        && e.event.appointment_id.to_string() == plan.id
                })
                .map(|e| {
                    format!(
                        "#{} {:?} {:?} at {}",
                        e.cursor, e.event.kind, e.event.channel, e.event.at
                    )
                })
                .collect();
            problems.push(format!(
                "{}: {marked_sent} messages sent in the view, {events} message_sent events {listed:?}; view: {}",
                plan.id, view["messages"]
            ));
        }
        for m in view["messages"].as_array().cloned().unwrap_or_default() {
            let status = m["status"].as_str().unwrap_or("");
            if matches!(status, "sending" | "pending" | "failed") {
                problems.push(format!("{}: message left {status}: {m}", plan.id));
            }
            if m["channel"] == "sms" && status == "sent" {
                *texts_marked_sent.entry(plan.id.clone()).or_default() += 1;
            }
        }
    }
    // This month's ledger (and last month's too, should the run straddle a month's end).
    let mut months = vec![Utc::now().format("%Y-%m").to_string()];
    let started = (Utc::now() - Span::from_std(began.elapsed()).unwrap_or_default())
        .format("%Y-%m")
        .to_string();
    if !months.contains(&started) {
        months.push(started);
    }
    let mut billed: HashMap<String, usize> = HashMap::new();
    let mut ledger_entries = 0;
    for month in &months {
        let mut event = scenarios::http_event("GET", "/v1/ledger", Some(API_KEY), None);
        event["rawQueryString"] = json!(format!("month={month}"));
        event["queryStringParameters"] = json!({ "month": month });
        let (code, ledger) = client.http(Which::OnSave, &event, "ledger").await;
        assert_eq!(code, 200, "{ledger}");
        for entry in ledger["entries"].as_array().cloned().unwrap_or_default() {
            ledger_entries += 1;
            *billed
                .entry(entry["appointment_id"].as_str().unwrap_or("").to_owned())
                .or_default() += 1;
        }
    }
    for plan in &plans {
        let (marked, bills) = (
            texts_marked_sent.get(&plan.id).copied().unwrap_or(0),
            billed.get(&plan.id).copied().unwrap_or(0),
        );
        if marked != bills {
            problems.push(format!(
                "{}: {marked} texts marked sent in the view, {bills} ledger entries",
                plan.id
            ));
        }
    }

    let fleets = [&client.on_save, &client.patient, &client.reminder].map(|f| (f.name().to_owned(), f.stats()));
    let invocations: u64 = fleets.iter().map(|(_, s)| s.invocations).sum();
    let kills: u64 = fleets.iter().map(|(_, s)| s.kills).sum();
    let emails = data["ses"]["Message"].as_array().map_or(0, Vec::len);
    let texts = data["sns"]["SMS"].as_array().map_or(0, Vec::len);
    println!("{stats}");
    for (name, s) in &fleets {
        println!(
            "  {name:<15} {} instances: {} invocations, {} answers, {} killed, {} timed out",
            instances(),
            s.invocations,
            s.answers,
            s.kills,
            s.timeouts
        );
    }
    println!(
        "seed {seed}: {} appointments, {invocations} invocations, {kills} kills, {emails} emails, {texts} texts \
         ({expected_count} expected messages), duplicates: {duplicate_emails} emails (≤ {allowed_emails} allowed), \
         {duplicate_texts} texts (≤ {allowed_texts} allowed), ledger {} entries; {:.1?}",
        appointments(),
        ledger_entries,
        began.elapsed()
    );
    assert!(
        problems.is_empty(),
        "seed {seed} (RAPPEL_FAULT_SEED={seed}):\n{}",
        problems.join("\n")
    );
}

/// Every event of the clinic's feed after `cursor`, oldest first.
async fn read_feed(
    store: &rappel_aws::dynamodb::DynamoStore,
    clinic: &rappel::domain::ClinicId,
    cursor: u64,
) -> Vec<rappel::domain::Event> {
    use rappel::ports::EventStore;
    let mut events: Vec<rappel::domain::Event> = Vec::new();
    loop {
        let after = events.last().map_or(cursor, |e| e.cursor);
        let page = store.events_after(clinic, after, 1000).await.expect("read the feed");
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

/// Follows the feed as an EMR does, a page every 200 ms, while `following`: the events in the
/// order it read them. Its reader stays the feed's 10 s behind the present, so it never passes
/// an event that may still be written.
async fn follow_feed(
    store: rappel_aws::dynamodb::DynamoStore,
    clinic: rappel::domain::ClinicId,
    following: Arc<AtomicBool>,
) -> Vec<rappel::domain::Event> {
    use rappel::ports::EventStore;
    let mut events: Vec<rappel::domain::Event> = Vec::new();
    while following.load(Ordering::Relaxed) {
        let after = events.last().map_or(0, |e| e.cursor);
        match store.events_after(&clinic, after, 1000).await {
            Ok(page) if !page.is_empty() => {
                assert!(
                    page.iter().all(|e| e.cursor > after),
                    "the feed went backwards after {after}"
                );
                events.extend(page);
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    events
}

/// The clinic's zone without a chrono-tz dependency in this crate: the functions' own domain
/// type does the conversion.
mod chrono_tz_like {
    use chrono::{DateTime, Utc};

    pub type Zone = &'static str;

    /// `HH:MM` of `at` on the wall clock of `zone`.
    pub fn local_hm(zone: Zone, at: DateTime<Utc>) -> String {
        let tz: rappel::domain::Zone = serde_json::from_value(serde_json::json!(zone)).expect("a zone");
        at.with_timezone(&tz.0).format("%H:%M").to_string()
    }
}
