//! The embedded dev server (docs/BEHAVIOUR.md §7): the three functions' routers in one process, SQLite on
//! disk, an outbox instead of SES/SNS, an in-process scheduler, and `/_dev/*` to look inside.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rappel::adapters::clock::{ManualClock, SystemClock};
use rappel::adapters::outbox::{Outbox, OutboxEntry};
use rappel::adapters::scheduler::EmbeddedScheduler;
use rappel::adapters::sqlite::SqliteStore;
use rappel::domain::{Clinic, ClinicId, ClinicSettings, Email, Text};
use rappel::http::{body, emr, patient, ApiError};
use rappel::ports::{ClinicStore, Clock};
use rappel::services::{hash_api_key, Config, Rappel};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The dev server's settings, read once from the environment.
#[derive(Debug, Clone)]
pub struct DevConfig {
    /// `RAPPEL_DEV_ADDR` (default `127.0.0.1:3000`; port 0 picks a free one).
    pub addr: SocketAddr,
    /// `RAPPEL_DEV_API_KEY` (default `dev-key`).
    pub api_key: String,
    /// `RAPPEL_DEV_DATA` (default `./.rappel`).
    pub data_dir: PathBuf,
    /// `RAPPEL_DEV_CLOCK=manual` starts a manual clock at the real time.
    pub manual_clock: bool,
    /// `RAPPEL_PUBLIC_URL` (default `http://<addr>`).
    pub public_url: Option<String>,
    /// `RAPPEL_SMS_PRICE_CENTS` (default 5; `5,2027-03-01=6` adds a change on a date).
    pub sms_prices: rappel::pricing::PriceSchedule,
}

impl DevConfig {
    /// Reads the environment; a malformed value is an error naming the variable.
    pub fn from_env() -> Result<DevConfig, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let addr = var("RAPPEL_DEV_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let clock = var("RAPPEL_DEV_CLOCK").unwrap_or_else(|| "system".to_owned());
        Ok(DevConfig {
            addr: addr
                .parse()
                .map_err(|e| format!("RAPPEL_DEV_ADDR={addr:?} is not an address like 127.0.0.1:3000: {e}"))?,
            api_key: var("RAPPEL_DEV_API_KEY").unwrap_or_else(|| "dev-key".to_owned()),
            data_dir: PathBuf::from(var("RAPPEL_DEV_DATA").unwrap_or_else(|| "./.rappel".to_owned())),
            manual_clock: match clock.as_str() {
                "manual" => true,
                "system" | "real" => false,
                other => return Err(format!("RAPPEL_DEV_CLOCK={other:?}: use `manual` or leave it unset")),
            },
            public_url: var("RAPPEL_PUBLIC_URL"),
            sms_prices: match var("RAPPEL_SMS_PRICE_CENTS") {
                None => rappel::pricing::PriceSchedule::default(),
                Some(p) => {
                    rappel::pricing::PriceSchedule::parse(&p).map_err(|e| format!("RAPPEL_SMS_PRICE_CENTS: {e}"))?
                }
            },
        })
    }
}

/// The running parts the `/_dev` routes look into.
pub struct DevServer {
    /// The services, as the Lambdas have them.
    pub rappel: Arc<Rappel>,
    /// Where emails and texts land.
    pub outbox: Arc<Outbox>,
    /// Pending schedules.
    pub scheduler: Arc<EmbeddedScheduler>,
    /// Set when the clock is manual.
    pub manual_clock: Option<Arc<ManualClock>>,
}

/// The clinic the dev server seeds.
pub const DEV_CLINIC_ID: &str = "dev-clinic";

