//! `inbound-sms`: patients' text replies (docs/BEHAVIOUR.md §9.1). The two-way number publishes
//! each text it receives to an SNS topic, which invokes this function asynchronously: an error
//! makes Lambda retry (twice, then the dead-letter queue), and only failures a retry can fix are
//! returned as errors (`Rappel::answer_inbound_event`); a text taken twice is taken once.

use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

// One event at a time on a fraction of a vCPU: one thread, no workers (see `reminder`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    rappel_aws::init_logging();
    let settings = rappel_aws::AwsSettings::from_env()?;
    let rappel = Arc::new(rappel_aws::build(&settings)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let rappel = rappel.clone();
        async move {
            rappel
                .answer_inbound_event(&event.payload)
                .await
                .map(drop)
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
