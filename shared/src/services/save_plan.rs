//! What saving one revision of an appointment does, decided without I/O: the record to store,
//! the messages it causes and the reminder it plans.
//!
//! Which message goes out on each of the patient's channels (see [`super::channels`]):
//!
//! | the save                                                                  | message         |
//! |---------------------------------------------------------------------------|-----------------|
//! | first save of a booked appointment                                        | `confirmation`  |
//! | booked again after the clinic cancelled it, or booked and never announced | `confirmation`  |
//! | booked → cancelled by the clinic                                          | `cancellation`  |
//! | still booked; start, duration, modality, professional, location or video link changed | `change` |
//! | anything else (the patient's name, a note, the same content again)        | nothing         |
//!
//! and nothing at all when the type sends nothing (`none`), the appointment has already started,
//! or the patient cancelled it (until the clinic books it again). A change a patient cares about
//! also asks them to confirm again; a move asks again whether they have arrived. A move or a
//! cancellation by the clinic closes the patient's request for another time.
//!
//! The reminders: a type set to `full` (its list, else one 36 h before), a booked appointment the
//! patient has not cancelled, and a channel the reminder may use give each a time
//! ([`rules::reminder_time_before`]: closest to T − before outside quiet hours, within its
//! window). An unchanged time keeps the planning revision, so its schedule stays valid; a new time
//! takes the new revision; a time already past, or none in the window, plans none.

use super::channels::{channels, pending_on_each};
use super::ServiceError;
use crate::domain::*;
use crate::links;
use crate::ports::AppointmentWrite;
use crate::rules;
use chrono::{DateTime, Utc};

/// What a save will do.
pub(super) enum SavePlan {
    /// The same revision with the same content: a replay.
    Unchanged(AppointmentRecord),
    /// A record to write, with its messages.
    Write {
        write: AppointmentWrite,
        created: bool,
        /// The reminders the appointment had before, whose schedules may need removing.
        previous_reminders: Vec<PlannedReminder>,
    },
}

/// Plans saving `content` as appointment `id`, over `existing` (none on a first save), for a
/// type with `type_settings` (none: a type the clinic never set).
pub(super) fn plan_save(
    clinic: &Clinic,
    type_settings: Option<&TypeSettings>,
    existing: Option<&AppointmentRecord>,
    id: &AppointmentId,
    content: AppointmentContent,
    now: DateTime<Utc>,
) -> Result<SavePlan, ServiceError> {
    let comms = Communications::of(type_settings);
    let reminders = type_settings.map(TypeSettings::planned_reminders).unwrap_or_default();
    match existing {
        None => Ok(plan_first_save(clinic, comms, &reminders, id, content, now)),
        Some(existing) => plan_later_save(clinic, comms, &reminders, existing, content, now),
    }
}

/// Whether a save may send anything at all: the type speaks and the appointment is ahead.
fn speaks(comms: Communications, content: &AppointmentContent, now: DateTime<Utc>) -> bool {
    comms != Communications::None && content.start() > now
}

