//! The DynamoDB store: one table, every access a key lookup or a key-range query.
//!
//! | item | PK | SK | attributes |
//! |---|---|---|---|
//! | clinic | `CLINIC#<clinic>` | `CLINIC` | `settings` (JSON), `key_hash` |
//! | API key | `KEY#<sha256 of key>` | `KEY` | `clinic_id`, `settings` (a copy of the clinic's) |
//! | type | `CLINIC#<clinic>` | `TYPE#<code>` | `settings` (JSON) |
//! | appointment | `APPT#<clinic>#<id>` | `APPT` | `record` (JSON), `version`, `expires_at`; `settled`, `settled_messages` (JSON), `added_since` (see below) |
//! | message | `APPT#<clinic>#<id>` | `MSG#<key>` | `order`, `status`, `at`, `message` (JSON), `detail`, `expires_at` |
//! | patient link | `TOKEN#<token>` | `TOKEN` | `clinic_id`, `appointment_id`, `type_code`, `link_expires_at`, `expires_at` |
//! | event | `EVENTS#<clinic>` | `<cursor, 20 digits>` | `event` (JSON), `expires_at` (or `void`: see `feed.rs`) |
//! | ledger entry | `LEDGER#<clinic>` | `<sent_at>#<appointment>#<message key>` | `entry` (JSON) |
//! | text route | `TEXTED#<sha256 of number>` | `<sent_at>#<clinic>#<appointment>` | `clinic_id`, `appointment_id`, `sent_at`, `expires_at` |
//! | text by provider id | `PROVIDER#<SNS message id>` | `PROVIDER` | `clinic_id`, `appointment_id`, `key`, `expires_at` |
//! | provider's price | `LEDGER#<clinic>` | `<ledger entry's SK>#price` | `provider_price_micro_usd` (read with its entry) |
//! | suppressed address | `SUPPRESS#<clinic>` | `<address, lower case>` | `reason`, `at` |
//! | text opt-out | `OPTOUT#<sha256 of number>` | `OPTOUT` | none (written by the texter, see `messaging.rs`) |
//!
//! Access patterns: a clinic by API key (1 get: the key's item carries the settings, written with
//! them in one transaction by `put_clinic` and `set_api_key_hash`, each conditioned on the other's
//! part being unchanged); what a request needs before it decides, in one `BatchGetItem` (a save:
//! appointment and type; the patient page: clinic, appointment and type, the link's `type_code`
//! naming the type; the reminder: the same, its schedule naming the type); an appointment's
//! messages (1 query); events after a cursor (1 query); a month's ledger (1 query).
//!
//! Settled appointments: the transaction that writes a save's last outcomes also sets
//! `settled` (the version) and `settled_messages` (the messages, all final) on the appointment,
//! on the condition that the version stands and no message was added since it was written
//! (`added_since`, set by `add_messages`). Every write of the appointment replaces the item and
//! so clears all three. A replay reads them in its first call and has nothing left to do.
//!
//! Conditional writes carry the rules. An appointment write expects the version it read. A message
//! is recorded only if absent (possibly already claimed by the write that records it), claimed
//! only from a claimable status while the appointment is at the version the sender read, and
//! completed only while it is still `sending` under that claim
//! (`at` = the claim's instant): the completion's transaction writes the status, the event and the
//! text's ledger entry together, so a retried completion (a lost answer) or a sender whose lease
//! was taken over writes nothing twice.
//!
//! Contention: transactions cancelled for `TransactionConflict` or throttling are retried with
//! jittered backoff for up to 4 s (`transact.rs`); the SDK retries throttling and 5xx itself,
//! but for transactions that carry events, which are retried there (each attempt stamped anew).
//!
//! The event feed (`feed.rs`): each event is put, only if its cursor is still free, in the
//! transaction of what caused it, at a cursor stamped from the clock when that transaction is
//! sent (stamped anew on each attempt). Readers stay `FEED_LAG` (10 s) behind the present, longer
//! than a stamped transaction takes to commit, so they never pass an event still on its way. No
//! item is shared by a clinic's writers, so the feed adds neither a call nor a conflict.
//!
//! Retention (`expires_at`, the TTL): appointment data goes 30 days after the appointment (when its
//! link expires); the link item, which holds no personal data, stays a year longer so an expired
//! link answers 410, not 404; events go after 90 days; the ledger is kept; a text route (where
//! a patient's reply to a text leads) goes 8 days after its text, a day after replies stop
//! being matched to it; an opt-out is kept until the number opts in again.
//!
//! Text routes: the completion of a text puts a route item for its number in the same
//! transaction, one item per text (sort key: the instant, then clinic and appointment), and a
//! reply reads the newest (1 query, newest first, limit 1). No condition is needed, and two texts
//! to one number never touch the same item.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
pub use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use rappel::domain::*;
use rappel::ports::*;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

mod feed;
mod transact;

use transact::TransactError;

/// How long an expired link's item outlives the appointment's data, so the link answers 410.
const LINK_TOMBSTONE: Duration = Duration::days(365);
/// How many times a write stamps its events again when another writer's took their cursors.
const STAMPS: usize = 4;
/// Records an appointment's settled state (see the module's doc)…
const SETTLE: &str = "SET settled = :version, settled_messages = :messages";
/// …while the version stands and no message was added since it was written.
const SETTLE_CONDITION: &str = "version = :version AND attribute_not_exists(added_since)";
/// How many times a clinic's settings or key are written again when the other changed meanwhile.
const CLINIC_WRITE_ATTEMPTS: usize = 8;
/// How long a text can be found by its provider id (carriers report within 3 days).
const PROVIDER_ID_KEPT: Duration = Duration::days(30);
/// How long a text route is kept after its text (replies are matched for 7 days).
const TEXT_ROUTE_KEPT: Duration = Duration::days(8);
/// How many times a batched read asks again for keys left unprocessed.
const BATCH_GET_ATTEMPTS: u32 = 6;

