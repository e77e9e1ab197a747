//! Adapters behind the ports. Always: the system and manual clocks, and the time limit every
//! deployment puts around its store. With the `embedded` feature, what the dev server (and the
//! tests) run on: SQLite (or plain memory), an outbox instead of SES/SNS, an in-process scheduler.

pub mod clock;
#[cfg(feature = "embedded")]
pub mod memory;
#[cfg(feature = "embedded")]
pub mod outbox;
#[cfg(feature = "embedded")]
mod schedule_index;
#[cfg(feature = "embedded")]
pub mod scheduler;
#[cfg(all(test, feature = "embedded"))]
mod scratch;
#[cfg(feature = "embedded")]
pub mod sqlite;
#[cfg(feature = "embedded")]
pub mod sqlite_files;
#[cfg(feature = "embedded")]
pub mod sqlite_worker;
pub mod store_timeout;
