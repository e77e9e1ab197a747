//! Ports: what the services need from the outside world. Adapters (embedded, AWS) implement them;
//! no SDK type crosses this line.

use crate::domain::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A storage failure. `Conflict` is expected and handled (optimistic concurrency); the others are not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed since it was read (or already exists).
    #[error("the record was changed by someone else")]
    Conflict,
    /// The backend failed; the text says where.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Clinics and their API keys (only a hash of each key is kept).
#[async_trait]
pub trait ClinicStore: Send + Sync {
    /// The clinic whose API key hashes to `key_hash`.
    async fn clinic_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Clinic>>;
    /// One clinic.
    async fn clinic(&self, id: &ClinicId) -> StoreResult<Option<Clinic>>;
    /// Creates or replaces a clinic's settings.
    async fn put_clinic(&self, clinic: &Clinic) -> StoreResult<()>;
    /// Makes `key_hash` the clinic's (only) API key.
    async fn set_api_key_hash(&self, id: &ClinicId, key_hash: &str) -> StoreResult<()>;
}

/// Appointment types.
#[async_trait]
pub trait TypeStore: Send + Sync {
    /// Creates or replaces a type; `true` when it was new.
    async fn put_type(&self, clinic: &ClinicId, appointment_type: &AppointmentType) -> StoreResult<bool>;
    /// All of a clinic's types, by code.
    async fn types(&self, clinic: &ClinicId) -> StoreResult<Vec<AppointmentType>>;
    /// One type's settings, if the clinic set any.
    async fn type_settings(&self, clinic: &ClinicId, code: &TypeCode) -> StoreResult<Option<TypeSettings>>;
}

/// One atomic write of an appointment with what it causes.
#[derive(Debug, Clone)]
pub struct AppointmentWrite {
    /// The new record; its `version` is the expected stored version plus one.
    pub record: AppointmentRecord,
    /// Messages to record (a key already present is left as it is). A message may be recorded
    /// already claimed (`Sending`, `at` = the claim's instant) by the writer that is about to
    /// send it: the write is then also its claim, taken against the version it writes.
    pub messages: Vec<MessageRecord>,
    /// Events to append to the clinic's feed.
    pub events: Vec<NewEvent>,
}

/// How a send ended, written together with its event and ledger entry.
#[derive(Debug, Clone)]
pub struct MessageOutcome {
    /// The instant the sender's claim was taken (`claim_message`'s `now`): the outcome is
    /// written only while the message is still `Sending` under that claim, so a retried
    /// completion (a lost answer) or a sender whose lease was taken over writes nothing twice.
    pub claimed_at: DateTime<Utc>,
    /// `Sent`, `Failed`, `Undeliverable` or `Dropped`.
    pub status: MessageStatus,
    /// When the send ended.
    pub at: DateTime<Utc>,
    /// Why it failed.
    pub detail: Option<String>,
    /// The event for the EMR.
    pub event: NewEvent,
    /// For an accepted text: what the clinic is billed.
    pub ledger: Option<LedgerEntry>,
    /// For an accepted text: the number it went to (E.164), so that a reply from it finds the
    /// appointment ([`AppointmentStore::latest_text_to`]).
    pub texted_to: Option<String>,
}

/// Where a patient's text reply leads: the latest text this deployment sent to the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRoute {
    /// The clinic that sent it.
    pub clinic_id: ClinicId,
    /// The appointment it spoke of.
    pub appointment_id: AppointmentId,
    /// When it was accepted by the provider.
    pub sent_at: DateTime<Utc>,
}

/// The key a number's [`TextRoute`] is kept under: its SHA-256 in hex, so that store keys (which
/// metrics, traces and consoles show) do not spell the number out. Not anonymisation: phone
/// numbers are few enough to enumerate, and the appointment holds the number anyway.
pub fn number_key(e164: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(e164.as_bytes()))
}

/// One claimed message's outcome, for [`AppointmentStore::complete_messages`].
#[derive(Debug, Clone)]
pub struct Completion {
    /// The message's key.
    pub key: String,
    /// How its send ended.
    pub outcome: MessageOutcome,
}

