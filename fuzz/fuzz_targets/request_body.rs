//! Any bytes as an EMR request body: parsing never panics, and whatever parses passes or fails
//! its range checks cleanly and serialises back to something that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rappel::domain::{AppointmentContent, ClinicSettings, TypeSettings};
use rappel::http::body::parse_json;

fuzz_target!(|data: &[u8]| {
    if let Ok(content) = parse_json::<AppointmentContent>(data) {
        let _ = content.check();
        let again: AppointmentContent = serde_json::from_value(serde_json::to_value(&content).unwrap()).unwrap();
        assert_eq!(again, content);
        assert!(!content.relevant_change_from(&again));
    }
    if let Ok(settings) = parse_json::<ClinicSettings>(data) {
        let again: ClinicSettings = serde_json::from_value(serde_json::to_value(&settings).unwrap()).unwrap();
        assert_eq!(again, settings);
    }
    let _ = parse_json::<TypeSettings>(data);
});
