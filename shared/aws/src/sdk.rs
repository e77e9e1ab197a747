//! The AWS SDK configuration every function starts with, made cheap to build.
//!
//! `aws_config::load_defaults` spends most of a function's start-up on two things it does not
//! need in Lambda (measured in docs/PERFORMANCE.md): reading every certificate under the system's
//! CA directory (about 300 files on Debian) to build the HTTPS client, and building the default
//! credential and region chains (an STS client among them) that end up reading the same
//! environment variables Lambda sets. Here the HTTPS client trusts the Amazon Trust Services roots
//! every AWS endpoint chains to (embedded, five certificates), and region and credentials are read
//! from the environment Lambda (or `cargo lambda watch`) provides. Nothing is deferred: the client
//! is built, not merely planned, before the first request.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use std::time::Duration;

/// The roots AWS service endpoints' certificates chain to: Amazon Root CA 1–4 and the Starfield
/// Services G2 root that cross-signs them.
const AMAZON_TRUST_SERVICES: &str = include_str!("sdk/amazon-trust-services.pem");

/// `RAPPEL_TLS_ROOTS=system` trusts the system's CA store instead (an HTTPS endpoint that is not
/// AWS's own, such as a TLS-terminating proxy).
const ROOTS_VARIABLE: &str = "RAPPEL_TLS_ROOTS";

/// Which certificates the HTTPS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The embedded Amazon Trust Services roots (the default).
    AmazonTrustServices,
    /// The system's CA store, as `aws_config` does by default.
    System,
}

impl Roots {
    /// From `RAPPEL_TLS_ROOTS` (`amazon`, the default, or `system`).
    pub fn from_env() -> Result<Roots, String> {
        Roots::parse(std::env::var(ROOTS_VARIABLE).ok().as_deref())
    }

    /// From the variable's value, if it is set.
    fn parse(value: Option<&str>) -> Result<Roots, String> {
        match value {
            None | Some("") | Some("amazon") => Ok(Roots::AmazonTrustServices),
            Some("system") => Ok(Roots::System),
            Some(other) => Err(format!("{ROOTS_VARIABLE}: expected amazon or system, not {other:?}")),
        }
    }
}

/// The HTTPS client for every SDK client of a function.
pub fn https_client(roots: Roots) -> aws_sdk_dynamodb::config::SharedHttpClient {
    let trust = match roots {
        Roots::AmazonTrustServices => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes()),
        Roots::System => TrustStore::default(),
    };
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a trust store without custom server names is always valid");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// The SDK configuration for an operator's tool (`rappel-admin`): the whole default chain of
/// region and credentials (profiles, SSO, …), the system's CA store, over Rappel's HTTPS client.
pub async fn load_for_tools() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(Roots::System))
        .load()
        .await
}

/// The SDK configuration of a function: every AWS call bounded (so a hung dependency becomes a
/// 503 or a Scheduler retry well inside the functions' 15-second timeout), region and
/// credentials from the environment Lambda sets (as do `cargo lambda watch` and `sam local`),
/// `AWS_ENDPOINT_URL` honoured for a local emulator. It is built by hand rather than by
/// `aws_config`'s loader, whose default chains (profiles, SSO, IMDS, STS) a function never uses
/// and would otherwise carry in its package (docs/PERFORMANCE.md).
pub fn load(roots: Roots) -> Result<SdkConfig, String> {
    load_from(roots, |name| std::env::var(name).ok())
}

/// The functions' timeouts: connecting 2 s, an attempt 3 s (the event feed's lag counts on it,
/// see `dynamodb/feed.rs`), a call with its retries 7 s.
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(7))
        .build()
}

/// [`load`], reading the variables through `lookup`.
fn load_from(roots: Roots, lookup: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, String> {
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .ok_or("AWS_REGION is not set (Lambda sets it; so does `cargo lambda watch`)")?;
    let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) else {
        return Err("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them)".to_owned());
    };
    let credentials = Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "environment");
    let timeouts = timeouts();
    let sleep = aws_smithy_async::rt::sleep::default_async_sleep().ok_or("no async sleep for the tokio runtime")?;
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(https_client(roots))
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::standard())
        .sleep_impl(sleep)
        .time_source(aws_smithy_async::time::SharedTimeSource::default());
    if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_roots_are_the_five_amazon_trust_services_certificates() {
        use rustls_pki_types::pem::PemObject;
        let certificates: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES.as_bytes())
            .collect::<Result<_, _>>()
            .expect("valid PEM");
        assert_eq!(certificates.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(certificates);
        assert_eq!((valid, invalid), (5, 0));
    }

    #[tokio::test]
    async fn a_function_takes_region_credentials_and_endpoint_from_its_environment() {
        let lambda = |name: &str| {
            let value = match name {
                "AWS_REGION" => "ca-central-1",
                "AWS_ACCESS_KEY_ID" => "AKIDEXAMPLE",
                "AWS_SECRET_ACCESS_KEY" => "secret",
                "AWS_SESSION_TOKEN" => "token",
                "AWS_ENDPOINT_URL" => "http://127.0.0.1:5000",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let config = load_from(Roots::AmazonTrustServices, lambda).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("ca-central-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(config.sleep_impl().is_some(), "retries and timeouts need a sleep");
        use aws_credential_types::provider::ProvideCredentials;
        let credentials = config
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(
            (credentials.access_key_id(), credentials.session_token()),
            ("AKIDEXAMPLE", Some("token"))
        );
        let unset = |name: &str| lambda(name).filter(|_| name != "AWS_SECRET_ACCESS_KEY");
        let error = load_from(Roots::AmazonTrustServices, unset).unwrap_err();
        assert!(error.contains("AWS_SECRET_ACCESS_KEY"), "{error}");
        let no_region = |name: &str| lambda(name).filter(|_| name != "AWS_REGION");
        assert!(load_from(Roots::AmazonTrustServices, no_region)
            .unwrap_err()
            .contains("AWS_REGION"));
    }

    #[test]
    fn the_roots_setting_says_what_it_expects() {
        assert_eq!(Roots::parse(Some("system")), Ok(Roots::System));
        assert_eq!(Roots::parse(Some("amazon")), Ok(Roots::AmazonTrustServices));
        assert_eq!(Roots::parse(Some("")), Ok(Roots::AmazonTrustServices));
        assert_eq!(Roots::parse(None), Ok(Roots::AmazonTrustServices));
        assert!(Roots::parse(Some("mozilla")).unwrap_err().contains("amazon or system"));
    }
}
