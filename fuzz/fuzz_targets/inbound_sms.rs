//! Any bytes as what `inbound-sms` receives, end to end on the embedded adapters with a
//! patient who was texted: as the Lambda event itself, and as the notification's message inside
//! a well-formed SNS event (the inbound text document). Never a panic; a refusal never quotes
//! what it refused; every notification is either taken or counted unreadable.
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use rappel::formats::inbound_sms::read_sns_event;
use rappel::testing::appointment;
use std::sync::OnceLock;

mod world;
use world::World;

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let now = chrono::Utc.with_ymd_and_hms(2030, 1, 9, 14, 0, 0).unwrap();
        World::new(now, |mut h| async move {
            h.set_type("FU", rappel::domain::Communications::Full).await;
            h.configure(|s| {
                s.sms_enabled = true;
                s.sms_replies = true;
                s.allow_patient_cancellation = true;
            })
            .await;
            let start = chrono::Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap();
            let id = rappel::domain::AppointmentId::parse("FUZZ").unwrap();
            h.rappel
                .save_appointment(&h.clinic, id, appointment(1, start, "FU"))
                .await
                .unwrap();
            h
        })
    })
}

fn envelope(message: &str) -> serde_json::Value {
    serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": message}}]})
}

fuzz_target!(|data: &[u8]| {
    let World { runtime, harness: h } = world();
    let text = String::from_utf8_lossy(data);
    // The message as it came, and marked: no refusal may quote the marked one.
    let mut events = vec![envelope(&text), envelope(&format!("{{\"messageBody\":\"SECRET-{text}"))];
    if let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) {
        events.push(event);
    }
    for event in &events {
        // Every notification is accounted for: taken, or counted unreadable.
        let expected = match read_sns_event(event) {
            Ok(texts) => {
                for refused in texts.iter().filter_map(|t| t.as_ref().err()) {
                    let why = refused.to_string();
                    assert!(!why.contains("SECRET-"), "{why}");
                }
                texts.len()
            }
            Err(_) => 1,
        };
        runtime.block_on(async {
            let report = h
                .rappel
                .answer_inbound_event(event)
                .await
                .expect("the embedded store does not fail");
            assert_eq!(report.outcomes.len() + report.unreadable, expected);
        });
    }
});
