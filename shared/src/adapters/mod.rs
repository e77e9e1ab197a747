//! Adapters behind the ports. `embedded`: what the dev server (and tests) run on — SQLite (or
//! plain memory, `memory`), an outbox instead of SES/SNS, an in-process scheduler, a manual or
//! system clock.

pub mod clock;
pub mod memory;
pub mod outbox;
pub mod scheduler;
pub mod sqlite;
pub mod store_timeout;
