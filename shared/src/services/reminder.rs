//! The pre-visit reminder, fired by the scheduler (docs/BEHAVIOUR.md §6). Everything is re-read and
//! re-checked at fire time: a schedule that outlived its reason sends nothing.

use super::channels::channels;
use super::concurrency::until_not_overtaken;
use super::dispatch::{claim_on_write, Known};
use super::schedules::deferred_reminder_schedule;
use super::{Budget, Rappel, ServiceError};
use crate::domain::*;
use crate::ports::{ScheduleKind, SchedulePayload, StoreError, Wanted};
use crate::rules::{self, ReminderFiring};

/// What a fire did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReminderOutcome {
    /// Reminder messages were recorded and sent (or were already).
    Sent,
    /// Fired in quiet hours or early: the schedule was set again for this instant.
    Deferred(chrono::DateTime<chrono::Utc>),
    /// Nothing to do, and why.
    Skipped(&'static str),
}

/// What the reminder function answers Lambda for one invocation: `Ok` with what happened, or
/// `Err` only when a retry can help (see [`ServiceError::is_retryable`]). An error no retry can
/// fix is logged and answered `Ok`, so Lambda does not spend its retries on it.
pub type SchedulerAnswer = Result<serde_json::Value, ServiceError>;

impl Rappel {
    /// Handles one scheduler invocation and decides what Lambda should hear (see [`SchedulerAnswer`]).
    pub async fn answer_scheduler(&self, payload: &SchedulePayload) -> SchedulerAnswer {
        match self.fire(payload).await {
            Ok(outcome) => Ok(serde_json::json!({ "outcome": format!("{outcome:?}") })),
            Err(e) if e.is_retryable() => {
                tracing::warn!(clinic = %payload.clinic_id, appointment = %payload.appointment_id, error = %e, "scheduler invocation failed; Lambda retries it");
                Err(e)
            }
            Err(e) => {
                tracing::error!(clinic = %payload.clinic_id, appointment = %payload.appointment_id, error = %e, "scheduler invocation failed for good; not retried");
                Ok(serde_json::json!({ "outcome": "Failed", "retryable": false }))
            }
        }
    }

    /// Handles one scheduler invocation, whatever its kind.
    pub async fn fire(&self, payload: &SchedulePayload) -> Result<ReminderOutcome, ServiceError> {
        match payload.kind {
            ScheduleKind::Texts => self.release_held_texts(payload).await,
            ScheduleKind::Reminder | ScheduleKind::Unknown => self.fire_reminder(payload).await,
        }
    }

    /// Quiet hours are over: sends the texts they held back that still apply, drops the others.
    async fn release_held_texts(&self, payload: &SchedulePayload) -> Result<ReminderOutcome, ServiceError> {
        let found = self.read_scheduled(payload).await?;
        let Some(clinic) = found.clinic else {
            return Ok(ReminderOutcome::Skipped("unknown clinic"));
        };
        let Some(record) = found.appointment else {
            return Ok(ReminderOutcome::Skipped("unknown appointment"));
        };
        let known = Known {
            type_settings: found.type_settings.as_ref(),
            ..Known::default()
        };
        self.dispatch_known(&clinic, &record, known, &Budget::start()).await?;
        Ok(ReminderOutcome::Sent)
    }

    /// Handles one reminder invocation. An `Err` asks the scheduler to retry; the retry sends
    /// only what is still missing.
    pub async fn fire_reminder(&self, payload: &SchedulePayload) -> Result<ReminderOutcome, ServiceError> {
        if payload.kind != ScheduleKind::Reminder {
            return Ok(ReminderOutcome::Skipped("not a reminder"));
        }
        until_not_overtaken("this appointment", || self.fire_reminder_once(payload)).await
    }