/// DynamoDB-backed store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// How far behind the present a feed reader stays (see `feed.rs`).
    feed_lag: Duration,
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

pub(crate) fn unavailable<E: std::fmt::Debug>(context: &'static str) -> impl Fn(E) -> StoreError {
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

fn build<T, E: std::fmt::Debug>(result: Result<T, E>) -> StoreResult<T> {
    result.map_err(|e| StoreError::Unavailable(format!("dynamodb request: {e:?}")))
}

impl DynamoStore {
    /// A store on `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
            feed_lag: feed::FEED_LAG,
        }
    }

    /// The same, with feed readers `lag` behind the present instead of 10 s: for tests that read
    /// the feed once every writer has finished.
    pub fn with_feed_lag(mut self, lag: Duration) -> DynamoStore {
        self.feed_lag = lag;
        self
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

    /// The clinic's item, as stored.
    async fn clinic_item(&self, id: &ClinicId) -> StoreResult<Option<ClinicItem>> {
        let Some(item) = self.get(format!("CLINIC#{id}"), "CLINIC").await? else {
            return Ok(None);
        };
        Ok(Some(ClinicItem {
            settings: get_s(&item, "settings")?.to_owned(),
            key_hash: item.get("key_hash").and_then(|v| v.as_s().ok()).cloned(),
        }))
    }

    /// The items at `keys` (distinct), read consistently in one `BatchGetItem`; keys DynamoDB
    /// leaves unprocessed (throttling) are asked for again after a pause.
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Option<Item>>> {
        let mut found = vec![None; keys.len()];
        let mut asked = keys.clone();
        for attempt in 0..BATCH_GET_ATTEMPTS {
            let request = build(
                KeysAndAttributes::builder()
                    .set_keys(Some(asked))
                    .consistent_read(true)
                    .build(),
            )?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(unavailable("batch get"))?;
            let items = out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            place_found(&keys, items, &mut found);
            asked = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if asked.is_empty() {
                return Ok(found);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
        }
        Err(StoreError::Unavailable(
            "dynamodb batch get: keys left unprocessed".to_owned(),
        ))
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

/// Settled messages as the appointment item keeps them: instants to the microsecond, as the
/// message items keep theirs, so they read back as `messages` would.
fn settled_json(messages: &[MessageRecord]) -> StoreResult<String> {
    use chrono::SubsecRound as _;
    let kept: Vec<MessageRecord> = messages
        .iter()
        .map(|m| MessageRecord {
            at: m.at.trunc_subsecs(6),
            ..m.clone()
        })
        .collect();
    json(&kept)
}

/// The messages an appointment item recorded as settled, if it did at `version`.
fn settled_messages(item: &Item, version: u64) -> StoreResult<Option<Vec<MessageRecord>>> {
    let settled = item
        .get("settled")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if settled != Some(version) || item.contains_key("added_since") {
        return Ok(None);
    }
    parse(item, "settled_messages").map(Some)
}

/// Puts each of `items` where its key stands in `keys`.
fn place_found(keys: &[Item], items: Vec<Item>, found: &mut [Option<Item>]) {
    for item in items {
        let same = |k: &Item| k.get("PK") == item.get("PK") && k.get("SK") == item.get("SK");
        if let Some(i) = keys.iter().position(same) {
            found[i] = Some(item);
        }
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
        if item.contains_key("settings") {
            // The key's item carries the clinic's settings, kept in step by every write of them.
            return Ok(Some(Clinic {
                id,
                settings: parse(&item, "settings")?,
            }));
        }
        // A key set before keys carried the settings.
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
        let settings = json(&clinic.settings)?;
        self.clinic_transaction(&clinic.id, "put clinic", |current| {
            let key_hash = current.and_then(|c| c.key_hash);
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(format!("CLINIC#{}", clinic.id), "CLINIC")))
                .update_expression("SET settings = :settings")
                .expression_attribute_values(":settings", s(settings.clone()));
            // Written only while the key read is still the clinic's, so its copy is the one updated.
            update = match &key_hash {
                Some(hash) => update
                    .condition_expression("key_hash = :key_hash")
                    .expression_attribute_values(":key_hash", s(hash.clone())),
                None => update.condition_expression("attribute_not_exists(key_hash)"),
            };
            let mut items = vec![TransactWriteItem::builder().update(build(update.build())?).build()];
            if let Some(hash) = &key_hash {
                let copy = build(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(format!("KEY#{hash}"), "KEY")))
                        .update_expression("SET settings = :settings")
                        .condition_expression("attribute_exists(PK)")
                        .expression_attribute_values(":settings", s(settings.clone()))
                        .build(),
                )?;
                items.push(TransactWriteItem::builder().update(copy).build());
            }
            Ok(items)
        })
        .await
    }

    async fn set_api_key_hash(&self, id: &ClinicId, key_hash: &str) -> StoreResult<()> {
        self.clinic_transaction(id, "set key", |current| {
            let current = current.ok_or(StoreError::Conflict)?;
            // The new key's item gets a copy of the settings as read; the write holds only while
            // they are still the clinic's.
            let update = build(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(format!("CLINIC#{id}"), "CLINIC")))
                    .update_expression("SET key_hash = :new")
                    .condition_expression("settings = :settings")
                    .expression_attribute_values(":new", s(key_hash))
                    .expression_attribute_values(":settings", s(current.settings.clone()))
                    .build(),
            )?;
            let mut items = vec![TransactWriteItem::builder().update(update).build()];
            let mut key_item = key(format!("KEY#{key_hash}"), "KEY");
            key_item.insert("clinic_id".to_owned(), s(id.as_str()));
            key_item.insert("settings".to_owned(), s(current.settings.clone()));
            let put = build(Put::builder().table_name(&self.table).set_item(Some(key_item)).build())?;
            items.push(TransactWriteItem::builder().put(put).build());
            if let Some(old) = current.key_hash.filter(|o| o != key_hash) {
                let delete = build(
                    aws_sdk_dynamodb::types::Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(format!("KEY#{old}"), "KEY")))
                        .build(),
                )?;
                items.push(TransactWriteItem::builder().delete(delete).build());
            }
            Ok(items)
        })
        .await
    }
}

