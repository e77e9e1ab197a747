//! What patients do from their link: read the details, confirm, cancel, say they arrived.

use super::channels::{channels, pending_on_each};
use super::concurrency::until_not_overtaken;
use super::dispatch::{claim_on_write, Known};
use super::{Budget, Rappel, ServiceError};
use crate::domain::*;
use crate::links;
use crate::ports::{AppointmentWrite, LinkTarget, StoreError};
use crate::rules::{self, Refusal};
use chrono::{DateTime, Utc};

/// A patient's action from the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientAction {
    /// "I will attend."
    Confirm,
    /// "I cancel."
    Cancel,
    /// "I have arrived."
    Arrive,
}

/// Everything the patient page shows.
#[derive(Debug, Clone)]
pub struct PatientPage {
    /// The clinic.
    pub clinic: Clinic,
    /// The type's settings (questionnaire).
    pub type_settings: Option<TypeSettings>,
    /// The appointment.
    pub record: AppointmentRecord,
    /// When the page was read.
    pub now: DateTime<Utc>,
}

impl PatientPage {
    /// Whether `action` would be accepted right now, or why not.
    pub fn check(&self, action: PatientAction) -> Result<(), Refusal> {
        check_action(&self.clinic.settings, &self.record, action, self.now)
    }
}

pub(super) fn check_action(
    clinic: &ClinicSettings,
    record: &AppointmentRecord,
    action: PatientAction,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let start = record.content.start();
    if !record.content.is_booked() || record.patient_status == PatientStatus::CancelledByPatient {
        return Err(Refusal::AppointmentCancelled);
    }
    match action {
        PatientAction::Confirm => rules::check_confirm(now, start),
        PatientAction::Cancel => rules::check_cancel(now, start, clinic.allow_patient_cancellation),
        PatientAction::Arrive => rules::check_arrive(now, start, clinic.allow_arrival_checkin),
    }
}

impl Rappel {
    /// The appointment behind a patient link: 404 when unknown, 410 when expired.
    pub async fn patient_page(&self, token: &str) -> Result<PatientPage, ServiceError> {
        if !links::looks_like_token(token) {
            return Err(ServiceError::NotFound("link"));
        }
        let linked = self.store.read_by_token(token).await?;
        let record = match linked.target {
            LinkTarget::Appointment(record) => *record,
            LinkTarget::Expired => return Err(ServiceError::Gone),
            LinkTarget::Unknown => return Err(ServiceError::NotFound("link")),
        };
        let now = self.clock.now();
        if now > record.token_expires_at() {
            return Err(ServiceError::Gone);
        }
        let clinic = linked.clinic.ok_or(ServiceError::NotFound("clinic"))?;
        let type_settings = linked.type_settings;
        Ok(PatientPage {
            clinic,
            type_settings,
            record,
            now,
        })
    }

    /// Applies a patient action under the rules of docs/BEHAVIOUR.md §2.1; returns the new patient status.
    /// Repeating an action that already took effect answers the same status and changes nothing,
    /// except that a cancellation receipt not sent yet is tried again; once the clinic cancelled
    /// the appointment, repeating a confirmation or an arrival is refused like a first one.
    pub async fn patient_act(&self, token: &str, action: PatientAction) -> Result<PatientStatus, ServiceError> {
        let budget = Budget::start();
        until_not_overtaken("this appointment", || {
            self.patient_act_once(token, action, ActionSource::LINK, &budget)
        })
        .await
    }

