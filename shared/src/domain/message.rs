//! Messages sent to patients, the events the EMR reads, and ledger entries for texts.

use super::{AppointmentId, ClinicId, ReminderOffset, RescheduleRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of message (docs/BEHAVIOUR.md §3.1 and §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// First save of a booked, future appointment.
    Confirmation,
    /// A relevant field changed.
    Change,
    /// The EMR cancelled.
    Cancellation,
    /// The patient cancelled from the link.
    CancellationReceipt,
    /// The pre-visit reminder.
    Reminder,
    /// The answer to a patient who confirmed by text (texts only).
    ConfirmationReceipt,
    /// The short answer to a text reply Rappel cannot act on: the link and the clinic's phone
    /// (texts only, at most one per appointment and clinic-local day).
    ReplyHelp,
}

impl MessageKind {
    /// Every kind, in the order a patient may meet them.
    pub const ALL: [MessageKind; 7] = [
        MessageKind::Confirmation,
        MessageKind::Change,
        MessageKind::Cancellation,
        MessageKind::CancellationReceipt,
        MessageKind::Reminder,
        MessageKind::ConfirmationReceipt,
        MessageKind::ReplyHelp,
    ];

    /// Whether the kind answers a patient's text, and so goes by text only.
    pub fn is_text_answer(self) -> bool {
        matches!(self, MessageKind::ConfirmationReceipt | MessageKind::ReplyHelp)
    }

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Confirmation => "confirmation",
            MessageKind::Change => "change",
            MessageKind::Cancellation => "cancellation",
            MessageKind::CancellationReceipt => "cancellation_receipt",
            MessageKind::Reminder => "reminder",
            MessageKind::ConfirmationReceipt => "confirmation_receipt",
            MessageKind::ReplyHelp => "reply_help",
        }
    }
}

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email (SES, or the dev outbox).
    Email,
    /// Text (SNS, or the dev outbox).
    Sms,
}

impl Channel {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Recorded, not yet handed to the provider.
    Pending,
    /// A sender holds it now (until its lease runs out).
    Sending,
    /// The provider accepted it.
    Sent,
    /// The provider failed; a retry of the save (or of the schedule) tries again.
    Failed,
    /// It can never be sent as things stand (no address, no sender identity, opted out).
    Undeliverable,
    /// Held back by quiet hours, it no longer applied when they ended (moved, cancelled, superseded).
    Dropped,
    /// The provider reports it reached the mailbox or the phone.
    Delivered,
    /// The address bounced it (the event's `reason` says whether for good).
    Bounced,
    /// The patient marked the email as spam.
    Complained,
    /// The carrier reports the text could not be delivered. Shown as `failed`, but final: unlike
    /// `Failed`, nothing sends it again.
    DeliveryFailed,
}

impl MessageStatus {
    /// Whether nothing more will be done with the message: sent, undeliverable or dropped, or
    /// anything the provider reported after sending.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            MessageStatus::Pending | MessageStatus::Sending | MessageStatus::Failed
        )
    }

    /// The status as the EMR reads it: a carrier's failure is `failed`, like a send that failed.
    pub fn shown(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed | MessageStatus::DeliveryFailed => "failed",
            MessageStatus::Undeliverable => "undeliverable",
            MessageStatus::Dropped => "dropped",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Bounced => "bounced",
            MessageStatus::Complained => "complained",
        }
    }

    /// Whether the provider took the message (whatever it reported since).
    pub fn was_sent(self) -> bool {
        matches!(
            self,
            MessageStatus::Sent
                | MessageStatus::Delivered
                | MessageStatus::Bounced
                | MessageStatus::Complained
                | MessageStatus::DeliveryFailed
        )
    }
}

/// One message of an appointment. `key` makes it unique: a kind, once per revision and channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Unique within the appointment, e.g. `confirmation:3:email`.
    pub key: String,
    /// What it says.
    pub kind: MessageKind,
    /// How it travels.
    pub channel: Channel,
    /// The revision it speaks of.
    pub revision: u64,
    /// Where it stands.
    pub status: MessageStatus,
    /// When it was recorded, claimed or completed (the latest of these).
    pub at: DateTime<Utc>,
    /// Why it failed, if it did (never personal data).
    pub detail: Option<String>,
}

impl MessageRecord {
    /// A new pending reminder `before` the appointment, for `revision` on `channel`. The 36-h
    /// reminder keeps the key it always had (`reminder:3:email`); others name their offset
    /// (`reminder-7d:3:email`).
    pub fn pending_reminder(before: ReminderOffset, channel: Channel, revision: u64, at: DateTime<Utc>) -> Self {
        let mut message = MessageRecord::pending(MessageKind::Reminder, channel, revision, at);
        if before != ReminderOffset::DEFAULT {
            message.key = format!("reminder-{before}:{revision}:{}", channel.as_str());
        }
        message
    }

