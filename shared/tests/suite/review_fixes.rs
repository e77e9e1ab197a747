//! Regression tests for the review's findings: each test fails on the behaviour the review found
//! and passes on the fix. Same flow as services.rs and faults.rs: the embedded adapters, a manual
//! clock moved by hand, failing or gated adapters where a fault or a race is needed, and tokio's
//! paused clock where the code itself waits or times out.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rappel::adapters::scheduler::EmbeddedScheduler;
use rappel::domain::*;
use rappel::ports::{Clock, Mailer, OutgoingEmail, Schedule, ScheduleError, ScheduleKind, Scheduler, SendError};
use rappel::rules::Refusal;
use rappel::services::{
    bind_sender_domain, schedule_name, Dependency, PatientAction, Rappel, SaveOutcome, ServiceError, CLAIM_LEASE,
    REQUEST_BUDGET,
};
use rappel::testing::{appointment, Harness};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

use crate::support::{id, local, now0, t};

/// The same time a day later: Friday 2026-12-11 14:00 local ("vendredi 11 décembre").
fn next_day() -> DateTime<Utc> {
    t() + Duration::days(1)
}

/// The harness's services with another mailer and scheduler: same store, clock and settings.
fn rappel_with(h: &Harness, mailer: Arc<dyn Mailer>, scheduler: Arc<dyn Scheduler>) -> Arc<Rappel> {
    Arc::new(Rappel {
        store: h.rappel.store.clone(),
        mailer,
        texter: h.rappel.texter.clone(),
        scheduler,
        clock: h.rappel.clock.clone(),
        config: h.rappel.config.clone(),
    })
}

/// The reminders sent so far (email), oldest first.
fn reminder_emails(h: &Harness) -> Vec<String> {
    h.sent()
        .into_iter()
        .filter(|e| e.channel == "email" && e.kind == "reminder")
        .map(|e| e.text)
        .collect()
}

/// Asserts the scheduler holds exactly the reminder schedule `record` plans.
fn assert_schedule_matches(h: &Harness, record: &AppointmentRecord) {
    let reminder = record.reminder(ReminderOffset::DEFAULT).expect("a planned reminder");
    let pending = h.scheduler.pending().unwrap();
    let (name, at, revision, kind): (Vec<_>, Vec<_>, Vec<_>, Vec<_>) = (
        pending.iter().map(|s| s.name.clone()).collect(),
        pending.iter().map(|s| s.at).collect(),
        pending.iter().map(|s| s.payload.revision).collect(),
        pending.iter().map(|s| s.payload.kind).collect(),
    );
    assert_eq!(name, vec![schedule_name(&h.clinic.id, &record.id)], "{pending:?}");
    assert_eq!(at, vec![reminder.at]);
    assert_eq!(revision, vec![reminder.revision]);
    assert_eq!(kind, vec![ScheduleKind::Reminder]);
}

/// A mailer whose provider refuses every message for good (an unverified sender, say).
struct RefusingMailer {
    calls: AtomicUsize,
}

#[async_trait]
impl Mailer for RefusingMailer {
    async fn send_email(&self, _email: &OutgoingEmail) -> Result<String, SendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(SendError::permanent("MessageRejected"))
    }
}

/// A mailer that, handed a reminder, tells the test (`reached`) and waits for `release`; every
/// other email goes straight through.
struct GatedMailer {
    inner: Arc<dyn Mailer>,
    reached: Notify,
    release: Notify,
}

#[async_trait]
impl Mailer for GatedMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        if email.kind == MessageKind::Reminder {
            self.reached.notify_one();
            self.release.notified().await;
        }
        self.inner.send_email(email).await
    }
}

/// The embedded scheduler, watched: the first put of `revision`'s reminder tells the test when it
/// arrives (`reached`) and, once through, `put`; if `hold` is set it waits for `release` in between.
struct WatchedScheduler {
    inner: Arc<EmbeddedScheduler>,
    revision: u64,
    hold: bool,
    seen: AtomicBool,
    reached: Notify,
    release: Notify,
    put: Notify,
}

