//! The embedded store: one SQLite file (or memory), transactions for every multi-row write.

use super::sqlite_worker::{NotCommitted, SqliteWorker};
use crate::domain::*;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Arc;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS clinics (
    id TEXT PRIMARY KEY,
    key_hash TEXT UNIQUE,
    settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS appointment_types (
    clinic_id TEXT NOT NULL,
    code TEXT NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (clinic_id, code)
);
CREATE TABLE IF NOT EXISTS appointments (
    clinic_id TEXT NOT NULL,
    id TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (clinic_id, id)
);
CREATE TABLE IF NOT EXISTS messages (
    clinic_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (clinic_id, appointment_id, key)
);
CREATE TABLE IF NOT EXISTS events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_clinic ON events (clinic_id, cursor);
CREATE TABLE IF NOT EXISTS ledger (
    clinic_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    message_key TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (clinic_id, appointment_id, message_key)
);
CREATE INDEX IF NOT EXISTS ledger_by_time ON ledger (clinic_id, sent_at);
CREATE TABLE IF NOT EXISTS ledger_prices (
    clinic_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    message_key TEXT NOT NULL,
    provider_price_micro_usd INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, appointment_id, message_key)
);
CREATE TABLE IF NOT EXISTS provider_ids (
    provider_message_id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    message_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS suppressions (
    clinic_id TEXT NOT NULL,
    address TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (clinic_id, address)
);
CREATE TABLE IF NOT EXISTS texts_sent (
    number_key TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    clinic_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    PRIMARY KEY (number_key, sent_at, clinic_id, appointment_id)
);
";

/// SQLite-backed store. Its connection belongs to a thread of its own, which commits together
/// the writes that arrive together ([`SqliteWorker`]).
pub struct SqliteStore {
    worker: Arc<SqliteWorker>,
}

/// A timestamp as fixed-width UTC text, so text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}

impl From<NotCommitted> for StoreError {
    fn from(e: NotCommitted) -> StoreError {
        StoreError::Unavailable(e.to_string())
    }
}

fn db(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Unavailable(format!("sqlite {context}: {e}"))
}

/// A statement from the connection's cache: the dev server runs the same dozen statements over
/// and over, and parsing SQL each time cost more than running it.
fn cached<'c>(conn: &'c Connection, sql: &str) -> StoreResult<rusqlite::CachedStatement<'c>> {
    conn.prepare_cached(sql).map_err(db("prepare"))
}

