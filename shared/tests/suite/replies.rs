//! Patients answering texts (docs/BEHAVIOUR.md §9.1), on the embedded adapters with a manual
//! clock: the keywords act exactly as the link's buttons, outside their windows the patient
//! gets one short answer a day, a number Rappel never texted gets nothing, the latest text to a
//! number decides which appointment a reply is about, and texts invite only open answers.

use chrono::{DateTime, Duration, Utc};
use rappel::domain::*;
use rappel::services::{PatientAction, ReplyOutcome};
use rappel::testing::{appointment, Harness};
use serde_json::Value;

use crate::support::{id, local, now0, t};

/// The patient's number as stored (`514 555-0199` in the test appointments).
const PATIENT: &str = "+15145550199";

/// A clinic that texts and takes replies, lets patients cancel, with type `FU` at `full`.
async fn clinic_taking_replies() -> Harness {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| {
        s.sms_enabled = true;
        s.sms_replies = true;
        s.allow_patient_cancellation = true;
    })
    .await;
    h
}

async fn save(h: &Harness, appointment_id: &str, revision: u64, start: DateTime<Utc>) -> AppointmentRecord {
    h.rappel
        .save_appointment(&h.clinic, id(appointment_id), appointment(revision, start, "FU"))
        .await
        .unwrap()
        .1
}

async fn reply(h: &Harness, text: &str) -> ReplyOutcome {
    h.rappel.text_reply(PATIENT, text).await.unwrap()
}

/// The texts sent so far, as (kind, body).
fn texts(h: &Harness) -> Vec<(String, String)> {
    h.sent()
        .into_iter()
        .filter(|e| e.channel == "sms")
        .map(|e| (e.kind, e.text))
        .collect()
}

/// The texts of `kind` sent so far.
fn texts_of(h: &Harness, kind: &str) -> Vec<String> {
    texts(h)
        .into_iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, t)| t)
        .collect()
}

/// The feed's patient events, as (type, appointment, via).
async fn patient_events(h: &Harness) -> Vec<(String, String, String)> {
    let page = h.rappel.events(&h.clinic, None, Some("500")).await.unwrap();
    page.events
        .iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("patient_")))
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
            (text(&e["type"]), text(&e["appointment_id"]), text(&e["via"]))
        })
        .collect()
}

#[tokio::test]
async fn oui_confirms_once_confirming_opens_and_the_answer_names_the_appointment() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    // Three days ahead, confirming is not open yet: the short answer, with the link and phone.
    assert_eq!(reply(&h, "OUI").await, ReplyOutcome::Helped { answered: true });
    let help = texts_of(&h, "reply_help");
    assert_eq!(help.len(), 1);
    assert!(help[0].contains("jeu. 10 déc. à 14 h"), "{}", help[0]);
    assert!(
        help[0].contains("https://rappel.test/p/") && help[0].contains("514 555-0100"),
        "{}",
        help[0]
    );
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Pending);

    h.advance_to(local(2026, 12, 8, 15, 0)).await; // T − 47 h
    assert_eq!(reply(&h, "  Oui ! ").await, ReplyOutcome::Confirmed);
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Confirmed);
    let receipts = texts_of(&h, "confirmation_receipt");
    assert_eq!(receipts.len(), 1);
    assert!(
        receipts[0].contains("jeu. 10 déc. à 14 h") && receipts[0].contains("confirmée"),
        "{}",
        receipts[0]
    );
    // Again (or the same text delivered twice): nothing more.
    assert_eq!(reply(&h, "oui").await, ReplyOutcome::Confirmed);
    assert_eq!(texts_of(&h, "confirmation_receipt").len(), 1);
    assert_eq!(
        patient_events(&h).await,
        vec![("patient_confirmed".to_owned(), "A1".to_owned(), "sms".to_owned())]
    );
}

