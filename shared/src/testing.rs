//! Test support shared by this crate's tests and the adapters' tests: a harness on the embedded
//! adapters with a manual clock, failing adapters for fault injection, and the store contract
//! suite that every store implementation must pass.

use crate::adapters::clock::ManualClock;
use crate::adapters::outbox::{Outbox, OutboxEntry};
use crate::adapters::scheduler::EmbeddedScheduler;
use crate::adapters::sqlite::SqliteStore;
use crate::adapters::store_timeout::TimeLimitedStore;
use crate::domain::*;
use crate::ports::*;
use crate::services::{register_clinic, Config, Rappel};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub mod store_contract;

/// The API key of the harness's clinic.
pub const API_KEY: &str = "test-key";

/// Takes one from `counter` if it is above zero: whether this call should fail.
fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A mailer that fails, or hangs, while its counters are above zero, then delegates.
pub struct FlakyMailer {
    inner: Arc<dyn Mailer>,
    /// Sends still to fail.
    pub failures: AtomicUsize,
    /// Sends still to hang forever (until the caller's timeout).
    pub hangs: AtomicUsize,
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        if take_one(&self.hangs) {
            std::future::pending::<()>().await;
        }
        if take_one(&self.failures) {
            return Err(SendError::unknown_outcome("injected failure"));
        }
        self.inner.send_email(email).await
    }
}

/// A texter that fails, or hangs, while its counters are above zero, then delegates (to the outbox).
pub struct FlakyTexter {
    inner: Arc<Outbox>,
    /// Sends still to fail.
    pub failures: AtomicUsize,
    /// Sends still to hang forever (until the caller's timeout).
    pub hangs: AtomicUsize,
}

#[async_trait]
impl Texter for FlakyTexter {
    async fn send_text(&self, text: &OutgoingText) -> Result<String, SendError> {
        if take_one(&self.hangs) {
            std::future::pending::<()>().await;
        }
        if take_one(&self.failures) {
            return Err(SendError::unknown_outcome("injected failure"));
        }
        self.inner.send_text(text).await
    }
    async fn is_opted_out(&self, to: &str) -> Result<bool, SendError> {
        self.inner.is_opted_out(to).await
    }
    async fn honour_opt_out(&self, to: &str) -> Result<(), SendError> {
        self.inner.honour_opt_out(to).await
    }
    async fn lift_opt_out(&self, to: &str) -> Result<(), SendError> {
        self.inner.lift_opt_out(to).await
    }
}

/// A store whose writes fail, or hang, while its counters are above zero; reads always work.
pub struct FlakyStore {
    inner: SqliteStore,
    /// Writes still to fail.
    pub failures: AtomicUsize,
    /// Writes still to hang forever (until the caller's timeout).
    pub hangs: AtomicUsize,
}

impl FlakyStore {
    async fn check(&self) -> StoreResult<()> {
        if take_one(&self.hangs) {
            std::future::pending::<()>().await;
        }
        if take_one(&self.failures) {
            return Err(StoreError::Unavailable("injected failure".to_owned()));
        }
        Ok(())
    }
}

#[async_trait]
impl ClinicStore for FlakyStore {
    async fn clinic_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Clinic>> {
        self.inner.clinic_by_key_hash(key_hash).await
    }
    async fn clinic(&self, id: &ClinicId) -> StoreResult<Option<Clinic>> {
        self.inner.clinic(id).await
    }
    async fn put_clinic(&self, clinic: &Clinic) -> StoreResult<()> {
        self.check().await?;
        self.inner.put_clinic(clinic).await
    }
    async fn set_api_key_hash(&self, id: &ClinicId, key_hash: &str) -> StoreResult<()> {
        self.check().await?;
        self.inner.set_api_key_hash(id, key_hash).await
    }
}

