//! One thread per embedded SQLite database, running every statement and committing together the
//! work that arrives together (a group commit).
//!
//! Under the dev server's load, a save was four commits in three files, and each commit wrote the
//! pages it touched into the log again: about 44 KB a save, the commits and their locks a third of
//! the server's CPU. Requests also waited for a mutex on the runtime's own threads. Here a request
//! sends its work to the database's thread and awaits the answer. The thread opens a transaction,
//! runs every piece of work waiting (each in a savepoint, so one that fails undoes only itself),
//! commits once, then answers them all. A page the batch touches many times is logged once, and the
//! waiting is first come, first served.
//!
//! Nothing is answered before its commit: an answer means the work is in the database, as it did
//! with a commit per request. A commit that fails fails every piece of work in it.
use super::sqlite_files::Checkpointer;
use rusqlite::Connection;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{mpsc, Mutex};
use tokio::sync::oneshot;

/// The most pieces of work in one transaction: a bound on what one failed commit can fail.
const MOST_PER_COMMIT: usize = 512;

/// How many prepared statements a connection keeps: more than the store's, the outbox's and the
/// scheduler's together, with the batches' own (rusqlite keeps 16, and re-parses past that).
const STATEMENTS_KEPT: usize = 64;

/// The work could not be committed: the transaction failed, or the thread stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCommitted(pub String);

impl std::fmt::Display for NotCommitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sqlite: not committed: {}", self.0)
    }
}

/// What a piece of work leaves for after the commit: whether to keep its writes, and how to
/// answer (told the commit's failure, if any).
struct Done {
    keep: bool,
    answer: Answer,
}

/// Answers a piece of work once its batch is over: `Some` failure if it was not committed.
type Answer = Box<dyn FnOnce(Option<&NotCommitted>) + Send>;

/// A piece of work waiting in the queue, with the way to answer it.
trait Job: Send {
    /// Runs it; what to do after the commit.
    fn run(self: Box<Self>, conn: &Connection) -> Done;
    /// Answers without running it: its transaction could not begin.
    fn refuse(self: Box<Self>, failed: &NotCommitted);
}

struct Pending<W, A, T, E> {
    work: W,
    answer: A,
    result: PhantomData<fn() -> (T, E)>,
}

impl<W, A, T, E> Job for Pending<W, A, T, E>
where
    W: FnOnce(&Connection) -> Result<T, E> + Send,
    A: FnOnce(Result<T, E>) + Send + 'static,
    T: Send + 'static,
    E: From<NotCommitted> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Done {
        let Pending { work, answer, .. } = *self;
        let result = work(conn);
        Done {
            keep: result.is_ok(),
            answer: Box::new(move |failed: Option<&NotCommitted>| match failed {
                Some(failure) => answer(Err(failure.clone().into())),
                None => answer(result),
            }),
        }
    }

    fn refuse(self: Box<Self>, failed: &NotCommitted) {
        (self.answer)(Err(failed.clone().into()))
    }
}

type Work = Box<dyn Job>;

/// Where the work on one connection runs.
pub struct SqliteWorker {
    mode: Mode,
}

enum Mode {
    /// A thread of its own, which groups commits: its queue and the thread (taken when dropped).
    Thread(Option<(mpsc::Sender<Work>, std::thread::JoinHandle<()>)>),
    /// The caller's thread, one transaction per piece of work.
    Inline(Mutex<Connection>),
}

impl SqliteWorker {
    /// The file at `path` (created if need be) on a thread of its own, named `sqlite-<name>`, its
    /// log checkpointed in the background ([`super::sqlite_files`]).
    pub fn open(path: &Path, name: &str) -> Result<SqliteWorker, NotCommitted> {
        let (conn, log) =
            super::sqlite_files::open(path).map_err(|e| NotCommitted(format!("open {}: {e}", path.display())))?;
        Self::start(conn, name, Some(log)).map_err(|e| NotCommitted(format!("start its thread: {e}")))
    }

