//! When the pre-visit reminder goes out: planned closest to T−36 h outside quiet hours, never
//! outside [T−48 h, T−24 h] (docs/BEHAVIOUR.md §2.2), and what a reminder firing late or in quiet
//! hours does instead of sending.

use super::quiet_hours::{quiet_end, quiet_period_around, truncate_to_minute};
use crate::domain::QuietHours;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// The reminder aims at this long before T.
pub const REMINDER_TARGET: Duration = Duration::hours(36);
/// The reminder is never earlier than this before T.
pub const REMINDER_EARLIEST: Duration = Duration::hours(48);
/// The reminder is never later than this before T.
pub const REMINDER_LATEST: Duration = Duration::hours(24);

/// When the pre-visit reminder is due: T−36 h to the minute, or, when that falls in quiet hours,
/// the nearer of the last minute before they start and the minute they end, always within
/// `[T−48 h, T−24 h]`. `None` when no minute qualifies.
pub fn reminder_time(start: DateTime<Utc>, quiet: &QuietHours, zone: Tz) -> Option<DateTime<Utc>> {
    let earliest = start - REMINDER_EARLIEST;
    let latest = start - REMINDER_LATEST;
    let target = truncate_to_minute(start - REMINDER_TARGET);
    if !quiet.contains(target, zone) {
        return Some(target);
    }
    let (began, ends) = quiet_period_around(target, quiet, zone);
    let before = began - Duration::minutes(1);
    [before, ends]
        .into_iter()
        .filter(|c| *c >= earliest && *c <= latest && !quiet.contains(*c, zone))
        .min_by_key(|c| ((*c - target).abs(), *c))
}

/// What a reminder whose schedule fires at `now` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderFiring {
    /// Send it now.
    SendNow,
    /// Not now (quiet hours, or early): fire again at this instant, still inside its window.
    Later(DateTime<Utc>),
    /// Its window `[T−48 h, T−24 h]` has passed, or no allowed minute is left in it.
    TooLate,
}

/// Whether a reminder may go out at `now` (a retried invocation can come late, or in quiet hours):
/// only inside `[T−48 h, T−24 h]` and outside quiet hours, otherwise at the next allowed minute
/// still inside that window.
pub fn reminder_firing(now: DateTime<Utc>, start: DateTime<Utc>, quiet: &QuietHours, zone: Tz) -> ReminderFiring {
    let earliest = start - REMINDER_EARLIEST;
    let latest = start - REMINDER_LATEST;
    if now > latest {
        return ReminderFiring::TooLate;
    }
    if now < earliest {
        return match reminder_time(start, quiet, zone) {
            Some(at) => ReminderFiring::Later(at),
            None => ReminderFiring::TooLate,
        };
    }
    if !quiet.contains(now, zone) {
        return ReminderFiring::SendNow;
    }
    let end = quiet_end(now, quiet, zone);
    if end <= latest {
        ReminderFiring::Later(end)
    } else {
        ReminderFiring::TooLate
    }
}
