//! The AWS adapters under AWS's own failures: the services' calls go through a fault proxy
//! (`rappel-aws-faults`) in front of moto, which answers with DynamoDB's transaction
//! cancellations, throttling and lost answers exactly as AWS sends them.

mod support;

use axum::http::{Method, StatusCode};
use chrono::{Duration, TimeZone, Utc};
use rappel::domain::{AppointmentId, AppointmentRecord, ClinicId, EventType, NewEvent, PatientStatus};
use rappel::ports::{AppointmentStore, AppointmentWrite, EventStore};
use rappel_aws::dynamodb::DynamoStore;
use rappel_aws::local::create_table;
use rappel_aws_faults::{Fault, FaultPlan, FaultProxy, Rates, Rule, Service};
use serde_json::{json, Value};
use std::sync::Arc;
use support::rig::{call, now0, put_full_type, rig_on, texted_body, AwsRig};
use support::{sdk_at, Moto};

/// moto and Rappel's AWS adapters behind a fault proxy (no random faults: tests force them).
async fn faulty_rig() -> (AwsRig, FaultProxy) {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint, 7, FaultPlan::default())
        .await
        .unwrap();
    let sdk = sdk_at(&proxy.url).await;
    let rig = rig_on(moto, sdk).await;
    let emr = rappel::http::emr::router(rig.rappel.clone());
    assert_eq!(put_full_type(&emr).await, StatusCode::CREATED);
    (rig, proxy)
}

/// An appointment body whose mobile moto does not treat as opted out.
fn body(revision: u64) -> Value {
    texted_body(revision, Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap(), "FU")
}

async fn ledger_entries(rig: &AwsRig) -> usize {
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (status, ledger) = call(&emr, Method::GET, "/v1/ledger?month=2030-01", None, false).await;
    assert_eq!(status, StatusCode::OK, "{ledger}");
    ledger["entries"].as_array().map_or(0, Vec::len)
}

async fn sent_events(rig: &AwsRig) -> Vec<Value> {
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (_, page) = call(&emr, Method::GET, "/v1/events?limit=100", None, false).await;
    page["events"].as_array().cloned().unwrap_or_default()
}