    /// A private database in memory, its work on the caller's thread (see [`SqliteWorker::inline`]).
    pub fn in_memory() -> Result<SqliteWorker, NotCommitted> {
        Ok(Self::inline(Connection::open_in_memory().map_err(failure)?))
    }

    /// Starts the thread, which owns `conn` (and `log`, the file's checkpoints) from now on.
    pub fn start(conn: Connection, name: &str, log: Option<Checkpointer>) -> std::io::Result<SqliteWorker> {
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        let (work, queue) = mpsc::channel::<Work>();
        let thread = std::thread::Builder::new()
            .name(format!("sqlite-{name}"))
            .spawn(move || {
                serve(&conn, &queue, log.as_ref());
                // The connection closes before the checkpoints' last one, which empties the log.
                drop(conn);
                drop(log);
            })?;
        Ok(SqliteWorker {
            mode: Mode::Thread(Some((work, thread))),
        })
    }

    /// Runs the work on the caller's thread, one commit each: for a database in memory, which has
    /// no log to write and so nothing to group. (Tests also run on tokio's paused clock, which
    /// would take a wait for another thread for idleness and jump ahead.)
    pub fn inline(conn: Connection) -> SqliteWorker {
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        SqliteWorker {
            mode: Mode::Inline(Mutex::new(conn)),
        }
    }

    /// Runs `work` on the connection, inside a transaction; answers once it is committed. An `Err`
    /// from `work` undoes its writes (and only its own).
    pub async fn run<T, E>(&self, work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<NotCommitted> + Send + 'static,
    {
        if matches!(self.mode, Mode::Inline(_)) {
            return self.run_blocking(work);
        }
        let (answer, answered) = oneshot::channel();
        self.send(work, move |result| {
            let _ = answer.send(result);
        })?;
        answered.await.unwrap_or_else(|_| Err(lost().into()))
    }

    /// [`SqliteWorker::run`] for callers outside the runtime: blocks the calling thread.
    pub fn run_blocking<T, E>(&self, work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<NotCommitted> + Send + 'static,
    {
        let (answer, answered) = mpsc::sync_channel(1);
        self.send(work, move |result| {
            let _ = answer.send(result);
        })?;
        answered.recv().unwrap_or_else(|_| Err(lost().into()))
    }

    fn send<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        answer: impl FnOnce(Result<T, E>) + Send + 'static,
    ) -> Result<(), E>
    where
        T: Send + 'static,
        E: From<NotCommitted> + Send + 'static,
    {
        let pending: Work = Box::new(Pending {
            work,
            answer,
            result: PhantomData,
        });
        match &self.mode {
            Mode::Thread(running) => running
                .as_ref()
                .and_then(|(queue, _)| queue.send(pending).ok())
                .ok_or_else(|| NotCommitted("the database's thread has stopped".into()).into()),
            Mode::Inline(conn) => {
                // A panic while holding the lock leaves no transaction open: the batch is closed.
                let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                run_batch(&conn, pending, || None);
                Ok(())
            }
        }
    }
}

fn lost() -> NotCommitted {
    NotCommitted("the work panicked or the thread stopped".into())
}

impl Drop for SqliteWorker {
    fn drop(&mut self) {
        if let Mode::Thread(running) = &mut self.mode {
            if let Some((queue, thread)) = running.take() {
                // Closing the queue stops the thread once it has committed what it holds.
                drop(queue);
                let _ = thread.join();
            }
        }
    }
}

/// The thread: a transaction per batch of waiting work, until the queue closes; between two,
/// the log's rewind when it is due.
fn serve(conn: &Connection, queue: &mpsc::Receiver<Work>, log: Option<&Checkpointer>) {
    while let Ok(first) = queue.recv() {
        run_batch(conn, first, || queue.try_recv().ok());
        if let Some(log) = log {
            log.rewind_if_long(conn);
        }
    }
}

/// Runs `first` and whatever `more` has waiting (up to [`MOST_PER_COMMIT`]) in one transaction,
/// then answers them all.
fn run_batch(conn: &Connection, first: Work, mut more: impl FnMut() -> Option<Work>) {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        first.refuse(&failure(e));
        return;
    }
    let mut answers = Vec::new();
    let mut next = Some(first);
    let mut taken = 0;
    while let Some(work) = next.take() {
        answers.extend(run_one(conn, work));
        if conn.is_autocommit() {
            // An error SQLite answers by rolling the whole transaction back (a full disk, an
            // I/O error): nothing of the batch is written. What waits goes in the next one.
            let rolled_back = NotCommitted("the transaction was rolled back by an error".into());
            answers.into_iter().for_each(|answer| answer(Some(&rolled_back)));
            return;
        }
        taken += 1;
        if taken < MOST_PER_COMMIT {
            next = more();
        }
    }
    let committed = control(conn, "COMMIT").map_err(failure);
    if committed.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for answer in answers {
        answer(committed.as_ref().err());
    }
}

