//! Services: what Rappel does, written against the ports only.

mod appointments;
mod budget;
mod channels;
mod concurrency;
mod delivery;
mod dispatch;
mod event_items;
mod feeds;
mod fhir;
mod hl7;
mod ordering;
mod patient;
mod previews;
mod reminder;
mod replies;
mod reschedule;
mod save_plan;
mod schedules;
mod settings;

pub use appointments::{AppointmentView, MessageView, ReminderView, SaveOutcome};
pub use budget::{Budget, PROVIDER_TIMEOUT, REQUEST_BUDGET};
pub use delivery::{DeliveryEventReport, DeliveryOutcome};
pub use dispatch::{CLAIM_LEASE, POSSIBLE_DUPLICATE};
pub use feeds::{EventPage, LedgerReport};
pub use fhir::FhirAnswer;
pub use hl7::Hl7Answer;
pub use patient::{PatientAction, PatientPage};
pub use previews::{Preview, PreviewEmail, PreviewQuery, PreviewText};
pub use reminder::{ReminderOutcome, SchedulerAnswer};
pub use replies::{InboundReport, ReplyOutcome, REPLY_MATCH_WINDOW};
pub use reschedule::RescheduleForm;
pub use schedules::{reminder_schedule_name, schedule_name};

use crate::domain::{AppointmentRecord, Clinic, ClinicId, ClinicSettings, Language, TypeSettings};
use crate::messages::Details;
use crate::ports::{ClinicStore, Clock, Mailer, Scheduler, Store, StoreError, Texter};
use crate::rules::Refusal;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Deployment settings the services need.
#[derive(Debug, Clone)]
pub struct Config {
    /// Public base URL of the patient links (`https://rappel.example.ca`).
    pub public_base_url: String,
    /// Price of one SMS segment, in cents, by effective date.
    pub sms_prices: crate::pricing::PriceSchedule,
    /// Currency of the ledger.
    pub currency: String,
    /// Patients' text replies reach this deployment (on AWS, the two-way number's topic feeds
    /// `inbound-sms`): only then do texts invite answers, for clinics that take them.
    pub text_replies: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            public_base_url: "http://127.0.0.1:3000".to_owned(),
            sms_prices: crate::pricing::PriceSchedule::default(),
            currency: "CAD".to_owned(),
            text_replies: true,
        }
    }
}

/// Rappel's services with their adapters, built once per process and shared by every request.
pub struct Rappel {
    /// Where clinics, types, appointments, messages, events and the ledger are kept.
    pub store: Arc<dyn Store>,
    /// Email provider.
    pub mailer: Arc<dyn Mailer>,
    /// SMS provider.
    pub texter: Arc<dyn Texter>,
    /// One-time schedules.
    pub scheduler: Arc<dyn Scheduler>,
    /// Where "now" comes from (the system clock, or a manual one in tests and on the dev server).
    pub clock: Arc<dyn Clock>,
    /// Deployment settings.
    pub config: Config,
}

/// Why a service call did not succeed. The HTTP edge maps each to a status and a JSON body.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field is invalid (422).
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as a JSON path.
        field: String,
        /// Why.
        message: String,
    },
    /// Bad or missing API key (401).
    #[error("missing or unknown API key")]
    Unauthorized,
    /// Nothing there (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The revision is lower than the stored one (409).
    #[error("revision {sent} is lower than the stored revision {stored}")]
    StaleRevision {
        /// What the EMR sent.
        sent: u64,
        /// What is stored.
        stored: u64,
    },
    /// The same revision came with other content (409).
    #[error("revision {0} was already saved with other content")]
    RevisionConflict(u64),
    /// A patient action outside its window or not allowed (409).
    #[error("{0}")]
    Refused(Refusal),
    /// The patient link expired (410).
    #[error("this link has expired")]
    Gone,
    /// Something the request needs failed or is busy; the caller may retry the same request (503).
    #[error("temporarily unavailable: {dependency}: {cause}")]
    Unavailable {
        /// What failed or is busy.
        dependency: Dependency,
        /// Why: a provider's or the store's error code, or what was busy. Never message content
        /// or contact details, so it can be logged.
        cause: String,
    },
}

