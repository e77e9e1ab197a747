//! A clinic (tenant) and its settings, exactly as `PUT /v1/clinic` takes them and `GET` returns them.

use super::{ClinicId, Email, InvalidValue, Language, Text};
use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// An IANA time zone (`America/Toronto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(pub Tz);

impl Default for Zone {
    fn default() -> Self {
        Zone(chrono_tz::America::Toronto)
    }
}
impl TryFrom<String> for Zone {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        value
            .parse::<Tz>()
            .map(Zone)
            .map_err(|_| InvalidValue(format!("unknown IANA time zone: {value:?}")))
    }
}
impl From<Zone> for String {
    fn from(z: Zone) -> String {
        z.0.name().to_owned()
    }
}

/// A local wall-clock time written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalTime(pub NaiveTime);

impl TryFrom<String> for LocalTime {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        NaiveTime::parse_from_str(&value, "%H:%M")
            .map(LocalTime)
            .map_err(|_| InvalidValue(format!("must be a time written HH:MM, not {value:?}")))
    }
}
impl From<LocalTime> for String {
    fn from(t: LocalTime) -> String {
        t.0.format("%H:%M").to_string()
    }
}

/// The nightly period without texts or reminders: `start` included, `end` excluded, local time.
/// When `start == end` there are no quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// First quiet minute.
    pub start: LocalTime,
    /// First minute after the quiet period.
    pub end: LocalTime,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            start: LocalTime(NaiveTime::from_hms_opt(21, 0, 0).expect("valid time")),
            end: LocalTime(NaiveTime::from_hms_opt(8, 0, 0).expect("valid time")),
        }
    }
}

impl QuietHours {
    /// Whether `at`, read on the wall clock of `zone`, falls inside the quiet period.
    pub fn contains(&self, at: DateTime<Utc>, zone: Tz) -> bool {
        let local = at.with_timezone(&zone).time();
        let (start, end) = (self.start.0, self.end.0);
        if start <= end {
            start <= local && local < end
        } else {
            local >= start || local < end
        }
    }
}

/// Everything a clinic sets about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClinicSettings {
    /// Shown in every message.
    pub name: Text,
    /// The clinic's phone, as it should be shown.
    #[serde(default)]
    pub phone: Option<Text>,
    /// The clinic's postal address.
    #[serde(default)]
    pub address: Option<Text>,
    /// Zone used to show times and to place quiet hours.
    #[serde(default)]
    pub timezone: Zone,
    /// Language used when the patient has none.
    #[serde(default)]
    pub language: Language,
    /// Identity emails come from; without it no email is sent. Its domain must be the one the
    /// operator bound to the clinic (`sender_domain`).
    #[serde(default)]
    pub sender_email: Option<Email>,
    /// The sending domain the operator bound to this clinic (`rappel-admin bind-sender`). Shown,
    /// never changed, by the clinic's own key: one clinic cannot send as another.
    #[serde(default)]
    pub sender_domain: Option<String>,
    /// Where patients' replies go.
    #[serde(default)]
    pub reply_to: Option<Email>,
    /// The patient may cancel from the link until T−24 h.
    #[serde(default)]
    pub allow_patient_cancellation: bool,
    /// The patient may say "I have arrived" from T−30 min to T.
    #[serde(default)]
    pub allow_arrival_checkin: bool,
    /// The clinic pays for texts: SMS mirrors every email.
    #[serde(default)]
    pub sms_enabled: bool,
    /// No text and no reminder inside.
    #[serde(default)]
    pub quiet_hours: QuietHours,
    /// Texts stop (email goes on) once this month's texts cost this much, in cents; none: no cap.
    #[serde(default)]
    pub sms_monthly_cap_cents: Option<u32>,
    /// Patients may answer texts: `OUI` confirms, `ANNULER` cancels (under the link's rules).
    #[serde(default)]
    pub sms_replies: bool,
    /// The patient page offers to ask for another time until T−24 h.
    #[serde(default)]
    pub allow_reschedule_request: bool,
}

impl ClinicSettings {
    /// Settings with only a name, every other field at its default.
    pub fn named(name: &str) -> Result<ClinicSettings, InvalidValue> {
        Ok(ClinicSettings {
            name: Text::parse(name)?,
            phone: None,
            address: None,
            timezone: Zone::default(),
            language: Language::default(),
            sender_email: None,
            sender_domain: None,
            reply_to: None,
            allow_patient_cancellation: false,
            allow_arrival_checkin: false,
            sms_enabled: false,
            quiet_hours: QuietHours::default(),
            sms_monthly_cap_cents: None,
            sms_replies: false,
            allow_reschedule_request: false,
        })
    }

    /// The clinic's zone.
    pub fn tz(&self) -> Tz {
        self.timezone.0
    }

    /// Whether `sender_email` lies in the domain the operator bound to the clinic, or why not.
    pub fn check_sender(&self) -> Result<(), String> {
        let Some(sender) = &self.sender_email else {
            return Ok(());
        };
        let domain = sender.as_str().rsplit_once('@').map_or("", |(_, d)| d);
        match &self.sender_domain {
            Some(bound) if bound.eq_ignore_ascii_case(domain) => Ok(()),
            Some(bound) => Err(format!(
                "the clinic sends from {bound} only (bound by the operator); {domain} is not it"
            )),
            None => Err(
                "no sending domain is bound to this clinic yet: the operator binds one with rappel-admin bind-sender"
                    .to_owned(),
            ),
        }
    }
}

/// A clinic with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clinic {
    /// The tenant id.
    pub id: ClinicId,
    /// Its settings.
    pub settings: ClinicSettings,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn quiet_hours_include_the_start_and_exclude_the_end() {
        let quiet = QuietHours::default();
        let tz = chrono_tz::America::Toronto;
        let at = |h, m| tz.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap().with_timezone(&Utc);
        assert!(!quiet.contains(at(20, 59), tz));
        assert!(quiet.contains(at(21, 0), tz));
        assert!(quiet.contains(at(2, 0), tz));
        assert!(quiet.contains(at(7, 59), tz));
        assert!(!quiet.contains(at(8, 0), tz));
    }

    #[test]
    fn settings_round_trip_through_json_with_defaults_filled() {
        let settings: ClinicSettings = serde_json::from_str(r#"{"name":"Clinique"}"#).unwrap();
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(json["timezone"], "America/Toronto");
        assert_eq!(json["quiet_hours"]["start"], "21:00");
        let back: ClinicSettings = serde_json::from_value(json).unwrap();
        assert_eq!(back, settings);
    }
}
