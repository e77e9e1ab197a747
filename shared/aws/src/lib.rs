//! Rappel's AWS adapters behind the same ports as the embedded ones, and the one place the
//! Lambda functions build them.

pub mod dynamodb;
pub mod local;
pub mod messaging;
pub mod scheduler;
pub mod sdk;

use rappel::adapters::clock::SystemClock;
use rappel::ports::Clock;
use rappel::services::{Config, Rappel};
use std::sync::Arc;

/// A function's settings, read once at start-up from its environment (see `template.yaml`).
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// `RAPPEL_TABLE`: the DynamoDB table.
    pub table: String,
    /// `RAPPEL_PUBLIC_URL`: base of patient links (the HTTP API's URL or a custom domain).
    pub public_base_url: String,
    /// `RAPPEL_SCHEDULE_GROUP`: the deployment's schedule group.
    pub schedule_group: String,
    /// `RAPPEL_REMINDER_FUNCTION_ARN`: what schedules invoke.
    pub reminder_function_arn: String,
    /// `RAPPEL_SCHEDULER_ROLE_ARN`: the role schedules run as.
    pub scheduler_role_arn: String,
    /// `RAPPEL_DLQ_ARN`: where failed schedule invocations go (optional).
    pub dead_letter_arn: Option<String>,
    /// `RAPPEL_SES_CONFIGURATION_SET` (optional).
    pub ses_configuration_set: Option<String>,
    /// `RAPPEL_SMS_PRICE_CENTS`: what the clinic is billed per segment, with changes by
    /// effective date (`5` or `5,2027-03-01=6`; default 5).
    pub sms_prices: rappel::pricing::PriceSchedule,
    /// `RAPPEL_SMS_MAX_PRICE_USD`: SNS `MaxPrice` per text (default `0.50`).
    pub sms_max_price_usd: String,
    /// `RAPPEL_SMS_ORIGINATION_NUMBER`: the two-way number texts are sent from (E.164,
    /// optional). With it, patients' replies reach `inbound-sms` and texts invite them (for
    /// clinics with `sms_replies`); without it, SNS picks the number and no reply is invited.
    pub sms_origination_number: Option<String>,
    /// `RAPPEL_TLS_ROOTS`: the certificates the HTTPS client trusts (`amazon`, the default, or `system`).
    pub tls_roots: sdk::Roots,
}

impl AwsSettings {
    /// Reads the environment; a missing or malformed setting is an error naming the variable.
    pub fn from_env() -> Result<AwsSettings, String> {
        let optional = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let required = |name: &str| optional(name).ok_or_else(|| format!("{name} is not set"));
        Ok(AwsSettings {
            table: required("RAPPEL_TABLE")?,
            public_base_url: required("RAPPEL_PUBLIC_URL")?,
            schedule_group: required("RAPPEL_SCHEDULE_GROUP")?,
            reminder_function_arn: required("RAPPEL_REMINDER_FUNCTION_ARN")?,
            scheduler_role_arn: required("RAPPEL_SCHEDULER_ROLE_ARN")?,
            dead_letter_arn: optional("RAPPEL_DLQ_ARN"),
            ses_configuration_set: optional("RAPPEL_SES_CONFIGURATION_SET"),
            sms_prices: match optional("RAPPEL_SMS_PRICE_CENTS") {
                None => rappel::pricing::PriceSchedule::default(),
                Some(p) => {
                    rappel::pricing::PriceSchedule::parse(&p).map_err(|e| format!("RAPPEL_SMS_PRICE_CENTS: {e}"))?
                }
            },
            sms_max_price_usd: optional("RAPPEL_SMS_MAX_PRICE_USD").unwrap_or_else(|| "0.50".to_owned()),
            sms_origination_number: optional("RAPPEL_SMS_ORIGINATION_NUMBER"),
            tls_roots: sdk::Roots::from_env()?,
        })
    }
}

/// Builds the services on AWS adapters from one shared SDK configuration (region, credentials,
/// and `AWS_ENDPOINT_URL` for a local emulator all come from the environment; see [`sdk`]).
pub fn build(settings: &AwsSettings) -> Result<Rappel, String> {
    let sdk = sdk::load(settings.tls_roots)?;
    Ok(build_with(settings, &sdk, Arc::new(SystemClock)))
}

/// The same, from an SDK configuration already loaded and with a given clock (tests drive it).
pub fn build_with(settings: &AwsSettings, sdk: &aws_config::SdkConfig, clock: Arc<dyn Clock>) -> Rappel {
    Rappel {
        store: Arc::new(rappel::adapters::store_timeout::TimeLimitedStore::new(Arc::new(
            dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &settings.table),
        ))),
        mailer: Arc::new(messaging::SesMailer::new(
            aws_sdk_sesv2::Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(sdk)
                    .retry_config(single_attempt())
                    .build(),
            ),
            settings.ses_configuration_set.clone(),
        )),
        texter: Arc::new(messaging::SnsTexter::new(
            aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(sdk)
                    .retry_config(single_attempt())
                    .build(),
            ),
            settings.sms_max_price_usd.clone(),
            settings.sms_origination_number.clone(),
            settings
                .sms_origination_number
                .as_ref()
                .map(|_| messaging::OptOutTable {
                    client: aws_sdk_dynamodb::Client::new(sdk),
                    table: settings.table.clone(),
                }),
        )),
        scheduler: Arc::new(scheduler::EventBridgeScheduler::new(
            aws_sdk_scheduler::Client::new(sdk),
            scheduler::SchedulerTarget {
                group: settings.schedule_group.clone(),
                function_arn: settings.reminder_function_arn.clone(),
                role_arn: settings.scheduler_role_arn.clone(),
                dead_letter_arn: settings.dead_letter_arn.clone(),
            },
            clock.clone(),
        )),
        clock,
        config: Config {
            public_base_url: settings.public_base_url.clone(),
            sms_prices: settings.sms_prices.clone(),
            text_replies: settings.sms_origination_number.is_some(),
            ..Config::default()
        },
    }
}

/// The level `RUST_LOG` names; `info` when it names none.
fn log_level(value: Option<&str>) -> tracing_subscriber::filter::LevelFilter {
    // tracing reads an empty string as `error`; unset or empty here means the default.
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO)
}

/// Sends are not retried inside the SDK: a retry after a lost answer would deliver a second copy
/// nobody counts. The services retry them instead (see `messaging::send_error`).
fn single_attempt() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard().with_max_attempts(1)
}

/// Structured JSON logs at the level `RUST_LOG` names (`error`, `warn`, `info`, `debug`, `trace`;
/// anything else, or nothing: `info`), as every function starts. One level, not `EnvFilter`'s
/// directives: those bring a regex compiler into every function for a setting the template
/// limits to a level anyway.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_max_level(log_level(std::env::var("RUST_LOG").ok().as_deref()))
        .with_current_span(false)
        // CloudWatch stamps every line itself.
        .without_time()
        .init();
}

#[cfg(test)]
mod log_level_tests {
    use super::log_level;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn rust_log_names_one_level_else_info() {
        assert_eq!(log_level(Some("debug")), LevelFilter::DEBUG);
        assert_eq!(log_level(Some(" WARN ")), LevelFilter::WARN);
        assert_eq!(log_level(Some("error")), LevelFilter::ERROR);
        assert_eq!(log_level(Some("rappel=debug")), LevelFilter::INFO);
        assert_eq!(log_level(Some("")), LevelFilter::INFO);
        assert_eq!(log_level(None), LevelFilter::INFO);
    }
}
