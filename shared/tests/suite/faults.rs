//! Fault injection through failing adapters: a store that fails writes, a texter that fails, a
//! mailer that hangs. A save is never lost; the caller gets a retryable error; the retry
//! completes exactly the missing effects.

use chrono::Duration;
use rappel::domain::*;
use rappel::services::{Dependency, SaveOutcome, ServiceError};
use rappel::testing::{appointment, Harness};
use std::sync::atomic::Ordering;

use crate::support::{now0, t};

async fn harness() -> Harness {
    let mut h = Harness::new(now0()).await;
    h.set_type("FU", Communications::Full).await;
    h.configure(|s| s.sms_enabled = true).await;
    h
}

/// Asserts a save failed retryably because a dependency timed out.
fn assert_timed_out<T: std::fmt::Debug>(result: &Result<T, ServiceError>) {
    assert!(
        matches!(result, Err(ServiceError::Unavailable { cause, .. }) if cause.contains("timed out")),
        "{result:?}"
    );
}

fn id() -> AppointmentId {
    crate::support::id("F1")
}

#[tokio::test]
async fn a_failed_store_write_stores_nothing_sends_nothing_and_the_retry_creates() {
    let h = harness().await;
    h.store.failures.store(1, Ordering::SeqCst);
    let failed = h
        .rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await;
    assert!(
        matches!(
            failed,
            Err(ServiceError::Unavailable {
                dependency: Dependency::Store,
                ..
            })
        ),
        "{failed:?}"
    );
    assert!(h.rappel.store.appointment(&h.clinic.id, &id()).await.unwrap().is_none());
    assert!(h.sent().is_empty());
    assert!(h.scheduler.pending().unwrap().is_empty());
    let (outcome, _) = h
        .rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(outcome, SaveOutcome::Created);
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    assert_eq!(h.scheduler.pending().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_text_leaves_the_email_sent_and_the_retry_sends_and_bills_the_text_once() {
    let h = harness().await;
    h.texter.failures.store(1, Ordering::SeqCst);
    let failed = h
        .rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await;
    assert!(
        matches!(
            failed,
            Err(ServiceError::Unavailable {
                dependency: Dependency::Texter,
                ..
            })
        ),
        "{failed:?}"
    );
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    assert!(h.sent_kinds("sms").is_empty());
    assert_eq!(
        h.rappel.ledger(&h.clinic, Some("2026-12")).await.unwrap().texts,
        0,
        "a failed send bills nothing"
    );
    for _ in 0..2 {
        h.rappel
            .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
            .await
            .unwrap();
    }
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation"]);
    assert_eq!(h.rappel.ledger(&h.clinic, Some("2026-12")).await.unwrap().texts, 1);
}

/// The provider hangs: the call is cut at the provider timeout (tokio's clock is paused and
/// advances by itself, so the test does not wait), the save is kept and answers retryable.
#[tokio::test(start_paused = true)]
async fn a_hanging_mailer_times_out_and_the_retry_sends_once() {
    let h = harness().await;
    h.mailer.hangs.store(1, Ordering::SeqCst);
    let failed = h
        .rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await;
    assert_timed_out(&failed);
    assert!(
        h.rappel.store.appointment(&h.clinic.id, &id()).await.unwrap().is_some(),
        "the save is kept"
    );
    let messages = h.rappel.store.messages(&h.clinic.id, &id()).await.unwrap();
    assert_eq!(messages[0].status, MessageStatus::Failed);
    h.rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
}

#[tokio::test]
async fn a_reminder_whose_email_fails_is_retried_by_the_scheduler_and_sent_once() {
    let h = harness().await;
    h.rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await
        .unwrap();
    let reminder_at = h
        .rappel
        .store
        .appointment(&h.clinic.id, &id())
        .await
        .unwrap()
        .unwrap()
        .reminder(ReminderOffset::DEFAULT)
        .unwrap()
        .at;
    h.mailer.failures.store(1, Ordering::SeqCst);
    // The first fire fails (the function returns an error); the scheduler tries again a minute later.
    h.advance_to(reminder_at).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    assert_eq!(
        h.sent_kinds("sms"),
        vec!["confirmation", "reminder"],
        "the text went on the first try"
    );
    // The reminder was placed at 20:59, the last minute before quiet hours: the retry at 21:00
    // falls inside them and waits for 08:00, still before T−24 h.
    h.advance_to(reminder_at + Duration::minutes(1)).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"], "never in quiet hours");
    let morning = reminder_at + Duration::hours(11) + Duration::minutes(1);
    h.advance_to(morning - Duration::minutes(1)).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    h.advance_to(morning).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "reminder"]);
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation", "reminder"], "not twice");
    let email = h.sent().into_iter().rfind(|e| e.channel == "email").unwrap();
    assert_eq!(email.at, morning.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_texter_times_out_the_email_still_goes_and_the_retry_sends_the_text_once() {
    let h = harness().await;
    h.texter.hangs.store(1, Ordering::SeqCst);
    let failed = h
        .rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await;
    assert_timed_out(&failed);
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    h.rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation"]);
    assert_eq!(h.rappel.ledger(&h.clinic, Some("2026-12")).await.unwrap().texts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_scheduler_times_out_and_the_retry_creates_the_schedule() {
    let h = harness().await;
    h.flaky_scheduler.hangs.store(1, Ordering::SeqCst);
    let failed = h
        .rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await;
    assert_timed_out(&failed);
    assert!(h.scheduler.pending().unwrap().is_empty());
    h.rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(h.scheduler.pending().unwrap().len(), 1);
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_store_times_out_writes_nothing_and_the_retry_creates() {
    let h = harness().await;
    h.store.hangs.store(1, Ordering::SeqCst);
    let failed = h
        .rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await;
    assert_timed_out(&failed);
    assert!(h.rappel.store.appointment(&h.clinic.id, &id()).await.unwrap().is_none());
    assert!(h.sent().is_empty());
    let (outcome, _) = h
        .rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(outcome, SaveOutcome::Created);
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
}

#[tokio::test]
async fn the_reminder_function_asks_lambda_to_retry_a_failed_reminder_and_the_retry_sends_it() {
    // GIVEN an appointment whose reminder is due, with the mailer failing once,
    let h = harness().await;
    h.rappel
        .save_appointment(&h.clinic, id(), appointment(1, t(), "FU"))
        .await
        .unwrap();
    let reminder = h
        .record("F1")
        .await
        .reminder(ReminderOffset::DEFAULT)
        .expect("a planned reminder");
    h.clock.set(reminder.at);
    let payload = rappel::ports::SchedulePayload {
        clinic_id: h.clinic.id.clone(),
        appointment_id: id(),
        revision: reminder.revision,
        kind: rappel::ports::ScheduleKind::Reminder,
        type_code: None,
        before: None,
    };
    h.mailer.failures.store(1, Ordering::SeqCst);
    // WHEN the scheduler invokes the function,
    let answer = h.rappel.answer_scheduler(&payload).await;
    // THEN Lambda hears an error worth retrying, naming the mailer,
    assert!(
        matches!(&answer, Err(e @ ServiceError::Unavailable { dependency: Dependency::Mailer, .. }) if e.is_retryable()),
        "{answer:?}"
    );
    // AND its retry sends the reminder email, once.
    let retried = h.rappel.answer_scheduler(&payload).await.unwrap();
    assert_eq!(retried["outcome"], "Sent");
    let reminders: Vec<_> = h.sent_kinds("email").into_iter().filter(|k| k == "reminder").collect();
    assert_eq!(reminders, vec!["reminder"]);
}

#[test]
fn only_unavailable_dependencies_are_worth_a_retry() {
    assert!(ServiceError::unavailable(Dependency::Store, "throttled").is_retryable());
    assert!(ServiceError::unavailable(Dependency::ConcurrentRequests, "busy").is_retryable());
    for permanent in [
        ServiceError::NotFound("clinic"),
        ServiceError::invalid("start", "not a date"),
        ServiceError::Gone,
        ServiceError::RevisionConflict(2),
        ServiceError::Unauthorized,
    ] {
        assert!(!permanent.is_retryable(), "{permanent:?}");
    }
}
