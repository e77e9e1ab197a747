//! Patients' texts as AWS delivers them: the two-way number publishes each inbound text to an
//! SNS topic as a JSON document (`originationNumber`, `destinationNumber`, `messageBody`, …),
//! and SNS hands the topic's notifications to `inbound-sms` as a Lambda SNS event
//! (`Records[].Sns.Message` holding that document). Only the fields used are read.

use super::sns::{shape_only, SnsEvent, SnsNotification};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The longest notification body read (an SNS message is at most 256 KiB; a text's document
/// is well under 2 KiB).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// One text a patient sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundText {
    /// The patient's number, as the provider gives it (E.164).
    pub from: String,
    /// The words (personal data: never logged).
    pub body: String,
    /// The provider's id of the inbound text, for logs.
    pub id: Option<String>,
    /// When SNS published it (the notification's `Timestamp`), when readable: a retried or
    /// late delivery is judged as of then.
    pub sent_at: Option<DateTime<Utc>>,
}

/// Why a notification holds no text Rappel can read (no personal data in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// The Lambda event is not an SNS event.
    #[error("not an SNS event: {0}")]
    NotAnSnsEvent(String),
    /// A notification's message is not an inbound text document.
    #[error("notification {notification}: not an inbound text: {why}")]
    NotAText {
        /// The SNS message id.
        notification: String,
        /// What is wrong, without the content.
        why: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TextDocument {
    origination_number: String,
    message_body: String,
    #[serde(default)]
    inbound_message_id: Option<String>,
}

/// The texts of a Lambda SNS event, each read or refused on its own: one bad notification does
/// not lose the others.
pub fn read_sns_event(event: &serde_json::Value) -> Result<Vec<Result<InboundText, InboundError>>, InboundError> {
    let event = SnsEvent::deserialize(event).map_err(|e| InboundError::NotAnSnsEvent(shape_only(&e)))?;
    Ok(event.records.into_iter().map(|r| read_notification(r.sns)).collect())
}

fn read_notification(sns: SnsNotification) -> Result<InboundText, InboundError> {
    let refuse = |why: String| InboundError::NotAText {
        notification: sns.id_for_logs(),
        why,
    };
    if sns.message.len() > MAX_MESSAGE_BYTES {
        return Err(refuse(format!("longer than {MAX_MESSAGE_BYTES} bytes")));
    }
    let document: TextDocument = serde_json::from_str(&sns.message).map_err(|e| refuse(shape_only(&e)))?;
    if document.origination_number.trim().is_empty() {
        return Err(refuse("no originationNumber".to_owned()));
    }
    let sent_at = sns
        .timestamp
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    Ok(InboundText {
        from: document.origination_number,
        body: document.message_body,
        id: document.inbound_message_id.map(|id| id.chars().take(64).collect()),
        sent_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(messages: &[&str]) -> serde_json::Value {
        let records: Vec<_> = messages
            .iter()
            .enumerate()
            .map(|(n, m)| {
                json!({"EventSource": "aws:sns",
                       "Sns": {"MessageId": format!("m{n}"), "Message": m, "Timestamp": "2030-01-09T14:05:12.345Z"}})
            })
            .collect();
        json!({ "Records": records })
    }

    #[test]
    fn a_text_document_is_read_and_a_bad_one_refused_alone() {
        let good = r#"{"originationNumber":"+15145550123","destinationNumber":"+14385550100","messageKeyword":"KEYWORD_123456789012","messageBody":"Oui","inboundMessageId":"cae173d2","previousPublishedMessageId":"wJalrXUtnFEMI"}"#;
        let texts = read_sns_event(&event(&[good, "{\"messageBody\":\"Oui\"}", "not json +15145550123"])).unwrap();
        assert_eq!(
            texts[0],
            Ok(InboundText {
                from: "+15145550123".to_owned(),
                body: "Oui".to_owned(),
                id: Some("cae173d2".to_owned()),
                sent_at: Some("2030-01-09T14:05:12.345Z".parse().unwrap()),
            })
        );
        assert!(matches!(&texts[1], Err(InboundError::NotAText { why, .. }) if why.contains("originationNumber")));
        let malformed = texts[2].as_ref().unwrap_err().to_string();
        assert!(!malformed.contains("5145550123"), "{malformed}");
    }

    #[test]
    fn refusals_never_quote_the_content() {
        let wrong_type = r#"{"originationNumber":15145550123,"messageBody":"Mon secret"}"#;
        let texts = read_sns_event(&event(&[wrong_type])).unwrap();
        let why = texts[0].as_ref().unwrap_err().to_string();
        assert!(!why.contains("5145550123") && !why.contains("secret"), "{why}");
        let not_sns = read_sns_event(&json!({"detail": "Mon secret"}))
            .unwrap_err()
            .to_string();
        assert!(!not_sns.contains("secret"), "{not_sns}");
    }
}