/// What writing a pass's outcomes checks of the appointment, and may record on it.
#[derive(Debug, Clone, Copy)]
pub struct AfterOutcomes<'a> {
    /// The version the caller read: the write tells whether the appointment is still at it.
    pub version: u64,
    /// Given when the caller knows that, once these outcomes are written, everything that
    /// version causes is done (its messages all final, its reminder's schedule placed): the
    /// appointment's messages as they will then be. A store may record them with the
    /// appointment (while it is still at `version` and no message was added since), so that a
    /// replay finds them in its first read (see [`Found::settled`]).
    pub settled: Option<&'a [MessageRecord]>,
}

/// Where a message is: its clinic, appointment and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAddress {
    /// The clinic.
    pub clinic_id: ClinicId,
    /// The appointment.
    pub appointment_id: AppointmentId,
    /// The message's key.
    pub key: String,
}

/// A provider's report on a sent message, as one write (docs/BEHAVIOUR.md §10).
#[derive(Debug, Clone)]
pub struct FeedbackWrite {
    /// The message.
    pub message: MessageAddress,
    /// The status the caller read: the write happens only while the message still has it
    /// (and `read_at`), so two reports racing end in the order the rules allow.
    pub from: MessageStatus,
    /// The message's `at` as the caller read it (a text's ledger entry is keyed by it).
    pub read_at: DateTime<Utc>,
    /// The new status.
    pub status: MessageStatus,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// What the provider said, if anything (never personal data).
    pub detail: Option<String>,
    /// The event for the EMR.
    pub event: NewEvent,
    /// Addresses for the clinic's suppression list (a permanent bounce, a complaint).
    pub suppress: Vec<Suppression>,
    /// For a text: what the provider reported it cost, recorded beside its ledger entry.
    pub provider_price_micro_usd: Option<i64>,
}

/// What a patient link leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// The appointment (the caller still checks the link's expiry against its clock).
    Appointment(Box<AppointmentRecord>),
    /// The link existed, and the appointment's data was removed when it expired.
    Expired,
    /// No such link.
    Unknown,
}

/// Appointments, their messages, and the patient-link index.
#[async_trait]
pub trait AppointmentStore: Send + Sync {
    /// One appointment.
    async fn appointment(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Option<AppointmentRecord>>;
    /// What a patient link points to.
    async fn appointment_by_token(&self, token: &str) -> StoreResult<LinkTarget>;
    /// Writes `write.record` if the stored version is `write.record.version - 1` (a version of 1
    /// means "must not exist yet"), together with its messages and events; else `Conflict` and
    /// nothing is written. Returns the keys of the messages it recorded (the others were there
    /// already and were left as they were).
    async fn write_appointment(&self, write: &AppointmentWrite) -> StoreResult<Vec<String>>;
    /// Records messages of the appointment `record` whose key is not yet present, only while
    /// the appointment is still at `record.version` (else `Conflict` and nothing is written);
    /// returns the keys of those it recorded. Like `write_appointment`'s, a message may be
    /// recorded already claimed.
    async fn add_messages(&self, record: &AppointmentRecord, messages: &[MessageRecord]) -> StoreResult<Vec<String>>;
    /// The appointment's messages, oldest first.
    async fn messages(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Vec<MessageRecord>>;
    /// Takes a message for sending: succeeds (true) for exactly one caller while it is `Pending`
    /// or `Failed`, or `Sending` with a lease older than `stale_before`, and only while the
    /// appointment is still at `appointment_version` — so a message is never sent on the strength
    /// of a read that a later save (a move, a cancel) has overtaken.
    async fn claim_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        appointment_version: u64,
    ) -> StoreResult<bool>;
    /// Ends a claimed message: status, event and ledger entry in one write, only if the message
    /// is still `Sending` under `outcome.claimed_at`; otherwise (already completed, or the claim
    /// was taken over) nothing is written and the call succeeds.
    async fn complete_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key: &str,
        outcome: &MessageOutcome,
    ) -> StoreResult<()>;
    /// Writes a provider's report on a message if the message is still as the caller read it
    /// (`write.from`, `write.read_at`): status, event, suppressions and the ledger's provider
    /// price together. `false`, with nothing written, when it is not.
    async fn apply_feedback(&self, write: &FeedbackWrite) -> StoreResult<bool>;
    /// The text a provider's message id names (recorded with the text's ledger entry).
    async fn text_by_provider_id(&self, provider_message_id: &str) -> StoreResult<Option<MessageAddress>>;
    /// Where a text reply from `number` (E.164), sent at `sent_by`, leads: the route of the
    /// latest text completed as sent to it (`MessageOutcome::texted_to`) at or before `sent_by`,
    /// whatever its age; `None` if none is kept.
    async fn latest_text_to(&self, number: &str, sent_by: DateTime<Utc>) -> StoreResult<Option<TextRoute>>;
    /// Gives back claims their holder did not use (it ran out of time before sending): each
    /// message still `Sending` under its claim (key, claim's instant) is `Pending` again, so
    /// the next caller sends it at once, and as never attempted.
    async fn release_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        claims: &[(String, DateTime<Utc>)],
    ) -> StoreResult<()>;
    /// Ends several claimed messages of one appointment, each exactly as `complete_message`
    /// would (one no longer under its claim is left as it is), and tells whether the
    /// appointment was still at `after.version` once they were written. A store that can
    /// writes them all at once with that check, in one round trip. `completions` may be empty:
    /// the call is then the check (and the record of `after.settled`) alone.
    async fn complete_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        completions: &[Completion],
        after: AfterOutcomes<'_>,
    ) -> StoreResult<bool> {
        for completion in completions {
            self.complete_message(clinic, id, &completion.key, &completion.outcome)
                .await?;
        }
        Ok(self
            .appointment(clinic, id)
            .await?
            .is_some_and(|record| record.version == after.version))
    }
}

