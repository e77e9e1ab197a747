//! HL7 v2 SIU scheduling messages (S12–S17, S26) mapped onto an appointment save. Field positions
//! are those of v2.3 to v2.8; docs/HL7V2.md holds the mapping table.

use super::er7::Message;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

/// The SIU trigger events Rappel acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiuEvent {
    /// New appointment booking.
    S12,
    /// Rescheduling.
    S13,
    /// Modification.
    S14,
    /// Cancellation.
    S15,
    /// Discontinuation.
    S16,
    /// Deletion.
    S17,
    /// The patient did not show up.
    S26,
}

impl SiuEvent {
    fn from_code(code: &str) -> Option<SiuEvent> {
        Some(match code {
            "S12" => SiuEvent::S12,
            "S13" => SiuEvent::S13,
            "S14" => SiuEvent::S14,
            "S15" => SiuEvent::S15,
            "S16" => SiuEvent::S16,
            "S17" => SiuEvent::S17,
            "S26" => SiuEvent::S26,
            _ => return None,
        })
    }

    /// Its code, as MSH-9.2 writes it.
    pub fn code(self) -> &'static str {
        match self {
            SiuEvent::S12 => "S12",
            SiuEvent::S13 => "S13",
            SiuEvent::S14 => "S14",
            SiuEvent::S15 => "S15",
            SiuEvent::S16 => "S16",
            SiuEvent::S17 => "S17",
            SiuEvent::S26 => "S26",
        }
    }

    /// Whether the appointment is off after it (S15, S16, S17; and a no-show, whose time has
    /// passed, so nothing is sent).
    pub fn cancels(self) -> bool {
        matches!(self, SiuEvent::S15 | SiuEvent::S16 | SiuEvent::S17 | SiuEvent::S26)
    }
}

/// A field that does not fit, with where it is (`PID-13`) for the acknowledgement's ERR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Segment name.
    pub segment: &'static str,
    /// Field number.
    pub field: usize,
    /// Why.
    pub message: String,
}

impl FieldError {
    fn new(segment: &'static str, field: usize, message: impl Into<String>) -> FieldError {
        FieldError {
            segment,
            field,
            message: message.into(),
        }
    }
}

/// What a SIU message says, before it meets what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Siu {
    /// The trigger event.
    pub event: SiuEvent,
    /// SCH-2, else SCH-1: the appointment's id.
    pub id: String,
    /// MSH-7: orders the messages of one appointment.
    pub ordered_at: DateTime<Utc>,
    /// The appointment as the JSON API takes it, without `revision` (and without `status`'s
    /// effect on a cancellation that carries nothing else).
    pub content: Result<Value, FieldError>,
}

/// The header's facts every acknowledgement needs, readable from any MSH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// MSH-10.
    pub control_id: String,
    /// MSH-12.
    pub version: String,
    /// MSH-9.2.
    pub trigger: String,
    /// MSH-3, MSH-4: who sent it (the ACK's receiver).
    pub sender: (String, String),
    /// MSH-5, MSH-6.
    pub receiver: (String, String),
}

/// MSH's facts.
pub fn header(message: &Message) -> Header {
    let get = |field, comp| message.component("MSH", field, comp).unwrap_or_default();
    Header {
        control_id: get(10, 1),
        version: get(12, 1),
        trigger: get(9, 2),
        sender: (get(3, 1), get(4, 1)),
        receiver: (get(5, 1), get(6, 1)),
    }
}

/// Reads a SIU message; `Err` when it is not one Rappel acts on (the answer is `AR`).
pub fn read(message: &Message, zone: Tz) -> Result<Siu, FieldError> {
    let kind = message.component("MSH", 9, 1).unwrap_or_default();
    let trigger = message.component("MSH", 9, 2).unwrap_or_default();
    if kind != "SIU" {
        return Err(FieldError::new(
            "MSH",
            9,
            format!("a SIU message is expected, not {kind:?}"),
        ));
    }
    let event = SiuEvent::from_code(&trigger)
        .ok_or_else(|| FieldError::new("MSH", 9, format!("SIU^{trigger} is not acted on (S12-S17, S26)")))?;
    let ordered_at = message
        .component("MSH", 7, 1)
        .and_then(|t| instant(&t, zone))
        .ok_or_else(|| FieldError::new("MSH", 7, "the message's date and time are missing or unreadable"))?;
    let id = message
        .component("SCH", 2, 1)
        .or_else(|| message.component("SCH", 1, 1))
        .ok_or_else(|| FieldError::new("SCH", 2, "the appointment's id (SCH-2, else SCH-1) is missing"))?;
    Ok(Siu {
        event,
        id,
        ordered_at,
        content: content(message, event, zone),
    })
}

