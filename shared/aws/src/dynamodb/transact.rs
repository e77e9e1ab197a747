//! Transactions that ride out DynamoDB's contention answers.
//!
//! DynamoDB cancels a transaction with `TransactionConflict` when another transaction holds one
//! of its items, and with `ThrottlingError` (or a throttling exception) when a partition is hot.
//! Neither means the write is wrong: it is tried again after a jittered pause. A failed condition
//! is an answer, returned with the items that failed; anything else is the store being
//! unavailable. A lost answer (HTTP 500 after the write committed) is retried: by the SDK, with
//! the same idempotency token, which DynamoDB answers as a success; or, for a transaction that
//! carries events, here, as a new request whose conditions then fail, which every caller reads as
//! "already done" (a save re-reads and finds its write, a completion finds its claim ended).
//!
//! Transactions that carry events are built anew for each attempt, so their cursors are stamped
//! when the attempt is sent (see `feed.rs`): the SDK's own retries, which would send an old stamp
//! again, are off for them, and throttling, 5xx answers and timeouts are retried here instead.

use super::{unavailable, DynamoStore};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use rappel::ports::{StoreError, StoreResult};
use std::time::Duration;

/// How long contention is ridden out before the write gives up (the store bounds every call at 6 s).
const CONTENTION_BUDGET: Duration = Duration::from_secs(4);
/// The first pause after contention; it doubles on each retry, up to `MAX_PAUSE`, with full jitter.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// Why a transaction did not commit.
#[derive(Debug)]
pub(super) enum TransactError {
    /// These items (by position) failed their condition; nothing was written.
    Conditions(Vec<bool>),
    /// DynamoDB failed or kept refusing.
    Unavailable(StoreError),
}

/// What a transaction's error says.
#[derive(Debug, PartialEq)]
pub(super) enum Refusal {
    Conditions(Vec<bool>),
    Contention,
    /// No answer, or a 5xx: the write may or may not have happened (the SDK would retry it).
    Transient,
    Other,
}

/// Reads a `TransactWriteItems` error.
pub(super) fn refusal(error: &SdkError<TransactWriteItemsError, HttpResponse>) -> Refusal {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            let codes: Vec<&str> = e
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            classify_reasons(&codes)
        }
        Some(e)
            if e.is_provisioned_throughput_exceeded_exception()
                || e.is_throttling_exception()
                || e.is_request_limit_exceeded() =>
        {
            Refusal::Contention
        }
        _ if answer_lost(error) => Refusal::Transient,
        _ => Refusal::Other,
    }
}

/// Whether the request got no answer (timeout, connection lost) or a server error.
fn answer_lost<E>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => e.raw().status().is_server_error(),
        _ => false,
    }
}

/// A cancellation's reason codes, one per item: failed conditions win, since they are final.
pub(super) fn classify_reasons(codes: &[&str]) -> Refusal {
    if codes.contains(&"ConditionalCheckFailed") {
        Refusal::Conditions(codes.iter().map(|c| *c == "ConditionalCheckFailed").collect())
    } else if codes.iter().any(|c| {
        matches!(
            *c,
            "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
        )
    }) {
        Refusal::Contention
    } else {
        Refusal::Other
    }
}

/// A jittered pause before contention retry number `attempt` (0-based).
async fn pause(attempt: u32) {
    let ceiling = FIRST_PAUSE.saturating_mul(1 << attempt.min(10)).min(MAX_PAUSE);
    let millis = rand::random_range(0..=ceiling.as_millis() as u64);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

impl DynamoStore {
    /// Commits `items` as one transaction, retrying contention for up to `CONTENTION_BUDGET`.
    pub(super) async fn transact(
        &self,
        what: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), TransactError> {
        self.transact_attempts(what, false, || Ok(items.clone())).await
    }

    /// Commits the items `items_now` builds, building them again for each attempt (their event
    /// cursors are stamped when it is sent), with every retry made here rather than in the SDK.
    pub(super) async fn transact_stamped(
        &self,
        what: &'static str,
        items_now: impl Fn() -> StoreResult<Vec<TransactWriteItem>>,
    ) -> Result<(), TransactError> {
        self.transact_attempts(what, true, items_now).await
    }

    async fn transact_attempts(
        &self,
        what: &'static str,
        stamped: bool,
        items_now: impl Fn() -> StoreResult<Vec<TransactWriteItem>>,
    ) -> Result<(), TransactError> {
        let started = tokio::time::Instant::now();
        let mut attempt = 0;
        loop {
            let request = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items_now().map_err(TransactError::Unavailable)?));
            let sent = if stamped {
                request
                    .customize()
                    .config_override(
                        // Whatever the client's configuration: an attempt that outlives the
                        // functions' 3 s is given up, as the feed's lag counts on.
                        aws_sdk_dynamodb::config::Builder::default()
                            .retry_config(RetryConfig::disabled())
                            .timeout_config(crate::sdk::timeouts()),
                    )
                    .send()
                    .await
            } else {
                request.send().await
            };
            let error = match sent {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let retried = match refusal(&error) {
                Refusal::Conditions(failed) => return Err(TransactError::Conditions(failed)),
                Refusal::Contention => true,
                // Without the SDK's retries, ours stand in for them (a lost answer included: the
                // retry then finds its conditions failed, which the caller reads as done).
                Refusal::Transient => stamped,
                Refusal::Other => false,
            };
            if !retried || started.elapsed() >= CONTENTION_BUDGET {
                return Err(TransactError::Unavailable(unavailable(what)(error)));
            }
            tracing::debug!(what, attempt, "transaction contended or unanswered; retrying");
            pause(attempt).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_or_throttled_item_is_contention_and_a_failed_condition_is_final() {
        assert_eq!(classify_reasons(&["None", "TransactionConflict"]), Refusal::Contention);
        assert_eq!(classify_reasons(&["ThrottlingError", "None"]), Refusal::Contention);
        assert_eq!(
            classify_reasons(&["ConditionalCheckFailed", "TransactionConflict"]),
            Refusal::Conditions(vec![true, false])
        );
        assert_eq!(classify_reasons(&["None", "ValidationError"]), Refusal::Other);
    }
}
