//! When a patient may confirm, cancel or say they have arrived (docs/BEHAVIOUR.md §2.1), and
//! why not when they may not.

use chrono::{DateTime, Duration, Utc};

/// Confirmation opens this long before T.
pub const CONFIRM_OPENS: Duration = Duration::hours(48);
/// Patient cancellation closes this long before T.
pub const CANCEL_CLOSES: Duration = Duration::hours(24);
/// Arrival check-in opens this long before T.
pub const ARRIVAL_OPENS: Duration = Duration::minutes(30);

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
    /// The clinic does not take requests for another time.
    RescheduleNotAllowed,
    /// Requests for another time closed at the given instant (T−24 h).
    RescheduleClosed(DateTime<Utc>),
    /// The patient already asked for another time, and the clinic has not answered yet.
    RescheduleAlreadyRequested,
    /// The appointment changed after the patient answered (a text reply delivered late): what
    /// they answered is not what stands now.
    ChangedSinceAnswered,
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
            Refusal::RescheduleNotAllowed => write!(f, "the clinic does not take requests for another time"),
            Refusal::RescheduleClosed(t) => write!(
                f,
                "requests for another time closed 24 hours before the appointment, at {}",
                at(t)
            ),
            Refusal::RescheduleAlreadyRequested => {
                write!(f, "another time was already requested; the clinic will answer it")
            }
            Refusal::ChangedSinceAnswered => write!(f, "the appointment changed after the patient answered"),
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
            Refusal::RescheduleNotAllowed => "reschedule_not_allowed",
            Refusal::RescheduleClosed(_) => "reschedule_closed",
            Refusal::RescheduleAlreadyRequested => "reschedule_already_requested",
            Refusal::ChangedSinceAnswered => "appointment_changed",
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

/// A request for another time is open for `now < T−24 h`, if the clinic takes them (a later
/// change is the clinic's to arrange by phone).
pub fn check_reschedule(now: DateTime<Utc>, start: DateTime<Utc>, allowed: bool) -> Result<(), Refusal> {
    let closes = start - CANCEL_CLOSES;
    if !allowed {
        Err(Refusal::RescheduleNotAllowed)
    } else if now >= closes {
        Err(Refusal::RescheduleClosed(closes))
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
