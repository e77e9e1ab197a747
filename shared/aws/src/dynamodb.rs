//! The DynamoDB store: one table, every access a key lookup or a key-range query.
//!
//! | item | PK | SK | attributes |
//! |---|---|---|---|
//! | clinic | `CLINIC#<clinic>` | `CLINIC` | `settings` (JSON), `key_hash` |
//! | API key | `KEY#<sha256 of key>` | `KEY` | `clinic_id` |
//! | type | `CLINIC#<clinic>` | `TYPE#<code>` | `settings` (JSON) |
//! | appointment | `APPT#<clinic>#<id>` | `APPT` | `record` (JSON), `version`, `expires_at` |
//! | message | `APPT#<clinic>#<id>` | `MSG#<key>` | `order`, `status`, `at`, `message` (JSON), `billed`, `expires_at` |
//! | patient link | `TOKEN#<token>` | `TOKEN` | `clinic_id`, `appointment_id`, `expires_at` |
//! | event counter | `CLINIC#<clinic>` | `EVENTSEQ` | `n` |
//! | event | `EVENTS#<clinic>` | `<cursor, 20 digits>` | `event` (JSON), `expires_at` |
//! | ledger entry | `LEDGER#<clinic>` | `<sent_at>#<appointment>#<message key>` | `entry` (JSON) |
//!
//! Access patterns: a clinic by API key (2 gets); an appointment by id (1 get) or by token (2 gets);
//! an appointment's messages (1 query); events after a cursor (1 query); a month's ledger (1 query).
//! Conditional writes carry the rules: an appointment write expects the version it read; a message
//! is recorded only if absent and claimed only from a claimable status; a ledger entry is written in
//! the same transaction that marks its message `billed`, so a retried completion never bills twice.
//! Events take consecutive cursors from a per-clinic counter updated in the same transaction, so
//! cursors commit in order and a reader never skips one. `expires_at` (TTL) removes appointment
//! data 30 days after the appointment and events after 90 days; the ledger is kept.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
pub use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use rappel::domain::*;
use rappel::ports::*;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// How long events stay readable.
const EVENT_RETENTION: Duration = Duration::days(90);
/// How many times an append retries when another writer took the event counter first.
const COUNTER_RETRIES: usize = 32;

/// DynamoDB-backed store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn unavailable<E: std::fmt::Debug>(context: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Unavailable(format!("dynamodb {context}: {e:?}"))
}

fn json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> StoreResult<T> {
    let text = get_s(item, name)?;
    rappel::domain::read_stored(|| serde_json::from_str(text)).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

fn get_s<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
}

fn get_n(item: &Item, name: &str) -> StoreResult<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("missing number attribute {name}")))
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

fn appointment_pk(clinic: &ClinicId, id: &AppointmentId) -> String {
    format!("APPT#{clinic}#{id}")
}

fn expires_at(record: &AppointmentRecord) -> AttributeValue {
    n(record.token_expires_at().timestamp())
}