/// The EMR's event feed.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Up to `limit` events with a cursor greater than `after`, oldest first.
    async fn events_after(&self, clinic: &ClinicId, after: u64, limit: usize) -> StoreResult<Vec<Event>>;
}

/// The SMS cost ledger.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Entries with `from ≤ sent_at < to`, oldest first.
    async fn ledger_between(
        &self,
        clinic: &ClinicId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LedgerEntry>>;
}

/// Each clinic's suppression list: addresses no email goes to (docs/BEHAVIOUR.md §10). Entries
/// are added by [`AppointmentStore::apply_feedback`].
#[async_trait]
pub trait SuppressionStore: Send + Sync {
    /// The clinic's list, by address.
    async fn suppressions(&self, clinic: &ClinicId) -> StoreResult<Vec<Suppression>>;
    /// Whether `address` (any case) is on the clinic's list.
    async fn is_suppressed(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool>;
    /// Puts addresses on the clinic's list (a report whose message no longer moves still lists
    /// its address); one already there is left as it is or updated.
    async fn suppress(&self, clinic: &ClinicId, suppressions: &[Suppression]) -> StoreResult<()>;
    /// Takes `address` (any case) off the clinic's list; `false` when it was not on it.
    async fn lift_suppression(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool>;
}

/// What one request reads before it decides anything, asked for at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The clinic's settings.
    pub clinic: bool,
    /// An appointment of the clinic.
    pub appointment: Option<AppointmentId>,
    /// An appointment type's settings.
    pub type_code: Option<TypeCode>,
    /// Whether this address is on the clinic's suppression list (a save reads it with the
    /// appointment, sparing each email its own read).
    pub suppression_of: Option<String>,
}

/// What [`ReadTogether::read_together`] found (`None` for what was not asked for or not there).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// The clinic.
    pub clinic: Option<Clinic>,
    /// The appointment.
    pub appointment: Option<AppointmentRecord>,
    /// The type's settings.
    pub type_settings: Option<TypeSettings>,
    /// The appointment's messages, when the store recorded that everything its stored version
    /// causes is done (see [`AfterOutcomes::settled`]); `None` when it did not, or cannot.
    pub settled: Option<Vec<MessageRecord>>,
    /// For `Wanted::suppression_of`: the address, and whether it is suppressed.
    pub suppressed: Option<(String, bool)>,
}

/// What [`ReadTogether::add_messages_checking`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    /// The keys of the messages it recorded (as [`AppointmentStore::add_messages`] returns them).
    pub recorded: Vec<String>,
    /// The address asked about, and whether it is suppressed; `None` when it was not learnt
    /// (nothing was left to write): the sender then reads it itself.
    pub suppressed: Option<(String, bool)>,
}

/// What a patient link leads to, with what its page needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Linked {
    /// The appointment, or why there is none.
    pub target: LinkTarget,
    /// Its clinic (when the link leads to an appointment).
    pub clinic: Option<Clinic>,
    /// Its type's settings, if the clinic set any.
    pub type_settings: Option<TypeSettings>,
}

