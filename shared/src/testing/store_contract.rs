//! The store contract: what every `Store` must do, the same way. Each check gets a fresh store
//! from the caller's factory, so embedded and DynamoDB stores run the very same suite.

use crate::domain::*;
use crate::ports::*;
use crate::testing::appointment;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::future::Future;
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap()
}

fn clinic(id: &str) -> Clinic {
    Clinic {
        id: ClinicId::parse(id).unwrap(),
        settings: ClinicSettings::named("Clinique Contrat").unwrap(),
    }
}

fn record(clinic: &ClinicId, id: &str, revision: u64, version: u64) -> AppointmentRecord {
    AppointmentRecord {
        clinic_id: clinic.clone(),
        id: AppointmentId::parse(id).unwrap(),
        content: appointment(revision, t0() + Duration::days(3), "FU"),
        patient_status: PatientStatus::Pending,
        token: format!("tok-{}-{id}-{}", clinic, "x".repeat(8)),
        // Two reminders, one of them not the 36-h one: every store keeps the list as written.
        reminders: vec![
            PlannedReminder {
                at: t0() + Duration::days(1),
                revision,
                before: ReminderOffset::parse("2d").unwrap(),
            },
            PlannedReminder {
                at: t0() + Duration::hours(36),
                revision,
                before: ReminderOffset::DEFAULT,
            },
        ],
        notified: false,
        reschedule_request: None,
        created_at: t0(),
        updated_at: t0(),
        version,
    }
}

fn write(record: AppointmentRecord, messages: Vec<MessageRecord>) -> AppointmentWrite {
    AppointmentWrite {
        record,
        messages,
        events: Vec::new(),
    }
}

/// Runs every check against stores made by `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    clinics_are_found_by_key_hash_only(make().await).await;
    types_report_whether_they_are_new(make().await).await;
    reads_together_find_what_one_by_one_would(make().await).await;
    the_key_finds_the_settings_written_last_whatever_the_race(Arc::new(make().await)).await;
    appointment_writes_are_conditional_on_the_version(make().await).await;
    appointments_are_found_by_token_and_scoped_by_clinic(make().await).await;
    messages_are_recorded_once_per_key(make().await).await;
    messages_keep_write_order_at_the_same_instant(make().await).await;
    a_message_is_claimed_by_exactly_one_of_many(Arc::new(make().await)).await;
    completion_writes_status_event_and_ledger_together(make().await).await;
    a_sender_whose_claim_was_taken_over_records_nothing(make().await).await;
    a_message_recorded_claimed_is_held_by_its_writer(make().await).await;
    an_unused_claim_given_back_frees_the_message_at_once(make().await).await;
    completions_together_skip_lost_claims_and_check_the_version(make().await).await;
    a_settled_appointment_shows_its_messages_until_anything_changes(make().await).await;
    events_page_in_order_per_clinic(make().await).await;
    ledger_is_cut_by_time(make().await).await;
    a_reply_finds_the_latest_text_to_its_number(make().await).await;
    feedback_moves_a_sent_message_once_with_its_event_price_and_suppressions(make().await).await;
    suppressions_are_per_clinic_and_any_case(make().await).await;
    messages_added_with_an_address_learn_whether_it_is_suppressed(make().await).await;
    a_provider_price_stays_with_its_entry_at_a_month_boundary(make().await).await;
}

async fn clinics_are_found_by_key_hash_only<S: Store>(store: S) {
    let a = clinic("clinic-a");
    store.put_clinic(&a).await.unwrap();
    assert_eq!(store.clinic_by_key_hash("h-a").await.unwrap(), None);
    store.set_api_key_hash(&a.id, "h-a").await.unwrap();
    assert_eq!(store.clinic_by_key_hash("h-a").await.unwrap(), Some(a.clone()));
    store.set_api_key_hash(&a.id, "h-a2").await.unwrap();
    assert_eq!(
        store.clinic_by_key_hash("h-a").await.unwrap(),
        None,
        "a rotated key stops working"
    );
    assert_eq!(store.clinic(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.clinic(&ClinicId::parse("nobody").unwrap()).await.unwrap(), None);
    // Settings changed after the key was set are what the key finds, and a new key finds them too.
    let renamed = Clinic {
        settings: ClinicSettings::named("Clinique Renommée").unwrap(),
        ..a.clone()
    };
    store.put_clinic(&renamed).await.unwrap();
    assert_eq!(store.clinic_by_key_hash("h-a2").await.unwrap(), Some(renamed.clone()));
    store.set_api_key_hash(&a.id, "h-a3").await.unwrap();
    assert_eq!(store.clinic_by_key_hash("h-a3").await.unwrap(), Some(renamed));
}

/// Settings changes racing key changes end with one key in force that finds the clinic's
/// settings as stored. (Through moto the window between a writer's read and its write is too
/// short for the conditions that close it to be needed here: this guards the end state.)
async fn the_key_finds_the_settings_written_last_whatever_the_race<S: Store + 'static>(store: Arc<S>) {
    let a = clinic("clinic-a");
    store.put_clinic(&a).await.unwrap();
    store.set_api_key_hash(&a.id, "k-0").await.unwrap();
    const WRITERS: usize = 24;
    let writers = (1..=WRITERS).map(|n| {
        let (store, a) = (store.clone(), a.clone());
        tokio::spawn(async move {
            if n % 2 == 0 {
                store.set_api_key_hash(&a.id, &format!("k-{n}")).await
            } else {
                let renamed = Clinic {
                    settings: ClinicSettings::named(&format!("Clinique {n}")).unwrap(),
                    ..a
                };
                store.put_clinic(&renamed).await
            }
        })
    });
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let stored = store.clinic(&a.id).await.unwrap();
    let mut found = Vec::new();
    for key in (0..=WRITERS).filter(|n| n % 2 == 0).map(|n| format!("k-{n}")) {
        if let Some(clinic) = store.clinic_by_key_hash(&key).await.unwrap() {
            found.push(clinic);
        }
    }
    assert_eq!(found.len(), 1, "exactly one key is in force");
    assert_eq!(Some(found.remove(0)), stored, "and it finds the settings as stored");
}

