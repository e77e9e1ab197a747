//! Formats from outside: what EMRs already speak, read into Rappel's own save (HL7 v2 SIU
//! messages, FHIR R4 Appointments), and patients' text replies.

pub mod ack;
pub mod er7;
pub mod fhir;
pub mod inbound_sms;
pub mod siu;
pub mod sms_reply;
