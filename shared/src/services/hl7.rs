//! `POST /hl7/v2`: one SIU message, mapped onto the same save as the JSON API, answered with an
//! HL7 acknowledgement (docs/HL7V2.md).
//!
//! Ordering: MSH-7 orders the messages of one appointment. A message is saved with revision
//! `MSH-7 in milliseconds × 1000`; one with the same MSH-7 as the stored save applies after it
//! (revision + 1, or a replay when nothing differs); an older one is acknowledged and changes
//! nothing.

use super::ordering::{revision_at, PER_MILLISECOND};
use super::{Rappel, ServiceError};
use crate::domain::*;
use crate::formats::ack::{acknowledgement, AckCode, AckError};
use crate::formats::er7::Message;
use crate::formats::siu::{self, FieldError, Header, Siu};
use serde_json::Value;

/// What `POST /hl7/v2` answers: an HTTP status (200, or 503 when the same message should be
/// sent again later) and the acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hl7Answer {
    /// 200, or 503 with an `AR` when Rappel cannot take the message now.
    pub status: u16,
    /// The ER7 acknowledgement.
    pub ack: String,
    /// MSA-1, for logs and tests.
    pub code: AckCode,
}

/// How a message ended, before it is written as an acknowledgement.
enum Outcome {
    Accepted,
    Error(AckError),
    Rejected(AckError),
    Later(AckError),
}

fn at(e: FieldError, code: u16) -> AckError {
    AckError {
        segment: e.segment.to_owned(),
        field: e.field,
        code,
        message: e.message,
    }
}

impl Rappel {
    /// Takes one ER7 message for `clinic` and answers it.
    pub async fn receive_hl7(&self, clinic: &Clinic, bytes: &[u8]) -> Hl7Answer {
        let message = match Message::parse(bytes) {
            Ok(message) => message,
            Err(e) => {
                let error = AckError {
                    segment: String::new(),
                    field: 0,
                    code: 102,
                    message: e.0,
                };
                return self.answer(&Header::default(), Outcome::Rejected(error));
            }
        };
        let header = siu::header(&message);
        let outcome = match siu::read(&message, clinic.settings.tz()) {
            Err(e) => {
                let code = if e.segment == "MSH" && e.field == 9 { 201 } else { 101 };
                Outcome::Rejected(at(e, code))
            }
            Ok(siu) => self.apply_siu(clinic, siu).await,
        };
        if let Outcome::Error(e) | Outcome::Rejected(e) | Outcome::Later(e) = &outcome {
            tracing::warn!(clinic = %clinic.id, control_id = %header.control_id, segment = %e.segment, field = e.field, code = e.code, "HL7 message not applied");
        }
        self.answer(&header, outcome)
    }

    fn answer(&self, header: &Header, outcome: Outcome) -> Hl7Answer {
        let now = self.clock.now();
        let (status, code, error) = match outcome {
            Outcome::Accepted => (200, AckCode::Accept, None),
            Outcome::Error(e) => (200, AckCode::Error, Some(e)),
            Outcome::Rejected(e) => (200, AckCode::Reject, Some(e)),
            Outcome::Later(e) => (503, AckCode::Reject, Some(e)),
        };
        Hl7Answer {
            status,
            ack: acknowledgement(header, code, error.as_ref(), now),
            code,
        }
    }

    /// Orders the message against what is stored, then saves it.
    async fn apply_siu(&self, clinic: &Clinic, siu: Siu) -> Outcome {
        let id = match AppointmentId::parse(&siu.id) {
            Ok(id) => id,
            Err(e) => {
                return Outcome::Error(at(
                    FieldError {
                        segment: "SCH",
                        field: 2,
                        message: e.0,
                    },
                    102,
                ))
            }
        };
        let stored = match self.store.appointment(&clinic.id, &id).await {
            Ok(stored) => stored,
            Err(e) => return later(&ServiceError::from(e)),
        };
        let millis = u64::try_from(siu.ordered_at.timestamp_millis()).unwrap_or(0);
        let content = match (&siu.content, &stored) {
            (Ok(content), _) => content.clone(),
            // A cancellation that names only the appointment: the stored one, cancelled.
            (Err(_), Some(record)) if siu.event.cancels() => {
                let mut content = serde_json::to_value(&record.content).unwrap_or(Value::Null);
                content["status"] = Value::from("cancelled");
                content
            }
            (Err(_), None) if siu.event.cancels() => return Outcome::Accepted,
            (Err(e), _) => return Outcome::Error(at(e.clone(), 101)),
        };
        if siu.event == siu::SiuEvent::S26 && stored.is_none() {
            // A no-show of an appointment never seen: nothing to record against.
            return Outcome::Accepted;
        }
        let mut content = content;
        if content.get("modality").is_none() {
            match self
                .type_modality(clinic, content["type_code"].as_str().unwrap_or_default())
                .await
            {
                Ok(modality) => content["modality"] = serde_json::json!(modality),
                Err(e) => return not_applied(e),
            }
        }
        if stored
            .as_ref()
            .is_some_and(|r| r.content.revision / PER_MILLISECOND > millis)
        {
            // Older than the stored save: acknowledged, no effect.
            return Outcome::Accepted;
        }
        let revision = revision_at(stored.as_ref(), millis, &content);
        content["revision"] = Value::from(revision);
        let content: AppointmentContent = match serde_path_to_error::deserialize(content) {
            Ok(content) => content,
            Err(e) => {
                let (segment, field) = hl7_location(&e.path().to_string());
                return Outcome::Error(AckError {
                    segment: segment.to_owned(),
                    field,
                    code: 102,
                    message: e.inner().to_string(),
                });
            }
        };
        match self.save_appointment(clinic, id, content).await {
            Ok(_) | Err(ServiceError::StaleRevision { .. }) => Outcome::Accepted,
            Err(e) => not_applied(e),
        }
    }
}

/// A save that failed: a field that does not fit (`AE` naming where it comes from), else `AR`
/// asking for the message again later.
fn not_applied(e: ServiceError) -> Outcome {
    match e {
        ServiceError::Invalid { field, message } => {
            let (segment, number) = hl7_location(&field);
            Outcome::Error(AckError {
                segment: segment.to_owned(),
                field: number,
                code: 102,
                message,
            })
        }
        e => later(&e),
    }
}

/// An acknowledgement asking for the message again later.
fn later(e: &ServiceError) -> Outcome {
    Outcome::Later(AckError {
        segment: String::new(),
        field: 0,
        code: 207,
        message: format!("{e}; send the same message again"),
    })
}

/// Where a field of the JSON save comes from in a SIU message.
fn hl7_location(json_field: &str) -> (&'static str, usize) {
    let field = json_field.trim_start_matches('.');
    match field.split(['.', '[']).next().unwrap_or_default() {
        "start" => ("TQ1", 7),
        "duration_minutes" => ("TQ1", 8),
        "type_code" => ("SCH", 8),
        "professional" => ("AIP", 3),
        "location" => ("AIL", 3),
        "patient" => match field {
            f if f.contains("email") => ("PID", 13),
            f if f.contains("mobile") => ("PID", 13),
            f if f.contains("language") => ("PID", 15),
            _ => ("PID", 5),
        },
        "id" => ("SCH", 2),
        _ => ("SCH", 0),
    }
}