impl DynamoStore {
    /// Commits the transaction `items_for` builds from the clinic's item as read, building it
    /// again from a fresh read while a condition fails: the clinic's settings and its key are
    /// written by different calls, each conditioned on the other half being unchanged.
    async fn clinic_transaction<F>(&self, id: &ClinicId, what: &'static str, items_for: F) -> StoreResult<()>
    where
        F: Fn(Option<ClinicItem>) -> StoreResult<Vec<TransactWriteItem>>,
    {
        for _ in 0..CLINIC_WRITE_ATTEMPTS {
            let items = items_for(self.clinic_item(id).await?)?;
            match self.transact(what, items).await {
                Ok(()) => return Ok(()),
                Err(TransactError::Conditions(_)) => continue,
                Err(TransactError::Unavailable(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "dynamodb {what}: the clinic kept changing meanwhile"
        )))
    }
}

/// The clinic item's stored attributes.
struct ClinicItem {
    /// The settings as stored (JSON).
    settings: String,
    key_hash: Option<String>,
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

    async fn appointment_by_token(&self, token: &str) -> StoreResult<LinkTarget> {
        let Some(item) = self.get(format!("TOKEN#{token}"), "TOKEN").await? else {
            return Ok(LinkTarget::Unknown);
        };
        let clinic = ClinicId::parse(get_s(&item, "clinic_id")?).map_err(|e| StoreError::Corrupt(e.0))?;
        let id = AppointmentId::parse(get_s(&item, "appointment_id")?).map_err(|e| StoreError::Corrupt(e.0))?;
        Ok(match self.appointment(&clinic, &id).await? {
            Some(record) => LinkTarget::Appointment(Box::new(record)),
            // The appointment's data expired with its link; the link item outlives it.
            None => LinkTarget::Expired,
        })
    }

    async fn write_appointment(&self, write: &AppointmentWrite) -> StoreResult<Vec<String>> {
        let record = &write.record;
        let (clinic, id) = (&record.clinic_id, &record.id);
        // Message keys are new to each write, so the write is first tried as if none were
        // recorded yet (no read); one that was makes its put fail, and the write is made again
        // without the messages already there.
        let mut messages: Vec<&MessageRecord> = write.messages.iter().collect();
        for _ in 0..2 {
            let mut items = vec![self.appointment_put(record)?, self.token_put(record)?];
            for (i, m) in messages.iter().enumerate() {
                items.push(self.message_put(
                    clinic,
                    id,
                    m,
                    &message_order(record.version, &format!("{i:03}")),
                    expires_at(record),
                )?);
            }
            match self
                .write_with_events(clinic, items, &write.events, "write appointment")
                .await?
            {
                Written::Yes => return Ok(messages.iter().map(|m| m.key.clone()).collect()),
                Written::ConditionFailed(failed) if failed[..2].contains(&true) => return Err(StoreError::Conflict),
                Written::ConditionFailed(_) => {
                    messages = self.absent_messages(clinic, id, &write.messages).await?;
                }
            }
        }
        Err(StoreError::Conflict)
    }

    async fn add_messages(&self, record: &AppointmentRecord, messages: &[MessageRecord]) -> StoreResult<Vec<String>> {
        Ok(self.record_messages(record, messages, None).await?.recorded)
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
        let items = vec![
            TransactWriteItem::builder().update(claim).build(),
            self.version_check(clinic, id, appointment_version)?,
        ];
        // A claim whose answer was lost comes back as a failed condition: the message then waits
        // for its lease to run out, and is never sent twice.
        match self.transact("claim message", items).await {
            Ok(()) => Ok(true),
            Err(TransactError::Conditions(_)) => Ok(false),
            Err(TransactError::Unavailable(e)) => Err(e),
        }
    }

    async fn complete_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key_: &str,
        outcome: &MessageOutcome,
    ) -> StoreResult<()> {
        let completion = Completion {
            key: key_.to_owned(),
            outcome: outcome.clone(),
        };
        self.complete_together(clinic, id, std::slice::from_ref(&completion), None)
            .await
            .map(drop)
    }

    async fn apply_feedback(&self, write: &FeedbackWrite) -> StoreResult<bool> {
        let m = &write.message;
        let mut items = vec![
            self.feedback_update(write)?,
            self.unsettle(&m.clinic_id, &m.appointment_id)?,
        ];
        for suppression in &write.suppress {
            items.push(
                TransactWriteItem::builder()
                    .put(self.suppression_put(&m.clinic_id, suppression)?)
                    .build(),
            );
        }
        if let (Some(price), MessageStatus::Sent) = (write.provider_price_micro_usd, write.from) {
            // Beside the text's ledger entry (keyed by when it was sent: the `at` read while `sent`).
            let entry_sk = format!("{}#{}#{}", ts(write.read_at), m.appointment_id, m.key);
            let mut item = key(format!("LEDGER#{}", m.clinic_id), &format!("{entry_sk}#price"));
            item.insert("provider_price_micro_usd".to_owned(), n(price));
            let put = build(Put::builder().table_name(&self.table).set_item(Some(item)).build())?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let events = std::slice::from_ref(&write.event);
        Ok(matches!(
            self.write_with_events(&m.clinic_id, items, events, "record feedback")
                .await?,
            Written::Yes
        ))
    }

    async fn text_by_provider_id(&self, provider_message_id: &str) -> StoreResult<Option<MessageAddress>> {
        let Some(item) = self.get(format!("PROVIDER#{provider_message_id}"), "PROVIDER").await? else {
            return Ok(None);
        };
        let corrupt = |e: InvalidValue| StoreError::Corrupt(e.0);
        Ok(Some(MessageAddress {
            clinic_id: ClinicId::parse(get_s(&item, "clinic_id")?).map_err(corrupt)?,
            appointment_id: AppointmentId::parse(get_s(&item, "appointment_id")?).map_err(corrupt)?,
            key: get_s(&item, "key")?.to_owned(),
        }))
    }

    async fn latest_text_to(&self, number: &str, sent_by: DateTime<Utc>) -> StoreResult<Option<TextRoute>> {
        // The newest of the number's routes up to `sent_by`: sort keys begin with the instant
        // (fixed width), and '$' sorts after the '#' that follows it.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK < :after")
            .expression_attribute_values(":pk", s(format!("TEXTED#{}", number_key(number))))
            .expression_attribute_values(":after", s(format!("{}$", ts(sent_by))))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("query text route"))?;
        let Some(item) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let sent_at = get_s(&item, "sent_at")?;
        Ok(Some(TextRoute {
            clinic_id: ClinicId::parse(get_s(&item, "clinic_id")?).map_err(|e| StoreError::Corrupt(e.0))?,
            appointment_id: AppointmentId::parse(get_s(&item, "appointment_id")?)
                .map_err(|e| StoreError::Corrupt(e.0))?,
            sent_at: DateTime::parse_from_rfc3339(sent_at)
                .map_err(|e| StoreError::Corrupt(format!("sent_at: {e}")))?
                .with_timezone(&Utc),
        }))
    }

    async fn release_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        claims: &[(String, DateTime<Utc>)],
    ) -> StoreResult<()> {
        for (key_, claimed_at) in claims {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(appointment_pk(clinic, id), &format!("MSG#{key_}"))))
                .update_expression("SET #status = :pending")
                .condition_expression("#status = :sending AND #at = :claimed")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":pending", s("pending"))
                .expression_attribute_values(":sending", s("sending"))
                .expression_attribute_values(":claimed", s(ts(*claimed_at)))
                .send()
                .await;
            match result {
                Ok(_) => {}
                // Released already (a lost answer), or no longer under this claim.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(unavailable("release message")(e)),
            }
        }
        Ok(())
    }

    async fn complete_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        completions: &[Completion],
        after: AfterOutcomes<'_>,
    ) -> StoreResult<bool> {
        self.complete_together(clinic, id, completions, Some(after)).await
    }
}

