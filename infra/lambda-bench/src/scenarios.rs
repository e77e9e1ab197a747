//! The events each function is benchmarked with: the seeding calls that put a clinic, a type and
//! an appointment in place, and the one invocation that is then repeated.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The benchmark clinic's id and API key.
pub const CLINIC: &str = "bench";
/// Its key (the harness stores only the hash, as `rappel-admin` does).
pub const API_KEY: &str = "bench-key-0123456789abcdef";
/// The appointment every scenario works on.
pub const APPOINTMENT: &str = "bench-1";

/// An API Gateway HTTP API (payload 2.0) event, as the on-save and patient-action functions get it.
pub fn http_event(method: &str, path: &str, bearer: Option<&str>, body: Option<&Value>) -> Value {
    let mut headers = json!({
        "host": "bench.execute-api.ca-central-1.amazonaws.com",
        "user-agent": "rappel-lambda-bench",
        "accept": "application/json",
    });
    if let Some(key) = bearer {
        headers["authorization"] = json!(format!("Bearer {key}"));
    }
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.ca-central-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10", "userAgent": "rappel-lambda-bench" },
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:19:00:00 +0000",
            "timeEpoch": 1795633200000u64
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
}

/// The clinic's settings: email and texts, so a save exercises every adapter.
pub fn clinic_settings() -> Value {
    json!({
        "name": "Clinique Bench",
        "phone": "514 555-0100",
        "address": "123 rue Principale, Montréal",
        "sender_email": "rappel@example.ca",
        "allow_patient_cancellation": true,
        "allow_arrival_checkin": true,
        "sms_enabled": true
    })
}

/// The same without quiet hours, so a reminder goes out whatever the hour of the run.
pub fn no_quiet_hours() -> Value {
    let mut settings = clinic_settings();
    settings["quiet_hours"] = json!({ "start": "00:00", "end": "00:00" });
    settings
}

/// A `full` type: notices and the reminder.
pub fn type_settings() -> Value {
    json!({ "communications": "full", "questionnaire_url": "https://example.ca/questionnaire" })
}

/// The appointment at `revision`, starting at `start`.
pub fn appointment(revision: u64, start: DateTime<Utc>) -> Value {
    json!({
        "revision": revision,
        "start": start.to_rfc3339(),
        "duration_minutes": 30,
        "type_code": "consult",
        "modality": "in_person",
        "status": "booked",
        "professional": { "display_name": "Dre Marie Tremblay" },
        "location": { "name": "Clinique Centre", "address": "123 rue Principale, Montréal" },
        "patient": { "first_name": "Julie", "last_name": "Roy", "email": "julie.roy@example.ca", "mobile": "514 555-0123", "language": "fr" }
    })
}

/// The status code of an API Gateway answer.
pub fn status_code(answer: &Value) -> Option<u64> {
    answer.get("statusCode").and_then(Value::as_u64)
}

/// The JSON body of an API Gateway answer.
pub fn json_body(answer: &Value) -> Option<Value> {
    answer
        .get("body")
        .and_then(Value::as_str)
        .and_then(|b| serde_json::from_str(b).ok())
}
