//! The one-time schedules Rappel keeps with the scheduler: their names, what they carry, and the
//! calls that put and delete them within a request's budget.
//!
//! Three kinds of name, each deterministic so that a retried request writes the same schedule
//! again instead of a second one (EventBridge allows 64 characters of `[0-9a-zA-Z-_.]`; ids can
//! be 64 long, so they are hashed):
//! - `rappel-reminder-…`: one of the appointment's reminders, one per offset, so that a move
//!   replaces it in place (the 36-h reminder keeps the name it had when it was the only one);
//! - `rappel-later-…`: a reminder that fired in quiet hours or after a failure, put off to the
//!   next allowed minute under a name of its own (the schedule firing now may still be deleted
//!   after its invocation, and must not take this one along);
//! - `rappel-texts-…`: the appointment's open messages sent at an instant (texts held back by
//!   quiet hours, or a message no caller will retry).

use super::{Budget, Dependency, Rappel, ServiceError};
use crate::domain::*;
use crate::ports::{Schedule, ScheduleKind, SchedulePayload};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The name of an appointment's 36-h reminder schedule. The payload carries the planning
/// revision, so an invocation already under way for the old time recognises itself as stale.
pub fn schedule_name(clinic: &ClinicId, id: &AppointmentId) -> String {
    hashed_name("rappel-reminder", &format!("{clinic}\n{id}"))
}

/// The name of the schedule of an appointment's reminder `before` it.
pub fn reminder_schedule_name(clinic: &ClinicId, id: &AppointmentId, before: ReminderOffset) -> String {
    if before == ReminderOffset::DEFAULT {
        return schedule_name(clinic, id);
    }
    hashed_name("rappel-reminder", &format!("{clinic}\n{id}\n{before}"))
}

/// The name of a reminder put off to `at` by its own firing (two reminders put off to the same
/// minute keep a schedule each).
pub(super) fn deferred_schedule_name(
    clinic: &ClinicId,
    id: &AppointmentId,
    before: ReminderOffset,
    at: DateTime<Utc>,
) -> String {
    let key = if before == ReminderOffset::DEFAULT {
        format!("{clinic}\n{id}\n{}", at.timestamp())
    } else {
        format!("{clinic}\n{id}\n{}\n{before}", at.timestamp())
    };
    hashed_name("rappel-later", &key)
}

/// The name of the schedule that sends an appointment's open messages at `at`.
fn dispatch_schedule_name(clinic: &ClinicId, id: &AppointmentId, at: DateTime<Utc>) -> String {
    hashed_name("rappel-texts", &format!("{clinic}\n{id}\n{}", at.timestamp()))
}

fn hashed_name(prefix: &str, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("{prefix}-{}", &hex::encode(digest)[..40])
}

fn schedule(name: String, at: DateTime<Utc>, payload: SchedulePayload) -> Schedule {
    Schedule { name, at, payload }
}

fn payload(clinic: &ClinicId, record: &AppointmentRecord, revision: u64, kind: ScheduleKind) -> SchedulePayload {
    SchedulePayload {
        clinic_id: clinic.clone(),
        appointment_id: record.id.clone(),
        revision,
        kind,
        type_code: Some(record.content.type_code.clone()),
        before: None,
    }
}

/// A reminder's payload: the 36-h one's reads as it always did (no `before`).
fn reminder_payload(
    clinic: &ClinicId,
    record: &AppointmentRecord,
    revision: u64,
    before: ReminderOffset,
) -> SchedulePayload {
    SchedulePayload {
        before: (before != ReminderOffset::DEFAULT).then_some(before),
        ..payload(clinic, record, revision, ScheduleKind::Reminder)
    }
}

/// The schedule that fires `reminder`, under its reminder name.
pub(super) fn reminder_schedule(clinic: &ClinicId, record: &AppointmentRecord, reminder: PlannedReminder) -> Schedule {
    let payload = reminder_payload(clinic, record, reminder.revision, reminder.before);
    let name = reminder_schedule_name(clinic, &record.id, reminder.before);
    schedule(name, reminder.at, payload)
}

/// The same reminder put off to `at`, under a name of its own.
pub(super) fn deferred_reminder_schedule(
    clinic: &ClinicId,
    record: &AppointmentRecord,
    revision: u64,
    before: ReminderOffset,
    at: DateTime<Utc>,
) -> Schedule {
    let payload = reminder_payload(clinic, record, revision, before);
    schedule(deferred_schedule_name(clinic, &record.id, before, at), at, payload)
}

/// The schedule that sends `record`'s open messages at `at`.
pub(super) fn dispatch_schedule(clinic: &ClinicId, record: &AppointmentRecord, at: DateTime<Utc>) -> Schedule {
    let payload = payload(clinic, record, record.content.revision, ScheduleKind::Texts);
    schedule(dispatch_schedule_name(clinic, &record.id, at), at, payload)
}

impl Rappel {
    /// Creates or replaces `schedule`, within what is left of the request's budget.
    pub(super) async fn put_schedule(&self, schedule: &Schedule, budget: &Budget) -> Result<(), ServiceError> {
        budget
            .call(Dependency::Scheduler, self.scheduler.put_schedule(schedule))
            .await
    }

    /// Deletes the schedule called `name` (gone already is fine), within the request's budget.
    pub(super) async fn delete_schedule(&self, name: &str, budget: &Budget) -> Result<(), ServiceError> {
        budget
            .call(Dependency::Scheduler, self.scheduler.delete_schedule(name))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_fit_eventbridge_and_differ_by_kind_and_instant() {
        let clinic = ClinicId::parse(&"c".repeat(64)).unwrap();
        let id = AppointmentId::parse(&"a".repeat(64)).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 14, 0, 0).unwrap();
        let week = ReminderOffset::parse("7d").unwrap();
        let names = [
            schedule_name(&clinic, &id),
            reminder_schedule_name(&clinic, &id, week),
            reminder_schedule_name(&clinic, &id, ReminderOffset::parse("2h").unwrap()),
            deferred_schedule_name(&clinic, &id, ReminderOffset::DEFAULT, at),
            deferred_schedule_name(&clinic, &id, ReminderOffset::DEFAULT, at + chrono::Duration::minutes(1)),
            deferred_schedule_name(&clinic, &id, week, at),
            dispatch_schedule_name(&clinic, &id, at),
        ];
        for name in &names {
            assert!(name.len() <= 64, "{name}");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{name}"
            );
        }
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        assert_eq!(schedule_name(&clinic, &id), names[0], "the reminder's name is stable");
        assert_eq!(
            reminder_schedule_name(&clinic, &id, ReminderOffset::DEFAULT),
            names[0],
            "the 36-h reminder keeps the name it had"
        );
    }
}