#[tokio::test]
async fn annuler_cancels_until_24_hours_before_with_the_links_receipts() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    assert_eq!(reply(&h, "annuler").await, ReplyOutcome::Cancelled);
    let record = h.record("A1").await;
    assert_eq!(record.patient_status, PatientStatus::CancelledByPatient);
    assert!(record.reminders.is_empty());
    assert_eq!(
        h.sent_kinds("email"),
        vec!["confirmation", "cancellation_receipt"],
        "the same receipt as a cancellation by link"
    );
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation", "cancellation_receipt"]);
    assert_eq!(
        patient_events(&h).await,
        vec![("patient_cancelled".to_owned(), "A1".to_owned(), "sms".to_owned())]
    );
    // Repeated: still cancelled, no second receipt.
    assert_eq!(reply(&h, "2").await, ReplyOutcome::Cancelled);
    assert_eq!(h.sent_kinds("sms").len(), 2);

    // Another appointment, inside the last 24 h: cancelling is closed, the short answer comes.
    save(&h, "A2", 1, t() + Duration::days(7)).await;
    h.advance_to(t() + Duration::days(7) - Duration::hours(20)).await;
    assert_eq!(reply(&h, "2").await, ReplyOutcome::Helped { answered: true });
    assert_eq!(h.record("A2").await.patient_status, PatientStatus::Pending);
}

#[tokio::test]
async fn a_clinic_that_does_not_let_patients_cancel_is_not_cancelled_by_text() {
    let mut h = clinic_taking_replies().await;
    h.configure(|s| s.allow_patient_cancellation = false).await;
    save(&h, "A1", 1, t()).await;
    assert_eq!(reply(&h, "ANNULER").await, ReplyOutcome::Helped { answered: true });
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Pending);
}

#[tokio::test]
async fn anything_else_gets_one_short_answer_per_clinic_day() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    assert_eq!(
        reply(&h, "Quelle heure?").await,
        ReplyOutcome::Helped { answered: true }
    );
    assert_eq!(reply(&h, "oui merci").await, ReplyOutcome::Helped { answered: false });
    assert_eq!(reply(&h, "").await, ReplyOutcome::Helped { answered: false });
    assert_eq!(
        reply(&h, &"x".repeat(2000)).await,
        ReplyOutcome::Helped { answered: false }
    );
    assert_eq!(texts_of(&h, "reply_help").len(), 1);
    // 23:30 the same clinic day is still that day; the next morning is another.
    h.advance_to(local(2026, 12, 7, 20, 30)).await;
    assert_eq!(reply(&h, "?").await, ReplyOutcome::Helped { answered: false });
    h.advance_to(local(2026, 12, 8, 9, 0)).await;
    assert_eq!(reply(&h, "?").await, ReplyOutcome::Helped { answered: true });
    assert_eq!(texts_of(&h, "reply_help").len(), 2);
    // Each answer is a text the clinic is billed for.
    let ledger = h.rappel.store.ledger_between(&h.clinic.id, now0(), t()).await.unwrap();
    assert_eq!(ledger.iter().filter(|e| e.kind == MessageKind::ReplyHelp).count(), 2);
}

#[tokio::test]
async fn a_number_rappel_never_texted_gets_nothing() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    let before = h.sent().len();
    for number in ["+15145550123", "not a number", ""] {
        assert_eq!(
            h.rappel.text_reply(number, "OUI").await.unwrap(),
            ReplyOutcome::Unmatched
        );
    }
    assert_eq!(h.sent().len(), before);
}

#[tokio::test]
async fn a_reply_more_than_7_days_after_the_last_text_is_not_matched() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t() + Duration::days(20)).await;
    h.advance(Duration::days(7) + Duration::minutes(1)).await;
    let before = h.sent().len();
    assert_eq!(reply(&h, "OUI").await, ReplyOutcome::Unmatched);
    assert_eq!(h.sent().len(), before);
}

#[tokio::test]
async fn the_latest_text_to_the_number_decides_and_the_answer_says_which() {
    let h = clinic_taking_replies().await;
    h.advance_to(local(2026, 12, 9, 9, 0)).await; // both appointments within 48 h
    save(&h, "A1", 1, t()).await; // Thursday 14:00
    h.advance(Duration::minutes(5)).await;
    save(&h, "A2", 1, local(2026, 12, 10, 16, 30)).await; // Thursday 16:30, texted last
    assert_eq!(reply(&h, "OUI").await, ReplyOutcome::Confirmed);
    assert_eq!(h.record("A2").await.patient_status, PatientStatus::Confirmed);
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Pending);
    let receipt = texts_of(&h, "confirmation_receipt").pop().unwrap();
    assert!(receipt.contains("16 h 30") && !receipt.contains("à 14 h"), "{receipt}");
    // A1 moved: its change text is now the latest, so the next reply is about A1.
    h.advance(Duration::minutes(5)).await;
    save(&h, "A1", 2, local(2026, 12, 10, 15, 0)).await;
    assert_eq!(reply(&h, "oui").await, ReplyOutcome::Confirmed);
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Confirmed);
    let receipt = texts_of(&h, "confirmation_receipt").pop().unwrap();
    assert!(receipt.contains("à 15 h"), "{receipt}");
}

