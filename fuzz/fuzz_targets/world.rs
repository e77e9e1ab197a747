//! What the end-to-end targets share: one embedded Rappel per process, built once, and the
//! runtime that drives it (a target is called millions of times; building either per input would
//! be all it measured).

use chrono::{DateTime, Utc};
use rappel::testing::Harness;
use std::future::Future;

/// The runtime and the harness a target's inputs run on.
pub struct World {
    pub runtime: tokio::runtime::Runtime,
    pub harness: Harness,
}

impl World {
    /// A harness whose clock reads `now`, made ready by `prepare` (types, clinic settings, saves).
    pub fn new<F, Fut>(now: DateTime<Utc>, prepare: F) -> World
    where
        F: FnOnce(Harness) -> Fut,
        Fut: Future<Output = Harness>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let harness = runtime.block_on(async { prepare(Harness::new(now).await).await });
        World { runtime, harness }
    }
}