#[async_trait]
impl TypeStore for FlakyStore {
    async fn put_type(&self, clinic: &ClinicId, appointment_type: &AppointmentType) -> StoreResult<bool> {
        self.check().await?;
        self.inner.put_type(clinic, appointment_type).await
    }
    async fn types(&self, clinic: &ClinicId) -> StoreResult<Vec<AppointmentType>> {
        self.inner.types(clinic).await
    }
    async fn type_settings(&self, clinic: &ClinicId, code: &TypeCode) -> StoreResult<Option<TypeSettings>> {
        self.inner.type_settings(clinic, code).await
    }
}

#[async_trait]
impl AppointmentStore for FlakyStore {
    async fn appointment(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Option<AppointmentRecord>> {
        self.inner.appointment(clinic, id).await
    }
    async fn appointment_by_token(&self, token: &str) -> StoreResult<LinkTarget> {
        self.inner.appointment_by_token(token).await
    }
    async fn write_appointment(&self, write: &AppointmentWrite) -> StoreResult<Vec<String>> {
        self.check().await?;
        self.inner.write_appointment(write).await
    }
    async fn add_messages(&self, record: &AppointmentRecord, messages: &[MessageRecord]) -> StoreResult<Vec<String>> {
        self.check().await?;
        self.inner.add_messages(record, messages).await
    }
    async fn messages(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Vec<MessageRecord>> {
        self.inner.messages(clinic, id).await
    }
    async fn claim_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        appointment_version: u64,
    ) -> StoreResult<bool> {
        self.check().await?;
        self.inner
            .claim_message(clinic, id, key, now, stale_before, appointment_version)
            .await
    }
    async fn complete_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key: &str,
        outcome: &MessageOutcome,
    ) -> StoreResult<()> {
        self.check().await?;
        self.inner.complete_message(clinic, id, key, outcome).await
    }
    async fn apply_feedback(&self, write: &FeedbackWrite) -> StoreResult<bool> {
        self.check().await?;
        self.inner.apply_feedback(write).await
    }
    async fn text_by_provider_id(&self, provider_message_id: &str) -> StoreResult<Option<MessageAddress>> {
        self.inner.text_by_provider_id(provider_message_id).await
    }
    async fn latest_text_to(&self, number: &str, sent_by: DateTime<Utc>) -> StoreResult<Option<TextRoute>> {
        self.inner.latest_text_to(number, sent_by).await
    }
    async fn release_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        claims: &[(String, DateTime<Utc>)],
    ) -> StoreResult<()> {
        self.check().await?;
        self.inner.release_messages(clinic, id, claims).await
    }
    async fn complete_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        completions: &[Completion],
        after: AfterOutcomes<'_>,
    ) -> StoreResult<bool> {
        self.check().await?;
        self.inner.complete_messages(clinic, id, completions, after).await
    }
}

impl ReadTogether for FlakyStore {}

#[async_trait]
impl SuppressionStore for FlakyStore {
    async fn suppressions(&self, clinic: &ClinicId) -> StoreResult<Vec<Suppression>> {
        self.inner.suppressions(clinic).await
    }
    async fn is_suppressed(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        self.inner.is_suppressed(clinic, address).await
    }
    async fn suppress(&self, clinic: &ClinicId, suppressions: &[Suppression]) -> StoreResult<()> {
        self.check().await?;
        self.inner.suppress(clinic, suppressions).await
    }
    async fn lift_suppression(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        self.check().await?;
        self.inner.lift_suppression(clinic, address).await
    }
}

#[async_trait]
impl EventStore for FlakyStore {
    async fn events_after(&self, clinic: &ClinicId, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        self.inner.events_after(clinic, after, limit).await
    }
}