impl WatchedScheduler {
    fn new(inner: Arc<EmbeddedScheduler>, revision: u64, hold: bool) -> Self {
        WatchedScheduler {
            inner,
            revision,
            hold,
            seen: AtomicBool::new(false),
            reached: Notify::new(),
            release: Notify::new(),
            put: Notify::new(),
        }
    }
}

#[async_trait]
impl Scheduler for WatchedScheduler {
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let watched = schedule.payload.kind == ScheduleKind::Reminder
            && schedule.payload.revision == self.revision
            && !self.seen.swap(true, Ordering::SeqCst);
        if watched {
            self.reached.notify_one();
            if self.hold {
                self.release.notified().await;
            }
        }
        let result = self.inner.put_schedule(schedule).await;
        if watched {
            self.put.notify_one();
        }
        result
    }
    async fn delete_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        self.inner.delete_schedule(name).await
    }
}

// 1. dispatch.rs `still_sending_elsewhere`, `CLAIM_LEASE`.
#[tokio::test(start_paused = true)]
async fn a_message_held_by_a_dead_sender_is_retryable_and_sent_once_its_lease_runs_out() {
    // GIVEN a confirmation whose first send failed, then claimed by a sender that died,
    let h = Harness::with_standard_types(now0()).await;
    h.mailer.failures.store(1, Ordering::SeqCst);
    let failed = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await;
    assert!(
        matches!(
            failed,
            Err(ServiceError::Unavailable {
                dependency: Dependency::Mailer,
                ..
            })
        ),
        "{failed:?}"
    );
    let record = h.record("A1").await;
    let key = h.messages("A1").await[0].key.clone();
    let now = h.clock.now();
    assert!(h
        .rappel
        .store
        .claim_message(&h.clinic.id, &record.id, &key, now, now - CLAIM_LEASE, record.version)
        .await
        .unwrap());
    // WHEN the EMR retries while the claim is live,
    let started = tokio::time::Instant::now();
    let retried = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await;
    // THEN it waits a little for the other sender, then answers "retry" without sending.
    let waited = started.elapsed();
    assert!(
        matches!(&retried, Err(ServiceError::Unavailable { dependency: Dependency::ConcurrentRequests, cause }) if cause.contains("still being sent by another request")),
        "{retried:?}"
    );
    assert!(
        waited >= std::time::Duration::from_secs(2) && waited < std::time::Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(h.sent().is_empty());
    assert_eq!(h.messages("A1").await[0].status, MessageStatus::Sending);
    // WHEN the lease has run out, the next retry takes the message over and sends it, once.
    h.advance(CLAIM_LEASE + Duration::seconds(1)).await;
    for _ in 0..2 {
        let (outcome, _) = h
            .rappel
            .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
            .await
            .unwrap();
        assert_eq!(outcome, SaveOutcome::Unchanged);
    }
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    assert_eq!(h.messages("A1").await[0].status, MessageStatus::Sent);
    // AND the EMR is told it may be a second copy (the dead sender may have handed it over).
    let events = h.rappel.store.events_after(&h.clinic.id, 0, 10).await.unwrap();
    let sent = events
        .iter()
        .find(|e| e.event.event_type == EventType::MessageSent)
        .unwrap();
    assert_eq!(sent.event.reason.as_deref(), Some(rappel::services::POSSIBLE_DUPLICATE));
}

// 2. budget.rs: REQUEST_BUDGET, PROVIDER_TIMEOUT.
#[tokio::test(start_paused = true)]
async fn a_hanging_mailer_and_a_hanging_texter_answer_within_the_request_budget() {
    // GIVEN an email provider and a text provider that both hang,
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    h.mailer.hangs.store(1, Ordering::SeqCst);
    h.texter.hangs.store(1, Ordering::SeqCst);
    // WHEN the EMR saves,
    let started = tokio::time::Instant::now();
    let failed = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await;
    // THEN it answers "retry" inside the request budget (not 8 s + 8 s),
    let took = started.elapsed();
    assert!(
        matches!(&failed, Err(ServiceError::Unavailable { cause, .. }) if cause.contains("timed out")),
        "{failed:?}"
    );
    assert!(took <= REQUEST_BUDGET, "answered after {took:?}");
    // AND the text it had no time for was never handed over and is left for the retry to claim.
    assert_eq!(h.texter.hangs.load(Ordering::SeqCst), 1, "the text was not attempted");
    let statuses: Vec<_> = h.messages("A1").await.iter().map(|m| (m.channel, m.status)).collect();
    assert_eq!(statuses[0], (Channel::Email, MessageStatus::Failed));
    assert!(
        matches!(
            statuses[1],
            (Channel::Sms, MessageStatus::Pending | MessageStatus::Failed)
        ),
        "{statuses:?}"
    );
    // WHEN the providers recover and the EMR retries, each message goes once.
    h.texter.hangs.store(0, Ordering::SeqCst);
    for _ in 0..2 {
        h.rappel
            .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
            .await
            .unwrap();
    }
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation"]);
    assert_eq!(h.rappel.ledger(&h.clinic, Some("2026-12")).await.unwrap().texts, 1);
}

// 3. appointments.rs `sync_reminder_schedule`.
#[tokio::test]
async fn a_schedule_lost_to_a_503_is_put_by_the_next_revision_even_when_the_time_does_not_move() {
    // GIVEN a first save whose schedule could not be put,
    let h = Harness::with_standard_types(now0()).await;
    h.flaky_scheduler.failures.store(1, Ordering::SeqCst);
    let failed = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await;
    assert!(
        matches!(
            failed,
            Err(ServiceError::Unavailable {
                dependency: Dependency::Scheduler,
                ..
            })
        ),
        "{failed:?}"
    );
    assert!(h.scheduler.pending().unwrap().is_empty());
    // WHEN the next revision changes only the patient's first name (same start, same reminder),
    let mut content = appointment(2, t(), "FU");
    content.patient.first_name = Text::parse("Juliette").unwrap();
    let (outcome, record) = h.rappel.save_appointment(&h.clinic, id("A1"), content).await.unwrap();
    assert_eq!(outcome, SaveOutcome::Updated);
    // THEN the scheduler holds the reminder as the record plans it,
    assert_eq!(
        record.reminder(ReminderOffset::DEFAULT).map(|r| r.revision),
        Some(1),
        "the reminder stays as planned"
    );
    assert_schedule_matches(&h, &record);
    // AND it fires.
    h.advance_to(t()).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "reminder"]);
}

