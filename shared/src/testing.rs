//! Test support shared by this crate's tests and the adapters' tests: a harness on the embedded
//! adapters with a manual clock, failing adapters for fault injection, and the store contract
//! suite that every store implementation must pass.

use crate::adapters::clock::ManualClock;
use crate::adapters::outbox::{Outbox, OutboxEntry};
use crate::adapters::scheduler::EmbeddedScheduler;
use crate::adapters::sqlite::SqliteStore;
use crate::domain::*;
use crate::ports::*;
use crate::services::{hash_api_key, Config, Rappel};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub mod store_contract;

/// The API key of the harness's clinic.
pub const API_KEY: &str = "test-key";

/// A mailer that fails while `failures` is above zero, then delegates.
pub struct FlakyMailer {
    inner: Arc<dyn Mailer>,
    /// Sends still to fail.
    pub failures: AtomicUsize,
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SendError("injected failure".to_owned()));
        }
        self.inner.send_email(email).await
    }
}

/// A scheduler that fails while `failures` is above zero, then delegates.
pub struct FlakyScheduler {
    inner: Arc<dyn Scheduler>,
    /// Calls still to fail.
    pub failures: AtomicUsize,
}

impl FlakyScheduler {
    fn fail(&self) -> bool {
        self.failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[async_trait]
impl Scheduler for FlakyScheduler {
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        if self.fail() {
            return Err(ScheduleError("injected failure".to_owned()));
        }
        self.inner.put_schedule(schedule).await
    }
    async fn delete_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        if self.fail() {
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
    /// Fails emails on demand.
    pub mailer: Arc<FlakyMailer>,
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
        let store = Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"));
        let outbox = Arc::new(Outbox::in_memory(clock.clone()).expect("in-memory outbox"));
        let scheduler = Arc::new(EmbeddedScheduler::in_memory().expect("in-memory scheduler"));
        let mailer = Arc::new(FlakyMailer {
            inner: outbox.clone(),
            failures: AtomicUsize::new(0),
        });
        let flaky_scheduler = Arc::new(FlakyScheduler {
            inner: scheduler.clone(),
            failures: AtomicUsize::new(0),
        });
        let mut settings = ClinicSettings::named("Clinique Test").expect("valid name");
        settings.phone = Some(Text::parse("514 555-0100").expect("valid"));
        settings.address = Some(Text::parse("1 rue Test, Montréal").expect("valid"));
        settings.sender_email = Some(Email::parse("rdv@clinique.example.ca").expect("valid"));
        let clinic = Clinic {
            id: ClinicId::parse("clinic-1").expect("valid id"),
            settings,
        };
        store.put_clinic(&clinic).await.expect("put clinic");
        store
            .set_api_key_hash(&clinic.id, &hash_api_key(API_KEY))
            .await
            .expect("set key");
        let rappel = Arc::new(Rappel {
            store,
            mailer: mailer.clone(),
            texter: outbox.clone(),
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
            flaky_scheduler,
            clinic,
        }
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
