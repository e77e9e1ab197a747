//! What became of a message, as the providers report it to `delivery-events`:
//!
//! - SES publishes the configuration set's events (`Delivery`, `Bounce`, `Complaint`, …) to an
//!   SNS topic, which hands them to the function as a Lambda SNS event whose `Message` is the SES
//!   event. Each email carries the tag `rappel`, which names its message (clinic, appointment,
//!   message key; no personal data), so the event finds it.
//! - SNS writes its SMS delivery status logs to CloudWatch Logs, and a subscription filter hands
//!   them to the function gzipped and base64-encoded (`{"awslogs": {"data": …}}`). A log names
//!   the text by SNS's message id (texts carry no tag SNS would log), which Rappel recorded when
//!   the text was accepted.
//!
//! Only the fields used are read. Nothing read here is logged but ids and types.

use super::sns::{shape_only, SnsEvent, SnsNotification};
use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use std::io::Read as _;

/// The SES tag that names an email's message.
pub const MESSAGE_TAG: &str = "rappel";

/// The largest decompressed CloudWatch Logs payload read (Lambda's own limit on an
/// asynchronous event is 256 KiB compressed; a log batch holds at most 10,000 events of
/// under 2 KiB each).
pub const MAX_LOG_PAYLOAD: u64 = 16 * 1024 * 1024;

/// Which message a report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// Named by the email's tag.
    Tagged {
        /// The clinic.
        clinic: String,
        /// The appointment.
        appointment: String,
        /// The message's key.
        key: String,
    },
    /// Named by the provider's message id (a text).
    ProviderId(String),
}

/// What the provider said became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    /// It reached the patient's mailbox or phone.
    Delivered,
    /// The address bounced: for good (`permanent`), or for now.
    Bounced {
        /// A permanent bounce (the address does not exist); else transient.
        permanent: bool,
    },
    /// The patient marked the email as spam.
    Complained,
    /// The carrier could not deliver the text; the provider's words (no personal data: SNS's
    /// `providerResponse` names the failure, not the number).
    Failed {
        /// Why.
        reason: String,
    },
}

/// One provider report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The message.
    pub message: MessageRef,
    /// What became of it.
    pub feedback: Feedback,
    /// When the provider says it happened.
    pub at: Option<DateTime<Utc>>,
    /// For an email bounce or complaint: the addresses concerned (personal data: for the
    /// suppression list only, never logged).
    pub addresses: Vec<String>,
    /// For a text: what the provider says it cost, in millionths of a US dollar.
    pub provider_price_micro_usd: Option<i64>,
}

/// Why a notification holds no report Rappel reads (no personal data in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Neither an SNS event nor a CloudWatch Logs subscription event.
    #[error("not a delivery event: {0}")]
    NotADeliveryEvent(String),
    /// One notification or log line could not be read.
    #[error("{source_id}: unreadable: {why}")]
    Unreadable {
        /// The SNS message id or log event id.
        source_id: String,
        /// What is wrong, without the content.
        why: String,
    },
    /// An event of a kind Rappel does not act on (`Send`, `Open`, a control message, …), or an
    /// email without Rappel's tag (sent by something else through the same configuration set).
    #[error("{source_id}: ignored: {what}")]
    Ignored {
        /// The SNS message id or log event id.
        source_id: String,
        /// What it was.
        what: String,
    },
}

/// The reports of a `delivery-events` invocation, each read or refused on its own.
pub fn read_event(event: &serde_json::Value) -> Result<Vec<Result<DeliveryReport, DeliveryError>>, DeliveryError> {
    if let Some(data) = event
        .get("awslogs")
        .and_then(|a| a.get("data"))
        .and_then(|d| d.as_str())
    {
        return read_logs(data);
    }
    if event.get("Records").is_some() {
        let sns = SnsEvent::deserialize(event).map_err(|e| DeliveryError::NotADeliveryEvent(shape_only(&e)))?;
        return Ok(sns.records.into_iter().map(|r| read_ses(&r.sns)).collect());
    }
    Err(DeliveryError::NotADeliveryEvent(
        "neither Records (SNS) nor awslogs (CloudWatch Logs)".to_owned(),
    ))
}

