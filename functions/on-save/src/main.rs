//! `on-save`: the EMR API (CONTRACT §4) behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rappel_aws::init_logging();
    let settings = rappel_aws::AwsSettings::from_env()?;
    let rappel = std::sync::Arc::new(rappel_aws::build(&settings).await);
    lambda_http::run(rappel::http::emr::router(rappel)).await
}
