//! FHIR R4 intake: `PUT /fhir/r4/Appointment/{id}` and `POST /fhir/r4` (transaction and batch
//! Bundles), mapped onto the same save as the JSON API, answered in FHIR (docs/FHIR.md).
//!
//! Ordering: `meta.versionId` is the revision; else `meta.lastUpdated` (milliseconds × 1000, as
//! HL7's MSH-7); with neither, each request counts as the newest.

use super::ordering::{next_revision, revision_at};
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

    /// The answer to a failed save; `prefix` places the element inside a Bundle.
    fn from_service(e: &ServiceError, prefix: &str) -> FhirAnswer {
        match e {
            ServiceError::Invalid { field, message } => {
                let path = match prefix {
                    "" => fhir_path(field).to_owned(),
                    prefix => format!("{prefix}{}", fhir_path(field).trim_start_matches("Appointment.")),
                };
                FhirAnswer::outcome(422, "invalid", message, Some(&path))
            }
            ServiceError::StaleRevision { .. } | ServiceError::RevisionConflict(_) => {
                FhirAnswer::outcome(409, "conflict", &e.to_string(), Some("Appointment.meta.versionId"))
            }
            ServiceError::Unavailable { .. } => FhirAnswer::outcome(503, "transient", &e.to_string(), None),
            other => FhirAnswer::outcome(400, "processing", &other.to_string(), None),
        }
    }
}

/// What an Appointment becomes once ordered against what is stored.
enum Prepared {
    /// A save of this content.
    Save(AppointmentId, AppointmentContent),
    /// Nothing to write: a request (`proposed`, …) for an appointment already booked.
    Keep(AppointmentRecord),
}

impl Rappel {
    /// `PUT /fhir/r4/Appointment/{id}`.
    pub async fn put_fhir_appointment(&self, clinic: &Clinic, id: &str, body: &[u8]) -> FhirAnswer {
        let resource: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return FhirAnswer::outcome(400, "structure", &format!("not JSON: {e}"), None),
        };
        let answer = match read_appointment(&resource, Some(id), &[]) {
            Err(e) => FhirAnswer::invalid(&e),
            Ok(appointment) => match self.prepare_fhir(clinic, appointment).await {
                Ok(prepared) => self.commit_fhir(clinic, prepared, resource).await,
                Err(e) => FhirAnswer::from_service(&e, ""),
            },
        };
        log_failure(clinic, &answer);
        answer
    }

    /// `POST /fhir/r4` with a `transaction` (every Appointment ordered and checked before any is
    /// saved) or `batch` (each on its own) Bundle.
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
        let mut response_entries: Vec<Value> = entries.iter().map(other_entry).collect();
        let mut prepared = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if entry["resource"]["resourceType"] != "Appointment" {
                continue;
            }
            let url_id = entry["request"]["url"]
                .as_str()
                .and_then(|u| u.strip_prefix("Appointment/"))
                .filter(|id| !id.is_empty());
            let in_entry = format!("Bundle.entry[{i}].resource.");
            let outcome = match read_appointment(&entry["resource"], url_id, &resources) {
                Err(e) => Err(FhirAnswer::invalid(&Invalid {
                    expression: format!("{in_entry}{}", e.expression.trim_start_matches("Appointment.")),
                    message: e.message,
                })),
                Ok(appointment) => self
                    .prepare_fhir(clinic, appointment)
                    .await
                    .map_err(|e| FhirAnswer::from_service(&e, &in_entry)),
            };
            match outcome {
                Ok(p) => prepared.push((i, p)),
                Err(answer) if kind == "transaction" => {
                    log_failure(clinic, &answer);
                    return answer;
                }
                Err(answer) => {
                    log_failure(clinic, &answer);
                    response_entries[i] = response_entry(&answer);
                }
            }
        }
        for (i, p) in prepared {
            let answer = self.commit_fhir(clinic, p, entries[i]["resource"].clone()).await;
            log_failure(clinic, &answer);
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

    /// Orders the appointment against what is stored and checks it in full, writing nothing.
    async fn prepare_fhir(&self, clinic: &Clinic, appointment: FhirAppointment) -> Result<Prepared, ServiceError> {
        let id = AppointmentId::parse(&appointment.id).map_err(|e| ServiceError::invalid("id", e.0))?;
        let stored = self.store.appointment(&clinic.id, &id).await?;
        if let Some(record) = stored
            .as_ref()
            .filter(|r| appointment.request_only && r.content.is_booked())
        {
            return Ok(Prepared::Keep(record.clone()));
        }
        let mut content = appointment.content;
        if content.get("modality").is_none() {
            let modality = self
                .type_modality(clinic, content["type_code"].as_str().unwrap_or_default())
                .await?;
            content["modality"] = json!(modality);
        }
        let revision = match (appointment.version, appointment.last_updated, stored.as_ref()) {
            (Some(version), _, _) => version,
            (None, Some(at), _) => revision_at(
                stored.as_ref(),
                u64::try_from(at.timestamp_millis()).unwrap_or(0),
                &content,
            ),
            (None, None, Some(record)) => next_revision(record, &content),
            (None, None, None) => 1,
        };
        content["revision"] = json!(revision);
        let content: AppointmentContent = serde_path_to_error::deserialize(content)
            .map_err(|e| ServiceError::invalid(e.path().to_string(), e.inner().to_string()))?;
        content
            .check()
            .map_err(|(field, message)| ServiceError::invalid(field, message))?;
        Ok(Prepared::Save(id, content))
    }

    /// Saves what `prepare_fhir` made of `resource`, and answers with the resource as kept.
    async fn commit_fhir(&self, clinic: &Clinic, prepared: Prepared, resource: Value) -> FhirAnswer {
        let result = match prepared {
            Prepared::Keep(record) => Ok((SaveOutcome::Unchanged, record)),
            Prepared::Save(id, content) => self.save_appointment(clinic, id, content).await,
        };
        match result {
            Ok((outcome, record)) => FhirAnswer {
                status: if outcome == SaveOutcome::Created { 201 } else { 200 },
                body: saved(resource, &record),
            },
            Err(e) => FhirAnswer::from_service(&e, ""),
        }
    }
}

/// Logs a FHIR request that was not applied: the issue's code and element, never its content.
fn log_failure(clinic: &Clinic, answer: &FhirAnswer) {
    if answer.status >= 400 {
        let issue = &answer.body["issue"][0];
        tracing::warn!(clinic = %clinic.id, status = answer.status, code = %issue["code"], expression = %issue["expression"][0], "FHIR request not applied");
    }
}

/// The answer to a Bundle entry that is not an Appointment: a resource an Appointment
/// references is taken (`200 OK`); a request to delete or read is not supported.
fn other_entry(entry: &Value) -> Value {
    match entry["request"]["method"].as_str() {
        None | Some("PUT" | "POST") => json!({"response": {"status": "200 OK"}}),
        Some(_) => response_entry(&FhirAnswer::outcome(
            405,
            "not-supported",
            "only PUT and POST entries are taken; cancel an appointment by saving it with status cancelled",
            Some("Bundle.entry.request.method"),
        )),
    }
}

/// The resource as received, with the id and version Rappel keeps.
fn saved(mut resource: Value, record: &AppointmentRecord) -> Value {
    if let Some(fields) = resource.as_object_mut() {
        fields.insert("id".to_owned(), json!(record.id.as_str()));
        let meta = fields.entry("meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("versionId".to_owned(), json!(record.content.revision.to_string()));
        }
    }
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