fn texts(data: &Value) -> usize {
    data["sns"]["SMS"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_conflict_on_completing_a_text_is_retried_and_bills_it_once() {
    let (rig, proxy) = faulty_rig().await;
    // The completion of the text: its transaction holds the ledger entry.
    proxy.force(
        Rule::new(Service::DynamoDb, Fault::Conflict)
            .operation("TransactWriteItems")
            .body_contains("LEDGER#")
            .times(3),
    );
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/C-1", Some(body(1)), false).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert!(proxy.pending_rules().is_empty(), "the conflicts were met");
    let statuses: Vec<&str> = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["sent", "sent"], "{view}");
    assert_eq!(ledger_entries(&rig).await, 1);
    assert_eq!(texts(&rig.moto.data().await), 1);
    let sent: Vec<Value> = sent_events(&rig)
        .await
        .into_iter()
        .filter(|e| e["type"] == "message_sent")
        .collect();
    assert_eq!(sent.len(), 2, "one event per message: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_on_completing_a_text_writes_no_second_event_or_bill() {
    let (rig, proxy) = faulty_rig().await;
    proxy.force(
        Rule::new(Service::DynamoDb, Fault::ErrorAfter)
            .operation("TransactWriteItems")
            .body_contains("LEDGER#"),
    );
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/L-1", Some(body(1)), false).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(proxy.stats().total(Fault::ErrorAfter), 1);
    assert_eq!(ledger_entries(&rig).await, 1);
    let events = sent_events(&rig).await;
    let texts_sent = events
        .iter()
        .filter(|e| e["type"] == "message_sent" && e["channel"] == "sms")
        .count();
    assert_eq!(texts_sent, 1, "{events:?}");
    // A replay finds nothing left to do.
    let (status, _) = call(&emr, Method::PUT, "/v1/appointments/L-1", Some(body(1)), false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(texts(&rig.moto.data().await), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_and_conflicting_writes_of_a_save_are_ridden_out() {
    let (rig, proxy) = faulty_rig().await;
    proxy.force(
        Rule::new(Service::DynamoDb, Fault::Throttle)
            .operation("TransactWriteItems")
            .times(4),
    );
    proxy.force(
        Rule::new(Service::DynamoDb, Fault::Conflict)
            .operation("TransactWriteItems")
            .times(2),
    );
    proxy.force(Rule::new(Service::Scheduler, Fault::Throttle).times(1));
    proxy.force(Rule::new(Service::Ses, Fault::Throttle).times(2));
    proxy.force(Rule::new(Service::Sns, Fault::Throttle).operation("Publish").times(1));
    let emr = rappel::http::emr::router(rig.rappel.clone());
    // The SDK's backoff after throttling can spend the request's budget before a send starts:
    // then the answer is 503 and the EMR's retry sends. Either way, nothing twice.
    let (mut status, mut view) = call(&emr, Method::PUT, "/v1/appointments/T-1", Some(body(1)), false).await;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        (status, view) = call(&emr, Method::PUT, "/v1/appointments/T-1", Some(body(1)), false).await;
    }
    assert!(status.is_success(), "{view} {}", proxy.stats());
    assert!(view["reminder_at"].is_string());
    let statuses: Vec<&str> = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["sent", "sent"], "{view}");
    let data = rig.moto.data().await;
    assert_eq!(
        (emails(&data), texts(&data)),
        (1, 1),
        "throttled sends were not taken: no copy twice"
    );
    assert_eq!(ledger_entries(&rig).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_whose_answer_was_lost_is_retried_by_the_emr_and_counted_as_a_possible_duplicate() {
    let (rig, proxy) = faulty_rig().await;
    // SES took the email, and its answer was lost: the SDK does not repeat a send by itself.
    proxy.force(Rule::new(Service::Ses, Fault::ErrorAfter).operation("SendEmail"));
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (status, _) = call(&emr, Method::PUT, "/v1/appointments/D-1", Some(body(1)), false).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(emails(&rig.moto.data().await), 1, "one copy so far");
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/D-1", Some(body(1)), false).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        emails(&rig.moto.data().await),
        2,
        "the retry sent it again: at most once more"
    );
    let events = sent_events(&rig).await;
    let email_sent: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "message_sent" && e["channel"] == "email")
        .collect();
    assert_eq!(email_sent.len(), 1, "{events:?}");
    assert_eq!(
        email_sent[0]["reason"],
        rappel::services::POSSIBLE_DUPLICATE,
        "and it is counted"
    );
}

fn emails(data: &Value) -> usize {
    data["ses"]["Message"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_ses_refuses_for_good_is_recorded_undeliverable_and_the_save_succeeds() {
    let (mut rig, _proxy) = faulty_rig().await;
    // The operator binds a domain moto never verified: SES answers MessageRejected.
    rig.clinic = rappel::services::bind_sender_domain(rig.rappel.store.as_ref(), &rig.clinic.id, "unverified.example")
        .await
        .unwrap();
    let mut settings = rig.clinic.settings.clone();
    settings.sender_email = Some(rappel::domain::Email::parse("rdv@unverified.example").unwrap());
    rig.rappel.put_clinic_settings(&rig.clinic, settings).await.unwrap();
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/R-1", Some(body(1)), false).await;
    assert_eq!(status, StatusCode::CREATED, "not a 503 forever: {view}");
    let email = &view["messages"][0];
    assert_eq!(
        (email["channel"].as_str(), email["status"].as_str()),
        (Some("email"), Some("undeliverable"))
    );
    let failed: Vec<Value> = sent_events(&rig)
        .await
        .into_iter()
        .filter(|e| e["type"] == "message_failed")
        .collect();
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("MessageRejected"),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinic_key_cannot_send_from_another_domain() {
    let (rig, _proxy) = faulty_rig().await;
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (_, mut clinic) = call(&emr, Method::GET, "/v1/clinic", None, false).await;
    assert_eq!(clinic["sender_domain"], "clinique.example.ca");
    clinic["sender_email"] = json!("rdv@autre-clinique.example.ca");
    let (status, error) = call(&emr, Method::PUT, "/v1/clinic", Some(clinic.clone()), false).await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sender_email"))
    );
    clinic["sender_email"] = json!("rdv@clinique.example.ca");
    clinic["sender_domain"] = json!("autre-clinique.example.ca");
    let (status, error) = call(&emr, Method::PUT, "/v1/clinic", Some(clinic), false).await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sender_domain"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_answers_410_after_the_ttl_removed_the_appointment() {
    let (rig, _proxy) = faulty_rig().await;
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (_, view) = call(&emr, Method::PUT, "/v1/appointments/E-1", Some(body(1)), false).await;
    let path = view["patient_url"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://rappel.example.ca")
        .to_owned();
    // What the TTL does once the link has expired: the appointment's data goes, the link item stays.
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_at(&rig.moto.endpoint).await);
    dynamodb
        .delete_item()
        .table_name("rappel")
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("APPT#moto-clinic#E-1".to_owned()),
        )
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("APPT".to_owned()))
        .send()
        .await
        .unwrap();
    rig.clock.set(now0() + Duration::days(40));
    let patient = rappel::http::patient::router(rig.rappel.clone());
    let (status, _) = call(&patient, Method::GET, &path, None, true).await;
    assert_eq!(status, StatusCode::GONE);
}

/// Writes `appointments` new appointments through `store` at once, each with one event.
async fn append_events(store: Arc<DynamoStore>, clinic: &ClinicId, appointments: usize) {
    let tasks: Vec<_> = (0..appointments)
        .map(|i| {
            let (store, clinic) = (store.clone(), clinic.clone());
            tokio::spawn(async move {
                let id = AppointmentId::parse(&format!("H-{i}")).unwrap();
                let record = AppointmentRecord {
                    clinic_id: clinic.clone(),
                    id: id.clone(),
                    content: rappel::testing::appointment(1, now0() + Duration::days(3), "FU"),
                    patient_status: PatientStatus::Pending,
                    token: format!("token-{i}-{}", "x".repeat(24)),
                    reminders: Vec::new(),
                    notified: false,
                    reschedule_request: None,
                    created_at: now0(),
                    updated_at: now0(),
                    version: 1,
                };
                let event = NewEvent::patient(now0(), id, EventType::PatientConfirmed);
                let write = AppointmentWrite {
                    record,
                    messages: vec![],
                    events: vec![event],
                };
                // As the services' callers do: retry what failed, until it is there.
                for _ in 0..10 {
                    match store.write_appointment(&write).await {
                        Ok(_) => return,
                        Err(rappel::ports::StoreError::Conflict) => {
                            let stored = store.appointment(&write.record.clinic_id, &write.record.id).await;
                            if stored.is_ok_and(|r| r.is_some()) {
                                return; // written by a try whose answer was lost
                            }
                        }
                        Err(_) => {}
                    }
                }
                panic!("{}: not written after 10 tries", write.record.id);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_under_conflicts_throttling_and_lost_answers_give_every_event_one_cursor_in_order() {
    let moto = Moto::start();
    let noisy = Rates {
        conflict: 0.15,
        throttle: 0.05,
        error_before: 0.03,
        error_after: 0.03,
        timeout: 0.02,
    };
    let proxy = FaultProxy::start(
        &moto.endpoint,
        rand_seed(),
        FaultPlan {
            dynamodb: noisy,
            ..FaultPlan::default()
        },
    )
    .await
    .unwrap();
    let direct = aws_sdk_dynamodb::Client::new(&sdk_at(&moto.endpoint).await);
    create_table(&direct, "feed").await.unwrap();
    // The functions' attempt timeout, which a held request outlasts (it executes late).
    let through_proxy = aws_sdk_dynamodb::config::Builder::from(&sdk_at(&proxy.url).await)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(3))
                .build(),
        )
        .build();
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(through_proxy),
        "feed",
    ));
    let clinic = ClinicId::parse("hot").unwrap();
    // An EMR following the feed meanwhile, with the deployed lag behind the present.
    let follower = tokio::spawn(follow(DynamoStore::new(direct.clone(), "feed"), clinic.clone(), 64));
    append_events(store.clone(), &clinic, 64).await;
    let stats = proxy.stats();
    println!("{stats}");
    proxy.set_plan(FaultPlan::default());
    // Every writer is done: nothing is on its way, so this reader need not stay behind.
    let reader = DynamoStore::new(direct.clone(), "feed").with_feed_lag(Duration::zero());
    let events = reader.events_after(&clinic, 0, 1000).await.unwrap();
    let mut ids: Vec<String> = events.iter().map(|e| e.event.appointment_id.to_string()).collect();
    let cursors: Vec<u64> = events.iter().map(|e| e.cursor).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(
        (events.len(), ids.len()),
        (64, 64),
        "each event exactly once (seed {})",
        proxy.seed()
    );
    let followed = follower.await.unwrap();
    assert_eq!(
        followed.iter().map(|e| e.cursor).collect::<Vec<_>>(),
        cursors,
        "the follower never passed an event that came later (seed {})",
        proxy.seed()
    );
}

/// Follows the feed, a page every 100 ms, until it has read `expected` events: the events in the
/// order it read them. It gives up after a minute (the lag is 10 s).
async fn follow(store: DynamoStore, clinic: ClinicId, expected: usize) -> Vec<rappel::domain::Event> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut events: Vec<rappel::domain::Event> = Vec::new();
    while events.len() < expected && tokio::time::Instant::now() < deadline {
        let after = events.last().map_or(0, |e| e.cursor);
        match store.events_after(&clinic, after, 1000).await {
            Ok(page) if !page.is_empty() => events.extend(page),
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_stays_the_lag_behind_the_present_and_reads_older_cursors_first() {
    let moto = Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&sdk_at(&moto.endpoint).await);
    create_table(&client, "lagged").await.unwrap();
    let store = DynamoStore::new(client.clone(), "lagged");
    let clinic = ClinicId::parse("lagged").unwrap();
    let now_ms = Utc::now().timestamp_millis() as u64;
    let put = |cursor: u64, void: bool| {
        let client = client.clone();
        let event = NewEvent::patient(
            now0(),
            AppointmentId::parse(&format!("L-{cursor}")).unwrap(),
            EventType::PatientConfirmed,
        );
        async move {
            use aws_sdk_dynamodb::types::AttributeValue::{Bool, S};
            let request = client
                .put_item()
                .table_name("lagged")
                .item("PK", S("EVENTS#lagged".to_owned()))
                .item("SK", S(format!("{cursor:020}")));
            let request = if void {
                request.item("void", Bool(true))
            } else {
                request.item("event", S(serde_json::to_string(&event).unwrap()))
            };
            request.send().await.unwrap();
        }
    };
    // Cursors of the per-clinic counter this feed had before (one gap closed by a void), then
    // events stamped 30 s and 12 s ago, and one stamped 2 s ago whose writer may have company.
    put(1, false).await;
    put(2, true).await;
    put(3, false).await;
    let stamped = |ago_ms: u64| (now_ms - ago_ms) * 1000 + 7;
    for ago in [30_000, 12_000, 2_000] {
        put(stamped(ago), false).await;
    }
    let seen = |after: u64| {
        let store = store.clone();
        let clinic = clinic.clone();
        async move {
            let events = store.events_after(&clinic, after, 100).await.unwrap();
            events.iter().map(|e| e.cursor).collect::<Vec<u64>>()
        }
    };
    assert_eq!(
        seen(0).await,
        vec![1, 3, stamped(30_000), stamped(12_000)],
        "older cursors first, the void skipped, nothing from the last 10 s"
    );
    assert_eq!(seen(stamped(12_000)).await, Vec::<u64>::new());
    // (A cursor past the horizon reads an empty page: moto, unlike DynamoDB, accepts the
    // inverted range that would otherwise be asked for, so `feed.rs`'s unit test holds that.)
    // Limits hold across the void and the old cursors.
    let first_two = store.events_after(&clinic, 0, 2).await.unwrap();
    assert_eq!(first_two.iter().map(|e| e.cursor).collect::<Vec<_>>(), vec![1, 3]);
    // With no lag (every writer done), the young event is read too.
    let unlagged = store.clone().with_feed_lag(Duration::zero());
    let all = unlagged.events_after(&clinic, stamped(12_000), 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.cursor).collect::<Vec<_>>(), vec![stamped(2_000)]);
}

fn rand_seed() -> u64 {
    std::env::var("RAPPEL_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_subsec_nanos() as u64)
}

/// Several reminders under Scheduler faults: a put whose answer was lost, throttling, a delete
/// that failed before running. The EMR retries its 503s; in the end each reminder has exactly one
/// schedule at its time (none left over from before a move), and each fires once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_reminders_end_with_one_schedule_each_through_scheduler_faults() {
    let (rig, proxy) = faulty_rig().await;
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let reminders = json!({"communications": "full",
        "reminders": [{"before": "7d"}, {"before": "36h"}, {"before": "2h", "channels": ["sms"]}]});
    call(&emr, Method::PUT, "/v1/appointment-types/FU", Some(reminders), false).await;
    let put_until_done = |body: Value| {
        let emr = emr.clone();
        async move {
            for _ in 0..6 {
                let (status, view) = call(&emr, Method::PUT, "/v1/appointments/R-1", Some(body.clone()), false).await;
                if status != StatusCode::SERVICE_UNAVAILABLE {
                    return (status, view);
                }
            }
            panic!("still 503 after six tries");
        }
    };
    // Thursday 2030-01-17 14:00 local, ten days after the rig's clock.
    let start = Utc.with_ymd_and_hms(2030, 1, 17, 19, 0, 0).unwrap();
    let first = texted_body(1, start, "FU");
    proxy.force(
        Rule::new(Service::Scheduler, Fault::ErrorAfter)
            .operation("CreateSchedule")
            .times(1),
    );
    proxy.force(
        Rule::new(Service::Scheduler, Fault::Throttle)
            .operation("CreateSchedule")
            .times(2),
    );
    let (status, view) = put_until_done(first).await;
    assert!(status.is_success(), "{view} {}", proxy.stats());
    assert!(
        proxy.pending_rules().is_empty(),
        "every forced fault was met: {:?}",
        proxy.pending_rules()
    );
    let expressions = |live: &[Value]| {
        let mut e: Vec<String> = live
            .iter()
            .map(|s| s["schedule_expression"].as_str().unwrap().to_owned())
            .collect();
        e.sort();
        e
    };
    assert_eq!(
        expressions(&support::schedules(&rig.moto, &rig.sdk).await),
        [
            "at(2030-01-10T19:00:00)",
            "at(2030-01-16T01:59:00)",
            "at(2030-01-17T17:00:00)"
        ]
    );
    // Moved four days earlier: the week reminder's time has passed, so its schedule goes; the
    // delete fails once before running, and the update of another is throttled.
    let moved = texted_body(2, start - Duration::days(4), "FU");
    proxy.force(
        Rule::new(Service::Scheduler, Fault::ErrorBefore)
            .operation("DeleteSchedule")
            .times(1),
    );
    proxy.force(
        Rule::new(Service::Scheduler, Fault::Throttle)
            .operation("UpdateSchedule")
            .times(1),
    );
    let (status, view) = put_until_done(moved).await;
    assert!(status.is_success(), "{view} {}", proxy.stats());
    assert!(
        proxy.pending_rules().is_empty(),
        "every forced fault was met: {:?}",
        proxy.pending_rules()
    );
    let live = support::schedules(&rig.moto, &rig.sdk).await;
    assert_eq!(
        expressions(&live),
        ["at(2030-01-12T01:59:00)", "at(2030-01-13T17:00:00)"],
        "{view}"
    );
    // Each fired twice from its input: sent once.
    let texts_before = texts(&rig.moto.data().await);
    for (at, payload) in support::due_inputs(&live) {
        rig.clock.set(at);
        rig.rappel.fire(&payload).await.unwrap();
        rig.rappel.fire(&payload).await.unwrap();
    }
    assert_eq!(texts(&rig.moto.data().await) - texts_before, 2, "one text per reminder");
    let (_, view) = call(&emr, Method::GET, "/v1/appointments/R-1", None, false).await;
    let statuses: Vec<&str> = view["reminders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["sent", "sent"], "{view}");
}

/// A patient's "Oui" (the `events/inbound-sms/oui.json` sample) whose confirmation write meets
/// a transaction conflict, whose answer's completion loses its answer, and which SNS delivers
/// twice: the appointment is confirmed once, answered once, billed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_reply_through_conflicts_lost_answers_and_a_second_delivery_counts_once() {
    let (rig, proxy) = faulty_rig().await;
    let mut clinic = rig.clinic.clone();
    clinic.settings.sms_replies = true;
    rig.rappel.store.put_clinic(&clinic).await.unwrap();
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/R-1", Some(body(1)), false).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    // Wednesday 09:00 local, the day before: confirming is open.
    rig.clock.set(Utc.with_ymd_and_hms(2030, 1, 9, 14, 0, 0).unwrap());
    proxy.force(
        Rule::new(Service::DynamoDb, Fault::Conflict)
            .operation("TransactWriteItems")
            .body_contains("patient_confirmed")
            .times(1),
    );
    proxy.force(
        Rule::new(Service::DynamoDb, Fault::ErrorAfter)
            .operation("TransactWriteItems")
            .body_contains("TEXTED#")
            .times(1),
    );
    let path = format!("{}/../../events/inbound-sms/oui.json", env!("CARGO_MANIFEST_DIR"));
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // As Lambda runs an async invocation: an error is retried (twice at most).
    for delivery in 0..2 {
        let mut attempts = 0;
        let report = loop {
            attempts += 1;
            match rig.rappel.answer_inbound_event(&event).await {
                Ok(report) => break report,
                Err(e) => assert!(attempts < 3, "delivery {delivery}: {e}"),
            }
        };
        assert_eq!(report.outcomes, vec![rappel::services::ReplyOutcome::Confirmed]);
    }
    assert_eq!(proxy.stats().total(Fault::Conflict), 1, "{}", proxy.stats());
    assert_eq!(proxy.stats().total(Fault::ErrorAfter), 1, "{}", proxy.stats());
    let events = sent_events(&rig).await;
    let confirmed: Vec<&Value> = events.iter().filter(|e| e["type"] == "patient_confirmed").collect();
    assert_eq!(confirmed.len(), 1, "{events:?}");
    assert_eq!(confirmed[0]["via"], "sms");
    assert_eq!(texts(&rig.moto.data().await), 2, "the confirmation and one answer");
    assert_eq!(ledger_entries(&rig).await, 2);
}

/// What the providers' reports and the patients' replies rely on is on the wire: each email's
/// SES tag naming its message, and texts sent from the two-way number. (moto keeps neither, so
/// the proxy looks: a throttle forced on requests that hold them is hit, once each.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_carry_their_message_tag_and_texts_the_two_way_number() {
    let (rig, proxy) = faulty_rig().await;
    let tag = rappel::formats::delivery::encode_tag(rig.clinic.id.as_str(), "W-1", "confirmation:1:email");
    proxy.force(
        Rule::new(Service::Ses, Fault::Throttle)
            .operation("SendEmail")
            .body_contains(&tag)
            .times(1),
    );
    proxy.force(
        Rule::new(Service::Sns, Fault::Throttle)
            .operation("Publish")
            .body_contains("AWS.MM.SMS.OriginationNumber")
            .times(1),
    );
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/W-1", Some(body(1)), false).await;
    assert!(status.is_success(), "{view}");
    let stats = proxy.stats();
    assert_eq!(stats.faults(Service::Ses, "SendEmail", Fault::Throttle), 1, "{stats}");
    assert_eq!(stats.faults(Service::Sns, "Publish", Fault::Throttle), 1, "{stats}");
    assert_eq!(texts(&rig.moto.data().await), 1);
}

/// A save reads the patient's address's suppression with the appointment and its type (one
/// `BatchGetItem`), so its email costs no read of its own; the answer is the list's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_reads_the_suppression_list_in_its_first_read() {
    let (rig, proxy) = faulty_rig().await;
    let id = AppointmentId::parse("S-1").unwrap();
    // As stored (registering bound the sender's domain).
    let clinic = rig.rappel.store.clinic(&rig.clinic.id).await.unwrap().unwrap();
    let save = |revision: u64| {
        // Each revision an hour later: a move, which sends a change.
        let mut body = body(revision);
        body["start"] = json!((Utc.with_ymd_and_hms(2030, 1, 10, 18, 0, 0).unwrap()
            + Duration::hours(revision as i64))
        .to_rfc3339());
        let content: rappel::domain::AppointmentContent = serde_json::from_value(body).unwrap();
        let (rappel, clinic, id) = (rig.rappel.clone(), clinic.clone(), id.clone());
        async move { rappel.save_appointment(&clinic, id, content).await.unwrap() }
    };
    // Reads of one save: the text's own opt-out read is the only GetItem (the rig is a two-way
    // deployment, whose texter reads its opt-out list beside SNS's).
    let reads = |stats: &rappel_aws_faults::FaultStats| {
        (
            stats.requests(Service::DynamoDb, "GetItem"),
            stats.requests(Service::DynamoDb, "BatchGetItem"),
        )
    };
    let before = reads(&proxy.stats());
    save(1).await;
    let after = reads(&proxy.stats());
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "{}", proxy.stats());
    let listed = rappel::domain::Suppression {
        address: "julie.roy@example.ca".to_owned(),
        reason: rappel::domain::SuppressionReason::Bounce,
        at: now0(),
    };
    rig.rappel.store.suppress(&rig.clinic.id, &[listed]).await.unwrap();
    let before = reads(&proxy.stats());
    let (_, record) = save(2).await;
    let after = reads(&proxy.stats());
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "{}", proxy.stats());
    let messages = rig.rappel.store.messages(&rig.clinic.id, &record.id).await.unwrap();
    let change = messages.iter().find(|m| m.key == "change:2:email").unwrap();
    assert_eq!(
        (change.status, change.detail.as_deref()),
        (rappel::domain::MessageStatus::Undeliverable, Some("suppressed"))
    );
}