#[tokio::test]
async fn a_reply_after_the_clinic_cancelled_gets_the_short_answer() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    let mut cancelled = appointment(2, t(), "FU");
    cancelled.status = AppointmentStatus::Cancelled;
    h.rappel.save_appointment(&h.clinic, id("A1"), cancelled).await.unwrap();
    h.advance_to(local(2026, 12, 9, 9, 0)).await;
    assert_eq!(reply(&h, "OUI").await, ReplyOutcome::Helped { answered: true });
    assert_eq!(reply(&h, "ANNULER").await, ReplyOutcome::Helped { answered: false });
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Pending);
    assert!(patient_events(&h).await.is_empty());
}

#[tokio::test]
async fn opt_out_words_are_honoured_and_never_invited() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    for (_, body) in texts(&h) {
        let upper = body.to_uppercase();
        let mut words = upper.split(|c: char| !c.is_alphanumeric());
        assert!(
            !words.any(|w| ["STOP", "ARRET", "CANCEL", "END", "QUIT"].contains(&w)),
            "{body}"
        );
    }
    assert_eq!(reply(&h, "Arrêt").await, ReplyOutcome::OptedOut);
    save(&h, "A1", 2, t() + Duration::hours(1)).await;
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation"], "no text after the opt-out");
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "change"], "email goes on");
    let change = h
        .messages("A1")
        .await
        .into_iter()
        .find(|m| m.key == "change:2:sms")
        .unwrap();
    assert_eq!(change.status, MessageStatus::Undeliverable);
}

#[tokio::test]
async fn texts_invite_only_the_answers_open_when_they_go_out() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await; // three days ahead: cancelling open, confirming not yet
    let confirmation = texts_of(&h, "confirmation").pop().unwrap();
    assert!(
        confirmation.contains("Pour annuler, répondez ANNULER."),
        "{confirmation}"
    );
    assert!(!confirmation.contains("OUI"), "{confirmation}");
    h.advance_to(local(2026, 12, 9, 9, 0)).await; // the 36-h reminder: both open
    let reminder = texts_of(&h, "reminder").pop().unwrap();
    assert!(
        reminder.contains("Répondez OUI pour confirmer ou ANNULER pour annuler."),
        "{reminder}"
    );
    assert!(rappel::messages::sms::segments(&reminder).1 <= 2, "{reminder}");
    // Once confirmed, a change inside the last 24 h invites confirming again, not cancelling.
    assert_eq!(reply(&h, "oui").await, ReplyOutcome::Confirmed);
    h.advance_to(local(2026, 12, 9, 16, 0)).await;
    save(&h, "A1", 2, t() + Duration::hours(1)).await;
    let change = texts_of(&h, "change").pop().unwrap();
    assert!(
        change.contains("Répondez OUI pour confirmer.") && !change.contains("ANNULER"),
        "{change}"
    );
}

#[tokio::test]
async fn a_clinic_that_takes_no_replies_invites_none_and_answers_none() {
    let mut h = clinic_taking_replies().await;
    h.configure(|s| s.sms_replies = false).await;
    save(&h, "A1", 1, t()).await;
    let confirmation = texts_of(&h, "confirmation").pop().unwrap();
    assert!(
        !confirmation.contains("répondez") && !confirmation.contains("Répondez"),
        "{confirmation}"
    );
    assert_eq!(reply(&h, "ANNULER").await, ReplyOutcome::NotTaken);
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Pending);
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation"]);
    // Opt-outs are honoured all the same.
    assert_eq!(reply(&h, "STOP").await, ReplyOutcome::OptedOut);
}