/// What the appointment item is asked to show along with a write of outcomes.
#[derive(Clone, Copy)]
enum AfterCheck<'a> {
    /// Nothing: the outcomes alone.
    None,
    /// That it is still at this version.
    Version(u64),
    /// That it is still at this version with no message added since it was written; and then
    /// it records these messages as its settled state.
    Settle(u64, &'a [MessageRecord]),
}

impl DynamoStore {
    /// Writes completions in one transaction (one cursor reservation for all their events),
    /// with a check of the appointment (and the record of its settled state) when asked for. A
    /// completion whose condition fails is no longer under its claim (completed already: this
    /// is a retry after a lost answer; or taken over: its owner records the outcome) and is
    /// left out of the next try. A failed settle is tried again as a plain check, whose
    /// failure is the answer: the appointment moved on, and the write goes on without it.
    async fn complete_together(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        completions: &[Completion],
        after: Option<AfterOutcomes<'_>>,
    ) -> StoreResult<bool> {
        let mut left: Vec<&Completion> = completions.iter().collect();
        let mut check = match after {
            None => AfterCheck::None,
            Some(AfterOutcomes {
                version,
                settled: Some(messages),
            }) => AfterCheck::Settle(version, messages),
            Some(AfterOutcomes { version, settled: None }) => AfterCheck::Version(version),
        };
        let mut current = true;
        loop {
            let mut items = Vec::new();
            let mut owner = Vec::new();
            let routed = latest_per_number(&left);
            for (n, completion) in left.iter().enumerate() {
                for item in self.completion_items(clinic, id, completion, routed.contains(&n))? {
                    items.push(item);
                    owner.push(Some(n));
                }
            }
            if left.is_empty() {
                return match check {
                    AfterCheck::None => Ok(current),
                    AfterCheck::Version(version) => self.still_at(clinic, id, version).await,
                    AfterCheck::Settle(..) => self.settle_alone(clinic, id, check).await,
                };
            }
            if let Some(item) = self.after_item(clinic, id, check)? {
                items.push(item);
                owner.push(None);
            }
            let events: Vec<NewEvent> = left.iter().map(|c| c.outcome.event.clone()).collect();
            let failed = match self
                .write_with_events(clinic, items, &events, "complete messages")
                .await?
            {
                Written::Yes => return Ok(current),
                Written::ConditionFailed(failed) => failed,
            };
            let lost: Vec<usize> = failed
                .iter()
                .zip(&owner)
                .filter_map(|(failed, owner)| owner.filter(|_| *failed))
                .collect();
            if failed
                .iter()
                .zip(&owner)
                .any(|(failed, owner)| *failed && owner.is_none())
            {
                check = match check {
                    AfterCheck::Settle(version, _) => AfterCheck::Version(version),
                    AfterCheck::Version(_) | AfterCheck::None => {
                        current = false;
                        AfterCheck::None
                    }
                };
            }
            // A completion no longer under its claim was not written: the messages the caller
            // would record as settled are not what is stored, so nothing is settled.
            if let (false, AfterCheck::Settle(version, _)) = (lost.is_empty(), check) {
                check = AfterCheck::Version(version);
            }
            left = left
                .into_iter()
                .enumerate()
                .filter(|(n, _)| !lost.contains(n))
                .map(|(_, c)| c)
                .collect();
        }
    }