async fn reads_together_find_what_one_by_one_would<S: Store>(store: S) {
    let a = clinic("clinic-a");
    store.put_clinic(&a).await.unwrap();
    let t = AppointmentType {
        code: TypeCode::parse("PV").unwrap(),
        settings: TypeSettings {
            communications: Communications::Full,
            // Multi-line text in one language only: stored and read back as written.
            instructions: Instructions {
                fr: Some(Instruction::parse("À jeun dès minuit.\n\nApportez <votre> carte & ordonnance.").unwrap()),
                en: None,
            },
            ..TypeSettings::default()
        },
    };
    store.put_type(&a.id, &t).await.unwrap();
    let r = record(&a.id, "A1", 1, 1);
    store.write_appointment(&write(r.clone(), vec![])).await.unwrap();
    let everything = Wanted {
        clinic: true,
        appointment: Some(r.id.clone()),
        type_code: Some(t.code.clone()),
        suppression_of: None,
    };
    assert_eq!(
        store.read_together(&a.id, &everything).await.unwrap(),
        Found {
            clinic: Some(a.clone()),
            appointment: Some(r.clone()),
            type_settings: Some(t.settings.clone()),
            settled: None,
            suppressed: None,
        }
    );
    let missing = Wanted {
        clinic: false,
        appointment: Some(AppointmentId::parse("nope").unwrap()),
        type_code: Some(TypeCode::parse("NONE").unwrap()),
        suppression_of: None,
    };
    assert_eq!(store.read_together(&a.id, &missing).await.unwrap(), Found::default());
    // A suppressed address, read with the rest (any case), and one that is not.
    let listed = Suppression {
        address: "julie@example.ca".to_owned(),
        reason: SuppressionReason::Bounce,
        at: t0(),
    };
    store.suppress(&a.id, std::slice::from_ref(&listed)).await.unwrap();
    for (address, suppressed) in [("Julie@Example.ca", true), ("other@example.ca", false)] {
        let wanted = Wanted {
            suppression_of: Some(address.to_owned()),
            ..everything.clone()
        };
        let found = store.read_together(&a.id, &wanted).await.unwrap();
        assert_eq!(found.suppressed, Some((address.to_owned(), suppressed)), "{address}");
        assert_eq!(found.appointment, Some(r.clone()));
    }
    let linked = store.read_by_token(&r.token).await.unwrap();
    assert_eq!(linked.target, LinkTarget::Appointment(Box::new(r.clone())));
    assert_eq!(linked.clinic, Some(a.clone()));
    assert_eq!(linked.type_settings, None, "the record's type (FU) has no settings");
    // Re-typed: the page reads the new type's settings.
    let retyped = AppointmentRecord {
        version: 2,
        content: AppointmentContent {
            type_code: t.code.clone(),
            ..r.content.clone()
        },
        ..r.clone()
    };
    store.write_appointment(&write(retyped.clone(), vec![])).await.unwrap();
    let linked = store.read_by_token(&r.token).await.unwrap();
    assert_eq!(linked.target, LinkTarget::Appointment(Box::new(retyped)));
    assert_eq!(linked.type_settings, Some(t.settings));
    assert_eq!(store.read_by_token("nope").await.unwrap().target, LinkTarget::Unknown);
}

async fn types_report_whether_they_are_new<S: Store>(store: S) {
    let c = clinic("clinic-a");
    let mut t = AppointmentType {
        code: TypeCode::parse("FU").unwrap(),
        settings: TypeSettings::default(),
    };
    assert!(store.put_type(&c.id, &t).await.unwrap());
    t.settings.communications = Communications::Full;
    assert!(!store.put_type(&c.id, &t).await.unwrap());
    assert_eq!(
        store.type_settings(&c.id, &t.code).await.unwrap(),
        Some(t.settings.clone())
    );
    assert_eq!(store.types(&c.id).await.unwrap(), vec![t.clone()]);
    assert_eq!(store.types(&ClinicId::parse("other").unwrap()).await.unwrap(), vec![]);
}

async fn appointment_writes_are_conditional_on_the_version<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let first = record(&c, "A1", 1, 1);
    store.write_appointment(&write(first.clone(), vec![])).await.unwrap();
    assert!(
        matches!(
            store.write_appointment(&write(first.clone(), vec![])).await,
            Err(StoreError::Conflict)
        ),
        "a second create conflicts"
    );
    let second = AppointmentRecord {
        version: 2,
        ..record(&c, "A1", 2, 2)
    };
    let second = AppointmentRecord {
        token: first.token.clone(),
        ..second
    };
    store.write_appointment(&write(second.clone(), vec![])).await.unwrap();
    let stale = AppointmentRecord {
        token: first.token.clone(),
        ..record(&c, "A1", 3, 2)
    };
    assert!(
        matches!(
            store.write_appointment(&write(stale, vec![])).await,
            Err(StoreError::Conflict)
        ),
        "a write from an old read conflicts"
    );
    assert_eq!(store.appointment(&c, &first.id).await.unwrap(), Some(second));
}

