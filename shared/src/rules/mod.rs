//! The timing rules of docs/BEHAVIOUR.md §2, without I/O. Durations are absolute (a day is 24 h
//! even across DST); only quiet hours are read on the clinic's wall clock.
//!
//! - [`patient_windows`]: when confirm, cancel and "I have arrived" are open.
//! - [`reminder_timing`]: where the pre-visit reminder is placed (closest to T−36 h outside quiet
//!   hours) and what a late or quiet-hours firing does.
//! - [`quiet_hours`]: the quiet period around an instant, across DST.

pub mod patient_windows;
pub mod quiet_hours;
pub mod reminder_timing;

pub use patient_windows::*;
pub use quiet_hours::{first_instant_at_or_after, quiet_end};
pub use reminder_timing::*;

#[cfg(test)]
mod tests;
