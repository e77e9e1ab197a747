//! A patient's request for another time (docs/BEHAVIOUR.md §9.2): up to three preferred
//! half-days in the next 30 days, and a short plain-text note.

use super::InvalidValue;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// How many half-days a patient may name.
pub const MAX_PREFERENCES: usize = 3;
/// How far ahead the half-days may lie, in days after the clinic-local day of the request.
pub const HORIZON_DAYS: i64 = 30;
/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// Morning or afternoon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DayPart {
    /// Before noon.
    Am,
    /// From noon.
    Pm,
}

/// One half-day the patient would prefer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HalfDay {
    /// The clinic-local day.
    pub date: NaiveDate,
    /// Which half.
    pub part: DayPart,
}

impl HalfDay {
    /// Reads `2026-12-03-am` / `2026-12-03-pm`, the form's values.
    pub fn parse(value: &str) -> Option<HalfDay> {
        let (date, part) = value.rsplit_once('-')?;
        let part = match part {
            "am" => DayPart::Am,
            "pm" => DayPart::Pm,
            _ => return None,
        };
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        Some(HalfDay { date, part })
    }

    /// The form's value for this half-day.
    pub fn value(&self) -> String {
        let part = match self.part {
            DayPart::Am => "am",
            DayPart::Pm => "pm",
        };
        format!("{}-{part}", self.date)
    }

    /// The half-days a request made on clinic-local day `today` may name, in order: from the
    /// next day to `HORIZON_DAYS` days later (today's are too close for a clinic to arrange).
    pub fn offered(today: NaiveDate) -> Vec<HalfDay> {
        (1..=HORIZON_DAYS)
            .map(|d| today + Duration::days(d))
            .flat_map(|date| [DayPart::Am, DayPart::Pm].map(|part| HalfDay { date, part }))
            .collect()
    }
}

/// What the patient asked for, as the EMR receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescheduleRequest {
    /// The half-days, in the patient's order of preference.
    pub preferences: Vec<HalfDay>,
    /// The patient's note, plain text (shown escaped everywhere, never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When it was asked.
    pub at: DateTime<Utc>,
}

impl RescheduleRequest {
    /// Checks a request made on clinic-local day `today`: one to three distinct half-days among
    /// those offered, a note of at most `MAX_NOTE_CHARS` characters without control characters
    /// (line breaks aside). An empty note is none.
    pub fn new(
        preferences: Vec<HalfDay>,
        note: Option<&str>,
        today: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<RescheduleRequest, InvalidValue> {
        if preferences.is_empty() {
            return Err(InvalidValue("choose at least one half-day".to_owned()));
        }
        if preferences.len() > MAX_PREFERENCES {
            return Err(InvalidValue(format!("choose at most {MAX_PREFERENCES} half-days")));
        }
        let offered = HalfDay::offered(today);
        if let Some(outside) = preferences.iter().find(|p| !offered.contains(p)) {
            return Err(InvalidValue(format!(
                "{} is not within the next {HORIZON_DAYS} days",
                outside.value()
            )));
        }
        let mut distinct = preferences.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != preferences.len() {
            return Err(InvalidValue("the same half-day is chosen twice".to_owned()));
        }
        let note = RescheduleRequest::normalise_note(note);
        if let Some(note) = &note {
            if note.chars().count() > MAX_NOTE_CHARS {
                return Err(InvalidValue(format!(
                    "the note is longer than {MAX_NOTE_CHARS} characters"
                )));
            }
            if note.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(InvalidValue("the note holds control characters".to_owned()));
            }
        }
        Ok(RescheduleRequest { preferences, note, at })
    }

    /// A note as it is kept: trimmed, line breaks as `\n`, an empty one none.
    pub fn normalise_note(note: Option<&str>) -> Option<String> {
        note.map(|n| n.trim().replace("\r\n", "\n").replace('\r', "\n"))
            .filter(|n| !n.is_empty())
    }

    /// Whether a form asking for `preferences` with `note` is this request sent again.
    pub fn is_same_as(&self, preferences: &[HalfDay], note: Option<&str>) -> bool {
        self.preferences == preferences && self.note == RescheduleRequest::normalise_note(note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap()
    }

    fn half(value: &str) -> HalfDay {
        HalfDay::parse(value).unwrap()
    }

    #[test]
    fn the_next_thirty_days_are_offered_by_halves_from_tomorrow() {
        let offered = HalfDay::offered(today());
        assert_eq!(offered.len(), 60);
        assert_eq!(offered[0].value(), "2026-12-02-am");
        assert_eq!(offered[59].value(), "2026-12-31-pm");
    }

    #[test]
    fn a_request_takes_one_to_three_distinct_offered_half_days() {
        let ok = RescheduleRequest::new(vec![half("2026-12-02-pm"), half("2026-12-31-am")], None, today(), at());
        assert_eq!(ok.unwrap().preferences.len(), 2);
        for bad in [
            vec![],
            vec![half("2026-12-01-pm")],
            vec![half("2027-01-01-am")],
            vec![half("2026-12-02-am"), half("2026-12-02-am")],
            vec![
                half("2026-12-02-am"),
                half("2026-12-03-am"),
                half("2026-12-04-am"),
                half("2026-12-05-am"),
            ],
        ] {
            assert!(
                RescheduleRequest::new(bad.clone(), None, today(), at()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_note_is_trimmed_bounded_and_plain() {
        let prefs = vec![half("2026-12-02-am")];
        let request = |note: &str| RescheduleRequest::new(prefs.clone(), Some(note), today(), at());
        assert_eq!(request("  ").unwrap().note, None);
        assert_eq!(
            request(" Plutôt\r\nle matin ").unwrap().note.as_deref(),
            Some("Plutôt\nle matin")
        );
        assert!(request(&"é".repeat(500)).is_ok());
        assert!(request(&"é".repeat(501)).is_err());
        assert!(request("a\u{0}b").is_err());
    }

    #[test]
    fn form_values_read_back() {
        assert_eq!(half("2026-12-02-am").value(), "2026-12-02-am");
        for bad in ["2026-12-02", "2026-12-02-noon", "2026-13-02-am", "", "-am"] {
            assert_eq!(HalfDay::parse(bad), None, "{bad}");
        }
    }
}
