//! Patient links: unguessable tokens that hold no personal data, and the calendar file.

use crate::domain::AppointmentRecord;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;

/// Random bytes in a token: 144 bits, more than the contract's 128.
const TOKEN_BYTES: usize = 18;
/// Length of a token's text form (base64url, no padding).
pub const TOKEN_LEN: usize = 24;

/// A fresh random token (base64url, 24 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `text` has the shape of a token; anything else is unknown without a store lookup.
pub fn looks_like_token(text: &str) -> bool {
    text.len() == TOKEN_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The patient page of a token under `base_url` (no trailing slash expected, tolerated).
pub fn patient_url(base_url: &str, token: &str) -> String {
    format!("{}/p/{}", base_url.trim_end_matches('/'), token)
}

/// An iCalendar file for the appointment. It holds what the patient's calendar needs (clinic,
/// professional, place or link) and nothing else.
pub fn calendar_file(
    record: &AppointmentRecord,
    summary: &str,
    location: Option<&str>,
    description: &str,
    now: DateTime<Utc>,
) -> String {
    let start = record.content.start();
    let end = start + Duration::minutes(i64::from(record.content.duration_minutes));
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Rappel//Appointment//FR".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}@rappel", record.token),
        format!("DTSTAMP:{}", stamp(now)),
        format!("DTSTART:{}", stamp(start)),
        format!("DTEND:{}", stamp(end)),
        format!("SUMMARY:{}", ics_escape(summary)),
        format!("DESCRIPTION:{}", ics_escape(description)),
    ];
    if let Some(location) = location {
        lines.push(format!("LOCATION:{}", ics_escape(location)));
    }
    lines.push("END:VEVENT".to_owned());
    lines.push("END:VCALENDAR".to_owned());
    lines.iter().map(|l| fold(l)).collect::<Vec<_>>().join("\r\n") + "\r\n"
}

fn ics_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
        .replace('\r', "")
}

/// Folds a content line at 75 octets (RFC 5545 §3.1), never inside a UTF-8 character.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_well_formed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(looks_like_token(&a), "{a}");
        assert!(!looks_like_token(&a[1..]));
        assert!(!looks_like_token("../../../../etc/passwd...."));
    }

    #[test]
    fn long_calendar_lines_are_folded_at_75_octets() {
        let folded = fold(&format!("DESCRIPTION:{}", "é".repeat(60)));
        for line in folded.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        assert_eq!(folded.replace("\r\n ", ""), format!("DESCRIPTION:{}", "é".repeat(60)));
    }
}
