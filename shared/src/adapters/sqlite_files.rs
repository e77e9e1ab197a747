//! How the embedded SQLite files are opened: a write-ahead log, checkpointed in the background.
//!
//! By default SQLite checkpoints a WAL file from inside the commit that takes it past 1,000
//! pages: that commit copies the pages into the database and waits for two `fsync`s, while every
//! other request waits for it. On the dev server under load, checkpoints took
//! 11 % of the CPU and made nearly all of the slowest answers (a single client's p99 was 7 ms
//! against a median of 0.4 ms). Here commits never checkpoint. A thread of its own, with a second
//! connection, copies the log every `CHECKPOINT_EVERY` (WAL lets that run beside readers and the
//! writer), never waiting for anyone.
//!
//! Copying is not rewinding: under steady writes that thread never catches up with the log's
//! end, and SQLite only starts a log over when a transaction begins with all of it copied. So
//! once the log is past `REWIND_BYTES`, the thread copies again until little is left, then asks
//! the file's writer to copy that little between two of its transactions
//! ([`Checkpointer::rewind_if_long`]): nothing is being written then, so that copy catches up,
//! and the writer's next transaction starts the log over. (A `RESTART` checkpoint from the thread
//! did the same while holding the writer back, 4 to 40 ms, about once a second per file under
//! load: most of the slowest answers.)
//!
//! Durability is SQLite's `synchronous = NORMAL`: the checkpoints sync, commits do not (a crash
//! of the machine may lose the last moments, never the file).
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the background thread checkpoints while the file is written to. A pass takes a
/// core for as long as it copies: every 100 ms, under 32 clients, that was a burst of a few
/// milliseconds per file, during which the requests shared the other core, and those requests
/// made most of the slowest 1 % (p99 10.1–11.4 ms against 7.2–9.7 ms at 10 ms, alternated). At
/// 10 ms each pass is short; shorter still (5 or 2 ms) cost more CPU than it smoothed.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(10);
/// The longest the thread waits between passes: after a pass that found nothing new in the log,
/// it waits twice as long as before, up to this, so an idle server wakes it a few times a second.
const IDLE_CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// The page size of new files. A commit logs every page it touched, whole: most of the dev
/// server's pages are leaves of indexes on random keys (patient-link tokens, hashed schedule
/// names), where a save changes a few dozen bytes. With SQLite's default 4 KiB, a save wrote
/// 44 KB to the disk and the disk was the bottleneck (254 MB/s under 32 clients, its `fsync`s
/// tens of milliseconds); 1 KiB pages nearly halve that.
const PAGE_BYTES: u32 = 1024;
/// The log's size past which the writer is asked to rewind it: each rewind holds the writer back
/// for its two `fsync`s (30–55 ms on a busy disk, whatever the few pages), so the longer the
/// log, the rarer the wait. Under 32 clients a file logs 4.3–5.7 KB a save at about 6,000 saves
/// a second: at 1 GiB each file is rewound every 30–40 s (at 256 MiB it was every few seconds,
/// which made the slowest 1 % of saves). The log only grows that long under sustained writes,
/// and the last checkpoint empties it when the server stops.
const REWIND_BYTES: i64 = 1 << 30;
/// How many steps of `BUSY_STEP` a writer waits for anything holding the file (an admin command,
/// the thread's checkpoint) before it fails: at least 5 s, more with the timer's slack.
const BUSY_STEPS: i32 = 100_000;
const BUSY_STEP: Duration = Duration::from_micros(50);
/// The thread asks for a rewind once a pass had no more than this to copy (a short pass leaves
/// little behind it: the writer's copy holds its requests back, about 10 µs a page plus two
/// `fsync`s).
const LEFT_FOR_THE_WRITER: i64 = 256;
/// How many more passes the thread makes to get there.
const CATCH_UP_PASSES: usize = 4;

/// Opens `path` in WAL mode, its log checkpointed by the [`Checkpointer`] returned.
pub fn open(path: &Path) -> rusqlite::Result<(Connection, Checkpointer)> {
    open_checkpointed_every(path, CHECKPOINT_EVERY)
}

fn open_checkpointed_every(path: &Path, every: Duration) -> rusqlite::Result<(Connection, Checkpointer)> {
    let conn = Connection::open(path)?;
    // Short steps rather than SQLite's own (1, 2, 5, 10 ms…): a rewind takes a few milliseconds.
    conn.busy_handler(Some(wait_a_step))?;
    // A new file's page size; an existing file keeps its own.
    conn.execute_batch(&format!(
        "PRAGMA page_size = {PAGE_BYTES}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
    ))?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let page_bytes: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    let checkpointer = Checkpointer::start(path.to_owned(), every, REWIND_BYTES / page_bytes.max(512));
    if checkpointer.thread.is_none() {
        // No thread to do it: commits checkpoint again, as SQLite does by default.
        conn.pragma_update(None, "wal_autocheckpoint", 1_000)?;
    }
    Ok((conn, checkpointer))
}

