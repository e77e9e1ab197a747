//! The clinic's event feed: cursors stamped from the writer's clock when its transaction is sent,
//! and readers that stay a fixed lag behind the present, so they never pass an event that is
//! still on its way.
//!
//! A cursor is the wall-clock millisecond at which the transaction carrying the event is sent,
//! times 1,000, plus a random offset (two writers in one millisecond rarely meet; when they do,
//! the event's put fails its condition and the writer stamps again). The events of one
//! transaction take consecutive cursors (16 digits until the year 2286; the sort key keeps 20).
//!
//! Each transaction that carries events is sent without the SDK's retries and stamped anew on
//! each attempt (see `transact.rs`): an attempt is given up after 3 s (the SDK's attempt timeout),
//! so an event commits within a few seconds of its stamp. A reader returns only events stamped at
//! least `FEED_LAG` ago: by then every write stamped earlier has committed or failed. No counter is
//! written, and nothing is left for readers to close: the feed costs no call of its own.
//!
//! Cursors written before stamping (a per-clinic counter: small numbers, and `void` items that
//! closed its gaps) sort before every stamped one and are read the same way; voids are skipped.

use super::{get_s, json, key, n, parse, s, unavailable, DynamoStore, Item};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::Duration;
use rappel::domain::{ClinicId, Event, NewEvent};
use rappel::ports::{StoreError, StoreResult};

/// How long events stay readable.
pub(super) const EVENT_RETENTION: Duration = Duration::days(90);
/// How far behind the present readers stay: longer than an event's transaction can take to commit
/// after its stamp (an attempt is given up after 3 s; a request DynamoDB received executes within
/// moments), with room for the clocks of two Lambda instances to differ.
pub(super) const FEED_LAG: Duration = Duration::seconds(10);
/// Stamped cursors per millisecond.
const PER_MILLISECOND: u64 = 1_000;

fn feed_key(clinic: &ClinicId, cursor: u64) -> Item {
    key(format!("EVENTS#{clinic}"), &format!("{cursor:020}"))
}

/// The first of `count` consecutive cursors for a transaction sent at `now_ms` (wall clock).
pub(super) fn stamp(now_ms: i64, count: usize) -> u64 {
    let room = PER_MILLISECOND.saturating_sub(count as u64).max(1);
    now_ms.max(0) as u64 * PER_MILLISECOND + rand::random_range(0..room)
}

/// The last cursor a reader at `now_ms` may return, `lag` behind it.
pub(super) fn horizon(now_ms: i64, lag: Duration) -> u64 {
    let at = (now_ms - lag.num_milliseconds()).max(0) as u64;
    at * PER_MILLISECOND + (PER_MILLISECOND - 1)
}

/// The cursors a reader may return after `after`, up to the horizon `last`; `None` when there
/// are none yet: a cursor read a moment ago from an instance whose clock is ahead, or one from the
/// future. (DynamoDB refuses a `BETWEEN` whose range ends before it starts.)
fn readable_range(after: u64, last: u64) -> Option<(u64, u64)> {
    let first = after.checked_add(1)?;
    (first <= last).then_some((first, last))
}

/// Wall-clock milliseconds: cursors are timed by the machines' clocks, not the services' clock.
pub(super) fn wall_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl DynamoStore {
    /// Transaction items putting `events` at the cursors from `first`, each only if still free.
    pub(super) fn event_puts(
        &self,
        clinic: &ClinicId,
        first: u64,
        events: &[NewEvent],
    ) -> StoreResult<Vec<TransactWriteItem>> {
        events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let mut item = feed_key(clinic, first + i as u64);
                item.insert("event".to_owned(), s(json(event)?));
                item.insert("expires_at".to_owned(), n((event.at + EVENT_RETENTION).timestamp()));
                let put = self.if_absent(item)?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }

    /// A put that succeeds only where nothing is stored yet.
    pub(super) fn if_absent(&self, item: Item) -> StoreResult<Put> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Unavailable(format!("dynamodb request: {e}")))
    }

    /// Up to `limit` events after cursor `after`, oldest first, none younger than the feed's lag.
    pub(super) async fn read_feed(&self, clinic: &ClinicId, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let limit = limit.clamp(1, 1000);
        let Some((first, last)) = readable_range(after, horizon(wall_millis(), self.feed_lag)) else {
            return Ok(Vec::new());
        };
        let mut events = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(format!("EVENTS#{clinic}")))
                .expression_attribute_values(":from", s(format!("{first:020}")))
                .expression_attribute_values(":to", s(format!("{last:020}")))
                .set_exclusive_start_key(start)
                .limit((limit - events.len()) as i32)
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable("events"))?;
            for item in out.items.unwrap_or_default() {
                if !item.contains_key("event") {
                    continue; // a void, closing a gap of the counter's days
                }
                let cursor = get_s(&item, "SK")?
                    .parse()
                    .map_err(|_| StoreError::Corrupt("event cursor".to_owned()))?;
                events.push(Event {
                    cursor,
                    event: parse(&item, "event")?,
                });
            }
            start = out.last_evaluated_key;
            if events.len() >= limit || start.is_none() {
                return Ok(events);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_follow_the_clock_within_the_sort_keys_width() {
        let now_ms = chrono::DateTime::parse_from_rfc3339("2200-01-01T00:00:00Z")
            .unwrap()
            .timestamp_millis();
        let first = stamp(now_ms, 3);
        assert!(first / PER_MILLISECOND == now_ms as u64 && first % PER_MILLISECOND <= 997);
        assert!(format!("{:020}", first + 2).len() == 20, "the sort key's width");
        assert!(stamp(now_ms + 1, 1) > first + 2, "a later millisecond sorts after");
    }

    #[test]
    fn a_reader_past_the_horizon_has_nothing_to_ask_for() {
        assert_eq!(readable_range(0, 999), Some((1, 999)));
        assert_eq!(readable_range(998, 999), Some((999, 999)));
        assert_eq!(readable_range(999, 999), None, "read up to the horizon already");
        assert_eq!(
            readable_range(5_000, 999),
            None,
            "a cursor from a clock ahead of this one"
        );
        assert_eq!(readable_range(u64::MAX, 999), None);
    }

    #[test]
    fn the_horizon_is_the_last_cursor_of_the_millisecond_lag_ago() {
        let lag = Duration::seconds(10);
        assert_eq!(horizon(20_000, lag), 10_000 * PER_MILLISECOND + 999);
        assert!(stamp(10_000, 1) <= horizon(20_000, lag));
        assert!(stamp(10_001, 1) > horizon(20_000, lag));
        assert_eq!(horizon(5, lag), 999, "never below zero");
    }
}
