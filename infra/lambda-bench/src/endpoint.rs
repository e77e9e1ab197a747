//! A fast local AWS endpoint for the benchmarks: it first forwards the function's AWS calls to
//! moto and records the answers of one invocation, then replays them from memory. The function
//! makes the same calls either way; replaying keeps moto's Python (milliseconds a call) out of
//! figures that are meant to be about Rappel's own code.
//!
//! While forwarding, it also counts the current invocation's calls by service and, once told to
//! (`count_capacity`, for the table of AWS calls per operation in `calls.rs`), asks DynamoDB for
//! the capacity each call consumed (`ReturnConsumedCapacity`, added when the call did not ask).
//!
//! A call is recognised by method, path and operation (`X-Amz-Target`, or `Action=` for the
//! query protocol) and by how many such calls the invocation made before it: a service makes
//! its calls one after the other, so the n-th `GetItem` of one invocation is the n-th of the next.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The largest request body the endpoint accepts (a rendered email with its parts is far less).
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Clone)]
struct Recorded {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct Tape {
    /// Calls of the current invocation so far, by operation.
    seen: HashMap<String, usize>,
    /// Whether forwarded answers are being kept.
    recording: bool,
    /// What was kept, by (operation, occurrence).
    answers: HashMap<(String, usize), Recorded>,
    /// Replay requests that matched nothing recorded.
    misses: Vec<String>,
    /// Calls made in the current invocation.
    calls: usize,
    /// The current invocation's calls, by service.
    by_service: HashMap<&'static str, usize>,
    /// The current invocation's calls in order, by operation name (`GetItem`, `SendEmail`…).
    sequence: Vec<String>,
    /// The DynamoDB capacity units the current invocation consumed (while forwarding).
    capacity_units: f64,
    /// Whether DynamoDB calls are made to report their capacity: only for the calls table, so
    /// the answers the timing benchmarks replay stay the ones the functions really get.
    counting_capacity: bool,
}

struct Shared {
    /// `Some(moto)` while forwarding; `None` once replaying.
    upstream: Mutex<Option<String>>,
    client: reqwest::Client,
    tape: Mutex<Tape>,
}

/// The endpoint, on a free loopback port.
pub struct AwsEndpoint {
    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl AwsEndpoint {
    /// Starts forwarding to `upstream` (moto).
    pub async fn start(upstream: &str) -> std::io::Result<AwsEndpoint> {
        let shared = Arc::new(Shared {
            upstream: Mutex::new(Some(upstream.trim_end_matches('/').to_owned())),
            client: reqwest::Client::new(),
            tape: Mutex::new(Tape::default()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(AwsEndpoint { url, shared, server })
    }

    /// A new invocation starts: occurrences count from zero again.
    pub fn begin_invocation(&self) {
        let mut tape = self.tape();
        tape.seen.clear();
        tape.calls = 0;
        tape.by_service.clear();
        tape.sequence.clear();
        tape.capacity_units = 0.0;
    }

    /// The current invocation's calls in order, by operation name.
    pub fn sequence(&self) -> Vec<String> {
        self.tape().sequence.clone()
    }

    /// From now on, DynamoDB calls ask for the capacity they consume (`capacity_units`).
    pub fn count_capacity(&self) {
        self.tape().counting_capacity = true;
    }

    /// The current invocation's calls to `service` (`dynamodb`, `ses`, `sns`, `scheduler`).
    pub fn calls_to(&self, service: &str) -> usize {
        self.tape().by_service.get(service).copied().unwrap_or(0)
    }

    /// The DynamoDB capacity units (read and write) the current invocation consumed.
    pub fn capacity_units(&self) -> f64 {
        self.tape().capacity_units
    }

    /// Keeps (or stops keeping) the answers of forwarded calls.
    pub fn record(&self, on: bool) {
        self.tape().recording = on;
    }

    /// From now on, answers come from what was recorded; moto is no longer called.
    pub fn replay(&self) {
        *self.shared.upstream.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// How many calls the current invocation made.
    pub fn calls(&self) -> usize {
        self.tape().calls
    }

    /// The operations recorded, for the report.
    pub fn recorded_operations(&self) -> Vec<String> {
        let mut keys: Vec<_> = self.tape().answers.keys().map(|(k, n)| format!("{k} #{n}")).collect();
        keys.sort();
        keys
    }

    /// Replay requests that found nothing recorded (each one is a failed benchmark).
    pub fn misses(&self) -> Vec<String> {
        self.tape().misses.clone()
    }

    fn tape(&self) -> std::sync::MutexGuard<'_, Tape> {
        self.shared.tape.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for AwsEndpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `POST / DynamoDB_20120810.GetItem`, `POST /v2/email/outbound-emails`, `POST / Publish`…
fn operation(method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> String {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            std::str::from_utf8(body).ok().and_then(|form| {
                form.split('&')
                    .find_map(|pair| pair.strip_prefix("Action="))
                    .map(str::to_owned)
            })
        })
        .unwrap_or_default();
    format!("{method} {path} {target}")
}

/// A call's short name: the DynamoDB or SNS action, or SES's and Scheduler's method and resource.
fn operation_name(key: &str) -> String {
    let mut parts = key.splitn(3, ' ');
    let (method, path, target) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if let Some((_, action)) = target.rsplit_once('.') {
        action.to_owned()
    } else if !target.is_empty() {
        target.to_owned()
    } else {
        // `/schedules/<name>` → `schedules`, `/v2/email/outbound-emails` → `v2/email`.
        let path = path.trim_start_matches('/');
        let segments = if path.starts_with("schedules") { 1 } else { 2 };
        let resource = path.split('/').take(segments).collect::<Vec<_>>().join("/");
        format!("{method} {resource}")
    }
}

/// The service a call goes to, from its operation key.
fn service(key: &str) -> &'static str {
    if key.contains("DynamoDB_") {
        "dynamodb"
    } else if key.contains("/v2/email") {
        "ses"
    } else if key.contains("/schedules") {
        "scheduler"
    } else {
        "sns"
    }
}

/// A DynamoDB request body that also asks for the capacity it consumes.
fn asking_for_capacity(body: &Bytes) -> Bytes {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut request)) => {
            request
                .entry("ReturnConsumedCapacity")
                .or_insert_with(|| "TOTAL".into());
            Bytes::from(serde_json::Value::Object(request).to_string())
        }
        _ => body.clone(),
    }
}

/// The capacity units a DynamoDB answer reports (one object, or a list for transactions).
fn consumed_units(body: &[u8]) -> f64 {
    let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
        return 0.0;
    };
    let units = |c: &serde_json::Value| {
        c.get("CapacityUnits")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    };
    match answer.get("ConsumedCapacity") {
        Some(serde_json::Value::Array(all)) => all.iter().map(units).sum(),
        Some(one) => units(one),
        None => 0.0,
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    };
    let key = operation(&parts.method, parts.uri.path(), &parts.headers, &body);
    let service = service(&key);
    let counting = shared.tape.lock().unwrap_or_else(|p| p.into_inner()).counting_capacity;
    let body = if service == "dynamodb" && counting {
        asking_for_capacity(&body)
    } else {
        body
    };
    let occurrence = {
        let mut tape = shared.tape.lock().unwrap_or_else(|p| p.into_inner());
        tape.calls += 1;
        *tape.by_service.entry(service).or_default() += 1;
        tape.sequence.push(operation_name(&key));
        let seen = tape.seen.entry(key.clone()).or_default();
        *seen += 1;
        *seen - 1
    };
    let upstream = shared.upstream.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let recorded = match upstream {
        Some(upstream) => match forward(&shared.client, &upstream, &parts, body).await {
            Ok(answer) => {
                let mut tape = shared.tape.lock().unwrap_or_else(|p| p.into_inner());
                if service == "dynamodb" {
                    tape.capacity_units += consumed_units(&answer.body);
                }
                if tape.recording {
                    tape.answers.insert((key, occurrence), answer.clone());
                }
                answer
            }
            Err(e) => return (StatusCode::BAD_GATEWAY, e).into_response(),
        },
        None => {
            let mut tape = shared.tape.lock().unwrap_or_else(|p| p.into_inner());
            match tape.answers.get(&(key.clone(), occurrence)).cloned() {
                Some(answer) => answer,
                None => {
                    tape.misses.push(format!("{key} #{occurrence}"));
                    return (StatusCode::INTERNAL_SERVER_ERROR, "nothing recorded for this call").into_response();
                }
            }
        }
    };
    let mut response = Response::new(Body::from(recorded.body));
    *response.status_mut() = recorded.status;
    *response.headers_mut() = recorded.headers;
    response
}

async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> Result<Recorded, String> {
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = client
        .request(parts.method.clone(), format!("{upstream}{path}"))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.map_err(|e| format!("moto: {e}"))?;
    let status = answer.status();
    let mut headers = answer.headers().clone();
    // The body is handed over whole; the framing headers are the server's to set.
    for hop in ["content-length", "transfer-encoding", "connection"] {
        headers.remove(hop);
    }
    let body = answer.bytes().await.map_err(|e| format!("moto: {e}"))?;
    Ok(Recorded { status, headers, body })
}
