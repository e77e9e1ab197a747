//! The dev server's scheduler: pending schedules persist in SQLite, indexed in memory, and fire in
//! due order, either from a loop on the real clock or when the manual clock is moved.

use super::clock::ManualClock;
use super::schedule_index::{Placed, ScheduleIndex};
use super::sqlite_worker::{NotCommitted, SqliteWorker};
use crate::adapters::sqlite::ts;
use crate::ports::*;
use crate::services::Rappel;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How often a failing schedule is tried before it is dropped (EventBridge's retry policy plays
/// this role in AWS, with a dead-letter queue after it).
const MAX_ATTEMPTS: i64 = 3;

/// Persistent one-time schedules, kept by a thread of their own ([`SqliteWorker`]): one row
/// each, appended to a table, found through an index in memory ([`ScheduleIndex`]).
pub struct EmbeddedScheduler {
    worker: Arc<SqliteWorker>,
    /// The rows' index. Only work on the worker's thread changes it, once its statements have
    /// succeeded; if the work is not committed after all, it is rebuilt from the table.
    index: Arc<Mutex<ScheduleIndex>>,
    /// Held while due schedules run, so the loop and a clock move never fire the same one twice.
    running: tokio::sync::Mutex<()>,
}

/// A due schedule as it was read, to be retired or put off if it is still that row then.
#[derive(Clone)]
struct Due {
    schedule: Schedule,
    row: i64,
    payload: String,
    attempts: i64,
}

fn db(e: rusqlite::Error) -> ScheduleError {
    ScheduleError(format!("sqlite: {e}"))
}

impl From<NotCommitted> for ScheduleError {
    fn from(e: NotCommitted) -> ScheduleError {
        ScheduleError(e.to_string())
    }
}

fn lock(index: &Mutex<ScheduleIndex>) -> MutexGuard<'_, ScheduleIndex> {
    index.lock().unwrap_or_else(PoisonError::into_inner)
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

    /// Schedules in the database `worker` runs, their table created (or brought over from the
    /// earlier `schedules` table) if need be, and indexed; the worker may be shared with the store
    /// and the outbox, whose writes then share its transactions.
    pub fn on(worker: Arc<SqliteWorker>) -> Result<EmbeddedScheduler, ScheduleError> {
        let index = worker.run_blocking(|conn| {
            create_table(conn)?;
            read_index(conn)
        })?;
        Ok(EmbeddedScheduler {
            worker,
            index: Arc::new(Mutex::new(index)),
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// Pending schedules, in due order.
    pub fn pending(&self) -> Result<Vec<Schedule>, ScheduleError> {
        self.worker.run_blocking(all_pending)
    }

    /// Runs `work` on the worker's thread with the index. Work changes the index only once its
    /// statements succeeded; if such work is then not committed, the index may hold what the
    /// table does not, and is rebuilt. (Work that failed changed nothing, and its error may
    /// recur, as an unreadable payload does at every tick: no table scan for it.)
    async fn indexed<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &mut ScheduleIndex) -> Result<T, ScheduleError> + Send + 'static,
    ) -> Result<T, ScheduleError> {
        let index = self.index.clone();
        let succeeded = Arc::new(AtomicBool::new(false));
        let ran_ok = succeeded.clone();
        let done = self
            .worker
            .run(move |conn| {
                let result = work(conn, &mut lock(&index));
                ran_ok.store(result.is_ok(), Ordering::Relaxed);
                result
            })
            .await;
        if done.is_err() && succeeded.load(Ordering::Relaxed) {
            self.rebuild_index().await;
        }
        done
    }

    async fn rebuild_index(&self) {
        let index = self.index.clone();
        let rebuilt = self
            .worker
            .run(move |conn| {
                *lock(&index) = read_index(conn)?;
                Ok::<_, ScheduleError>(())
            })
            .await;
        if let Err(e) = rebuilt {
            tracing::error!(error = %e, "the schedules' index could not be rebuilt");
        }
    }

    /// The earliest schedule due by `until`.
    async fn next_due(&self, until: DateTime<Utc>) -> Result<Option<Due>, ScheduleError> {
        self.indexed(move |conn, index| loop {
            let Some((name, placed)) = index.first_due(until) else {
                return Ok(None);
            };
            match read_row(conn, placed.row, &name)? {
                Some((payload, attempts)) => {
                    let schedule = decode(name, placed.at, &payload)?;
                    let row = placed.row;
                    return Ok(Some(Due {
                        schedule,
                        row,
                        payload,
                        attempts,
                    }));
                }
                // Only work that failed to commit leaves a name without its row.
                None => {
                    index.remove(&name);
                }
            }
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
        while let Some(due) = self.next_due(until).await? {
            let schedule = &due.schedule;
            if let Some(clock) = manual {
                if schedule.at > rappel.clock.now() {
                    clock.set(schedule.at);
                }
            }
            // A save may replan the same schedule while it fires: only what fired is retired.
            match rappel.fire(&schedule.payload).await {
                Ok(outcome) => {
                    tracing::info!(schedule = %schedule.name, ?outcome, "schedule fired");
                    self.retire(due).await?;
                }
                Err(e) if due.attempts + 1 < MAX_ATTEMPTS => {
                    tracing::warn!(schedule = %schedule.name, error = %e, "schedule failed; will retry in a minute");
                    self.postpone(due).await?;
                }
                Err(e) => {
                    tracing::error!(schedule = %schedule.name, error = %e, "schedule failed for good; dropped");
                    self.retire(due).await?;
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
    /// Deletes the schedule that fired if it is still as it fired (not replanned meanwhile).
    async fn retire(&self, due: Due) -> Result<(), ScheduleError> {
        self.indexed(move |conn, index| {
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM schedule_rows WHERE row = ?1 AND name = ?2 AND due_at = ?3 AND payload = ?4",
                )
                .and_then(|mut delete| {
                    delete.execute(params![due.row, due.schedule.name, ts(due.schedule.at), due.payload])
                })
                .map_err(db)?;
            if deleted == 1 && index.get(&due.schedule.name).is_some_and(|p| p.row == due.row) {
                index.remove(&due.schedule.name);
            }
            Ok(())
        })
        .await
    }

    /// Moves a failed schedule a minute later, counting the attempt, if it is still as it fired.
    async fn postpone(&self, due: Due) -> Result<(), ScheduleError> {
        let later = due.schedule.at + Duration::minutes(1);
        self.indexed(move |conn, index| {
            let moved = conn
                .execute(
                    "UPDATE schedule_rows SET attempts = attempts + 1, due_at = ?5
                     WHERE row = ?1 AND name = ?2 AND due_at = ?3 AND payload = ?4",
                    params![due.row, due.schedule.name, ts(due.schedule.at), due.payload, ts(later)],
                )
                .map_err(db)?;
            if moved == 1 {
                index.put(
                    &due.schedule.name,
                    Placed {
                        row: due.row,
                        at: later,
                    },
                );
            }
            Ok(())
        })
        .await
    }
}

/// Deletes the row the index gives for `name` (the name too must match: a row number is reused
/// once the last row is deleted).
fn delete_row(conn: &Connection, row: i64, name: &str) -> Result<(), ScheduleError> {
    conn.prepare_cached("DELETE FROM schedule_rows WHERE row = ?1 AND name = ?2")
        .and_then(|mut delete| delete.execute(params![row, name]))
        .map(drop)
        .map_err(db)
}

/// The payload and attempts of `row`, if it still holds `name`.
fn read_row(conn: &Connection, row: i64, name: &str) -> Result<Option<(String, i64)>, ScheduleError> {
    conn.prepare_cached("SELECT payload, attempts FROM schedule_rows WHERE row = ?1 AND name = ?2")
        .and_then(|mut read| read.query_row(params![row, name], |r| Ok((r.get(0)?, r.get(1)?))))
        .optional()
        .map_err(db)
}

/// The index of the table's rows. A name twice (which no committed work leaves) keeps its latest
/// row; the others are deleted.
fn read_index(conn: &Connection) -> Result<ScheduleIndex, ScheduleError> {
    let mut index = ScheduleIndex::default();
    let mut superseded = Vec::new();
    {
        let mut rows = conn
            .prepare("SELECT row, name, due_at FROM schedule_rows ORDER BY row")
            .map_err(db)?;
        let rows = rows
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(db)?;
        for row in rows {
            let (row, name, at) = row.map_err(db)?;
            let placed = Placed {
                row,
                at: parse_at(&at)?,
            };
            superseded.extend(index.put(&name, placed).map(|old| old.row));
        }
    }
    for row in superseded {
        conn.execute("DELETE FROM schedule_rows WHERE row = ?1", [row])
            .map_err(db)?;
    }
    Ok(index)
}

/// Pending schedules, in due order.
fn all_pending(conn: &Connection) -> Result<Vec<Schedule>, ScheduleError> {
    let mut stmt = conn
        .prepare("SELECT name, due_at, payload FROM schedule_rows ORDER BY due_at, name")
        .map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })
        .map_err(db)?;
    rows.map(|row| {
        let (name, at, payload) = row.map_err(db)?;
        decode(name, parse_at(&at)?, &payload)
    })
    .collect()
}

/// The schedules' table, created if need be. Schedules in the table earlier versions kept
/// (`schedules`, indexed by name and due time in SQLite) are moved into it.
fn create_table(conn: &Connection) -> Result<(), ScheduleError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schedule_rows (
            row INTEGER PRIMARY KEY, name TEXT NOT NULL, due_at TEXT NOT NULL, payload TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0
         );",
    )
    .map_err(db)?;
    let earlier: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schedules')",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if earlier {
        conn.execute_batch(
            "INSERT INTO schedule_rows (name, due_at, payload, attempts)
                 SELECT name, due_at, payload, attempts FROM schedules ORDER BY due_at, name;
             DROP TABLE schedules;",
        )
        .map_err(db)?;
    }
    Ok(())
}

fn encode(payload: &SchedulePayload) -> Result<String, ScheduleError> {
    serde_json::to_string(payload).map_err(|e| ScheduleError(e.to_string()))
}

fn parse_at(at: &str) -> Result<DateTime<Utc>, ScheduleError> {
    DateTime::parse_from_rfc3339(at)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| ScheduleError(format!("due time {at:?}: {e}")))
}

