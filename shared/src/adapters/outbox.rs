//! The dev outbox: emails and texts are kept in a SQLite table instead of leaving the machine.

use super::sqlite_worker::{NotCommitted, SqliteWorker};
use crate::ports::*;
use async_trait::async_trait;
use rusqlite::{params, Connection};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// One outbox entry, as `GET /_dev/outbox.json` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Also the provider message id (`outbox-<id>`).
    pub id: i64,
    /// When it was "sent", by the service's clock.
    pub at: String,
    /// `email` or `sms`.
    pub channel: String,
    /// Address or number.
    pub to: String,
    /// Message kind.
    pub kind: String,
    /// Email subject (none for texts).
    pub subject: Option<String>,
    /// Plain text (or the text message); holds the patient link.
    pub text: String,
    /// HTML part (none for texts).
    pub html: Option<String>,
    /// `sent`, then what the provider's feedback said (`POST /_dev/delivery`): `delivered`,
    /// `bounced`, `complained` or `failed`.
    pub status: String,
    /// The message the entry is (its tag; not shown).
    #[serde(skip)]
    pub tag: Option<String>,
}

/// Mailer and texter that write to a local table, from a thread of their own ([`SqliteWorker`]).
pub struct Outbox {
    worker: Arc<SqliteWorker>,
    clock: Arc<dyn Clock>,
}

impl Outbox {
    /// An outbox in the SQLite file at `path`.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Outbox, String> {
        Self::on(Arc::new(SqliteWorker::open(path, "outbox")?), clock)
    }

    /// An outbox in memory, for tests.
    pub fn in_memory(clock: Arc<dyn Clock>) -> Result<Outbox, String> {
        Self::on(Arc::new(SqliteWorker::in_memory()?), clock)
    }

    /// An outbox in the database `worker` runs, its tables created if need be; the worker may be
    /// shared with the store and the schedules, whose writes then share its transactions.
    pub fn on(worker: Arc<SqliteWorker>, clock: Arc<dyn Clock>) -> Result<Outbox, String> {
        worker.run_blocking(create_tables)?;
        Ok(Outbox { worker, clock })
    }
}

/// The outbox's tables, created if need be.
fn create_tables(conn: &Connection) -> Result<(), String> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at TEXT NOT NULL, channel TEXT NOT NULL, recipient TEXT NOT NULL, kind TEXT NOT NULL,
                subject TEXT, text TEXT NOT NULL, html TEXT
             );
             CREATE TABLE IF NOT EXISTS opted_out (number TEXT PRIMARY KEY);",
    )
    .map_err(|e| format!("outbox schema: {e}"))?;
    // Outboxes from before delivery feedback: add its columns (once).
    for column in ["tag TEXT", "status TEXT NOT NULL DEFAULT 'sent'"] {
        match conn.execute_batch(&format!("ALTER TABLE outbox ADD COLUMN {column};")) {
            Err(e) if !e.to_string().contains("duplicate column") => return Err(format!("outbox schema: {e}")),
            _ => {}
        }
    }
    Ok(())
}

impl Outbox {
    /// Marks a number as opted out, as a carrier's STOP would (kept across restarts).
    pub fn opt_out(&self, number: &str) -> Result<(), SendError> {
        self.worker.run_blocking(opt_out_change(OPT_OUT, number))
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Result<Vec<OutboxEntry>, String> {
        self.worker.run_blocking(all_entries)
    }

    /// The entry `id`, if there is one.
    pub fn entry(&self, id: i64) -> Result<Option<OutboxEntry>, String> {
        Ok(self.entries()?.into_iter().find(|e| e.id == id))
    }

    /// Records what the provider's feedback said of entry `id`.
    pub fn set_status(&self, id: i64, status: &str) -> Result<(), String> {
        let status = status.to_owned();
        self.worker.run_blocking(move |conn| {
            conn.execute("UPDATE outbox SET status = ?2 WHERE id = ?1", params![id, status])
                .map(drop)
                .map_err(|e| format!("outbox: {e}"))
        })
    }

    async fn insert(&self, entry: NewEntry) -> Result<String, SendError> {
        let at = self.clock.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.worker
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO outbox (at, channel, recipient, kind, subject, text, html, tag)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut insert| {
                    insert.execute(params![
                        at,
                        entry.channel,
                        entry.to,
                        entry.kind,
                        entry.subject,
                        entry.text,
                        entry.html,
                        entry.tag
                    ])
                })
                .map_err(|e| SendError::temporary(format!("outbox: {e}")))?;
                Ok(format!("outbox-{}", conn.last_insert_rowid()))
            })
            .await
    }
}

