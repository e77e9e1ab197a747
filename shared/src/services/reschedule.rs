//! A patient's request for another time from the link (docs/BEHAVIOUR.md §9.2): up to three
//! preferred half-days and a note, sent to the EMR as a `patient_reschedule_requested` event.
//! One open request per appointment; the clinic answers it by moving or cancelling.

use super::concurrency::until_not_overtaken;
use super::{PatientPage, Rappel, ServiceError};
use crate::domain::*;
use crate::ports::{AppointmentWrite, StoreError};
use crate::rules::{self, Refusal};

/// What the patient's form sent: half-days as `2026-12-03-am` (empty ones are skipped) and the
/// note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescheduleForm {
    /// The chosen half-days, in order of preference.
    pub preferences: Vec<String>,
    /// The note, if any.
    pub note: Option<String>,
}

impl PatientPage {
    /// Whether the patient may ask for another time right now, or why not (an open request
    /// answers `RescheduleAlreadyRequested`).
    pub fn check_reschedule(&self) -> Result<(), Refusal> {
        let record = &self.record;
        if !record.content.is_booked() || record.patient_status == PatientStatus::CancelledByPatient {
            return Err(Refusal::AppointmentCancelled);
        }
        rules::check_reschedule(
            self.now,
            record.content.start(),
            self.clinic.settings.allow_reschedule_request,
        )?;
        if record.reschedule_request.is_some() {
            return Err(Refusal::RescheduleAlreadyRequested);
        }
        Ok(())
    }

    /// The clinic-local day the page is read on (the half-days offered follow it).
    pub fn local_today(&self) -> chrono::NaiveDate {
        self.now.with_timezone(&self.clinic.settings.tz()).date_naive()
    }
}

impl Rappel {
    /// Records the patient's request for another time. The same request sent again (a double
    /// tap, a retried POST) answers the request as recorded; another while one is open is refused.
    pub async fn request_reschedule(
        &self,
        token: &str,
        form: &RescheduleForm,
    ) -> Result<RescheduleRequest, ServiceError> {
        until_not_overtaken("this appointment", || self.request_reschedule_once(token, form)).await
    }

    async fn request_reschedule_once(
        &self,
        token: &str,
        form: &RescheduleForm,
    ) -> Result<Option<RescheduleRequest>, ServiceError> {
        let page = self.patient_page(token).await?;
        let preferences = read_preferences(form)?;
        if let Some(open) = &page.record.reschedule_request {
            if open.is_same_as(&preferences, form.note.as_deref()) {
                return Ok(Some(open.clone()));
            }
        }
        page.check_reschedule().map_err(ServiceError::Refused)?;
        let request = RescheduleRequest::new(preferences, form.note.as_deref(), page.local_today(), page.now)
            .map_err(|e| ServiceError::invalid(invalid_field(&e.0), e.0))?;
        let record = &page.record;
        let mut event =
            NewEvent::patient(page.now, record.id.clone(), EventType::PatientRescheduleRequested).via(Via::Link);
        event.request = Some(request.clone());
        let write = AppointmentWrite {
            record: AppointmentRecord {
                reschedule_request: Some(request.clone()),
                updated_at: page.now,
                version: record.version + 1,
                ..record.clone()
            },
            messages: Vec::new(),
            events: vec![event],
        };
        match self.store.write_appointment(&write).await {
            Ok(_) => {
                // The note is the patient's own words: never logged.
                tracing::info!(clinic = %page.clinic.id, appointment = %record.id, preferences = request.preferences.len(), "reschedule requested");
                Ok(Some(request))
            }
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// The form's half-days, read; an unreadable one is a 422 naming `preferences`.
fn read_preferences(form: &RescheduleForm) -> Result<Vec<HalfDay>, ServiceError> {
    form.preferences
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| {
            HalfDay::parse(p).ok_or_else(|| {
                ServiceError::invalid("preferences", "a half-day is written YYYY-MM-DD-am or YYYY-MM-DD-pm")
            })
        })
        .collect()
}

/// Which field a validation message is about.
fn invalid_field(message: &str) -> &'static str {
    if message.contains("note") {
        "note"
    } else {
        "preferences"
    }
}
