//! `rappel-lambda-bench`: each function's release binary started and invoked through a local
//! Lambda Runtime API, side by side with two reference Lambdas (see `docs/PERFORMANCE.md`).
//!
//! For every binary: init (exec → first `/next` poll), the first invocation, cold start (the
//! two together, median of several fresh processes), warm invocations (p50 / p99, and the CPU
//! time each one cost), and the peak RSS after them. The functions' AWS calls go to
//! [`endpoint::AwsEndpoint`], which records them once against moto and then replays them.

pub mod calls;
pub mod endpoint;
pub mod fleet;
pub mod process;
pub mod runtime_api;
pub mod scenarios;

use endpoint::AwsEndpoint;
use process::FunctionProcess;
use runtime_api::{Answer, RuntimeApi};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Usage text.
pub const USAGE: &str = "\
usage: rappel-lambda-bench [--cold-runs N] [--warm N] [--no-build] [--profile NAME] [--wrap COMMAND] [--calls]

Builds the three functions and two reference Lambdas in release mode for the host, linked
position-dependent as the Lambda packages are (target/<host triple>/release; unless --no-build),
starts
moto (RAPPEL_MOTO_SERVER, else infra/aws-faults/moto/moto-server: moto with repaired transactions),
and measures each binary through a local Lambda Runtime API. Defaults: 20 cold runs, 1000 warm
invocations. Writes target/lambda-bench/report.json. First, and alone with --calls: the AWS calls
(by service) and DynamoDB capacity of each operation, each invoked once against moto.

For profiles: --profile profiling takes the binaries with symbols (target/<host>/profiling), and
--wrap 'perf record -g -o target/lambda-bench/{name}.perf --' starts each binary under a profiler
({name} is the binary's name); the figures then include the profiler's own cost.";

/// Budgets from issue 7 (docs/PERFORMANCE.md).
const COLD_START_RATIO_BUDGET: f64 = 1.2;
const PEAK_RSS_BUDGET_KIB: u64 = 12 * 1024;
const ZIP_BUDGET_BYTES: u64 = 3 * 1024 * 1024;

/// Command-line options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Fresh processes per binary for the cold-start figures.
    pub cold_runs: usize,
    /// Warm invocations in the last process.
    pub warm: usize,
    /// Run `cargo build` first.
    pub build: bool,
    /// The Cargo profile whose binaries are measured (`release`).
    pub profile: String,
    /// A command the binaries are started under (a profiler), `{name}` replaced by the binary's name.
    pub wrap: Vec<String>,
    /// Only the table of AWS calls per operation, without the timings.
    pub calls_only: bool,
}

