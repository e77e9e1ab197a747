//! Several reminders per type (a week, 36 h and a 2-h text before): each planned, replanned on a
//! move, removed on cancel and fired once, on the embedded adapters with a manual clock.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use rappel::domain::*;
use rappel::ports::ScheduleKind;
use rappel::testing::{appointment, appointment_json, Harness};
use serde_json::json;

use crate::http::Api;
use crate::support::{id, local, now0};

fn offset(text: &str) -> ReminderOffset {
    ReminderOffset::parse(text).unwrap()
}

/// A clinic that texts, with type `PROC`: reminders a week before (both channels), 36 h before
/// (both) and 2 h before (text only).
async fn clinic_with_three_reminders() -> Harness {
    let mut h = Harness::new(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    let settings: TypeSettings = serde_json::from_value(json!({
        "communications": "full",
        "reminders": [{"before": "7d"}, {"before": "36h"}, {"before": "2h", "channels": ["sms"]}]
    }))
    .unwrap();
    h.rappel
        .put_appointment_type(&h.clinic, TypeCode::parse("PROC").unwrap(), settings)
        .await
        .unwrap();
    h
}

/// Thursday 2026-12-17 14:00 local, ten days after `now0`.
fn t10() -> DateTime<Utc> {
    local(2026, 12, 17, 14, 0)
}

async fn save(h: &Harness, revision: u64, start: DateTime<Utc>, status: &str) -> AppointmentRecord {
    let mut content = appointment(revision, start, "PROC");
    if status == "cancelled" {
        content.status = AppointmentStatus::Cancelled;
    }
    h.rappel.save_appointment(&h.clinic, id("R1"), content).await.unwrap().1
}

/// The reminder schedules pending, as (offset, due, revision).
fn reminder_schedules(h: &Harness) -> Vec<(ReminderOffset, DateTime<Utc>, u64)> {
    let mut found: Vec<_> = h
        .scheduler
        .pending()
        .unwrap()
        .into_iter()
        .filter(|s| s.payload.kind == ScheduleKind::Reminder)
        .map(|s| {
            (
                s.payload.before.unwrap_or(ReminderOffset::DEFAULT),
                s.at,
                s.payload.revision,
            )
        })
        .collect();
    found.sort();
    found
}

/// The reminder messages sent, as (key, channel).
async fn reminders_sent(h: &Harness) -> Vec<(String, String)> {
    let mut messages: Vec<_> = h
        .messages("R1")
        .await
        .into_iter()
        .filter(|m| m.kind == MessageKind::Reminder && m.status == MessageStatus::Sent)
        .map(|m| (m.key, m.channel.as_str().to_owned()))
        .collect();
    messages.sort();
    messages
}

#[tokio::test]
async fn three_reminders_are_planned_each_at_its_own_time_and_each_fires_once() {
    let h = clinic_with_three_reminders().await;
    let record = save(&h, 1, t10(), "booked").await;
    // 7 d: Thursday the 10th at 14:00. 36 h: 02:00 on the 16th is quiet; 20:59 on the 15th is
    // nearer than 08:00. 2 h: 12:00 on the day.
    let expected = [
        (offset("7d"), local(2026, 12, 10, 14, 0)),
        (offset("36h"), local(2026, 12, 15, 20, 59)),
        (offset("2h"), local(2026, 12, 17, 12, 0)),
    ];
    let planned: Vec<_> = record.reminders.iter().map(|r| (r.before, r.at)).collect();
    assert_eq!(planned, expected);
    assert_eq!(
        reminder_schedules(&h),
        {
            let mut s: Vec<_> = expected.iter().map(|(b, at)| (*b, *at, 1)).collect();
            s.sort();
            s
        },
        "one schedule per reminder"
    );
    let view = serde_json::to_value(h.rappel.appointment_view(&h.clinic, &id("R1")).await.unwrap()).unwrap();
    assert_eq!(view["reminder_at"], "2026-12-10T14:00:00-05:00", "the next one due");
    assert_eq!(
        view["reminders"],
        json!([
            {"before": "7d", "at": "2026-12-10T14:00:00-05:00", "status": "planned"},
            {"before": "36h", "at": "2026-12-15T20:59:00-05:00", "status": "planned"},
            {"before": "2h", "at": "2026-12-17T12:00:00-05:00", "status": "planned"},
        ])
    );

    h.advance_to(local(2026, 12, 10, 15, 0)).await;
    assert_eq!(
        reminders_sent(&h).await,
        [
            ("reminder-7d:1:email".into(), "email".into()),
            ("reminder-7d:1:sms".into(), "sms".into())
        ]
    );
    let view = serde_json::to_value(h.rappel.appointment_view(&h.clinic, &id("R1")).await.unwrap()).unwrap();
    assert_eq!(view["reminders"][0]["status"], "sent");
    assert_eq!(view["reminders"][1]["status"], "planned");
    assert_eq!(view["reminder_at"], "2026-12-15T20:59:00-05:00");

    h.advance_to(t10() - Duration::minutes(30)).await;
    h.advance_to(t10() + Duration::hours(1)).await;
    assert_eq!(
        reminders_sent(&h).await,
        [
            ("reminder-2h:1:sms".into(), "sms".into()),
            ("reminder-7d:1:email".into(), "email".into()),
            ("reminder-7d:1:sms".into(), "sms".into()),
            ("reminder:1:email".into(), "email".into()),
            ("reminder:1:sms".into(), "sms".into()),
        ],
        "the 2-h reminder is a text only"
    );
    assert_eq!(h.sent_kinds("email").iter().filter(|k| *k == "reminder").count(), 2);
    assert_eq!(h.sent_kinds("sms").iter().filter(|k| *k == "reminder").count(), 3);
    // A week ahead confirming is not open yet: that reminder does not ask; the later ones do.
    let sent = h.sent();
    let texts: Vec<&str> = sent
        .iter()
        .filter(|m| m.kind == "reminder" && m.channel == "sms")
        .map(|m| m.text.as_str())
        .collect();
    assert!(
        !texts[0].contains("confirmer") && texts[0].contains("Détails"),
        "{}",
        texts[0]
    );
    assert!(texts[1].contains("Merci de confirmer") && texts[2].contains("Merci de confirmer"));
    let emails: Vec<&str> = sent
        .iter()
        .filter(|m| m.kind == "reminder" && m.channel == "email")
        .map(|m| m.text.as_str())
        .collect();
    assert!(!emails[0].contains("Merci de confirmer"), "{}", emails[0]);
    assert!(emails[1].contains("Merci de confirmer"), "{}", emails[1]);

    // Each reminder's messages and events say which reminder they are.
    let page = h.rappel.events(&h.clinic, None, Some("100")).await.unwrap();
    let events = serde_json::to_value(page).unwrap();
    let befores: Vec<_> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "reminder")
        .map(|e| e["before"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(befores.iter().filter(|b| *b == "7d").count(), 2);
    assert_eq!(befores.iter().filter(|b| *b == "36h").count(), 2);
    assert_eq!(befores.iter().filter(|b| *b == "2h").count(), 1);
    assert!(events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] != "reminder")
        .all(|e| e.get("before").is_none()));

    // A repeated delivery of each schedule sends nothing more.
    for (before, _) in expected {
        let payload = rappel::ports::SchedulePayload {
            clinic_id: h.clinic.id.clone(),
            appointment_id: id("R1"),
            revision: 1,
            kind: ScheduleKind::Reminder,
            type_code: None,
            before: (before != ReminderOffset::DEFAULT).then_some(before),
        };
        h.rappel.fire(&payload).await.unwrap();
    }
    assert_eq!(reminders_sent(&h).await.len(), 5);
    assert_eq!(h.sent().iter().filter(|m| m.kind == "reminder").count(), 5);
}

