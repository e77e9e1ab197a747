//! The pre-visit reminder, fired by the scheduler (docs/BEHAVIOUR.md §6). Everything is re-read and
//! re-checked at fire time: a schedule that outlived its reason sends nothing.

use super::{Budget, Rappel, ServiceError};
use crate::domain::*;
use crate::ports::SchedulePayload;
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

impl Rappel {
    /// Handles one scheduler invocation, whatever its kind.
    pub async fn fire(&self, payload: &SchedulePayload) -> Result<ReminderOutcome, ServiceError> {
        if payload.kind == super::dispatch::TEXTS_KIND {
            return self.release_held_texts(payload).await;
        }
        self.fire_reminder(payload).await
    }

    /// Quiet hours are over: sends the texts they held back that still apply, drops the others.
    async fn release_held_texts(&self, payload: &SchedulePayload) -> Result<ReminderOutcome, ServiceError> {
        let Some(clinic) = self.store.clinic(&payload.clinic_id).await? else {
            return Ok(ReminderOutcome::Skipped("unknown clinic"));
        };
        let Some(record) = self.store.appointment(&clinic.id, &payload.appointment_id).await? else {
            return Ok(ReminderOutcome::Skipped("unknown appointment"));
        };
        self.dispatch(&clinic, &record, &Budget::start()).await?;
        Ok(ReminderOutcome::Sent)
    }

    /// Handles one reminder invocation. An `Err` asks the scheduler to retry; the retry sends
    /// only what is still missing.
    pub async fn fire_reminder(&self, payload: &SchedulePayload) -> Result<ReminderOutcome, ServiceError> {
        if payload.kind != "reminder" {
            return Ok(ReminderOutcome::Skipped("not a reminder"));
        }
        let Some(clinic) = self.store.clinic(&payload.clinic_id).await? else {
            return Ok(ReminderOutcome::Skipped("unknown clinic"));
        };
        let Some(record) = self.store.appointment(&clinic.id, &payload.appointment_id).await? else {
            return Ok(ReminderOutcome::Skipped("unknown appointment"));
        };
        let now = self.clock.now();
        let skip = if record.reminder.map(|r| r.revision) != Some(payload.revision) {
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
        let type_settings = self.store.type_settings(&clinic.id, &record.content.type_code).await?;
        let comms = type_settings.as_ref().map(|t| t.communications).unwrap_or_default();
        let skip = skip.or((comms != Communications::Full).then_some("the type no longer asks for reminders"));
        if let Some(reason) = skip {
            tracing::info!(clinic = %clinic.id, appointment = %record.id, reason, "reminder skipped");
            return Ok(ReminderOutcome::Skipped(reason));
        }
        let budget = Budget::start();
        let settings = &clinic.settings;
        match rules::reminder_firing(now, record.content.start(), &settings.quiet_hours, settings.tz()) {
            ReminderFiring::SendNow => {}
            ReminderFiring::Later(at) => {
                // A retried or late invocation: the same schedule, for the next allowed minute.
                let reminder = PlannedReminder {
                    at,
                    revision: payload.revision,
                };
                // Under its own name: the schedule firing now may still be deleted after this
                // invocation (EventBridge's ActionAfterCompletion), and must not take this one along.
                let mut schedule = super::appointments::reminder_schedule(&clinic.id, &record.id, reminder);
                schedule.name = super::appointments::deferred_schedule_name(&clinic.id, &record.id, at);
                budget
                    .call("scheduler", self.scheduler.put_schedule(&schedule))
                    .await
                    .map_err(ServiceError::Unavailable)?;
                tracing::info!(clinic = %clinic.id, appointment = %record.id, until = %at, "reminder deferred");
                return Ok(ReminderOutcome::Deferred(at));
            }
            ReminderFiring::TooLate => {
                tracing::warn!(clinic = %clinic.id, appointment = %record.id, "reminder fired after its window; not sent");
                return Ok(ReminderOutcome::Skipped("its window has passed"));
            }
        }
        let messages: Vec<MessageRecord> = super::appointments::channels(&clinic.settings, &record.content.patient)
            .into_iter()
            .map(|c| MessageRecord::pending(MessageKind::Reminder, c, payload.revision, now))
            .collect();
        self.store.add_messages(&clinic.id, &record.id, &messages).await?;
        self.dispatch_known(&clinic, &record, Some(&type_settings), &budget)
            .await?;
        Ok(ReminderOutcome::Sent)
    }
}
