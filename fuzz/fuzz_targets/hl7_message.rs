//! Any bytes as an HL7 v2 message: reading it never panics; a message read and then read again
//! from the SIU mapping gives a mapping or a field error, never a panic; and the acknowledgement
//! Rappel writes for it is itself a readable message that echoes MSH-10.
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use rappel::formats::ack::{acknowledgement, AckCode, AckError};
use rappel::formats::er7::Message;
use rappel::formats::siu;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::parse(data) else { return };
    let header = siu::header(&message);
    let mapped = siu::read(&message, chrono_tz::America::Toronto);
    let error = mapped.as_ref().err().map(|e| AckError {
        segment: e.segment.to_owned(),
        field: e.field,
        code: 102,
        message: e.message.clone(),
    });
    let now = chrono::Utc.with_ymd_and_hms(2030, 1, 7, 15, 0, 0).unwrap();
    let ack = acknowledgement(&header, AckCode::Error, error.as_ref(), now);
    let read_back = Message::parse(ack.as_bytes()).expect("an acknowledgement reads back");
    assert_eq!(read_back.component("MSA", 2, 1).unwrap_or_default(), header.control_id.trim());
});
