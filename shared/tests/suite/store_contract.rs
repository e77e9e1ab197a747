//! The store contract suite on the embedded SQLite store, in memory and on disk.

use rappel::adapters::sqlite::SqliteStore;
use rappel::testing::store_contract;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_meets_the_store_contract() {
    store_contract::run_all(|| async { SqliteStore::in_memory().unwrap() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_on_disk_meets_the_store_contract() {
    let dir = std::env::temp_dir().join(format!("rappel-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    store_contract::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir.join(format!("store-{n}.db"));
        let _ = std::fs::remove_file(&path);
        async move { SqliteStore::open(&path).unwrap() }
    })
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_meets_the_store_contract() {
    store_contract::run_all(|| async { rappel::adapters::memory::MemoryStore::new() }).await;
}
