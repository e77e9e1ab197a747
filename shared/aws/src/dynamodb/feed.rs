//! The clinic's event feed: cursors reserved from a per-clinic counter, each event written in
//! the transaction of what caused it, and a reader that never skips an event still on its way.
//!
//! The counter is only ever incremented (`ADD`), outside any transaction, so it is never a
//! transaction's conflicting item and never a failed condition: one write a reservation, however
//! many instances append at once. Reserved cursors can stay empty (a transaction that failed, a
//! sender killed between reservation and commit, a reservation whose answer was lost): such a
//! gap is closed with a *void* item, written only if the cursor is still free, by the writer that
//! gave up or, after `GAP_GRACE`, by a reader (a reservation whose answer was lost leaves such a
//! gap, so the event after it reaches readers up to `GAP_GRACE` later). Event puts carry the same condition, so a late
//! writer and a reader closing its gap cannot both win: the writer then reserves again.

use super::{get_n, get_s, json, key, n, parse, s, unavailable, DynamoStore, Item};
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};
use chrono::Duration;
use rappel::domain::{ClinicId, Event, NewEvent};
use rappel::ports::{StoreError, StoreResult};

/// How long events stay readable.
pub(super) const EVENT_RETENTION: Duration = Duration::days(90);
/// How long a reader waits on an empty cursor before it closes it: longer than any writer lives
/// (the functions' timeout is 15 s), so a writer still running is never overtaken.
pub(super) const GAP_GRACE: Duration = Duration::seconds(30);
/// A gap before an event older than this is passed without a write: no writer lives that long,
/// and older history may have expired under the TTL.
const GAP_ABANDONED: Duration = Duration::hours(1);

/// What a reader does with a gap.
enum Gap {
    /// Its writer may still commit: stop here.
    Wait,
    /// Closed (or abandoned): read on.
    Passed,
    /// An event arrived in it meanwhile: read again from there.
    Filled,
}

fn counter_key(clinic: &ClinicId) -> Item {
    key(format!("CLINIC#{clinic}"), "EVENTSEQ")
}

fn feed_key(clinic: &ClinicId, cursor: u64) -> Item {
    key(format!("EVENTS#{clinic}"), &format!("{cursor:020}"))
}

/// Wall-clock milliseconds: gaps are timed by the machines' clocks, not the services' clock.
fn wall_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl DynamoStore {
    /// Reserves `count` consecutive cursors and returns the first.
    pub(super) async fn reserve_cursors(&self, clinic: &ClinicId, count: usize) -> StoreResult<u64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(clinic)))
            .update_expression("ADD n :count")
            .expression_attribute_values(":count", n(count))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable("reserve cursors"))?;
        let last = get_n(&out.attributes.unwrap_or_default(), "n")?;
        Ok(last + 1 - count as u64)
    }

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
                item.insert("written_at".to_owned(), n(wall_millis()));
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

    /// Writes a void at `cursor` unless an event is there: `false` when one is.
    async fn void_cursor(&self, clinic: &ClinicId, cursor: u64) -> StoreResult<bool> {
        let mut item = feed_key(clinic, cursor);
        item.insert("void".to_owned(), aws_sdk_dynamodb::types::AttributeValue::Bool(true));
        item.insert("written_at".to_owned(), n(wall_millis()));
        item.insert(
            "expires_at".to_owned(),
            n((chrono::Utc::now() + EVENT_RETENTION).timestamp()),
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("void cursor")(e)),
        }
    }

    /// Gives back cursors a writer reserved and will not use, so readers need not wait for them.
    /// Best effort: a cursor left empty is closed by a reader after `GAP_GRACE`.
    pub(super) async fn give_back(&self, clinic: &ClinicId, first: u64, count: usize) {
        for cursor in first..first + count as u64 {
            if let Err(e) = self.void_cursor(clinic, cursor).await {
                tracing::warn!(clinic = %clinic, cursor, error = %e, "reserved cursor left for readers to close");
            }
        }
    }

    /// Decides on the empty cursors `from..to`, which lie before an event written at `later_written`.
    async fn gap(&self, clinic: &ClinicId, from: u64, to: u64, later_written: i64) -> StoreResult<Gap> {
        let age = wall_millis() - later_written;
        if age < self.gap_grace.num_milliseconds() {
            return Ok(Gap::Wait);
        }
        if age > GAP_ABANDONED.num_milliseconds() {
            return Ok(Gap::Passed);
        }
        for cursor in from..to {
            if !self.void_cursor(clinic, cursor).await? {
                return Ok(Gap::Filled);
            }
        }
        Ok(Gap::Passed)
    }

    /// Up to `limit` events after cursor `after`, oldest first, stopping before a cursor whose
    /// writer may still commit.
    pub(super) async fn read_feed(&self, clinic: &ClinicId, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let limit = limit.clamp(1, 1000);
        let mut events = Vec::new();
        let mut next = after + 1;
        'pages: loop {
            let page = (limit - events.len()) as i32 + 8;
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK >= :from")
                .expression_attribute_values(":pk", s(format!("EVENTS#{clinic}")))
                .expression_attribute_values(":from", s(format!("{next:020}")))
                .limit(page)
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable("events"))?;
            let items = out.items.unwrap_or_default();
            for item in &items {
                let cursor: u64 = get_s(item, "SK")?
                    .parse()
                    .map_err(|_| StoreError::Corrupt("event cursor".to_owned()))?;
                if cursor > next {
                    let written = get_n(item, "written_at").map_or(0, |w| w as i64);
                    match self.gap(clinic, next, cursor, written).await? {
                        Gap::Wait => return Ok(events),
                        Gap::Filled => continue 'pages,
                        Gap::Passed => {}
                    }
                }
                next = cursor + 1;
                if item.contains_key("event") {
                    events.push(Event {
                        cursor,
                        event: parse(item, "event")?,
                    });
                    if events.len() == limit {
                        return Ok(events);
                    }
                }
            }
            if out.last_evaluated_key.is_none() {
                return Ok(events);
            }
        }
    }
}
