//! What a text costs the clinic: a price per segment, in cents, that changes on effective dates
//! set per deployment. Each ledger entry keeps the price it was charged.

use chrono::{DateTime, NaiveDate, Utc};

/// The default price of one segment: 5 cents.
pub const DEFAULT_CENTS: i64 = 5;

/// Prices per segment with the instant each takes effect, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceSchedule {
    /// `(effective from, cents)`; the first applies from the beginning of time.
    steps: Vec<(DateTime<Utc>, i64)>,
}

impl Default for PriceSchedule {
    fn default() -> Self {
        PriceSchedule::flat(DEFAULT_CENTS)
    }
}

impl PriceSchedule {
    /// One price forever.
    pub fn flat(cents: i64) -> Self {
        PriceSchedule {
            steps: vec![(DateTime::<Utc>::MIN_UTC, cents)],
        }
    }

    /// Reads `5` or `5,2027-03-01=6,2027-09-01T04:00:00Z=7`: a starting price, then changes
    /// effective at a date (00:00 UTC) or an instant.
    pub fn parse(text: &str) -> Result<PriceSchedule, String> {
        let mut parts = text.split(',').map(str::trim);
        let first = parts.next().unwrap_or_default();
        let mut schedule = PriceSchedule::flat(cents(first)?);
        for part in parts {
            let (when, price) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: write a change as DATE=CENTS, e.g. 2027-03-01=6"))?;
            let from = match DateTime::parse_from_rfc3339(when) {
                Ok(t) => t.with_timezone(&Utc),
                Err(_) => NaiveDate::parse_from_str(when, "%Y-%m-%d")
                    .map_err(|_| format!("{when:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 instant"))?
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .ok_or_else(|| format!("{when:?}: no midnight"))?,
            };
            if schedule.steps.last().is_some_and(|(last, _)| *last >= from) {
                return Err(format!("price changes must be in date order ({when})"));
            }
            schedule.steps.push((from, cents(price)?));
        }
        Ok(schedule)
    }

    /// The price of one segment sent at `at`.
    pub fn cents_at(&self, at: DateTime<Utc>) -> i64 {
        self.steps
            .iter()
            .rev()
            .find(|(from, _)| *from <= at)
            .map_or(DEFAULT_CENTS, |(_, cents)| *cents)
    }
}

fn cents(text: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .ok()
        .filter(|c| *c >= 0)
        .ok_or_else(|| format!("{text:?} is not a whole, non-negative number of cents"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_price_applies_from_its_effective_instant() {
        let schedule = PriceSchedule::parse("5, 2027-03-01=6, 2027-09-01T04:00:00Z=7").unwrap();
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        assert_eq!(schedule.cents_at(at(2020, 1, 1, 0)), 5);
        assert_eq!(schedule.cents_at(at(2027, 2, 28, 23)), 5);
        assert_eq!(schedule.cents_at(at(2027, 3, 1, 0)), 6);
        assert_eq!(schedule.cents_at(at(2027, 9, 1, 3)), 6);
        assert_eq!(schedule.cents_at(at(2027, 9, 1, 4)), 7);
    }

    #[test]
    fn bad_schedules_say_why() {
        assert!(PriceSchedule::parse("five").is_err());
        assert!(PriceSchedule::parse("-1").is_err());
        assert!(PriceSchedule::parse("5,2027-03-01").is_err());
        assert!(PriceSchedule::parse("5,2027-03-01=6,2027-01-01=7")
            .unwrap_err()
            .contains("order"));
        assert_eq!(PriceSchedule::parse("7").unwrap(), PriceSchedule::flat(7));
    }
}
