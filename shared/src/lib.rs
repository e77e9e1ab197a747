//! Rappel: automated appointment messages for clinics.
//!
//! - [`domain`]: validated values and records.
//! - [`rules`]: the timing rules (docs/BEHAVIOUR.md §2).
//! - [`messages`]: emails, texts and the details they share, in French and English.
//! - [`links`]: patient tokens and calendar files.
//! - [`ports`]: the traits services use to reach the world.
//! - [`services`]: what Rappel does.
//! - [`formats`]: HL7 v2 (ER7 messages, SIU mapping, acknowledgements).
//! - [`http`]: the routers of the three functions.
//! - [`adapters`]: clocks, the store time limit, and with the `embedded` feature the dev server's
//!   adapters (SQLite, memory, outbox, in-process scheduler).
//! - `testing` (feature `testing`): the harness and the store contract suite.

pub mod adapters;
pub mod domain;
pub mod formats;
pub mod http;
pub mod links;
pub mod messages;
pub mod ports;
pub mod pricing;
pub mod rules;
pub mod services;
#[cfg(feature = "testing")]
pub mod testing;
