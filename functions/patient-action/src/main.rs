//! `patient-action`: the patient links (docs/BEHAVIOUR.md §5) behind API Gateway.

// Lambda hands a function one event at a time, on a fraction of a vCPU at 128 MB: one thread
// serves it, without worker threads that cost start-up time and memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    rappel_aws::init_logging();
    let settings = rappel_aws::AwsSettings::from_env()?;
    let rappel = std::sync::Arc::new(rappel_aws::build(&settings)?);
    lambda_http::run(rappel::http::patient::router(rappel)).await
}
