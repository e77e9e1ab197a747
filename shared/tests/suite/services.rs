//! Service tests: the contract's flows on the embedded adapters with a manual clock.

use chrono::Duration;
use rappel::domain::*;
use rappel::ports::ScheduleKind;
use rappel::services::{Dependency, PatientAction, SaveOutcome, ServiceError};
use rappel::testing::{appointment, Harness};
use std::sync::atomic::Ordering;

use crate::support::{id, local, now0, t};

#[tokio::test]
async fn first_save_sends_one_confirmation_and_plans_the_reminder() {
    let h = Harness::with_standard_types(now0()).await;
    let (outcome, record) = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(outcome, SaveOutcome::Created);
    assert_eq!(
        record.reminder(ReminderOffset::DEFAULT).map(|r| r.at),
        Some(local(2026, 12, 8, 20, 59))
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].kind.as_str(), sent[0].channel.as_str(), sent[0].to.as_str()),
        ("confirmation", "email", "julie.roy@example.ca")
    );
    let subject = sent[0].subject.clone().unwrap();
    assert!(
        subject.starts_with("Confirmation de votre rendez-vous du jeudi 10 décembre 2026 à 14 h"),
        "{subject}"
    );
    assert!(sent[0]
        .text
        .contains(&format!("https://rappel.test/p/{}", record.token)));
    assert!(sent[0]
        .html
        .as_deref()
        .unwrap()
        .contains("Voir les détails et confirmer"));
}

#[tokio::test]
async fn types_left_at_none_or_unknown_send_nothing() {
    let h = Harness::with_standard_types(now0()).await;
    h.set_type("ADMIN", Communications::None).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "ADMIN"))
        .await
        .unwrap();
    let (_, record) = h
        .rappel
        .save_appointment(&h.clinic, id("A2"), appointment(1, t(), "NEVER-CONFIGURED"))
        .await
        .unwrap();
    assert_eq!(record.reminder(ReminderOffset::DEFAULT), None);
    h.advance_to(t() + Duration::hours(1)).await;
    assert!(h.sent().is_empty());
}

#[tokio::test]
async fn a_replayed_save_sends_nothing_and_old_or_conflicting_revisions_are_refused() {
    let h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(2, t(), "FU"))
        .await
        .unwrap();
    let (outcome, _) = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(2, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(outcome, SaveOutcome::Unchanged);
    let stale = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await;
    assert!(
        matches!(stale, Err(ServiceError::StaleRevision { sent: 1, stored: 2 })),
        "{stale:?}"
    );
    let conflict = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(2, t() + Duration::hours(1), "FU"))
        .await;
    assert!(
        matches!(conflict, Err(ServiceError::RevisionConflict(2))),
        "{conflict:?}"
    );
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_identical_saves_create_once_and_confirm_once() {
    let h = Harness::with_standard_types(now0()).await;
    let saves = (0..20).map(|_| {
        let (rappel, clinic) = (h.rappel.clone(), h.clinic.clone());
        tokio::spawn(async move {
            rappel
                .save_appointment(&clinic, id("A1"), appointment(1, t(), "FU"))
                .await
                .unwrap()
                .0
        })
    });
    let mut outcomes = Vec::new();
    for save in saves {
        outcomes.push(save.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| **o == SaveOutcome::Created).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| **o == SaveOutcome::Unchanged).count(), 19);
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    assert_eq!(h.scheduler.pending().unwrap().len(), 1);
}