/// Runs one piece of work in a savepoint of its own; its answer, unless it panicked (its caller
/// then hears that the work did not complete).
fn run_one(conn: &Connection, work: Work) -> Option<Answer> {
    if let Err(e) = control(conn, "SAVEPOINT work") {
        work.refuse(&failure(e));
        return None;
    }
    let done = catch_unwind(AssertUnwindSafe(|| work.run(conn)));
    let keep = matches!(&done, Ok(Done { keep: true, .. }));
    let closed = if keep {
        control(conn, "RELEASE work")
    } else {
        control(conn, "ROLLBACK TO work").and_then(|()| control(conn, "RELEASE work"))
    };
    match (done, closed) {
        (Ok(done), Ok(())) => Some(done.answer),
        (Ok(done), Err(e)) => {
            (done.answer)(Some(&failure(e)));
            None
        }
        (Err(_panicked), _) => None,
    }
}

/// Runs one of the statements that open and close transactions and savepoints, prepared once
/// per connection: parsing them again for every piece of work was 2 % of the dev server's CPU.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn failure(e: rusqlite::Error) -> NotCommitted {
    NotCommitted(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::scratch::Scratch;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    /// A worker on its own thread over a new file with table `t`, and a second connection to
    /// the file, which sees only what is committed (the file goes once all three are dropped).
    fn file_worker() -> (Scratch, SqliteWorker, Connection) {
        let scratch = Scratch::new("worker", "worker.db");
        let conn = Connection::open(scratch.path()).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v TEXT PRIMARY KEY);")
            .unwrap();
        let outside = Connection::open(scratch.path()).unwrap();
        (scratch, SqliteWorker::start(conn, "test", None).unwrap(), outside)
    }

    fn rows(conn: &Connection) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    fn insert(v: &'static str) -> impl FnOnce(&Connection) -> Result<(), NotCommitted> + Send + 'static {
        move |conn| {
            conn.execute("INSERT INTO t VALUES (?1)", [v])
                .map(drop)
                .map_err(failure)
        }
    }

    /// Polls `work` once, so that it is in the worker's queue.
    fn queue<F: Future>(work: std::pin::Pin<&mut F>) {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            matches!(work.poll(&mut cx), Poll::Pending),
            "answered before its batch ran"
        );
    }

    /// Work that writes row "a", then holds the thread until the gate returned is opened: what is
    /// queued meanwhile waits for the same batch.
    fn holding_the_thread(
        worker: &SqliteWorker,
    ) -> (impl Future<Output = Result<(), NotCommitted>> + '_, mpsc::Sender<()>) {
        let (open_gate, gate) = mpsc::channel::<()>();
        let first = worker.run(move |conn| {
            insert("a")(conn)?;
            gate.recv().unwrap();
            Ok(())
        });
        (first, open_gate)
    }

    #[tokio::test]
    async fn work_that_fails_in_a_batch_undoes_only_its_own_writes_and_the_rest_commits() {
        let (_scratch, worker, outside) = file_worker();
        let (first, open_gate) = holding_the_thread(&worker);
        let mut first = std::pin::pin!(first);
        queue(first.as_mut());
        let mut kept = std::pin::pin!(worker.run(insert("b")));
        let mut undone = std::pin::pin!(worker.run(|conn: &Connection| {
            insert("c")(conn)?;
            Err::<(), _>(NotCommitted("refused after writing".into()))
        }));
        let mut seen = std::pin::pin!(worker.run(|conn: &Connection| Ok::<_, NotCommitted>(rows(conn))));
        queue(kept.as_mut());
        queue(undone.as_mut());
        queue(seen.as_mut());
        open_gate.send(()).unwrap();

        first.await.unwrap();
        kept.await.unwrap();
        assert_eq!(undone.await, Err(NotCommitted("refused after writing".into())));
        assert_eq!(
            seen.await.unwrap(),
            ["a", "b"],
            "the batch saw its own work but not the undone row"
        );
        assert_eq!(rows(&outside), ["a", "b"], "answered only once committed");
    }

    #[tokio::test]
    async fn a_batch_is_invisible_outside_until_its_commit() {
        let (scratch, worker, outside) = file_worker();
        let outside_path = scratch.path().to_owned();
        // The second piece of work looks from outside while the first one's row is written but
        // not committed (they share a batch because the first holds the thread).
        let (first, open_gate) = holding_the_thread(&worker);
        let mut first = std::pin::pin!(first);
        queue(first.as_mut());
        let mut look = std::pin::pin!(worker
            .run(move |_conn: &Connection| { Ok::<_, NotCommitted>(rows(&Connection::open(&outside_path).unwrap())) }));
        queue(look.as_mut());
        open_gate.send(()).unwrap();
        first.await.unwrap();
        assert!(
            look.await.unwrap().is_empty(),
            "the first row was visible before its commit"
        );
        assert_eq!(rows(&outside), ["a"]);
    }

    #[tokio::test]
    async fn work_whose_error_rolls_the_transaction_back_fails_its_whole_batch_and_not_the_next() {
        let (_scratch, worker, outside) = file_worker();
        let (first, open_gate) = holding_the_thread(&worker);
        let mut first = std::pin::pin!(first);
        queue(first.as_mut());
        // What SQLite does on a full disk or an I/O error, here on purpose.
        let mut rolling_back =
            std::pin::pin!(worker.run(|conn: &Connection| { conn.execute_batch("ROLLBACK").map_err(failure) }));
        queue(rolling_back.as_mut());
        open_gate.send(()).unwrap();
        assert!(first.await.is_err(), "answered as written, but rolled back");
        assert!(rolling_back.await.is_err());
        worker.run(insert("b")).await.unwrap();
        assert_eq!(rows(&outside), ["b"]);
    }

    #[tokio::test]
    async fn work_that_panics_is_answered_as_not_committed_and_the_thread_goes_on() {
        let (_scratch, worker, outside) = file_worker();
        let panicked = worker
            .run(|conn: &Connection| {
                insert("a")(conn)?;
                panic!("a bug in the work");
                #[allow(unreachable_code)]
                Ok::<(), NotCommitted>(())
            })
            .await;
        assert!(panicked.is_err());
        worker.run(insert("b")).await.unwrap();
        assert_eq!(rows(&outside), ["b"], "the panicking work's row was undone");
    }

    #[test]
    fn work_in_memory_runs_on_the_callers_thread_with_the_same_undo() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v TEXT PRIMARY KEY);").unwrap();
        let worker = SqliteWorker::inline(conn);
        let caller = std::thread::current().id();
        let ran_on = worker
            .run_blocking(|_: &Connection| Ok::<_, NotCommitted>(std::thread::current().id()))
            .unwrap();
        assert_eq!(ran_on, caller);
        let undone = worker.run_blocking(|conn: &Connection| {
            insert("a")(conn)?;
            Err::<(), _>(NotCommitted("refused".into()))
        });
        assert!(undone.is_err());
        let left = worker
            .run_blocking(|conn: &Connection| Ok::<_, NotCommitted>(rows(conn)))
            .unwrap();
        assert!(left.is_empty());
    }
}