/// Parses the command line (without the program name).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        cold_runs: 20,
        warm: 1000,
        build: true,
        profile: "release".to_owned(),
        wrap: Vec::new(),
        calls_only: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match arg.as_str() {
            "--cold-runs" => options.cold_runs = number("--cold-runs")?,
            "--warm" => options.warm = number("--warm")?,
            "--no-build" => options.build = false,
            "--calls" => options.calls_only = true,
            "--profile" => options.profile = args.next().ok_or("--profile needs a name")?.clone(),
            "--wrap" => {
                options.wrap = args
                    .next()
                    .ok_or("--wrap needs a command")?
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(options)
}

/// What one binary measured.
#[derive(Debug, Serialize)]
pub struct Figures {
    /// Binary name.
    pub name: String,
    /// Median exec → first poll, ms.
    pub init_ms: f64,
    /// Median CPU time spent in init, ms.
    pub init_cpu_ms: f64,
    /// Median first invocation, ms.
    pub first_ms: f64,
    /// Median of init + first invocation, ms.
    pub cold_ms: f64,
    /// Warm invocation p50, µs.
    pub warm_p50_us: f64,
    /// Warm invocation p99, µs.
    pub warm_p99_us: f64,
    /// CPU time per warm invocation, p50, µs.
    pub warm_cpu_p50_us: f64,
    /// Peak RSS after the warm invocations, KiB.
    pub peak_rss_kib: u64,
    /// Resident after the warm invocations, KiB: file-backed pages (the binary), anonymous pages.
    pub resident_file_anon_kib: (u64, u64),
    /// AWS calls per invocation (0 for the references).
    pub aws_calls: usize,
    /// Those calls, as `METHOD path operation #n` (for the cost model).
    pub operations: Vec<String>,
}

/// Runs the whole benchmark and returns the report text.
pub async fn run(options: &Options) -> Result<String, String> {
    let root = workspace_root()?;
    let host = host_triple()?;
    if options.build {
        build(&root, &host, &options.profile)?;
    }
    let binaries = root.join("target").join(&host).join(&options.profile);
    let bin = |name: &str| binaries.join(name);
    let out = root.join("target/lambda-bench");
    std::fs::create_dir_all(out.join("home")).map_err(|e| e.to_string())?;
    let moto = Moto::start(&root).await?;
    let store = seed(&moto.url).await?;
    let base_env = base_env(&out);

    let counted = calls::count(&moto.url, &base_env, &binaries, &out).await?;
    if options.calls_only {
        return Ok(calls::table(&counted));
    }

    let mut figures = Vec::new();
    let hello = json!({ "hello": "world" });
    for reference in ["hello-bare", "hello-sdk"] {
        figures.push(
            measure(
                reference,
                &bin(reference),
                &base_env,
                None,
                &hello,
                &out,
                options,
                |_| Ok(()),
            )
            .await?,
        );
    }

    // on-save: the clinic and a type, a first save, then the measured save moves the appointment
    // (change notice by email and text, schedule moved).
    // 40 hours ahead, for a clinic without quiet hours: the reminder fired below is due now
    // (inside its window, whatever the hour of the run), and the move stays inside it.
    let start = chrono::Utc::now() + chrono::Duration::hours(40);
    let start = start - chrono::Duration::nanoseconds(start.timestamp_subsec_nanos() as i64);
    let endpoint = AwsEndpoint::start(&moto.url).await.map_err(|e| e.to_string())?;
    let env = with_endpoint(&base_env, &endpoint, "on-save");
    let key = Some(scenarios::API_KEY);
    let path = format!("/v1/appointments/{}", scenarios::APPOINTMENT);
    let setup = [
        scenarios::http_event("PUT", "/v1/clinic", key, Some(&scenarios::no_quiet_hours())),
        scenarios::http_event(
            "PUT",
            "/v1/appointment-types/consult",
            key,
            Some(&scenarios::type_settings()),
        ),
        scenarios::http_event("PUT", &path, key, Some(&scenarios::appointment(1, start))),
    ];
    let moved = scenarios::http_event(
        "PUT",
        &path,
        key,
        Some(&scenarios::appointment(2, start + chrono::Duration::hours(1))),
    );
    let answers = record(&bin("on-save"), &env, &endpoint, &setup, &moved, &out).await?;
    // The third setup event is the first save; its answer holds the patient link.
    let created = answers.get(2).cloned().unwrap_or_default();
    let patient_url = scenarios::json_body(&created)
        .and_then(|b| b.get("patient_url").and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| format!("the first save did not answer a patient_url: {created}"))?;
    let token = patient_url.rsplit('/').next().unwrap_or_default().to_owned();
    let expect_http = |code: u64| {
        move |answer: &Value| match scenarios::status_code(answer) {
            Some(c) if c == code => Ok(()),
            _ => Err(format!("expected status {code}, got {answer}")),
        }
    };
    figures.push(
        measure(
            "on-save",
            &bin("on-save"),
            &env,
            Some(&endpoint),
            &moved,
            &out,
            options,
            expect_http(200),
        )
        .await?,
    );

    // patient-action: the patient opens the page.
    let endpoint = AwsEndpoint::start(&moto.url).await.map_err(|e| e.to_string())?;
    let env = with_endpoint(&base_env, &endpoint, "patient-action");
    let page = scenarios::http_event("GET", &format!("/p/{token}"), None, None);
    record(&bin("patient-action"), &env, &endpoint, &[], &page, &out).await?;
    figures.push(
        measure(
            "patient-action",
            &bin("patient-action"),
            &env,
            Some(&endpoint),
            &page,
            &out,
            options,
            expect_http(200),
        )
        .await?,
    );

    // reminder: Scheduler fires the reminder the measured save planned, with the payload it was given.
    let planned = {
        use rappel::ports::AppointmentStore;
        let clinic = rappel::domain::ClinicId::parse(scenarios::CLINIC).map_err(|e| e.0)?;
        let id = rappel::domain::AppointmentId::parse(scenarios::APPOINTMENT).map_err(|e| e.0)?;
        let record = store.appointment(&clinic, &id).await.map_err(|e| e.to_string())?;
        record
            .and_then(|r| r.reminder(rappel::domain::ReminderOffset::DEFAULT))
            .ok_or("the measured save planned no reminder")?
            .revision
    };
    let endpoint = AwsEndpoint::start(&moto.url).await.map_err(|e| e.to_string())?;
    let env = with_endpoint(&base_env, &endpoint, "reminder");
    let fire = json!({ "clinic_id": scenarios::CLINIC, "appointment_id": scenarios::APPOINTMENT, "revision": planned, "kind": "reminder", "type_code": "consult" });
    record(&bin("reminder"), &env, &endpoint, &[], &fire, &out).await?;
    let sent = |answer: &Value| match answer.get("outcome").and_then(Value::as_str) {
        Some("Sent") => Ok(()),
        _ => Err(format!("expected the reminder to be sent, got {answer}")),
    };
    figures.push(
        measure(
            "reminder",
            &bin("reminder"),
            &env,
            Some(&endpoint),
            &fire,
            &out,
            options,
            sent,
        )
        .await?,
    );

    let report = format!("{}\n{}", report(&figures, &root), calls::table(&counted));
    let json = serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?;
    std::fs::write(out.join("report.json"), json).map_err(|e| e.to_string())?;
    Ok(report)
}

fn workspace_root() -> Result<PathBuf, String> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| "cannot find the workspace root".to_owned())
}

