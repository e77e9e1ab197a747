//! A local Lambda Runtime API: the HTTP interface a function's runtime polls for events and
//! answers on, so a release binary can be started and invoked exactly as Lambda does it, and timed.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};

/// How long one invocation may take before the harness gives up on the function.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the function answered.
#[derive(Debug)]
pub enum Answer {
    /// `/invocation/{id}/response`.
    Response(Bytes),
    /// `/invocation/{id}/error` or `/init/error`.
    Error(Bytes),
}

/// One finished invocation, timed from the event's hand-over to the answer's arrival.
#[derive(Debug)]
pub struct Invocation {
    /// What came back.
    pub answer: Answer,
    /// Hand-over to answer.
    pub elapsed: Duration,
}

struct Shared {
    events: Mutex<mpsc::Receiver<(String, Bytes)>>,
    polls: mpsc::UnboundedSender<Instant>,
    answers: mpsc::UnboundedSender<(Answer, Instant)>,
}

/// A Runtime API server on a free loopback port, serving one function process at a time.
pub struct RuntimeApi {
    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::Sender<(String, Bytes)>,
    polls: mpsc::UnboundedReceiver<Instant>,
    answers: mpsc::UnboundedReceiver<(Answer, Instant)>,
    server: tokio::task::JoinHandle<()>,
    next_request_id: u64,
}

impl RuntimeApi {
    /// Starts the server.
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let (events_tx, events_rx) = mpsc::channel(1);
        let (polls_tx, polls_rx) = mpsc::unbounded_channel();
        let (answers_tx, answers_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(events_rx),
            polls: polls_tx,
            answers: answers_tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?.to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            address,
            events: events_tx,
            polls: polls_rx,
            answers: answers_rx,
            server,
            next_request_id: 0,
        })
    }

    /// Waits for the function's next `/next` poll and says when it arrived: the first one marks
    /// the end of the function's init.
    pub async fn poll_arrival(&mut self, timeout: Duration) -> Result<Instant, String> {
        match tokio::time::timeout(timeout, self.polls.recv()).await {
            Ok(Some(at)) => Ok(at),
            Ok(None) => Err("runtime API stopped".to_owned()),
            Err(_) => Err(format!("no poll within {timeout:?} (did the function start?)")),
        }
    }

    /// Hands one event to the polling function and waits for its answer.
    pub async fn invoke(&mut self, event: &serde_json::Value) -> Result<Invocation, String> {
        self.next_request_id += 1;
        let id = format!("bench-{:08}", self.next_request_id);
        let body = Bytes::from(serde_json::to_vec(event).map_err(|e| e.to_string())?);
        let handed = Instant::now();
        self.events
            .send((id, body))
            .await
            .map_err(|_| "runtime API stopped".to_owned())?;
        match tokio::time::timeout(INVOCATION_TIMEOUT, self.answers.recv()).await {
            Ok(Some((answer, at))) => Ok(Invocation {
                answer,
                elapsed: at.saturating_duration_since(handed),
            }),
            Ok(None) => Err("runtime API stopped".to_owned()),
            Err(_) => Err(format!("no answer within {INVOCATION_TIMEOUT:?}")),
        }
    }

    /// Forgets the polls seen so far (the function polls again after every answer).
    pub fn forget_polls(&mut self) {
        while self.polls.try_recv().is_ok() {}
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The headers Lambda hands an event with: request id, deadline (`timeout` from now), function
/// ARN (named `function`), trace id.
pub(super) fn invocation_headers(id: String, function: &str, timeout: Duration) -> HeaderMap {
    let deadline = chrono::Utc::now().timestamp_millis() + timeout.as_millis() as i64;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!("arn:aws:lambda:ca-central-1:123456789012:function:{function}"),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".to_owned(),
    );
    set("content-type", "application/json".to_owned());
    headers
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let _ = shared.polls.send(Instant::now());
    let Some((id, body)) = shared.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    (invocation_headers(id, "bench", Duration::from_secs(15)), body).into_response()
}

async fn response(State(shared): State<Arc<Shared>>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let _ = shared.answers.send((Answer::Response(body), Instant::now()));
    StatusCode::ACCEPTED
}

async fn error(State(shared): State<Arc<Shared>>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let _ = shared.answers.send((Answer::Error(body), Instant::now()));
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let _ = shared.answers.send((Answer::Error(body), Instant::now()));
    StatusCode::ACCEPTED
}