async fn appointments_are_found_by_token_and_scoped_by_clinic<S: Store>(store: S) {
    let a = ClinicId::parse("clinic-a").unwrap();
    let b = ClinicId::parse("clinic-b").unwrap();
    let ra = record(&a, "same-id", 1, 1);
    let rb = record(&b, "same-id", 5, 1);
    store.write_appointment(&write(ra.clone(), vec![])).await.unwrap();
    store.write_appointment(&write(rb.clone(), vec![])).await.unwrap();
    assert_eq!(store.appointment(&a, &ra.id).await.unwrap(), Some(ra.clone()));
    assert_eq!(store.appointment(&b, &rb.id).await.unwrap(), Some(rb.clone()));
    assert_eq!(
        store.appointment_by_token(&rb.token).await.unwrap(),
        LinkTarget::Appointment(Box::new(rb))
    );
    assert_eq!(store.appointment_by_token("nope").await.unwrap(), LinkTarget::Unknown);
}

async fn messages_are_recorded_once_per_key<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    let confirmation = MessageRecord::pending(MessageKind::Confirmation, Channel::Email, 1, t0());
    assert_eq!(
        store
            .write_appointment(&write(r.clone(), vec![confirmation.clone()]))
            .await
            .unwrap(),
        vec![confirmation.key.clone()]
    );
    let reminder = MessageRecord::pending(MessageKind::Reminder, Channel::Email, 1, t0());
    assert_eq!(
        store
            .add_messages(&r, &[confirmation.clone(), reminder.clone()])
            .await
            .unwrap(),
        vec![reminder.key.clone()]
    );
    assert!(store
        .add_messages(&r, std::slice::from_ref(&reminder))
        .await
        .unwrap()
        .is_empty());
    let later = MessageRecord::pending(MessageKind::Reminder, Channel::Sms, 1, t0());
    let newer = AppointmentRecord {
        version: 2,
        ..r.clone()
    };
    assert!(
        matches!(
            store.add_messages(&newer, std::slice::from_ref(&later)).await,
            Err(StoreError::Conflict)
        ),
        "messages are added only to the version the caller read"
    );
    // A write that records a message already present leaves it as it was and says so.
    let second = AppointmentRecord {
        version: 2,
        ..r.clone()
    };
    let again = MessageRecord {
        status: MessageStatus::Sending,
        ..confirmation.clone()
    };
    assert!(store
        .write_appointment(&write(second, vec![again]))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.messages(&c, &r.id).await.unwrap(),
        vec![confirmation, reminder],
        "oldest first, once each"
    );
}

/// Regression: DynamoDB once ordered messages by time, then key, so a cancellation written in
/// the same instant as the confirmation sorted first and was taken for superseded.
async fn messages_keep_write_order_at_the_same_instant<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let first = record(&c, "A1", 1, 1);
    let confirmation = MessageRecord::pending(MessageKind::Confirmation, Channel::Email, 1, t0());
    store
        .write_appointment(&write(first.clone(), vec![confirmation.clone()]))
        .await
        .unwrap();
    let reminder = MessageRecord::pending(MessageKind::Reminder, Channel::Email, 1, t0());
    store
        .add_messages(&first, std::slice::from_ref(&reminder))
        .await
        .unwrap();
    let second = AppointmentRecord {
        version: 2,
        ..first.clone()
    };
    let cancellation = MessageRecord::pending(MessageKind::Cancellation, Channel::Email, 2, t0());
    store
        .write_appointment(&write(second, vec![cancellation.clone()]))
        .await
        .unwrap();
    let kinds: Vec<MessageKind> = store
        .messages(&c, &first.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            MessageKind::Confirmation,
            MessageKind::Reminder,
            MessageKind::Cancellation
        ]
    );
}