// 4. appointments.rs `sync_reminder_schedule`, racing saves.
#[tokio::test]
async fn when_an_older_save_puts_its_schedule_last_the_newer_revision_still_wins() {
    // GIVEN revision 1 whose schedule put is held back in the scheduler,
    let h = Harness::with_standard_types(now0()).await;
    let scheduler = Arc::new(WatchedScheduler::new(h.scheduler.clone(), 1, true));
    let slow = rappel_with(&h, h.rappel.mailer.clone(), scheduler.clone());
    // WHEN revision 2 moves the appointment a day later meanwhile, then revision 1's put goes through,
    let (first, second) = tokio::join!(
        slow.save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU")),
        async {
            scheduler.reached.notified().await;
            let second = h
                .rappel
                .save_appointment(&h.clinic, id("A1"), appointment(2, next_day(), "FU"))
                .await;
            scheduler.release.notify_one();
            second
        }
    );
    assert_eq!(first.unwrap().0, SaveOutcome::Created);
    // (Revision 1's confirmation went out while its schedule was being put, and is recorded once
    // the put returns: revision 2, saved, may find it still being sent and answer "retry". No
    // retry is made here: revision 1's own check must leave revision 2's schedule in place.)
    match second {
        Ok((outcome, _)) => assert_eq!(outcome, SaveOutcome::Updated),
        Err(ServiceError::Unavailable {
            dependency: Dependency::ConcurrentRequests,
            ..
        }) => {}
        Err(e) => panic!("{e:?}"),
    }
    // THEN the pending schedule is revision 2's, for the new time,
    let record = h.record("A1").await;
    assert_eq!(record.reminder(ReminderOffset::DEFAULT).map(|r| r.revision), Some(2));
    assert_eq!(
        record.reminder(ReminderOffset::DEFAULT).map(|r| r.at),
        Some(local(2026, 12, 9, 20, 59))
    );
    assert_schedule_matches(&h, &record);
    // AND exactly one reminder goes, for the new time.
    h.advance_to(next_day()).await;
    let reminders = reminder_emails(&h);
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(reminders[0].contains("vendredi 11 décembre"), "{}", reminders[0]);
}