#[tokio::test]
async fn a_move_replans_every_reminder_and_one_whose_time_has_passed_is_dropped() {
    let h = clinic_with_three_reminders().await;
    save(&h, 1, t10(), "booked").await;
    // A save that moves nothing keeps each reminder as planned (revision 1, same schedules).
    let schedules = reminder_schedules(&h);
    let mut renamed = appointment(2, t10(), "PROC");
    renamed.patient.last_name = Text::parse("Roy-Tremblay").unwrap();
    let (_, record) = h.rappel.save_appointment(&h.clinic, id("R1"), renamed).await.unwrap();
    assert!(
        record.reminders.iter().all(|r| r.revision == 1),
        "{:?}",
        record.reminders
    );
    assert_eq!(reminder_schedules(&h), schedules);
    // The week-before reminder goes out on the 10th.
    h.advance_to(local(2026, 12, 10, 15, 0)).await;
    assert_eq!(reminders_sent(&h).await.len(), 2);

    // Moved four days later, across the week reminder's new time: all three are planned again
    // for the new date, the week one too (on the 14th).
    let later = local(2026, 12, 21, 14, 0);
    let record = save(&h, 3, later, "booked").await;
    let planned: Vec<_> = record.reminders.iter().map(|r| (r.before, r.at, r.revision)).collect();
    assert_eq!(
        planned,
        [
            (offset("7d"), local(2026, 12, 14, 14, 0), 3),
            (offset("36h"), local(2026, 12, 19, 20, 59), 3),
            (offset("2h"), local(2026, 12, 21, 12, 0), 3),
        ]
    );
    assert_eq!(reminder_schedules(&h).len(), 3, "moved in place, not added");

    // Moved to two days from now: a week before is past (dropped, its schedule deleted); 36 h
    // before is 02:00 on the 11th, so 20:59 tonight.
    let soon = local(2026, 12, 12, 14, 0);
    let record = save(&h, 4, soon, "booked").await;
    let planned: Vec<_> = record.reminders.iter().map(|r| (r.before, r.at)).collect();
    assert_eq!(
        planned,
        [
            (offset("36h"), local(2026, 12, 10, 20, 59)),
            (offset("2h"), local(2026, 12, 12, 12, 0))
        ]
    );
    let schedules = reminder_schedules(&h);
    assert_eq!(
        schedules.iter().map(|(b, _, r)| (*b, *r)).collect::<Vec<_>>(),
        [(offset("2h"), 4), (offset("36h"), 4)]
    );
    h.advance_to(soon + Duration::hours(1)).await;
    assert_eq!(
        reminders_sent(&h).await,
        [
            ("reminder-2h:4:sms".into(), "sms".into()),
            ("reminder-7d:1:email".into(), "email".into()),
            ("reminder-7d:1:sms".into(), "sms".into()),
            ("reminder:4:email".into(), "email".into()),
            ("reminder:4:sms".into(), "sms".into()),
        ],
        "nothing for revision 3; the week reminder of revision 1 stays sent once"
    );
}