    /// Whether the appointment is at `version` (one read).
    async fn still_at(&self, clinic: &ClinicId, id: &AppointmentId, version: u64) -> StoreResult<bool> {
        Ok(self
            .appointment(clinic, id)
            .await?
            .is_some_and(|r| r.version == version))
    }

    /// The settle of `check` on its own (no outcome to write with it): one conditional update,
    /// or, if it fails, the read that tells whether the appointment moved on.
    async fn settle_alone(&self, clinic: &ClinicId, id: &AppointmentId, check: AfterCheck<'_>) -> StoreResult<bool> {
        let AfterCheck::Settle(version, messages) = check else {
            return Ok(true);
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(appointment_pk(clinic, id), "APPT")))
            .update_expression(SETTLE)
            .condition_expression(SETTLE_CONDITION)
            .expression_attribute_values(":version", n(version))
            .expression_attribute_values(":messages", s(settled_json(messages)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.still_at(clinic, id, version).await
            }
            Err(e) => Err(unavailable("settle appointment")(e)),
        }
    }

    /// The transaction item that carries `check`, if any.
    fn after_item(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        check: AfterCheck<'_>,
    ) -> StoreResult<Option<TransactWriteItem>> {
        Ok(match check {
            AfterCheck::None => None,
            AfterCheck::Version(version) => Some(self.version_check(clinic, id, version)?),
            AfterCheck::Settle(version, messages) => {
                let update = build(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(appointment_pk(clinic, id), "APPT")))
                        .update_expression(SETTLE)
                        .condition_expression(SETTLE_CONDITION)
                        .expression_attribute_values(":version", n(version))
                        .expression_attribute_values(":messages", s(settled_json(messages)?))
                        .build(),
                )?;
                Some(TransactWriteItem::builder().update(update).build())
            }
        })
    }

    /// The items of one completion: the message's update, conditional on its claim, and a text's
    /// ledger entry and, when `with_route`, its number's route.
    fn completion_items(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        completion: &Completion,
        with_route: bool,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let outcome = &completion.outcome;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                appointment_pk(clinic, id),
                &format!("MSG#{}", completion.key),
            )))
            .condition_expression("#status = :sending AND #at = :claimed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":status", s(status_text(outcome.status)))
            .expression_attribute_values(":at", s(ts(outcome.at)))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":claimed", s(ts(outcome.claimed_at)));
        let mut set = "SET #status = :status, #at = :at".to_owned();
        if let Some(detail) = &outcome.detail {
            set.push_str(", detail = :detail");
            update = update.expression_attribute_values(":detail", s(detail.clone()));
        }
        let mut items = vec![TransactWriteItem::builder()
            .update(build(update.update_expression(set).build())?)
            .build()];
        if let Some(entry) = &outcome.ledger {
            let indexed = !entry.provider_message_id.is_empty();
            let mut item = key(
                format!("LEDGER#{clinic}"),
                &format!("{}#{}#{}", ts(entry.sent_at), entry.appointment_id, entry.message_key),
            );
            item.insert("entry".to_owned(), s(json(entry)?));
            items.push(TransactWriteItem::builder().put(self.if_absent(item)?).build());
            // Where SNS's delivery logs, which name a text by this id only, find it again.
            if !indexed {
                return Ok(items);
            }
            let mut index = key(format!("PROVIDER#{}", entry.provider_message_id), "PROVIDER");
            index.insert("clinic_id".to_owned(), s(clinic.as_str()));
            index.insert("appointment_id".to_owned(), s(id.as_str()));
            index.insert("key".to_owned(), s(completion.key.clone()));
            index.insert("expires_at".to_owned(), n((outcome.at + PROVIDER_ID_KEPT).timestamp()));
            let put = build(Put::builder().table_name(&self.table).set_item(Some(index)).build())?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        if let Some(number) = outcome.texted_to.as_ref().filter(|_| with_route) {
            // One item per text (not one per number): a completion retried after a conflict
            // cannot overwrite a later text's route, and texts to one number never contend.
            let mut item = key(
                format!("TEXTED#{}", number_key(number)),
                &format!("{}#{clinic}#{id}", ts(outcome.at)),
            );
            item.insert("clinic_id".to_owned(), s(clinic.as_str()));
            item.insert("appointment_id".to_owned(), s(id.as_str()));
            item.insert("sent_at".to_owned(), s(ts(outcome.at)));
            item.insert("expires_at".to_owned(), n((outcome.at + TEXT_ROUTE_KEPT).timestamp()));
            let put = build(Put::builder().table_name(&self.table).set_item(Some(item)).build())?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(items)
    }

    /// Forgets the appointment's settled snapshot of its messages (a report changed one), while
    /// the appointment exists: a later replay reads the messages themselves.
    fn unsettle(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<TransactWriteItem> {
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(appointment_pk(clinic, id), "APPT")))
                .update_expression("REMOVE settled, settled_messages")
                .condition_expression("attribute_exists(PK)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A suppressed address's item.
    fn suppression_put(&self, clinic: &ClinicId, suppression: &Suppression) -> StoreResult<Put> {
        let mut item = key(format!("SUPPRESS#{clinic}"), &suppression.address.to_lowercase());
        item.insert("reason".to_owned(), s(status_text_of(&suppression.reason)));
        item.insert("at".to_owned(), s(ts(suppression.at)));
        build(Put::builder().table_name(&self.table).set_item(Some(item)).build())
    }

    /// The message's update of a provider's report, conditional on the status and `at` read.
    fn feedback_update(&self, write: &FeedbackWrite) -> StoreResult<TransactWriteItem> {
        let m = &write.message;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                appointment_pk(&m.clinic_id, &m.appointment_id),
                &format!("MSG#{}", m.key),
            )))
            .condition_expression("#status = :from AND #at = :read_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":status", s(status_text(write.status)))
            .expression_attribute_values(":at", s(ts(write.at)))
            .expression_attribute_values(":from", s(status_text(write.from)))
            .expression_attribute_values(":read_at", s(ts(write.read_at)));
        let set = match &write.detail {
            Some(detail) => {
                update = update.expression_attribute_values(":detail", s(detail.clone()));
                "SET #status = :status, #at = :at, detail = :detail"
            }
            None => "SET #status = :status, #at = :at REMOVE detail",
        };
        Ok(TransactWriteItem::builder()
            .update(build(update.update_expression(set).build())?)
            .build())
    }

    /// Records `messages` of `record` if absent, while the appointment is at the version read,
    /// and, when `address` is given, learns in the same transaction whether it is suppressed (a
    /// condition that it is not; only a listed address costs one more try, without it).
    async fn record_messages(
        &self,
        record: &AppointmentRecord,
        messages: &[MessageRecord],
        address: Option<&str>,
    ) -> StoreResult<Added> {
        let (clinic, id) = (&record.clinic_id, &record.id);
        let mut pending: Vec<&MessageRecord> = messages.iter().collect();
        let mut unlearnt = address;
        let mut suppressed = None;
        // As for a write: tried as if none were recorded, then without those that were.
        for _ in 0..3 {
            if pending.is_empty() {
                return Ok(Added {
                    recorded: Vec::new(),
                    suppressed,
                });
            }
            let items = self.added_messages_items(record, &pending, unlearnt)?;
            match self.transact("add messages", items).await {
                Ok(()) => {
                    if let Some(address) = unlearnt {
                        suppressed = Some((address.to_owned(), false));
                    }
                    return Ok(Added {
                        recorded: pending.iter().map(|m| m.key.clone()).collect(),
                        suppressed,
                    });
                }
                Err(TransactError::Conditions(failed)) if failed.first() == Some(&true) => {
                    return Err(StoreError::Conflict)
                }
                Err(TransactError::Conditions(failed)) => {
                    // Items: the mark, the messages, then the suppression check if any.
                    let rest = failed.get(1..).unwrap_or_default();
                    let (messages_failed, check_failed) = rest.split_at(pending.len().min(rest.len()));
                    if let Some(address) = unlearnt.filter(|_| check_failed.first() == Some(&true)) {
                        suppressed = Some((address.to_owned(), true));
                        unlearnt = None;
                    }
                    if messages_failed.contains(&true) {
                        pending = self.absent_messages(clinic, id, messages).await?;
                    }
                }
                Err(TransactError::Unavailable(e)) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// The items that add `pending` to `record` (see [`Self::record_messages`]): the appointment
    /// marked while still at the version read (its settled state, if recorded, no longer holds
    /// every message), each message if absent, and the check that `unlearnt` is not suppressed.
    fn added_messages_items(
        &self,
        record: &AppointmentRecord,
        pending: &[&MessageRecord],
        unlearnt: Option<&str>,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let (clinic, id, appointment_version) = (&record.clinic_id, &record.id, record.version);
        let mark = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(appointment_pk(clinic, id), "APPT")))
                .update_expression("SET added_since = :version REMOVE settled, settled_messages")
                .condition_expression("version = :version")
                .expression_attribute_values(":version", n(appointment_version))
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().update(mark).build()];
        for (i, m) in pending.iter().enumerate() {
            let place = format!("~{}#{i:03}", ts(m.at));
            items.push(self.message_put(
                clinic,
                id,
                m,
                &message_order(appointment_version, &place),
                expires_at(record),
            )?);
        }
        if let Some(address) = unlearnt {
            items.push(self.not_suppressed(clinic, address)?);
        }
        Ok(items)
    }

    /// A transaction item that holds only while `address` is not on the clinic's suppression list.
    fn not_suppressed(&self, clinic: &ClinicId, address: &str) -> StoreResult<TransactWriteItem> {
        let check = build(
            aws_sdk_dynamodb::types::ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(format!("SUPPRESS#{clinic}"), &address.to_lowercase())))
                .condition_expression("attribute_not_exists(PK)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// A transaction item that holds only while the appointment is at `version`.
    fn version_check(&self, clinic: &ClinicId, id: &AppointmentId, version: u64) -> StoreResult<TransactWriteItem> {
        let check = build(
            aws_sdk_dynamodb::types::ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(appointment_pk(clinic, id), "APPT")))
                .condition_expression("version = :version")
                .expression_attribute_values(":version", n(version))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}

