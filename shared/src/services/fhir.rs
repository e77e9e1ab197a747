//! FHIR R4 intake: `PUT /fhir/r4/Appointment/{id}` and `POST /fhir/r4` (transaction and batch
//! Bundles), mapped onto the same save as the JSON API, answered in FHIR (docs/FHIR.md).
//!
//! Ordering: `meta.versionId` is the revision; else `meta.lastUpdated` (milliseconds × 1000, as
//! HL7's MSH-7); with neither, each request counts as the newest.

use super::{Rappel, SaveOutcome, ServiceError};
use crate::domain::*;
use crate::formats::fhir::{operation_outcome, read_appointment, FhirAppointment, Invalid};
use serde_json::{json, Value};

/// What a FHIR route answers: an HTTP status and a FHIR resource.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirAnswer {
    /// 200, 201, 400, 409, 422 or 503.
    pub status: u16,
    /// The resource: the Appointment saved, a response Bundle, or an OperationOutcome.
    pub body: Value,
}

impl FhirAnswer {
    fn outcome(status: u16, code: &str, diagnostics: &str, expression: Option<&str>) -> FhirAnswer {
        FhirAnswer {
            status,
            body: operation_outcome("error", code, diagnostics, expression),
        }
    }

    fn invalid(e: &Invalid) -> FhirAnswer {
        FhirAnswer::outcome(422, "invalid", &e.message, Some(&e.expression))
    }

    fn from_service(e: &ServiceError) -> FhirAnswer {
        match e {
            ServiceError::Invalid { field, message } => {
                FhirAnswer::outcome(422, "invalid", message, Some(fhir_path(field)))
            }
            ServiceError::StaleRevision { .. } | ServiceError::RevisionConflict(_) => {
                FhirAnswer::outcome(409, "conflict", &e.to_string(), Some("Appointment.meta.versionId"))
            }
            ServiceError::Unavailable { .. } => FhirAnswer::outcome(503, "transient", &e.to_string(), None),
            other => FhirAnswer::outcome(400, "processing", &other.to_string(), None),
        }
    }
}

/// Milliseconds × 1000, as for HL7 v2: room for saves within the same millisecond.
const PER_MILLISECOND: u64 = 1000;

