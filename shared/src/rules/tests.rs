//! The rules at their exact boundaries, across DST and quiet hours.

use super::*;
use crate::domain::QuietHours;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
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

/// Every allowed minute of a reminder's window, brute force: the reference the placement rule
/// must agree with (closest to the target, the earlier on a tie).
fn closest_allowed_minute(
    start: DateTime<Utc>,
    before: Duration,
    quiet: &QuietHours,
    zone: chrono_tz::Tz,
) -> Option<DateTime<Utc>> {
    let (earliest, latest) = reminder_window(start, before);
    let target = quiet_hours_minute(start - before);
    let mut minute = quiet_hours_minute(earliest);
    if minute < earliest {
        minute += Duration::minutes(1);
    }
    let mut best: Option<DateTime<Utc>> = None;
    while minute <= latest {
        if !quiet.contains(minute, zone) {
            let closer = best.is_none_or(|b| (minute - target).abs() < (b - target).abs());
            if closer {
                best = Some(minute);
            }
        }
        minute += Duration::minutes(1);
    }
    best
}

fn quiet_hours_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Timelike;
    t.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    /// Any offset from 1 h to 14 d, any quiet hours, any start over two years in zones with and
    /// without DST (and a half-hour one): never in quiet hours, always in the window, and the
    /// closest allowed minute there is, or none when the window has none.
    #[test]
    fn a_reminder_is_the_closest_allowed_minute_of_its_window(
        before_minutes in 60i64..=(14 * 24 * 60),
        start_minutes in 0i64..(2 * 365 * 24 * 60),
        quiet_start in 0u32..(24 * 60),
        quiet_end in 0u32..(24 * 60),
        zone in proptest::sample::select(vec![
            chrono_tz::America::Toronto,
            chrono_tz::America::St_Johns,
            chrono_tz::America::Regina,
            chrono_tz::Europe::Paris,
        ]),
    ) {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(start_minutes);
        let before = Duration::minutes(before_minutes);
        let time = |m: u32| crate::domain::LocalTime(NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap());
        let quiet = QuietHours { start: time(quiet_start), end: time(quiet_end) };
        let placed = reminder_time_before(start, before, &quiet, zone);
        let (earliest, latest) = reminder_window(start, before);
        if let Some(at) = placed {
            proptest::prop_assert!(!quiet.contains(at, zone), "in quiet hours: {}", at);
            proptest::prop_assert!(earliest <= at && at <= latest, "outside [{}, {}]: {}", earliest, latest, at);
        }
        proptest::prop_assert_eq!(placed, closest_allowed_minute(start, before, &quiet, zone));
    }
}

#[test]
fn the_default_reminder_window_is_t_minus_48h_to_t_minus_24h() {
    let t = T();
    assert_eq!(
        reminder_window(t, REMINDER_TARGET),
        (t - REMINDER_EARLIEST, t - REMINDER_LATEST)
    );
    assert_eq!(reminder_slack(Duration::hours(2)), Duration::minutes(40));
    assert_eq!(reminder_slack(Duration::days(7)), Duration::hours(12));
}

#[test]
fn a_seven_day_reminder_counts_absolute_hours_across_both_dst_jumps() {
    let quiet = QuietHours::default();
    // Monday 2027-03-15 10:00 EDT; DST began on Sunday the 14th: 168 h earlier is 09:00 EST on
    // Monday the 8th, not 10:00.
    let spring = local(2027, 3, 15, 10, 0);
    assert_eq!(
        reminder_time_before(spring, Duration::days(7), &quiet, Toronto),
        Some(local(2027, 3, 8, 9, 0))
    );
    // Monday 2026-11-02 10:00 EST; DST ended on Sunday the 1st: 168 h earlier is 11:00 EDT on
    // Monday, October 26.
    let fall = local(2026, 11, 2, 10, 0);
    assert_eq!(
        reminder_time_before(fall, Duration::days(7), &quiet, Toronto),
        Some(local(2026, 10, 26, 11, 0))
    );
    // 08:30 the week after the jump: T − 7 d is 07:30 EST, in quiet hours; 08:00 is 30 min away.
    let early = local(2027, 3, 15, 8, 30);
    assert_eq!(
        reminder_time_before(early, Duration::days(7), &quiet, Toronto),
        Some(local(2027, 3, 8, 8, 0))
    );
}

#[test]
fn a_two_hour_text_reminder_of_an_early_appointment_has_no_allowed_minute() {
    let quiet = QuietHours::default();
    // 08:30: T − 2 h is 06:30, its window 05:50–07:10, all in quiet hours (21:00–08:00).
    let t = local(2026, 12, 10, 8, 30);
    assert_eq!(reminder_time_before(t, Duration::hours(2), &quiet, Toronto), None);
    assert_eq!(
        reminder_firing_before(local(2026, 12, 10, 6, 30), t, Duration::hours(2), &quiet, Toronto),
        ReminderFiring::TooLate
    );
    // 10:30: T − 2 h is 08:30, outside quiet hours.
    let t = local(2026, 12, 10, 10, 30);
    assert_eq!(
        reminder_time_before(t, Duration::hours(2), &quiet, Toronto),
        Some(local(2026, 12, 10, 8, 30))
    );
    // 09:00: T − 2 h is 07:00 (quiet), the window 06:20–07:40 ends before quiet hours do.
    let t = local(2026, 12, 10, 9, 0);
    assert_eq!(reminder_time_before(t, Duration::hours(2), &quiet, Toronto), None);
    // 09:30: window 06:50–08:10, 08:00 is its one allowed stretch.
    let t = local(2026, 12, 10, 9, 30);
    assert_eq!(
        reminder_time_before(t, Duration::hours(2), &quiet, Toronto),
        Some(local(2026, 12, 10, 8, 0))
    );
}