/// Saves two texted appointments (`ids`), emailed at free@example.ca and listed@example.ca, puts
/// the second address on the suppression list as `listed` says (its spelling, its reason), and
/// moves the clock to their reminders: the reminders' inputs, in due order.
async fn reminders_due_one_listed(
    rig: &AwsRig,
    ids: [&str; 2],
    listed: (&str, rappel::domain::SuppressionReason),
) -> Vec<(chrono::DateTime<Utc>, rappel::ports::SchedulePayload)> {
    let emr = rappel::http::emr::router(rig.rappel.clone());
    let start = Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap();
    for (id, email) in ids.into_iter().zip(["free@example.ca", "listed@example.ca"]) {
        let mut body = texted_body(1, start, "FU");
        body["patient"]["email"] = json!(email);
        let (status, view) = call(&emr, Method::PUT, &format!("/v1/appointments/{id}"), Some(body), false).await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
    }
    let suppression = rappel::domain::Suppression {
        address: listed.0.to_owned(),
        reason: listed.1,
        at: now0(),
    };
    rig.rappel.store.suppress(&rig.clinic.id, &[suppression]).await.unwrap();
    let due = support::due_inputs(&support::schedules(&rig.moto, &rig.sdk).await);
    rig.clock.set(due[0].0);
    due
}