/// Whether a transaction was cancelled, and which of its items failed their condition.
fn cancelled_items<R>(error: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<bool>> {
    match error.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

fn build<T, E: std::fmt::Debug>(result: Result<T, E>) -> StoreResult<T> {
    result.map_err(|e| StoreError::Unavailable(format!("dynamodb request: {e:?}")))
}

impl DynamoStore {
    /// A store on `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("get"))?;
        Ok(out.item)
    }

    /// Every item matching `condition` (with its `values`), following pages.
    async fn query_pages(&self, condition: &str, values: &[(&str, String)]) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .consistent_read(true)
                .set_exclusive_start_key(start);
            for (name, value) in values {
                query = query.expression_attribute_values(*name, s(value.clone()));
            }
            let out = query.send().await.map_err(unavailable("query"))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Every item of a partition whose sort key starts with `sk_prefix`.
    async fn query_all(&self, pk: String, sk_prefix: &str) -> StoreResult<Vec<Item>> {
        self.query_pages(
            "PK = :pk AND begins_with(SK, :prefix)",
            &[(":pk", pk), (":prefix", sk_prefix.to_owned())],
        )
        .await
    }

    async fn event_counter(&self, clinic: &ClinicId) -> StoreResult<u64> {
        Ok(match self.get(format!("CLINIC#{clinic}"), "EVENTSEQ").await? {
            Some(item) => get_n(&item, "n")?,
            None => 0,
        })
    }

    /// The transaction items that append `events` after counter value `current`.
    fn event_items(&self, clinic: &ClinicId, current: u64, events: &[NewEvent]) -> StoreResult<Vec<TransactWriteItem>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let next = current + events.len() as u64;
        let counter = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(format!("CLINIC#{clinic}"), "EVENTSEQ")))
                .update_expression("SET n = :next")
                .condition_expression(if current == 0 {
                    "attribute_not_exists(n) OR n = :current"
                } else {
                    "n = :current"
                })
                .expression_attribute_values(":next", n(next))
                .expression_attribute_values(":current", n(current))
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().update(counter).build()];
        for (i, event) in events.iter().enumerate() {
            let cursor = current + 1 + i as u64;
            let mut item = key(format!("EVENTS#{clinic}"), &format!("{cursor:020}"));
            item.insert("event".to_owned(), s(json(event)?));
            item.insert("expires_at".to_owned(), n((event.at + EVENT_RETENTION).timestamp()));
            let put = build(Put::builder().table_name(&self.table).set_item(Some(item)).build())?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(items)
    }

    fn message_put(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        message: &MessageRecord,
        order: &str,
        expires: AttributeValue,
    ) -> StoreResult<TransactWriteItem> {
        let mut item = key(appointment_pk(clinic, id), &format!("MSG#{}", message.key));
        item.insert("order".to_owned(), s(order));
        item.insert("status".to_owned(), s(status_text(message.status)));
        item.insert("at".to_owned(), s(ts(message.at)));
        item.insert("message".to_owned(), s(json(message)?));
        item.insert("expires_at".to_owned(), expires);
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Keeps only the messages not yet recorded.
    async fn absent_messages<'m>(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        messages: &'m [MessageRecord],
    ) -> StoreResult<Vec<&'m MessageRecord>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let existing = self.messages(clinic, id).await?;
        Ok(messages
            .iter()
            .filter(|m| !existing.iter().any(|e| e.key == m.key))
            .collect())
    }
}

fn status_text(status: MessageStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Sort key of a message among its appointment's: the record version that wrote it, then its
/// place in that write. Reminders added between writes sort after the write they followed.
/// (Clock time cannot order them: two writes can share an instant.)
fn message_order(version: u64, place: &str) -> String {
    format!("{version:012}#{place}")
}

#[async_trait]
impl ClinicStore for DynamoStore {
    async fn clinic_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Clinic>> {
        let Some(item) = self.get(format!("KEY#{key_hash}"), "KEY").await? else {
            return Ok(None);
        };
        let id = ClinicId::parse(get_s(&item, "clinic_id")?).map_err(|e| StoreError::Corrupt(e.0))?;
        self.clinic(&id).await
    }

    async fn clinic(&self, id: &ClinicId) -> StoreResult<Option<Clinic>> {
        let Some(item) = self.get(format!("CLINIC#{id}"), "CLINIC").await? else {
            return Ok(None);
        };
        Ok(Some(Clinic {
            id: id.clone(),
            settings: parse(&item, "settings")?,
        }))
    }

    async fn put_clinic(&self, clinic: &Clinic) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("CLINIC#{}", clinic.id), "CLINIC")))
            .update_expression("SET settings = :settings")
            .expression_attribute_values(":settings", s(json(&clinic.settings)?))
            .send()
            .await
            .map_err(unavailable("put clinic"))?;
        Ok(())
    }

    async fn set_api_key_hash(&self, id: &ClinicId, key_hash: &str) -> StoreResult<()> {
        let Some(item) = self.get(format!("CLINIC#{id}"), "CLINIC").await? else {
            return Err(StoreError::Conflict);
        };
        let old = item.get("key_hash").and_then(|v| v.as_s().ok()).cloned();
        let mut items = Vec::new();
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(format!("CLINIC#{id}"), "CLINIC")))
                .update_expression("SET key_hash = :new")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":new", s(key_hash))
                .build(),
        )?;
        items.push(TransactWriteItem::builder().update(update).build());
        let mut key_item = key(format!("KEY#{key_hash}"), "KEY");
        key_item.insert("clinic_id".to_owned(), s(id.as_str()));
        let put = build(Put::builder().table_name(&self.table).set_item(Some(key_item)).build())?;
        items.push(TransactWriteItem::builder().put(put).build());
        if let Some(old) = old.filter(|o| o != key_hash) {
            let delete = build(
                aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(format!("KEY#{old}"), "KEY")))
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(unavailable("set key"))?;
        Ok(())
    }
}