/// An SES event (event publishing's `eventType`, or the older notifications' `notificationType`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    notification_type: Option<String>,
    mail: SesMail,
    #[serde(default)]
    bounce: Option<SesBounce>,
    #[serde(default)]
    complaint: Option<SesComplaint>,
    #[serde(default)]
    delivery: Option<SesTimed>,
}

#[derive(Deserialize)]
struct SesMail {
    #[serde(default)]
    tags: std::collections::HashMap<String, Vec<String>>,
    /// The addresses the email was sent to (what Rappel mailed; a bounce's recipients are
    /// what the receiving server reported, which may differ).
    #[serde(default)]
    destination: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesBounce {
    bounce_type: String,
    #[serde(default)]
    bounced_recipients: Vec<SesRecipient>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesComplaint {
    #[serde(default)]
    complained_recipients: Vec<SesRecipient>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesRecipient {
    email_address: String,
}

#[derive(Deserialize)]
struct SesTimed {
    #[serde(default)]
    timestamp: Option<String>,
}

fn read_ses(sns: &SnsNotification) -> Result<DeliveryReport, DeliveryError> {
    let source_id = sns.id_for_logs();
    let unreadable = |why: String| DeliveryError::Unreadable {
        source_id: source_id.clone(),
        why,
    };
    let event: SesEvent = serde_json::from_str(&sns.message).map_err(|e| unreadable(shape_only(&e)))?;
    let kind = event.event_type.or(event.notification_type).unwrap_or_default();
    let ignored = |what: String| DeliveryError::Ignored {
        source_id: source_id.clone(),
        what,
    };
    let message = match event.mail.tags.get(MESSAGE_TAG).and_then(|v| v.first()) {
        Some(tag) => {
            decode_tag(tag).ok_or_else(|| unreadable(format!("the {MESSAGE_TAG} tag does not name a message")))?
        }
        None => return Err(ignored(format!("{} without the {MESSAGE_TAG} tag", kind_name(&kind)))),
    };
    let (feedback, at, mut addresses): (Feedback, Option<String>, Vec<String>) = match kind.as_str() {
        "Delivery" => (
            Feedback::Delivered,
            event.delivery.and_then(|d| d.timestamp),
            Vec::new(),
        ),
        "Bounce" => {
            let bounce = event
                .bounce
                .ok_or_else(|| unreadable("a Bounce without bounce".to_owned()))?;
            let permanent = bounce.bounce_type == "Permanent";
            let addresses = bounce.bounced_recipients.into_iter().map(|r| r.email_address).collect();
            (Feedback::Bounced { permanent }, bounce.timestamp, addresses)
        }
        "Complaint" => {
            let complaint = event
                .complaint
                .ok_or_else(|| unreadable("a Complaint without complaint".to_owned()))?;
            let addresses = complaint
                .complained_recipients
                .into_iter()
                .map(|r| r.email_address)
                .collect();
            (Feedback::Complained, complaint.timestamp, addresses)
        }
        other => return Err(ignored(kind_name(other))),
    };
    if matches!(feedback, Feedback::Bounced { .. } | Feedback::Complained) {
        addresses.extend(event.mail.destination);
        addresses.sort();
        addresses.dedup();
    }
    Ok(DeliveryReport {
        message,
        feedback,
        at: at.as_deref().and_then(parse_instant),
        addresses,
        provider_price_micro_usd: None,
    })
}

/// An event type's name for logs: SES's own names only, anything else summarised.
fn kind_name(kind: &str) -> String {
    const KNOWN: [&str; 10] = [
        "Send",
        "Reject",
        "Open",
        "Click",
        "Rendering Failure",
        "DeliveryDelay",
        "Subscription",
        "Delivery",
        "Bounce",
        "Complaint",
    ];
    if KNOWN.contains(&kind) {
        kind.to_owned()
    } else {
        "an event of another type".to_owned()
    }
}

/// The tag that names an email's message: base64url (no padding) of
/// `clinic \n appointment \n key`, since SES tag values take only letters, digits, `_` and `-`.
pub fn encode_tag(clinic: &str, appointment: &str, key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{clinic}\n{appointment}\n{key}"))
}

/// The message a tag names, if it names one.
pub fn decode_tag(tag: &str) -> Option<MessageRef> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '\n');
    let (clinic, appointment, key) = (parts.next()?, parts.next()?, parts.next()?);
    if [clinic, appointment, key].iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(MessageRef::Tagged {
        clinic: clinic.to_owned(),
        appointment: appointment.to_owned(),
        key: key.to_owned(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsPayload {
    message_type: String,
    #[serde(default)]
    log_events: Vec<LogEvent>,
}

#[derive(Deserialize)]
struct LogEvent {
    #[serde(default)]
    id: String,
    message: String,
}

#[derive(Deserialize)]
struct SmsLog {
    notification: SmsNotification,
    #[serde(default)]
    delivery: SmsDelivery,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsNotification {
    message_id: String,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SmsDelivery {
    #[serde(default, rename = "priceInUSD")]
    price_in_usd: Option<f64>,
    #[serde(default)]
    provider_response: Option<String>,
}

fn read_logs(data: &str) -> Result<Vec<Result<DeliveryReport, DeliveryError>>, DeliveryError> {
    let not_logs = |why: &str| DeliveryError::NotADeliveryEvent(format!("awslogs.data: {why}"));
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| not_logs("not base64"))?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(MAX_LOG_PAYLOAD + 1)
        .read_to_end(&mut json)
        .map_err(|_| not_logs("not gzip"))?;
    if json.len() as u64 > MAX_LOG_PAYLOAD {
        return Err(not_logs("too large"));
    }
    let payload: LogsPayload = serde_json::from_slice(&json).map_err(|e| not_logs(&shape_only(&e)))?;
    if payload.message_type != "DATA_MESSAGE" {
        // CloudWatch Logs checks a new subscription with a CONTROL_MESSAGE.
        return Ok(Vec::new());
    }
    Ok(payload.log_events.into_iter().map(read_sms_log).collect())
}

fn read_sms_log(event: LogEvent) -> Result<DeliveryReport, DeliveryError> {
    let source_id: String = event.id.chars().take(64).collect();
    let log: SmsLog = serde_json::from_str(&event.message).map_err(|e| DeliveryError::Unreadable {
        source_id: source_id.clone(),
        why: shape_only(&e),
    })?;
    let feedback = match log.status.as_str() {
        "SUCCESS" => Feedback::Delivered,
        "FAILURE" => Feedback::Failed {
            reason: provider_words(log.delivery.provider_response.as_deref()),
        },
        _ => {
            return Err(DeliveryError::Ignored {
                source_id,
                what: "a status other than SUCCESS or FAILURE".to_owned(),
            })
        }
    };
    let price = log
        .delivery
        .price_in_usd
        .filter(|p| p.is_finite() && *p >= 0.0 && *p < 1_000.0)
        .map(|p| (p * 1_000_000.0).round() as i64);
    Ok(DeliveryReport {
        message: MessageRef::ProviderId(log.notification.message_id.chars().take(128).collect()),
        feedback,
        at: log.notification.timestamp.as_deref().and_then(parse_instant),
        addresses: Vec::new(),
        provider_price_micro_usd: price,
    })
}

/// The carrier's reason, kept to a short line of plain characters: it names the failure
/// ("Phone is currently unreachable/unavailable"), never the number, but is cut and cleaned all
/// the same, since it is stored and shown to the EMR.
fn provider_words(response: Option<&str>) -> String {
    let words: String = response
        .unwrap_or("no reason given")
        .chars()
        .filter(|c| !c.is_control() && !c.is_ascii_digit())
        .take(120)
        .collect();
    words.trim().to_owned()
}

/// RFC 3339, or SNS's `2016-06-28 00:40:34.558` (UTC).
fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> serde_json::Value {
        let path = format!("{}/../events/delivery-events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn one(name: &str) -> DeliveryReport {
        let mut reports = read_event(&sample(name)).unwrap();
        assert_eq!(reports.len(), 1, "{name}");
        reports.remove(0).unwrap()
    }

    #[test]
    fn ses_events_name_their_message_by_its_tag() {
        let tagged = MessageRef::Tagged {
            clinic: "dev-clinic".to_owned(),
            appointment: "RDV-1".to_owned(),
            key: "confirmation:1:email".to_owned(),
        };
        let delivery = one("ses-delivery.json");
        assert_eq!(
            (delivery.message.clone(), delivery.feedback),
            (tagged.clone(), Feedback::Delivered)
        );
        assert_eq!(delivery.at, Some("2030-01-07T15:00:03.133Z".parse().unwrap()));
        assert!(delivery.addresses.is_empty());
        let bounce = one("ses-bounce-permanent.json");
        assert_eq!(bounce.feedback, Feedback::Bounced { permanent: true });
        assert_eq!(bounce.addresses, vec!["julie@example.ca"]);
        assert_eq!(
            one("ses-bounce-transient.json").feedback,
            Feedback::Bounced { permanent: false }
        );
        let complaint = one("ses-complaint.json");
        assert_eq!((complaint.message, complaint.feedback), (tagged, Feedback::Complained));
        assert_eq!(complaint.addresses, vec!["julie@example.ca"]);
    }

    #[test]
    fn sms_logs_name_their_text_by_the_provider_id_and_carry_its_price() {
        let delivered = one("sms-delivered.json");
        assert_eq!(delivered.message, MessageRef::ProviderId("SNS-MESSAGE-ID-1".to_owned()));
        assert_eq!(delivered.feedback, Feedback::Delivered);
        assert_eq!(delivered.provider_price_micro_usd, Some(5_810));
        assert_eq!(delivered.at, Some("2030-01-07T15:00:01.558Z".parse().unwrap()));
        let failed = one("sms-failed.json");
        assert_eq!(
            failed.feedback,
            Feedback::Failed {
                reason: "Phone is currently unreachable/unavailable".to_owned()
            }
        );
        assert!(read_event(&sample("logs-control.json")).unwrap().is_empty());
    }

    #[test]
    fn what_is_not_a_report_is_refused_without_quoting_it() {
        for event in [
            serde_json::json!({"awslogs": {"data": "not base64 +15145550123"}}),
            serde_json::json!({"awslogs": {"data": "aGVsbG8="}}),
            serde_json::json!({"detail-type": "julie@example.ca"}),
            serde_json::json!({"Records": "julie@example.ca"}),
        ] {
            let why = read_event(&event).unwrap_err().to_string();
            assert!(!why.contains("julie") && !why.contains("5145550123"), "{why}");
        }
        let mut event = sample("ses-delivery.json");
        let message = event["Records"][0]["Sns"]["Message"].as_str().unwrap().to_owned();
        event["Records"][0]["Sns"]["Message"] = message.replace("\"Delivery\"", "\"Open\"").into();
        assert!(matches!(
            read_event(&event).unwrap()[0],
            Err(DeliveryError::Ignored { .. })
        ));
        event["Records"][0]["Sns"]["Message"] = message.replace("\"rappel\":", "\"other\":").into();
        assert!(matches!(
            read_event(&event).unwrap()[0],
            Err(DeliveryError::Ignored { .. })
        ));
        event["Records"][0]["Sns"]["Message"] = "julie@example.ca".into();
        let why = read_event(&event).unwrap()[0].clone().unwrap_err().to_string();
        assert!(!why.contains("julie"), "{why}");
    }

    #[test]
    fn a_tag_names_any_message_and_nothing_else() {
        let key = "reply_help@2026-12-01:sms";
        let tag = encode_tag("clinic-1", "RDV.1_a-b", key);
        assert!(
            tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{tag}"
        );
        assert_eq!(
            decode_tag(&tag),
            Some(MessageRef::Tagged {
                clinic: "clinic-1".to_owned(),
                appointment: "RDV.1_a-b".to_owned(),
                key: key.to_owned()
            })
        );
        for bad in ["", "!!", &encode_tag("a", "", "k"), "YWJj"] {
            assert_eq!(decode_tag(bad), None, "{bad}");
        }
    }
}
