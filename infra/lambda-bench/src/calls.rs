//! AWS calls per operation: each operation the functions serve, invoked once through its release
//! binary against moto, with the calls it made counted by service and the DynamoDB capacity it
//! consumed (docs/PERFORMANCE.md, "Round trips"). One appointment goes through them in order:
//! created, saved again unchanged, moved, confirmed by the patient, reminded, cancelled by the EMR.

use crate::endpoint::AwsEndpoint;
use crate::runtime_api::RuntimeApi;
use crate::{answer_json, launch, scenarios, with_endpoint};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The DynamoDB calls each operation may make (issue 13's budgets).
const BUDGETS: &[(&str, usize)] = &[
    ("new appointment", 4),
    ("unchanged replay", 2),
    ("move", 4),
    ("patient confirm", 3),
    ("reminder fire", 3),
];

/// What one operation cost.
#[derive(Debug, Clone, Serialize)]
pub struct OperationCalls {
    /// The operation.
    pub operation: &'static str,
    /// DynamoDB calls.
    pub dynamodb: usize,
    /// The capacity units those calls consumed (reads and writes).
    pub capacity_units: f64,
    /// SES calls.
    pub ses: usize,
    /// SNS calls.
    pub sns: usize,
    /// Scheduler calls.
    pub scheduler: usize,
    /// Every call, in order.
    pub sequence: Vec<String>,
}

/// The appointment the operations work on.
const APPOINTMENT: &str = "calls-1";

/// Runs the operations through the binaries in `bin_dir` and returns what each cost.
pub async fn count(
    moto: &str,
    base_env: &BTreeMap<String, String>,
    bin_dir: &Path,
    out: &Path,
) -> Result<Vec<OperationCalls>, String> {
    // Inside the confirmation window and the reminder's, so that every operation does its work.
    let start = chrono::Utc::now() + chrono::Duration::hours(40);
    let start = start - chrono::Duration::nanoseconds(i64::from(start.timestamp_subsec_nanos()));
    let key = Some(scenarios::API_KEY);
    let path = format!("/v1/appointments/{APPOINTMENT}");
    let save = |revision: u64, start: chrono::DateTime<chrono::Utc>, status: &str| {
        let mut body = scenarios::appointment(revision, start);
        body["status"] = json!(status);
        scenarios::http_event("PUT", &path, key, Some(&body))
    };
    let mut counted = Vec::new();

    let on_save = Function::start("on-save", moto, base_env, bin_dir, out).await?;
    on_save
        .run(&scenarios::http_event(
            "PUT",
            "/v1/clinic",
            key,
            Some(&scenarios::no_quiet_hours()),
        ))
        .await?;
    on_save
        .run(&scenarios::http_event(
            "PUT",
            "/v1/appointment-types/consult",
            key,
            Some(&scenarios::type_settings()),
        ))
        .await?;
    let (created, calls) = on_save.count("new appointment", &save(1, start, "booked")).await?;
    counted.push(calls);
    counted.push(on_save.count("unchanged replay", &save(1, start, "booked")).await?.1);
    let moved = start + chrono::Duration::hours(1);
    counted.push(on_save.count("move", &save(2, moved, "booked")).await?.1);

    let token = scenarios::json_body(&created)
        .and_then(|b| {
            b["patient_url"]
                .as_str()
                .map(|u| u.rsplit('/').next().unwrap_or_default().to_owned())
        })
        .ok_or_else(|| format!("the first save answered no patient_url: {created}"))?;
    let patient = Function::start("patient-action", moto, base_env, bin_dir, out).await?;
    let confirm = scenarios::http_event("POST", &format!("/p/{token}/confirm"), None, None);
    counted.push(patient.count("patient confirm", &confirm).await?.1);

    let view = on_save.run(&scenarios::http_event("GET", &path, key, None)).await?;
    let revision = reminder_revision(&view)?;
    let reminder = Function::start("reminder", moto, base_env, bin_dir, out).await?;
    // What EventBridge Scheduler delivers: the input of the schedule the saves put.
    let fire = scheduled_input(moto, revision).await?;
    let (fired, calls) = reminder.count("reminder fire", &fire).await?;
    if fired["outcome"] != "Sent" {
        return Err(format!("the reminder was not sent: {fired}"));
    }
    counted.push(calls);

    counted.push(on_save.count("EMR cancel", &save(3, moved, "cancelled")).await?.1);
    Ok(counted)
}

/// The input of the reminder schedule planned by `revision`, as moto holds it.
async fn scheduled_input(moto: &str, revision: u64) -> Result<Value, String> {
    let data: Value = reqwest::get(format!("{moto}/moto-api/data.json"))
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    data["scheduler"]["Schedule"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["target"]["Input"].as_str())
        .filter_map(|input| serde_json::from_str::<Value>(input).ok())
        .find(|input| input["kind"] == "reminder" && input["revision"] == revision)
        .ok_or_else(|| format!("no reminder schedule for revision {revision} in moto"))
}

/// The revision that planned the appointment's reminder: what the scheduler would carry.
fn reminder_revision(view: &Value) -> Result<u64, String> {
    let body = scenarios::json_body(view).ok_or_else(|| format!("no appointment view: {view}"))?;
    let revision = body["revision"].as_u64().ok_or("the view has no revision")?;
    // A later save that did not move the reminder keeps its planning revision; the move was the
    // last change of time, so its revision planned it.
    body["reminder_at"]
        .as_str()
        .map(|_| revision)
        .ok_or_else(|| format!("no reminder planned: {body}"))
}

/// One function binary behind a Runtime API, its AWS calls through a counting endpoint.
struct Function {
    api: tokio::sync::Mutex<RuntimeApi>,
    endpoint: AwsEndpoint,
    _process: crate::process::FunctionProcess,
}

impl Function {
    async fn start(
        name: &str,
        moto: &str,
        base_env: &BTreeMap<String, String>,
        bin_dir: &Path,
        out: &Path,
    ) -> Result<Function, String> {
        let endpoint = AwsEndpoint::start(moto).await.map_err(|e| e.to_string())?;
        endpoint.count_capacity();
        let env = with_endpoint(base_env, &endpoint, name);
        let log = out.join(format!("calls-{name}.log"));
        let (mut api, process) = launch(&bin_dir.join(name), &[], &env, &log).await?;
        api.poll_arrival(Duration::from_secs(10)).await?;
        Ok(Function {
            api: tokio::sync::Mutex::new(api),
            endpoint,
            _process: process,
        })
    }

    async fn run(&self, event: &Value) -> Result<Value, String> {
        self.endpoint.begin_invocation();
        answer_json(self.api.lock().await.invoke(event).await?.answer)
    }

    async fn count(&self, operation: &'static str, event: &Value) -> Result<(Value, OperationCalls), String> {
        let answer = self.run(event).await?;
        if let Some(status) = scenarios::status_code(&answer).filter(|s| *s >= 300) {
            return Err(format!("{operation}: status {status}: {answer}"));
        }
        let calls = OperationCalls {
            operation,
            dynamodb: self.endpoint.calls_to("dynamodb"),
            capacity_units: self.endpoint.capacity_units(),
            ses: self.endpoint.calls_to("ses"),
            sns: self.endpoint.calls_to("sns"),
            scheduler: self.endpoint.calls_to("scheduler"),
            sequence: self.endpoint.sequence(),
        };
        Ok((answer, calls))
    }
}

/// The table, with each operation's DynamoDB budget where it has one.
pub fn table(counted: &[OperationCalls]) -> String {
    let mut out = String::from(
        "AWS calls per operation (one invocation each, through the release binaries, against moto)\n\
         operation          DynamoDB (budget)  capacity units  SES  SNS  Scheduler\n",
    );
    for c in counted {
        let budget = BUDGETS.iter().find(|(op, _)| *op == c.operation).map(|(_, b)| *b);
        let verdict = match budget {
            Some(b) if c.dynamodb <= b => format!("{} (≤ {b} ok)", c.dynamodb),
            Some(b) => format!("{} (≤ {b} MISS)", c.dynamodb),
            None => c.dynamodb.to_string(),
        };
        out.push_str(&format!(
            "{:<18} {:<18} {:>14.1} {:>4} {:>4} {:>10}\n",
            c.operation, verdict, c.capacity_units, c.ses, c.sns, c.scheduler
        ));
    }
    out.push_str("\nthe calls, in order:\n");
    for c in counted {
        out.push_str(&format!("{:<18} {}\n", c.operation, c.sequence.join(", ")));
    }
    out
}