/// The appointment, as the JSON API takes it (without `revision`).
fn content(m: &Message, event: SiuEvent, zone: Tz) -> Result<Value, FieldError> {
    let start = start(m, zone)?;
    let duration = duration_minutes(m, start, zone)?;
    let type_code = m
        .component("SCH", 8, 1)
        .or_else(|| m.component("SCH", 7, 1))
        .ok_or_else(|| FieldError::new("SCH", 8, "the appointment type (SCH-8, else SCH-7) is missing"))?;
    let family = m.component("PID", 5, 1);
    let given = m.component("PID", 5, 2);
    let (Some(family), Some(given)) = (family, given) else {
        return Err(FieldError::new(
            "PID",
            5,
            "the patient's family and given names are needed",
        ));
    };
    let mut patient = Map::new();
    patient.insert("first_name".into(), json!(given));
    patient.insert("last_name".into(), json!(family));
    if let Some(email) = email(m) {
        patient.insert("email".into(), json!(email));
    }
    if let Some(mobile) = mobile(m) {
        patient.insert("mobile".into(), json!(mobile));
    }
    if let Some(language) = language(m) {
        patient.insert("language".into(), json!(language));
    }
    let professional =
        professional(m).ok_or_else(|| FieldError::new("AIP", 3, "the professional (AIP-3) is missing"))?;
    let mut content = json!({
        "start": start.to_rfc3339(),
        "duration_minutes": duration,
        "type_code": type_code,
        "status": if event.cancels() { "cancelled" } else { "booked" },
        "professional": {"display_name": professional},
        "patient": Value::Object(patient),
    });
    if let Some(location) = m.component("AIL", 3, 9).or_else(|| m.component("AIL", 3, 1)) {
        content["location"] = json!({"name": location});
    }
    if let Some(url) = video_link(m) {
        content["telemedicine_url"] = json!(url);
        content["modality"] = json!("telemedicine");
    }
    Ok(content)
}

/// A video link: SIU has no field for one, so the first `https://` link in an AIL-3.9
/// description or an NTE-3 comment (as EMRs that book video visits write it).
fn video_link(m: &Message) -> Option<String> {
    m.components_of_all("AIL", 3, 9)
        .into_iter()
        .chain(m.components_of_all("NTE", 3, 1))
        .find_map(|text| {
            text.split_whitespace()
                .filter(|word| word.starts_with("https://"))
                .map(|word| word.trim_end_matches(['.', ',', ';', ')']))
                // Only a link that is one: a bad one is left out, never a reason to refuse.
                .find_map(|word| crate::domain::WebLink::parse(word).ok())
                .map(|link| link.as_str().to_owned())
        })
}

/// TQ1-7, else SCH-11.4, else AIS-4.
fn start(m: &Message, zone: Tz) -> Result<DateTime<Utc>, FieldError> {
    let candidates = [
        (m.component("TQ1", 7, 1), "TQ1", 7),
        (m.component("SCH", 11, 4), "SCH", 11),
        (m.component("AIS", 4, 1), "AIS", 4),
    ];
    for (value, segment, field) in candidates {
        if let Some(text) = value {
            return instant(&text, zone)
                .ok_or_else(|| FieldError::new(segment, field, format!("{text:?} is not an HL7 date and time")));
        }
    }
    Err(FieldError::new(
        "TQ1",
        7,
        "the start (TQ1-7, SCH-11.4 or AIS-4) is missing",
    ))
}

/// TQ1-8 − start, else SCH-9 in SCH-10's unit, else AIS-7 in AIS-8's unit (minutes by default).
fn duration_minutes(m: &Message, start: DateTime<Utc>, zone: Tz) -> Result<u32, FieldError> {
    if let Some(end) = m.component("TQ1", 8, 1) {
        let end = instant(&end, zone)
            .ok_or_else(|| FieldError::new("TQ1", 8, format!("{end:?} is not an HL7 date and time")))?;
        let minutes = (end - start).num_minutes();
        return u32::try_from(minutes)
            .ok()
            .filter(|m| *m > 0)
            .ok_or_else(|| FieldError::new("TQ1", 8, "the end is not after the start"));
    }
    let from = |segment: &'static str, field: usize| -> Option<Result<u32, FieldError>> {
        let amount = m.component(segment, field, 1)?;
        let unit = m.component(segment, field + 1, 1).unwrap_or_else(|| "MIN".to_owned());
        let per_unit = match unit.to_ascii_uppercase().as_str() {
            "MIN" | "M" | "MINUTES" => 1,
            "H" | "HR" | "HOUR" | "HOURS" => 60,
            "S" | "SEC" | "SECONDS" => 0,
            _ => {
                return Some(Err(FieldError::new(
                    segment,
                    field + 1,
                    format!("unknown unit {unit:?}"),
                )))
            }
        };
        let value = amount
            .parse::<u32>()
            .ok()
            .map(|a| if per_unit == 0 { a / 60 } else { a * per_unit });
        Some(
            value
                .filter(|v| *v > 0)
                .ok_or_else(|| FieldError::new(segment, field, format!("{amount:?} is not a duration"))),
        )
    };
    from("SCH", 9).or_else(|| from("AIS", 7)).unwrap_or_else(|| {
        Err(FieldError::new(
            "TQ1",
            8,
            "the duration (TQ1-8, SCH-9 or AIS-7) is missing",
        ))
    })
}

