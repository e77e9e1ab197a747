//! The AWS SDK configuration every function starts with, made cheap to build.
//!
//! `aws_config::load_defaults` spends most of a function's start-up on two things it does not
//! need in Lambda (measured in docs/PERFORMANCE.md): reading every certificate under the system's
//! CA directory (about 300 files on Debian) to build the HTTPS client, and building the default
//! credential and region chains (an STS client among them) that end up reading the same
//! environment variables Lambda sets. Here the HTTPS client trusts the Amazon Trust Services roots
//! every AWS endpoint chains to (embedded, five certificates), and region and credentials are read
//! from the environment directly when Lambda (or `cargo lambda watch`) provides them. Nothing is
//! deferred: the client is built, not merely planned, before the first request.

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
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

/// The SDK configuration: every AWS call bounded (so a hung dependency becomes a 503 or a
/// Scheduler retry well inside the functions' 15-second timeout), region and credentials from
/// the environment when it has them, `AWS_ENDPOINT_URL` honoured for a local emulator.
pub async fn load(roots: Roots) -> SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(7))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .http_client(https_client(roots));
    if let Some(region) = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(region));
    }
    // Lambda puts the execution role's credentials in the environment; elsewhere (a developer's
    // profile, SSO) the default chain finds them.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() && std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
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

    #[test]
    fn the_roots_setting_says_what_it_expects() {
        assert_eq!(Roots::parse(Some("system")), Ok(Roots::System));
        assert_eq!(Roots::parse(Some("amazon")), Ok(Roots::AmazonTrustServices));
        assert_eq!(Roots::parse(Some("")), Ok(Roots::AmazonTrustServices));
        assert_eq!(Roots::parse(None), Ok(Roots::AmazonTrustServices));
        assert!(Roots::parse(Some("mozilla")).unwrap_err().contains("amazon or system"));
    }
}