#[tokio::test]
async fn the_reminder_fires_once_at_its_time_and_asks_to_confirm() {
    let h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    h.advance_to(local(2026, 12, 8, 20, 58)).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    assert_eq!(h.advance_to(local(2026, 12, 8, 20, 59)).await, 1);
    let sent = h.sent();
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "reminder"]);
    assert_eq!(sent[1].at, "2026-12-09T01:59:00Z", "sent at its due time");
    assert!(sent[1].text.contains("Merci de confirmer votre présence"));
    assert!(
        sent[1].text.contains("https://forms.example.ca/pre-visit"),
        "links the questionnaire"
    );
    // A second fire of the same schedule (Scheduler retries at least once) sends nothing more.
    let record = h
        .rappel
        .store
        .appointment(&h.clinic.id, &id("A1"))
        .await
        .unwrap()
        .unwrap();
    let payload = rappel::ports::SchedulePayload {
        clinic_id: h.clinic.id.clone(),
        appointment_id: id("A1"),
        revision: record.reminder(ReminderOffset::DEFAULT).unwrap().revision,
        kind: ScheduleKind::Reminder,
        type_code: None,
        before: None,
    };
    h.rappel.fire(&payload).await.unwrap();
    h.rappel.fire(&payload).await.unwrap();
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "reminder"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_fires_of_a_reminder_send_one_text_and_bill_it_once() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    h.clock.set(local(2026, 12, 8, 20, 59));
    let payload = rappel::ports::SchedulePayload {
        clinic_id: h.clinic.id.clone(),
        appointment_id: id("A1"),
        revision: 1,
        kind: ScheduleKind::Reminder,
        type_code: None,
        before: None,
    };
    let fires = (0..20).map(|_| {
        let (rappel, payload) = (h.rappel.clone(), payload.clone());
        tokio::spawn(async move { rappel.fire(&payload).await.unwrap() })
    });
    for fire in fires {
        fire.await.unwrap();
    }
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation", "reminder"]);
    let report = h.rappel.ledger(&h.clinic, Some("2026-12")).await.unwrap();
    assert_eq!(report.texts, 2);
    assert_eq!(report.total_cents, 10);
}

#[tokio::test]
async fn saved_after_the_reminder_moment_there_is_no_reminder_and_the_confirmation_asks_to_confirm() {
    let h = Harness::with_standard_types(now0()).await;
    h.clock.set(t() - Duration::hours(30));
    let (_, record) = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(record.reminder(ReminderOffset::DEFAULT), None);
    assert!(h.scheduler.pending().unwrap().is_empty());
    assert!(h.sent()[0].text.contains("Merci de confirmer votre présence"));
}

#[tokio::test]
async fn a_move_sends_a_change_resets_confirmation_and_replaces_the_reminder() {
    let h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    let token = h.record("A1").await.token;
    h.clock.set(t() - Duration::hours(47));
    // Confirmation opens at T−48 h; the reminder (T−41 h) is still pending since the clock was set, not advanced.
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Confirm).await.unwrap(),
        PatientStatus::Confirmed
    );
    let moved = t() + Duration::days(2);
    let (outcome, record) = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(2, moved, "FU"))
        .await
        .unwrap();
    assert_eq!(outcome, SaveOutcome::Updated);
    assert_eq!(record.patient_status, PatientStatus::Pending);
    assert_eq!(
        record.reminder(ReminderOffset::DEFAULT).map(|r| (r.at, r.revision)),
        Some((local(2026, 12, 10, 20, 59), 2))
    );
    assert_eq!(h.scheduler.pending().unwrap().len(), 1, "the old schedule is gone");
    h.advance_to(moved).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "change", "reminder"]);
    let change = &h.sent()[1];
    assert!(change
        .subject
        .as_deref()
        .unwrap()
        .starts_with("Modification de votre rendez-vous"));
    assert!(change.text.contains("samedi 12 décembre 2026 à 14 h"));
}

#[tokio::test]
async fn a_save_that_changes_nothing_relevant_sends_nothing_and_keeps_the_reminder() {
    let h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    let mut content = appointment(2, t(), "FU");
    content.patient.first_name = Text::parse("Juliette").unwrap();
    let (outcome, record) = h.rappel.save_appointment(&h.clinic, id("A1"), content).await.unwrap();
    assert_eq!(outcome, SaveOutcome::Updated);
    assert_eq!(
        record.reminder(ReminderOffset::DEFAULT).map(|r| r.revision),
        Some(1),
        "the reminder stays as planned"
    );
    h.advance_to(t()).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "reminder"]);
}

