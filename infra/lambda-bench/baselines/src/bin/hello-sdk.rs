//! The same hello world after building the SDK clients Rappel's functions build (DynamoDB, SES v2,
//! SNS, EventBridge Scheduler), the usual way: `aws_config::load_defaults`, then one client each.
//! The handler uses none of them; what this adds to `hello-bare` is the SDK's own start-up.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clients = std::sync::Arc::new((
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sesv2::Client::new(&sdk),
        aws_sdk_sns::Client::new(&sdk),
        aws_sdk_scheduler::Client::new(&sdk),
    ));
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let _clients = clients.clone();
        async { Ok::<_, lambda_runtime::Error>(serde_json::json!({ "hello": "world" })) }
    }))
    .await
}