/// The positions of the completions that carry their number's route: of several texts to one
/// number, the latest (a transaction may not write one item twice).
fn latest_per_number(completions: &[&Completion]) -> Vec<usize> {
    let mut latest: HashMap<&str, usize> = HashMap::new();
    for (n, completion) in completions.iter().enumerate() {
        let Some(number) = &completion.outcome.texted_to else {
            continue;
        };
        let chosen = latest.entry(number).or_insert(n);
        if completions[*chosen].outcome.at <= completion.outcome.at {
            *chosen = n;
        }
    }
    latest.into_values().collect()
}

/// How a conditional write with events ended.
enum Written {
    Yes,
    /// Some of the items (events aside) failed their condition, flagged by position; nothing
    /// was written.
    ConditionFailed(Vec<bool>),
}

impl DynamoStore {
    fn appointment_put(&self, record: &AppointmentRecord) -> StoreResult<TransactWriteItem> {
        let mut item = key(appointment_pk(&record.clinic_id, &record.id), "APPT");
        item.insert("record".to_owned(), s(json(record)?));
        item.insert("version".to_owned(), n(record.version));
        item.insert("expires_at".to_owned(), expires_at(record));
        let expected = record.version.checked_sub(1).ok_or(StoreError::Conflict)?;
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        put = if expected == 0 {
            put.condition_expression("attribute_not_exists(PK)")
        } else {
            put.condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(expected))
        };
        Ok(TransactWriteItem::builder().put(build(put.build())?).build())
    }

    /// The link index item: it outlives the appointment's data so an expired link answers 410.
    fn token_put(&self, record: &AppointmentRecord) -> StoreResult<TransactWriteItem> {
        let expiry = record.token_expires_at();
        let mut token = key(format!("TOKEN#{}", record.token), "TOKEN");
        token.insert("clinic_id".to_owned(), s(record.clinic_id.as_str()));
        token.insert("appointment_id".to_owned(), s(record.id.as_str()));
        // A hint, kept in step by every write of the appointment, so the patient page reads
        // the type with the appointment (see `read_by_token`).
        token.insert("type_code".to_owned(), s(record.content.type_code.as_str()));
        token.insert("link_expires_at".to_owned(), n(expiry.timestamp()));
        token.insert("expires_at".to_owned(), n((expiry + LINK_TOMBSTONE).timestamp()));
        let put = build(Put::builder().table_name(&self.table).set_item(Some(token)).build())?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Commits `items` with `events` appended to the clinic's feed, in one transaction.
    async fn write_with_events(
        &self,
        clinic: &ClinicId,
        items: Vec<TransactWriteItem>,
        events: &[NewEvent],
        what: &'static str,
    ) -> StoreResult<Written> {
        let own = items.len();
        for _ in 0..STAMPS {
            let result = if events.is_empty() {
                self.transact(what, items.clone()).await
            } else {
                self.transact_stamped(what, || {
                    let mut all = items.clone();
                    let first = feed::stamp(feed::wall_millis(), events.len());
                    all.extend(self.event_puts(clinic, first, events)?);
                    Ok(all)
                })
                .await
            };
            match result {
                Ok(()) => return Ok(Written::Yes),
                // Only event cursors were taken (another writer's, stamped in the same millisecond): stamp again.
                Err(TransactError::Conditions(failed)) if !failed[..own.min(failed.len())].contains(&true) => continue,
                Err(TransactError::Conditions(mut failed)) => {
                    failed.resize(own, false);
                    return Ok(Written::ConditionFailed(failed));
                }
                Err(TransactError::Unavailable(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "dynamodb {what}: event cursors kept being taken"
        )))
    }
}

/// A serde enum's text.
fn status_text_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[async_trait]
impl SuppressionStore for DynamoStore {
    async fn suppressions(&self, clinic: &ClinicId) -> StoreResult<Vec<Suppression>> {
        let items = self
            .query_pages("PK = :pk", &[(":pk", format!("SUPPRESS#{clinic}"))])
            .await?;
        items
            .iter()
            .map(|item| {
                let reason = get_s(item, "reason")?;
                Ok(Suppression {
                    address: get_s(item, "SK")?.to_owned(),
                    reason: serde_json::from_value(serde_json::Value::String(reason.to_owned()))
                        .map_err(|e| StoreError::Corrupt(format!("reason: {e}")))?,
                    at: DateTime::parse_from_rfc3339(get_s(item, "at")?)
                        .map_err(|e| StoreError::Corrupt(format!("at: {e}")))?
                        .with_timezone(&Utc),
                })
            })
            .collect()
    }

    async fn is_suppressed(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        Ok(self
            .get(format!("SUPPRESS#{clinic}"), &address.to_lowercase())
            .await?
            .is_some())
    }

    async fn suppress(&self, clinic: &ClinicId, suppressions: &[Suppression]) -> StoreResult<()> {
        for suppression in suppressions {
            let put = self.suppression_put(clinic, suppression)?;
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(put.item().clone()))
                .send()
                .await
                .map_err(unavailable("suppress address"))?;
        }
        Ok(())
    }

    async fn lift_suppression(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("SUPPRESS#{clinic}"), &address.to_lowercase())))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable("lift suppression"))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

