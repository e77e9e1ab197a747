//! A fault-injection proxy for tests, between Rappel's AWS SDK clients (or the Lambda function
//! binaries, through `AWS_ENDPOINT_URL`) and moto.
//!
//! Every request is forwarded to moto verbatim, unless a forced [`Rule`] or a draw from the
//! seeded RNG against the [`FaultPlan`] gives it a [`Fault`]: then the proxy answers with AWS's
//! own failure response for that service (DynamoDB awsJson1_0, SES v2 and Scheduler restJson1,
//! SNS awsQuery XML), byte-shaped as AWS sends it, so the real SDK deserialises it and classifies
//! it for retry exactly as in production. moto's own `/moto-api/...` paths are never faulted.
//!
//! ```no_run
//! use rappel_aws_faults::{Fault, FaultPlan, FaultProxy, Rates, Rule, Service};
//! # async fn run() -> std::io::Result<()> {
//! let plan = FaultPlan::every_service(Rates { throttle: 0.05, error_after: 0.02, ..Rates::default() });
//! let proxy = FaultProxy::start("http://127.0.0.1:5000", 42, plan).await?;
//! proxy.force(Rule::new(Service::Ses, Fault::ErrorAfter).operation("SendEmail"));
//! // ... point the SDK's endpoint URL (or AWS_ENDPOINT_URL) at proxy.url and run ...
//! println!("{}", proxy.stats());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod classify;
pub mod moto;
mod plan;
mod proxy;
mod responses;
mod stats;

pub use classify::Service;
pub use plan::{Fault, FaultPlan, Rates, Rule};
pub use proxy::{FaultProxy, MAX_BODY};
pub use stats::FaultStats;
