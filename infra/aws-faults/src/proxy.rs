//! The proxy server: forwards to moto, or answers with a fault.

use crate::classify::{classify, Service};
use crate::plan::{choose, is_transact_write, Fault, FaultPlan, Rule};
use crate::responses::{self, DynamoThrottle, RequestIds};
use crate::stats::FaultStats;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Response, StatusCode};
use axum::Router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// The largest request or response body the proxy carries.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Headers that belong to one hop, not to the request or response.
const HOP_BY_HOP: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// A fault-injecting HTTP proxy in front of moto, serving on a loopback port until dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: the endpoint URL to give SDK clients or `AWS_ENDPOINT_URL`.
    pub url: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

struct Shared {
    seed: u64,
    upstream: String,
    client: reqwest::Client,
    state: Mutex<Inner>,
}

struct Inner {
    rng: StdRng,
    ids: RequestIds,
    plan: FaultPlan,
    rules: Vec<Rule>,
    stats: FaultStats,
}

impl FaultProxy {
    /// Serves on a free loopback port, forwarding to `upstream` (moto's `http://host:port`) with
    /// faults drawn from `plan` by an RNG seeded with `seed`. Needs a running Tokio runtime,
    /// which must keep running (a multi-threaded one, or a test that is awaiting) to serve.
    pub async fn start(upstream: &str, seed: u64, plan: FaultPlan) -> std::io::Result<FaultProxy> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            seed,
            upstream: upstream.trim_end_matches('/').to_owned(),
            client,
            state: Mutex::new(Inner {
                rng: StdRng::seed_from_u64(seed),
                ids: RequestIds::new(seed),
                plan,
                rules: Vec::new(),
                stats: FaultStats::new(seed),
            }),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::warn!(error = %e, "fault proxy stopped");
            }
        });
        tracing::info!(%url, upstream, seed, "fault proxy started");
        Ok(FaultProxy {
            url,
            shared,
            shutdown: Some(shutdown),
        })
    }

    /// The seed of the fault RNG (print it with the stats, to replay a run).
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Replaces the random rates, e.g. with [`FaultPlan::default`] (no random faults) for setup
    /// and read-back.
    pub fn set_plan(&self, plan: FaultPlan) {
        self.shared.lock().plan = plan;
    }

    /// Forces `rule.fault` on the next `rule.times` matching requests, before any random draw.
    ///
    /// # Panics
    /// For a [`Fault::Conflict`] that could not match a DynamoDB TransactWriteItems request.
    pub fn force(&self, rule: Rule) {
        assert!(
            rule.fault != Fault::Conflict
                || (rule.service == Service::DynamoDb
                    && rule.operation.as_deref().is_none_or(|op| op == "TransactWriteItems")),
            "Fault::Conflict applies to DynamoDB TransactWriteItems only: {rule:?}"
        );
        self.shared.lock().rules.push(rule);
    }

    /// Forced rules not used up yet.
    pub fn pending_rules(&self) -> Vec<Rule> {
        self.shared.lock().rules.clone()
    }

    /// What was seen and injected so far.
    pub fn stats(&self) -> FaultStats {
        self.shared.lock().stats.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// What to do with one request.
enum Action {
    Forward,
    Answer(Response<Body>),
    ErrorAfter(Response<Body>),
    Timeout(Duration),
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the request, and draws its fault and the fault's details under one lock, so a
    /// sequence of requests gives a sequence of faults that depends on the seed alone.
    fn decide(&self, service: Service, operation: &str, body: &[u8]) -> Action {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.stats.record_request(service, operation);
        let text = String::from_utf8_lossy(body);
        let Some(choice) = choose(&mut inner.rng, &inner.plan, &mut inner.rules, service, operation, &text) else {
            return Action::Forward;
        };
        inner.stats.record_fault(service, operation, choice.fault);
        tracing::info!(%service, operation, fault = %choice.fault, "fault injected");
        let needle = choice.body_contains.as_deref();
        let ids = &mut inner.ids;
        match choice.fault {
            Fault::Conflict => {
                let (items, found) = responses::transact_items(body, needle);
                let index = found.unwrap_or_else(|| inner.rng.random_range(0..items));
                Action::Answer(responses::conflict(ids, items, index))
            }
            Fault::Throttle if service == Service::DynamoDb => {
                let kinds = if is_transact_write(service, operation) { 3 } else { 2 };
                let kind = match inner.rng.random_range(0..kinds) {
                    0 => DynamoThrottle::ProvisionedThroughput,
                    1 => DynamoThrottle::Throttling,
                    _ => {
                        let (items, found) = responses::transact_items(body, needle);
                        let index = found.unwrap_or_else(|| inner.rng.random_range(0..items));
                        DynamoThrottle::Canceled { items, index }
                    }
                };
                Action::Answer(responses::dynamodb_throttle(ids, kind))
            }
            Fault::Throttle => Action::Answer(responses::throttle(ids, service)),
            Fault::ErrorBefore => Action::Answer(responses::server_error(ids, service)),
            Fault::ErrorAfter => Action::ErrorAfter(responses::server_error(ids, service)),
            Fault::Timeout => Action::Timeout(inner.plan.timeout_delay),
        }
    }
}

/// One request as it goes to moto.
struct Upstream {
    client: reqwest::Client,
    url: String,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
}

impl Upstream {
    /// Sends the request to moto in a task of its own, after `delay`: it executes even if the
    /// caller hangs up meanwhile, as on AWS.
    async fn send(self, delay: Duration) -> Response<Body> {
        let task = tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            self.forward().await
        });
        task.await
            .unwrap_or_else(|e| plain(StatusCode::BAD_GATEWAY, format!("fault proxy: {e}")))
    }

    async fn forward(self) -> Response<Body> {
        let sent = self
            .client
            .request(self.method, &self.url)
            .headers(self.headers)
            .body(self.body)
            .send()
            .await;
        let reply = match sent {
            Ok(reply) => reply,
            Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("fault proxy: upstream: {e}")),
        };
        let status = reply.status();
        let headers = without_hop_by_hop(reply.headers());
        let body = match reply.bytes().await {
            Ok(body) => body,
            Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("fault proxy: upstream body: {e}")),
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

fn without_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in HOP_BY_HOP {
        kept.remove(*name);
    }
    kept
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "fault proxy: body too large or cut".to_owned(),
        );
    };
    let path = parts.uri.path();
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let upstream = Upstream {
        client: shared.client.clone(),
        url: format!("{}{path_and_query}", shared.upstream),
        method: parts.method.clone(),
        headers: without_hop_by_hop(&parts.headers),
        body: body.clone(),
    };
    if path.starts_with("/moto-api") {
        return upstream.send(Duration::ZERO).await;
    }
    let query = parts.uri.query().unwrap_or("");
    let (service, operation) = classify(&parts.method, path, query, &parts.headers, &body);
    match shared.decide(service, &operation, &body) {
        Action::Forward => upstream.send(Duration::ZERO).await,
        Action::Answer(response) => response,
        Action::ErrorAfter(response) => {
            let _discarded = upstream.send(Duration::ZERO).await;
            response
        }
        Action::Timeout(delay) => upstream.send(delay).await,
    }
}
