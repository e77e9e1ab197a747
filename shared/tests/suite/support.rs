//! What the suite's modules share: the instants their flows run at, and ids.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::America::Toronto;
use rappel::domain::AppointmentId;

/// A wall-clock time in Toronto, the test clinic's zone, as an instant.
pub fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Toronto
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

/// Monday 2026-12-07 10:00 local: far enough from the appointment below for every window.
pub fn now0() -> DateTime<Utc> {
    local(2026, 12, 7, 10, 0)
}

/// Thursday 2026-12-10 14:00 local ("jeudi 10 décembre"). T−36 h = Wednesday 02:00 (quiet), so
/// its reminder is Tuesday 20:59.
pub fn t() -> DateTime<Utc> {
    local(2026, 12, 10, 14, 0)
}

/// An appointment id.
pub fn id(s: &str) -> AppointmentId {
    AppointmentId::parse(s).unwrap()
}