/// What one send adds to the outbox.
struct NewEntry {
    channel: &'static str,
    to: String,
    kind: &'static str,
    subject: Option<String>,
    text: String,
    html: Option<String>,
    tag: String,
}

impl From<NotCommitted> for SendError {
    fn from(e: NotCommitted) -> SendError {
        SendError::temporary(format!("outbox: {e}"))
    }
}

impl From<NotCommitted> for String {
    fn from(e: NotCommitted) -> String {
        e.to_string()
    }
}

const OPT_OUT: &str = "INSERT OR IGNORE INTO opted_out (number) VALUES (?1)";
const LIFT_OPT_OUT: &str = "DELETE FROM opted_out WHERE number = ?1";

/// Runs `sql` (one of the two above) for `number`.
fn opt_out_change(
    sql: &'static str,
    number: &str,
) -> impl FnOnce(&Connection) -> Result<(), SendError> + Send + 'static {
    let number = number.to_owned();
    move |conn| {
        conn.prepare_cached(sql)
            .and_then(|mut statement| statement.execute(params![number]))
            .map(drop)
            .map_err(|e| SendError::temporary(format!("outbox: {e}")))
    }
}

/// Every entry, oldest first.
fn all_entries(conn: &Connection) -> Result<Vec<OutboxEntry>, String> {
    let mut stmt = conn
        .prepare("SELECT id, at, channel, recipient, kind, subject, text, html, status, tag FROM outbox ORDER BY id")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| {
            Ok(OutboxEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                channel: r.get(2)?,
                to: r.get(3)?,
                kind: r.get(4)?,
                subject: r.get(5)?,
                text: r.get(6)?,
                html: r.get(7)?,
                status: r.get(8)?,
                tag: r.get(9)?,
            })
        })
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
}

#[async_trait]
impl Mailer for Outbox {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        self.insert(NewEntry {
            channel: "email",
            to: email.to.clone(),
            kind: email.kind.as_str(),
            subject: Some(email.subject.clone()),
            text: email.text.clone(),
            html: Some(email.html.clone()),
            tag: email.tag.clone(),
        })
        .await
    }
}

#[async_trait]
impl Texter for Outbox {
    async fn send_text(&self, text: &OutgoingText) -> Result<String, SendError> {
        self.insert(NewEntry {
            channel: "sms",
            to: text.to.clone(),
            kind: text.kind.as_str(),
            subject: None,
            text: text.body.clone(),
            html: None,
            tag: text.tag.clone(),
        })
        .await
    }

    async fn is_opted_out(&self, to: &str) -> Result<bool, SendError> {
        let to = to.to_owned();
        self.worker
            .run(move |conn| {
                conn.prepare_cached("SELECT 1 FROM opted_out WHERE number = ?1")
                    .and_then(|mut statement| statement.exists(params![to]))
                    .map_err(|e| SendError::temporary(format!("outbox: {e}")))
            })
            .await
    }

    async fn honour_opt_out(&self, to: &str) -> Result<(), SendError> {
        self.worker.run(opt_out_change(OPT_OUT, to)).await
    }

    async fn lift_opt_out(&self, to: &str) -> Result<(), SendError> {
        self.worker.run(opt_out_change(LIFT_OPT_OUT, to)).await
    }
}
