//! `reminder`: the EventBridge Scheduler target (docs/BEHAVIOUR.md §6). Scheduler invokes it
//! asynchronously: an error makes Lambda retry (twice, then the dead-letter queue), and the retry
//! sends only what is still missing. Only errors a retry can fix are returned as errors
//! (`Rappel::answer_scheduler`).

use lambda_runtime::{service_fn, LambdaEvent};
use rappel::ports::SchedulePayload;
use std::sync::Arc;

// Lambda hands a function one event at a time, on a fraction of a vCPU at 128 MB: one thread
// serves it, without worker threads that cost start-up time and memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    rappel_aws::init_logging();
    let settings = rappel_aws::AwsSettings::from_env()?;
    let rappel = Arc::new(rappel_aws::build(&settings)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SchedulePayload>| {
        let rappel = rappel.clone();
        async move {
            rappel
                .answer_scheduler(&event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
