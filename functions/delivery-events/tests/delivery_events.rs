//! Every sample in `events/delivery-events/` (SES's events through SNS, SNS's SMS delivery logs
//! through a CloudWatch Logs subscription, as Lambda hands them to `delivery-events`) fed
//! through the function's handler, `Rappel::answer_delivery_event`, on the embedded adapters.

use base64::Engine as _;
use chrono::{TimeZone, Utc};
use rappel::domain::*;
use rappel::formats::delivery::encode_tag;
use rappel::services::{DeliveryOutcome, ServiceError};
use rappel::testing::{appointment, Harness};
use serde_json::Value;
use std::io::{Read as _, Write as _};

fn sample(name: &str) -> Value {
    let path = format!("{}/../../events/delivery-events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

const SES: [&str; 4] = [
    "ses-delivery.json",
    "ses-bounce-permanent.json",
    "ses-bounce-transient.json",
    "ses-complaint.json",
];
const LOGS: [&str; 3] = ["sms-delivered.json", "sms-failed.json", "logs-control.json"];

#[test]
fn the_samples_are_shaped_as_aws_lambda_events_reads_them() {
    for name in SES {
        let event: aws_lambda_events::event::sns::SnsEvent = serde_json::from_value(sample(name)).unwrap();
        let ses: Value = serde_json::from_str(&event.records[0].sns.message).unwrap();
        assert!(ses["mail"]["tags"]["rappel"][0].is_string(), "{name}");
    }
    for name in LOGS {
        // (Its deserializer borrows from the text, as the runtime's does.)
        let text = serde_json::to_string(&sample(name)).unwrap();
        let event: aws_lambda_events::event::cloudwatch_logs::LogsEvent = serde_json::from_str(&text).unwrap();
        assert!(!event.aws_logs.data.log_events.is_empty(), "{name}");
    }
}

/// The SES sample retagged for the harness's clinic and message `key` of `RDV-1`.
fn ses_event(name: &str, clinic: &ClinicId, key: &str) -> Value {
    let text = serde_json::to_string(&sample(name)).unwrap();
    let dev = encode_tag("dev-clinic", "RDV-1", "confirmation:1:email");
    serde_json::from_str(&text.replace(&dev, &encode_tag(clinic.as_str(), "RDV-1", key))).unwrap()
}

/// The SMS log sample with its SNS message id set to `provider_id`, gzipped again.
fn sms_event(name: &str, provider_id: &str) -> Value {
    let event = sample(name);
    let data = event["awslogs"]["data"].as_str().unwrap();
    let compressed = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_string(&mut json)
        .unwrap();
    let json = json
        .replace("SNS-MESSAGE-ID-1", provider_id)
        .replace("SNS-MESSAGE-ID-2", provider_id);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes()).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    serde_json::json!({"awslogs": {"data": data}})
}

/// A clinic that texts, and `RDV-1` (Thursday 2030-01-10 14:00) saved on the Monday before:
/// its confirmation sent by email and text.
async fn confirmed() -> Harness {
    let mut h = Harness::new(Utc.with_ymd_and_hms(2030, 1, 7, 15, 0, 0).unwrap()).await;
    h.set_type("SUIVI", Communications::Full).await;
    h.configure(|s| s.sms_enabled = true).await;
    let mut content = appointment(1, Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap(), "SUIVI");
    content.patient.email = Some(Email::parse("julie@example.ca").unwrap());
    h.rappel
        .save_appointment(&h.clinic, AppointmentId::parse("RDV-1").unwrap(), content)
        .await
        .unwrap();
    h
}

async fn statuses(h: &Harness) -> Vec<(String, &'static str)> {
    let messages = h.messages("RDV-1").await;
    messages.iter().map(|m| (m.key.clone(), m.status.shown())).collect()
}

#[tokio::test]
async fn ses_samples_move_the_email_and_a_complaint_suppresses_the_address() {
    let h = confirmed().await;
    let key = "confirmation:1:email";
    let answer = |name: &'static str| {
        let (rappel, clinic) = (h.rappel.clone(), h.clinic.id.clone());
        async move {
            rappel
                .answer_delivery_event(&ses_event(name, &clinic, key))
                .await
                .unwrap()
                .outcomes
        }
    };
    assert_eq!(
        answer("ses-delivery.json").await,
        vec![DeliveryOutcome::Applied(MessageStatus::Delivered)]
    );
    // Delivered twice (SNS delivers at least once): nothing more.
    assert_eq!(
        answer("ses-delivery.json").await,
        vec![DeliveryOutcome::Ignored("already_final")]
    );
    // A bounce after delivery leaves it delivered; a complaint after delivery applies.
    assert_eq!(
        answer("ses-bounce-transient.json").await,
        vec![DeliveryOutcome::Ignored("already_final")]
    );
    assert_eq!(
        answer("ses-complaint.json").await,
        vec![DeliveryOutcome::Applied(MessageStatus::Complained)]
    );
    assert_eq!(
        answer("ses-delivery.json").await,
        vec![DeliveryOutcome::Ignored("already_final")]
    );
    assert!(statuses(&h).await.contains(&(key.to_owned(), "complained")));
    let list = h.rappel.store.suppressions(&h.clinic.id).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].address.as_str(), list[0].reason),
        ("julie@example.ca", SuppressionReason::Complaint)
    );
    let page = h.rappel.events(&h.clinic, None, Some("100")).await.unwrap();
    let types: Vec<&str> = page.events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| t.starts_with("message_") && **t != "message_sent")
            .collect::<Vec<_>>(),
        vec![&"message_delivered", &"message_complained"]
    );
}