impl DevServer {
    /// Opens the data directory and builds every adapter once. `public_url` is where patient
    /// links point.
    pub async fn open(config: &DevConfig, public_url: String) -> Result<Arc<DevServer>, String> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
        let manual_clock = config.manual_clock.then(|| Arc::new(ManualClock::new(Utc::now())));
        let clock: Arc<dyn Clock> = match &manual_clock {
            Some(manual) => manual.clone(),
            None => Arc::new(SystemClock),
        };
        let store = Arc::new(SqliteStore::open(&config.data_dir.join("rappel.db")).map_err(|e| e.to_string())?);
        let outbox = Arc::new(Outbox::open(&config.data_dir.join("outbox.db"), clock.clone())?);
        let scheduler =
            Arc::new(EmbeddedScheduler::open(&config.data_dir.join("schedules.db")).map_err(|e| e.to_string())?);
        seed_clinic(store.as_ref(), &config.api_key).await?;
        let rappel = Arc::new(Rappel {
            store: Arc::new(rappel::adapters::store_timeout::TimeLimitedStore::new(store)),
            mailer: outbox.clone(),
            texter: outbox.clone(),
            scheduler: scheduler.clone(),
            clock,
            config: Config {
                public_base_url: public_url,
                sms_prices: config.sms_prices.clone(),
                ..Config::default()
            },
        });
        Ok(Arc::new(DevServer {
            rappel,
            outbox,
            scheduler,
            manual_clock,
        }))
    }

    /// Every route: the EMR API, the patient links and `/_dev/*`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(index))
            .route("/_dev/outbox", get(outbox_page))
            .route("/_dev/outbox.json", get(outbox_json))
            .route("/_dev/clock", get(get_clock).post(move_clock))
            .route("/_dev/sms-in", axum::routing::post(text_in))
            .route("/_dev/delivery", axum::routing::post(delivery))
            .with_state(self.clone())
            .merge(patient::router(self.rappel.clone()))
            .merge(emr::router(self.rappel.clone()))
    }

    /// With the real clock: fires due schedules every second, forever.
    pub async fn run_scheduler_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = self.rappel.clock.now();
            if let Err(e) = self.scheduler.run_due(&self.rappel, None, now).await {
                tracing::error!(error = %e, "scheduler loop");
            }
        }
    }
}

/// The sending domain bound to the seeded clinic.
const DEV_SENDER_DOMAIN: &str = "clinique.example.ca";

async fn seed_clinic(store: &SqliteStore, api_key: &str) -> Result<(), String> {
    let id = ClinicId::parse(DEV_CLINIC_ID).map_err(|e| e.0)?;
    if store.clinic(&id).await.map_err(|e| e.to_string())?.is_none() {
        let mut settings = ClinicSettings::named("Clinique Rappel").map_err(|e| e.0)?;
        settings.phone = Some(Text::parse("514 555-0100").map_err(|e| e.0)?);
        settings.address = Some(Text::parse("1000 rue Sherbrooke Ouest, Montréal (Québec) H3A 3G4").map_err(|e| e.0)?);
        settings.sender_email = Some(Email::parse("rendez-vous@clinique.example.ca").map_err(|e| e.0)?);
        settings.sender_domain = Some(DEV_SENDER_DOMAIN.to_owned());
        store
            .put_clinic(&Clinic {
                id: id.clone(),
                settings,
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    // Data kept from before sending domains were bound: bind the seed's.
    let seeded = store.clinic(&id).await.map_err(|e| e.to_string())?;
    if seeded.is_some_and(|c| c.settings.sender_domain.is_none()) {
        rappel::services::bind_sender_domain(store, &id, DEV_SENDER_DOMAIN).await?;
    }
    store
        .set_api_key_hash(&id, &hash_api_key(api_key))
        .await
        .map_err(|e| e.to_string())
}

async fn index() -> Html<&'static str> {
    Html(include_str!("../templates/index.html"))
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxHtml {
    entries: Vec<OutboxEntry>,
}

fn outbox_entries(server: &DevServer) -> Result<Vec<OutboxEntry>, ApiError> {
    server
        .outbox
        .entries()
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e))
}

async fn outbox_page(State(server): State<Arc<DevServer>>) -> Result<Response, ApiError> {
    let html = OutboxHtml {
        entries: outbox_entries(&server)?,
    }
    .render()
    .unwrap_or_default();
    Ok(Html(html).into_response())
}

async fn outbox_json(State(server): State<Arc<DevServer>>) -> Result<Json<Vec<OutboxEntry>>, ApiError> {
    Ok(Json(outbox_entries(&server)?))
}

fn clock_json(server: &DevServer, fired: Option<usize>) -> serde_json::Value {
    let mut value = serde_json::json!({
        "now": server.rappel.clock.now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "mode": if server.manual_clock.is_some() { "manual" } else { "system" },
    });
    if let Some(fired) = fired {
        value["fired"] = fired.into();
    }
    value
}

async fn get_clock(State(server): State<Arc<DevServer>>) -> Json<serde_json::Value> {
    Json(clock_json(&server, None))
}

#[derive(serde::Deserialize)]
struct ClockMove {
    now: rappel::domain::Rfc3339Instant,
}

async fn move_clock(
    State(server): State<Arc<DevServer>>,
    request: axum::extract::Request,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(manual) = &server.manual_clock else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "clock_not_manual",
            "start rappel-dev with RAPPEL_DEV_CLOCK=manual to move the clock",
        ));
    };
    let bytes = body::read_capped(request.into_body(), None).await?;
    let ClockMove { now } = body::parse_json(&bytes)?;
    let target: DateTime<Utc> = now.0;
    if target < server.rappel.clock.now() {
        return Err(ApiError::invalid("now", "the clock only moves forward"));
    }
    let fired = server
        .scheduler
        .run_due(&server.rappel, Some(manual), target)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()))?;
    Ok(Json(clock_json(&server, Some(fired))))
}

