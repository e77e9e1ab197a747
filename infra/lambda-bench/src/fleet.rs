//! A local Lambda Runtime API serving N processes of one function binary at once, as Lambda runs
//! concurrent execution environments: every process polls the same queue of events, and an
//! invocation's answer is matched to its caller by request id. A process can be SIGKILLed in the
//! middle of the invocation it took ([`Fleet::invoke_and_kill`]); a replacement then takes its
//! place, as Lambda starts a fresh environment after a crash.
//!
//! Each process gets its own loopback port (all sharing one queue), so the harness knows which
//! process took which event.

use super::runtime_api::{invocation_headers, Answer};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Why an invocation has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The process handling it was killed before it answered.
    Killed,
    /// No answer within the fleet's timeout (counted from the hand-over to the queue).
    Timeout,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Failure::Killed => "the process was killed mid-invocation",
            Failure::Timeout => "no answer in time",
        })
    }
}

/// Counts of what the fleet did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetStats {
    /// Events handed to the queue.
    pub invocations: u64,
    /// Answers (responses and errors) received.
    pub answers: u64,
    /// Processes killed mid-invocation.
    pub kills: u64,
    /// Invocations that timed out.
    pub timeouts: u64,
}

struct Waiter {
    answer: oneshot::Sender<Result<Answer, Failure>>,
    /// Kill the taking process this long after it took the event.
    kill_after: Option<Duration>,
}

struct Slot {
    address: String,
    child: Option<Child>,
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Bytes)>>,
    waiting: std::sync::Mutex<HashMap<String, Waiter>>,
    slots: Vec<std::sync::Mutex<Slot>>,
    binary: PathBuf,
    env: BTreeMap<String, String>,
    log: PathBuf,
    invocations: AtomicU64,
    answers: AtomicU64,
    kills: AtomicU64,
    timeouts: AtomicU64,
}

impl Shared {
    fn spawn(&self, slot: &mut Slot) -> std::io::Result<()> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let err = out.try_clone()?;
        let child = Command::new(&self.binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .env("AWS_LAMBDA_RUNTIME_API", &slot.address)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        slot.child = Some(child);
        Ok(())
    }

    /// SIGKILLs the process of slot `index` and starts its replacement.
    fn kill_and_replace(&self, index: usize) {
        let mut slot = self.slots[index].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = slot.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Err(e) = self.spawn(&mut slot) {
            eprintln!("fleet: cannot restart {}: {e}", self.binary.display());
        }
    }

    fn answer(&self, id: &str, answer: Answer) {
        let waiter = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        if let Some(waiter) = waiter {
            self.answers.fetch_add(1, Ordering::Relaxed);
            let _ = waiter.answer.send(Ok(answer));
        }
    }
}

/// N processes of one function behind one Runtime API; every process is killed on drop.
pub struct Fleet {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<(String, Bytes)>,
    servers: Vec<tokio::task::JoinHandle<()>>,
    next_id: AtomicU64,
    name: String,
    timeout: Duration,
}