#[tokio::test]
async fn a_permanent_bounce_first_is_final_and_the_transient_one_is_told_apart() {
    let h = confirmed().await;
    let event = ses_event("ses-bounce-permanent.json", &h.clinic.id, "confirmation:1:email");
    let outcomes = h.rappel.answer_delivery_event(&event).await.unwrap().outcomes;
    assert_eq!(outcomes, vec![DeliveryOutcome::Applied(MessageStatus::Bounced)]);
    let page = h.rappel.events(&h.clinic, None, Some("100")).await.unwrap();
    let bounced = page.events.iter().find(|e| e["type"] == "message_bounced").unwrap();
    assert_eq!(
        (bounced["reason"].as_str(), bounced["kind"].as_str()),
        (Some("permanent"), Some("confirmation"))
    );
    // The delivery reported late, out of order, changes nothing.
    let late = ses_event("ses-delivery.json", &h.clinic.id, "confirmation:1:email");
    assert_eq!(
        h.rappel.answer_delivery_event(&late).await.unwrap().outcomes,
        vec![DeliveryOutcome::Ignored("already_final")]
    );
    assert!(h
        .rappel
        .store
        .is_suppressed(&h.clinic.id, "julie@example.ca")
        .await
        .unwrap());

    // A transient bounce on another message: bounced, reason transient, no suppression.
    let h = confirmed().await;
    let event = ses_event("ses-bounce-transient.json", &h.clinic.id, "confirmation:1:email");
    h.rappel.answer_delivery_event(&event).await.unwrap();
    let page = h.rappel.events(&h.clinic, None, Some("100")).await.unwrap();
    let bounced = page.events.iter().find(|e| e["type"] == "message_bounced").unwrap();
    assert_eq!(bounced["reason"], "transient");
    assert!(h.rappel.store.suppressions(&h.clinic.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn sms_log_samples_move_the_text_and_record_the_providers_price() {
    let h = confirmed().await;
    let entry = h
        .rappel
        .store
        .ledger_between(
            &h.clinic.id,
            Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2030, 2, 1, 0, 0, 0).unwrap(),
        )
        .await
        .unwrap()
        .remove(0);
    let report = h
        .rappel
        .answer_delivery_event(&sms_event("sms-delivered.json", &entry.provider_message_id))
        .await
        .unwrap();
    assert_eq!(
        report.outcomes,
        vec![DeliveryOutcome::Applied(MessageStatus::Delivered)]
    );
    let ledger = h.rappel.ledger(&h.clinic, Some("2030-01")).await.unwrap();
    assert_eq!(
        (
            ledger.entries[0].amount_cents,
            ledger.entries[0].provider_price_micro_usd
        ),
        (5, Some(5_810))
    );
    assert!(
        ledger.to_csv().lines().nth(1).unwrap().ends_with(",5,0.005810"),
        "{}",
        ledger.to_csv()
    );
    // The failure log for the same text arrives late: delivered stands.
    let late = sms_event("sms-failed.json", &entry.provider_message_id);
    let report = h.rappel.answer_delivery_event(&late).await.unwrap();
    assert_eq!(report.outcomes, vec![DeliveryOutcome::Ignored("already_final")]);
    // A provider id no text has: retried while the send may not be recorded yet (10 minutes),
    // ignored after. Control messages are skipped without error.
    let unknown = sms_event("sms-failed.json", "nobody");
    assert!(h.rappel.answer_delivery_event(&unknown).await.is_err());
    h.clock.set(Utc.with_ymd_and_hms(2030, 1, 7, 16, 0, 0).unwrap());
    let unknown = h.rappel.answer_delivery_event(&unknown).await.unwrap();
    assert_eq!(unknown.outcomes, vec![DeliveryOutcome::Ignored("unknown_message")]);
    let control = h
        .rappel
        .answer_delivery_event(&sample("logs-control.json"))
        .await
        .unwrap();
    assert_eq!((control.outcomes.len(), control.skipped), (0, 0));
}

#[tokio::test]
async fn a_carriers_failure_is_failed_for_the_emr_and_never_sent_again() {
    let h = confirmed().await;
    let entry = h
        .rappel
        .ledger(&h.clinic, Some("2030-01"))
        .await
        .unwrap()
        .entries
        .remove(0);
    let failed = sms_event("sms-failed.json", &entry.provider_message_id);
    h.rappel.answer_delivery_event(&failed).await.unwrap();
    let page = h.rappel.events(&h.clinic, None, Some("100")).await.unwrap();
    let event = page.events.iter().find(|e| e["type"] == "message_failed").unwrap();
    assert_eq!(
        event["reason"],
        "delivery_failed: Phone is currently unreachable/unavailable"
    );
    assert!(statuses(&h)
        .await
        .contains(&("confirmation:1:sms".to_owned(), "failed")));
    // A later replay of the save finds nothing to send again.
    let mut content = appointment(1, Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap(), "SUIVI");
    content.patient.email = Some(Email::parse("julie@example.ca").unwrap());
    h.rappel
        .save_appointment(&h.clinic, AppointmentId::parse("RDV-1").unwrap(), content)
        .await
        .unwrap();
    assert_eq!(h.sent_kinds("sms"), vec!["confirmation"]);
}

#[tokio::test]
async fn a_store_failure_is_returned_for_lambdas_retry_and_garbage_is_skipped() {
    let h = confirmed().await;
    h.store.failures.store(100, std::sync::atomic::Ordering::SeqCst);
    let event = ses_event("ses-delivery.json", &h.clinic.id, "confirmation:1:email");
    let failed = h.rappel.answer_delivery_event(&event).await;
    assert!(matches!(failed, Err(ServiceError::Unavailable { .. })), "{failed:?}");
    h.store.failures.store(0, std::sync::atomic::Ordering::SeqCst);
    let outcomes = h.rappel.answer_delivery_event(&event).await.unwrap().outcomes;
    assert_eq!(outcomes, vec![DeliveryOutcome::Applied(MessageStatus::Delivered)]);
    // Garbage is skipped, never retried.
    let garbage = h
        .rappel
        .answer_delivery_event(&serde_json::json!({"awslogs": {"data": "%%%"}}))
        .await
        .unwrap();
    assert_eq!(garbage.skipped, 1);
}