/// Waits one step for a busy file; `false` after `BUSY_STEPS` of them.
fn wait_a_step(steps_taken: i32) -> bool {
    std::thread::sleep(BUSY_STEP);
    steps_taken < BUSY_STEPS
}

/// A thread that checkpoints one file's log until it is dropped.
pub struct Checkpointer {
    stop: Arc<AtomicBool>,
    /// Set by the thread when the log is past `REWIND_BYTES`, taken by the writer.
    long_log: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// For the file's writer, between two of its transactions: once the thread has found the log
    /// long, copies what is left of it (the thread copied the rest), so that the writer's next
    /// transaction starts the log over. It never waits: a reader still in the log (an admin
    /// command) only defers the rewind to the thread's next request.
    pub fn rewind_if_long(&self, writer: &Connection) {
        if self.long_log.swap(false, Ordering::Relaxed) {
            if let Err(e) = checkpoint(writer, "PASSIVE") {
                tracing::debug!(error = %e, "rewind deferred");
            }
        }
    }
}

impl Checkpointer {
    /// Starts the thread; without one (it could not start, or open the file), `thread` is `None`.
    fn start(path: PathBuf, every: Duration, rewind_pages: i64) -> Checkpointer {
        let stop = Arc::new(AtomicBool::new(false));
        let long_log = Arc::new(AtomicBool::new(false));
        let (flag, long) = (stop.clone(), long_log.clone());
        let (opened, ready) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || match Connection::open(&path) {
                Ok(conn) => {
                    let _ = opened.send(true);
                    checkpoint_until(&conn, &path, every, rewind_pages, &flag, &long);
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "no background checkpoints");
                    let _ = opened.send(false);
                }
            });
        let thread = match spawned {
            Ok(thread) if ready.recv() == Ok(true) => Some(thread),
            _ => None,
        };
        Checkpointer { stop, long_log, thread }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The thread's loop: a pass every `every`, until `stop`; a log past `rewind_pages` sets
/// `long_log` for the writer.
fn checkpoint_until(
    conn: &Connection,
    path: &Path,
    every: Duration,
    rewind_pages: i64,
    stop: &AtomicBool,
    long_log: &AtomicBool,
) {
    let _ = conn.busy_timeout(Duration::from_secs(1));
    let (mut wait, mut log_before) = (every, None);
    while !stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(wait);
        match checkpoint_step(conn, rewind_pages, long_log) {
            Ok(log_pages) => {
                wait = next_wait(wait, every, log_before != Some(log_pages));
                log_before = Some(log_pages);
            }
            Err(e) => tracing::debug!(file = %path.display(), error = %e, "checkpoint deferred"),
        }
    }
    // The last one empties the log, so a stopped server leaves small files behind.
    let _ = checkpoint(conn, "TRUNCATE");
}

/// The wait before the next pass: `every` after a pass that found the log changed, else twice the
/// last wait, up to `IDLE_CHECKPOINT_EVERY`.
fn next_wait(wait: Duration, every: Duration, log_changed: bool) -> Duration {
    if log_changed {
        every
    } else {
        (wait * 2).min(IDLE_CHECKPOINT_EVERY.max(every))
    }
}

/// One pass: copies the log (PASSIVE: what no reader still needs, without waiting). Past
/// `rewind_pages`, copies again until little is left, and asks the writer to rewind the log.
/// Returns the log's length in pages when the pass began.
fn checkpoint_step(conn: &Connection, rewind_pages: i64, long_log: &AtomicBool) -> rusqlite::Result<i64> {
    let began_at = checkpoint(conn, "PASSIVE")?;
    let mut log_pages = began_at;
    if log_pages <= rewind_pages {
        return Ok(began_at);
    }
    // A pass copies the log as it was when it began: what the writer adds meanwhile is left for
    // the next one, which is shorter for having less to copy.
    for _ in 0..CATCH_UP_PASSES {
        let next = checkpoint(conn, "PASSIVE")?;
        let copied_since = next - log_pages;
        log_pages = next;
        if copied_since <= LEFT_FOR_THE_WRITER {
            break;
        }
    }
    long_log.store(true, Ordering::Relaxed);
    Ok(began_at)
}