#[tokio::test]
async fn a_cancellation_removes_every_reminder() {
    let h = clinic_with_three_reminders().await;
    save(&h, 1, t10(), "booked").await;
    assert_eq!(reminder_schedules(&h).len(), 3);
    let record = save(&h, 2, t10(), "cancelled").await;
    assert!(record.reminders.is_empty());
    assert!(reminder_schedules(&h).is_empty());
    h.advance_to(t10() + Duration::hours(1)).await;
    assert!(reminders_sent(&h).await.is_empty());
    assert!(h.sent().iter().all(|m| m.kind != "reminder"));
}

#[tokio::test]
async fn reminders_already_past_at_save_are_not_planned() {
    let h = clinic_with_three_reminders().await;
    // Three days ahead: a week before is past.
    let record = save(&h, 1, local(2026, 12, 10, 14, 0), "booked").await;
    let befores: Vec<_> = record.reminders.iter().map(|r| r.before).collect();
    assert_eq!(befores, [offset("36h"), offset("2h")]);
    // A type whose list leaves out the 36-h reminder plans none of it; `notices` plans none,
    // whatever its list.
    for (settings, appointment_id, expected) in [
        (
            json!({"communications": "full", "reminders": [{"before": "3d"}]}),
            "R2",
            vec![offset("3d")],
        ),
        (
            json!({"communications": "notices", "reminders": [{"before": "3d"}]}),
            "R3",
            vec![],
        ),
    ] {
        let settings: TypeSettings = serde_json::from_value(settings).unwrap();
        h.rappel
            .put_appointment_type(&h.clinic, TypeCode::parse("PROC").unwrap(), settings)
            .await
            .unwrap();
        let (_, record) = h
            .rappel
            .save_appointment(&h.clinic, id(appointment_id), appointment(1, t10(), "PROC"))
            .await
            .unwrap();
        assert_eq!(record.reminders.iter().map(|r| r.before).collect::<Vec<_>>(), expected);
    }
}

#[tokio::test]
async fn bad_reminder_lists_are_refused_naming_the_field() {
    let api = Api::over(Harness::new(now0()).await);
    for (reminders, field) in [
        (json!([{"before": "36"}]), "reminders[0].before"),
        (json!([{"before": "3w"}]), "reminders[0].before"),
        (json!([{"before": "30m"}]), "reminders[0].before"),
        (json!([{"before": "15d"}]), "reminders[0].before"),
        (json!([{"before": "1d"}, {"before": "24h"}]), "reminders[1].before"),
        (json!([{"before": "2h", "channels": []}]), "reminders[0].channels"),
        (json!([{"before": "2h", "channels": ["fax"]}]), "reminders[0].channels"),
        (json!([{"before": "2h", "when": "soon"}]), "reminders[0]"),
    ] {
        let answer = api
            .put(
                "/v1/appointment-types/PROC",
                &json!({"communications": "full", "reminders": reminders}),
            )
            .await;
        let (status, _, named) = answer.error_field();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reminders}");
        assert!(
            named.as_deref().is_some_and(|f| f.starts_with(field)),
            "{reminders}: {named:?}"
        );
    }
    assert_eq!(
        api.get("/v1/appointment-types").await.json()["appointment_types"],
        json!([]),
        "nothing stored"
    );
    // A good list reads back with offsets written in their largest unit.
    let put = api
        .put(
            "/v1/appointment-types/PROC",
            &json!({"communications": "full", "reminders": [{"before": "168h"}, {"before": "120m", "channels": ["sms"]}]}),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());
    assert_eq!(
        put.json()["reminders"],
        json!([{"before": "7d"}, {"before": "2h", "channels": ["sms"]}])
    );
    let saved = api
        .put(
            "/v1/appointments/R1",
            &appointment_json(1, local(2026, 12, 17, 14, 0), "PROC"),
        )
        .await;
    assert_eq!(saved.json()["reminders"][0]["before"], "7d");
}