#[async_trait]
impl LedgerStore for FlakyStore {
    async fn ledger_between(
        &self,
        clinic: &ClinicId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LedgerEntry>> {
        self.inner.ledger_between(clinic, from, to).await
    }
}

/// A scheduler that fails, or hangs, while its counters are above zero, then delegates.
pub struct FlakyScheduler {
    inner: Arc<dyn Scheduler>,
    /// Calls still to fail.
    pub failures: AtomicUsize,
    /// Calls still to hang forever (until the caller's timeout).
    pub hangs: AtomicUsize,
}

impl FlakyScheduler {
    async fn fail(&self) -> bool {
        if take_one(&self.hangs) {
            std::future::pending::<()>().await;
        }
        take_one(&self.failures)
    }
}

#[async_trait]
impl Scheduler for FlakyScheduler {
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        if self.fail().await {
            return Err(ScheduleError("injected failure".to_owned()));
        }
        self.inner.put_schedule(schedule).await
    }
    async fn delete_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        if self.fail().await {
            return Err(ScheduleError("injected failure".to_owned()));
        }
        self.inner.delete_schedule(name).await
    }
}

/// Rappel on in-memory embedded adapters, with a manual clock and handles on everything.
pub struct Harness {
    /// The services.
    pub rappel: Arc<Rappel>,
    /// The clock.
    pub clock: Arc<ManualClock>,
    /// Sent emails and texts.
    pub outbox: Arc<Outbox>,
    /// Pending schedules.
    pub scheduler: Arc<EmbeddedScheduler>,
    /// Fails or hangs emails on demand.
    pub mailer: Arc<FlakyMailer>,
    /// Fails texts on demand.
    pub texter: Arc<FlakyTexter>,
    /// Fails store writes on demand.
    pub store: Arc<FlakyStore>,
    /// Fails scheduler calls on demand.
    pub flaky_scheduler: Arc<FlakyScheduler>,
    /// The clinic.
    pub clinic: Clinic,
}

impl Harness {
    /// A harness whose clock reads `now`, with one clinic (`API_KEY`) at default settings plus a
    /// sender, a phone and an address.
    pub async fn new(now: DateTime<Utc>) -> Harness {
        Harness::with_config(
            now,
            Config {
                public_base_url: "https://rappel.test".to_owned(),
                ..Config::default()
            },
        )
        .await
    }

    /// The same with deployment settings of the test's choosing.
    pub async fn with_config(now: DateTime<Utc>, config: Config) -> Harness {
        let clock = Arc::new(ManualClock::new(now));
        let store = Arc::new(FlakyStore {
            inner: SqliteStore::in_memory().expect("in-memory sqlite"),
            failures: AtomicUsize::new(0),
            hangs: AtomicUsize::new(0),
        });
        let outbox = Arc::new(Outbox::in_memory(clock.clone()).expect("in-memory outbox"));
        let scheduler = Arc::new(EmbeddedScheduler::in_memory().expect("in-memory scheduler"));
        let mailer = Arc::new(FlakyMailer {
            inner: outbox.clone(),
            failures: AtomicUsize::new(0),
            hangs: AtomicUsize::new(0),
        });
        let texter = Arc::new(FlakyTexter {
            inner: outbox.clone(),
            failures: AtomicUsize::new(0),
            hangs: AtomicUsize::new(0),
        });
        let flaky_scheduler = Arc::new(FlakyScheduler {
            inner: scheduler.clone(),
            failures: AtomicUsize::new(0),
            hangs: AtomicUsize::new(0),
        });
        let mut settings = ClinicSettings::named("Clinique Test").expect("valid name");
        settings.phone = Some(Text::parse("514 555-0100").expect("valid"));
        settings.address = Some(Text::parse("1 rue Test, Montréal").expect("valid"));
        settings.sender_email = Some(Email::parse("rdv@clinique.example.ca").expect("valid"));
        let clinic = Clinic {
            id: ClinicId::parse("clinic-1").expect("valid id"),
            settings,
        };
        register_clinic(store.as_ref(), &clinic, API_KEY)
            .await
            .expect("register clinic");
        // As stored: registering bound the sender's domain.
        let clinic = store
            .clinic(&clinic.id)
            .await
            .expect("read clinic")
            .expect("registered");
        let rappel = Arc::new(Rappel {
            store: Arc::new(TimeLimitedStore::new(store.clone())),
            mailer: mailer.clone(),
            texter: texter.clone(),
            scheduler: flaky_scheduler.clone(),
            clock: clock.clone(),
            config,
        });
        Harness {
            rappel,
            clock,
            outbox,
            scheduler,
            mailer,
            texter,
            store,
            flaky_scheduler,
            clinic,
        }
    }