/// Runs a checkpoint of `mode`: the log's length in pages, as it was when it began.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| row.get(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::scratch::Scratch;

    fn log_bytes(path: &Path) -> u64 {
        std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len())
    }

    fn insert_pages(conn: &Connection, rows: usize) {
        for _ in 0..rows {
            conn.execute("INSERT INTO t VALUES (zeroblob(4000))", []).unwrap();
        }
    }

    /// `.cargo/config.toml` builds SQLite without memory statistics: with them, each of its
    /// allocations took one process-wide mutex, which the dev server's six SQLite threads
    /// queued on (10 % of its saves per second). Statistics off, SQLite counts nothing.
    #[test]
    fn sqlite_keeps_no_memory_statistics() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (zeroblob(100000));")
            .unwrap();
        let counted: i64 = conn.query_row("SELECT length(v) FROM t", [], |row| row.get(0)).unwrap();
        assert_eq!(counted, 100_000);
        // SAFETY: sqlite3_memory_used takes no argument and only reads a counter.
        assert_eq!(unsafe { rusqlite::ffi::sqlite3_memory_used() }, 0);
    }

    #[test]
    fn the_thread_checkpoints_often_while_the_log_changes_and_backs_off_when_idle() {
        let mut waits = vec![CHECKPOINT_EVERY];
        for _ in 0..8 {
            waits.push(next_wait(*waits.last().unwrap(), CHECKPOINT_EVERY, false));
        }
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [10, 20, 40, 80, 160, 320, 500, 500, 500]);
        assert_eq!(
            next_wait(IDLE_CHECKPOINT_EVERY, CHECKPOINT_EVERY, true),
            CHECKPOINT_EVERY
        );
        let hourly = Duration::from_secs(3600);
        assert_eq!(next_wait(hourly, hourly, false), hourly, "never more often than asked");
    }

    #[test]
    fn commits_leave_the_log_to_the_thread_which_empties_it_when_it_stops() {
        let scratch = Scratch::new("wal-stop", "wal.db");
        let path = scratch.path();
        // A thread that does not checkpoint before it is stopped: the log then holds what the
        // commits left in it.
        let (conn, checkpointer) = open_checkpointed_every(path, Duration::from_secs(3600)).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        insert_pages(&conn, 1_200);
        let logged = log_bytes(path);
        assert!(
            logged > 1_500 * 4096,
            "a commit checkpointed (SQLite's default, at 1,000 pages): {logged} bytes of log"
        );
        drop(checkpointer);
        assert_eq!(log_bytes(path), 0, "the thread's last checkpoint emptied the log");
        let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1_200);
    }

    fn page_bytes(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "page_size", |row| row.get(0)).unwrap()
    }

    #[test]
    fn a_new_file_gets_small_pages_and_a_file_from_before_keeps_its_own() {
        let new = Scratch::new("pages-new", "wal.db");
        let (conn, _checkpointer) = open(new.path()).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        assert_eq!(page_bytes(&conn), i64::from(PAGE_BYTES));

        let old = Scratch::new("pages-old", "wal.db");
        let before = Connection::open(old.path()).unwrap();
        before
            .execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (v BLOB); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(before);
        let (conn, _checkpointer) = open(old.path()).unwrap();
        assert_eq!(page_bytes(&conn), 4096);
        let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn a_long_log_that_the_thread_cannot_catch_up_with_is_rewound_by_the_writer() {
        let scratch = Scratch::new("wal-rewind", "wal.db");
        let path = scratch.path();
        let (conn, checkpointer) = open_checkpointed_every(path, Duration::from_secs(3600)).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        insert_pages(&conn, 600);
        // The thread's pass while the writer is in the middle of a transaction: it copies what
        // was committed, and finds the log long.
        conn.execute_batch("BEGIN").unwrap();
        insert_pages(&conn, 1);
        let other = Connection::open(path).unwrap();
        checkpoint_step(&other, 100, &checkpointer.long_log).unwrap();
        assert!(
            checkpointer.long_log.load(Ordering::Relaxed),
            "a log past the limit is reported"
        );
        conn.execute_batch("COMMIT").unwrap();
        insert_pages(&conn, 300);
        let grown = log_bytes(path);
        insert_pages(&conn, 300);
        assert!(
            log_bytes(path) > grown,
            "the writes overlapped the pass: the log keeps growing"
        );

        checkpointer.rewind_if_long(&conn);
        assert!(!checkpointer.long_log.load(Ordering::Relaxed), "the request is taken");
        let grown = log_bytes(path);
        insert_pages(&conn, 300);
        assert_eq!(
            log_bytes(path),
            grown,
            "rewound: the writes went to the start of the log"
        );
        let rows: i64 = other.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1_501);

        checkpoint_step(&other, 100_000, &checkpointer.long_log).unwrap();
        assert!(
            !checkpointer.long_log.load(Ordering::Relaxed),
            "a short log is left to the thread"
        );
        drop((conn, other, checkpointer));
    }
}
