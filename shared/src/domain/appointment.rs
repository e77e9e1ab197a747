//! Appointments: the content the EMR saves, and the record Rappel keeps around it.

use super::{
    AppointmentId, ClinicId, Email, InvalidValue, Language, Mobile, ReminderOffset, RescheduleRequest, Text, TypeCode,
    WebLink,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An instant written in RFC 3339 with an explicit offset; kept in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rfc3339Instant(pub DateTime<Utc>);

impl TryFrom<String> for Rfc3339Instant {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        DateTime::parse_from_rfc3339(&value)
            .map(|t| Rfc3339Instant(t.with_timezone(&Utc)))
            .map_err(|_| {
                InvalidValue(format!(
                    "must be an RFC 3339 date-time with an offset, like 2026-12-01T14:30:00-05:00, not {value:?}"
                ))
            })
    }
}
impl From<Rfc3339Instant> for String {
    fn from(i: Rfc3339Instant) -> String {
        i.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}

/// How the patient meets the professional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// At the clinic or the given location.
    InPerson,
    /// A video call at `telemedicine_url`.
    Telemedicine,
    /// The professional calls the patient.
    Phone,
    /// The professional visits the patient at home.
    HomeVisit,
}

/// The EMR's status of the appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// Booked (the default when the EMR omits it).
    #[default]
    Booked,
    /// Cancelled by the clinic.
    Cancelled,
}

/// What the patient said from the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PatientStatus {
    /// Nothing yet (or a relevant change reset a confirmation).
    #[default]
    Pending,
    /// The patient confirmed.
    Confirmed,
    /// The patient cancelled from the link.
    CancelledByPatient,
    /// The patient said "I have arrived".
    Arrived,
}

impl PatientStatus {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PatientStatus::Pending => "pending",
            PatientStatus::Confirmed => "confirmed",
            PatientStatus::CancelledByPatient => "cancelled_by_patient",
            PatientStatus::Arrived => "arrived",
        }
    }
}

/// The professional the patient will see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Professional {
    /// As the patient should read it ("Dre Marie Tremblay").
    pub display_name: Text,
}

/// Where an in-person appointment happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The place's name.
    #[serde(default)]
    pub name: Option<Text>,
    /// Its postal address.
    #[serde(default)]
    pub address: Option<Text>,
}

/// The patient, minimal: what is needed to greet and reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    /// Given name.
    pub first_name: Text,
    /// Family name.
    pub last_name: Text,
    /// Where emails go.
    #[serde(default)]
    pub email: Option<Email>,
    /// Where texts go (E.164).
    #[serde(default)]
    pub mobile: Option<Mobile>,
    /// The patient's language, else the clinic's.
    #[serde(default)]
    pub language: Option<Language>,
}

/// One save of an appointment by the EMR (`PUT /v1/appointments/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentContent {
    /// Increased by the EMR on every save.
    pub revision: u64,
    /// When it starts (T).
    pub start: Rfc3339Instant,
    /// How long it lasts.
    pub duration_minutes: u32,
    /// The EMR's type code; its clinic settings decide what is sent.
    pub type_code: TypeCode,
    /// How the patient meets the professional.
    pub modality: Modality,
    /// Booked or cancelled by the clinic.
    #[serde(default)]
    pub status: AppointmentStatus,
    /// Who the patient will see.
    pub professional: Professional,
    /// For in-person appointments.
    #[serde(default)]
    pub location: Option<Location>,
    /// For telemedicine.
    #[serde(default)]
    pub telemedicine_url: Option<WebLink>,
    /// Who the appointment is for.
    pub patient: Patient,
}

impl AppointmentContent {
    /// Checks what serde cannot: ranges. Returns the offending field and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=1440).contains(&self.duration_minutes) {
            return Err(("duration_minutes", "must be between 1 and 1440 minutes".to_owned()));
        }
        Ok(())
    }

    /// The appointment's start, T.
    pub fn start(&self) -> DateTime<Utc> {
        self.start.0
    }

    /// Whether any field a patient cares about changed (docs/BEHAVIOUR.md §3.2 `change`).
    pub fn relevant_change_from(&self, before: &AppointmentContent) -> bool {
        self.start != before.start
            || self.duration_minutes != before.duration_minutes
            || self.modality != before.modality
            || self.professional != before.professional
            || self.location != before.location
            || self.telemedicine_url != before.telemedicine_url
    }

    /// Whether the clinic booked it (rather than cancelled it).
    pub fn is_booked(&self) -> bool {
        self.status == AppointmentStatus::Booked
    }
}

/// A reminder planned for an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedReminder {
    /// When it is due.
    pub at: DateTime<Utc>,
    /// The revision that planned it; the Scheduler payload carries it, so a stale schedule is recognised.
    pub revision: u64,
    /// Which of the type's reminders it is (records written before types had several: the 36-h one).
    #[serde(default = "default_offset")]
    pub before: ReminderOffset,
}

fn default_offset() -> ReminderOffset {
    ReminderOffset::DEFAULT
}