/// The one row `sql` finds, if any: a clinic's id, an appointment's id, and a text.
fn ids_and_text(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    context: &'static str,
) -> StoreResult<Option<(ClinicId, AppointmentId, String)>> {
    let row: Option<(String, String, String)> = cached(conn, sql)?
        .query_row(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(db(context))?;
    row.map(|(clinic, appointment, text)| {
        Ok((
            ClinicId::parse(&clinic).map_err(|e| StoreError::Corrupt(e.0))?,
            AppointmentId::parse(&appointment).map_err(|e| StoreError::Corrupt(e.0))?,
            text,
        ))
    })
    .transpose()
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    crate::domain::read_stored(|| serde_json::from_str(text)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn enum_from<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        Self::on(Arc::new(SqliteWorker::open(path, "store")?))
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> StoreResult<SqliteStore> {
        Self::on(Arc::new(SqliteWorker::in_memory()?))
    }

    /// The store in the database `worker` runs, its tables created if need be; the worker may be
    /// shared with the outbox and the schedules, whose writes then share its transactions.
    pub fn on(worker: Arc<SqliteWorker>) -> StoreResult<SqliteStore> {
        worker.run_blocking(|conn| conn.execute_batch(SCHEMA).map_err(db("schema")))?;
        Ok(SqliteStore { worker })
    }

    /// Runs `work` on the store's connection, in a transaction: an error undoes its writes.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.worker.run(work).await
    }

    fn insert_messages(
        conn: &Connection,
        clinic: &ClinicId,
        id: &AppointmentId,
        messages: &[MessageRecord],
    ) -> StoreResult<Vec<String>> {
        let mut added = Vec::new();
        for m in messages {
            let inserted = cached(conn, "INSERT OR IGNORE INTO messages (clinic_id, appointment_id, key, kind, channel, revision, status, at, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?.execute(params![clinic.as_str(), id.as_str(), m.key, enum_text(&m.kind), enum_text(&m.channel), m.revision as i64, enum_text(&m.status), ts(m.at), m.detail],
                )
                .map_err(db("insert message"))?;
            if inserted > 0 {
                added.push(m.key.clone());
            }
        }
        Ok(added)
    }

    fn insert_event(conn: &Connection, clinic: &ClinicId, event: &NewEvent) -> StoreResult<()> {
        cached(conn, "INSERT INTO events (clinic_id, event) VALUES (?1, ?2)")?
            .execute(params![clinic.as_str(), to_json(event)?])
            .map_err(db("insert event"))?;
        Ok(())
    }
}

#[async_trait]
impl ClinicStore for SqliteStore {
    async fn clinic_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Clinic>> {
        let key_hash = key_hash.to_owned();
        self.run(move |conn| {
            let row: Option<(String, String)> = cached(conn, "SELECT id, settings FROM clinics WHERE key_hash = ?1")?
                .query_row([key_hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(db("read clinic"))?;
            row.map(|(id, settings)| {
                Ok(Clinic {
                    id: ClinicId::parse(&id).map_err(|e| StoreError::Corrupt(e.0))?,
                    settings: from_json(&settings)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn clinic(&self, id: &ClinicId) -> StoreResult<Option<Clinic>> {
        let id = id.to_owned();
        self.run(move |conn| reads::clinic(conn, &id)).await
    }

    async fn put_clinic(&self, clinic: &Clinic) -> StoreResult<()> {
        let clinic = clinic.to_owned();
        self.run(move |conn| {
        cached(conn, "INSERT INTO clinics (id, settings) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET settings = excluded.settings")?.execute(params![clinic.id.as_str(), to_json(&clinic.settings)?],
            )
            .map_err(db("write clinic"))?;
        Ok(())
    })
        .await
    }

    async fn set_api_key_hash(&self, id: &ClinicId, key_hash: &str) -> StoreResult<()> {
        let id = id.to_owned();
        let key_hash = key_hash.to_owned();
        self.run(move |conn| {
            let changed = cached(conn, "UPDATE clinics SET key_hash = ?2 WHERE id = ?1")?
                .execute(params![id.as_str(), key_hash])
                .map_err(db("write key"))?;
            if changed == 0 {
                return Err(StoreError::Conflict);
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl TypeStore for SqliteStore {
    async fn put_type(&self, clinic: &ClinicId, appointment_type: &AppointmentType) -> StoreResult<bool> {
        let clinic = clinic.to_owned();
        let appointment_type = appointment_type.to_owned();
        self.run(move |conn| {
            let existed: bool = cached(
                conn,
                "SELECT 1 FROM appointment_types WHERE clinic_id = ?1 AND code = ?2",
            )?
            .query_row(params![clinic.as_str(), appointment_type.code.as_str()], |_| Ok(()))
            .optional()
            .map_err(db("read type"))?
            .is_some();
            cached(
                conn,
                "INSERT INTO appointment_types (clinic_id, code, settings) VALUES (?1, ?2, ?3)
             ON CONFLICT (clinic_id, code) DO UPDATE SET settings = excluded.settings",
            )?
            .execute(params![
                clinic.as_str(),
                appointment_type.code.as_str(),
                to_json(&appointment_type.settings)?
            ])
            .map_err(db("write type"))?;
            Ok(!existed)
        })
        .await
    }

    async fn types(&self, clinic: &ClinicId) -> StoreResult<Vec<AppointmentType>> {
        let clinic = clinic.to_owned();
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT code, settings FROM appointment_types WHERE clinic_id = ?1 ORDER BY code")
                .map_err(db("read types"))?;
            let rows = stmt
                .query_map([clinic.as_str()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db("read types"))?;
            rows.map(|row| {
                let (code, settings) = row.map_err(db("read types"))?;
                Ok(AppointmentType {
                    code: TypeCode::parse(&code).map_err(|e| StoreError::Corrupt(e.0))?,
                    settings: from_json(&settings)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn type_settings(&self, clinic: &ClinicId, code: &TypeCode) -> StoreResult<Option<TypeSettings>> {
        let (clinic, code) = (clinic.to_owned(), code.to_owned());
        self.run(move |conn| reads::type_settings(conn, &clinic, &code)).await
    }
}

#[async_trait]
impl AppointmentStore for SqliteStore {
    async fn appointment(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Option<AppointmentRecord>> {
        let (clinic, id) = (clinic.to_owned(), id.to_owned());
        self.run(move |conn| reads::appointment(conn, &clinic, &id)).await
    }

    async fn appointment_by_token(&self, token: &str) -> StoreResult<LinkTarget> {
        let token = token.to_owned();
        self.run(move |conn| reads::by_token(conn, &token)).await
    }

    async fn write_appointment(&self, write: &AppointmentWrite) -> StoreResult<Vec<String>> {
        let write = write.to_owned();
        // Written out on the caller's thread: the store's own thread is the one every save waits on.
        let json = to_json(&write.record)?;
        self.run(move |conn| {
            let record = &write.record;
            let stored: Option<i64> = cached(
                conn,
                "SELECT version FROM appointments WHERE clinic_id = ?1 AND id = ?2",
            )?
            .query_row(params![record.clinic_id.as_str(), record.id.as_str()], |r| r.get(0))
            .optional()
            .map_err(db("read version"))?;
            let expected = record.version.checked_sub(1).ok_or(StoreError::Conflict)? as i64;
            match stored {
                None if expected == 0 => {
                    cached(
                        conn,
                        "INSERT INTO appointments (clinic_id, id, token, version, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        record.clinic_id.as_str(),
                        record.id.as_str(),
                        record.token,
                        record.version as i64,
                        json
                    ])
                    .map_err(db("insert appointment"))?;
                }
                Some(v) if v == expected => {
                    cached(
                        conn,
                        "UPDATE appointments SET version = ?3, record = ?4 WHERE clinic_id = ?1 AND id = ?2",
                    )?
                    .execute(params![
                        record.clinic_id.as_str(),
                        record.id.as_str(),
                        record.version as i64,
                        json
                    ])
                    .map_err(db("update appointment"))?;
                }
                _ => return Err(StoreError::Conflict),
            }
            let added = Self::insert_messages(conn, &record.clinic_id, &record.id, &write.messages)?;
            for event in &write.events {
                Self::insert_event(conn, &record.clinic_id, event)?;
            }
            Ok(added)
        })
        .await
    }

    async fn add_messages(&self, record: &AppointmentRecord, messages: &[MessageRecord]) -> StoreResult<Vec<String>> {
        let (record, messages) = (record.to_owned(), messages.to_owned());
        self.run(move |conn| Self::add_messages_in(conn, &record, &messages))
            .await
    }

    async fn messages(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Vec<MessageRecord>> {
        let clinic = clinic.to_owned();
        let id = id.to_owned();
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, kind, channel, revision, status, at, detail FROM messages
                 WHERE clinic_id = ?1 AND appointment_id = ?2 ORDER BY rowid",
                )
                .map_err(db("read messages"))?;
            let rows = stmt
                .query_map(params![clinic.as_str(), id.as_str()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                })
                .map_err(db("read messages"))?;
            rows.map(|row| {
                let (key, kind, channel, revision, status, at, detail) = row.map_err(db("read messages"))?;
                Ok(MessageRecord {
                    key,
                    kind: enum_from(&kind)?,
                    channel: enum_from(&channel)?,
                    revision: revision as u64,
                    status: enum_from(&status)?,
                    at: parse_ts(&at)?,
                    detail,
                })
            })
            .collect()
        })
        .await
    }

    async fn claim_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        appointment_version: u64,
    ) -> StoreResult<bool> {
        let clinic = clinic.to_owned();
        let id = id.to_owned();
        let key = key.to_owned();
        self.run(move |conn| {
            let changed = cached(
                conn,
                "UPDATE messages SET status = 'sending', at = ?4
                 WHERE clinic_id = ?1 AND appointment_id = ?2 AND key = ?3
                   AND (status IN ('pending', 'failed') OR (status = 'sending' AND at < ?5))
                   AND EXISTS (SELECT 1 FROM appointments WHERE clinic_id = ?1 AND id = ?2 AND version = ?6)",
            )?
            .execute(params![
                clinic.as_str(),
                id.as_str(),
                key,
                ts(now),
                ts(stale_before),
                appointment_version as i64
            ])
            .map_err(db("claim message"))?;
            Ok(changed == 1)
        })
        .await
    }

    async fn apply_feedback(&self, write: &FeedbackWrite) -> StoreResult<bool> {
        let write = write.to_owned();
        self.run(move |conn| {
            let applied = Self::feedback_in(conn, &write)?;
            Ok(applied)
        })
        .await
    }

    async fn text_by_provider_id(&self, provider_message_id: &str) -> StoreResult<Option<MessageAddress>> {
        let provider_message_id = provider_message_id.to_owned();
        self.run(move |conn| {
            let row = ids_and_text(
                conn,
                "SELECT clinic_id, appointment_id, message_key FROM provider_ids WHERE provider_message_id = ?1",
                params![provider_message_id],
                "read provider id",
            )?;
            Ok(row.map(|(clinic_id, appointment_id, key)| MessageAddress {
                clinic_id,
                appointment_id,
                key,
            }))
        })
        .await
    }

    async fn latest_text_to(&self, number: &str, sent_by: DateTime<Utc>) -> StoreResult<Option<TextRoute>> {
        let number = number.to_owned();
        self.run(move |conn| {
            let row = ids_and_text(
                conn,
                "SELECT clinic_id, appointment_id, sent_at FROM texts_sent WHERE number_key = ?1 AND sent_at <= ?2
                 ORDER BY sent_at DESC LIMIT 1",
                params![number_key(&number), ts(sent_by)],
                "read text route",
            )?;
            row.map(|(clinic_id, appointment_id, sent_at)| {
                Ok(TextRoute {
                    clinic_id,
                    appointment_id,
                    sent_at: parse_ts(&sent_at)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn complete_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key: &str,
        outcome: &MessageOutcome,
    ) -> StoreResult<()> {
        let clinic = clinic.to_owned();
        let id = id.to_owned();
        let key = key.to_owned();
        let outcome = outcome.to_owned();
        self.run(move |conn| {
            Self::complete_in(conn, &clinic, &id, &key, &outcome)?;
            Ok(())
        })
        .await
    }

    async fn release_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        claims: &[(String, DateTime<Utc>)],
    ) -> StoreResult<()> {
        let clinic = clinic.to_owned();
        let id = id.to_owned();
        let claims = claims.to_owned();
        self.run(move |conn| {
            for (key, claimed_at) in claims {
                cached(
                    conn,
                    "UPDATE messages SET status = 'pending'
                     WHERE clinic_id = ?1 AND appointment_id = ?2 AND key = ?3 AND status = 'sending' AND at = ?4",
                )?
                .execute(params![clinic.as_str(), id.as_str(), key, ts(claimed_at)])
                .map_err(db("release message"))?;
            }
            Ok(())
        })
        .await
    }

    async fn complete_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        completions: &[Completion],
        after: AfterOutcomes<'_>,
    ) -> StoreResult<bool> {
        let clinic = clinic.to_owned();
        let id = id.to_owned();
        let completions = completions.to_owned();
        let after_version = after.version;
        self.run(move |conn| {
            for completion in completions {
                Self::complete_in(conn, &clinic, &id, &completion.key, &completion.outcome)?;
            }
            let stored: Option<i64> = cached(
                conn,
                "SELECT version FROM appointments WHERE clinic_id = ?1 AND id = ?2",
            )?
            .query_row(params![clinic.as_str(), id.as_str()], |r| r.get(0))
            .optional()
            .map_err(db("read version"))?;
            Ok(stored == Some(after_version as i64))
        })
        .await
    }
}

impl SqliteStore {
    /// Completes one message in the transaction, if it is still under the outcome's claim.
    fn complete_in(
        conn: &Connection,
        clinic: &ClinicId,
        id: &AppointmentId,
        key: &str,
        outcome: &MessageOutcome,
    ) -> StoreResult<()> {
        let completed = cached(
            conn,
            "UPDATE messages SET status = ?4, at = ?5, detail = ?6
                 WHERE clinic_id = ?1 AND appointment_id = ?2 AND key = ?3 AND status = 'sending' AND at = ?7",
        )?
        .execute(params![
            clinic.as_str(),
            id.as_str(),
            key,
            enum_text(&outcome.status),
            ts(outcome.at),
            outcome.detail,
            ts(outcome.claimed_at)
        ])
        .map_err(db("complete message"))?;
        if completed == 0 {
            // Completed already, or the claim was taken over: its owner records the outcome.
            return Ok(());
        }
        Self::insert_event(conn, clinic, &outcome.event)?;
        if let Some(entry) = outcome.ledger.as_ref().filter(|e| !e.provider_message_id.is_empty()) {
            cached(
                conn,
                "INSERT OR IGNORE INTO provider_ids (provider_message_id, clinic_id, appointment_id, message_key) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![entry.provider_message_id, clinic.as_str(), id.as_str(), key])
            .map_err(db("record provider id"))?;
            cached(conn, "INSERT OR IGNORE INTO ledger (clinic_id, appointment_id, message_key, sent_at, entry) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![clinic.as_str(), id.as_str(), entry.message_key, ts(entry.sent_at), to_json(entry)?],
            )
            .map_err(db("write ledger"))?;
        }
        if let Some(number) = &outcome.texted_to {
            cached(
                conn,
                "INSERT OR IGNORE INTO texts_sent (number_key, sent_at, clinic_id, appointment_id) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![number_key(number), ts(outcome.at), clinic.as_str(), id.as_str()])
            .map_err(db("record text route"))?;
            // Replies are matched for 7 days; routes are kept a day longer, as on DynamoDB.
            cached(conn, "DELETE FROM texts_sent WHERE sent_at < ?1")?
                .execute(params![ts(outcome.at - chrono::Duration::days(8))])
                .map_err(db("prune text routes"))?;
        }
        Ok(())
    }
}

impl SqliteStore {
    /// A provider's report in the transaction, if the message is still as the caller read it.
    fn feedback_in(conn: &Connection, write: &FeedbackWrite) -> StoreResult<bool> {
        let m = &write.message;
        let updated = cached(
            conn,
            "UPDATE messages SET status = ?4, at = ?5, detail = ?6
                 WHERE clinic_id = ?1 AND appointment_id = ?2 AND key = ?3 AND status = ?7 AND at = ?8",
        )?
        .execute(params![
            m.clinic_id.as_str(),
            m.appointment_id.as_str(),
            m.key,
            enum_text(&write.status),
            ts(write.at),
            write.detail,
            enum_text(&write.from),
            ts(write.read_at)
        ])
        .map_err(db("record feedback"))?;
        if updated == 0 {
            return Ok(false);
        }
        Self::insert_event(conn, &m.clinic_id, &write.event)?;
        for s in &write.suppress {
            cached(
                conn,
                "INSERT OR REPLACE INTO suppressions (clinic_id, address, reason, at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![m.clinic_id.as_str(), s.address, enum_text(&s.reason), ts(s.at)])
            .map_err(db("suppress address"))?;
        }
        if let (Some(price), MessageStatus::Sent) = (write.provider_price_micro_usd, write.from) {
            cached(
                conn,
                "INSERT OR REPLACE INTO ledger_prices (clinic_id, appointment_id, message_key, provider_price_micro_usd) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![m.clinic_id.as_str(), m.appointment_id.as_str(), m.key, price])
            .map_err(db("record provider price"))?;
        }
        Ok(true)
    }
}

#[async_trait]
impl SuppressionStore for SqliteStore {
    async fn suppressions(&self, clinic: &ClinicId) -> StoreResult<Vec<Suppression>> {
        let clinic = clinic.to_owned();
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT address, reason, at FROM suppressions WHERE clinic_id = ?1 ORDER BY address")
                .map_err(db("read suppressions"))?;
            let rows = stmt
                .query_map(params![clinic.as_str()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                })
                .map_err(db("read suppressions"))?;
            rows.map(|row| {
                let (address, reason, at) = row.map_err(db("read suppressions"))?;
                Ok(Suppression {
                    address,
                    reason: enum_from(&reason)?,
                    at: parse_ts(&at)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn is_suppressed(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        let (clinic, address) = (clinic.to_owned(), address.to_owned());
        self.run(move |conn| reads::suppressed(conn, &clinic, &address)).await
    }

    async fn suppress(&self, clinic: &ClinicId, suppressions: &[Suppression]) -> StoreResult<()> {
        let clinic = clinic.to_owned();
        let suppressions = suppressions.to_owned();
        self.run(move |conn| {
            for s in suppressions {
                cached(
                    conn,
                    "INSERT OR REPLACE INTO suppressions (clinic_id, address, reason, at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    clinic.as_str(),
                    s.address.to_lowercase(),
                    enum_text(&s.reason),
                    ts(s.at)
                ])
                .map_err(db("suppress address"))?;
            }
            Ok(())
        })
        .await
    }

    async fn lift_suppression(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        let clinic = clinic.to_owned();
        let address = address.to_owned();
        self.run(move |conn| {
            let removed = cached(conn, "DELETE FROM suppressions WHERE clinic_id = ?1 AND address = ?2")?
                .execute(params![clinic.as_str(), address.to_lowercase()])
                .map_err(db("lift suppression"))?;
            Ok(removed > 0)
        })
        .await
    }
}

/// Each in one piece of work: one trip to the store's thread, and one snapshot.
#[async_trait]
impl ReadTogether for SqliteStore {
    async fn read_together(&self, clinic: &ClinicId, wanted: &Wanted) -> StoreResult<Found> {
        let (clinic, wanted) = (clinic.to_owned(), wanted.to_owned());
        self.run(move |conn| reads::together(conn, &clinic, &wanted)).await
    }

    async fn add_messages_checking(
        &self,
        record: &AppointmentRecord,
        messages: &[MessageRecord],
        address: Option<&str>,
    ) -> StoreResult<Added> {
        let (record, messages, address) = (record.to_owned(), messages.to_owned(), address.map(str::to_owned));
        self.run(move |conn| {
            let suppressed = match address {
                Some(address) => {
                    let listed = reads::suppressed(conn, &record.clinic_id, &address)?;
                    Some((address, listed))
                }
                None => None,
            };
            let recorded = Self::add_messages_in(conn, &record, &messages)?;
            Ok(Added { recorded, suppressed })
        })
        .await
    }

    async fn read_by_token(&self, token: &str) -> StoreResult<Linked> {
        let token = token.to_owned();
        self.run(move |conn| {
            let target = reads::by_token(conn, &token)?;
            let LinkTarget::Appointment(record) = &target else {
                return Ok(Linked {
                    target,
                    clinic: None,
                    type_settings: None,
                });
            };
            let clinic = reads::clinic(conn, &record.clinic_id)?;
            let type_settings = reads::type_settings(conn, &record.clinic_id, &record.content.type_code)?;
            Ok(Linked {
                target,
                clinic,
                type_settings,
            })
        })
        .await
    }
}

impl SqliteStore {
    /// [`AppointmentStore::add_messages`] in the transaction.
    fn add_messages_in(
        conn: &Connection,
        record: &AppointmentRecord,
        messages: &[MessageRecord],
    ) -> StoreResult<Vec<String>> {
        let (clinic, id) = (&record.clinic_id, &record.id);
        let stored: Option<i64> = cached(
            conn,
            "SELECT version FROM appointments WHERE clinic_id = ?1 AND id = ?2",
        )?
        .query_row(params![clinic.as_str(), id.as_str()], |r| r.get(0))
        .optional()
        .map_err(db("read version"))?;
        if stored != Some(record.version as i64) {
            return Err(StoreError::Conflict);
        }
        Self::insert_messages(conn, clinic, id, messages)
    }
}

/// The reads that requests make together, as functions of the connection.
mod reads {
    use super::*;

    pub(super) fn clinic(conn: &Connection, id: &ClinicId) -> StoreResult<Option<Clinic>> {
        let settings: Option<String> = cached(conn, "SELECT settings FROM clinics WHERE id = ?1")?
            .query_row([id.as_str()], |r| r.get(0))
            .optional()
            .map_err(db("read clinic"))?;
        settings
            .map(|s| {
                Ok(Clinic {
                    id: id.clone(),
                    settings: from_json(&s)?,
                })
            })
            .transpose()
    }

    pub(super) fn type_settings(
        conn: &Connection,
        clinic: &ClinicId,
        code: &TypeCode,
    ) -> StoreResult<Option<TypeSettings>> {
        let settings: Option<String> = cached(
            conn,
            "SELECT settings FROM appointment_types WHERE clinic_id = ?1 AND code = ?2",
        )?
        .query_row(params![clinic.as_str(), code.as_str()], |r| r.get(0))
        .optional()
        .map_err(db("read type"))?;
        settings.map(|s| from_json(&s)).transpose()
    }

    pub(super) fn appointment(
        conn: &Connection,
        clinic: &ClinicId,
        id: &AppointmentId,
    ) -> StoreResult<Option<AppointmentRecord>> {
        let record: Option<String> = cached(conn, "SELECT record FROM appointments WHERE clinic_id = ?1 AND id = ?2")?
            .query_row(params![clinic.as_str(), id.as_str()], |r| r.get(0))
            .optional()
            .map_err(db("read appointment"))?;
        record.map(|r| from_json(&r)).transpose()
    }

    pub(super) fn by_token(conn: &Connection, token: &str) -> StoreResult<LinkTarget> {
        let record: Option<String> = cached(conn, "SELECT record FROM appointments WHERE token = ?1")?
            .query_row([token], |r| r.get(0))
            .optional()
            .map_err(db("read appointment"))?;
        // The embedded store keeps every appointment, so an expired link still finds its record.
        Ok(match record {
            Some(r) => LinkTarget::Appointment(Box::new(from_json(&r)?)),
            None => LinkTarget::Unknown,
        })
    }

    pub(super) fn suppressed(conn: &Connection, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        cached(conn, "SELECT 1 FROM suppressions WHERE clinic_id = ?1 AND address = ?2")?
            .exists(params![clinic.as_str(), address.to_lowercase()])
            .map_err(db("read suppressions"))
    }

    /// What [`ReadTogether::read_together`] asks for.
    pub(super) fn together(conn: &Connection, clinic: &ClinicId, wanted: &Wanted) -> StoreResult<Found> {
        let mut found = Found::default();
        if wanted.clinic {
            found.clinic = self::clinic(conn, clinic)?;
        }
        if let Some(id) = &wanted.appointment {
            found.appointment = appointment(conn, clinic, id)?;
        }
        if let Some(code) = &wanted.type_code {
            found.type_settings = type_settings(conn, clinic, code)?;
        }
        if let Some(address) = &wanted.suppression_of {
            found.suppressed = Some((address.clone(), suppressed(conn, clinic, address)?));
        }
        Ok(found)
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn events_after(&self, clinic: &ClinicId, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let clinic = clinic.to_owned();
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT cursor, event FROM events WHERE clinic_id = ?1 AND cursor > ?2 ORDER BY cursor LIMIT ?3",
                )
                .map_err(db("read events"))?;
            let rows = stmt
                .query_map(params![clinic.as_str(), after as i64, limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db("read events"))?;
            rows.map(|row| {
                let (cursor, event) = row.map_err(db("read events"))?;
                Ok(Event {
                    cursor: cursor as u64,
                    event: from_json(&event)?,
                })
            })
            .collect()
        })
        .await
    }
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn ledger_between(
        &self,
        clinic: &ClinicId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let clinic = clinic.to_owned();
        self.run(move |conn| {
        let mut stmt = conn
            .prepare_cached(
                "SELECT l.entry, p.provider_price_micro_usd FROM ledger l LEFT JOIN ledger_prices p
                     ON p.clinic_id = l.clinic_id AND p.appointment_id = l.appointment_id AND p.message_key = l.message_key
                 WHERE l.clinic_id = ?1 AND l.sent_at >= ?2 AND l.sent_at < ?3 ORDER BY l.sent_at, l.rowid",
            )
            .map_err(db("read ledger"))?;
        let rows = stmt
            .query_map(params![clinic.as_str(), ts(from), ts(to)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
            })
            .map_err(db("read ledger"))?;
        rows.map(|row| {
            let (entry, price) = row.map_err(db("read ledger"))?;
            let mut entry: LedgerEntry = from_json(&entry)?;
            entry.provider_price_micro_usd = entry.provider_price_micro_usd.or(price);
            Ok(entry)
        })
        .collect()
    })
        .await
    }
}
