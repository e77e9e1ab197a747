//! Quiet hours on the clinic's wall clock, as instants: when the quiet period holding an instant
//! ends, and wall-clock times across DST jumps.

use crate::domain::QuietHours;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// When the quiet period holding `at` ends (the first minute texts may go again).
pub fn quiet_end(at: DateTime<Utc>, quiet: &QuietHours, zone: Tz) -> DateTime<Utc> {
    quiet_period_around(at, quiet, zone).1
}

/// When the quiet period holding `at` began and when it ends, as instants.
pub(super) fn quiet_period_around(at: DateTime<Utc>, quiet: &QuietHours, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let local = at.with_timezone(&zone).naive_local();
    let day = local.date();
    let (start, end) = (quiet.start.0, quiet.end.0);
    let previous = day.pred_opt().unwrap_or(day);
    let next = day.succ_opt().unwrap_or(day);
    let (start_day, end_day) = if start <= end {
        (day, day)
    } else if local.time() >= start {
        (day, next)
    } else {
        (previous, day)
    };
    (
        first_instant_at_or_after(zone, start_day, start),
        first_instant_at_or_after(zone, end_day, end),
    )
}

/// The first instant whose wall clock in `zone` reads `time` on `day`, or, when that wall-clock time
/// is skipped by a DST jump, the instant the clock jumps to.
pub fn first_instant_at_or_after(zone: Tz, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let mut naive = NaiveDateTime::new(day, time);
    // A spring-forward gap lasts at most a few hours; walk past it a minute at a time.
    for _ in 0..(4 * 60) {
        if let Some(t) = zone.from_local_datetime(&naive).earliest() {
            return t.with_timezone(&Utc);
        }
        naive += Duration::minutes(1);
    }
    // Unreachable for real zones; fall back to reading the wall clock as UTC.
    Utc.from_utc_datetime(&NaiveDateTime::new(day, time))
}

/// `t` without its seconds.
pub(super) fn truncate_to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(t)
}