// 5. patient.rs, dispatch.rs `dispatch_or_retry_later`.
#[tokio::test]
async fn a_cancellation_receipt_that_failed_is_sent_a_minute_later_by_the_scheduler_once() {
    // GIVEN a clinic that lets patients cancel, and an email provider that fails once,
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.allow_patient_cancellation = true).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    let token = h.record("A1").await.token;
    h.mailer.failures.store(1, Ordering::SeqCst);
    // WHEN the patient cancels,
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap(),
        PatientStatus::CancelledByPatient,
        "the cancel stands"
    );
    // THEN the receipt did not go yet,
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    // AND a minute later the scheduler sends it, once.
    h.advance(Duration::minutes(1)).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "cancellation_receipt"]);
    h.advance_to(t()).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "cancellation_receipt"]);
}

#[tokio::test]
async fn repeating_the_cancel_sends_a_receipt_that_failed() {
    // GIVEN a patient cancel whose receipt failed,
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.allow_patient_cancellation = true).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    let token = h.record("A1").await.token;
    h.mailer.failures.store(1, Ordering::SeqCst);
    h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap();
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    // WHEN the patient presses cancel again,
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap(),
        PatientStatus::CancelledByPatient
    );
    // THEN the receipt goes now, and the scheduler's retry sends nothing more.
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "cancellation_receipt"]);
    h.advance(Duration::minutes(1)).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "cancellation_receipt"]);
}

// 6. dispatch.rs `Attempt::provider_error`; ports.rs `SendError::permanent`.
#[tokio::test]
async fn a_permanent_provider_refusal_is_recorded_undeliverable_and_the_save_succeeds() {
    // GIVEN an email provider that refuses the message for good,
    let h = Harness::with_standard_types(now0()).await;
    let mailer = Arc::new(RefusingMailer {
        calls: AtomicUsize::new(0),
    });
    let rappel = rappel_with(&h, mailer.clone(), h.rappel.scheduler.clone());
    // WHEN the EMR saves,
    let (outcome, _) = rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    // THEN the save succeeds and the email is undeliverable,
    assert_eq!(outcome, SaveOutcome::Created);
    let view = rappel.appointment_view(&h.clinic, &id("A1")).await.unwrap();
    let statuses: Vec<_> = view.messages.iter().map(|m| (m.kind, m.channel, m.status)).collect();
    assert_eq!(
        statuses,
        vec![(MessageKind::Confirmation, Channel::Email, "undeliverable")]
    );
    assert_eq!(h.messages("A1").await[0].status, MessageStatus::Undeliverable);
    // AND the EMR is told why,
    let events = h.rappel.store.events_after(&h.clinic.id, 0, 100).await.unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.event.event_type == EventType::MessageFailed)
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0].event.channel, Some(Channel::Email));
    let reason = failed[0].event.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("refused") && reason.contains("MessageRejected"),
        "{reason}"
    );
    // AND a replay of the save does not ask the provider again.
    let (outcome, _) = rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    assert_eq!(outcome, SaveOutcome::Unchanged);
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 1);
}

