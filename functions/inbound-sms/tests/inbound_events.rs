//! Every sample in `events/inbound-sms/` (SNS notifications of the two-way number's inbound
//! texts, as Lambda hands them to `inbound-sms`) fed through the function's handler,
//! `Rappel::answer_inbound_event`, on the embedded adapters.

use chrono::{TimeZone, Utc};
use rappel::domain::*;
use rappel::services::{InboundReport, ReplyOutcome};
use rappel::testing::{appointment, Harness};

fn sample(name: &str) -> serde_json::Value {
    let path = format!("{}/../../events/inbound-sms/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

const SAMPLES: [&str; 5] = [
    "oui.json",
    "annuler.json",
    "question.json",
    "stop.json",
    "malformed.json",
];

#[test]
fn the_samples_are_sns_events_as_aws_lambda_events_reads_them() {
    for name in SAMPLES {
        let event: aws_lambda_events::event::sns::SnsEvent = serde_json::from_value(sample(name)).unwrap();
        assert_eq!(event.records[0].event_source, "aws:sns", "{name}");
        assert_eq!(event.records[0].sns.sns_message_type, "Notification", "{name}");
    }
}

fn outcomes(report: InboundReport) -> (Vec<ReplyOutcome>, usize) {
    (report.outcomes, report.unreadable)
}

/// A clinic taking replies, and the sample patient's appointment (`RDV-1`, Thursday
/// 2030-01-10 14:00 in Toronto, texted to +15145550123), the day before at 09:00.
async fn texted_patient(allow_cancellation: bool) -> Harness {
    let mut h = Harness::new(Utc.with_ymd_and_hms(2030, 1, 9, 14, 0, 0).unwrap()).await;
    h.set_type("SUIVI", Communications::Full).await;
    h.configure(|s| {
        s.sms_enabled = true;
        s.sms_replies = true;
        s.allow_patient_cancellation = allow_cancellation;
    })
    .await;
    let start = Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap();
    let mut content = appointment(1, start, "SUIVI");
    content.patient.mobile = Some(Mobile::parse("514 555-0123").unwrap());
    h.rappel
        .save_appointment(&h.clinic, AppointmentId::parse("RDV-1").unwrap(), content)
        .await
        .unwrap();
    h
}

#[tokio::test]
async fn each_sample_runs_through_the_handler() {
    let h = texted_patient(true).await;
    let answer = |name: &'static str| {
        let rappel = h.rappel.clone();
        async move { outcomes(rappel.answer_inbound_event(&sample(name)).await.unwrap()) }
    };
    assert_eq!(
        answer("question.json").await,
        (vec![ReplyOutcome::Helped { answered: true }], 0)
    );
    assert_eq!(answer("oui.json").await, (vec![ReplyOutcome::Confirmed], 0));
    // SNS delivers at least once: the same notification again changes nothing.
    assert_eq!(answer("oui.json").await, (vec![ReplyOutcome::Confirmed], 0));
    assert_eq!(
        h.sent_kinds("sms"),
        vec!["confirmation", "reply_help", "confirmation_receipt"]
    );
    assert_eq!(answer("malformed.json").await, (Vec::new(), 1));

    h.clock.set(Utc.with_ymd_and_hms(2030, 1, 9, 20, 0, 0).unwrap()); // 15:00, T − 23 h
                                                                      // Inside the last 24 h: cancelling is closed; the short answer went today already.
    assert_eq!(
        answer("annuler.json").await,
        (vec![ReplyOutcome::Helped { answered: false }], 0)
    );
    assert_eq!(answer("stop.json").await, (vec![ReplyOutcome::OptedOut], 0));
    let record = h
        .rappel
        .store
        .appointment(&h.clinic.id, &AppointmentId::parse("RDV-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.patient_status, PatientStatus::Confirmed);

    // Not an SNS event at all: skipped, not retried.
    let report = h
        .rappel
        .answer_inbound_event(&serde_json::json!({"detail": {}}))
        .await
        .unwrap();
    assert_eq!(outcomes(report), (Vec::new(), 1));
}

#[tokio::test]
async fn a_store_failure_is_returned_so_lambda_retries_and_the_retry_takes_it_once() {
    let h = texted_patient(false).await;
    h.store.failures.store(100, std::sync::atomic::Ordering::SeqCst);
    let failed = h.rappel.answer_inbound_event(&sample("oui.json")).await;
    assert!(
        matches!(failed, Err(rappel::services::ServiceError::Unavailable { .. })),
        "{failed:?}"
    );
    h.store.failures.store(0, std::sync::atomic::Ordering::SeqCst);
    let report = h.rappel.answer_inbound_event(&sample("oui.json")).await.unwrap();
    assert_eq!(report.outcomes, vec![ReplyOutcome::Confirmed]);
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation", "confirmation_receipt"]);
}