/// Reads the reminders of a record: a list, or the one reminder (or `null`) records written
/// before types had several carry under `reminder`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<PlannedReminder>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<PlannedReminder>),
        One(Option<PlannedReminder>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Many(list) => list,
        OneOrMany::One(one) => one.into_iter().collect(),
    })
}

/// What Rappel keeps about one appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentRecord {
    /// The clinic it belongs to.
    pub clinic_id: ClinicId,
    /// The EMR's id.
    pub id: AppointmentId,
    /// The latest content saved.
    pub content: AppointmentContent,
    /// What the patient said.
    pub patient_status: PatientStatus,
    /// The patient link's secret.
    pub token: String,
    /// The reminders planned, by offset, earliest due first.
    #[serde(default, alias = "reminder", deserialize_with = "one_or_many")]
    pub reminders: Vec<PlannedReminder>,
    /// Whether a confirmation was recorded since the last time the clinic booked it, so later
    /// saves send `change` rather than a second `confirmation`.
    #[serde(default)]
    pub notified: bool,
    /// The patient's open request for another time, until the clinic moves or cancels the
    /// appointment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reschedule_request: Option<RescheduleRequest>,
    /// First save.
    pub created_at: DateTime<Utc>,
    /// Last write.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency counter, bumped on every write.
    pub version: u64,
}

impl AppointmentRecord {
    /// The language to address the patient in.
    pub fn language(&self, clinic_language: Language) -> Language {
        self.content.patient.language.unwrap_or(clinic_language)
    }

    /// The planned reminder that is `before` the appointment, if any.
    pub fn reminder(&self, before: ReminderOffset) -> Option<PlannedReminder> {
        self.reminders.iter().find(|r| r.before == before).copied()
    }

    /// The reminder due next at `now`, else the last one (a sent reminder stays shown).
    pub fn next_reminder(&self, now: DateTime<Utc>) -> Option<PlannedReminder> {
        let mut by_time = self.reminders.clone();
        by_time.sort_by_key(|r| r.at);
        by_time.iter().find(|r| r.at >= now).or(by_time.last()).copied()
    }

    /// When the patient link stops working: 30 days after the appointment.
    pub fn token_expires_at(&self) -> DateTime<Utc> {
        self.content.start() + chrono::Duration::days(30)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(reminder_part: serde_json::Value) -> serde_json::Value {
        let mut record = serde_json::json!({
            "clinic_id": "c1", "id": "A1",
            "content": crate::testing::appointment_json(1, "2026-12-10T19:00:00Z".parse().unwrap(), "FU"),
            "patient_status": "pending", "token": "t", "notified": true,
            "created_at": "2026-12-01T15:00:00Z", "updated_at": "2026-12-01T15:00:00Z", "version": 1
        });
        record
            .as_object_mut()
            .unwrap()
            .extend(reminder_part.as_object().unwrap().clone());
        record
    }

    #[test]
    fn records_written_with_one_reminder_read_as_the_36_hour_one() {
        let old = stored(serde_json::json!({"reminder": {"at": "2026-12-09T01:59:00Z", "revision": 1}}));
        let record: AppointmentRecord = serde_json::from_value(old).unwrap();
        assert_eq!(
            record.reminders,
            vec![PlannedReminder {
                at: "2026-12-09T01:59:00Z".parse().unwrap(),
                revision: 1,
                before: ReminderOffset::DEFAULT,
            }]
        );
        let none: AppointmentRecord = serde_json::from_value(stored(serde_json::json!({"reminder": null}))).unwrap();
        assert!(none.reminders.is_empty());
        let missing: AppointmentRecord = serde_json::from_value(stored(serde_json::json!({}))).unwrap();
        assert!(missing.reminders.is_empty());
        // Written back as a list, which reads the same.
        let written = serde_json::to_value(&record).unwrap();
        assert!(written.get("reminder").is_none());
        assert_eq!(serde_json::from_value::<AppointmentRecord>(written).unwrap(), record);
    }

    #[test]
    fn the_next_reminder_is_the_first_still_due_else_the_last() {
        let at = |h: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(h);
        let planned = |h: i64, before: &str| PlannedReminder {
            at: at(h),
            revision: 1,
            before: ReminderOffset::parse(before).unwrap(),
        };
        let mut record: AppointmentRecord = serde_json::from_value(stored(serde_json::json!({}))).unwrap();
        record.reminders = vec![planned(30, "2h"), planned(10, "1d")];
        assert_eq!(record.next_reminder(at(5)).map(|r| r.at), Some(at(10)));
        assert_eq!(record.next_reminder(at(11)).map(|r| r.at), Some(at(30)));
        assert_eq!(record.next_reminder(at(31)).map(|r| r.at), Some(at(30)));
        assert_eq!(
            record.reminder(ReminderOffset::parse("1d").unwrap()).map(|r| r.at),
            Some(at(10))
        );
        assert_eq!(record.reminder(ReminderOffset::DEFAULT), None);
    }
}
