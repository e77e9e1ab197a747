//! Adapters behind the ports. `embedded`: what the dev server (and tests) run on — SQLite, an
//! outbox instead of SES/SNS, an in-process scheduler, a manual or system clock.

pub mod bounded;
pub mod clock;
pub mod outbox;
pub mod scheduler;
pub mod sqlite;
