//! Rappel on the AWS adapters against moto, reached directly or through a fault proxy.

use super::{sdk_at, Moto};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use rappel::adapters::clock::ManualClock;
use rappel::domain::{Clinic, ClinicId, ClinicSettings, Email, Text};
use rappel::services::register_clinic;
use rappel_aws::local::{provision, LocalResources};
use rappel_aws::AwsSettings;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub fn now0() -> DateTime<Utc> {
    // Monday 2030-01-07 10:00 in Toronto, with the nanoseconds a real clock has (DynamoDB
    // items keep microseconds: a claim must be recognised when read back).
    Utc.with_ymd_and_hms(2030, 1, 7, 15, 0, 0).unwrap() + chrono::Duration::nanoseconds(123_456_789)
}

pub const KEY: &str = "moto-clinic-key";

/// An appointment body whose patient has a mobile moto does not opt out (moto opts out numbers
/// ending in 99, the shared test appointment's).
pub fn texted_body(revision: u64, start: DateTime<Utc>, type_code: &str) -> Value {
    let mut body = rappel::testing::appointment_json(revision, start, type_code);
    body["patient"]["mobile"] = serde_json::json!("514 555-0123");
    body
}

/// The deployment's two-way number in the rig.
pub const TWO_WAY_NUMBER: &str = "+14385550100";

/// Puts type `FU` with full communication through the EMR API; its status (201 when new).
pub async fn put_full_type(emr: &axum::Router) -> StatusCode {
    let types = serde_json::json!({"communications": "full"});
    call(emr, Method::PUT, "/v1/appointment-types/FU", Some(types), false)
        .await
        .0
}

pub async fn call(
    app: &axum::Router,
    method: Method,
    uri: &str,
    body: Option<Value>,
    json_reply: bool,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"));
    if json_reply {
        request = request.header(header::ACCEPT, "application/json");
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A provisioned emulator, Rappel on the AWS adapters with a manual clock, and one clinic
/// (texts enabled) whose API key is `KEY`.
pub struct AwsRig {
    pub moto: Moto,
    pub sdk: aws_config::SdkConfig,
    pub rappel: Arc<rappel::services::Rappel>,
    pub clock: Arc<ManualClock>,
    pub clinic: Clinic,
}

pub async fn rig() -> AwsRig {
    let moto = Moto::start();
    let sdk = sdk_at(&moto.endpoint).await;
    rig_on(moto, sdk).await
}

/// The same with the services' AWS calls going through `sdk` (a fault proxy's endpoint, say);
/// provisioning goes straight to moto.
pub async fn rig_on(moto: Moto, sdk: aws_config::SdkConfig) -> AwsRig {
    let direct = sdk_at(&moto.endpoint).await;
    let names = LocalResources {
        table: "rappel".to_owned(),
        ses_identity: "clinique.example.ca".to_owned(),
        configuration_set: "rappel".to_owned(),
        schedule_group: "rappel".to_owned(),
    };
    provision(&direct, &names).await.unwrap();
    let settings = AwsSettings {
        table: names.table.clone(),
        public_base_url: "https://rappel.example.ca".to_owned(),
        schedule_group: names.schedule_group.clone(),
        reminder_function_arn: "arn:aws:lambda:ca-central-1:123456789012:function:rappel-reminder".to_owned(),
        scheduler_role_arn: "arn:aws:iam::123456789012:role/rappel-scheduler".to_owned(),
        dead_letter_arn: Some("arn:aws:sqs:ca-central-1:123456789012:rappel-dlq".to_owned()),
        ses_configuration_set: Some(names.configuration_set.clone()),
        sms_prices: rappel::pricing::PriceSchedule::default(),
        sms_max_price_usd: "0.50".to_owned(),
        sms_origination_number: Some(TWO_WAY_NUMBER.to_owned()),
        tls_roots: rappel_aws::sdk::Roots::AmazonTrustServices,
    };
    let clock = Arc::new(ManualClock::new(now0()));
    let mut rappel = rappel_aws::build_with(&settings, &sdk, clock.clone());
    // The tests read the feed once their writes are done: no writer is left to wait for.
    rappel.store = Arc::new(rappel::adapters::store_timeout::TimeLimitedStore::new(Arc::new(
        rappel_aws::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &settings.table)
            .with_feed_lag(chrono::Duration::zero()),
    )));
    let rappel = Arc::new(rappel);
    let mut clinic_settings = ClinicSettings::named("Clinique Moto").unwrap();
    clinic_settings.sender_email = Some(Email::parse("rdv@clinique.example.ca").unwrap());
    clinic_settings.phone = Some(Text::parse("514 555-0100").unwrap());
    clinic_settings.sms_enabled = true;
    let clinic = Clinic {
        id: ClinicId::parse("moto-clinic").unwrap(),
        settings: clinic_settings,
    };
    register_clinic(rappel.store.as_ref(), &clinic, KEY).await.unwrap();
    AwsRig {
        moto,
        sdk,
        rappel,
        clock,
        clinic,
    }
}
