//! The `rappel` crate's tests, in one binary (one link instead of eight): the services' flows on
//! the embedded adapters with a manual clock, faults, the review's regressions, the routers over
//! HTTP requests, tenancy, every message, property tests, and the store contract suite on SQLite.
//! `logs.rs` stays in a binary of its own (see its comment).

mod delivery;
mod faults;
mod fhir;
mod hl7;
mod http;
mod messages;
mod properties;
mod reminders;
mod replies;
mod reschedule;
mod review_fixes;
mod security;
mod services;
mod store_contract;
mod support;
mod wording;