/// The machine's own target triple (`rustc -vV`).
fn host_triple() -> Result<String, String> {
    let out = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()))
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| "rustc -vV names no host".to_owned())
}

/// Builds the functions and the references for the host, linked as the Lambda packages are
/// (position-dependent, `.cargo/config.toml`): a PIE binary would spend its start relocating
/// pointers the shipped one does not have, more of them the bigger it is. Naming the target
/// keeps the flag off build scripts and proc macros, and these builds in their own directory.
fn build(root: &Path, host: &str, profile: &str) -> Result<(), String> {
    eprintln!("building the functions and the reference Lambdas ({profile}, {host}, position-dependent)…");
    let flags_var = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        host.to_uppercase().replace(['-', '.'], "_")
    );
    if std::env::var_os("RUSTFLAGS").is_some() || std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_some() {
        // Cargo would take those instead, and the binaries would not be linked as shipped.
        return Err(format!("unset RUSTFLAGS: the benchmark sets {flags_var} itself"));
    }
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(root)
        .env(flags_var, "-C relocation-model=static")
        .args([
            "build",
            "--target",
            host,
            "--profile",
            profile,
            "--locked",
            "-p",
            "on-save",
            "-p",
            "patient-action",
            "-p",
            "reminder",
        ])
        .args(["-p", "rappel-baselines"])
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --profile {profile} failed"));
    }
    Ok(())
}

/// What Lambda sets for every function, plus Rappel's settings (the values `template.yaml` gives).
fn base_env(out: &Path) -> BTreeMap<String, String> {
    let pairs = [
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]bench"),
        ("AWS_REGION", "ca-central-1"),
        ("AWS_DEFAULT_REGION", "ca-central-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_SESSION_TOKEN", "test"),
        ("RAPPEL_TABLE", "rappel"),
        (
            "RAPPEL_PUBLIC_URL",
            "https://bench.execute-api.ca-central-1.amazonaws.com",
        ),
        ("RAPPEL_SCHEDULE_GROUP", "rappel"),
        (
            "RAPPEL_REMINDER_FUNCTION_ARN",
            "arn:aws:lambda:ca-central-1:123456789012:function:reminder",
        ),
        (
            "RAPPEL_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/rappel-scheduler",
        ),
        ("RAPPEL_SES_CONFIGURATION_SET", "rappel"),
    ];
    let mut env: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    // Lambda has no ~/.aws: an empty home keeps this machine's profile files out of the figures.
    env.insert("HOME".to_owned(), out.join("home").display().to_string());
    env
}