/// What a request could not get past when it answers "retry": named in the 503's log line, and
/// telling the reminder function whether Lambda's retry can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// The store (DynamoDB, SQLite).
    Store,
    /// The email provider (SES).
    Mailer,
    /// The SMS provider (SNS).
    Texter,
    /// The scheduler (EventBridge Scheduler).
    Scheduler,
    /// Other requests changing the same appointment, or sending the same message, right now.
    ConcurrentRequests,
    /// The request's own time budget ran out before its work was done.
    TimeBudget,
}

impl Dependency {
    /// Its name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Store => "store",
            Dependency::Mailer => "mailer",
            Dependency::Texter => "texter",
            Dependency::Scheduler => "scheduler",
            Dependency::ConcurrentRequests => "concurrent_requests",
            Dependency::TimeBudget => "time_budget",
        }
    }
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ServiceError {
    /// A 503 naming what failed and why.
    pub fn unavailable(dependency: Dependency, cause: impl Into<String>) -> Self {
        ServiceError::Unavailable {
            dependency,
            cause: cause.into(),
        }
    }

    /// Whether the same request may succeed later: what a 503 tells the EMR, and what the
    /// reminder function tells Lambda (which then retries, and after its retries hands the event
    /// to the dead-letter queue). Anything else would fail the same way every time.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ServiceError::Unavailable { .. })
    }

    /// A 422 for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::unavailable(Dependency::Store, e.to_string())
    }
}

/// A fresh API key: `rpl_` and 256 random bits, base64url. Shown once; only its hash is kept.
pub fn new_api_key() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("rpl_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The hash under which an API key is stored: SHA-256, hex.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Stores a clinic and makes `api_key` its key (only the key's hash is kept): what
/// `rappel-admin create-clinic`, the benchmarks and the test rigs do to set a tenant up. The
/// operator setting a clinic up with a sender binds that sender's domain to it.
pub async fn register_clinic<S: ClinicStore + ?Sized>(
    store: &S,
    clinic: &Clinic,
    api_key: &str,
) -> Result<(), StoreError> {
    let mut clinic = clinic.clone();
    if clinic.settings.sender_domain.is_none() {
        clinic.settings.sender_domain = clinic
            .settings
            .sender_email
            .as_ref()
            .and_then(|e| e.as_str().rsplit_once('@'))
            .map(|(_, domain)| domain.to_ascii_lowercase());
    }
    store.put_clinic(&clinic).await?;
    store.set_api_key_hash(&clinic.id, &hash_api_key(api_key)).await
}

/// Binds a sending domain to a clinic: the operator's act (`rappel-admin bind-sender`). A sender
/// address outside it is cleared, so the clinic sets one in its domain.
pub async fn bind_sender_domain<S: ClinicStore + ?Sized>(
    store: &S,
    id: &ClinicId,
    domain: &str,
) -> Result<Clinic, String> {
    let domain = domain.trim().to_ascii_lowercase();
    if domain.is_empty() || !domain.contains('.') || domain.contains(['@', ' ', '/']) {
        return Err(format!("{domain:?} is not a domain name"));
    }
    let mut clinic = store
        .clinic(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no clinic {id}"))?;
    clinic.settings.sender_domain = Some(domain);
    if clinic.settings.check_sender().is_err() {
        clinic.settings.sender_email = None;
    }
    store.put_clinic(&clinic).await.map_err(|e| e.to_string())?;
    Ok(clinic)
}

impl Rappel {
    /// The clinic that owns `api_key`, or `Unauthorized`.
    pub async fn authenticate(&self, api_key: &str) -> Result<Clinic, ServiceError> {
        if api_key.is_empty() {
            return Err(ServiceError::Unauthorized);
        }
        self.store
            .clinic_by_key_hash(&hash_api_key(api_key))
            .await?
            .ok_or(ServiceError::Unauthorized)
    }

    /// The link to `record`'s patient page.
    pub fn patient_url(&self, record: &AppointmentRecord) -> String {
        crate::links::patient_url(&self.config.public_base_url, &record.token)
    }

    /// What messages and the patient page show of `record`, in `lang`, with its patient link.
    pub fn details(
        &self,
        settings: &ClinicSettings,
        type_settings: Option<&TypeSettings>,
        record: &AppointmentRecord,
        lang: Language,
    ) -> Details {
        Details::new(settings, type_settings, record, self.patient_url(record), lang)
    }
}