/// Reads of several records that one request needs together. The defaults read them one after
/// the other; a store that can reads them in one round trip.
#[async_trait]
pub trait ReadTogether: ClinicStore + TypeStore + AppointmentStore + SuppressionStore {
    /// What `wanted` asks for, of clinic `clinic`.
    async fn read_together(&self, clinic: &ClinicId, wanted: &Wanted) -> StoreResult<Found> {
        let mut found = Found::default();
        if wanted.clinic {
            found.clinic = self.clinic(clinic).await?;
        }
        if let Some(id) = &wanted.appointment {
            found.appointment = self.appointment(clinic, id).await?;
        }
        if let Some(code) = &wanted.type_code {
            found.type_settings = self.type_settings(clinic, code).await?;
        }
        if let Some(address) = &wanted.suppression_of {
            found.suppressed = Some((address.clone(), self.is_suppressed(clinic, address).await?));
        }
        Ok(found)
    }

    /// [`AppointmentStore::add_messages`], reading with it whether `address` (lower case) is on
    /// the clinic's suppression list, for a sender that learns the address from the appointment
    /// it has just read. The default reads it first; a store that can checks it in the write.
    async fn add_messages_checking(
        &self,
        record: &AppointmentRecord,
        messages: &[MessageRecord],
        address: Option<&str>,
    ) -> StoreResult<Added> {
        let suppressed = match address {
            Some(address) => Some((
                address.to_owned(),
                self.is_suppressed(&record.clinic_id, address).await?,
            )),
            None => None,
        };
        let recorded = self.add_messages(record, messages).await?;
        Ok(Added { recorded, suppressed })
    }

    /// The appointment behind a patient link, with its clinic and type settings.
    async fn read_by_token(&self, token: &str) -> StoreResult<Linked> {
        let target = self.appointment_by_token(token).await?;
        let LinkTarget::Appointment(record) = &target else {
            return Ok(Linked {
                target,
                clinic: None,
                type_settings: None,
            });
        };
        let wanted = Wanted {
            clinic: true,
            appointment: None,
            type_code: Some(record.content.type_code.clone()),
            suppression_of: None,
        };
        let found = self.read_together(&record.clinic_id, &wanted).await?;
        Ok(Linked {
            target,
            clinic: found.clinic,
            type_settings: found.type_settings,
        })
    }
}

/// Every store capability at once.
pub trait Store:
    ClinicStore + TypeStore + AppointmentStore + EventStore + LedgerStore + SuppressionStore + ReadTogether
{
}
impl<T: ClinicStore + TypeStore + AppointmentStore + EventStore + LedgerStore + SuppressionStore + ReadTogether> Store
    for T
{
}

/// The time, injected so tests and the dev server can drive it.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// A provider refused or failed to take a message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    /// What went wrong, without personal data (a provider's error code, not its message).
    pub reason: String,
    /// The provider refused this message for good (an unverified sender, a rejected message):
    /// retrying cannot help, so it is recorded as undeliverable instead of failing the request.
    pub permanent: bool,
    /// The provider may have taken the message all the same (a 5xx, a timeout: the answer was
    /// lost, not necessarily the send), so a retry may deliver a second copy.
    pub maybe_sent: bool,
}

impl SendError {
    /// A failure worth retrying, the message certainly not taken (throttling, a refused
    /// connection).
    pub fn temporary(reason: impl Into<String>) -> SendError {
        SendError {
            reason: reason.into(),
            permanent: false,
            maybe_sent: false,
        }
    }

    /// A failure worth retrying whose message the provider may have taken (a 5xx, a timeout).
    pub fn unknown_outcome(reason: impl Into<String>) -> SendError {
        SendError {
            reason: reason.into(),
            permanent: false,
            maybe_sent: true,
        }
    }

    /// A refusal that retrying cannot change.
    pub fn permanent(reason: impl Into<String>) -> SendError {
        SendError {
            reason: reason.into(),
            permanent: true,
            maybe_sent: false,
        }
    }
}

/// An email ready to hand to the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    /// Names the message (`formats::delivery::encode_tag`: ids only), so the provider's
    /// reports about it find it again.
    pub tag: String,
    /// The clinic's sender identity.
    pub from: String,
    /// Where replies go.
    pub reply_to: Option<String>,
    /// The patient's address.
    pub to: String,
    /// What it is (for the outbox and provider tags).
    pub kind: MessageKind,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