#[derive(serde::Deserialize)]
struct TextIn {
    from: String,
    text: String,
}

/// Plays a patient's text reply, as the two-way number would deliver it to `inbound-sms`;
/// answers land in the outbox. The answer says what Rappel made of it.
async fn text_in(
    State(server): State<Arc<DevServer>>,
    request: axum::extract::Request,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bytes = body::read_capped(request.into_body(), None).await?;
    let TextIn { from, text } = body::parse_json(&bytes)?;
    if rappel::domain::Mobile::parse(&from).is_err() {
        return Err(ApiError::invalid("from", "not a valid phone number"));
    }
    let outcome = server.rappel.text_reply(&from, &text).await?;
    Ok(Json(serde_json::json!({ "outcome": outcome.as_str() })))
}

#[derive(serde::Deserialize)]
struct DeliveryIn {
    id: i64,
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

/// Plays the provider's feedback on an outbox entry, as SES's events or SNS's delivery logs
/// would reach `delivery-events` (the entry's message found by its tag); the entry then shows
/// the status. Unknown entry: 404.
async fn delivery(
    State(server): State<Arc<DevServer>>,
    request: axum::extract::Request,
) -> Result<Json<serde_json::Value>, ApiError> {
    use rappel::formats::delivery::{decode_tag, DeliveryReport, Feedback};
    let bytes = body::read_capped(request.into_body(), None).await?;
    let DeliveryIn { id, status, reason } = body::parse_json(&bytes)?;
    let entry = server
        .outbox
        .entry(id)
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no outbox entry has this id"))?;
    let permanent = match reason.as_deref() {
        None | Some("permanent") => true,
        Some("transient") => false,
        Some(_) => return Err(ApiError::invalid("reason", "permanent or transient")),
    };
    let email = entry.channel == "email";
    let feedback = match (status.as_str(), email) {
        ("delivered", _) => Feedback::Delivered,
        ("bounced", true) => Feedback::Bounced { permanent },
        ("complained", true) => Feedback::Complained,
        ("failed", false) => Feedback::Failed {
            reason: "the carrier could not deliver it (dev server)".to_owned(),
        },
        _ if email => {
            return Err(ApiError::invalid(
                "status",
                "delivered, bounced or complained for an email",
            ))
        }
        _ => return Err(ApiError::invalid("status", "delivered or failed for a text")),
    };
    let message = entry
        .tag
        .as_deref()
        .and_then(decode_tag)
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "not_a_message", "this entry names no message"))?;
    let report = DeliveryReport {
        message,
        feedback,
        at: Some(server.rappel.clock.now()),
        addresses: if email { vec![entry.to.clone()] } else { Vec::new() },
        provider_price_micro_usd: None,
    };
    let outcome = server.rappel.apply_delivery(&report).await?;
    if let rappel::services::DeliveryOutcome::Applied(status) = outcome {
        server
            .outbox
            .set_status(id, status.shown())
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e))?;
    }
    Ok(Json(serde_json::json!({ "id": id, "outcome": outcome.as_str() })))
}

/// Reads the configuration, opens everything, serves until Ctrl-C.
pub async fn run(config: DevConfig) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let server = DevServer::open(&config, public_url).await?;
    if server.manual_clock.is_none() {
        tokio::spawn(server.clone().run_scheduler_loop());
    }
    let app = server.router();
    // Tests read this line to learn the port when they ask for port 0.
    println!(
        "rappel-dev listening on http://{addr} (API key: {}, data: {}, clock: {})",
        config.api_key,
        config.data_dir.display(),
        if config.manual_clock { "manual" } else { "system" }
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server: {e}"))
}
