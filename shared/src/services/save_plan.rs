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
//! also asks them to confirm again; a move asks again whether they have arrived.
//!
//! The reminder: a type set to `full`, a booked appointment the patient has not cancelled, and a
//! channel to send on give it a time ([`rules::reminder_time`]: closest to T−36 h outside quiet
//! hours). An unchanged time keeps the planning revision, so its schedule stays valid; a new time
//! takes the new revision; a time already past plans none.

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
        /// The reminder the appointment had before, whose schedule may need removing.
        previous_reminder: Option<PlannedReminder>,
    },
}

/// Plans saving `content` as appointment `id`, over `existing` (none on a first save).
pub(super) fn plan_save(
    clinic: &Clinic,
    comms: Communications,
    existing: Option<&AppointmentRecord>,
    id: &AppointmentId,
    content: AppointmentContent,
    now: DateTime<Utc>,
) -> Result<SavePlan, ServiceError> {
    match existing {
        None => Ok(plan_first_save(clinic, comms, id, content, now)),
        Some(existing) => plan_later_save(clinic, comms, existing, content, now),
    }
}

/// Whether a save may send anything at all: the type speaks and the appointment is ahead.
fn speaks(comms: Communications, content: &AppointmentContent, now: DateTime<Utc>) -> bool {
    comms != Communications::None && content.start() > now
}

fn plan_first_save(
    clinic: &Clinic,
    comms: Communications,
    id: &AppointmentId,
    content: AppointmentContent,
    now: DateTime<Utc>,
) -> SavePlan {
    let settings = &clinic.settings;
    let patient_status = PatientStatus::Pending;
    let reminder = wanted_reminder_time(settings, comms, &content, patient_status)
        .filter(|at| *at >= now)
        .map(|at| PlannedReminder {
            at,
            revision: content.revision,
        });
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
        reminder,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    SavePlan::Write {
        previous_reminder: None,
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

    let wanted = wanted_reminder_time(&clinic.settings, comms, &content, patient_status);
    let reminder = match (existing.reminder, wanted) {
        (Some(old), Some(at)) if old.at == at => Some(old),
        (_, Some(at)) if at >= now => Some(PlannedReminder {
            at,
            revision: content.revision,
        }),
        _ => None,
    };

    let record = AppointmentRecord {
        content,
        patient_status,
        reminder,
        notified,
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
        previous_reminder: existing.reminder,
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

/// The reminder the appointment should have, ignoring whether its time has passed.
fn wanted_reminder_time(
    clinic: &ClinicSettings,
    comms: Communications,
    content: &AppointmentContent,
    patient_status: PatientStatus,
) -> Option<DateTime<Utc>> {
    let wanted = comms == Communications::Full
        && content.is_booked()
        && patient_status != PatientStatus::CancelledByPatient
        && !channels(clinic, &content.patient).is_empty();
    if wanted {
        rules::reminder_time(content.start(), &clinic.quiet_hours, clinic.tz())
    } else {
        None
    }
}