#[tokio::test]
async fn a_reminder_delivered_in_quiet_hours_waits_under_a_name_of_its_own() {
    let h = clinic_with_three_reminders().await;
    save(&h, 1, t10(), "booked").await;
    // The week reminder's window is Dec 10 02:00 to Dec 11 02:00; a delivery at 03:00 (quiet)
    // waits for 08:00.
    h.advance_to(local(2026, 12, 10, 3, 0)).await;
    let week = rappel::ports::SchedulePayload {
        clinic_id: h.clinic.id.clone(),
        appointment_id: id("R1"),
        revision: 1,
        kind: ScheduleKind::Reminder,
        type_code: None,
        before: Some(offset("7d")),
    };
    let outcome = h.rappel.fire(&week).await.unwrap();
    assert_eq!(
        outcome,
        rappel::services::ReminderOutcome::Deferred(local(2026, 12, 10, 8, 0))
    );
    let deferred: Vec<_> = h
        .scheduler
        .pending()
        .unwrap()
        .into_iter()
        .filter(|s| s.name.starts_with("rappel-later"))
        .collect();
    assert_eq!(deferred.len(), 1);
    assert_eq!(
        (deferred[0].at, deferred[0].payload.before),
        (local(2026, 12, 10, 8, 0), Some(offset("7d")))
    );
    // At 08:00 it goes; its own schedule at 14:00 then finds it sent.
    h.advance_to(local(2026, 12, 10, 15, 0)).await;
    assert_eq!(
        reminders_sent(&h).await,
        [
            ("reminder-7d:1:email".into(), "email".into()),
            ("reminder-7d:1:sms".into(), "sms".into())
        ]
    );
    let sent: Vec<_> = h.sent().into_iter().filter(|m| m.kind == "reminder").collect();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter().all(|m| m.at.starts_with("2026-12-10T13:00:00")),
        "08:00 local: {sent:?}"
    );
}

#[tokio::test]
async fn a_reminder_that_kept_failing_is_dropped_once_its_window_is_over() {
    let h = clinic_with_three_reminders().await;
    save(&h, 1, t10(), "booked").await;
    // Every email fails from here until after the week reminder's window (Dec 10 02:00 to Dec 11
    // 02:00); its text goes.
    h.mailer.failures.store(1_000_000, std::sync::atomic::Ordering::SeqCst);
    h.advance_to(local(2026, 12, 11, 3, 0)).await;
    h.mailer.failures.store(0, std::sync::atomic::Ordering::SeqCst);
    // The retries that come after, and a later save, do not send it days late.
    h.advance_to(local(2026, 12, 11, 9, 0)).await;
    let mut content = appointment(2, t10(), "PROC");
    content.patient.last_name = Text::parse("Roy-Tremblay").unwrap();
    h.rappel.save_appointment(&h.clinic, id("R1"), content).await.unwrap();
    assert_eq!(
        reminders_sent(&h).await,
        [("reminder-7d:1:sms".into(), "sms".into())],
        "the text only"
    );
    let messages = h.messages("R1").await;
    let email = messages.iter().find(|m| m.key == "reminder-7d:1:email").unwrap();
    assert_eq!(email.status, MessageStatus::Dropped, "{email:?}");
    assert!(h.sent().iter().all(|m| !(m.kind == "reminder" && m.channel == "email")));
}

#[tokio::test]
async fn a_reminder_after_the_patient_confirmed_does_not_ask_again() {
    let h = Harness::with_standard_types(now0()).await;
    let (_, record) = h
        .rappel
        .save_appointment(&h.clinic, id("C1"), appointment(1, crate::support::t(), "FU"))
        .await
        .unwrap();
    // Confirming opens at T − 48 h (Tuesday 14:00); the reminder is at 20:59 that evening.
    h.advance_to(local(2026, 12, 8, 15, 0)).await;
    let status = h
        .rappel
        .patient_act(&record.token, rappel::services::PatientAction::Confirm)
        .await
        .unwrap();
    assert_eq!(status, PatientStatus::Confirmed);
    h.advance_to(local(2026, 12, 9, 9, 0)).await;
    let reminder = h
        .sent()
        .into_iter()
        .find(|m| m.kind == "reminder")
        .expect("the reminder");
    assert!(!reminder.text.contains("Merci de confirmer"), "{}", reminder.text);
    assert!(!reminder.html.unwrap().contains("Merci de confirmer"));
}