async fn a_message_is_claimed_by_exactly_one_of_many<S: Store + 'static>(store: Arc<S>) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    let m = MessageRecord::pending(MessageKind::Confirmation, Channel::Email, 1, t0());
    store
        .write_appointment(&write(r.clone(), vec![m.clone()]))
        .await
        .unwrap();
    let claims = (0..20).map(|_| {
        let (store, c, id, key) = (store.clone(), c.clone(), r.id.clone(), m.key.clone());
        tokio::spawn(async move {
            store
                .claim_message(&c, &id, &key, t0(), t0() - Duration::minutes(2), 1)
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for claim in claims {
        won += usize::from(claim.await.unwrap());
    }
    assert_eq!(won, 1);
    // A claim made on the strength of an older read of the appointment is refused.
    let other = MessageRecord::pending(MessageKind::Reminder, Channel::Email, 1, t0());
    store.add_messages(&r, std::slice::from_ref(&other)).await.unwrap();
    assert!(!store.claim_message(&c, &r.id, &other.key, t0(), t0(), 7).await.unwrap());
    assert!(store.claim_message(&c, &r.id, &other.key, t0(), t0(), 1).await.unwrap());
    // A lease that ran out can be taken over; a live one cannot.
    assert!(!store
        .claim_message(
            &c,
            &r.id,
            &m.key,
            t0() + Duration::minutes(1),
            t0() - Duration::minutes(1),
            1
        )
        .await
        .unwrap());
    assert!(store
        .claim_message(
            &c,
            &r.id,
            &m.key,
            t0() + Duration::minutes(3),
            t0() + Duration::minutes(1),
            1
        )
        .await
        .unwrap());
}

async fn completion_writes_status_event_and_ledger_together<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    let m = MessageRecord::pending(MessageKind::Confirmation, Channel::Sms, 1, t0());
    store
        .write_appointment(&write(r.clone(), vec![m.clone()]))
        .await
        .unwrap();
    assert!(store.claim_message(&c, &r.id, &m.key, t0(), t0(), 1).await.unwrap());
    let entry = LedgerEntry {
        clinic_id: c.clone(),
        appointment_id: r.id.clone(),
        message_key: m.key.clone(),
        kind: m.kind,
        provider_message_id: "p-1".to_owned(),
        sent_at: t0(),
        segments: 2,
        encoding: "gsm7".to_owned(),
        unit_price_cents: 5,
        amount_cents: 10,
        provider_price_micro_usd: None,
    };
    let outcome = MessageOutcome {
        claimed_at: t0(),
        status: MessageStatus::Sent,
        at: t0(),
        detail: None,
        event: NewEvent {
            at: t0(),
            appointment_id: r.id.clone(),
            event_type: EventType::MessageSent,
            kind: Some(m.kind),
            channel: Some(m.channel),
            reason: None,
            before: None,
            via: None,
            request: None,
        },
        ledger: Some(entry.clone()),
        texted_to: None,
    };
    store.complete_message(&c, &r.id, &m.key, &outcome).await.unwrap();
    assert!(
        !store
            .claim_message(&c, &r.id, &m.key, t0(), t0() + Duration::days(1), 1)
            .await
            .unwrap(),
        "a sent message is never claimed again"
    );
    // Completing twice (a retry after a lost answer) never bills twice.
    store.complete_message(&c, &r.id, &m.key, &outcome).await.unwrap();
    let messages = store.messages(&c, &r.id).await.unwrap();
    assert_eq!(messages[0].status, MessageStatus::Sent);
    let ledger = store
        .ledger_between(&c, t0() - Duration::days(1), t0() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(ledger, vec![entry]);
    let events = store.events_after(&c, 0, 10).await.unwrap();
    assert_eq!(events.len(), 1, "a repeated completion adds no event");
    assert_eq!(events[0].event, outcome.event);
}

async fn a_sender_whose_claim_was_taken_over_records_nothing<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    let m = MessageRecord::pending(MessageKind::Confirmation, Channel::Sms, 1, t0());
    store
        .write_appointment(&write(r.clone(), vec![m.clone()]))
        .await
        .unwrap();
    let first = t0();
    let second = t0() + Duration::minutes(5);
    assert!(store.claim_message(&c, &r.id, &m.key, first, first, 1).await.unwrap());
    assert!(store
        .claim_message(&c, &r.id, &m.key, second, second - Duration::minutes(1), 1)
        .await
        .unwrap());
    let outcome = |claimed_at, status| MessageOutcome {
        claimed_at,
        status,
        at: second,
        detail: None,
        event: NewEvent::patient(second, r.id.clone(), EventType::MessageSent),
        ledger: None,
        texted_to: None,
    };
    store
        .complete_message(&c, &r.id, &m.key, &outcome(first, MessageStatus::Failed))
        .await
        .unwrap();
    let messages = store.messages(&c, &r.id).await.unwrap();
    assert_eq!(messages[0].status, MessageStatus::Sending, "the live claim stands");
    assert!(store.events_after(&c, 0, 10).await.unwrap().is_empty());
    store
        .complete_message(&c, &r.id, &m.key, &outcome(second, MessageStatus::Sent))
        .await
        .unwrap();
    assert_eq!(store.messages(&c, &r.id).await.unwrap()[0].status, MessageStatus::Sent);
    assert_eq!(store.events_after(&c, 0, 10).await.unwrap().len(), 1);
}

/// Writing outcomes checks `version`, recording nothing more.
fn check(version: u64) -> AfterOutcomes<'static> {
    AfterOutcomes { version, settled: None }
}

/// A sent outcome of `key`, claimed at `claimed_at`, with a text's ledger entry.
fn sent(r: &AppointmentRecord, key: &str, claimed_at: DateTime<Utc>) -> Completion {
    let at = claimed_at + Duration::seconds(1);
    Completion {
        key: key.to_owned(),
        outcome: MessageOutcome {
            claimed_at,
            status: MessageStatus::Sent,
            at,
            detail: None,
            event: NewEvent::patient(at, r.id.clone(), EventType::MessageSent),
            ledger: Some(LedgerEntry {
                clinic_id: r.clinic_id.clone(),
                appointment_id: r.id.clone(),
                message_key: key.to_owned(),
                kind: MessageKind::Confirmation,
                provider_message_id: format!("p-{key}"),
                sent_at: at,
                segments: 1,
                encoding: "gsm7".to_owned(),
                unit_price_cents: 5,
                amount_cents: 5,
                provider_price_micro_usd: None,
            }),
            texted_to: None,
        },
    }
}

async fn a_message_recorded_claimed_is_held_by_its_writer<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    let claimed = MessageRecord {
        status: MessageStatus::Sending,
        ..MessageRecord::pending(MessageKind::Confirmation, Channel::Sms, 1, t0())
    };
    store
        .write_appointment(&write(r.clone(), vec![claimed.clone()]))
        .await
        .unwrap();
    assert!(
        !store
            .claim_message(&c, &r.id, &claimed.key, t0(), t0() - Duration::minutes(1), 1)
            .await
            .unwrap(),
        "nobody else takes a message its writer holds"
    );
    store
        .complete_messages(&c, &r.id, &[sent(&r, &claimed.key, t0())], check(1))
        .await
        .unwrap();
    assert_eq!(store.messages(&c, &r.id).await.unwrap()[0].status, MessageStatus::Sent);
}

