//! A request's time. Every request (an EMR save, a patient action, a scheduler invocation) gets
//! `REQUEST_BUDGET`; each provider call is bounded by `PROVIDER_TIMEOUT` and by what is left, and
//! a send starts only while a whole provider call still fits. Several slow providers therefore
//! never add up past the functions' 15-second timeout: the request answers 503 in time and its
//! retry sends what is left.

use super::{Dependency, ServiceError};
use std::time::Duration;
use tokio::time::Instant;

/// The longest one provider call (email, text, schedule) may take before it counts as failed.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(8);

/// What one request may spend, well inside the functions' 15-second timeout (the store's own
/// calls are bounded at 6 s each, see `adapters::store_timeout`).
pub const REQUEST_BUDGET: Duration = Duration::from_secs(12);

/// The deadline of one request.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    /// A request starting now.
    pub fn start() -> Budget {
        Budget {
            deadline: Instant::now() + REQUEST_BUDGET,
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether a whole provider call still fits before the deadline.
    pub fn fits_a_send(&self) -> bool {
        self.remaining() >= PROVIDER_TIMEOUT
    }

    /// How long the next provider call may take.
    pub fn call_limit(&self) -> Duration {
        PROVIDER_TIMEOUT.min(self.remaining())
    }

    /// Runs a call to `dependency` within [`Budget::call_limit`]; a failure or a timeout
    /// becomes `Unavailable`, naming it.
    pub async fn call<T, E: std::fmt::Display>(
        &self,
        dependency: Dependency,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, ServiceError> {
        match tokio::time::timeout(self.call_limit(), call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(ServiceError::unavailable(dependency, e.to_string())),
            Err(_) => Err(ServiceError::unavailable(dependency, "timed out")),
        }
    }
}
