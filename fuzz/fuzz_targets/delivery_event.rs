//! Any bytes as what `delivery-events` receives, end to end on the embedded adapters with a
//! clinic that sent an email and a text: as the Lambda event, as an SES event inside an SNS
//! notification, and as a CloudWatch Logs payload (gzipped and base64-encoded, as Lambda gets it).
//! Never a panic; every notification applied, ignored or counted skipped; a refusal never
//! quotes its content.
#![no_main]

use base64::Engine as _;
use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use rappel::formats::delivery::read_event;
use rappel::testing::appointment;
use std::io::Write as _;
use std::sync::OnceLock;

mod world;
use world::World;

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let now = chrono::Utc.with_ymd_and_hms(2030, 1, 7, 15, 0, 0).unwrap();
        World::new(now, |mut h| async move {
            h.set_type("FU", rappel::domain::Communications::Full).await;
            h.configure(|s| s.sms_enabled = true).await;
            let start = chrono::Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap();
            let id = rappel::domain::AppointmentId::parse("RDV-1").unwrap();
            h.rappel
                .save_appointment(&h.clinic, id, appointment(1, start, "FU"))
                .await
                .unwrap();
            h
        })
    })
}

fn gzipped(data: &[u8]) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let World { runtime, harness: h } = world();
    let text = String::from_utf8_lossy(data);
    let mut events = vec![
        serde_json::json!({"Records": [{"Sns": {"MessageId": "m", "Message": format!("SECRET-{text}")}}]}),
        serde_json::json!({"Records": [{"Sns": {"MessageId": "m", "Message": text}}]}),
        serde_json::json!({"awslogs": {"data": gzipped(data)}}),
    ];
    if let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) {
        events.push(event);
    }
    for event in &events {
        let expected = match read_event(event) {
            Ok(reports) => {
                for refused in reports.iter().filter_map(|r| r.as_ref().err()) {
                    let why = refused.to_string();
                    assert!(!why.contains("SECRET-"), "{why}");
                }
                reports.len()
            }
            Err(_) => 1,
        };
        runtime.block_on(async {
            match h.rappel.answer_delivery_event(event).await {
                // An unreadable event counts as one skipped; otherwise each report is accounted for.
                Ok(report) => assert_eq!(report.outcomes.len() + report.skipped, expected),
                // A text's report whose provider id is not known yet, stamped in the last 10
                // minutes: Lambda is asked to retry (the embedded store itself does not fail).
                Err(rappel::services::ServiceError::Unavailable { cause, .. }) => {
                    assert!(cause.contains("provider id"), "{cause}")
                }
                Err(other) => panic!("{other}"),
            }
        });
    }
});
