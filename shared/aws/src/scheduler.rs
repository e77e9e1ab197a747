//! EventBridge Scheduler: one one-time `at()` schedule per pending reminder (or held texts), in the
//! deployment's schedule group, deleted by the service after it runs, retried and dead-lettered.

use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
};
use aws_sdk_scheduler::Client;
use chrono::{DateTime, Duration, Utc};
use rappel::ports::{Clock, Schedule, ScheduleError, Scheduler};
use std::sync::Arc;

/// Where schedules go and what they invoke.
#[derive(Debug, Clone)]
pub struct SchedulerTarget {
    /// The deployment's schedule group.
    pub group: String,
    /// The reminder function's ARN.
    pub function_arn: String,
    /// The role Scheduler assumes to invoke it.
    pub role_arn: String,
    /// The SQS queue that receives invocations that failed every retry.
    pub dead_letter_arn: Option<String>,
}

/// EventBridge Scheduler adapter.
#[derive(Clone)]
pub struct EventBridgeScheduler {
    client: Client,
    target: SchedulerTarget,
    clock: Arc<dyn Clock>,
}

/// The earliest a schedule may be set for: Scheduler never fires an `at()` in the past, so a
/// time that has just passed is moved a minute ahead instead of being lost.
fn not_in_the_past(at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    at.max(now + Duration::minutes(1))
}

fn scheduler_error<E: aws_sdk_scheduler::error::ProvideErrorMetadata, R>(
    context: &str,
    e: &aws_sdk_scheduler::error::SdkError<E, R>,
) -> ScheduleError {
    use aws_sdk_scheduler::error::SdkError;
    let code = match e {
        SdkError::ServiceError(s) => s.err().code().unwrap_or("service error").to_owned(),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "unreachable".to_owned(),
        _ => "request failed".to_owned(),
    };
    ScheduleError(format!("scheduler {context}: {code}"))
}

impl EventBridgeScheduler {
    /// A scheduler creating schedules that invoke `target`.
    pub fn new(client: Client, target: SchedulerTarget, clock: Arc<dyn Clock>) -> Self {
        EventBridgeScheduler { client, target, clock }
    }

    fn target(&self, schedule: &Schedule) -> Result<Target, ScheduleError> {
        let input = serde_json::to_string(&schedule.payload).map_err(|e| ScheduleError(e.to_string()))?;
        Target::builder()
            .arn(&self.target.function_arn)
            .role_arn(&self.target.role_arn)
            .input(input)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(10)
                    .maximum_event_age_in_seconds(6 * 3600)
                    .build(),
            )
            .set_dead_letter_config(
                self.target
                    .dead_letter_arn
                    .as_ref()
                    .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .map_err(|e| ScheduleError(format!("scheduler target: {e}")))
    }
}

fn window() -> Result<FlexibleTimeWindow, ScheduleError> {
    FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()
        .map_err(|e| ScheduleError(format!("scheduler window: {e}")))
}

/// `at(yyyy-mm-ddThh:mm:ss)` in UTC.
pub fn at_expression(at: DateTime<Utc>) -> String {
    format!("at({})", at.format("%Y-%m-%dT%H:%M:%S"))
}

#[async_trait]
impl Scheduler for EventBridgeScheduler {
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let expression = at_expression(not_in_the_past(schedule.at, self.clock.now()));
        let created = self
            .client
            .create_schedule()
            .name(&schedule.name)
            .group_name(&self.target.group)
            .schedule_expression(&expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window()?)
            .target(self.target(schedule)?)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conflict_exception()) => {
                self.client
                    .update_schedule()
                    .name(&schedule.name)
                    .group_name(&self.target.group)
                    .schedule_expression(&expression)
                    .schedule_expression_timezone("UTC")
                    .flexible_time_window(window()?)
                    .target(self.target(schedule)?)
                    .action_after_completion(ActionAfterCompletion::Delete)
                    .send()
                    .await
                    .map_err(|e| scheduler_error("update", &e))?;
                Ok(())
            }
            Err(e) => Err(scheduler_error("create", &e)),
        }
    }

    async fn delete_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.target.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(scheduler_error("delete", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn schedules_are_never_set_in_the_past() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert_eq!(
            not_in_the_past(now - Duration::hours(1), now),
            now + Duration::minutes(1)
        );
        assert_eq!(not_in_the_past(now + Duration::hours(1), now), now + Duration::hours(1));
        assert_eq!(at_expression(now), "at(2026-12-01T12:00:00)");
    }
}