/// A reminder learns whether the patient's address is suppressed in the transaction that records
/// its messages (a condition on the list's item), not with a read of its own: three DynamoDB calls
/// for a free address, and one more transaction for a listed one, whose email is then skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_learns_the_suppression_list_in_the_write_of_its_messages() {
    let (rig, proxy) = faulty_rig().await;
    let listed = ("Listed@Example.ca", rappel::domain::SuppressionReason::Bounce);
    let due = reminders_due_one_listed(&rig, ["R-FREE", "R-LISTED"], listed).await;
    let calls = |stats: &rappel_aws_faults::FaultStats| {
        ["GetItem", "BatchGetItem", "TransactWriteItems", "UpdateItem", "Query"]
            .map(|operation| stats.requests(Service::DynamoDb, operation))
    };
    let mut fired = Vec::new();
    for id in ["R-FREE", "R-LISTED"] {
        let (_, payload) = due.iter().find(|(_, p)| p.appointment_id.as_str() == id).unwrap();
        let before = calls(&proxy.stats());
        rig.rappel.fire(payload).await.unwrap();
        let after = calls(&proxy.stats());
        fired.push(after.iter().zip(before).map(|(a, b)| a - b).collect::<Vec<_>>());
    }
    // The one GetItem is the text's opt-out read (the rig is a two-way deployment).
    assert_eq!(fired[0], vec![1, 1, 2, 0, 0], "a free address: {}", proxy.stats());
    assert_eq!(fired[1], vec![1, 1, 3, 0, 0], "a listed address: {}", proxy.stats());
    for (id, email_status, detail) in [
        ("R-FREE", rappel::domain::MessageStatus::Sent, None),
        (
            "R-LISTED",
            rappel::domain::MessageStatus::Undeliverable,
            Some("suppressed"),
        ),
    ] {
        let id = AppointmentId::parse(id).unwrap();
        let messages = rig.rappel.store.messages(&rig.clinic.id, &id).await.unwrap();
        let reminder = |channel| {
            messages
                .iter()
                .find(|m| m.kind == rappel::domain::MessageKind::Reminder && m.channel == channel)
                .unwrap()
        };
        let email = reminder(rappel::domain::Channel::Email);
        assert_eq!((email.status, email.detail.as_deref()), (email_status, detail), "{id}");
        assert_eq!(
            reminder(rappel::domain::Channel::Sms).status,
            rappel::domain::MessageStatus::Sent
        );
    }
}