/// A text ready to hand to the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingText {
    /// Names the message, as for emails (SNS cannot carry it to its delivery logs; the dev
    /// outbox keeps it).
    pub tag: String,
    /// E.164 number.
    pub to: String,
    /// What it is.
    pub kind: MessageKind,
    /// The words.
    pub body: String,
}

/// Sends emails.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands the email to the provider; returns its message id.
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, SendError>;
}

/// Sends texts.
#[async_trait]
pub trait Texter: Send + Sync {
    /// Hands the text to the provider; returns its message id.
    async fn send_text(&self, text: &OutgoingText) -> Result<String, SendError>;
    /// Whether the number asked the provider to stop texts.
    async fn is_opted_out(&self, to: &str) -> Result<bool, SendError>;
    /// Records that the number replied an opt-out word, so it gets no more texts (a provider
    /// that keeps its own opt-out list from the same replies, as SNS does, has nothing to do).
    async fn honour_opt_out(&self, to: &str) -> Result<(), SendError>;
    /// Lifts the opt-out the number asked for by text (`START`, `UNSTOP`).
    async fn lift_opt_out(&self, to: &str) -> Result<(), SendError>;
}

/// What a schedule fires for: its payload's `kind` (docs/BEHAVIOUR.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// The pre-visit reminder.
    Reminder,
    /// Texts held back by quiet hours, or a message to try again.
    Texts,
    /// A kind this version does not know (a schedule left by another version): skipped.
    #[serde(other)]
    Unknown,
}

/// The scheduler's input when a schedule fires (docs/BEHAVIOUR.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulePayload {
    /// The clinic the appointment belongs to.
    pub clinic_id: ClinicId,
    /// The EMR's id of the appointment.
    pub appointment_id: AppointmentId,
    /// The revision that planned the schedule.
    pub revision: u64,
    /// What it fires for.
    pub kind: ScheduleKind,
    /// The appointment's type when the schedule was put: a hint that lets the reminder read the
    /// type together with the appointment (absent from schedules of earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<TypeCode>,
    /// Which of the appointment's reminders it fires (absent: the 36-h one, the only reminder
    /// earlier versions planned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<ReminderOffset>,
}

/// A one-time schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Deterministic name (≤ 64 chars of `[0-9a-zA-Z-_.]`).
    pub name: String,
    /// When it fires.
    pub at: DateTime<Utc>,
    /// What it carries.
    pub payload: SchedulePayload,
}

/// A scheduler failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("scheduler unavailable: {0}")]
pub struct ScheduleError(pub String);

/// One-time schedules (EventBridge Scheduler, or the dev server's in-process one).
#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Creates the schedule, or replaces the one with the same name.
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError>;
    /// Deletes a schedule; deleting one that does not exist succeeds.
    async fn delete_schedule(&self, name: &str) -> Result<(), ScheduleError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_payload_reads_its_kind_and_keeps_unknown_ones_apart() {
        let kind_of = |kind: &str| {
            let payload = format!(r#"{{"clinic_id":"c","appointment_id":"a","revision":1,"kind":"{kind}"}}"#);
            serde_json::from_str::<SchedulePayload>(&payload).unwrap().kind
        };
        assert_eq!(kind_of("reminder"), ScheduleKind::Reminder);
        assert_eq!(kind_of("texts"), ScheduleKind::Texts);
        assert_eq!(kind_of("survey"), ScheduleKind::Unknown);
        let written = serde_json::to_value(ScheduleKind::Texts).unwrap();
        assert_eq!(written, "texts");
    }

    #[test]
    fn a_reminder_payload_names_its_offset_or_is_the_36_hour_one() {
        let default: SchedulePayload =
            serde_json::from_str(include_str!("../../events/reminder/reminder.json")).unwrap();
        assert_eq!(default.before, None);
        let week: SchedulePayload =
            serde_json::from_str(include_str!("../../events/reminder/reminder-7d.json")).unwrap();
        assert_eq!(week.before, Some(ReminderOffset::parse("7d").unwrap()));
        assert_eq!(week.type_code.as_ref().map(TypeCode::as_str), Some("SUIVI"));
        // Written back without `before` when it is the default, as Scheduler inputs always were.
        let written = serde_json::to_value(&default).unwrap();
        assert!(written.get("before").is_none());
        assert!(serde_json::from_str::<SchedulePayload>(
            r#"{"clinic_id":"c","appointment_id":"a","revision":1,"kind":"reminder","before":"3w"}"#
        )
        .is_err());
    }
}
