//! Saving appointments from the EMR (what a save decides is in `save_plan`), keeping the
//! reminder's schedule in step, and the appointment as the EMR reads it back.

use super::concurrency::until_not_overtaken;
use super::save_plan::{plan_save, SavePlan};
use super::schedules::{reminder_schedule, schedule_name};
use super::{Budget, Dependency, Rappel, ServiceError};
use crate::domain::*;
use crate::ports::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;

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
    /// Confirmation, change, cancellation, reminder or receipt.
    pub kind: MessageKind,
    /// Email or SMS.
    pub channel: Channel,
    /// Where it stands.
    pub status: MessageStatus,
    /// When its status last changed, in the clinic's zone.
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
    /// When the appointment starts, in the clinic's zone.
    pub start: String,
    /// When the reminder is (or was) due, in the clinic's zone.
    pub reminder_at: Option<String>,
    /// The patient page.
    pub patient_url: String,
    /// Messages, oldest first.
    pub messages: Vec<MessageView>,
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
        until_not_overtaken("this appointment", || {
            self.save_attempt(clinic, &id, &content, &type_settings, &budget)
        })
        .await
    }

    /// Reads the appointment, plans the save and writes it unless another writer got there
    /// first (`None`); then carries out what the stored save causes.
    async fn save_attempt(
        &self,
        clinic: &Clinic,
        id: &AppointmentId,
        content: &AppointmentContent,
        type_settings: &Option<TypeSettings>,
        budget: &Budget,
    ) -> Result<Option<(SaveOutcome, AppointmentRecord, Vec<MessageRecord>)>, ServiceError> {
        let now = self.clock.now();
        let existing = self.store.appointment(&clinic.id, id).await?;
        let comms = Communications::of(type_settings.as_ref());
        let (write, created, previous_reminder) =
            match plan_save(clinic, comms, existing.as_ref(), id, content.clone(), now)? {
                SavePlan::Unchanged(record) => {
                    // A replay: whatever the first try left undone is done now.
                    self.sync_reminder_schedule(clinic, &record, record.reminder, budget)
                        .await?;
                    let messages = self
                        .dispatch_known(clinic, &record, Some(type_settings), budget)
                        .await?;
                    return Ok(Some((SaveOutcome::Unchanged, record, messages)));
                }
                SavePlan::Write {
                    write,
                    created,
                    previous_reminder,
                } => (write, created, previous_reminder),
            };
        match self.store.write_appointment(&write).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(clinic = %clinic.id, appointment = %id, revision = write.record.content.revision, messages = write.messages.len(), "appointment saved");
        self.sync_reminder_schedule(clinic, &write.record, previous_reminder, budget)
            .await?;
        let messages = self
            .dispatch_known(clinic, &write.record, Some(type_settings), budget)
            .await?;
        let outcome = if created {
            SaveOutcome::Created
        } else {
            SaveOutcome::Updated
        };
        Ok(Some((outcome, write.record, messages)))
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
                    self.put_schedule(&schedule, budget).await?;
                }
                None if previous.is_some_and(|p| p.at >= now) => {
                    self.delete_schedule(&name, budget).await?;
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
        Err(ServiceError::unavailable(
            Dependency::ConcurrentRequests,
            "the appointment kept changing while its reminder was scheduled",
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
            patient_url: self.patient_url(record),
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
