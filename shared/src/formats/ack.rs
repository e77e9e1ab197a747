//! The HL7 v2 acknowledgement Rappel answers every message with: `MSA|AA` (done, or nothing to
//! do), `AE` (the message is a SIU but a field does not fit: ERR says which) or `AR` (not a SIU
//! Rappel acts on, unreadable, or Rappel cannot take it now).

use super::siu::Header;
use chrono::{DateTime, Utc};

/// MSA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application accept.
    Accept,
    /// Application error: the content is wrong; sending it again will not help.
    Error,
    /// Application reject: not a message Rappel takes, or not now.
    Reject,
}

impl AckCode {
    /// `AA`, `AE` or `AR`.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::Accept => "AA",
            AckCode::Error => "AE",
            AckCode::Reject => "AR",
        }
    }
}

/// What went wrong, for ERR: where, the HL7 error code (table 0357) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// Segment, e.g. `PID` (empty when the message as a whole is at fault).
    pub segment: String,
    /// Field number (0 when none).
    pub field: usize,
    /// Table 0357: 100 segment sequence error, 101 required field missing, 102 data type error,
    /// 200 unsupported message type, 201 unsupported event code, 207 application internal error.
    pub code: u16,
    /// For people reading the EMR's logs; never patient data.
    pub message: String,
}

fn code_text(code: u16) -> &'static str {
    match code {
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        206 => "Application record locked",
        _ => "Application internal error",
    }
}

/// Writes `text` so it cannot break the acknowledgement's structure.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\E\\"),
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            '\r' => out.push_str("\\X0D\\"),
            '\n' => out.push_str("\\X0A\\"),
            c => out.push(c),
        }
    }
    out
}

/// The acknowledgement of the message whose header is `header`, at `now`, with the standard
/// separators; segments end with `\r`.
pub fn acknowledgement(header: &Header, code: AckCode, error: Option<&AckError>, now: DateTime<Utc>) -> String {
    let control: String = header.control_id.chars().take(17).collect();
    let version = if header.version.is_empty() {
        "2.5.1"
    } else {
        header.version.as_str()
    };
    let trigger = escape(&header.trigger);
    let mut out = format!(
        "MSH|^~\\&|RAPPEL|RAPPEL|{}|{}|{}||ACK^{trigger}^ACK|ACK{}|P|{}\r",
        escape(&header.sender.0),
        escape(&header.sender.1),
        now.format("%Y%m%d%H%M%S+0000"),
        escape(&control),
        escape(version),
    );
    out.push_str(&format!("MSA|{}|{}\r", code.as_str(), escape(&header.control_id)));
    if let Some(e) = error {
        let location = if e.segment.is_empty() {
            String::new()
        } else {
            format!("{}^1^{}", escape(&e.segment), e.field)
        };
        let severity = "E";
        // ERR-1 for versions before 2.5 (segment^sequence^field^code&text), ERR-2 to ERR-8 after.
        out.push_str(&format!(
            "ERR|{location}^{}&{}|{location}|{}^{}^HL70357|{severity}||||{}\r",
            e.code,
            code_text(e.code),
            e.code,
            code_text(e.code),
            escape(&e.message),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::er7::Message;
    use chrono::TimeZone;

    fn header() -> Header {
        Header {
            control_id: "MSG|0001".to_owned(),
            version: "2.5.1".to_owned(),
            trigger: "S12".to_owned(),
            sender: ("EMR".to_owned(), "CLINIC".to_owned()),
            receiver: ("RAPPEL".to_owned(), "RAPPEL".to_owned()),
        }
    }

    #[test]
    fn an_acknowledgement_echoes_the_control_id_and_names_the_faulty_field() {
        let now = Utc.with_ymd_and_hms(2030, 1, 7, 15, 0, 0).unwrap();
        let error = AckError {
            segment: "PID".to_owned(),
            field: 13,
            code: 102,
            message: "not an email address: a|b^c".to_owned(),
        };
        let text = acknowledgement(&header(), AckCode::Error, Some(&error), now);
        let ack = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(ack.component("MSH", 9, 1).as_deref(), Some("ACK"));
        assert_eq!(ack.component("MSH", 9, 2).as_deref(), Some("S12"));
        assert_eq!(ack.component("MSH", 5, 1).as_deref(), Some("EMR"));
        assert_eq!(ack.component("MSH", 7, 1).as_deref(), Some("20300107150000+0000"));
        assert_eq!(ack.component("MSA", 1, 1).as_deref(), Some("AE"));
        assert_eq!(
            ack.component("MSA", 2, 1).as_deref(),
            Some("MSG|0001"),
            "escaped and read back"
        );
        assert_eq!(ack.component("ERR", 2, 1).as_deref(), Some("PID"));
        assert_eq!(ack.component("ERR", 2, 3).as_deref(), Some("13"));
        assert_eq!(ack.component("ERR", 3, 1).as_deref(), Some("102"));
        assert_eq!(ack.component("ERR", 4, 1).as_deref(), Some("E"));
        assert_eq!(
            ack.component("ERR", 8, 1).as_deref(),
            Some("not an email address: a|b^c")
        );
        assert_eq!(ack.value("ERR", 1, 1, 4, 1).as_deref(), Some("102"));
        let accepted = acknowledgement(&header(), AckCode::Accept, None, now);
        assert!(accepted.ends_with("MSA|AA|MSG\\F\\0001\r"), "{accepted}");
        assert!(!accepted.contains("ERR"));
    }
}
