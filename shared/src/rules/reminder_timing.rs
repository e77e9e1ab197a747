//! When a reminder goes out: as close to T − before as possible, to the minute, never in quiet
//! hours, within [T − before − w, T − before + w] where w = min(12 h, before / 3)
//! (docs/BEHAVIOUR.md §2.2). The pre-visit reminder of a `full` type is the one 36 h before: its
//! window is [T−48 h, T−24 h]. And what a reminder firing late or in quiet hours does instead of
//! sending.

use super::quiet_hours::{quiet_end, quiet_period_around, truncate_to_minute};
use crate::domain::QuietHours;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// The default reminder aims at this long before T.
pub const REMINDER_TARGET: Duration = Duration::hours(36);
/// The default reminder is never earlier than this before T.
pub const REMINDER_EARLIEST: Duration = Duration::hours(48);
/// The default reminder is never later than this before T.
pub const REMINDER_LATEST: Duration = Duration::hours(24);
/// The most a reminder may move from its target, whatever its offset.
const MAX_SLACK: Duration = Duration::hours(12);

/// How far a reminder `before` T may move from T − before: min(12 h, before / 3).
pub fn reminder_slack(before: Duration) -> Duration {
    (before / 3).min(MAX_SLACK)
}

/// The instants a reminder `before` an appointment starting at `start` may go out in, both
/// included.
pub fn reminder_window(start: DateTime<Utc>, before: Duration) -> (DateTime<Utc>, DateTime<Utc>) {
    let slack = reminder_slack(before);
    (start - before - slack, start - before + slack)
}

/// When the pre-visit reminder is due: T−36 h to the minute, or, when that falls in quiet hours,
/// the nearer of the last minute before they start and the minute they end, always within
/// `[T−48 h, T−24 h]`. `None` when no minute qualifies.
pub fn reminder_time(start: DateTime<Utc>, quiet: &QuietHours, zone: Tz) -> Option<DateTime<Utc>> {
    reminder_time_before(start, REMINDER_TARGET, quiet, zone)
}

/// When a reminder `before` T is due: T − before to the minute, or, when that falls in quiet
/// hours, the nearer of the last minute before they start and the minute they end (the earlier
/// on a tie), if it lies in the reminder's window. `None` when no minute of the window qualifies.
pub fn reminder_time_before(
    start: DateTime<Utc>,
    before: Duration,
    quiet: &QuietHours,
    zone: Tz,
) -> Option<DateTime<Utc>> {
    let (earliest, latest) = reminder_window(start, before);
    let target = truncate_to_minute(start - before);
    if !quiet.contains(target, zone) {
        return Some(target);
    }
    let (began, ends) = quiet_period_around(target, quiet, zone);
    let before_quiet = began - Duration::minutes(1);
    [before_quiet, ends]
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

/// Whether the pre-visit reminder (36 h) may go out at `now`: see [`reminder_firing_before`].
pub fn reminder_firing(now: DateTime<Utc>, start: DateTime<Utc>, quiet: &QuietHours, zone: Tz) -> ReminderFiring {
    reminder_firing_before(now, start, REMINDER_TARGET, quiet, zone)
}

/// Whether a reminder `before` T may go out at `now` (a retried invocation can come late, or in
/// quiet hours): only inside its window and outside quiet hours, otherwise at the next allowed
/// minute still inside that window.
pub fn reminder_firing_before(
    now: DateTime<Utc>,
    start: DateTime<Utc>,
    before: Duration,
    quiet: &QuietHours,
    zone: Tz,
) -> ReminderFiring {
    let (earliest, latest) = reminder_window(start, before);
    if now > latest {
        return ReminderFiring::TooLate;
    }
    if now < earliest {
        return match reminder_time_before(start, before, quiet, zone) {
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