#[tokio::test]
async fn an_emr_cancellation_is_announced_and_the_reminder_never_fires() {
    let h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    let mut cancelled = appointment(2, t(), "FU");
    cancelled.status = AppointmentStatus::Cancelled;
    let (_, record) = h.rappel.save_appointment(&h.clinic, id("A1"), cancelled).await.unwrap();
    assert_eq!(record.reminder(ReminderOffset::DEFAULT), None);
    assert!(h.scheduler.pending().unwrap().is_empty());
    h.advance_to(t()).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "cancellation"]);
    assert!(h.sent()[1]
        .subject
        .as_deref()
        .unwrap()
        .starts_with("Annulation de votre rendez-vous"));
}

#[tokio::test]
async fn a_stale_reminder_schedule_sends_nothing() {
    // GIVEN a reminder planned by revision 1, then a move that replanned it under revision 2,
    let h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(2, t() + Duration::hours(1), "FU"))
        .await
        .unwrap();
    // WHEN the old schedule fires anyway (its delete was lost),
    h.clock.set(local(2026, 12, 8, 20, 59));
    let stale = rappel::ports::SchedulePayload {
        clinic_id: h.clinic.id.clone(),
        appointment_id: id("A1"),
        revision: 1,
        kind: ScheduleKind::Reminder,
        type_code: None,
        before: None,
    };
    let outcome = h.rappel.fire(&stale).await.unwrap();
    // THEN nothing is sent.
    assert!(matches!(outcome, rappel::services::ReminderOutcome::Skipped(_)));
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "change"]);
}

#[tokio::test]
async fn re_typing_to_notices_cancels_the_reminder() {
    let h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    let (_, record) = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(2, t(), "NOTE"))
        .await
        .unwrap();
    assert_eq!(record.reminder(ReminderOffset::DEFAULT), None);
    h.advance_to(t()).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
}

#[tokio::test]
async fn past_appointments_send_nothing() {
    let h = Harness::with_standard_types(now0()).await;
    let past = now0() - Duration::hours(1);
    h.rappel
        .save_appointment(&h.clinic, id("P1"), appointment(1, past, "FU"))
        .await
        .unwrap();
    let mut cancelled = appointment(2, past, "FU");
    cancelled.status = AppointmentStatus::Cancelled;
    h.rappel.save_appointment(&h.clinic, id("P1"), cancelled).await.unwrap();
    // A future appointment moved into the past says nothing either.
    h.rappel
        .save_appointment(&h.clinic, id("F1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    h.rappel
        .save_appointment(&h.clinic, id("F1"), appointment(2, past, "NOTE"))
        .await
        .unwrap();
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
}

#[tokio::test]
async fn patient_cancellation_follows_the_clinic_option_and_the_24h_limit() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    let token = h.record("A1").await.token;
    let refused = h.rappel.patient_act(&token, PatientAction::Cancel).await;
    assert!(matches!(
        refused,
        Err(ServiceError::Refused(rappel::rules::Refusal::CancellationNotAllowed))
    ));
    h.configure(|s| s.allow_patient_cancellation = true).await;
    h.clock.set(t() - Duration::hours(24));
    assert!(matches!(
        h.rappel.patient_act(&token, PatientAction::Cancel).await,
        Err(ServiceError::Refused(rappel::rules::Refusal::CancellationClosed(_)))
    ));
    h.clock.set(t() - Duration::hours(24) - Duration::seconds(1));
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap(),
        PatientStatus::CancelledByPatient
    );
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap(),
        PatientStatus::CancelledByPatient,
        "idempotent"
    );
    assert!(matches!(
        h.rappel.patient_act(&token, PatientAction::Confirm).await,
        Err(ServiceError::Refused(rappel::rules::Refusal::AppointmentCancelled))
    ));
    h.advance_to(t()).await;
    assert_eq!(
        h.sent_kinds("email"),
        vec!["confirmation", "cancellation_receipt"],
        "no reminder after a patient cancel"
    );
    let events = h.rappel.store.events_after(&h.clinic.id, 0, 100).await.unwrap();
    let types: Vec<EventType> = events.iter().map(|e| e.event.event_type).collect();
    assert_eq!(
        types,
        vec![
            EventType::MessageSent,
            EventType::PatientCancelled,
            EventType::MessageSent
        ]
    );
}