fn with_endpoint(base: &BTreeMap<String, String>, endpoint: &AwsEndpoint, name: &str) -> BTreeMap<String, String> {
    let mut env = base.clone();
    env.insert("AWS_ENDPOINT_URL".to_owned(), endpoint.url.clone());
    env.insert("AWS_LAMBDA_FUNCTION_NAME".to_owned(), name.to_owned());
    env.insert("AWS_LAMBDA_LOG_GROUP_NAME".to_owned(), format!("/aws/lambda/{name}"));
    env
}

fn answer_json(answer: Answer) -> Result<Value, String> {
    match answer {
        Answer::Response(body) => serde_json::from_slice(&body).map_err(|e| format!("answer is not JSON: {e}")),
        Answer::Error(body) => Err(format!("the function failed: {}", String::from_utf8_lossy(&body))),
    }
}

/// Runs `setup` then `measured` once against moto, keeping the AWS answers of `measured`.
/// Returns the answers of every event.
async fn record(
    binary: &Path,
    env: &BTreeMap<String, String>,
    endpoint: &AwsEndpoint,
    setup: &[Value],
    measured: &Value,
    out: &Path,
) -> Result<Vec<Value>, String> {
    let log = out.join(format!("{}.log", file_name(binary)));
    let (mut api, _process) = launch(binary, &[], env, &log).await?;
    api.poll_arrival(Duration::from_secs(10)).await?;
    let mut answers = Vec::new();
    for event in setup {
        endpoint.begin_invocation();
        answers.push(answer_json(api.invoke(event).await?.answer)?);
    }
    endpoint.begin_invocation();
    endpoint.record(true);
    answers.push(answer_json(api.invoke(measured).await?.answer)?);
    endpoint.record(false);
    endpoint.replay();
    Ok(answers)
}

/// Starts `binary` (under `wrap`) against a Runtime API of its own, as Lambda starts a function.
async fn launch(
    binary: &Path,
    wrap: &[String],
    env: &BTreeMap<String, String>,
    log: &Path,
) -> Result<(RuntimeApi, FunctionProcess), String> {
    let api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
    let mut env = env.clone();
    env.insert("AWS_LAMBDA_RUNTIME_API".to_owned(), api.address.clone());
    let process = FunctionProcess::spawn(binary, wrap, &env, log).map_err(|e| format!("{}: {e}", binary.display()))?;
    Ok((api, process))
}

