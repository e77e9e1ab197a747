//! Optimistic concurrency: a write that lost a race with another writer of the same appointment
//! reads again and plans again.

use super::{Dependency, ServiceError};
use std::future::Future;

/// How many times one request plans again after losing a race. Each lost race means another
/// writer made progress, so a handful of attempts is plenty; more means something is wrong.
const ATTEMPTS: usize = 16;

/// Runs `attempt` (read, plan, conditional write) until it is not overtaken: `Ok(None)` means a
/// concurrent writer changed the appointment first. Gives up with a retryable error naming
/// `what` after [`ATTEMPTS`].
pub(super) async fn until_not_overtaken<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ServiceError>>,
{
    for _ in 0..ATTEMPTS {
        if let Some(done) = attempt().await? {
            return Ok(done);
        }
    }
    Err(ServiceError::unavailable(
        Dependency::ConcurrentRequests,
        format!("too many concurrent changes to {what}"),
    ))
}
