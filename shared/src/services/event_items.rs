//! The items of one Lambda event (SNS records, CloudWatch Logs lines), taken one by one: what
//! cannot be read is logged without its content and skipped (a retry would not read it
//! better); a failure a retry may fix is returned once the other items were taken, so Lambda's
//! retry delivers the whole event again (the services make taking an item twice harmless).

use super::ServiceError;
use std::fmt::Display;
use std::future::Future;

/// What taking the items gave: each taken item's outcome, in order, and how many were skipped.
pub(super) struct Taken<O> {
    pub outcomes: Vec<O>,
    pub skipped: usize,
}

/// Takes `items`, `at_once` at a time (in order within each group), with `take`; `what` names
/// them in logs.
pub(super) async fn take_each<T, E, O, F, Fut>(
    items: Vec<Result<T, E>>,
    at_once: usize,
    what: &'static str,
    take: F,
) -> Result<Taken<O>, ServiceError>
where
    E: Display,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<O, ServiceError>>,
{
    let mut taken = Taken {
        outcomes: Vec::new(),
        skipped: 0,
    };
    let mut readable = Vec::new();
    for item in items {
        match item {
            Ok(item) => readable.push(item),
            Err(e) => {
                tracing::warn!(error = %e, what, "event item skipped");
                taken.skipped += 1;
            }
        }
    }
    let mut results = Vec::with_capacity(readable.len());
    let mut readable = readable.into_iter().peekable();
    while readable.peek().is_some() {
        let group = readable.by_ref().take(at_once.max(1)).map(&take);
        results.extend(futures_util::future::join_all(group).await);
    }
    let mut retry = None;
    for result in results {
        match result {
            Ok(outcome) => taken.outcomes.push(outcome),
            Err(e @ ServiceError::Unavailable { .. }) => {
                tracing::warn!(error = %e, what, "event item not taken; Lambda retries the event");
                retry = Some(e);
            }
            Err(e) => {
                tracing::warn!(error = %e, what, "event item not taken");
                taken.skipped += 1;
            }
        }
    }
    match retry {
        Some(e) => Err(e),
        None => Ok(taken),
    }
}
