//! Providers' reports on messages already sent (docs/BEHAVIOUR.md §10): a sent message becomes
//! `delivered`, `bounced`, `complained` or `failed`; a delivered email may still become
//! `complained`; nothing else leaves those (a `failed` send whose answer was lost takes a report
//! too: the provider did have it). A permanent bounce or a complaint puts the address on
//! the clinic's suppression list. Reports may come twice, late or out of order: each is applied
//! only to the message as it was read (a compare-and-set), so the final status is the same
//! whatever their order.

use super::concurrency::until_not_overtaken;
use super::event_items::take_each;
use super::{Dependency, Rappel, ServiceError};
use crate::domain::*;
use crate::formats::delivery::{self, DeliveryReport, Feedback, MessageRef};
use crate::ports::{FeedbackWrite, MessageAddress};

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The message now has this status.
    Applied(MessageStatus),
    /// Nothing to do: an unknown message, one already final, or a report that does not apply
    /// to its channel. The reason, for logs.
    Ignored(&'static str),
}

impl DeliveryOutcome {
    /// A name for logs and the dev server's answer.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Applied(status) => status.shown(),
            DeliveryOutcome::Ignored(why) => why,
        }
    }
}

/// Whether a report moving a message to `to` applies to one at `from`.
enum Transition {
    Apply,
    Ignore,
    /// The message is still being sent (the report overtook the sender's own write): later.
    NotYet,
}

/// A `failed` message takes a report too: it failed with its answer lost ("it may have gone
/// out"), and the report says the provider did take it, so no retry sends it again.
fn transition(from: MessageStatus, to: MessageStatus) -> Transition {
    match (from, to) {
        (MessageStatus::Sending, _) => Transition::NotYet,
        (MessageStatus::Sent | MessageStatus::Failed, _) | (MessageStatus::Delivered, MessageStatus::Complained) => {
            Transition::Apply
        }
        _ => Transition::Ignore,
    }
}

/// The status a report gives a message of `channel`, if it can have it.
fn status_for(feedback: &Feedback, channel: Channel) -> Option<MessageStatus> {
    match (feedback, channel) {
        (Feedback::Delivered, _) => Some(MessageStatus::Delivered),
        (Feedback::Bounced { .. }, Channel::Email) => Some(MessageStatus::Bounced),
        (Feedback::Complained, Channel::Email) => Some(MessageStatus::Complained),
        (Feedback::Failed { .. }, Channel::Sms) => Some(MessageStatus::DeliveryFailed),
        _ => None,
    }
}

/// The event's type and `reason` for a report.
fn event_of(feedback: &Feedback) -> (EventType, Option<String>) {
    match feedback {
        Feedback::Delivered => (EventType::MessageDelivered, None),
        Feedback::Bounced { permanent: true } => (EventType::MessageBounced, Some("permanent".to_owned())),
        Feedback::Bounced { permanent: false } => (EventType::MessageBounced, Some("transient".to_owned())),
        Feedback::Complained => (EventType::MessageComplained, None),
        Feedback::Failed { reason } => (EventType::MessageFailed, Some(format!("delivery_failed: {reason}"))),
    }
}

impl Rappel {
    /// Applies one provider report. A store failure is `Unavailable` (the function's retry
    /// applies it once); a report about a message still being sent is `Unavailable` too, so that
    /// it is tried again once the sender recorded the send.
    pub async fn apply_delivery(&self, report: &DeliveryReport) -> Result<DeliveryOutcome, ServiceError> {
        let Some(address) = self.locate(&report.message).await? else {
            let recent = report.at.is_some_and(|at| self.clock.now() - at < PROVIDER_ID_GRACE);
            if recent && matches!(report.message, MessageRef::ProviderId(_)) {
                return Err(ServiceError::unavailable(
                    Dependency::ConcurrentRequests,
                    "no text has this provider id yet; its send may not be recorded yet",
                ));
            }
            return Ok(DeliveryOutcome::Ignored("unknown_message"));
        };
        let outcome = until_not_overtaken("this message", || self.apply_delivery_once(&address, report)).await?;
        // A permanent bounce or a complaint lists the address even when the message's status
        // no longer moves (a bounce after a delivery, a complaint on a bounced email, a message
        // whose data is gone): the address is what matters.
        let suppress = suppressions(report, self.clock.now());
        if !matches!(outcome, DeliveryOutcome::Applied(_)) && !suppress.is_empty() {
            self.store.suppress(&address.clinic_id, &suppress).await?;
        }
        Ok(outcome)
    }