async fn an_unused_claim_given_back_frees_the_message_at_once<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    let claimed = |key: &str| MessageRecord {
        key: key.to_owned(),
        status: MessageStatus::Sending,
        ..MessageRecord::pending(MessageKind::Confirmation, Channel::Sms, 1, t0())
    };
    store
        .write_appointment(&write(r.clone(), vec![claimed("k1"), claimed("k2")]))
        .await
        .unwrap();
    // k2 was taken over by a later sender; giving back both of the first claims frees k1 only.
    let later = t0() + Duration::minutes(5);
    assert!(store
        .claim_message(&c, &r.id, "k2", later, later - Duration::minutes(1), 1)
        .await
        .unwrap());
    let ours = [("k1".to_owned(), t0()), ("k2".to_owned(), t0())];
    store.release_messages(&c, &r.id, &ours).await.unwrap();
    store.release_messages(&c, &r.id, &ours).await.unwrap();
    let statuses: Vec<MessageStatus> = store
        .messages(&c, &r.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.status)
        .collect();
    assert_eq!(statuses, vec![MessageStatus::Pending, MessageStatus::Sending]);
    assert!(
        store.claim_message(&c, &r.id, "k1", t0(), t0(), 1).await.unwrap(),
        "claimed at once by the next sender, no lease to wait out"
    );
}

async fn completions_together_skip_lost_claims_and_check_the_version<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    let keys = ["k1", "k2", "k3"];
    let messages: Vec<MessageRecord> = keys
        .iter()
        .map(|k| MessageRecord {
            key: (*k).to_owned(),
            status: MessageStatus::Sending,
            ..MessageRecord::pending(MessageKind::Confirmation, Channel::Sms, 1, t0())
        })
        .collect();
    store.write_appointment(&write(r.clone(), messages)).await.unwrap();
    // k2's lease ran out and another sender took it over.
    let takeover = t0() + Duration::minutes(5);
    assert!(store
        .claim_message(&c, &r.id, "k2", takeover, takeover - Duration::minutes(1), 1)
        .await
        .unwrap());
    let ours: Vec<Completion> = keys.iter().map(|k| sent(&r, k, t0())).collect();
    let current = store.complete_messages(&c, &r.id, &ours, check(1)).await.unwrap();
    assert!(current, "the appointment is still at version 1");
    let statuses: Vec<MessageStatus> = store
        .messages(&c, &r.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.status)
        .collect();
    assert_eq!(
        statuses,
        vec![MessageStatus::Sent, MessageStatus::Sending, MessageStatus::Sent],
        "the taken-over message stays with its new sender"
    );
    let billed = |entries: Vec<LedgerEntry>| entries.into_iter().map(|e| e.message_key).collect::<Vec<_>>();
    let range = (t0() - Duration::days(1), t0() + Duration::days(1));
    assert_eq!(
        billed(store.ledger_between(&c, range.0, range.1).await.unwrap()),
        vec!["k1", "k3"]
    );
    assert_eq!(store.events_after(&c, 0, 10).await.unwrap().len(), 2);
    // Done again (a lost answer): nothing twice. Then a newer version is reported.
    let second = AppointmentRecord {
        version: 2,
        ..r.clone()
    };
    store.write_appointment(&write(second, vec![])).await.unwrap();
    let current = store.complete_messages(&c, &r.id, &ours, check(1)).await.unwrap();
    assert!(!current, "a newer version of the appointment is reported");
    assert_eq!(
        billed(store.ledger_between(&c, range.0, range.1).await.unwrap()),
        vec!["k1", "k3"]
    );
    assert_eq!(store.events_after(&c, 0, 10).await.unwrap().len(), 2);
    let theirs = sent(&r, "k2", takeover);
    assert!(!store.complete_messages(&c, &r.id, &[theirs], check(1)).await.unwrap());
    assert_eq!(store.events_after(&c, 0, 10).await.unwrap().len(), 3);
}

/// A store may record that everything a version causes is done (DynamoDB does, to spare a
/// replay its reads; the embedded stores need not): what it then shows must be exactly that,
/// and only while nothing changed.
async fn a_settled_appointment_shows_its_messages_until_anything_changes<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    let claimed = MessageRecord {
        status: MessageStatus::Sending,
        ..MessageRecord::pending(MessageKind::Confirmation, Channel::Sms, 1, t0())
    };
    store
        .write_appointment(&write(r.clone(), vec![claimed.clone()]))
        .await
        .unwrap();
    let done = sent(&r, &claimed.key, t0());
    let settled = vec![MessageRecord {
        status: MessageStatus::Sent,
        at: done.outcome.at,
        ..claimed.clone()
    }];
    let after = AfterOutcomes {
        version: 1,
        settled: Some(&settled),
    };
    assert!(store.complete_messages(&c, &r.id, &[done], after).await.unwrap());
    let wanted = Wanted {
        appointment: Some(r.id.clone()),
        ..Wanted::default()
    };
    let shown = store.read_together(&c, &wanted).await.unwrap().settled;
    assert!(shown.is_none() || shown.as_ref() == Some(&settled), "{shown:?}");
    assert_eq!(store.messages(&c, &r.id).await.unwrap(), settled);
    // Settling with a completion that was not written (its claim taken over) settles nothing.
    let other = claimed.clone();
    let second_claim = MessageRecord {
        key: "k-other".to_owned(),
        ..other
    };
    let r2 = record(&c, "A2", 1, 1);
    store
        .write_appointment(&write(r2.clone(), vec![second_claim.clone()]))
        .await
        .unwrap();
    let later = t0() + Duration::minutes(5);
    assert!(store
        .claim_message(&c, &r2.id, "k-other", later, later - Duration::minutes(1), 1)
        .await
        .unwrap());
    let would_be = vec![MessageRecord {
        status: MessageStatus::Sent,
        ..second_claim.clone()
    }];
    let after = AfterOutcomes {
        version: 1,
        settled: Some(&would_be),
    };
    store
        .complete_messages(&c, &r2.id, &[sent(&r2, "k-other", t0())], after)
        .await
        .unwrap();
    let wanted2 = Wanted {
        appointment: Some(r2.id.clone()),
        ..Wanted::default()
    };
    assert_eq!(
        store.read_together(&c, &wanted2).await.unwrap().settled,
        None,
        "a lost completion leaves the appointment unsettled"
    );
    // A message added since: no longer settled.
    let reminder = MessageRecord::pending(MessageKind::Reminder, Channel::Sms, 1, t0());
    store.add_messages(&r, std::slice::from_ref(&reminder)).await.unwrap();
    assert_eq!(store.read_together(&c, &wanted).await.unwrap().settled, None);
    // Settled again, then a new version: no longer settled either.
    let all = [settled.clone(), vec![reminder.clone()]].concat();
    let after = AfterOutcomes {
        version: 1,
        settled: Some(&all),
    };
    store.complete_messages(&c, &r.id, &[], after).await.unwrap();
    assert_eq!(
        store.read_together(&c, &wanted).await.unwrap().settled,
        None,
        "a message was added since the version was written"
    );
    let second = AppointmentRecord {
        version: 2,
        ..r.clone()
    };
    store.write_appointment(&write(second, vec![])).await.unwrap();
    let after = AfterOutcomes {
        version: 1,
        settled: Some(&all),
    };
    assert!(!store.complete_messages(&c, &r.id, &[], after).await.unwrap());
    assert_eq!(store.read_together(&c, &wanted).await.unwrap().settled, None);
}

