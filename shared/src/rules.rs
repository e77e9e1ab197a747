//! The timing rules of docs/BEHAVIOUR.md §2. Durations are absolute (a day is 24 h even across DST);
//! only quiet hours are read on the clinic's wall clock.

use crate::domain::QuietHours;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Confirmation opens this long before T.
pub const CONFIRM_OPENS: Duration = Duration::hours(48);
/// Patient cancellation closes this long before T.
pub const CANCEL_CLOSES: Duration = Duration::hours(24);
/// Arrival check-in opens this long before T.
pub const ARRIVAL_OPENS: Duration = Duration::minutes(30);
/// The reminder aims at this long before T.
pub const REMINDER_TARGET: Duration = Duration::hours(36);
/// The reminder is never earlier than this before T.
pub const REMINDER_EARLIEST: Duration = Duration::hours(48);
/// The reminder is never later than this before T.
pub const REMINDER_LATEST: Duration = Duration::hours(24);

/// Why a patient action is refused right now. `code()` is the JSON error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The clinic or the patient cancelled the appointment.
    AppointmentCancelled,
    /// Confirmation opens at the given instant.
    ConfirmNotOpenYet(DateTime<Utc>),
    /// The appointment has started: too late to confirm.
    AppointmentStarted,
    /// The clinic does not let patients cancel online.
    CancellationNotAllowed,
    /// Online cancellation closed at the given instant (T−24 h).
    CancellationClosed(DateTime<Utc>),
    /// The clinic does not offer arrival check-in.
    ArrivalNotAllowed,
    /// Check-in opens at the given instant (T−30 min).
    ArrivalNotOpenYet(DateTime<Utc>),
    /// Check-in closed at T.
    ArrivalClosed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self {
            Refusal::AppointmentCancelled => write!(f, "the appointment is cancelled"),
            Refusal::ConfirmNotOpenYet(t) => {
                write!(f, "confirmation opens 48 hours before the appointment, at {}", at(t))
            }
            Refusal::AppointmentStarted => write!(f, "the appointment has started"),
            Refusal::CancellationNotAllowed => write!(f, "the clinic does not allow cancelling online"),
            Refusal::CancellationClosed(t) => write!(
                f,
                "online cancellation closed 24 hours before the appointment, at {}",
                at(t)
            ),
            Refusal::ArrivalNotAllowed => write!(f, "the clinic does not offer online check-in"),
            Refusal::ArrivalNotOpenYet(t) => {
                write!(f, "check-in opens 30 minutes before the appointment, at {}", at(t))
            }
            Refusal::ArrivalClosed => write!(f, "check-in closed at the appointment time"),
        }
    }
}

impl Refusal {
    /// Machine-readable code for the JSON error body.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::AppointmentCancelled => "appointment_cancelled",
            Refusal::ConfirmNotOpenYet(_) => "confirmation_not_open_yet",
            Refusal::AppointmentStarted => "appointment_started",
            Refusal::CancellationNotAllowed => "cancellation_not_allowed",
            Refusal::CancellationClosed(_) => "cancellation_closed",
            Refusal::ArrivalNotAllowed => "arrival_not_allowed",
            Refusal::ArrivalNotOpenYet(_) => "arrival_not_open_yet",
            Refusal::ArrivalClosed => "arrival_closed",
        }
    }
}

/// Confirm is open for `T−48 h ≤ now < T`.
pub fn check_confirm(now: DateTime<Utc>, start: DateTime<Utc>) -> Result<(), Refusal> {
    let opens = start - CONFIRM_OPENS;
    if now < opens {
        Err(Refusal::ConfirmNotOpenYet(opens))
    } else if now >= start {
        Err(Refusal::AppointmentStarted)
    } else {
        Ok(())
    }
}

/// Cancel is open for `now < T−24 h`, if the clinic allows it.
pub fn check_cancel(now: DateTime<Utc>, start: DateTime<Utc>, allowed: bool) -> Result<(), Refusal> {
    let closes = start - CANCEL_CLOSES;
    if !allowed {
        Err(Refusal::CancellationNotAllowed)
    } else if now >= closes {
        Err(Refusal::CancellationClosed(closes))
    } else {
        Ok(())
    }
}

/// Arrival is open for `T−30 min ≤ now ≤ T`, if the clinic allows it.
pub fn check_arrive(now: DateTime<Utc>, start: DateTime<Utc>, allowed: bool) -> Result<(), Refusal> {
    let opens = start - ARRIVAL_OPENS;
    if !allowed {
        Err(Refusal::ArrivalNotAllowed)
    } else if now < opens {
        Err(Refusal::ArrivalNotOpenYet(opens))
    } else if now > start {
        Err(Refusal::ArrivalClosed)
    } else {
        Ok(())
    }
}

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

