//! What the EMR reads back: the event feed and the SMS ledger.

use super::{Rappel, ServiceError};
use crate::domain::*;
use crate::rules::first_instant_at_or_after;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

/// One page of `GET /v1/events`.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    /// Oldest first.
    pub events: Vec<serde_json::Value>,
    /// Pass as `after` to read on.
    pub next: String,
}

/// `GET /v1/ledger?month=YYYY-MM`.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerReport {
    /// `YYYY-MM`.
    pub month: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Number of texts.
    pub texts: usize,
    /// Total segments.
    pub segments: u64,
    /// Total amount.
    pub total_cents: i64,
    /// The texts, oldest first.
    pub entries: Vec<LedgerEntry>,
}

impl LedgerReport {
    /// The report as CSV, one line per text.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "sent_at,appointment_id,kind,provider_message_id,segments,encoding,unit_price_cents,amount_cents,provider_price_usd\n",
        );
        for e in &self.entries {
            // The provider's price in US dollars, to the millionth; empty until it reports one.
            let provider_price = e
                .provider_price_micro_usd
                .map(|micros| format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000))
                .unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                e.sent_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                e.appointment_id,
                e.kind.as_str(),
                csv_field(&e.provider_message_id),
                e.segments,
                e.encoding,
                e.unit_price_cents,
                e.amount_cents,
                provider_price
            ));
        }
        out
    }
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// The first and last-plus-one instants of `YYYY-MM` on the clinic's wall clock.
pub fn month_bounds(month: &str, zone: chrono_tz::Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (year, mon) = month.split_once('-')?;
    if year.len() != 4 || mon.len() != 2 {
        return None;
    }
    let first = NaiveDate::from_ymd_opt(year.parse().ok()?, mon.parse().ok()?, 1)?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)?
    };
    Some((
        first_instant_at_or_after(zone, first, NaiveTime::MIN),
        first_instant_at_or_after(zone, next, NaiveTime::MIN),
    ))
}

/// The bounds of the clinic-local month holding `at`.
pub fn month_around(at: DateTime<Utc>, zone: chrono_tz::Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    month_bounds(&at.with_timezone(&zone).format("%Y-%m").to_string(), zone)
}

impl Rappel {
    /// `GET /v1/events?after=&limit=`.
    pub async fn events(
        &self,
        clinic: &Clinic,
        after: Option<&str>,
        limit: Option<&str>,
    ) -> Result<EventPage, ServiceError> {
        let after: u64 = match after {
            None | Some("") => 0,
            Some(a) => a
                .parse()
                .map_err(|_| ServiceError::invalid("after", "must be a cursor returned as `next` or in an event"))?,
        };
        let limit: usize = match limit {
            None => 100,
            Some(l) => l
                .parse()
                .ok()
                .filter(|l| (1..=1000).contains(l))
                .ok_or_else(|| ServiceError::invalid("limit", "must be a whole number from 1 to 1000"))?,
        };
        let events = self.store.events_after(&clinic.id, after, limit).await?;
        let next = events.last().map(|e| e.cursor).unwrap_or(after);
        let zone = clinic.settings.tz();
        let events = events
            .into_iter()
            .map(|e| {
                let mut value = serde_json::to_value(&e.event).unwrap_or_default();
                value["cursor"] = e.cursor.to_string().into();
                value["at"] = e
                    .event
                    .at
                    .with_timezone(&zone)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                    .into();
                value
            })
            .collect();
        Ok(EventPage {
            events,
            next: next.to_string(),
        })
    }

    /// `GET /v1/ledger?month=YYYY-MM`, the month cut on the clinic's wall clock.
    pub async fn ledger(&self, clinic: &Clinic, month: Option<&str>) -> Result<LedgerReport, ServiceError> {
        let month = month.ok_or_else(|| ServiceError::invalid("month", "is required, as YYYY-MM"))?;
        let (from, to) = month_bounds(month, clinic.settings.tz())
            .ok_or_else(|| ServiceError::invalid("month", "must be written YYYY-MM"))?;
        let entries = self.store.ledger_between(&clinic.id, from, to).await?;
        Ok(LedgerReport {
            month: month.to_owned(),
            currency: self.config.currency.clone(),
            texts: entries.len(),
            segments: entries.iter().map(|e| u64::from(e.segments)).sum(),
            total_cents: entries.iter().map(|e| e.amount_cents).sum(),
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn months_are_cut_on_the_clinic_wall_clock() {
        let (from, to) = month_bounds("2026-12", chrono_tz::America::Toronto).unwrap();
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0).unwrap());
        assert_eq!(to, Utc.with_ymd_and_hms(2027, 1, 1, 5, 0, 0).unwrap());
        assert!(month_bounds("2026-13", chrono_tz::America::Toronto).is_none());
        assert!(month_bounds("26-12", chrono_tz::America::Toronto).is_none());
    }
}