impl Rappel {
    /// `PUT /fhir/r4/Appointment/{id}`.
    pub async fn put_fhir_appointment(&self, clinic: &Clinic, id: &str, body: &[u8]) -> FhirAnswer {
        let resource: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return FhirAnswer::outcome(400, "structure", &format!("not JSON: {e}"), None),
        };
        let appointment = match read_appointment(&resource, Some(id), &[]) {
            Ok(a) => a,
            Err(e) => return FhirAnswer::invalid(&e),
        };
        match self.save_fhir(clinic, appointment).await {
            Ok((outcome, record)) => FhirAnswer {
                status: if outcome == SaveOutcome::Created { 201 } else { 200 },
                body: saved(resource, &record),
            },
            Err(e) => FhirAnswer::from_service(&e),
        }
    }

    /// `POST /fhir/r4` with a `transaction` (every Appointment checked before any is saved) or
    /// `batch` (each on its own) Bundle.
    pub async fn post_fhir_bundle(&self, clinic: &Clinic, body: &[u8]) -> FhirAnswer {
        let bundle: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return FhirAnswer::outcome(400, "structure", &format!("not JSON: {e}"), None),
        };
        if bundle["resourceType"] != "Bundle" {
            return FhirAnswer::outcome(422, "invalid", "a Bundle is expected", Some("resourceType"));
        }
        let kind = bundle["type"].as_str().unwrap_or_default();
        if !matches!(kind, "transaction" | "batch") {
            return FhirAnswer::outcome(
                422,
                "not-supported",
                "only transaction and batch Bundles are taken",
                Some("Bundle.type"),
            );
        }
        let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
        // Every resource, with its entry's fullUrl, for references to find.
        let resources: Vec<Value> = entries
            .iter()
            .map(|e| {
                let mut r = e["resource"].clone();
                if let (Some(obj), Some(url)) = (r.as_object_mut(), e["fullUrl"].as_str()) {
                    obj.insert("fullUrl".to_owned(), json!(url));
                }
                r
            })
            .collect();
        let mut read: Vec<(usize, Result<FhirAppointment, Invalid>)> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if entry["resource"]["resourceType"] != "Appointment" {
                continue;
            }
            let url_id = entry["request"]["url"]
                .as_str()
                .and_then(|u| u.strip_prefix("Appointment/"))
                .filter(|id| !id.is_empty());
            let result = read_appointment(&entry["resource"], url_id, &resources).map_err(|e| Invalid {
                expression: format!(
                    "Bundle.entry[{i}].resource.{}",
                    e.expression.trim_start_matches("Appointment.")
                ),
                message: e.message,
            });
            read.push((i, result));
        }
        if kind == "transaction" {
            if let Some((_, Err(e))) = read.iter().find(|(_, r)| r.is_err()) {
                return FhirAnswer::invalid(e);
            }
        }
        let mut response_entries = vec![json!({"response": {"status": "200 OK"}}); entries.len()];
        for (i, result) in read {
            let answer = match result {
                Err(e) => FhirAnswer::invalid(&e),
                Ok(appointment) => match self.save_fhir(clinic, appointment).await {
                    Ok((outcome, record)) => FhirAnswer {
                        status: if outcome == SaveOutcome::Created { 201 } else { 200 },
                        body: saved(entries[i]["resource"].clone(), &record),
                    },
                    Err(e) => FhirAnswer::from_service(&e),
                },
            };
            if kind == "transaction" && answer.status >= 400 {
                // Entries before it stand (saving them again is a replay); say which failed.
                return answer;
            }
            response_entries[i] = response_entry(&answer);
        }
        FhirAnswer {
            status: 200,
            body: json!({"resourceType": "Bundle", "type": format!("{kind}-response"), "entry": response_entries}),
        }
    }

    /// Orders the appointment against what is stored and saves it.
    async fn save_fhir(
        &self,
        clinic: &Clinic,
        appointment: FhirAppointment,
    ) -> Result<(SaveOutcome, AppointmentRecord), ServiceError> {
        let id = AppointmentId::parse(&appointment.id).map_err(|e| ServiceError::invalid("id", e.0))?;
        let mut content = appointment.content;
        if content.get("modality").is_none() {
            let code = TypeCode::parse(content["type_code"].as_str().unwrap_or_default())
                .map_err(|e| ServiceError::invalid("type_code", e.0))?;
            let settings = self.store.type_settings(&clinic.id, &code).await?;
            let modality = settings.and_then(|t| t.modality).unwrap_or(Modality::InPerson);
            content["modality"] = serde_json::to_value(modality).unwrap_or(Value::Null);
        }
        let revision = match (appointment.version, appointment.last_updated) {
            (Some(version), _) => version,
            (None, Some(at)) => u64::try_from(at.timestamp_millis())
                .unwrap_or(0)
                .saturating_mul(PER_MILLISECOND),
            (None, None) => match self.store.appointment(&clinic.id, &id).await? {
                None => 1,
                Some(stored) => {
                    content["revision"] = json!(stored.content.revision);
                    let same = serde_json::from_value::<AppointmentContent>(content.clone())
                        .is_ok_and(|c| c == stored.content);
                    stored.content.revision + u64::from(!same)
                }
            },
        };
        content["revision"] = json!(revision);
        let content: AppointmentContent = serde_path_to_error::deserialize(content)
            .map_err(|e| ServiceError::invalid(e.path().to_string(), e.inner().to_string()))?;
        self.save_appointment(clinic, id, content).await
    }
}

/// The resource as received, with the id and version Rappel keeps.
fn saved(mut resource: Value, record: &AppointmentRecord) -> Value {
    resource["id"] = json!(record.id.as_str());
    resource["meta"]["versionId"] = json!(record.content.revision.to_string());
    resource
}

fn response_entry(answer: &FhirAnswer) -> Value {
    let status = match answer.status {
        200 => "200 OK".to_owned(),
        201 => "201 Created".to_owned(),
        code => code.to_string(),
    };
    if answer.status >= 400 {
        json!({"response": {"status": status, "outcome": answer.body}})
    } else {
        json!({"response": {"status": status, "etag": format!("W/\"{}\"", answer.body["meta"]["versionId"].as_str().unwrap_or_default())}})
    }
}

/// Where a field of the JSON save comes from in FHIR.
fn fhir_path(json_field: &str) -> &'static str {
    let field = json_field.trim_start_matches('.');
    match field.split(['.', '[']).next().unwrap_or_default() {
        "start" => "Appointment.start",
        "duration_minutes" => "Appointment.minutesDuration",
        "type_code" => "Appointment.appointmentType",
        "professional" => "Practitioner.name",
        "location" => "Location",
        "telemedicine_url" => "Appointment.extension",
        "modality" => "Appointment.extension",
        "patient" if field.contains("email") => "Patient.telecom",
        "patient" if field.contains("mobile") => "Patient.telecom",
        "patient" if field.contains("language") => "Patient.communication",
        "patient" => "Patient.name",
        "id" => "Appointment.id",
        _ => "Appointment",
    }
}