#[tokio::test]
async fn a_deployment_without_text_replies_invites_none() {
    let config = rappel::services::Config {
        public_base_url: "https://rappel.test".to_owned(),
        text_replies: false,
        ..Default::default()
    };
    let mut h = Harness::with_config(now0(), config).await;
    h.set_type("FU", Communications::Full).await;
    h.configure(|s| {
        s.sms_enabled = true;
        s.sms_replies = true;
        s.allow_patient_cancellation = true;
    })
    .await;
    save(&h, "A1", 1, t()).await;
    let confirmation = texts_of(&h, "confirmation").pop().unwrap();
    assert!(!confirmation.contains("ANNULER"), "{confirmation}");
    assert_eq!(reply(&h, "ANNULER").await, ReplyOutcome::NotTaken);
}

#[tokio::test]
async fn a_short_answer_at_night_waits_for_the_morning() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    h.advance_to(local(2026, 12, 7, 22, 30)).await;
    assert_eq!(reply(&h, "?").await, ReplyOutcome::Helped { answered: true });
    assert!(texts_of(&h, "reply_help").is_empty(), "quiet hours");
    h.advance_to(local(2026, 12, 8, 8, 30)).await;
    assert_eq!(texts_of(&h, "reply_help").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_racing_the_links_button_leaves_one_consistent_answer() {
    for round in 0..8 {
        let h = clinic_taking_replies().await;
        h.advance_to(local(2026, 12, 8, 15, 0)).await; // confirming and cancelling both open
        let record = save(&h, "A1", 1, t()).await;
        let link = {
            let rappel = h.rappel.clone();
            let token = record.token.clone();
            tokio::spawn(async move { rappel.patient_act(&token, PatientAction::Cancel).await })
        };
        let text = {
            let rappel = h.rappel.clone();
            tokio::spawn(async move { rappel.text_reply(PATIENT, "OUI").await })
        };
        let (link, text) = (link.await.unwrap().unwrap(), text.await.unwrap().unwrap());
        assert_eq!(link, PatientStatus::CancelledByPatient, "round {round}");
        let events = patient_events(&h).await;
        let cancelled = events.iter().filter(|e| e.0 == "patient_cancelled").count();
        assert_eq!(cancelled, 1, "round {round}: {events:?}");
        match text {
            // The text came first: confirmed, then cancelled by the link.
            ReplyOutcome::Confirmed => assert_eq!(events[0].0, "patient_confirmed", "round {round}"),
            // The link came first: confirming a cancelled appointment is refused.
            ReplyOutcome::Helped { answered: true } => assert_eq!(events.len(), 1, "round {round}"),
            other => panic!("round {round}: {other:?}"),
        }
        assert_eq!(h.record("A1").await.patient_status, PatientStatus::CancelledByPatient);
        assert_eq!(texts_of(&h, "cancellation_receipt").len(), 1, "round {round}");
    }
}

#[tokio::test]
async fn link_actions_say_they_came_by_the_link() {
    let h = clinic_taking_replies().await;
    let record = save(&h, "A1", 1, t()).await;
    h.advance_to(local(2026, 12, 8, 15, 0)).await;
    h.rappel
        .patient_act(&record.token, PatientAction::Confirm)
        .await
        .unwrap();
    assert_eq!(
        patient_events(&h).await,
        vec![("patient_confirmed".to_owned(), "A1".to_owned(), "link".to_owned())]
    );
    // A text after the link's confirmation is answered once, like a confirmation by text.
    assert_eq!(reply(&h, "oui").await, ReplyOutcome::Confirmed);
    assert_eq!(reply(&h, "oui").await, ReplyOutcome::Confirmed);
    assert_eq!(texts_of(&h, "confirmation_receipt").len(), 1);
}

// Found by the review of the first version; each failed before its fix.

#[tokio::test]
async fn a_number_the_clinic_replaced_no_longer_acts_on_the_appointment() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await; // texted to +15145550199
    let mut corrected = appointment(2, t(), "FU");
    corrected.patient.mobile = Some(Mobile::parse("514 555-0123").unwrap());
    h.rappel.save_appointment(&h.clinic, id("A1"), corrected).await.unwrap();
    let before = h.sent().len();
    assert_eq!(reply(&h, "ANNULER").await, ReplyOutcome::Unmatched);
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Pending);
    assert_eq!(h.sent().len(), before, "nothing to the old number, nor to the new one");
}

