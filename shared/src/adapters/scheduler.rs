//! The dev server's scheduler: pending schedules persist in SQLite and fire in due order, either
//! from a loop on the real clock or when the manual clock is moved.

use super::clock::ManualClock;
use super::sqlite_worker::{NotCommitted, SqliteWorker};
use crate::adapters::sqlite::ts;
use crate::ports::*;
use crate::services::Rappel;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Arc;

/// How often a failing schedule is tried before it is dropped (EventBridge's retry policy plays
/// this role in AWS, with a dead-letter queue after it).
const MAX_ATTEMPTS: i64 = 3;

/// Persistent one-time schedules, kept by a thread of their own ([`SqliteWorker`]).
pub struct EmbeddedScheduler {
    worker: Arc<SqliteWorker>,
    /// Held while due schedules run, so the loop and a clock move never fire the same one twice.
    running: tokio::sync::Mutex<()>,
}

fn db(e: rusqlite::Error) -> ScheduleError {
    ScheduleError(format!("sqlite: {e}"))
}

impl From<NotCommitted> for ScheduleError {
    fn from(e: NotCommitted) -> ScheduleError {
        ScheduleError(e.to_string())
    }
}

impl EmbeddedScheduler {
    /// Schedules in the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<EmbeddedScheduler, ScheduleError> {
        Self::on(Arc::new(SqliteWorker::open(path, "schedules")?))
    }

    /// Schedules in memory, for tests.
    pub fn in_memory() -> Result<EmbeddedScheduler, ScheduleError> {
        Self::on(Arc::new(SqliteWorker::in_memory()?))
    }

    /// Schedules in the database `worker` runs, their table created if need be; the worker may be
    /// shared with the store and the outbox, whose writes then share its transactions.
    pub fn on(worker: Arc<SqliteWorker>) -> Result<EmbeddedScheduler, ScheduleError> {
        worker.run_blocking(create_table)?;
        Ok(EmbeddedScheduler {
            worker,
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// Pending schedules, in due order.
    pub fn pending(&self) -> Result<Vec<Schedule>, ScheduleError> {
        self.worker.run_blocking(all_pending)
    }

    async fn next_due(&self, until: DateTime<Utc>) -> Result<Option<(Schedule, i64)>, ScheduleError> {
        let until = ts(until);
        self.worker
            .run(move |conn| {
                let row: Option<(String, String, String, i64)> = conn
                    .prepare_cached(
                        "SELECT name, due_at, payload, attempts FROM schedules WHERE due_at <= ?1 ORDER BY due_at, name LIMIT 1",
                    )
                    .and_then(|mut next| {
                        next.query_row([until], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    })
                    .optional()
                    .map_err(db)?;
                row.map(|(name, at, payload, attempts)| Ok((decode(name, &at, &payload)?, attempts)))
                    .transpose()
            })
            .await
    }

    /// Fires every schedule due by `until`, earliest first. With a manual clock, the clock is set
    /// to each schedule's due time before it fires, then to `until`.
    pub async fn run_due(
        &self,
        rappel: &Rappel,
        manual: Option<&ManualClock>,
        until: DateTime<Utc>,
    ) -> Result<usize, ScheduleError> {
        let _running = self.running.lock().await;
        let mut fired = 0;
        while let Some((schedule, attempts)) = self.next_due(until).await? {
            if let Some(clock) = manual {
                if schedule.at > rappel.clock.now() {
                    clock.set(schedule.at);
                }
            }
            // A save may replan the same schedule while it fires: only what fired is retired.
            match rappel.fire(&schedule.payload).await {
                Ok(outcome) => {
                    tracing::info!(schedule = %schedule.name, ?outcome, "schedule fired");
                    self.retire(&schedule).await?;
                }
                Err(e) if attempts + 1 < MAX_ATTEMPTS => {
                    tracing::warn!(schedule = %schedule.name, error = %e, "schedule failed; will retry in a minute");
                    self.postpone(&schedule).await?;
                }
                Err(e) => {
                    tracing::error!(schedule = %schedule.name, error = %e, "schedule failed for good; dropped");
                    self.retire(&schedule).await?;
                }
            }
            fired += 1;
        }
        if let Some(clock) = manual {
            if until > rappel.clock.now() {
                clock.set(until);
            }
        }
        Ok(fired)
    }
}

impl EmbeddedScheduler {
    /// Deletes `schedule` if it is still as it fired (not replanned meanwhile).
    async fn retire(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let (name, at, payload) = (schedule.name.clone(), ts(schedule.at), encode(&schedule.payload)?);
        self.worker
            .run(move |conn| {
                conn.execute(
                    "DELETE FROM schedules WHERE name = ?1 AND due_at = ?2 AND payload = ?3",
                    params![name, at, payload],
                )
                .map(drop)
                .map_err(db)
            })
            .await
    }

    /// Moves a failed `schedule` a minute later, counting the attempt, if it is still as it fired.
    async fn postpone(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let (name, at, payload) = (schedule.name.clone(), ts(schedule.at), encode(&schedule.payload)?);
        let later = ts(schedule.at + Duration::minutes(1));
        self.worker
            .run(move |conn| {
                conn.execute(
                    "UPDATE schedules SET attempts = attempts + 1, due_at = ?2 WHERE name = ?1 AND due_at = ?3 AND payload = ?4",
                    params![name, later, at, payload],
                )
                .map(drop)
                .map_err(db)
            })
            .await
    }
}

/// Pending schedules, in due order.
fn all_pending(conn: &Connection) -> Result<Vec<Schedule>, ScheduleError> {
    let mut stmt = conn
        .prepare("SELECT name, due_at, payload FROM schedules ORDER BY due_at, name")
        .map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })
        .map_err(db)?;
    rows.map(|row| {
        let (name, at, payload) = row.map_err(db)?;
        decode(name, &at, &payload)
    })
    .collect()
}

/// The schedules' table, created if need be.
fn create_table(conn: &Connection) -> Result<(), ScheduleError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schedules (
            name TEXT PRIMARY KEY, due_at TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0
         );
         CREATE INDEX IF NOT EXISTS schedules_by_due ON schedules (due_at, name);",
    )
    .map_err(db)
}

fn encode(payload: &SchedulePayload) -> Result<String, ScheduleError> {
    serde_json::to_string(payload).map_err(|e| ScheduleError(e.to_string()))
}

fn decode(name: String, at: &str, payload: &str) -> Result<Schedule, ScheduleError> {
    Ok(Schedule {
        name,
        at: DateTime::parse_from_rfc3339(at)
            .map_err(|e| ScheduleError(e.to_string()))?
            .with_timezone(&Utc),
        payload: serde_json::from_str(payload).map_err(|e| ScheduleError(e.to_string()))?,
    })
}

#[async_trait]
impl Scheduler for EmbeddedScheduler {
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let (name, at, payload) = (schedule.name.clone(), ts(schedule.at), encode(&schedule.payload)?);
        self.worker
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO schedules (name, due_at, payload) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, attempts = 0",
                )
                .and_then(|mut upsert| upsert.execute(params![name, at, payload]))
                .map(drop)
                .map_err(db)
            })
            .await
    }

    async fn delete_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        let name = name.to_owned();
        self.worker
            .run(move |conn| {
                conn.execute("DELETE FROM schedules WHERE name = ?1", [name])
                    .map(drop)
                    .map_err(db)
            })
            .await
    }
}
