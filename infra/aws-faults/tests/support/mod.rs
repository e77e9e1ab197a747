//! A moto server on a free loopback port, started for the tests and killed with the last of them,
//! and SDK configurations pointing at it or at a proxy in front of it.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use std::sync::{Arc, Mutex, Weak};

pub use rappel_aws_faults::moto::Moto;

static SHARED: Mutex<Weak<Moto>> = Mutex::new(Weak::new());

/// The moto server the running tests share, started if none is. Each test uses its own table
/// and names.
pub fn shared_moto() -> Arc<Moto> {
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(moto) = shared.upgrade() {
        return moto;
    }
    let moto = Arc::new(Moto::start());
    *shared = Arc::downgrade(&moto);
    moto
}

/// An SDK configuration for `endpoint` (moto, or a proxy in front of it) with `retry`.
pub async fn sdk(endpoint: &str, retry: RetryConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("ca-central-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "t"))
        .retry_config(retry)
        .load()
        .await
}

/// One attempt per call: what the SDK makes of exactly one answer.
pub async fn sdk_one_attempt(endpoint: &str) -> SdkConfig {
    sdk(endpoint, RetryConfig::disabled()).await
}