// 7. save_plan.rs plan_later_save.
#[tokio::test]
async fn arriving_is_forgotten_when_the_appointment_moves_to_another_day() {
    // GIVEN a patient who said they arrived, 10 minutes before T,
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.allow_arrival_checkin = true).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    let token = h.record("A1").await.token;
    h.clock.set(t() - Duration::minutes(10));
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Arrive).await.unwrap(),
        PatientStatus::Arrived
    );
    // WHEN the EMR changes something else, the arrival stands;
    let mut content = appointment(2, t(), "NOTE");
    content.patient.first_name = Text::parse("Juliette").unwrap();
    let (_, record) = h.rappel.save_appointment(&h.clinic, id("A1"), content).await.unwrap();
    assert_eq!(record.patient_status, PatientStatus::Arrived);
    // WHEN it moves the appointment to the next day,
    let (_, record) = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(3, next_day(), "NOTE"))
        .await
        .unwrap();
    // THEN the patient is pending again.
    assert_eq!(record.patient_status, PatientStatus::Pending);
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Pending);
}

// 8. patient.rs: repeated actions.
#[tokio::test]
async fn repeating_a_confirmation_is_refused_once_the_clinic_cancelled() {
    // GIVEN a patient who confirmed within 48 h,
    let h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    let token = h.record("A1").await.token;
    h.clock.set(t() - Duration::hours(47));
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Confirm).await.unwrap(),
        PatientStatus::Confirmed
    );
    // WHEN the EMR cancels the appointment,
    let mut cancelled = appointment(2, t(), "NOTE");
    cancelled.status = AppointmentStatus::Cancelled;
    h.rappel.save_appointment(&h.clinic, id("A1"), cancelled).await.unwrap();
    // THEN confirming again is refused.
    let repeated = h.rappel.patient_act(&token, PatientAction::Confirm).await;
    assert!(
        matches!(repeated, Err(ServiceError::Refused(Refusal::AppointmentCancelled))),
        "{repeated:?}"
    );
}

#[tokio::test]
async fn repeating_a_patient_cancel_still_answers_ok_even_after_the_clinic_cancelled_too() {
    // GIVEN a patient who cancelled,
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.allow_patient_cancellation = true).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    let token = h.record("A1").await.token;
    h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap();
    // WHEN they cancel again, before and after the EMR cancels as well,
    // THEN each answer is the same, and no second receipt goes.
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap(),
        PatientStatus::CancelledByPatient
    );
    let mut cancelled = appointment(2, t(), "NOTE");
    cancelled.status = AppointmentStatus::Cancelled;
    h.rappel.save_appointment(&h.clinic, id("A1"), cancelled).await.unwrap();
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap(),
        PatientStatus::CancelledByPatient
    );
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "cancellation_receipt"]);
}

// 9. adapters/scheduler.rs `retire`.
#[tokio::test(start_paused = true)]
async fn a_fired_schedule_does_not_take_along_the_one_a_concurrent_move_replanned() {
    // GIVEN a reminder whose email is in flight when its schedule fires,
    let h = Harness::with_standard_types(now0()).await;
    let mailer = Arc::new(GatedMailer {
        inner: h.mailer.clone(),
        reached: Notify::new(),
        release: Notify::new(),
    });
    let scheduler = Arc::new(WatchedScheduler::new(h.scheduler.clone(), 2, false));
    let rappel = rappel_with(&h, mailer.clone(), scheduler.clone());
    let (_, record) = rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    let first_reminder = record.reminder(ReminderOffset::DEFAULT).unwrap().at;
    // WHEN the EMR moves the appointment a day later while the reminder is being sent (the move
    // re-puts the schedule under the same name), then the send completes,
    let (fired, moved) = tokio::join!(h.scheduler.run_due(&rappel, Some(&h.clock), first_reminder), async {
        mailer.reached.notified().await;
        let release = async {
            scheduler.put.notified().await;
            mailer.release.notify_one();
        };
        let (moved, ()) = tokio::join!(
            rappel.save_appointment(&h.clinic, id("A1"), appointment(2, next_day(), "FU")),
            release
        );
        moved
    });
    assert_eq!(fired.unwrap(), 1);
    // (The move sends its own messages before it puts the schedule, and the reminder's email,
    // held until that put, is still being sent then: the move answers "retry", the EMR's
    // retry finds it saved.)
    match moved {
        Ok((outcome, _)) => assert_eq!(outcome, SaveOutcome::Updated),
        Err(ServiceError::Unavailable {
            dependency: Dependency::ConcurrentRequests,
            ..
        }) => {
            let (outcome, _) = rappel
                .save_appointment(&h.clinic, id("A1"), appointment(2, next_day(), "FU"))
                .await
                .unwrap();
            assert_eq!(outcome, SaveOutcome::Unchanged);
        }
        Err(e) => panic!("{e:?}"),
    }
    // THEN the move's schedule is still pending,
    let record = h.record("A1").await;
    assert_eq!(record.reminder(ReminderOffset::DEFAULT).map(|r| r.revision), Some(2));
    assert_schedule_matches(&h, &record);
    // AND at the new time the new reminder goes.
    h.advance_to(next_day()).await;
    let reminders = reminder_emails(&h);
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    assert!(reminders[0].contains("jeudi 10 décembre"), "claimed before the move");
    assert!(reminders[1].contains("vendredi 11 décembre"), "{}", reminders[1]);
}