#[tokio::test]
async fn arrival_needs_the_clinic_option_and_its_window() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    let token = h.record("A1").await.token;
    h.clock.set(t() - Duration::minutes(30));
    assert!(matches!(
        h.rappel.patient_act(&token, PatientAction::Arrive).await,
        Err(ServiceError::Refused(rappel::rules::Refusal::ArrivalNotAllowed))
    ));
    h.configure(|s| s.allow_arrival_checkin = true).await;
    h.clock.set(t() - Duration::minutes(31));
    assert!(h.rappel.patient_act(&token, PatientAction::Arrive).await.is_err());
    h.clock.set(t() - Duration::minutes(30));
    assert_eq!(
        h.rappel.patient_act(&token, PatientAction::Arrive).await.unwrap(),
        PatientStatus::Arrived
    );
    let events = h.rappel.store.events_after(&h.clinic.id, 0, 100).await.unwrap();
    assert_eq!(events.last().unwrap().event.event_type, EventType::PatientArrived);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirm_and_cancel_at_the_same_instant_end_cancelled() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.allow_patient_cancellation = true).await;
    for n in 0..10 {
        let appointment_id = format!("R{n}");
        h.rappel
            .save_appointment(&h.clinic, id(&appointment_id), appointment(1, t(), "NOTE"))
            .await
            .unwrap();
        h.clock.set(t() - Duration::hours(30));
        let token = h.record(&appointment_id).await.token;
        let (r1, r2) = (h.rappel.clone(), h.rappel.clone());
        let (t1, t2) = (token.clone(), token.clone());
        let confirm = tokio::spawn(async move { r1.patient_act(&t1, PatientAction::Confirm).await });
        let cancel = tokio::spawn(async move { r2.patient_act(&t2, PatientAction::Cancel).await });
        let confirm = confirm.await.unwrap();
        assert_eq!(
            cancel.await.unwrap().unwrap(),
            PatientStatus::CancelledByPatient,
            "cancel always wins its window"
        );
        // Either confirm came first (and succeeded) or second (and was refused as cancelled).
        assert!(
            matches!(
                confirm,
                Ok(PatientStatus::Confirmed) | Err(ServiceError::Refused(rappel::rules::Refusal::AppointmentCancelled))
            ),
            "{confirm:?}"
        );
        let record = h
            .rappel
            .store
            .appointment(&h.clinic.id, &id(&appointment_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.patient_status, PatientStatus::CancelledByPatient);
        h.clock.set(now0());
    }
}