#[async_trait]
impl ReadTogether for DynamoStore {
    async fn add_messages_checking(
        &self,
        record: &AppointmentRecord,
        messages: &[MessageRecord],
        address: Option<&str>,
    ) -> StoreResult<Added> {
        self.record_messages(record, messages, address).await
    }

    async fn read_together(&self, clinic: &ClinicId, wanted: &Wanted) -> StoreResult<Found> {
        let mut keys = Vec::new();
        if wanted.clinic {
            keys.push(key(format!("CLINIC#{clinic}"), "CLINIC"));
        }
        if let Some(id) = &wanted.appointment {
            keys.push(key(appointment_pk(clinic, id), "APPT"));
        }
        if let Some(code) = &wanted.type_code {
            keys.push(key(format!("CLINIC#{clinic}"), &format!("TYPE#{code}")));
        }
        if let Some(address) = &wanted.suppression_of {
            keys.push(key(format!("SUPPRESS#{clinic}"), &address.to_lowercase()));
        }
        let mut items = self.batch_get(keys).await?.into_iter();
        let mut found = Found::default();
        if wanted.clinic {
            found.clinic = items
                .next()
                .flatten()
                .map(|item| -> StoreResult<Clinic> {
                    Ok(Clinic {
                        id: clinic.clone(),
                        settings: parse(&item, "settings")?,
                    })
                })
                .transpose()?;
        }
        if wanted.appointment.is_some() {
            if let Some(item) = items.next().flatten() {
                let record: AppointmentRecord = parse(&item, "record")?;
                found.settled = settled_messages(&item, record.version)?;
                found.appointment = Some(record);
            }
        }
        if wanted.type_code.is_some() {
            found.type_settings = items
                .next()
                .flatten()
                .map(|item| parse(&item, "settings"))
                .transpose()?;
        }
        if let Some(address) = &wanted.suppression_of {
            found.suppressed = Some((address.clone(), items.next().flatten().is_some()));
        }
        Ok(found)
    }