impl Fleet {
    /// Starts `instances` processes of `binary` with exactly `env` (plus `PATH` and
    /// `AWS_LAMBDA_RUNTIME_API`), their output appended to `log`. An invocation without an answer
    /// after `timeout` fails with [`Failure::Timeout`].
    pub async fn start(
        binary: PathBuf,
        instances: usize,
        env: BTreeMap<String, String>,
        log: PathBuf,
        timeout: Duration,
    ) -> std::io::Result<Fleet> {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut listeners = Vec::new();
        let mut slots = Vec::new();
        for _ in 0..instances.max(1) {
            let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            slots.push(std::sync::Mutex::new(Slot {
                address: listener.local_addr()?.to_string(),
                child: None,
            }));
            listeners.push(listener);
        }
        let (queue, events) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(events),
            waiting: std::sync::Mutex::new(HashMap::new()),
            slots,
            binary,
            env,
            log,
            invocations: AtomicU64::new(0),
            answers: AtomicU64::new(0),
            kills: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        });
        let mut servers = Vec::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            let app = Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next))
                .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
                .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
                .route("/2018-06-01/runtime/init/error", post(init_error))
                .with_state((shared.clone(), index));
            servers.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
        }
        let fleet = Fleet {
            shared: shared.clone(),
            queue,
            servers,
            next_id: AtomicU64::new(0),
            name,
            timeout,
        };
        for slot in &shared.slots {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            shared.spawn(&mut slot)?;
        }
        Ok(fleet)
    }

    /// The binary's file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many processes serve the queue.
    pub fn instances(&self) -> usize {
        self.shared.slots.len()
    }

    /// Hands `event` to whichever process polls first and waits for its answer.
    pub async fn invoke(&self, event: &serde_json::Value) -> Result<Answer, Failure> {
        self.dispatch(event, None).await
    }

    /// Hands `event` to whichever process polls first, SIGKILLs that process as soon as it took
    /// the event (after `after`, to let it get some way into the invocation) unless it answered
    /// first, and starts a replacement. Returns [`Failure::Killed`] when the kill happened.
    pub async fn invoke_and_kill(&self, event: &serde_json::Value, after: Duration) -> Result<Answer, Failure> {
        self.dispatch(event, Some(after)).await
    }

    async fn dispatch(&self, event: &serde_json::Value, kill_after: Option<Duration>) -> Result<Answer, Failure> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("{}-{n:08}", self.name);
        let (tx, rx) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), Waiter { answer: tx, kill_after });
        self.shared.invocations.fetch_add(1, Ordering::Relaxed);
        let body = Bytes::from(serde_json::to_vec(event).unwrap_or_default());
        if self.queue.send((id.clone(), body)).is_err() {
            return Err(Failure::Timeout);
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Failure::Killed),
            Err(_) => {
                self.shared
                    .waiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                self.shared.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(Failure::Timeout)
            }
        }
    }

    /// What the fleet did so far.
    pub fn stats(&self) -> FleetStats {
        FleetStats {
            invocations: self.shared.invocations.load(Ordering::Relaxed),
            answers: self.shared.answers.load(Ordering::Relaxed),
            kills: self.shared.kills.load(Ordering::Relaxed),
            timeouts: self.shared.timeouts.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
        for slot in &self.shared.slots {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(mut child) = slot.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

type FleetState = State<(Arc<Shared>, usize)>;

async fn next(State((shared, index)): FleetState) -> Response {
    let (id, body) = loop {
        let Some((id, body)) = shared.events.lock().await.recv().await else {
            return StatusCode::GONE.into_response();
        };
        // An event whose caller gave up (timed out) is not handed out.
        let kill_after = shared
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .map(|waiter| waiter.kill_after);
        let Some(kill_after) = kill_after else { continue };
        if let Some(after) = kill_after {
            let shared = shared.clone();
            let id = id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let waiter = shared.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                // Answered already: nothing to kill.
                let Some(waiter) = waiter else { return };
                let killer = shared.clone();
                let _ = tokio::task::spawn_blocking(move || killer.kill_and_replace(index)).await;
                shared.kills.fetch_add(1, Ordering::Relaxed);
                let _ = waiter.answer.send(Err(Failure::Killed));
            });
        }
        break (id, body);
    };
    (invocation_headers(id, "fleet", Duration::from_secs(30)), body).into_response()
}

async fn response(State((shared, _)): FleetState, Path(id): Path<String>, body: Bytes) -> StatusCode {
    shared.answer(&id, Answer::Response(body));
    StatusCode::ACCEPTED
}

async fn error(State((shared, _)): FleetState, Path(id): Path<String>, body: Bytes) -> StatusCode {
    shared.answer(&id, Answer::Error(body));
    StatusCode::ACCEPTED
}

async fn init_error(State((shared, index)): FleetState, body: Bytes) -> StatusCode {
    eprintln!(
        "fleet: {} (instance {index}) failed to start: {}",
        shared.binary.display(),
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}