async fn events_page_in_order_per_clinic<S: Store>(store: S) {
    let a = ClinicId::parse("clinic-a").unwrap();
    let b = ClinicId::parse("clinic-b").unwrap();
    for (clinic, n) in [(&a, 5), (&b, 2)] {
        let mut r = record(clinic, "A1", 1, 1);
        for i in 0..n {
            let event = NewEvent::patient(t0() + Duration::minutes(i), r.id.clone(), EventType::PatientConfirmed);
            store
                .write_appointment(&AppointmentWrite {
                    record: r.clone(),
                    messages: vec![],
                    events: vec![event],
                })
                .await
                .unwrap();
            r.version += 1;
        }
    }
    let first = store.events_after(&a, 0, 3).await.unwrap();
    assert_eq!(first.len(), 3);
    let rest = store.events_after(&a, first[2].cursor, 100).await.unwrap();
    assert_eq!(rest.len(), 2);
    let cursors: Vec<u64> = first.iter().chain(rest.iter()).map(|e| e.cursor).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "cursors increase: {cursors:?}");
    let ats: Vec<_> = first.iter().chain(rest.iter()).map(|e| e.event.at).collect();
    assert!(ats.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert_eq!(
        store.events_after(&b, 0, 100).await.unwrap().len(),
        2,
        "clinic B sees only its own"
    );
    assert!(store
        .events_after(&a, *cursors.last().unwrap(), 100)
        .await
        .unwrap()
        .is_empty());
}

async fn ledger_is_cut_by_time<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    let keys = ["k1", "k2", "k3"];
    let times = [t0() - Duration::seconds(1), t0(), t0() + Duration::days(1)];
    let messages: Vec<MessageRecord> = keys
        .iter()
        .map(|k| MessageRecord {
            key: (*k).to_owned(),
            ..MessageRecord::pending(MessageKind::Confirmation, Channel::Sms, 1, t0())
        })
        .collect();
    store.write_appointment(&write(r.clone(), messages)).await.unwrap();
    for (key, at) in keys.iter().zip(times) {
        assert!(store.claim_message(&c, &r.id, key, at, at, 1).await.unwrap());
        let outcome = MessageOutcome {
            claimed_at: at,
            status: MessageStatus::Sent,
            at,
            detail: None,
            event: NewEvent::patient(at, r.id.clone(), EventType::MessageSent),
            ledger: Some(LedgerEntry {
                clinic_id: c.clone(),
                appointment_id: r.id.clone(),
                message_key: (*key).to_owned(),
                kind: MessageKind::Confirmation,
                provider_message_id: format!("p-{key}"),
                sent_at: at,
                segments: 1,
                encoding: "gsm7".to_owned(),
                unit_price_cents: 5,
                amount_cents: 5,
                provider_price_micro_usd: None,
            }),
            texted_to: None,
        };
        store.complete_message(&c, &r.id, key, &outcome).await.unwrap();
    }
    let day = store.ledger_between(&c, t0(), t0() + Duration::days(1)).await.unwrap();
    assert_eq!(
        day.iter().map(|e| e.message_key.as_str()).collect::<Vec<_>>(),
        vec!["k2"],
        "from included, to excluded"
    );
}

/// Sends `key` of `r` as a text to `number` at `at`, through `complete_messages`.
async fn text_sent<S: Store>(store: &S, r: &AppointmentRecord, key: &str, number: &str, at: DateTime<Utc>) {
    let message = MessageRecord {
        key: key.to_owned(),
        ..MessageRecord::pending(MessageKind::Reminder, Channel::Sms, 1, at)
    };
    store.add_messages(r, &[message]).await.unwrap();
    let claimed_at = at - Duration::seconds(1);
    assert!(store
        .claim_message(&r.clinic_id, &r.id, key, claimed_at, claimed_at, r.version)
        .await
        .unwrap());
    let mut completion = sent(r, key, claimed_at);
    completion.outcome.texted_to = Some(number.to_owned());
    store
        .complete_messages(&r.clinic_id, &r.id, &[completion], check(r.version))
        .await
        .unwrap();
}