    async fn read_by_token(&self, token: &str) -> StoreResult<Linked> {
        let unknown = |target| Linked {
            target,
            clinic: None,
            type_settings: None,
        };
        let Some(item) = self.get(format!("TOKEN#{token}"), "TOKEN").await? else {
            return Ok(unknown(LinkTarget::Unknown));
        };
        let clinic = ClinicId::parse(get_s(&item, "clinic_id")?).map_err(|e| StoreError::Corrupt(e.0))?;
        let id = AppointmentId::parse(get_s(&item, "appointment_id")?).map_err(|e| StoreError::Corrupt(e.0))?;
        let hint = item
            .get("type_code")
            .and_then(|v| v.as_s().ok())
            .and_then(|code| TypeCode::parse(code).ok());
        let wanted = Wanted {
            clinic: true,
            appointment: Some(id),
            type_code: hint.clone(),
            suppression_of: None,
        };
        let found = self.read_together(&clinic, &wanted).await?;
        let Some(record) = found.appointment else {
            // The appointment's data expired with its link; the link item outlives it.
            return Ok(unknown(LinkTarget::Expired));
        };
        let type_settings = if hint.as_ref() == Some(&record.content.type_code) {
            found.type_settings
        } else {
            // Re-typed between the two reads (or a link written before it carried the type).
            self.type_settings(&clinic, &record.content.type_code).await?
        };
        Ok(Linked {
            target: LinkTarget::Appointment(Box::new(record)),
            clinic: found.clinic,
            type_settings,
        })
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn events_after(&self, clinic: &ClinicId, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        self.read_feed(clinic, after, limit).await
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
        // Providers' prices sort right after their entries (`<entry SK>#price`).
        let mut prices = HashMap::new();
        for item in items.iter().filter(|i| i.contains_key("provider_price_micro_usd")) {
            let sk = get_s(item, "SK")?;
            let entry_sk = sk.strip_suffix("#price").unwrap_or(sk).to_owned();
            prices.insert(entry_sk, get_n(item, "provider_price_micro_usd")?);
        }
        let mut entries = Vec::with_capacity(items.len());
        for item in items.iter().filter(|i| i.contains_key("entry")) {
            let mut entry: LedgerEntry = parse(item, "entry")?;
            if entry.sent_at >= from && entry.sent_at < to {
                let price = prices.get(get_s(item, "SK")?).map(|p| *p as i64);
                entry.provider_price_micro_usd = entry.provider_price_micro_usd.or(price);
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batched_answer_is_placed_by_key_whatever_its_order_and_gaps() {
        let keys = vec![
            key("CLINIC#c".to_owned(), "CLINIC"),
            key("APPT#c#a".to_owned(), "APPT"),
            key("CLINIC#c".to_owned(), "TYPE#FU"),
        ];
        let with = |mut item: Item, tag: &str| {
            item.insert("tag".to_owned(), s(tag));
            item
        };
        let mut found = vec![None; keys.len()];
        // DynamoDB answers in any order, and leaves out what is absent or unprocessed.
        place_found(&keys, vec![with(keys[2].clone(), "type")], &mut found);
        place_found(&keys, vec![with(keys[0].clone(), "clinic")], &mut found);
        let tags: Vec<Option<&str>> = found
            .iter()
            .map(|f| {
                f.as_ref()
                    .and_then(|i| i.get("tag"))
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
            })
            .collect();
        assert_eq!(tags, vec![Some("clinic"), None, Some("type")]);
    }
}