    /// One attempt at `action`, from `source`: `None` when another writer changed the
    /// appointment first. A confirmation by text is answered by text (once per revision, even
    /// when the patient had confirmed already).
    pub(super) async fn patient_act_once(
        &self,
        token: &str,
        action: PatientAction,
        source: ActionSource,
        budget: &Budget,
    ) -> Result<Option<PatientStatus>, ServiceError> {
        let page = self.patient_page(token).await?;
        let record = &page.record;
        if already_taken(action, record) {
            let answer_by_text = action == PatientAction::Confirm && source.via == Via::Sms;
            if action == PatientAction::Cancel {
                self.dispatch_or_retry_later(&page.clinic, record, Known::default(), budget)
                    .await;
            } else if answer_by_text
                && self
                    .answer_by_text(&page, confirmation_receipt(&page), budget)
                    .await?
                    .is_none()
            {
                return Ok(None);
            }
            return Ok(Some(record.patient_status));
        }
        if source.sent_at.is_some_and(|sent| record.updated_at > sent) {
            return Err(ServiceError::Refused(Refusal::ChangedSinceAnswered));
        }
        page.check(action).map_err(ServiceError::Refused)?;
        let mut write = action_write(&page, action, source.via);
        claim_on_write(&mut write.messages, &page.clinic.settings, page.now);
        let recorded = match self.store.write_appointment(&write).await {
            Ok(recorded) => recorded,
            Err(StoreError::Conflict) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let status = write.record.patient_status;
        tracing::info!(clinic = %page.clinic.id, appointment = %record.id, status = status.as_str(), "patient action");
        let cancelled_reminders = record
            .reminders
            .iter()
            .filter(|r| action == PatientAction::Cancel && r.at >= page.now);
        for reminder in cancelled_reminders {
            // The reminder re-checks at fire time, so a failed delete only costs a no-op invocation.
            let name = super::reminder_schedule_name(&page.clinic.id, &record.id, reminder.before);
            if let Err(e) = self.delete_schedule(&name, budget).await {
                tracing::warn!(clinic = %page.clinic.id, appointment = %record.id, error = %e, "reminder schedule not deleted");
            }
        }
        // The patient's action stands even if the receipt cannot go out now: the scheduler
        // tries it again (and so does a repeated request).
        // What the action itself causes (a cancellation's receipts); messages left from before
        // have their own retries.
        let known = Known::after_write(&page.type_settings, Some(Vec::new()), &write.messages, &recorded);
        if !write.messages.is_empty() {
            self.dispatch_or_retry_later(&page.clinic, &write.record, known, budget)
                .await;
        }
        Ok(Some(status))
    }
}

/// Where a patient's action comes from.
#[derive(Debug, Clone, Copy)]
pub(super) struct ActionSource {
    /// The page's button or a text reply.
    pub via: Via,
    /// When the patient sent it, when that is not now (a text reply, delivered or retried
    /// late): an appointment written since is not the one they answered, and is not acted on.
    pub sent_at: Option<DateTime<Utc>>,
}

impl ActionSource {
    /// A button on the patient page, pressed now.
    pub const LINK: ActionSource = ActionSource {
        via: Via::Link,
        sent_at: None,
    };
}

/// Whether `action` already took effect, so repeating it changes nothing. A confirmation or
/// arrival counts only while the appointment is booked: once the clinic cancelled it, repeating
/// one is refused like a first one.
fn already_taken(action: PatientAction, record: &AppointmentRecord) -> bool {
    match (action, record.patient_status) {
        (PatientAction::Confirm, PatientStatus::Confirmed | PatientStatus::Arrived)
        | (PatientAction::Arrive, PatientStatus::Arrived) => record.content.is_booked(),
        (PatientAction::Cancel, PatientStatus::CancelledByPatient) => true,
        _ => false,
    }
}

/// The write an accepted `action` makes: the patient's new status and its event, and for a
/// cancellation, no reminder and a receipt on each channel (unless the type sends nothing).
fn action_write(page: &PatientPage, action: PatientAction, via: Via) -> AppointmentWrite {
    let record = &page.record;
    let now = page.now;
    let (status, event) = match action {
        PatientAction::Confirm => (PatientStatus::Confirmed, EventType::PatientConfirmed),
        PatientAction::Cancel => (PatientStatus::CancelledByPatient, EventType::PatientCancelled),
        PatientAction::Arrive => (PatientStatus::Arrived, EventType::PatientArrived),
    };
    let cancel = action == PatientAction::Cancel;
    let speaks = Communications::of(page.type_settings.as_ref()) != Communications::None;
    let messages = if cancel && speaks {
        let channels = channels(&page.clinic.settings, &record.content.patient);
        pending_on_each(
            MessageKind::CancellationReceipt,
            &channels,
            record.content.revision,
            now,
        )
    } else if action == PatientAction::Confirm && via == Via::Sms {
        confirmation_receipt(page)
    } else {
        Vec::new()
    };
    AppointmentWrite {
        record: AppointmentRecord {
            patient_status: status,
            reminders: if cancel { Vec::new() } else { record.reminders.clone() },
            updated_at: now,
            version: record.version + 1,
            ..record.clone()
        },
        messages,
        events: vec![NewEvent::patient(now, record.id.clone(), event).via(via)],
    }
}

/// The text that answers a confirmation by text: one per revision (its key), so a repeated
/// `OUI`, or a duplicate delivery of one, is answered once.
fn confirmation_receipt(page: &PatientPage) -> Vec<MessageRecord> {
    vec![MessageRecord::pending(
        MessageKind::ConfirmationReceipt,
        Channel::Sms,
        page.record.content.revision,
        page.now,
    )]
}