#[async_trait]
impl TypeStore for DynamoStore {
    async fn put_type(&self, clinic: &ClinicId, appointment_type: &AppointmentType) -> StoreResult<bool> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some({
                let mut item = key(format!("CLINIC#{clinic}"), &format!("TYPE#{}", appointment_type.code));
                item.insert("settings".to_owned(), s(json(&appointment_type.settings)?));
                item
            }))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable("put type"))?;
        Ok(out.attributes.is_none_or(|a| a.is_empty()))
    }

    async fn types(&self, clinic: &ClinicId) -> StoreResult<Vec<AppointmentType>> {
        let items = self.query_all(format!("CLINIC#{clinic}"), "TYPE#").await?;
        let mut types = items
            .iter()
            .map(|item| {
                let code = get_s(item, "SK")?.trim_start_matches("TYPE#");
                Ok(AppointmentType {
                    code: TypeCode::parse(code).map_err(|e| StoreError::Corrupt(e.0))?,
                    settings: parse(item, "settings")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        types.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(types)
    }

    async fn type_settings(&self, clinic: &ClinicId, code: &TypeCode) -> StoreResult<Option<TypeSettings>> {
        self.get(format!("CLINIC#{clinic}"), &format!("TYPE#{code}"))
            .await?
            .map(|item| parse(&item, "settings"))
            .transpose()
    }
}

#[async_trait]
impl AppointmentStore for DynamoStore {
    async fn appointment(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Option<AppointmentRecord>> {
        self.get(appointment_pk(clinic, id), "APPT")
            .await?
            .map(|item| parse(&item, "record"))
            .transpose()
    }

    async fn appointment_by_token(&self, token: &str) -> StoreResult<Option<AppointmentRecord>> {
        let Some(item) = self.get(format!("TOKEN#{token}"), "TOKEN").await? else {
            return Ok(None);
        };
        let clinic = ClinicId::parse(get_s(&item, "clinic_id")?).map_err(|e| StoreError::Corrupt(e.0))?;
        let id = AppointmentId::parse(get_s(&item, "appointment_id")?).map_err(|e| StoreError::Corrupt(e.0))?;
        self.appointment(&clinic, &id).await
    }

    async fn write_appointment(&self, write: &AppointmentWrite) -> StoreResult<()> {
        let record = &write.record;
        let (clinic, id) = (&record.clinic_id, &record.id);
        let expected = record.version.checked_sub(1).ok_or(StoreError::Conflict)?;
        let messages = self.absent_messages(clinic, id, &write.messages).await?;
        for _ in 0..COUNTER_RETRIES {
            let mut items = Vec::new();
            let mut item = key(appointment_pk(clinic, id), "APPT");
            item.insert("record".to_owned(), s(json(record)?));
            item.insert("version".to_owned(), n(record.version));
            item.insert("expires_at".to_owned(), expires_at(record));
            let condition = if expected == 0 {
                "attribute_not_exists(PK)"
            } else {
                "version = :expected"
            };
            let mut put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition);
            if expected != 0 {
                put = put.expression_attribute_values(":expected", n(expected));
            }
            items.push(TransactWriteItem::builder().put(build(put.build())?).build());
            // The link index follows the appointment so it expires with it.
            let mut token = key(format!("TOKEN#{}", record.token), "TOKEN");
            token.insert("clinic_id".to_owned(), s(clinic.as_str()));
            token.insert("appointment_id".to_owned(), s(id.as_str()));
            token.insert("expires_at".to_owned(), expires_at(record));
            items.push(
                TransactWriteItem::builder()
                    .put(build(
                        Put::builder().table_name(&self.table).set_item(Some(token)).build(),
                    )?)
                    .build(),
            );
            for (i, m) in messages.iter().enumerate() {
                items.push(self.message_put(
                    clinic,
                    id,
                    m,
                    &message_order(record.version, &format!("{i:03}")),
                    expires_at(record),
                )?);
            }
            let counter = if write.events.is_empty() {
                0
            } else {
                self.event_counter(clinic).await?
            };
            let event_start = items.len();
            items.extend(self.event_items(clinic, counter, &write.events)?);
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => match cancelled_items(&e) {
                    // Only the event counter moved: take the next cursor and try again.
                    Some(failed) if failed.iter().position(|f| *f) == Some(event_start) => continue,
                    Some(_) => return Err(StoreError::Conflict),
                    None => return Err(unavailable("write appointment")(e)),
                },
            }
        }
        Err(StoreError::Unavailable("event counter too contended".to_owned()))
    }

    async fn add_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        messages: &[MessageRecord],
    ) -> StoreResult<usize> {
        let record = self.appointment(clinic, id).await?;
        let expires = record
            .as_ref()
            .map(expires_at)
            .unwrap_or_else(|| n((Utc::now() + Duration::days(400)).timestamp()));
        let version = record.as_ref().map_or(0, |r| r.version);
        let mut added = 0;
        for (i, m) in self
            .absent_messages(clinic, id, messages)
            .await?
            .into_iter()
            .enumerate()
        {
            let place = format!("~{}#{i:03}", ts(m.at));
            let TransactWriteItem { put, .. } =
                self.message_put(clinic, id, m, &message_order(version, &place), expires.clone())?;
            let Some(put) = put else { continue };
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(put.item))
                .condition_expression("attribute_not_exists(PK)")
                .send()
                .await;
            match result {
                Ok(_) => added += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(unavailable("add message")(e)),
            }
        }
        Ok(added)
    }

    async fn messages(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Vec<MessageRecord>> {
        let items = self.query_all(appointment_pk(clinic, id), "MSG#").await?;
        let mut ordered = items
            .iter()
            .map(|item| {
                let mut message: MessageRecord = parse(item, "message")?;
                message.status = serde_json::from_value(serde_json::Value::String(get_s(item, "status")?.to_owned()))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                message.at = DateTime::parse_from_rfc3339(get_s(item, "at")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?
                    .with_timezone(&Utc);
                message.detail = item.get("detail").and_then(|v| v.as_s().ok()).cloned();
                Ok((get_s(item, "order")?.to_owned(), message))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        ordered.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ordered.into_iter().map(|(_, m)| m).collect())
    }

    async fn claim_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key_: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        appointment_version: u64,
    ) -> StoreResult<bool> {
        let claim = build(
            Update::builder()
                .table_name(&self.table)
            .set_key(Some(key(appointment_pk(clinic, id), &format!("MSG#{key_}"))))
            .update_expression("SET #status = :sending, #at = :now")
            .condition_expression(
                "attribute_exists(PK) AND (#status IN (:pending, :failed) OR (#status = :sending AND #at < :stale))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":now", s(ts(now)))
            .expression_attribute_values(":stale", s(ts(stale_before)))
                .build(),
        )?;
        let unchanged = build(
            aws_sdk_dynamodb::types::ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(appointment_pk(clinic, id), "APPT")))
                .condition_expression("version = :version")
                .expression_attribute_values(":version", n(appointment_version))
                .build(),
        )?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(claim).build())
            .transact_items(TransactWriteItem::builder().condition_check(unchanged).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if cancelled_items(&e).is_some_and(|failed| failed.iter().any(|f| *f)) => Ok(false),
            Err(e) => Err(unavailable("claim message")(e)),
        }
    }

    async fn complete_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key_: &str,
        outcome: &MessageOutcome,
    ) -> StoreResult<()> {
        let mut bill = outcome.ledger.as_ref();
        for _ in 0..COUNTER_RETRIES {
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(appointment_pk(clinic, id), &format!("MSG#{key_}"))))
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":status", s(status_text(outcome.status)))
                .expression_attribute_values(":at", s(ts(outcome.at)));
            let mut set = "SET #status = :status, #at = :at".to_owned();
            if let Some(detail) = &outcome.detail {
                set.push_str(", detail = :detail");
                update = update.expression_attribute_values(":detail", s(detail.clone()));
            }
            if bill.is_some() {
                set.push_str(", billed = :true");
                update = update
                    .condition_expression("attribute_not_exists(billed)")
                    .expression_attribute_values(":true", AttributeValue::Bool(true));
            }
            let mut items = vec![TransactWriteItem::builder()
                .update(build(update.update_expression(set).build())?)
                .build()];
            if let Some(entry) = bill {
                let mut item = key(
                    format!("LEDGER#{clinic}"),
                    &format!("{}#{}#{}", ts(entry.sent_at), entry.appointment_id, entry.message_key),
                );
                item.insert("entry".to_owned(), s(json(entry)?));
                items.push(
                    TransactWriteItem::builder()
                        .put(build(
                            Put::builder().table_name(&self.table).set_item(Some(item)).build(),
                        )?)
                        .build(),
                );
            }
            let event_start = items.len();
            let counter = self.event_counter(clinic).await?;
            items.extend(self.event_items(clinic, counter, std::slice::from_ref(&outcome.event))?);
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => match cancelled_items(&e) {
                    // Already billed: a retried completion; record the rest without a second entry.
                    Some(failed) if failed.first() == Some(&true) && bill.is_some() => bill = None,
                    Some(failed) if failed.get(event_start) == Some(&true) => continue,
                    _ => return Err(unavailable("complete message")(e)),
                },
            }
        }
        Err(StoreError::Unavailable("event counter too contended".to_owned()))
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn events_after(&self, clinic: &ClinicId, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK > :after")
            .expression_attribute_values(":pk", s(format!("EVENTS#{clinic}")))
            .expression_attribute_values(":after", s(format!("{after:020}")))
            .limit(limit.clamp(1, 1000) as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("events"))?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                Ok(Event {
                    cursor: get_s(item, "SK")?
                        .parse()
                        .map_err(|_| StoreError::Corrupt("event cursor".to_owned()))?,
                    event: parse(item, "event")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl LedgerStore for DynamoStore {
    async fn ledger_between(
        &self,
        clinic: &ClinicId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LedgerEntry>> {
        // BETWEEN includes `to`; the filter below excludes it.
        let items = self
            .query_pages(
                "PK = :pk AND SK BETWEEN :from AND :to",
                &[
                    (":pk", format!("LEDGER#{clinic}")),
                    (":from", ts(from)),
                    (":to", ts(to)),
                ],
            )
            .await?;
        let mut entries = Vec::with_capacity(items.len());
        for item in &items {
            let entry: LedgerEntry = parse(item, "entry")?;
            if entry.sent_at >= from && entry.sent_at < to {
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}