async fn a_reply_finds_the_latest_text_to_its_number<S: Store>(store: S) {
    let (a, b) = (
        ClinicId::parse("clinic-a").unwrap(),
        ClinicId::parse("clinic-b").unwrap(),
    );
    let first = record(&a, "A1", 1, 1);
    let second = record(&b, "B1", 1, 1);
    for r in [&first, &second] {
        store.write_appointment(&write(r.clone(), Vec::new())).await.unwrap();
    }
    let (number, other) = ("+15145550123", "+15145550124");
    let later = t0() + Duration::days(1);
    assert_eq!(store.latest_text_to(number, later).await.unwrap(), None);
    // Completed out of order: the second text's completion is written first.
    text_sent(&store, &second, "k2", number, t0() + Duration::hours(1)).await;
    text_sent(&store, &first, "k1", number, t0()).await;
    text_sent(&store, &first, "k3", other, t0() + Duration::hours(2)).await;
    let route = store.latest_text_to(number, later).await.unwrap().unwrap();
    assert_eq!(
        (route.clinic_id, route.appointment_id.as_str(), route.sent_at),
        (b.clone(), "B1", t0() + Duration::hours(1)),
        "the latest text to the number, whichever clinic sent it"
    );
    // As of an instant: the latest text at or before it.
    let before_second = t0() + Duration::hours(1) - Duration::microseconds(1);
    let route = store.latest_text_to(number, before_second).await.unwrap().unwrap();
    assert_eq!(
        (route.clinic_id.clone(), route.appointment_id.as_str()),
        (a.clone(), "A1")
    );
    let at_second = store
        .latest_text_to(number, t0() + Duration::hours(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(at_second.appointment_id.as_str(), "B1", "at the very instant: included");
    assert_eq!(
        store.latest_text_to(number, t0() - Duration::seconds(1)).await.unwrap(),
        None
    );
    let route = store.latest_text_to(other, later).await.unwrap().unwrap();
    assert_eq!((route.clinic_id, route.appointment_id.as_str()), (a, "A1"));
    // A completion that is not a text's (or not sent) routes nothing.
    assert_eq!(store.latest_text_to("+15145550125", later).await.unwrap(), None);
}

async fn feedback_moves_a_sent_message_once_with_its_event_price_and_suppressions<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    store.write_appointment(&write(r.clone(), Vec::new())).await.unwrap();
    text_sent(&store, &r, "k1", "+15145550123", t0()).await;
    let address = store.text_by_provider_id("p-k1").await.unwrap().unwrap();
    assert_eq!(
        address,
        MessageAddress {
            clinic_id: c.clone(),
            appointment_id: r.id.clone(),
            key: "k1".to_owned()
        }
    );
    assert_eq!(store.text_by_provider_id("p-unknown").await.unwrap(), None);
    let sent = store.messages(&c, &r.id).await.unwrap().remove(0);
    assert_eq!(sent.status, MessageStatus::Sent);
    let delivered_at = t0() + Duration::minutes(1);
    let delivered = FeedbackWrite {
        message: address.clone(),
        from: MessageStatus::Sent,
        read_at: sent.at,
        status: MessageStatus::Delivered,
        at: delivered_at,
        detail: None,
        event: NewEvent::patient(delivered_at, r.id.clone(), EventType::MessageDelivered),
        suppress: vec![Suppression {
            address: "julie@example.ca".to_owned(),
            reason: SuppressionReason::Complaint,
            at: delivered_at,
        }],
        provider_price_micro_usd: Some(5_810),
    };
    let events_before = store.events_after(&c, 0, 100).await.unwrap().len();
    assert!(store.apply_feedback(&delivered).await.unwrap());
    // The same report again (a duplicate delivery) no longer finds the message as it read it.
    assert!(!store.apply_feedback(&delivered).await.unwrap());
    let message = store.messages(&c, &r.id).await.unwrap().remove(0);
    assert_eq!((message.status, message.at), (MessageStatus::Delivered, delivered_at));
    let events = store.events_after(&c, 0, 100).await.unwrap();
    assert_eq!(events.len(), events_before + 1, "one event, once");
    assert_eq!(events.last().unwrap().event.event_type, EventType::MessageDelivered);
    let ledger = store
        .ledger_between(&c, t0() - Duration::days(1), t0() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (ledger[0].amount_cents, ledger[0].provider_price_micro_usd),
        (5, Some(5_810))
    );
    assert!(store.is_suppressed(&c, "Julie@Example.CA").await.unwrap());
    // A later report from the new status, with its detail.
    let complained = FeedbackWrite {
        from: MessageStatus::Delivered,
        read_at: delivered_at,
        status: MessageStatus::Complained,
        at: delivered_at + Duration::minutes(1),
        detail: Some("complaint".to_owned()),
        suppress: Vec::new(),
        provider_price_micro_usd: None,
        ..delivered.clone()
    };
    assert!(store.apply_feedback(&complained).await.unwrap());
    let message = store.messages(&c, &r.id).await.unwrap().remove(0);
    assert_eq!(
        (message.status, message.detail.as_deref()),
        (MessageStatus::Complained, Some("complaint"))
    );
    // An unknown message: nothing written.
    let unknown = FeedbackWrite {
        message: MessageAddress {
            key: "nope".to_owned(),
            ..address
        },
        ..delivered
    };
    assert!(!store.apply_feedback(&unknown).await.unwrap());
}

async fn suppressions_are_per_clinic_and_any_case<S: Store>(store: S) {
    let (a, b) = (
        ClinicId::parse("clinic-a").unwrap(),
        ClinicId::parse("clinic-b").unwrap(),
    );
    let r = record(&a, "A1", 1, 1);
    let m = MessageRecord::pending(MessageKind::Confirmation, Channel::Email, 1, t0());
    store
        .write_appointment(&write(r.clone(), vec![m.clone()]))
        .await
        .unwrap();
    assert!(store.claim_message(&a, &r.id, &m.key, t0(), t0(), 1).await.unwrap());
    let mut completion = sent(&r, &m.key, t0());
    completion.outcome.ledger = None;
    store
        .complete_messages(&a, &r.id, &[completion], check(1))
        .await
        .unwrap();
    let read = store.messages(&a, &r.id).await.unwrap().remove(0);
    let suppression = |address: &str, reason| Suppression {
        address: address.to_owned(),
        reason,
        at: t0(),
    };
    let bounce = FeedbackWrite {
        message: MessageAddress {
            clinic_id: a.clone(),
            appointment_id: r.id.clone(),
            key: m.key.clone(),
        },
        from: MessageStatus::Sent,
        read_at: read.at,
        status: MessageStatus::Bounced,
        at: t0() + Duration::minutes(1),
        detail: Some("permanent".to_owned()),
        event: NewEvent::patient(t0(), r.id.clone(), EventType::MessageBounced),
        suppress: vec![
            suppression("b@example.ca", SuppressionReason::Bounce),
            suppression("a@example.ca", SuppressionReason::Complaint),
        ],
        provider_price_micro_usd: None,
    };
    assert!(store.apply_feedback(&bounce).await.unwrap());
    assert_eq!(
        store.suppressions(&a).await.unwrap(),
        vec![
            suppression("a@example.ca", SuppressionReason::Complaint),
            suppression("b@example.ca", SuppressionReason::Bounce)
        ],
        "by address"
    );
    assert!(
        store.suppressions(&b).await.unwrap().is_empty(),
        "another clinic's list"
    );
    assert!(!store.is_suppressed(&b, "a@example.ca").await.unwrap());
    assert!(store.lift_suppression(&a, "A@EXAMPLE.CA").await.unwrap());
    assert!(
        !store.lift_suppression(&a, "a@example.ca").await.unwrap(),
        "lifted already"
    );
    assert!(!store.is_suppressed(&a, "a@example.ca").await.unwrap());
    assert!(store.is_suppressed(&a, "b@example.ca").await.unwrap());
}

/// A sender that learns the patient's address from the appointment it read (the reminder) asks
/// for its suppression with the messages' write: the answer is the list's, for an address in any
/// case, and the messages are recorded either way. Once nothing is left to write, the store may
/// not know, but never answers that a listed address is free.
async fn messages_added_with_an_address_learn_whether_it_is_suppressed<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    store.write_appointment(&write(r.clone(), vec![])).await.unwrap();
    let listed = Suppression {
        address: "listed@example.ca".to_owned(),
        reason: SuppressionReason::Bounce,
        at: t0(),
    };
    store.suppress(&c, &[listed]).await.unwrap();
    let email = MessageRecord::pending(MessageKind::Reminder, Channel::Email, 1, t0());
    let added = store
        .add_messages_checking(&r, std::slice::from_ref(&email), Some("free@example.ca"))
        .await
        .unwrap();
    assert_eq!(
        added,
        Added {
            recorded: vec![email.key.clone()],
            suppressed: Some(("free@example.ca".to_owned(), false)),
        }
    );
    let text = MessageRecord::pending(MessageKind::Reminder, Channel::Sms, 1, t0());
    let added = store
        .add_messages_checking(&r, std::slice::from_ref(&text), Some("listed@example.ca"))
        .await
        .unwrap();
    assert_eq!(
        added,
        Added {
            recorded: vec![text.key.clone()],
            suppressed: Some(("listed@example.ca".to_owned(), true)),
        }
    );
    let again = store
        .add_messages_checking(&r, &[email, text], Some("listed@example.ca"))
        .await
        .unwrap();
    assert!(again.recorded.is_empty(), "{again:?}");
    assert_ne!(again.suppressed, Some(("listed@example.ca".to_owned(), false)));
    assert_eq!(store.messages(&c, &r.id).await.unwrap().len(), 2);
    let newer = AppointmentRecord {
        version: 2,
        ..r.clone()
    };
    let late = MessageRecord::pending(MessageKind::Confirmation, Channel::Email, 2, t0());
    assert!(
        matches!(
            store
                .add_messages_checking(&newer, &[late], Some("listed@example.ca"))
                .await,
            Err(StoreError::Conflict)
        ),
        "only to the version the caller read"
    );
}