    /// For a reminder, which one (read from its key); `None` for other kinds.
    pub fn before(&self) -> Option<ReminderOffset> {
        if self.kind != MessageKind::Reminder {
            return None;
        }
        let first = self.key.split(':').next().unwrap_or_default();
        match first.strip_prefix("reminder-") {
            Some(offset) => ReminderOffset::parse(offset).ok(),
            None => Some(ReminderOffset::DEFAULT),
        }
    }

    /// The answer to a text reply Rappel cannot act on, sent at most once on each clinic-local
    /// `day` whatever the revision (`reply_help@2026-12-01:sms`): the key is the rate limit.
    pub fn pending_reply_help(day: chrono::NaiveDate, revision: u64, at: DateTime<Utc>) -> Self {
        let mut message = MessageRecord::pending(MessageKind::ReplyHelp, Channel::Sms, revision, at);
        message.key = format!("reply_help@{day}:sms");
        message
    }

    /// A new pending message of `kind` for `revision` on `channel`.
    pub fn pending(kind: MessageKind, channel: Channel, revision: u64, at: DateTime<Utc>) -> Self {
        MessageRecord {
            key: format!("{}:{}:{}", kind.as_str(), revision, channel.as_str()),
            kind,
            channel,
            revision,
            status: MessageStatus::Pending,
            at,
            detail: None,
        }
    }
}

/// What the EMR reads from `GET /v1/events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// The patient confirmed.
    PatientConfirmed,
    /// The patient cancelled.
    PatientCancelled,
    /// The patient arrived.
    PatientArrived,
    /// The patient asked for another time.
    PatientRescheduleRequested,
    /// A message was accepted by the provider.
    MessageSent,
    /// A message could not be sent, or the carrier could not deliver a text.
    MessageFailed,
    /// The provider reports the message reached the patient.
    MessageDelivered,
    /// The email bounced (`reason`: `permanent` or `transient`).
    MessageBounced,
    /// The patient marked the email as spam.
    MessageComplained,
}

/// An event before the store gives it a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Which appointment.
    pub appointment_id: AppointmentId,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// For message events: the kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<MessageKind>,
    /// For message events: the channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// For failures: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a reminder's messages: which reminder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<ReminderOffset>,
    /// For a patient's action: how it came (the link or a text reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// For a reschedule request: what the patient asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RescheduleRequest>,
}

/// How a patient's action reached Rappel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A button on the patient page.
    Link,
    /// A text reply.
    Sms,
}

impl Via {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Link => "link",
            Via::Sms => "sms",
        }
    }
}

impl NewEvent {
    /// A patient event.
    pub fn patient(at: DateTime<Utc>, appointment_id: AppointmentId, event_type: EventType) -> Self {
        NewEvent {
            at,
            appointment_id,
            event_type,
            kind: None,
            channel: None,
            reason: None,
            before: None,
            via: None,
            request: None,
        }
    }

    /// The same event, saying how the patient's action came.
    pub fn via(self, via: Via) -> Self {
        NewEvent { via: Some(via), ..self }
    }
}

/// A stored event, with its position in the clinic's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing within a clinic.
    pub cursor: u64,
    /// The event.
    #[serde(flatten)]
    pub event: NewEvent,
}

/// One accepted text, as the clinic is billed for it. Money is integer cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Who pays.
    pub clinic_id: ClinicId,
    /// Which appointment.
    pub appointment_id: AppointmentId,
    /// The message's key; one entry per message at most.
    pub message_key: String,
    /// Which kind of message.
    pub kind: MessageKind,
    /// The provider's id for the text.
    pub provider_message_id: String,
    /// When the provider accepted it.
    pub sent_at: DateTime<Utc>,
    /// Number of SMS segments.
    pub segments: u32,
    /// `gsm7` or `ucs2`.
    pub encoding: String,
    /// Price of one segment when sent.
    pub unit_price_cents: i64,
    /// `segments × unit_price_cents`.
    pub amount_cents: i64,
    /// What the provider reported the text cost it, in millionths of a US dollar, once it
    /// reported (SNS's delivery status logs): beside the billed price, never instead of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_price_micro_usd: Option<i64>,
}

/// Why an address is on a clinic's suppression list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// It bounced for good.
    Bounce,
    /// Its owner marked an email as spam.
    Complaint,
}

/// An email address Rappel no longer mails for a clinic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// The address, lower-cased.
    pub address: String,
    /// Why.
    pub reason: SuppressionReason,
    /// When it was added.
    pub at: DateTime<Utc>,
}