/// The first PID-13 repetition with use code `NET` (or equipment `Internet`) and an address.
fn email(m: &Message) -> Option<String> {
    (1..=m.repetitions("PID", 13)).find_map(|rep| {
        let is_email = m.value("PID", 13, rep, 2, 1).as_deref() == Some("NET")
            || m.value("PID", 13, rep, 3, 1).as_deref() == Some("Internet");
        is_email.then(|| m.value("PID", 13, rep, 4, 1)).flatten()
    })
}

/// The first PID-13 (then PID-14) repetition that is a mobile (`CP`) or a personal phone
/// (`PRN` `PH`) and reads as a valid mobile number; anything else is left out, never refused.
fn mobile(m: &Message) -> Option<String> {
    [13, 14].into_iter().find_map(|field| {
        (1..=m.repetitions("PID", field)).find_map(|rep| {
            let get = |comp| m.value("PID", field, rep, comp, 1);
            let equipment = get(3);
            let mobile = equipment.as_deref() == Some("CP")
                || (get(2).as_deref() == Some("PRN") && equipment.as_deref() == Some("PH"));
            if !mobile {
                return None;
            }
            let written = match get(12) {
                Some(unformatted) => unformatted,
                None => match (get(6), get(7)) {
                    (Some(area), Some(local)) => {
                        format!("{}{area}{local}", get(5).map_or(String::new(), |c| format!("+{c}")))
                    }
                    _ => get(1)?,
                },
            };
            crate::domain::Mobile::parse(&written)
                .ok()
                .map(|m| m.as_str().to_owned())
        })
    })
}

/// PID-15's first component: French or English; anything else: the clinic's language.
fn language(m: &Message) -> Option<&'static str> {
    let code = m.component("PID", 15, 1)?.to_ascii_lowercase();
    match code.split(['-', '_']).next()? {
        "fr" | "fre" | "fra" => Some("fr"),
        "en" | "eng" => Some("en"),
        _ => None,
    }
}

/// AIP-3 as a name: prefix, given and family names (else the id).
fn professional(m: &Message) -> Option<String> {
    let part = |comp| m.value("AIP", 3, 1, comp, 1);
    let name: Vec<String> = [part(6), part(3), part(2)].into_iter().flatten().collect();
    if name.is_empty() {
        part(1)
    } else {
        Some(name.join(" "))
    }
}

/// An HL7 date and time (`YYYYMMDDHHMM[SS[.S…]][+/-ZZZZ]`); without an offset, on `zone`'s
/// clock. A date alone is midnight.
pub fn instant(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let (stamp, offset) = match text.find(['+', '-']) {
        Some(i) => (&text[..i], Some(&text[i..])),
        None => (text, None),
    };
    let (stamp, fraction) = stamp.split_once('.').unwrap_or((stamp, ""));
    let millis: i64 = if fraction.is_empty() {
        0
    } else if fraction.len() <= 4 && fraction.bytes().all(|b| b.is_ascii_digit()) {
        format!("{fraction:0<3}")[..3].parse().ok()?
    } else {
        return None;
    };
    if stamp.len() < 8 || stamp.len() % 2 != 0 || !stamp.bytes().all(|b| b.is_ascii_digit()) || stamp.len() > 14 {
        return None;
    }
    let n = |range: std::ops::Range<usize>| stamp.get(range).map_or(Some(0), |s| s.parse::<u32>().ok());
    let date = NaiveDate::from_ymd_opt(stamp[..4].parse().ok()?, n(4..6)?, n(6..8)?)?;
    let time = NaiveTime::from_hms_opt(n(8..10)?, n(10..12)?, n(12..14)?)?;
    let local = NaiveDateTime::new(date, time) + chrono::Duration::milliseconds(millis);
    match offset {
        Some(offset) => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let digits = &offset[1..];
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let seconds = sign * (digits[..2].parse::<i32>().ok()? * 3600 + digits[2..].parse::<i32>().ok()? * 60);
            let fixed = chrono::FixedOffset::east_opt(seconds)?;
            fixed
                .from_local_datetime(&local)
                .single()
                .map(|t| t.with_timezone(&Utc))
        }
        None => zone
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}