/// The reminder's checked write under AWS's failures: for a listed address, the write whose
/// condition on the list fails loses its answer too, and Scheduler delivers the reminder twice;
/// for a free address, the checked write meets two conflicts. The listed email is never sent,
/// every other message goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminders_checked_write_rides_out_conflicts_lost_answers_and_a_second_delivery() {
    let (rig, proxy) = faulty_rig().await;
    let listed = ("listed@example.ca", rappel::domain::SuppressionReason::Complaint);
    let due = reminders_due_one_listed(&rig, ["F-FREE", "F-LISTED"], listed).await;
    let payload = |id: &str| {
        due.iter()
            .find(|(_, p)| p.appointment_id.as_str() == id)
            .unwrap()
            .1
            .clone()
    };
    // The write with the check: the list's item, keyed by the address, is only in it.
    let checked = |address: &str| {
        Rule::new(Service::DynamoDb, Fault::Conflict)
            .operation("TransactWriteItems")
            .body_contains(&format!("{{\"S\":\"{address}\"}}"))
    };
    proxy.force(checked("free@example.ca").times(2));
    proxy.force(Rule {
        fault: Fault::ErrorAfter,
        ..checked("listed@example.ca")
    });
    for id in ["F-FREE", "F-LISTED", "F-LISTED"] {
        // As Lambda does for an asynchronous invocation: an error is tried again later.
        if rig.rappel.fire(&payload(id)).await.is_err() {
            rig.clock.set(due[0].0 + Duration::seconds(31));
            rig.rappel.fire(&payload(id)).await.unwrap();
        }
    }
    assert!(
        proxy.pending_rules().is_empty(),
        "every forced fault was met: {}",
        proxy.stats()
    );
    let data = rig.moto.data().await;
    let reminders_to = |to: &str| {
        data["ses"]["Message"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| {
                m["destinations"].to_string().contains(to) && m["subject"].as_str().unwrap().starts_with("Rappel")
            })
            .count()
    };
    assert_eq!(
        (reminders_to("free@example.ca"), reminders_to("listed@example.ca")),
        (1, 0)
    );
    for (id, email_status) in [
        ("F-FREE", rappel::domain::MessageStatus::Sent),
        ("F-LISTED", rappel::domain::MessageStatus::Undeliverable),
    ] {
        let id = AppointmentId::parse(id).unwrap();
        let messages = rig.rappel.store.messages(&rig.clinic.id, &id).await.unwrap();
        let reminders: Vec<_> = messages
            .iter()
            .filter(|m| m.kind == rappel::domain::MessageKind::Reminder)
            .map(|m| (m.channel, m.status))
            .collect();
        assert_eq!(
            reminders,
            vec![
                (rappel::domain::Channel::Email, email_status),
                (rappel::domain::Channel::Sms, rappel::domain::MessageStatus::Sent)
            ],
            "{id}"
        );
    }
    assert_eq!(
        ledger_entries(&rig).await,
        4,
        "two confirmations and two reminders texted, once each"
    );
}
