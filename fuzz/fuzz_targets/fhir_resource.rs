//! Any bytes as a FHIR R4 Appointment (alone, or with the resources of a Bundle beside it):
//! reading it never panics, and what it maps to is either a field error naming an element of the
//! Appointment or a save that carries every field the JSON API requires.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rappel::formats::fhir::read_appointment;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let others: Vec<serde_json::Value> = value["entry"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default();
    for resource in std::iter::once(&value).chain(others.iter()) {
        match read_appointment(resource, None, &others) {
            Ok(appointment) => {
                for field in ["start", "duration_minutes", "type_code", "status", "professional", "patient"] {
                    assert!(appointment.content.get(field).is_some(), "{field} missing");
                }
            }
            Err(e) => assert!(
                e.expression.starts_with("Appointment") || e.expression == "resourceType",
                "{}",
                e.expression
            ),
        }
    }
});