    /// A harness whose clock reads `now`, with type `FU` at `full` and `NOTE` at `notices`: the
    /// setting the service tests share.
    pub async fn with_standard_types(now: DateTime<Utc>) -> Harness {
        let h = Harness::new(now).await;
        h.set_type("FU", Communications::Full).await;
        h.set_type("NOTE", Communications::Notices).await;
        h
    }

    /// The stored appointment `id` of the harness's clinic (it must exist).
    pub async fn record(&self, id: &str) -> AppointmentRecord {
        let id = AppointmentId::parse(id).expect("valid id");
        self.rappel
            .store
            .appointment(&self.clinic.id, &id)
            .await
            .expect("store")
            .expect("saved appointment")
    }

    /// The stored messages of appointment `id`, oldest first.
    pub async fn messages(&self, id: &str) -> Vec<MessageRecord> {
        let id = AppointmentId::parse(id).expect("valid id");
        self.rappel.store.messages(&self.clinic.id, &id).await.expect("store")
    }

    /// Changes the clinic's settings.
    pub async fn configure(&mut self, change: impl FnOnce(&mut ClinicSettings)) {
        let mut settings = self.clinic.settings.clone();
        change(&mut settings);
        self.clinic = Clinic {
            id: self.clinic.id.clone(),
            settings: self
                .rappel
                .put_clinic_settings(&self.clinic, settings)
                .await
                .expect("put clinic"),
        };
    }

    /// Sets a type's communications.
    pub async fn set_type(&self, code: &str, communications: Communications) {
        let settings = TypeSettings {
            communications,
            questionnaire_url: Some(WebLink::parse("https://forms.example.ca/pre-visit").expect("valid")),
            ..TypeSettings::default()
        };
        self.rappel
            .put_appointment_type(&self.clinic, TypeCode::parse(code).expect("valid code"), settings)
            .await
            .expect("put type");
    }

    /// Moves the clock to `to`, firing every schedule due by then at its own time.
    pub async fn advance_to(&self, to: DateTime<Utc>) -> usize {
        self.scheduler
            .run_due(&self.rappel, Some(&self.clock), to)
            .await
            .expect("run schedules")
    }

    /// Moves the clock forward by `by`.
    pub async fn advance(&self, by: Duration) -> usize {
        self.advance_to(self.clock.now() + by).await
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<OutboxEntry> {
        self.outbox.entries().expect("outbox")
    }

    /// The kinds sent so far on `channel`, in order.
    pub fn sent_kinds(&self, channel: &str) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter(|e| e.channel == channel)
            .map(|e| e.kind)
            .collect()
    }
}

/// An appointment body as the EMR would send it.
pub fn appointment_json(revision: u64, start: DateTime<Utc>, type_code: &str) -> serde_json::Value {
    serde_json::json!({
        "revision": revision,
        "start": start.to_rfc3339(),
        "duration_minutes": 30,
        "type_code": type_code,
        "modality": "in_person",
        "status": "booked",
        "professional": { "display_name": "Dre Marie Tremblay" },
        "location": { "name": "Clinique Centre", "address": "123 rue Principale, Montréal" },
        "patient": { "first_name": "Julie", "last_name": "Roy", "email": "julie.roy@example.ca", "mobile": "514 555-0199" }
    })
}

/// The same, parsed.
pub fn appointment(revision: u64, start: DateTime<Utc>, type_code: &str) -> AppointmentContent {
    serde_json::from_value(appointment_json(revision, start, type_code)).expect("valid appointment")
}
