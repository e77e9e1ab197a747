//! `delivery-events`: what became of each message (docs/BEHAVIOUR.md §10). SES publishes the
//! configuration set's delivery, bounce and complaint events to an SNS topic, and CloudWatch Logs
//! hands SNS's SMS delivery status logs to a subscription filter; both invoke this function
//! asynchronously. An error makes Lambda retry (twice, then the dead-letter queue); only
//! failures a retry can fix are returned as errors (`Rappel::answer_delivery_event`), and a
//! report applied twice changes nothing.

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
                .answer_delivery_event(&event.payload)
                .await
                .map(drop)
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
