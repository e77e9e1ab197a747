//! The envelope of a Lambda SNS event, as `inbound-sms` and `delivery-events` receive it: only
//! the notifications' ids, messages and times are read. Errors never quote what they read.

use serde::Deserialize;

/// A Lambda SNS event.
#[derive(Deserialize)]
pub(super) struct SnsEvent {
    #[serde(rename = "Records")]
    pub records: Vec<SnsRecord>,
}

/// One record of it.
#[derive(Deserialize)]
pub(super) struct SnsRecord {
    #[serde(rename = "Sns")]
    pub sns: SnsNotification,
}

/// The notification a record carries.
#[derive(Deserialize)]
pub(super) struct SnsNotification {
    /// SNS's id for it (for logs).
    #[serde(rename = "MessageId", default)]
    pub message_id: String,
    /// What the publisher published.
    #[serde(rename = "Message")]
    pub message: String,
    /// When SNS published it (RFC 3339).
    #[serde(rename = "Timestamp", default)]
    pub timestamp: Option<String>,
}

impl SnsNotification {
    /// Its id, cut to a length fit for logs.
    pub fn id_for_logs(&self) -> String {
        self.message_id.chars().take(64).collect()
    }
}

/// A serde error without the input it quotes (serde quotes values in "invalid type" errors):
/// what went wrong and where.
pub(super) fn shape_only(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let kind = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "malformed JSON",
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Data => match text.split_once(" at line") {
            Some((what, _)) if what.starts_with("missing field") => return what.to_owned(),
            _ => "unexpected field types",
        },
    };
    format!("{kind} (line {}, column {})", e.line(), e.column())
}
