//! How the embedded SQLite files are opened: a write-ahead log, checkpointed in the background.
//!
//! By default SQLite checkpoints a WAL file from inside the commit that takes it past 1,000
//! pages: that commit copies the pages into the database and waits for two `fsync`s, while the
//! adapter's lock holds every other request back. On the dev server under load, checkpoints took
//! 11 % of the CPU and made nearly all of the slowest answers (a single client's p99 was 7 ms
//! against a median of 0.4 ms). Here commits never checkpoint. A thread of its own, with a second
//! connection, copies the log every `CHECKPOINT_EVERY` (WAL lets that run beside readers and the
//! writer), and rewinds it once it passes `REWIND_PAGES` (a moment's wait for the writer, rare
//! enough to stay out of the p99). Durability is SQLite's `synchronous = NORMAL`: the checkpoints
//! sync, commits do not (a crash of the machine may lose the last moments, never the file).
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the background thread checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// The log's size, in pages, past which the thread rewinds it (64 MiB): a log that writes keep
/// growing is only rewound by a checkpoint that holds the writer back.
const REWIND_PAGES: i64 = 16_000;
/// How many steps of `BUSY_STEP` a writer waits for the thread's rewind (or anything else
/// holding the file) before it fails: at least 5 s, more with the timer's slack.
const BUSY_STEPS: i32 = 100_000;
const BUSY_STEP: Duration = Duration::from_micros(50);

/// Opens `path` in WAL mode, its log checkpointed by the [`Checkpointer`] returned.
pub fn open(path: &Path) -> rusqlite::Result<(Connection, Checkpointer)> {
    open_checkpointed_every(path, CHECKPOINT_EVERY)
}

fn open_checkpointed_every(path: &Path, every: Duration) -> rusqlite::Result<(Connection, Checkpointer)> {
    let conn = Connection::open(path)?;
    // Short steps rather than SQLite's own (1, 2, 5, 10 ms…): a rewind takes a few milliseconds.
    conn.busy_handler(Some(wait_a_step))?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let checkpointer = Checkpointer::start(path.to_owned(), every);
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
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread; without one (it could not start, or open the file), `thread` is `None`.
    fn start(path: PathBuf, every: Duration) -> Checkpointer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (opened, ready) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || match Connection::open(&path) {
                Ok(conn) => {
                    let _ = opened.send(true);
                    checkpoint_until(&conn, &path, every, &flag);
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
        Checkpointer { stop, thread }
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

fn checkpoint_until(conn: &Connection, path: &Path, every: Duration, stop: &AtomicBool) {
    let _ = conn.busy_timeout(Duration::from_secs(1));
    while !stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(every);
        if let Err(e) = checkpoint_step(conn, REWIND_PAGES) {
            tracing::debug!(file = %path.display(), error = %e, "checkpoint deferred");
        }
    }
    // The last one empties the log, so a stopped server leaves small files behind.
    let _ = checkpoint(conn, "TRUNCATE");
}

/// One pass: copies the log (PASSIVE: what no reader still needs, without waiting), then
/// rewinds it if it has grown past `rewind_pages` (the writer then waits only for the rest).
fn checkpoint_step(conn: &Connection, rewind_pages: i64) -> rusqlite::Result<()> {
    if checkpoint(conn, "PASSIVE")? > rewind_pages {
        checkpoint(conn, "RESTART")?;
    }
    Ok(())
}

/// Runs a checkpoint of `mode`: the log's size in pages, as it was.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| row.get(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rappel-{name}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("wal.db")
    }

    fn log_bytes(path: &Path) -> u64 {
        std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len())
    }

    fn insert_pages(conn: &Connection, rows: usize) {
        for _ in 0..rows {
            conn.execute("INSERT INTO t VALUES (zeroblob(4000))", []).unwrap();
        }
    }

    #[test]
    fn commits_leave_the_log_to_the_thread_which_empties_it_when_it_stops() {
        let path = scratch("wal-stop");
        // A thread that does not checkpoint before it is stopped: the log then holds what the
        // commits left in it.
        let (conn, checkpointer) = open_checkpointed_every(&path, Duration::from_secs(3600)).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        insert_pages(&conn, 1_200);
        let logged = log_bytes(&path);
        assert!(
            logged > 1_500 * 4096,
            "a commit checkpointed (SQLite's default, at 1,000 pages): {logged} bytes of log"
        );
        drop(checkpointer);
        assert_eq!(log_bytes(&path), 0, "the thread's last checkpoint emptied the log");
        let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1_200);
        drop(conn);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_step_copies_the_log_so_that_later_writes_reuse_it() {
        let path = scratch("wal-rewind");
        let (conn, _checkpointer) = open_checkpointed_every(&path, Duration::from_secs(3600)).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        insert_pages(&conn, 600);
        let grown = log_bytes(&path);
        insert_pages(&conn, 300);
        assert!(log_bytes(&path) > grown, "without a step the log only grows");
        let grown = log_bytes(&path);
        let other = Connection::open(&path).unwrap();
        checkpoint_step(&other, 100).unwrap();
        insert_pages(&conn, 600);
        assert_eq!(
            log_bytes(&path),
            grown,
            "rewound: the writes went to the start of the log"
        );
        let rows: i64 = other.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1_500);
        drop((conn, other));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
