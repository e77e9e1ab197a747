//! FHIR R4 Appointments (and the Patient, Practitioner and Location they reference) read with
//! structs of just the fields Rappel uses; every other element and extension is ignored.
//! docs/FHIR.md holds the mapping table.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The extension that says how the appointment happens (`valueCode`: `in_person`,
/// `telemedicine`, `phone`, `home_visit`).
pub const MODALITY_EXTENSION: &str = "https://rappel.dev/fhir/StructureDefinition/modality";
/// The extension that carries the video link (`valueUrl`): telemedicine.
pub const TELEMEDICINE_EXTENSION: &str = "https://rappel.dev/fhir/StructureDefinition/telemedicine-url";

/// Why a resource does not fit, with the FHIRPath of the element at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// FHIRPath, e.g. `Appointment.participant[0].actor`.
    pub expression: String,
    /// Why.
    pub message: String,
}

fn invalid(expression: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        expression: expression.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Meta {
    version_id: Option<String>,
    last_updated: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Coding {
    code: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct CodeableConcept {
    #[serde(default)]
    coding: Vec<Coding>,
}

impl CodeableConcept {
    fn first_code(&self) -> Option<&str> {
        self.coding
            .first()
            .and_then(|c| c.code.as_deref())
            .filter(|c| !c.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Reference {
    reference: Option<String>,
    display: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Participant {
    actor: Option<Reference>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Extension {
    url: String,
    value_code: Option<String>,
    value_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Period {
    start: Option<String>,
}

/// The Appointment's elements Rappel reads.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AppointmentResource {
    resource_type: String,
    id: Option<String>,
    #[serde(default)]
    meta: Meta,
    status: Option<String>,
    start: Option<String>,
    end: Option<String>,
    minutes_duration: Option<i64>,
    appointment_type: Option<CodeableConcept>,
    #[serde(default)]
    service_type: Vec<CodeableConcept>,
    #[serde(default)]
    participant: Vec<Participant>,
    #[serde(default)]
    contained: Vec<Value>,
    #[serde(default)]
    extension: Vec<Extension>,
    #[serde(default)]
    requested_period: Vec<Period>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct HumanName {
    text: Option<String>,
    family: Option<String>,
    #[serde(default)]
    given: Vec<String>,
    #[serde(default)]
    prefix: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct ContactPoint {
    system: Option<String>,
    value: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Communication {
    language: Option<CodeableConcept>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Address {
    text: Option<String>,
    #[serde(default)]
    line: Vec<String>,
    city: Option<String>,
    state: Option<String>,
    #[serde(rename = "postalCode")]
    postal_code: Option<String>,
}

/// Patient, Practitioner or Location: the elements Rappel reads of each.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Party {
    resource_type: String,
    id: Option<String>,
    #[serde(default)]
    name: Names,
    #[serde(default)]
    telecom: Vec<ContactPoint>,
    #[serde(default)]
    communication: Vec<Communication>,
    address: Option<Addresses>,
}

/// `name` is a list for people and a string for a Location.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(untagged)]
enum Names {
    People(Vec<HumanName>),
    Place(String),
    #[default]
    None,
}

/// `address` is a list for people and one for a Location.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Addresses {
    Many(Vec<Address>),
    One(Address),
}

/// What an Appointment says, as the JSON save takes it (without `revision`), and how it orders.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirAppointment {
    /// The appointment's id (the resource's, or the URL's).
    pub id: String,
    /// `meta.versionId`, when it is a number.
    pub version: Option<u64>,
    /// `meta.lastUpdated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// The save, without `revision`.
    pub content: Value,
    /// `proposed`, `pending` or `waitlist`: a request, which never unbooks an appointment.
    pub request_only: bool,
}

/// Reads an Appointment; `others` are the resources a Bundle holds beside it (references are
/// looked up in `contained` first).
pub fn read_appointment(resource: &Value, url_id: Option<&str>, others: &[Value]) -> Result<FhirAppointment, Invalid> {
    // serde reads a struct from an array too; a resource (and its meta) is a JSON object.
    if !resource.is_object() {
        return Err(invalid("resourceType", "a JSON object (an Appointment) is expected"));
    }
    if resource.get("meta").is_some_and(|m| !m.is_object()) {
        return Err(invalid("Appointment.meta", "must be an object"));
    }
    let a: AppointmentResource = serde_path_to_error::deserialize(resource.clone()).map_err(|e| {
        invalid(
            format!("Appointment.{}", e.path()),
            format!("does not fit FHIR R4: {}", e.inner()),
        )
    })?;
    if a.resource_type != "Appointment" {
        return Err(invalid("resourceType", "an Appointment is expected"));
    }
    let id = match (url_id, a.id.as_deref()) {
        (Some(url), Some(body)) if url != body => {
            return Err(invalid(
                "Appointment.id",
                format!("is {body:?}, but the URL names {url:?}"),
            ))
        }
        (Some(id), _) | (None, Some(id)) => id.to_owned(),
        (None, None) => return Err(invalid("Appointment.id", "the appointment needs an id")),
    };
    let version = match a.meta.version_id.as_deref() {
        None => None,
        Some(v) => Some(v.parse::<u64>().ok().filter(|v| *v <= MAX_VERSION).ok_or_else(|| {
            invalid(
                "Appointment.meta.versionId",
                "must be a whole number (at most 2^53) to order saves",
            )
        })?),
    };
    let last_updated = match a.meta.last_updated.as_deref() {
        None => None,
        Some(t) => Some(instant(t).ok_or_else(|| invalid("Appointment.meta.lastUpdated", "is not an instant"))?),
    };
    Ok(FhirAppointment {
        id,
        version,
        last_updated,
        content: content(&a, others)?,
        request_only: matches!(a.status.as_deref(), Some("proposed" | "pending" | "waitlist")),
    })
}

fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// A FHIR `dateTime` that may be a date alone (a requested period): midnight UTC that day.
fn instant_or_date(text: &str) -> Option<DateTime<Utc>> {
    instant(text).or_else(|| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    })
}

/// `booked`, `arrived`, `checked-in`, `fulfilled` → booked; `cancelled`, `noshow`,
/// `entered-in-error` → cancelled; `proposed`, `pending`, `waitlist` → kept, not booked (nothing is
/// sent until it is).
fn status(a: &AppointmentResource) -> Result<&'static str, Invalid> {
    match a.status.as_deref() {
        Some("booked" | "arrived" | "checked-in" | "fulfilled") => Ok("booked"),
        Some("cancelled" | "noshow" | "entered-in-error" | "proposed" | "pending" | "waitlist") => Ok("cancelled"),
        Some(other) => Err(invalid(
            "Appointment.status",
            format!("{other:?} is not an R4 appointment status"),
        )),
        None => Err(invalid("Appointment.status", "is required")),
    }
}

fn content(a: &AppointmentResource, others: &[Value]) -> Result<Value, Invalid> {
    let status = status(a)?;
    let start = match (&a.start, a.requested_period.first().and_then(|p| p.start.as_deref())) {
        (Some(start), _) => {
            instant(start).ok_or_else(|| invalid("Appointment.start", "is not an instant with an offset"))?
        }
        // A request not yet given a time: the start of the period asked for.
        (None, Some(asked)) if status != "booked" => instant_or_date(asked)
            .ok_or_else(|| invalid("Appointment.requestedPeriod[0].start", "is not a date or an instant"))?,
        _ => {
            return Err(invalid(
                "Appointment.start",
                "is required (or requestedPeriod.start for a request)",
            ))
        }
    };
    let duration = match (a.minutes_duration, a.end.as_deref()) {
        (Some(minutes), _) => minutes,
        (None, Some(end)) => {
            let end = instant(end).ok_or_else(|| invalid("Appointment.end", "is not an instant with an offset"))?;
            (end - start).num_minutes()
        }
        (None, None) => {
            return Err(invalid(
                "Appointment.minutesDuration",
                "the length (minutesDuration or end) is required",
            ))
        }
    };
    let type_code = a
        .appointment_type
        .as_ref()
        .and_then(CodeableConcept::first_code)
        .or_else(|| a.service_type.first().and_then(CodeableConcept::first_code))
        .unwrap_or(NO_TYPE);
    let mut patient = None;
    let mut professional = None;
    let mut location = None;
    for (i, participant) in a.participant.iter().enumerate() {
        let Some(actor) = &participant.actor else { continue };
        let path = format!("Appointment.participant[{i}].actor");
        let Some(reference) = actor.reference.as_deref() else {
            continue;
        };
        let party = resolve(reference, &a.contained, others)
            .ok_or_else(|| invalid(&path, format!("{reference:?} is neither contained nor in the Bundle")))?;
        match party.resource_type.as_str() {
            "Patient" if patient.is_none() => patient = Some((party, path)),
            "Practitioner" if professional.is_none() => {
                professional = Some(person_name(&party).or(actor.display.clone()))
            }
            "Location" if location.is_none() => location = Some(party),
            _ => {}
        }
    }
    let (patient, patient_path) =
        patient.ok_or_else(|| invalid("Appointment.participant", "no participant is a Patient"))?;
    let professional = match professional.flatten() {
        Some(name) => name,
        // A request may not have its professional yet; nothing is sent until it is booked.
        None if status != "booked" => UNASSIGNED.to_owned(),
        None => {
            return Err(invalid(
                "Appointment.participant",
                "no participant is a Practitioner with a name",
            ))
        }
    };
    let mut content = json!({
        "start": start.to_rfc3339(),
        "duration_minutes": duration,
        "type_code": type_code,
        "status": status,
        "professional": {"display_name": professional},
        "patient": patient_fields(&patient, &patient_path)?,
    });
    if let Some(place) = location {
        content["location"] = location_fields(&place);
    }
    for extension in &a.extension {
        match extension.url.as_str() {
            MODALITY_EXTENSION => content["modality"] = json!(extension.value_code),
            TELEMEDICINE_EXTENSION => {
                content["telemedicine_url"] = json!(extension.value_url);
                content["modality"] = json!("telemedicine");
            }
            _ => {}
        }
    }
    Ok(content)
}

/// The largest `meta.versionId` taken (JSON's safe integers): room above it for later saves.
pub const MAX_VERSION: u64 = 1 << 53;

/// The professional of an appointment not booked yet that names none.
pub const UNASSIGNED: &str = "—";

/// The type code an Appointment without one is saved under: never set by a clinic, so `none`.
pub const NO_TYPE: &str = "fhir-no-type";

fn resolve(reference: &str, contained: &[Value], others: &[Value]) -> Option<Party> {
    let parse = |v: &Value| serde_json::from_value::<Party>(v.clone()).ok();
    if let Some(local) = reference.strip_prefix('#') {
        return contained
            .iter()
            .filter_map(parse)
            .find(|p| p.id.as_deref() == Some(local));
    }
    // A Bundle entry's fullUrl (`urn:uuid:…` in most transactions, or an absolute URL).
    let by_url = others
        .iter()
        .find(|v| v.get("fullUrl").and_then(Value::as_str) == Some(reference))
        .and_then(parse);
    if by_url.is_some() {
        return by_url;
    }
    // `Type/id`, possibly absolute and versioned (`…/Patient/1/_history/2`).
    let unversioned = reference.split("/_history/").next().unwrap_or(reference);
    let (kind, id) = unversioned
        .rsplit_once('/')
        .map(|(k, id)| (k.rsplit('/').next().unwrap_or(k), id))?;
    contained
        .iter()
        .chain(others)
        .filter_map(parse)
        .find(|p| p.resource_type == kind && p.id.as_deref() == Some(id))
}

fn person_name(party: &Party) -> Option<String> {
    let Names::People(names) = &party.name else { return None };
    let name = names.first()?;
    if let Some(text) = name.text.as_deref().filter(|t| !t.trim().is_empty()) {
        return Some(text.to_owned());
    }
    let parts: Vec<&str> = name
        .prefix
        .iter()
        .map(String::as_str)
        .chain(name.given.first().map(String::as_str))
        .chain(name.family.as_deref())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn patient_fields(patient: &Party, path: &str) -> Result<Value, Invalid> {
    let Names::People(names) = &patient.name else {
        return Err(invalid(format!("{path} (Patient.name)"), "the patient needs a name"));
    };
    let name = names.first();
    let given = name.and_then(|n| n.given.first().cloned());
    let family = name.and_then(|n| n.family.clone());
    let (Some(given), Some(family)) = (given, family) else {
        return Err(invalid(
            format!("{path} (Patient.name)"),
            "the patient's given and family names are needed",
        ));
    };
    let mut fields = Map::new();
    fields.insert("first_name".into(), json!(given));
    fields.insert("last_name".into(), json!(family));
    if let Some(email) = patient
        .telecom
        .iter()
        .find(|t| t.system.as_deref() == Some("email"))
        .and_then(|t| t.value.clone())
    {
        fields.insert("email".into(), json!(email));
    }
    let mobile = patient
        .telecom
        .iter()
        .filter(|t| {
            t.system.as_deref() == Some("sms")
                || (t.system.as_deref() == Some("phone") && t.use_.as_deref() == Some("mobile"))
        })
        .filter_map(|t| t.value.as_deref())
        .find_map(|v| crate::domain::Mobile::parse(v).ok());
    if let Some(mobile) = mobile {
        fields.insert("mobile".into(), json!(mobile.as_str()));
    }
    let language = patient
        .communication
        .iter()
        .filter_map(|c| c.language.as_ref()?.first_code())
        .find_map(|code| match code.to_ascii_lowercase().split(['-', '_']).next() {
            Some("fr") => Some("fr"),
            Some("en") => Some("en"),
            _ => None,
        });
    if let Some(language) = language {
        fields.insert("language".into(), json!(language));
    }
    Ok(Value::Object(fields))
}

fn location_fields(place: &Party) -> Value {
    let name = match &place.name {
        Names::Place(name) => Some(name.clone()),
        _ => None,
    };
    let address = match &place.address {
        Some(Addresses::One(a)) => Some(a.clone()),
        Some(Addresses::Many(list)) => list.first().cloned(),
        None => None,
    }
    .and_then(|a| {
        a.text.clone().or_else(|| {
            let parts: Vec<String> = a
                .line
                .iter()
                .cloned()
                .chain(a.city.clone())
                .chain(a.state.clone())
                .chain(a.postal_code.clone())
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        })
    });
    json!({"name": name, "address": address})
}

/// An `OperationOutcome` with one issue.
pub fn operation_outcome(severity: &str, code: &str, diagnostics: &str, expression: Option<&str>) -> Value {
    let mut issue = json!({"severity": severity, "code": code, "diagnostics": diagnostics});
    if let Some(expression) = expression {
        issue["expression"] = json!([expression]);
    }
    json!({"resourceType": "OperationOutcome", "issue": [issue]})
}
