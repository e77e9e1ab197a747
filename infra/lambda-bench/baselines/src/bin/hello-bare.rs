//! The smallest Rust Lambda: answers every event with a constant. What a cold start costs with
//! nothing of ours in it.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, lambda_runtime::Error>(serde_json::json!({ "hello": "world" }))
    }))
    .await
}
