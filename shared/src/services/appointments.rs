//! Saving appointments from the EMR: revisions, what changed, which messages and which reminder follow.

use super::{Budget, Rappel, ServiceError};
use crate::domain::*;
use crate::links;
use crate::ports::{AppointmentWrite, Schedule, SchedulePayload, StoreError};
use crate::rules;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// How a save ended (201 / 200 / 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// First save.
    Created,
    /// A higher revision was stored.
    Updated,
    /// The same revision with the same content: nothing new.
    Unchanged,
}

/// One message in the appointment view.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MessageView {
    /// Its kind.
    pub kind: MessageKind,
    /// Its channel.
    pub channel: Channel,
    /// Where it stands.
    pub status: MessageStatus,
    /// When it last moved.
    pub at: String,
}

/// `GET /v1/appointments/{id}` (docs/BEHAVIOUR.md §4.4). Times in the clinic's zone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppointmentView {
    /// The EMR's id.
    pub id: AppointmentId,
    /// Latest revision.
    pub revision: u64,
    /// `booked` or `cancelled`.
    pub status: AppointmentStatus,
    /// What the patient said.
    pub patient_status: PatientStatus,
    /// T.
    pub start: String,
    /// When the reminder is (or was) due.
    pub reminder_at: Option<String>,
    /// The patient page.
    pub patient_url: String,
    /// Messages, oldest first.
    pub messages: Vec<MessageView>,
}

/// The deterministic name of an appointment's reminder schedule: one per appointment, so a move
/// updates it in place (EventBridge allows 64 characters of `[0-9a-zA-Z-_.]`; ids can be 64
/// long, so they are hashed). The payload carries the planning revision, so an invocation
/// already under way for the old time recognises itself as stale.
pub fn schedule_name(clinic: &ClinicId, id: &AppointmentId) -> String {
    let digest = Sha256::digest(format!("{clinic}\n{id}").as_bytes());
    format!("rappel-reminder-{}", &hex::encode(digest)[..40])
}

/// The name of a reminder put off to `at` by its own firing (quiet hours): one per instant, apart
/// from the appointment's own schedule.
pub(super) fn deferred_schedule_name(clinic: &ClinicId, id: &AppointmentId, at: DateTime<Utc>) -> String {
    let digest = Sha256::digest(format!("{clinic}\n{id}\n{}", at.timestamp()).as_bytes());
    format!("rappel-later-{}", &hex::encode(digest)[..40])
}

/// What a save will do, decided without I/O.
enum SavePlan {
    Unchanged(AppointmentRecord),
    Write {
        write: AppointmentWrite,
        created: bool,
        /// The reminder the appointment had before, whose schedule may need removing.
        previous_reminder: Option<PlannedReminder>,
    },
}