    /// One attempt: `None` when a save changed the appointment between its read and the
    /// recording of the reminder's messages.
    async fn fire_reminder_once(&self, payload: &SchedulePayload) -> Result<Option<ReminderOutcome>, ServiceError> {
        let found = self.read_scheduled(payload).await?;
        let Some(clinic) = found.clinic else {
            return Ok(Some(ReminderOutcome::Skipped("unknown clinic")));
        };
        let Some(record) = found.appointment else {
            return Ok(Some(ReminderOutcome::Skipped("unknown appointment")));
        };
        let now = self.clock.now();
        let before = payload.before.unwrap_or(ReminderOffset::DEFAULT);
        let skip = if record.reminder(before).map(|r| r.revision) != Some(payload.revision) {
            Some("moved, re-typed or replanned since this schedule")
        } else if !record.content.is_booked() {
            Some("cancelled by the clinic")
        } else if record.patient_status == PatientStatus::CancelledByPatient {
            Some("cancelled by the patient")
        } else if record.content.start() <= now {
            Some("the appointment has started")
        } else {
            None
        };
        let type_settings = found.type_settings.unwrap_or(None);
        let spec = type_settings
            .as_ref()
            .and_then(|t| t.planned_reminders().into_iter().find(|s| s.before == before));
        let skip = skip.or(spec.is_none().then_some("the type no longer asks for this reminder"));
        if let Some(reason) = skip {
            tracing::info!(clinic = %clinic.id, appointment = %record.id, reason, "reminder skipped");
            return Ok(Some(ReminderOutcome::Skipped(reason)));
        }
        let budget = Budget::start();
        let settings = &clinic.settings;
        let start = record.content.start();
        match rules::reminder_firing_before(now, start, before.duration(), &settings.quiet_hours, settings.tz()) {
            ReminderFiring::SendNow => {}
            ReminderFiring::Later(at) => {
                // A retried or late invocation: the same reminder, for the next allowed minute,
                // under a name of its own (see `schedules`).
                let schedule = deferred_reminder_schedule(&clinic.id, &record, payload.revision, before, at);
                self.put_schedule(&schedule, &budget).await?;
                tracing::info!(clinic = %clinic.id, appointment = %record.id, until = %at, "reminder deferred");
                return Ok(Some(ReminderOutcome::Deferred(at)));
            }
            ReminderFiring::TooLate => {
                tracing::warn!(clinic = %clinic.id, appointment = %record.id, "reminder fired after its window; not sent");
                return Ok(Some(ReminderOutcome::Skipped("its window has passed")));
            }
        }
        let mut messages: Vec<MessageRecord> = channels(&clinic.settings, &record.content.patient)
            .into_iter()
            .filter(|c| spec.as_ref().is_some_and(|s| s.allows(*c)))
            .map(|c| MessageRecord::pending_reminder(before, c, payload.revision, now))
            .collect();
        if messages.is_empty() {
            return Ok(Some(ReminderOutcome::Skipped("no channel left for this reminder")));
        }
        claim_on_write(&mut messages, &clinic.settings, now);
        // The address is known only now: its suppression is read with the write, not before it.
        let email = messages
            .iter()
            .any(|m| m.channel == Channel::Email)
            .then(|| record.content.patient.email.as_ref().map(|e| e.as_str().to_lowercase()))
            .flatten();
        let added = match self
            .store
            .add_messages_checking(&record, &messages, email.as_deref())
            .await
        {
            Ok(added) => added,
            Err(StoreError::Conflict) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // The reminder's own messages; a repeated delivery (some recorded before) reads them all.
        let mut known = Known::after_write(&type_settings, Some(Vec::new()), &messages, &added.recorded);
        known.suppressed = added.suppressed;
        self.dispatch_known(&clinic, &record, known, &budget).await?;
        Ok(Some(ReminderOutcome::Sent))
    }

    /// The clinic, appointment and type settings a schedule names, read together. The type is
    /// read with them when the schedule carries it (`type_settings` is then `Some`) and still
    /// matches the appointment's; else on its own.
    async fn read_scheduled(&self, payload: &SchedulePayload) -> Result<Scheduled, ServiceError> {
        let wanted = Wanted {
            clinic: true,
            appointment: Some(payload.appointment_id.clone()),
            type_code: payload.type_code.clone(),
            suppression_of: None,
        };
        let found = self.store.read_together(&payload.clinic_id, &wanted).await?;
        let type_settings = match &found.appointment {
            Some(record) if payload.type_code.as_ref() == Some(&record.content.type_code) => Some(found.type_settings),
            Some(record) => Some(
                self.store
                    .type_settings(&payload.clinic_id, &record.content.type_code)
                    .await?,
            ),
            None => None,
        };
        Ok(Scheduled {
            clinic: found.clinic,
            appointment: found.appointment,
            type_settings,
        })
    }
}

/// What a schedule's payload names, as read.
struct Scheduled {
    clinic: Option<Clinic>,
    appointment: Option<AppointmentRecord>,
    /// The appointment type's settings (`Some(None)`: the clinic set none), when the
    /// appointment exists.
    type_settings: Option<Option<TypeSettings>>,
}
