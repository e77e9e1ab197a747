//! Formats from outside: what EMRs already speak, read into Rappel's own save (HL7 v2 SIU
//! messages, FHIR R4 Appointments), patients' text replies, and providers' delivery reports.

pub mod ack;
pub mod delivery;
pub mod er7;
pub mod fhir;
pub mod inbound_sms;
pub mod siu;
pub mod sms_reply;
mod sns;