#[tokio::test]
async fn texts_due_in_quiet_hours_wait_for_the_morning_and_drop_if_superseded() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    // Saved at 22:30: the email goes now, the text waits for 08:00.
    h.clock.set(local(2026, 12, 7, 22, 30));
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    h.rappel
        .save_appointment(&h.clinic, id("A2"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "confirmation"]);
    assert!(h.sent_kinds("sms").is_empty());
    // A2 is moved at 23:00: its held confirmation is superseded by the change.
    h.clock.set(local(2026, 12, 7, 23, 0));
    h.rappel
        .save_appointment(&h.clinic, id("A2"), appointment(2, t() + Duration::hours(1), "NOTE"))
        .await
        .unwrap();
    h.advance_to(local(2026, 12, 8, 7, 59)).await;
    assert!(h.sent_kinds("sms").is_empty());
    h.advance_to(local(2026, 12, 8, 8, 0)).await;
    let texts: Vec<_> = h.sent().into_iter().filter(|e| e.channel == "sms").collect();
    assert_eq!(
        texts.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        vec!["confirmation", "change"]
    );
    assert!(
        texts.iter().all(|e| e.at == "2026-12-08T13:00:00Z"),
        "sent at 08:00 local"
    );
    let a2 = h.rappel.store.messages(&h.clinic.id, &id("A2")).await.unwrap();
    let dropped: Vec<_> = a2
        .iter()
        .filter(|m| m.status == MessageStatus::Dropped)
        .map(|m| (m.kind, m.channel))
        .collect();
    assert_eq!(dropped, vec![(MessageKind::Confirmation, Channel::Sms)]);
}

#[tokio::test]
async fn opted_out_numbers_get_no_text_and_the_emr_is_told() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    h.outbox.opt_out("+15145550199").unwrap();
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    assert_eq!(h.sent_kinds("sms"), Vec::<String>::new());
    let page = h.rappel.events(&h.clinic, None, None).await.unwrap();
    let failed = page
        .events
        .iter()
        .find(|e| e["type"] == "message_failed")
        .expect("a message_failed event");
    assert_eq!(failed["channel"], "sms");
    assert!(failed["reason"].as_str().unwrap().contains("opted_out"));
}

#[tokio::test]
async fn a_failed_email_makes_the_save_retryable_and_the_retry_sends_it_once() {
    let h = Harness::with_standard_types(now0()).await;
    h.mailer.failures.store(1, Ordering::SeqCst);
    let first = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await;
    assert!(
        matches!(
            first,
            Err(ServiceError::Unavailable {
                dependency: Dependency::Mailer,
                ..
            })
        ),
        "{first:?}"
    );
    assert!(h.sent().is_empty());
    assert!(
        h.rappel
            .store
            .appointment(&h.clinic.id, &id("A1"))
            .await
            .unwrap()
            .is_some(),
        "the save is kept"
    );
    let (outcome, _) = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(outcome, SaveOutcome::Unchanged);
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
}

#[tokio::test]
async fn a_failed_schedule_is_created_by_the_retry() {
    let h = Harness::with_standard_types(now0()).await;
    h.flaky_scheduler.failures.store(1, Ordering::SeqCst);
    assert!(h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .is_err());
    assert!(h.scheduler.pending().unwrap().is_empty());
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap();
    assert_eq!(h.scheduler.pending().unwrap().len(), 1);
    h.advance_to(t()).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "reminder"]);
}

#[tokio::test]
async fn english_patients_get_english_messages_and_texts_carry_no_health_details() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    let mut content = appointment(1, t(), "NOTE");
    content.patient.language = Some(Language::En);
    h.rappel.save_appointment(&h.clinic, id("A1"), content).await.unwrap();
    let sent = h.sent();
    assert_eq!(
        sent[0].subject.as_deref(),
        Some("Confirmation of your appointment on Thursday, December 10, 2026 at 2:00 PM")
    );
    assert!(sent[0].text.contains("View details and confirm"));
    let text = &sent[1].text;
    assert!(
        text.starts_with("Clinique Test: appointment on Thu Dec 10 at 2:00 PM."),
        "{text}"
    );
    for private in ["Julie", "Roy", "Tremblay", "Principale"] {
        assert!(!text.contains(private), "{private} leaked into {text}");
    }
}