#[tokio::test]
async fn a_reply_delivered_after_a_move_is_not_applied_to_the_new_time() {
    let h = clinic_taking_replies().await;
    h.advance_to(local(2026, 12, 9, 9, 0)).await; // confirming open
    save(&h, "A1", 1, t()).await;
    let sent = h.rappel.clock.now();
    h.advance(Duration::minutes(10)).await;
    save(&h, "A1", 2, t() + Duration::hours(2)).await; // moved after the patient answered
    h.advance(Duration::minutes(10)).await;
    let outcome = h.rappel.text_reply_sent_at(PATIENT, "OUI", sent).await.unwrap();
    assert_eq!(outcome, ReplyOutcome::Helped { answered: true });
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::Pending);
    let help = texts_of(&h, "reply_help").pop().unwrap();
    assert!(help.contains("à 16 h"), "the answer names the time that stands: {help}");
}

#[tokio::test]
async fn a_reply_delivered_after_a_later_text_goes_to_the_appointment_it_answered() {
    let h = clinic_taking_replies().await;
    h.advance_to(local(2026, 12, 8, 9, 0)).await;
    save(&h, "A1", 1, t()).await;
    let sent = h.rappel.clock.now() + Duration::minutes(1);
    h.advance(Duration::minutes(5)).await;
    save(&h, "A2", 1, t() + Duration::days(2)).await; // texted after the reply was sent
    let outcome = h.rappel.text_reply_sent_at(PATIENT, "ANNULER", sent).await.unwrap();
    assert_eq!(outcome, ReplyOutcome::Cancelled);
    assert_eq!(h.record("A1").await.patient_status, PatientStatus::CancelledByPatient);
    assert_eq!(h.record("A2").await.patient_status, PatientStatus::Pending);
    // Sent before any text at all: nothing to answer.
    let before = now0() - Duration::minutes(1);
    let outcome = h.rappel.text_reply_sent_at(PATIENT, "OUI", before).await.unwrap();
    assert_eq!(outcome, ReplyOutcome::Unmatched);
}

#[tokio::test]
async fn the_short_answer_never_invites_confirming_an_appointment_the_clinic_cancelled() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    let mut cancelled = appointment(2, t(), "FU");
    cancelled.status = AppointmentStatus::Cancelled;
    h.rappel.save_appointment(&h.clinic, id("A1"), cancelled).await.unwrap();
    h.advance_to(local(2026, 12, 9, 9, 0)).await; // within 48 h
    assert_eq!(reply(&h, "OUI").await, ReplyOutcome::Helped { answered: true });
    let help = texts_of(&h, "reply_help").pop().unwrap();
    assert!(!help.contains("OUI") && !help.contains("ANNULER"), "{help}");
}

#[tokio::test]
async fn the_daily_short_answer_is_one_whatever_the_revisions_saved_that_day() {
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    assert_eq!(reply(&h, "?").await, ReplyOutcome::Helped { answered: true });
    let mut renamed = appointment(2, t(), "FU");
    renamed.patient.first_name = Text::parse("Juliette").unwrap();
    h.rappel.save_appointment(&h.clinic, id("A1"), renamed).await.unwrap();
    assert_eq!(reply(&h, "?").await, ReplyOutcome::Helped { answered: false });
    assert_eq!(texts_of(&h, "reply_help").len(), 1);
}

#[tokio::test]
async fn every_opt_out_word_stops_texts_start_brings_them_back_and_help_is_the_carriers() {
    for word in ["ARRÊT", "arreter", "Désabonner", "STOPALL", "opt-out"] {
        let h = clinic_taking_replies().await;
        save(&h, "A1", 1, t()).await;
        assert_eq!(reply(&h, word).await, ReplyOutcome::OptedOut, "{word}");
        save(&h, "A1", 2, t() + Duration::hours(1)).await;
        assert_eq!(h.sent_kinds("sms"), vec!["confirmation"], "{word}");
        assert_eq!(reply(&h, "START").await, ReplyOutcome::OptedIn);
        save(&h, "A1", 3, t() + Duration::hours(2)).await;
        assert_eq!(h.sent_kinds("sms"), vec!["confirmation", "change"], "{word}");
    }
    let h = clinic_taking_replies().await;
    save(&h, "A1", 1, t()).await;
    assert_eq!(reply(&h, "HELP").await, ReplyOutcome::CarrierKeyword);
    assert_eq!(
        h.sent_kinds("sms"),
        vec!["confirmation"],
        "the provider answers HELP itself"
    );
}