// 10. services/settings.rs, domain/clinic.rs `check_sender`.
#[tokio::test]
async fn a_clinic_sends_only_from_the_domain_the_operator_bound() {
    let h = Harness::with_standard_types(now0()).await;
    let with = |change: &dyn Fn(&mut ClinicSettings)| {
        let mut settings = h.clinic.settings.clone();
        change(&mut settings);
        settings
    };
    let invalid_field = |result: Result<ClinicSettings, ServiceError>| match result {
        Err(ServiceError::Invalid { field, .. }) => field,
        other => panic!("expected a 422, got {other:?}"),
    };
    // GIVEN the harness's clinic, bound to clinique.example.ca by registration,
    assert_eq!(h.clinic.settings.sender_domain.as_deref(), Some("clinique.example.ca"));
    // WHEN its key sets a sender elsewhere, or another domain, THEN it is refused, naming the field;
    let elsewhere = with(&|s| s.sender_email = Some(Email::parse("rdv@autre.example.ca").unwrap()));
    assert_eq!(
        invalid_field(h.rappel.put_clinic_settings(&h.clinic, elsewhere).await),
        "sender_email"
    );
    let rebound = with(&|s| s.sender_domain = Some("autre.example.ca".to_owned()));
    assert_eq!(
        invalid_field(h.rappel.put_clinic_settings(&h.clinic, rebound).await),
        "sender_domain"
    );
    let stored = h.rappel.store.clinic(&h.clinic.id).await.unwrap().unwrap();
    assert_eq!(stored.settings, h.clinic.settings, "nothing was stored");
    // WHEN it leaves the domain out, THEN the binding stays;
    let left_out = with(&|s| {
        s.sender_domain = None;
        s.sender_email = Some(Email::parse("info@clinique.example.ca").unwrap());
    });
    let settings = h.rappel.put_clinic_settings(&h.clinic, left_out).await.unwrap();
    assert_eq!(settings.sender_domain.as_deref(), Some("clinique.example.ca"));
    // WHEN the operator rebinds the clinic, THEN a sender in the new domain is accepted.
    let clinic = bind_sender_domain(h.rappel.store.as_ref(), &h.clinic.id, "autre.example.ca")
        .await
        .unwrap();
    assert_eq!(clinic.settings.sender_domain.as_deref(), Some("autre.example.ca"));
    let mut moved = clinic.settings.clone();
    moved.sender_domain = None;
    moved.sender_email = Some(Email::parse("rdv@autre.example.ca").unwrap());
    let settings = h.rappel.put_clinic_settings(&clinic, moved).await.unwrap();
    assert_eq!(
        settings.sender_email.map(|e| e.as_str().to_owned()).as_deref(),
        Some("rdv@autre.example.ca")
    );
    assert_eq!(settings.sender_domain.as_deref(), Some("autre.example.ca"));
}
