//! A moto server on a free loopback port, started for the test and killed with it, and Rappel
//! on the AWS adapters against it.

#![allow(dead_code)] // each test binary uses its own part of the support

pub mod rig;

pub use rappel_aws_faults::moto::Moto;
use serde_json::Value;

/// An SDK configuration for an endpoint on loopback (moto, or a fault proxy in front of it).
pub async fn sdk_at(endpoint: &str) -> aws_config::SdkConfig {
    // The functions' own HTTPS client, so the tests go through it.
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(rappel_aws::sdk::https_client(
            rappel_aws::sdk::Roots::AmazonTrustServices,
        ))
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("ca-central-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}

/// Schedules as moto recorded them (data.json keeps deleted ones too, so filter by what
/// ListSchedules still returns in the group).
pub async fn schedules(moto: &Moto, sdk: &aws_config::SdkConfig) -> Vec<Value> {
    let live = aws_sdk_scheduler::Client::new(sdk)
        .list_schedules()
        .group_name("rappel")
        .send()
        .await
        .unwrap();
    let live: Vec<String> = live
        .schedules()
        .iter()
        .filter_map(|s| s.name().map(str::to_owned))
        .collect();
    let data = moto.data().await;
    data["scheduler"]["Schedule"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| live.iter().any(|name| s["name"] == name.as_str()))
        .collect()
}

/// Each schedule's due instant (its `at(…)` expression, UTC) and the input Scheduler would deliver,
/// earliest first.
pub fn due_inputs(schedules: &[Value]) -> Vec<(chrono::DateTime<chrono::Utc>, rappel::ports::SchedulePayload)> {
    let mut due: Vec<_> = schedules
        .iter()
        .map(|s| {
            let expression = s["schedule_expression"].as_str().unwrap();
            let at = chrono::NaiveDateTime::parse_from_str(&expression[3..expression.len() - 1], "%Y-%m-%dT%H:%M:%S")
                .unwrap()
                .and_utc();
            (
                at,
                serde_json::from_str(s["target"]["Input"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    due.sort_by_key(|(at, _)| *at);
    due
}