fn decode(name: String, at: DateTime<Utc>, payload: &str) -> Result<Schedule, ScheduleError> {
    Ok(Schedule {
        name,
        at,
        payload: serde_json::from_str(payload).map_err(|e| ScheduleError(e.to_string()))?,
    })
}

#[async_trait]
impl Scheduler for EmbeddedScheduler {
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let (name, at, payload) = (schedule.name.clone(), schedule.at, encode(&schedule.payload)?);
        self.indexed(move |conn, index| {
            if let Some(replaced) = index.get(&name) {
                delete_row(conn, replaced.row, &name)?;
            }
            conn.prepare_cached("INSERT INTO schedule_rows (name, due_at, payload) VALUES (?1, ?2, ?3)")
                .and_then(|mut insert| insert.execute(params![name, ts(at), payload]))
                .map_err(db)?;
            index.put(
                &name,
                Placed {
                    row: conn.last_insert_rowid(),
                    at,
                },
            );
            Ok(())
        })
        .await
    }

    async fn delete_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        let name = name.to_owned();
        self.indexed(move |conn, index| {
            if let Some(placed) = index.get(&name) {
                delete_row(conn, placed.row, &name)?;
                index.remove(&name);
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::scratch::Scratch;
    use chrono::TimeZone;

    fn at(year: i32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, 1, 10, hour, 0, 0).unwrap()
    }

    fn schedule(name: &str, at: DateTime<Utc>, revision: u64) -> Schedule {
        let payload = format!(r#"{{"clinic_id":"c","appointment_id":"a","revision":{revision},"kind":"reminder"}}"#);
        Schedule {
            name: name.to_owned(),
            at,
            payload: serde_json::from_str(&payload).unwrap(),
        }
    }

    fn rows(scheduler: &EmbeddedScheduler) -> i64 {
        let count = |conn: &Connection| {
            conn.query_row("SELECT count(*) FROM schedule_rows", [], |r| r.get(0))
                .map_err(db)
        };
        scheduler.worker.run_blocking(count).unwrap()
    }

    #[tokio::test]
    async fn schedules_and_their_replacements_survive_reopening_the_file() {
        let scratch = Scratch::new("schedules-reopen", "schedules.db");
        let path = scratch.path();
        let scheduler = EmbeddedScheduler::open(path).unwrap();
        scheduler.put_schedule(&schedule("a", at(2030, 8), 1)).await.unwrap();
        scheduler.put_schedule(&schedule("b", at(2030, 7), 1)).await.unwrap();
        scheduler.put_schedule(&schedule("a", at(2030, 9), 2)).await.unwrap();
        scheduler.delete_schedule("b").await.unwrap();
        scheduler.delete_schedule("never-put").await.unwrap();
        drop(scheduler);

        let scheduler = EmbeddedScheduler::open(path).unwrap();
        assert_eq!(scheduler.pending().unwrap(), vec![schedule("a", at(2030, 9), 2)]);
        assert_eq!(rows(&scheduler), 1, "a replaced or deleted schedule leaves no row");
        assert!(scheduler.next_due(at(2030, 8)).await.unwrap().is_none());
        let due = scheduler.next_due(at(2030, 9)).await.unwrap().unwrap();
        assert_eq!((due.schedule, due.attempts), (schedule("a", at(2030, 9), 2), 0));
    }

    #[tokio::test]
    async fn schedules_an_earlier_version_kept_are_brought_over() {
        let scratch = Scratch::new("schedules-earlier", "schedules.db");
        let path = scratch.path();
        let payload = |revision: u64| serde_json::to_string(&schedule("x", at(2030, 1), revision).payload).unwrap();
        let earlier = Connection::open(path).unwrap();
        earlier
            .execute_batch(
                "CREATE TABLE schedules (
                    name TEXT PRIMARY KEY, due_at TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0
                 );
                 CREATE INDEX schedules_by_due ON schedules (due_at, name);",
            )
            .unwrap();
        for (name, due, revision, attempts) in [("late", at(2030, 9), 1, 0), ("early", at(2030, 8), 2, 1)] {
            earlier
                .execute(
                    "INSERT INTO schedules VALUES (?1, ?2, ?3, ?4)",
                    params![name, ts(due), payload(revision), attempts],
                )
                .unwrap();
        }
        drop(earlier);

        let scheduler = EmbeddedScheduler::open(path).unwrap();
        let expected = vec![schedule("early", at(2030, 8), 2), schedule("late", at(2030, 9), 1)];
        assert_eq!(scheduler.pending().unwrap(), expected);
        let due = scheduler.next_due(at(2030, 12)).await.unwrap().unwrap();
        assert_eq!(
            (due.schedule.name.as_str(), due.attempts),
            ("early", 1),
            "attempts are kept"
        );
        let gone = |conn: &Connection| {
            conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'schedules%'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db)
        };
        assert_eq!(
            scheduler.worker.run_blocking(gone).unwrap(),
            0,
            "the earlier table and its index are dropped"
        );
    }

    /// Row numbers are reused once the last row is deleted, so a replanned schedule can land on
    /// the row of the one that fired; retiring or putting off what fired must leave it alone.
    #[tokio::test]
    async fn a_schedule_replanned_while_it_fired_stays_even_on_the_same_row() {
        let scheduler = EmbeddedScheduler::in_memory().unwrap();
        scheduler.put_schedule(&schedule("a", at(2030, 8), 1)).await.unwrap();
        let fired = scheduler.next_due(at(2030, 8)).await.unwrap().unwrap();
        scheduler.put_schedule(&schedule("a", at(2030, 9), 2)).await.unwrap();
        let replanned = scheduler.next_due(at(2030, 9)).await.unwrap().unwrap();
        assert_eq!(replanned.row, fired.row, "the row number was reused");

        scheduler.postpone(fired.clone()).await.unwrap();
        scheduler.retire(fired).await.unwrap();
        assert_eq!(scheduler.pending().unwrap(), vec![schedule("a", at(2030, 9), 2)]);
        let still = scheduler.next_due(at(2030, 9)).await.unwrap().unwrap();
        assert_eq!((still.schedule, still.attempts), (schedule("a", at(2030, 9), 2), 0));
    }

    #[tokio::test]
    async fn a_put_off_schedule_is_due_a_minute_later_with_its_attempt_counted() {
        let scheduler = EmbeddedScheduler::in_memory().unwrap();
        scheduler.put_schedule(&schedule("a", at(2030, 8), 1)).await.unwrap();
        let fired = scheduler.next_due(at(2030, 8)).await.unwrap().unwrap();
        scheduler.postpone(fired).await.unwrap();
        assert!(scheduler.next_due(at(2030, 8)).await.unwrap().is_none());
        let later = at(2030, 8) + Duration::minutes(1);
        let again = scheduler.next_due(later).await.unwrap().unwrap();
        assert_eq!((again.schedule.at, again.attempts), (later, 1));
    }

    /// A commit that fails after the work changed the index: the index is rebuilt from the table,
    /// which still holds the schedule the failed put was to replace.
    #[tokio::test]
    async fn a_put_that_is_not_committed_leaves_the_index_as_the_table_is() {
        let conn = Connection::open_in_memory().unwrap();
        // A deferred foreign key fails at COMMIT, after the statements (and the index) succeeded.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        let worker = Arc::new(SqliteWorker::inline(conn));
        let scheduler = EmbeddedScheduler::on(worker.clone()).unwrap();
        worker
            .run_blocking(|conn| {
                conn.execute_batch(
                    "CREATE TRIGGER doomed AFTER INSERT ON schedule_rows WHEN NEW.due_at LIKE '2031%'
                     BEGIN INSERT INTO child VALUES (1); END;",
                )
                .map_err(db)
            })
            .unwrap();
        scheduler.put_schedule(&schedule("a", at(2030, 8), 1)).await.unwrap();
        let kept = lock(&scheduler.index).get("a");

        let failed = scheduler.put_schedule(&schedule("a", at(2031, 8), 2)).await;
        assert!(failed.unwrap_err().0.contains("FOREIGN KEY"));
        scheduler
            .put_schedule(&schedule("b", at(2031, 9), 1))
            .await
            .unwrap_err();
        assert_eq!(lock(&scheduler.index).get("a"), kept, "the index is the table's again");
        assert_eq!(lock(&scheduler.index).get("b"), None);
        assert_eq!(scheduler.pending().unwrap(), vec![schedule("a", at(2030, 8), 1)]);
        let due = scheduler.next_due(at(2032, 1)).await.unwrap().unwrap();
        assert_eq!(due.schedule, schedule("a", at(2030, 8), 1));
    }
}