/// A text sent in the last microsecond of a month, its provider's price recorded: the month's
/// ledger has the entry with its price, the next month has neither.
async fn a_provider_price_stays_with_its_entry_at_a_month_boundary<S: Store>(store: S) {
    let c = ClinicId::parse("clinic-a").unwrap();
    let r = record(&c, "A1", 1, 1);
    store.write_appointment(&write(r.clone(), Vec::new())).await.unwrap();
    let next_month = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let last = next_month - Duration::microseconds(1);
    text_sent(&store, &r, "k1", "+15145550123", last).await;
    let sent = store.messages(&c, &r.id).await.unwrap().remove(0);
    let price = FeedbackWrite {
        message: MessageAddress {
            clinic_id: c.clone(),
            appointment_id: r.id.clone(),
            key: "k1".to_owned(),
        },
        from: MessageStatus::Sent,
        read_at: sent.at,
        status: MessageStatus::Delivered,
        at: next_month + Duration::minutes(1),
        detail: None,
        event: NewEvent::patient(next_month, r.id.clone(), EventType::MessageDelivered),
        suppress: Vec::new(),
        provider_price_micro_usd: Some(6_450),
    };
    assert!(store.apply_feedback(&price).await.unwrap());
    let december = store
        .ledger_between(&c, next_month - Duration::days(31), next_month)
        .await
        .unwrap();
    assert_eq!(december.len(), 1);
    assert_eq!(december[0].provider_price_micro_usd, Some(6_450));
    let january = store
        .ledger_between(&c, next_month, next_month + Duration::days(31))
        .await
        .unwrap();
    assert!(january.is_empty(), "{january:?}");
}