    async fn locate(&self, message: &MessageRef) -> Result<Option<MessageAddress>, ServiceError> {
        match message {
            MessageRef::ProviderId(id) => Ok(self.store.text_by_provider_id(id).await?),
            MessageRef::Tagged {
                clinic,
                appointment,
                key,
            } => Ok(ClinicId::parse(clinic)
                .ok()
                .zip(AppointmentId::parse(appointment).ok())
                .map(|(clinic_id, appointment_id)| MessageAddress {
                    clinic_id,
                    appointment_id,
                    key: key.clone(),
                })),
        }
    }

    /// One attempt: `None` when another report moved the message first (read it again).
    async fn apply_delivery_once(
        &self,
        address: &MessageAddress,
        report: &DeliveryReport,
    ) -> Result<Option<DeliveryOutcome>, ServiceError> {
        let messages = self.store.messages(&address.clinic_id, &address.appointment_id).await?;
        let Some(message) = messages.into_iter().find(|m| m.key == address.key) else {
            return Ok(Some(DeliveryOutcome::Ignored("unknown_message")));
        };
        let Some(status) = status_for(&report.feedback, message.channel) else {
            return Ok(Some(DeliveryOutcome::Ignored("not_for_this_channel")));
        };
        match transition(message.status, status) {
            Transition::Apply => {}
            Transition::Ignore => return Ok(Some(DeliveryOutcome::Ignored("already_final"))),
            Transition::NotYet => {
                return Err(ServiceError::unavailable(
                    Dependency::ConcurrentRequests,
                    "the message is still being sent; its report will be applied on retry",
                ))
            }
        }
        let now = self.clock.now();
        let (event_type, reason) = event_of(&report.feedback);
        let event = NewEvent {
            at: report.at.map_or(now, |at| at.min(now)),
            appointment_id: address.appointment_id.clone(),
            event_type,
            kind: Some(message.kind),
            channel: Some(message.channel),
            reason: reason.clone(),
            before: message.before(),
            via: None,
            request: None,
        };
        let write = FeedbackWrite {
            message: address.clone(),
            from: message.status,
            read_at: message.at,
            status,
            at: now,
            detail: reason,
            event,
            suppress: suppressions(report, now),
            provider_price_micro_usd: report.provider_price_micro_usd,
        };
        if !self.store.apply_feedback(&write).await? {
            return Ok(None);
        }
        tracing::info!(clinic = %address.clinic_id, appointment = %address.appointment_id, kind = message.kind.as_str(), status = status.shown(), "delivery report");
        Ok(Some(DeliveryOutcome::Applied(status)))
    }
}

/// The addresses a report puts on the suppression list: a permanent bounce's, a complaint's.
/// One per address, lower-cased (a store writes each once).
fn suppressions(report: &DeliveryReport, now: chrono::DateTime<chrono::Utc>) -> Vec<Suppression> {
    let reason = match report.feedback {
        Feedback::Bounced { permanent: true } => SuppressionReason::Bounce,
        Feedback::Complained => SuppressionReason::Complaint,
        _ => return Vec::new(),
    };
    let mut addresses: Vec<String> = report
        .addresses
        .iter()
        .filter(|a| Email::parse(a).is_ok())
        .map(|a| a.to_lowercase())
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
        .into_iter()
        .map(|address| Suppression {
            address,
            reason,
            at: now,
        })
        .collect()
}

/// How many reports of one invocation are applied at once.
const REPORTS_AT_ONCE: usize = 16;

/// How long after a text's report its provider id may still be unknown because the sender has
/// not recorded the send yet (the report is then tried again, not ignored).
const PROVIDER_ID_GRACE: chrono::Duration = chrono::Duration::minutes(10);

/// What a `delivery-events` invocation gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryEventReport {
    /// Each readable report's outcome.
    pub outcomes: Vec<DeliveryOutcome>,
    /// Notifications or log lines ignored or unreadable (logged without content).
    pub skipped: usize,
}

impl Rappel {
    /// Applies every report of a `delivery-events` invocation (an SNS event of SES events, or
    /// a CloudWatch Logs subscription's SMS delivery logs), as `event_items::take_each` does;
    /// reports applied again by Lambda's retry change nothing.
    pub async fn answer_delivery_event(&self, event: &serde_json::Value) -> Result<DeliveryEventReport, ServiceError> {
        let reports = match delivery::read_event(event) {
            Ok(reports) => reports,
            Err(e) => {
                tracing::error!(error = %e, "delivery event skipped");
                return Ok(DeliveryEventReport {
                    outcomes: Vec::new(),
                    skipped: 1,
                });
            }
        };
        // A log batch may hold thousands of texts (those quiet hours held, all sent at 08:00):
        // several reports at once, in order within each group.
        let taken = take_each(
            reports,
            REPORTS_AT_ONCE,
            "delivery report",
            |report: DeliveryReport| async move { self.apply_delivery(&report).await },
        )
        .await?;
        Ok(DeliveryEventReport {
            outcomes: taken.outcomes,
            skipped: taken.skipped,
        })
    }
}
