//! `reminder`: the EventBridge Scheduler target (docs/BEHAVIOUR.md §6). An error makes Scheduler retry;
//! the retry sends only what is still missing.

use lambda_runtime::{service_fn, LambdaEvent};
use rappel::ports::SchedulePayload;
use std::sync::Arc;

// Lambda hands a function one event at a time, on a fraction of a vCPU at 128 MB: one thread
// serves it, without worker threads that cost start-up time and memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    rappel_aws::init_logging();
    let settings = rappel_aws::AwsSettings::from_env()?;
    let rappel = Arc::new(rappel_aws::build(&settings).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SchedulePayload>| {
        let rappel = rappel.clone();
        async move {
            let outcome = rappel.fire(&event.payload).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "outcome": format!("{outcome:?}") }))
        }
    }))
    .await
}