#[tokio::test]
async fn the_ledger_bills_each_text_at_the_price_in_force_in_the_clinic_month() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    // 19:30 local on Nov 30 is already Dec 1 in UTC: billed in November.
    h.clock.set(local(2026, 11, 30, 19, 30));
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    let november = h.rappel.ledger(&h.clinic, Some("2026-11")).await.unwrap();
    let december = h.rappel.ledger(&h.clinic, Some("2026-12")).await.unwrap();
    assert_eq!((november.texts, november.total_cents, december.texts), (1, 5, 0));
    assert_eq!(november.entries[0].unit_price_cents, 5);
    assert_eq!(november.entries[0].encoding, "gsm7");
    assert!(november
        .to_csv()
        .lines()
        .nth(1)
        .unwrap()
        .contains(",A1,confirmation,outbox-2,1,gsm7,5,5"));
}

#[tokio::test]
async fn patient_links_expire_30_days_after_the_appointment() {
    let h = Harness::with_standard_types(now0()).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    let token = h.record("A1").await.token;
    h.clock.set(t() + Duration::days(30));
    assert!(h.rappel.patient_page(&token).await.is_ok());
    h.clock.set(t() + Duration::days(30) + Duration::seconds(1));
    assert!(matches!(h.rappel.patient_page(&token).await, Err(ServiceError::Gone)));
    assert!(matches!(
        h.rappel.patient_page("AAAAAAAAAAAAAAAAAAAAAAAA").await,
        Err(ServiceError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_price_change_mid_month_bills_new_texts_at_the_new_price_and_keeps_old_entries() {
    let config = rappel::services::Config {
        public_base_url: "https://rappel.test".to_owned(),
        sms_prices: rappel::pricing::PriceSchedule::parse("5,2026-12-15=7").unwrap(),
        ..Default::default()
    };
    let mut h = Harness::with_config(local(2026, 12, 10, 10, 0), config).await;
    h.set_type("NOTE", Communications::Notices).await;
    h.configure(|s| s.sms_enabled = true).await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, local(2026, 12, 28, 10, 0), "NOTE"))
        .await
        .unwrap();
    h.clock.set(local(2026, 12, 20, 10, 0));
    h.rappel
        .save_appointment(&h.clinic, id("A2"), appointment(1, local(2026, 12, 28, 11, 0), "NOTE"))
        .await
        .unwrap();
    let report = h.rappel.ledger(&h.clinic, Some("2026-12")).await.unwrap();
    let prices: Vec<i64> = report.entries.iter().map(|e| e.unit_price_cents).collect();
    assert_eq!(prices, vec![5, 7]);
    assert_eq!(report.total_cents, 12);
}

#[tokio::test]
async fn once_the_monthly_cap_is_reached_texts_stop_email_goes_on_and_the_emr_is_told() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| {
        s.sms_enabled = true;
        s.sms_monthly_cap_cents = Some(5);
    })
    .await;
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    h.rappel
        .save_appointment(&h.clinic, id("A2"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation"]);
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "confirmation"]);
    let page = h.rappel.events(&h.clinic, None, None).await.unwrap();
    let failed: Vec<_> = page.events.iter().filter(|e| e["type"] == "message_failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["appointment_id"], "A2");
    assert!(failed[0]["reason"].as_str().unwrap().starts_with("sms_cap_reached"));
    // A new month opens a new budget.
    h.clock.set(local(2027, 1, 2, 10, 0));
    h.rappel
        .save_appointment(&h.clinic, id("A3"), appointment(1, local(2027, 1, 9, 10, 0), "NOTE"))
        .await
        .unwrap();
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation", "confirmation"]);
}

#[tokio::test]
async fn a_text_at_2330_on_the_last_day_of_the_month_is_billed_in_that_local_month() {
    // Without quiet hours the text goes at 23:30 local on Nov 30, already Dec 1 in UTC.
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| {
        s.sms_enabled = true;
        s.quiet_hours = rappel::domain::QuietHours {
            start: s.quiet_hours.start,
            end: s.quiet_hours.start,
        };
    })
    .await;
    h.clock.set(local(2026, 11, 30, 23, 30));
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    assert_eq!(
        h.sent().iter().find(|e| e.channel == "sms").unwrap().at,
        "2026-12-01T04:30:00Z"
    );
    assert_eq!(h.rappel.ledger(&h.clinic, Some("2026-11")).await.unwrap().texts, 1);
    assert_eq!(h.rappel.ledger(&h.clinic, Some("2026-12")).await.unwrap().texts, 0);
    // With the default quiet hours, the same save's text waits for 08:00 on Dec 1: December.
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    h.clock.set(local(2026, 11, 30, 23, 30));
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "NOTE"))
        .await
        .unwrap();
    h.advance_to(local(2026, 12, 1, 8, 0)).await;
    assert_eq!(h.rappel.ledger(&h.clinic, Some("2026-11")).await.unwrap().texts, 0);
    assert_eq!(h.rappel.ledger(&h.clinic, Some("2026-12")).await.unwrap().texts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_while_the_reminder_fires_never_reminds_of_the_old_time() {
    for round in 0..10 {
        let h = Harness::with_standard_types(now0()).await;
        let appointment_id = format!("MV{round}");
        h.rappel
            .save_appointment(&h.clinic, id(&appointment_id), appointment(1, t(), "FU"))
            .await
            .unwrap();
        h.clock.set(local(2026, 12, 8, 20, 59));
        let payload = rappel::ports::SchedulePayload {
            clinic_id: h.clinic.id.clone(),
            appointment_id: id(&appointment_id),
            revision: 1,
            kind: ScheduleKind::Reminder,
            type_code: None,
            before: None,
        };
        let moved = t() + Duration::days(3);
        let (r1, r2, c) = (h.rappel.clone(), h.rappel.clone(), h.clinic.clone());
        let aid = appointment_id.clone();
        let fire = tokio::spawn(async move { r1.fire(&payload).await.unwrap() });
        let save = tokio::spawn(async move {
            r2.save_appointment(&c, id(&aid), appointment(2, moved, "FU"))
                .await
                .unwrap()
        });
        fire.await.unwrap();
        save.await.unwrap();
        let reminders: Vec<_> = h.sent().into_iter().filter(|e| e.kind == "reminder").collect();
        // Either the fire claimed the reminder before the move committed (a reminder of the old
        // time, sent alongside the change notice), or the move came first and the stale fire
        // sent nothing. Never a reminder read after the move.
        let mut kinds = h.sent_kinds("email");
        kinds.sort();
        match reminders.len() {
            0 => assert_eq!(kinds, vec!["change", "confirmation"]),
            1 => {
                assert_eq!(kinds, vec!["change", "confirmation", "reminder"]);
                assert!(reminders[0].text.contains("jeudi 10 décembre"));
            }
            n => panic!("{n} reminders"),
        }
        // The new time gets its own reminder, once.
        h.advance_to(moved).await;
        assert_eq!(
            h.sent()
                .iter()
                .filter(|e| e.kind == "reminder" && e.text.contains("dimanche 13 décembre"))
                .count(),
            1
        );
    }
}

/// The save's answer shows the messages without reading them again: what it reports must be
/// what the store holds, after a first save, a move (texts included), a retry and outside quiet hours.
#[tokio::test]
async fn a_save_reports_the_messages_the_store_holds() {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    let saves = [
        appointment(1, t(), "FU"),
        appointment(2, t() + Duration::hours(1), "FU"),
        appointment(2, t() + Duration::hours(1), "FU"),
        appointment(3, t() + Duration::hours(1), "NOTE"),
    ];
    for content in saves {
        let (_, record, reported) = h.rappel.save_and_report(&h.clinic, id("A1"), content).await.unwrap();
        let stored = h.rappel.store.messages(&h.clinic.id, &record.id).await.unwrap();
        assert_eq!(reported, stored);
        assert!(reported.iter().all(|m| m.status == MessageStatus::Sent), "{reported:?}");
    }
    assert_eq!(h.sent_kinds("sms"), ["confirmation", "change"]);
}
