//! Any bytes sent to the FHIR and HL7 v2 routes' services, end to end on the embedded adapters
//! (reading, ordering, saving, answering): never a panic, and always an answer the routes
//! document (FHIR: 200, 201, 400, 409, 422 or 503 with a resource; HL7: an ACK, 200 or 503).
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use rappel::formats::er7::Message;
use std::sync::OnceLock;

mod world;
use world::World;

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let now = chrono::Utc.with_ymd_and_hms(2013, 12, 1, 12, 0, 0).unwrap();
        World::new(now, |h| async move {
            h.set_type("FOLLOWUP", rappel::domain::Communications::Full).await;
            h
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let World { runtime, harness: h } = world();
    runtime.block_on(async {
        let put = h.rappel.put_fhir_appointment(&h.clinic, "fuzz", data).await;
        assert!(
            matches!(put.status, 200 | 201 | 400 | 409 | 422 | 503),
            "{}",
            put.status
        );
        assert!(put.body.get("resourceType").is_some(), "{}", put.body);
        let bundle = h.rappel.post_fhir_bundle(&h.clinic, data).await;
        assert!(
            matches!(bundle.status, 200 | 400 | 409 | 422 | 503),
            "{}",
            bundle.status
        );
        let hl7 = h.rappel.receive_hl7(&h.clinic, data).await;
        assert!(matches!(hl7.status, 200 | 503));
        let ack = Message::parse(hl7.ack.as_bytes()).expect("the acknowledgement reads back");
        assert!(ack.component("MSA", 1, 1).is_some());
    });
});