fn plan_first_save(
    clinic: &Clinic,
    comms: Communications,
    reminders: &[ReminderSpec],
    id: &AppointmentId,
    content: AppointmentContent,
    now: DateTime<Utc>,
) -> SavePlan {
    let settings = &clinic.settings;
    let patient_status = PatientStatus::Pending;
    let reminders = planned_reminders(settings, reminders, &content, patient_status, &[], now);
    let messages = if speaks(comms, &content, now) && content.is_booked() {
        let channels = channels(settings, &content.patient);
        pending_on_each(MessageKind::Confirmation, &channels, content.revision, now)
    } else {
        Vec::new()
    };
    let record = AppointmentRecord {
        clinic_id: clinic.id.clone(),
        id: id.clone(),
        notified: !messages.is_empty(),
        content,
        patient_status,
        token: links::new_token(),
        reminders,
        reschedule_request: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    SavePlan::Write {
        previous_reminders: Vec::new(),
        created: true,
        write: AppointmentWrite {
            record,
            messages,
            events: Vec::new(),
        },
    }
}

fn plan_later_save(
    clinic: &Clinic,
    comms: Communications,
    reminders: &[ReminderSpec],
    existing: &AppointmentRecord,
    content: AppointmentContent,
    now: DateTime<Utc>,
) -> Result<SavePlan, ServiceError> {
    let stored = existing.content.revision;
    if content.revision < stored {
        return Err(ServiceError::StaleRevision {
            sent: content.revision,
            stored,
        });
    }
    if content.revision == stored {
        return if content == existing.content {
            Ok(SavePlan::Unchanged(existing.clone()))
        } else {
            Err(ServiceError::RevisionConflict(stored))
        };
    }

    let before = &existing.content;
    let relevant = content.relevant_change_from(before);
    let rebooked = !before.is_booked() && content.is_booked();
    let patient_status = patient_status_after(existing.patient_status, before, &content);
    let patient_cancelled = patient_status == PatientStatus::CancelledByPatient;

    let mut notified = existing.notified && !rebooked;
    let mut messages = Vec::new();
    if speaks(comms, &content, now) && !patient_cancelled {
        let channels = channels(&clinic.settings, &content.patient);
        let kind = if before.is_booked() && !content.is_booked() {
            Some(MessageKind::Cancellation)
        } else if content.is_booked() && !notified {
            Some(MessageKind::Confirmation)
        } else if content.is_booked() && relevant {
            Some(MessageKind::Change)
        } else {
            None
        };
        if let Some(kind) = kind {
            messages = pending_on_each(kind, &channels, content.revision, now);
        }
        if kind == Some(MessageKind::Confirmation) {
            notified = !messages.is_empty();
        }
    }

    let reminders = planned_reminders(
        &clinic.settings,
        reminders,
        &content,
        patient_status,
        &existing.reminders,
        now,
    );

    // A move or a cancellation by the clinic answers the patient's request for another time.
    let answered = content.start() != before.start() || (before.is_booked() && !content.is_booked());
    let reschedule_request = existing.reschedule_request.clone().filter(|_| !answered);
    let record = AppointmentRecord {
        content,
        patient_status,
        reminders,
        notified,
        reschedule_request,
        updated_at: now,
        version: existing.version + 1,
        ..existing.clone()
    };
    Ok(SavePlan::Write {
        write: AppointmentWrite {
            record,
            messages,
            events: Vec::new(),
        },
        created: false,
        previous_reminders: existing.reminders.clone(),
    })
}

/// What the patient's answer becomes when the clinic saves a new revision: a change they care
/// about asks them to confirm again, a move asks again whether they arrived, and booking again
/// after their cancellation starts over.
fn patient_status_after(
    status: PatientStatus,
    before: &AppointmentContent,
    after: &AppointmentContent,
) -> PatientStatus {
    let rebooked = !before.is_booked() && after.is_booked();
    match status {
        PatientStatus::Confirmed if after.relevant_change_from(before) => PatientStatus::Pending,
        PatientStatus::Arrived if after.start() != before.start() => PatientStatus::Pending,
        PatientStatus::CancelledByPatient if rebooked => PatientStatus::Pending,
        other => other,
    }
}

/// The reminders the appointment has after a save: each of the type's reminders whose time
/// (closest to T − before outside quiet hours, in its window) has not passed, for a booked
/// appointment the patient has not cancelled, with a channel the reminder may use. A reminder
/// whose time did not move keeps the revision that planned it (`earlier`), so its schedule
/// stays valid. Earliest due first.
fn planned_reminders(
    clinic: &ClinicSettings,
    specs: &[ReminderSpec],
    content: &AppointmentContent,
    patient_status: PatientStatus,
    earlier: &[PlannedReminder],
    now: DateTime<Utc>,
) -> Vec<PlannedReminder> {
    if !content.is_booked() || patient_status == PatientStatus::CancelledByPatient {
        return Vec::new();
    }
    let available = channels(clinic, &content.patient);
    let mut planned: Vec<PlannedReminder> = specs
        .iter()
        .filter(|spec| available.iter().any(|c| spec.allows(*c)))
        .filter_map(|spec| {
            let at = rules::reminder_time_before(
                content.start(),
                spec.before.duration(),
                &clinic.quiet_hours,
                clinic.tz(),
            )?;
            let kept = earlier.iter().find(|r| r.before == spec.before && r.at == at);
            match kept {
                Some(kept) => Some(*kept),
                None if at >= now => Some(PlannedReminder {
                    at,
                    revision: content.revision,
                    before: spec.before,
                }),
                None => None,
            }
        })
        .collect();
    planned.sort_by_key(|r| (r.at, r.before));
    planned
}