fn file_name(binary: &Path) -> String {
    binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Cold starts in fresh processes, then warm invocations in the last one.
#[allow(clippy::too_many_arguments)]
async fn measure(
    name: &str,
    binary: &Path,
    env: &BTreeMap<String, String>,
    endpoint: Option<&AwsEndpoint>,
    event: &Value,
    out: &Path,
    options: &Options,
    expect: impl Fn(&Value) -> Result<(), String>,
) -> Result<Figures, String> {
    eprintln!("measuring {name}…");
    let log = out.join(format!("{name}.log"));
    let (mut init, mut init_cpu, mut first, mut cold) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut warm, mut warm_cpu, mut peak_rss_kib, mut aws_calls) = (Vec::new(), Vec::new(), 0, 0);
    let mut resident_file_anon_kib = (0, 0);
    let mut env = env.clone();
    env.entry("AWS_LAMBDA_FUNCTION_NAME".to_owned())
        .or_insert_with(|| name.to_owned());
    env.entry("AWS_LAMBDA_LOG_GROUP_NAME".to_owned())
        .or_insert_with(|| format!("/aws/lambda/{name}"));
    let wrap: Vec<String> = options.wrap.iter().map(|w| w.replace("{name}", name)).collect();
    for run in 0..options.cold_runs {
        let (mut api, process) = launch(binary, &wrap, &env, &log).await?;
        let polled = api
            .poll_arrival(Duration::from_secs(10))
            .await
            .map_err(|e| format!("{name}: {e}; see {}", log.display()))?;
        init.push(polled.saturating_duration_since(process.spawned));
        init_cpu.push(process.cpu_time());
        if let Some(endpoint) = endpoint {
            endpoint.begin_invocation();
        }
        let invocation = api.invoke(event).await?;
        expect(&answer_json(invocation.answer)?).map_err(|e| format!("{name}: {e}"))?;
        first.push(invocation.elapsed);
        cold.push(init[run] + invocation.elapsed);
        if run + 1 < options.cold_runs {
            continue;
        }
        aws_calls = endpoint.map_or(0, AwsEndpoint::calls);
        for _ in 0..options.warm {
            if let Some(endpoint) = endpoint {
                endpoint.begin_invocation();
            }
            api.forget_polls();
            let before = process.cpu_time();
            let invocation = api.invoke(event).await?;
            let after = process.cpu_time();
            expect(&answer_json(invocation.answer)?).map_err(|e| format!("{name}: {e}"))?;
            warm.push(invocation.elapsed);
            warm_cpu.push(after.saturating_sub(before));
        }
        peak_rss_kib = process.peak_rss_kib().unwrap_or(0);
        resident_file_anon_kib = process.resident_split_kib().unwrap_or_default();
    }
    if let Some(endpoint) = endpoint {
        let misses = endpoint.misses();
        if !misses.is_empty() {
            return Err(format!(
                "{name} made calls the recording does not hold: {misses:?} (recorded: {:?})",
                endpoint.recorded_operations()
            ));
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Ok(Figures {
        name: name.to_owned(),
        init_ms: ms(percentile(&mut init, 50.0)),
        init_cpu_ms: ms(percentile(&mut init_cpu, 50.0)),
        first_ms: ms(percentile(&mut first, 50.0)),
        cold_ms: ms(percentile(&mut cold, 50.0)),
        warm_p50_us: us(percentile(&mut warm, 50.0)),
        warm_p99_us: us(percentile(&mut warm, 99.0)),
        warm_cpu_p50_us: us(percentile(&mut warm_cpu, 50.0)),
        peak_rss_kib,
        resident_file_anon_kib,
        aws_calls,
        operations: endpoint.map(AwsEndpoint::recorded_operations).unwrap_or_default(),
    })
}

/// The nearest-rank percentile.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn report(figures: &[Figures], root: &Path) -> String {
    let find = |name: &str| figures.iter().find(|f| f.name == name);
    let (Some(bare), Some(sdk)) = (find("hello-bare"), find("hello-sdk")) else {
        return "references missing".to_owned();
    };
    let mut text = format!(
        "{:<15} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>9} {:>9} {:>9} {:>8} {:>5}\n",
        "binary",
        "init ms",
        "init cpu",
        "1st ms",
        "cold ms",
        "×sdk",
        "×bare",
        "warm p50",
        "warm p99",
        "cpu/inv",
        "peak RSS",
        "calls"
    );
    let mut verdicts = Vec::new();
    for f in figures {
        let vs_sdk = f.cold_ms / sdk.cold_ms;
        text += &format!(
            "{:<15} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7.2} {:>8.2} {:>7.0}µs {:>7.0}µs {:>7.0}µs {:>6.1}MB {:>5}\n",
            f.name,
            f.init_ms,
            f.init_cpu_ms,
            f.first_ms,
            f.cold_ms,
            vs_sdk,
            f.cold_ms / bare.cold_ms,
            f.warm_p50_us,
            f.warm_p99_us,
            f.warm_cpu_p50_us,
            f.peak_rss_kib as f64 / 1024.0,
            f.aws_calls
        );
        if f.name.starts_with("hello") {
            continue;
        }
        verdicts.push(verdict(
            &format!("{}: cold start ≤ {COLD_START_RATIO_BUDGET}× hello-sdk", f.name),
            vs_sdk <= COLD_START_RATIO_BUDGET,
            format!("{vs_sdk:.2}×"),
        ));
        verdicts.push(verdict(
            &format!("{}: peak RSS ≤ 12 MB", f.name),
            f.peak_rss_kib <= PEAK_RSS_BUDGET_KIB,
            format!("{:.1} MB", f.peak_rss_kib as f64 / 1024.0),
        ));
        let zip = root.join("target/lambda").join(&f.name).join("bootstrap.zip");
        match std::fs::metadata(&zip) {
            Ok(meta) => verdicts.push(verdict(
                &format!("{}: zip ≤ 3 MiB", f.name),
                meta.len() <= ZIP_BUDGET_BYTES,
                format!(
                    "{:.2} MiB (target/lambda, from the last cargo lambda build)",
                    meta.len() as f64 / 1048576.0
                ),
            )),
            Err(_) => verdicts.push(format!(
                "  ?    {}: zip not built (cargo lambda build --release --arm64 --output-format zip)",
                f.name
            )),
        }
    }
    text += &format!(
        "\nhello-sdk / hello-bare cold start: {:.2}× (the SDK's own start-up)\n",
        sdk.cold_ms / bare.cold_ms
    );
    text += "\nresident after the warm invocations (file-backed: the binary's pages; anonymous: heap and stacks):\n";
    for f in figures {
        let (file, anon) = f.resident_file_anon_kib;
        text += &format!(
            "  {:<15} {:>5.1} MB file-backed + {:>5.1} MB anonymous\n",
            f.name,
            file as f64 / 1024.0,
            anon as f64 / 1024.0
        );
    }
    text += "\nbudgets:\n";
    text += &verdicts.join("\n");
    text.push('\n');
    text
}

fn verdict(what: &str, met: bool, figure: String) -> String {
    format!("  {}  {what}: {figure}", if met { "met " } else { "MISS" })
}

/// Seeds moto: the table, SES identity and schedule group, and the benchmark clinic with its key.
/// Returns the store, to read back what the functions wrote.
async fn seed(moto: &str) -> Result<rappel_aws::dynamodb::DynamoStore, String> {
    use rappel::domain::{Clinic, ClinicId, ClinicSettings};
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(rappel_aws::sdk::https_client(rappel_aws::sdk::Roots::System))
        .endpoint_url(moto)
        .region(aws_config::Region::new("ca-central-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;
    let names = rappel_aws::local::LocalResources {
        table: "rappel".to_owned(),
        ses_identity: "example.ca".to_owned(),
        configuration_set: "rappel".to_owned(),
        schedule_group: "rappel".to_owned(),
    };
    rappel_aws::local::provision(&sdk, &names).await?;
    let store = rappel_aws::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "rappel");
    let mut settings = ClinicSettings::named("Clinique Bench").map_err(|e| e.0)?;
    settings.sender_domain = Some("example.ca".to_owned());
    let clinic = Clinic {
        id: ClinicId::parse(scenarios::CLINIC).map_err(|e| e.0)?,
        settings,
    };
    rappel::services::register_clinic(&store, &clinic, scenarios::API_KEY)
        .await
        .map_err(|e| e.to_string())?;
    Ok(store)
}

/// moto on a free loopback port, killed when dropped.
struct Moto {
    child: std::process::Child,
    url: String,
}

impl Moto {
    async fn start(root: &Path) -> Result<Moto, String> {
        // moto with its transactions repaired (infra/aws-faults/moto), as the tests run it.
        let repaired = root.join("infra/aws-faults/moto/moto-server");
        let program = std::env::var("RAPPEL_MOTO_SERVER").unwrap_or_else(|_| repaired.display().to_string());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = std::process::Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {program} ({e}); scripts/bench.sh installs it"))?;
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("moto did not start within 60 s".to_owned())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_bad_ones_say_why() {
        let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            parse_args(&args(
                "--cold-runs 5 --warm 10 --no-build --profile profiling --wrap perf.record.-- --calls"
            )),
            Ok(Options {
                cold_runs: 5,
                warm: 10,
                build: false,
                profile: "profiling".to_owned(),
                wrap: vec!["perf.record.--".to_owned()],
                calls_only: true,
            })
        );
        assert_eq!(
            parse_args(&args("--warm 0")),
            Err("--warm needs a positive number".to_owned())
        );
        assert!(parse_args(&args("--fast")).is_err());
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&mut samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&mut [], 50.0), Duration::ZERO);
    }
}