/// When the quiet period holding `at` ends (the first minute texts may go again).
pub fn quiet_end(at: DateTime<Utc>, quiet: &QuietHours, zone: Tz) -> DateTime<Utc> {
    quiet_period_around(at, quiet, zone).1
}

/// When the quiet period holding `at` began and when it ends, as instants.
fn quiet_period_around(at: DateTime<Utc>, quiet: &QuietHours, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
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

fn truncate_to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::Toronto;

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Toronto
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    const T: fn() -> DateTime<Utc> = || local(2026, 12, 10, 14, 0);

    #[test]
    fn a_late_reminder_goes_only_inside_its_window_and_outside_quiet_hours() {
        let quiet = QuietHours::default();
        let t = T();
        // T−36 h is 02:00 on the 9th, in quiet hours: a retry arriving then waits for 08:00.
        assert_eq!(
            reminder_firing(t - Duration::hours(36), t, &quiet, Toronto),
            ReminderFiring::Later(local(2026, 12, 9, 8, 0))
        );
        assert_eq!(
            reminder_firing(local(2026, 12, 9, 8, 0), t, &quiet, Toronto),
            ReminderFiring::SendNow
        );
        assert_eq!(
            reminder_firing(t - REMINDER_LATEST, t, &quiet, Toronto),
            ReminderFiring::SendNow
        );
        assert_eq!(
            reminder_firing(t - REMINDER_LATEST + Duration::minutes(1), t, &quiet, Toronto),
            ReminderFiring::TooLate
        );
        // 22:00 on the 9th: quiet hours end at 08:00 on the 10th, after T−24 h.
        assert_eq!(
            reminder_firing(local(2026, 12, 9, 22, 0), t, &quiet, Toronto),
            ReminderFiring::TooLate
        );
        // Early (never from the real scheduler): at the planned time.
        assert_eq!(
            reminder_firing(t - Duration::hours(60), t, &quiet, Toronto),
            ReminderFiring::Later(reminder_time(t, &quiet, Toronto).unwrap())
        );
    }

    #[test]
    fn confirm_opens_exactly_at_t_minus_48h_and_closes_at_t() {
        let t = T();
        assert_eq!(
            check_confirm(t - Duration::hours(48) - Duration::seconds(1), t),
            Err(Refusal::ConfirmNotOpenYet(t - Duration::hours(48)))
        );
        assert_eq!(check_confirm(t - Duration::hours(48), t), Ok(()));
        assert_eq!(check_confirm(t - Duration::seconds(1), t), Ok(()));
        assert_eq!(check_confirm(t, t), Err(Refusal::AppointmentStarted));
    }

    #[test]
    fn cancel_closes_exactly_at_t_minus_24h_and_needs_the_clinic_option() {
        let t = T();
        let closes = t - Duration::hours(24);
        assert_eq!(check_cancel(closes - Duration::seconds(1), t, true), Ok(()));
        assert_eq!(check_cancel(closes, t, true), Err(Refusal::CancellationClosed(closes)));
        assert_eq!(
            check_cancel(t - Duration::days(5), t, false),
            Err(Refusal::CancellationNotAllowed)
        );
    }

    #[test]
    fn arrival_is_open_from_t_minus_30min_to_t_inclusive() {
        let t = T();
        let opens = t - Duration::minutes(30);
        assert_eq!(
            check_arrive(opens - Duration::seconds(1), t, true),
            Err(Refusal::ArrivalNotOpenYet(opens))
        );
        assert_eq!(check_arrive(opens, t, true), Ok(()));
        assert_eq!(check_arrive(t, t, true), Ok(()));
        assert_eq!(
            check_arrive(t + Duration::seconds(1), t, true),
            Err(Refusal::ArrivalClosed)
        );
        assert_eq!(check_arrive(t, t, false), Err(Refusal::ArrivalNotAllowed));
    }

    #[test]
    fn windows_are_absolute_across_the_spring_dst_jump() {
        // GIVEN T on Monday 2026-03-09 10:00 EDT; clocks jumped 02:00 EST → 03:00 EDT on Sunday 03-08.
        let t = local(2026, 3, 9, 10, 0);
        // THEN T−48 h is Saturday 09:00 EST (wall clock one hour "earlier" than 10:00).
        let opens = local(2026, 3, 7, 9, 0);
        assert_eq!(check_confirm(opens, t), Ok(()));
        assert!(check_confirm(opens - Duration::seconds(1), t).is_err());
        // AND T−24 h is Sunday 10:00 EDT, the same wall clock as T.
        assert_eq!(
            check_cancel(local(2026, 3, 8, 10, 0), t, true),
            Err(Refusal::CancellationClosed(local(2026, 3, 8, 10, 0)))
        );
        // AND T−36 h is Saturday 21:00 EST: quiet, so the reminder goes at 20:59 EST.
        assert_eq!(
            reminder_time(t, &QuietHours::default(), Toronto),
            Some(local(2026, 3, 7, 20, 59))
        );
    }

    #[test]
    fn windows_are_absolute_across_the_fall_dst_jump() {
        // GIVEN T on Monday 2026-11-02 10:00 EST; clocks fell back 02:00 EDT → 01:00 EST on Sunday 11-01.
        let t = local(2026, 11, 2, 10, 0);
        // THEN T−48 h is Saturday 11:00 EDT.
        assert_eq!(check_confirm(local(2026, 10, 31, 11, 0), t), Ok(()));
        assert!(check_confirm(local(2026, 10, 31, 10, 59), t).is_err());
    }

    #[test]
    fn reminder_placement_counts_absolute_hours_across_the_fall_dst_jump() {
        // GIVEN T on Monday 2026-11-02 14:00 EST: T−36 h is Sunday 02:00 EST, just after the fall-back.
        let t = local(2026, 11, 2, 14, 0);
        // THEN 21:00 EDT Saturday is 6 h 01 before (wall clocks say 5 h 01), 08:00 EST is 6 h after: 08:00 wins.
        assert_eq!(
            reminder_time(t, &QuietHours::default(), Toronto),
            Some(local(2026, 11, 1, 8, 0))
        );
    }

    #[test]
    fn reminder_at_t_minus_36h_when_that_is_outside_quiet_hours() {
        // T−36 h = 20:59 the day before yesterday, one minute before quiet hours: kept as is.
        let t = local(2026, 12, 10, 8, 59);
        assert_eq!(
            reminder_time(t, &QuietHours::default(), Toronto),
            Some(local(2026, 12, 8, 20, 59))
        );
    }

    #[test]
    fn reminder_moves_to_2059_when_t_minus_36h_is_2100() {
        let t = local(2026, 12, 10, 9, 0);
        assert_eq!(
            reminder_time(t, &QuietHours::default(), Toronto),
            Some(local(2026, 12, 8, 20, 59))
        );
    }

    #[test]
    fn reminder_moves_to_the_nearer_edge_when_t_minus_36h_is_0200() {
        // T−36 h = 02:00: 20:59 the evening before is 5 h 01 away, 08:00 is 6 h away.
        let t = local(2026, 12, 10, 14, 0);
        assert_eq!(
            reminder_time(t, &QuietHours::default(), Toronto),
            Some(local(2026, 12, 8, 20, 59))
        );
        // T−36 h = 03:00: 08:00 (5 h) is nearer than 20:59 (6 h 01).
        let t = local(2026, 12, 10, 15, 0);
        assert_eq!(
            reminder_time(t, &QuietHours::default(), Toronto),
            Some(local(2026, 12, 9, 8, 0))
        );
    }

    #[test]
    fn reminder_stays_inside_its_window_with_long_quiet_hours() {
        // Quiet 12:00–11:00 (23 h): only 11:00–11:59 is open each day.
        let quiet = QuietHours {
            start: crate::domain::LocalTime(NaiveTime::from_hms_opt(12, 0, 0).unwrap()),
            end: crate::domain::LocalTime(NaiveTime::from_hms_opt(11, 0, 0).unwrap()),
        };
        let t = local(2026, 12, 10, 23, 0);
        let at = reminder_time(t, &quiet, Toronto).unwrap();
        assert!(at >= t - REMINDER_EARLIEST && at <= t - REMINDER_LATEST);
        assert!(!quiet.contains(at, Toronto));
    }

    #[test]
    fn reminder_drops_seconds() {
        let t = local(2026, 12, 10, 14, 0) + Duration::seconds(30);
        let at = reminder_time(
            t,
            &QuietHours {
                start: crate::domain::LocalTime(NaiveTime::MIN),
                end: crate::domain::LocalTime(NaiveTime::MIN),
            },
            Toronto,
        )
        .unwrap();
        assert_eq!(at, local(2026, 12, 9, 2, 0));
    }
}
