//! The formats EMRs already speak, read into Rappel's own save: HL7 v2 SIU messages and FHIR R4
//! Appointments.

pub mod ack;
pub mod er7;
pub mod fhir;
pub mod siu;