/// The channels the clinic and patient allow for automated messages.
pub(super) fn channels(clinic: &ClinicSettings, patient: &Patient) -> Vec<Channel> {
    let mut channels = Vec::with_capacity(2);
    if patient.email.is_some() {
        channels.push(Channel::Email);
    }
    if clinic.sms_enabled && patient.mobile.is_some() {
        channels.push(Channel::Sms);
    }
    channels
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

/// The schedule that fires `reminder`.
pub(super) fn reminder_schedule(clinic: &ClinicId, id: &AppointmentId, reminder: PlannedReminder) -> Schedule {
    Schedule {
        name: schedule_name(clinic, id),
        at: reminder.at,
        payload: SchedulePayload {
            clinic_id: clinic.clone(),
            appointment_id: id.clone(),
            revision: reminder.revision,
            kind: "reminder".to_owned(),
        },
    }
}

fn plan_save(
    clinic: &Clinic,
    comms: Communications,
    existing: Option<&AppointmentRecord>,
    id: &AppointmentId,
    content: AppointmentContent,
    now: DateTime<Utc>,
) -> Result<SavePlan, ServiceError> {
    let settings = &clinic.settings;
    let future = content.start() > now;
    let speaks = comms != Communications::None && future;
    let channels = channels(settings, &content.patient);
    let messages_of = |kind: MessageKind| -> Vec<MessageRecord> {
        channels
            .iter()
            .map(|c| MessageRecord::pending(kind, *c, content.revision, now))
            .collect()
    };

    let Some(existing) = existing else {
        let patient_status = PatientStatus::Pending;
        let reminder = wanted_reminder_time(settings, comms, &content, patient_status)
            .filter(|at| *at >= now)
            .map(|at| PlannedReminder {
                at,
                revision: content.revision,
            });
        let messages = if speaks && content.is_booked() {
            messages_of(MessageKind::Confirmation)
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
        return Ok(SavePlan::Write {
            previous_reminder: None,
            created: true,
            write: AppointmentWrite {
                record,
                messages,
                events: Vec::new(),
            },
        });
    };

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
    let moved = content.start() != before.start();
    let patient_status = match existing.patient_status {
        PatientStatus::Confirmed if relevant => PatientStatus::Pending,
        // Arriving was for the old time: a move asks again.
        PatientStatus::Arrived if moved => PatientStatus::Pending,
        PatientStatus::CancelledByPatient if rebooked => PatientStatus::Pending,
        other => other,
    };
    let patient_cancelled = patient_status == PatientStatus::CancelledByPatient;

    let mut notified = existing.notified && !rebooked;
    let mut messages = Vec::new();
    if speaks && !patient_cancelled {
        if before.is_booked() && !content.is_booked() {
            messages = messages_of(MessageKind::Cancellation);
        } else if content.is_booked() && !notified {
            messages = messages_of(MessageKind::Confirmation);
            notified = !messages.is_empty();
        } else if content.is_booked() && relevant {
            messages = messages_of(MessageKind::Change);
        }
    }

    let wanted = wanted_reminder_time(settings, comms, &content, patient_status);
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

impl Rappel {
    /// Saves one revision of an appointment (`PUT /v1/appointments/{id}`) and carries out what it
    /// causes: messages and the reminder schedule. A replay of a save whose effects failed
    /// completes the missing ones.
    pub async fn save_appointment(
        &self,
        clinic: &Clinic,
        id: AppointmentId,
        content: AppointmentContent,
    ) -> Result<(SaveOutcome, AppointmentRecord), ServiceError> {
        let (outcome, record, _) = self.save_and_report(clinic, id, content).await?;
        Ok((outcome, record))
    }

    /// The same, also returning the appointment's messages as the save left them (what the
    /// EMR's answer shows), without reading them again.
    pub async fn save_and_report(
        &self,
        clinic: &Clinic,
        id: AppointmentId,
        content: AppointmentContent,
    ) -> Result<(SaveOutcome, AppointmentRecord, Vec<MessageRecord>), ServiceError> {
        content
            .check()
            .map_err(|(field, message)| ServiceError::invalid(field, message))?;
        let budget = Budget::start();
        let type_settings = self.store.type_settings(&clinic.id, &content.type_code).await?;
        let comms = type_settings.as_ref().map(|t| t.communications).unwrap_or_default();
        // Optimistic concurrency: a lost race re-reads and re-plans. Each retry means another
        // writer made progress, so a handful of attempts is plenty.
        for _ in 0..16 {
            let now = self.clock.now();
            let existing = self.store.appointment(&clinic.id, &id).await?;
            let (write, created, previous_reminder) =
                match plan_save(clinic, comms, existing.as_ref(), &id, content.clone(), now)? {
                    SavePlan::Unchanged(record) => {
                        // A replay: whatever the first try left undone is done now.
                        self.sync_reminder_schedule(clinic, &record, record.reminder, &budget)
                            .await?;
                        let messages = self
                            .dispatch_known(clinic, &record, Some(&type_settings), &budget)
                            .await?;
                        return Ok((SaveOutcome::Unchanged, record, messages));
                    }
                    SavePlan::Write {
                        write,
                        created,
                        previous_reminder,
                    } => (write, created, previous_reminder),
                };
            match self.store.write_appointment(&write).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
            tracing::info!(clinic = %clinic.id, appointment = %id, revision = write.record.content.revision, messages = write.messages.len(), "appointment saved");
            self.sync_reminder_schedule(clinic, &write.record, previous_reminder, &budget)
                .await?;
            let messages = self
                .dispatch_known(clinic, &write.record, Some(&type_settings), &budget)
                .await?;
            let outcome = if created {
                SaveOutcome::Created
            } else {
                SaveOutcome::Updated
            };
            return Ok((outcome, write.record, messages));
        }
        Err(ServiceError::Unavailable(
            "too many concurrent saves of this appointment".to_owned(),
        ))
    }

    /// Makes the scheduler hold the reminder `record` plans: its schedule put (again: a put
    /// that failed before is repaired by any later save), or deleted when the reminder that
    /// `previous` planned is gone. Then it checks that no newer save overtook `record`
    /// meanwhile, and if one did, does the same for it: two saves racing could otherwise leave
    /// the older one's schedule last in place, and the real reminder would never fire.
    async fn sync_reminder_schedule(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        previous: Option<PlannedReminder>,
        budget: &Budget,
    ) -> Result<(), ServiceError> {
        let mut record = record.clone();
        let mut previous = previous;
        for _ in 0..8 {
            let now = self.clock.now();
            let name = schedule_name(&clinic.id, &record.id);
            match record.reminder.filter(|r| r.at >= now) {
                Some(reminder) => {
                    let schedule = reminder_schedule(&clinic.id, &record.id, reminder);
                    budget
                        .call("scheduler", self.scheduler.put_schedule(&schedule))
                        .await
                        .map_err(ServiceError::Unavailable)?;
                }
                None if previous.is_some_and(|p| p.at >= now) => {
                    budget
                        .call("scheduler", self.scheduler.delete_schedule(&name))
                        .await
                        .map_err(ServiceError::Unavailable)?;
                }
                None => return Ok(()),
            }
            match self.store.appointment(&clinic.id, &record.id).await? {
                Some(fresh) if fresh.version != record.version => {
                    previous = record.reminder.or(previous);
                    record = fresh;
                }
                _ => return Ok(()),
            }
        }
        Err(ServiceError::Unavailable(
            "the appointment kept changing while its reminder was scheduled".to_owned(),
        ))
    }

    /// `GET /v1/appointments/{id}`.
    pub async fn appointment_view(&self, clinic: &Clinic, id: &AppointmentId) -> Result<AppointmentView, ServiceError> {
        let record = self
            .store
            .appointment(&clinic.id, id)
            .await?
            .ok_or(ServiceError::NotFound("appointment"))?;
        let messages = self.store.messages(&clinic.id, id).await?;
        Ok(self.view(clinic, &record, &messages))
    }

    /// The view of a record.
    pub fn view(&self, clinic: &Clinic, record: &AppointmentRecord, messages: &[MessageRecord]) -> AppointmentView {
        let zone = clinic.settings.tz();
        let show = |t: DateTime<Utc>| {
            t.with_timezone(&zone)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        };
        AppointmentView {
            id: record.id.clone(),
            revision: record.content.revision,
            status: record.content.status,
            patient_status: record.patient_status,
            start: show(record.content.start()),
            reminder_at: record.reminder.map(|r| show(r.at)),
            patient_url: links::patient_url(&self.config.public_base_url, &record.token),
            messages: messages
                .iter()
                .map(|m| MessageView {
                    kind: m.kind,
                    channel: m.channel,
                    status: m.status,
                    at: show(m.at),
                })
                .collect(),
        }
    }
}
