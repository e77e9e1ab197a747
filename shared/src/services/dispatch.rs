//! Sending recorded messages: claim, render, hand to the provider, record the outcome.
//! The claim makes every message go out at most once however many callers race; its lease lets a
//! later caller take over from a sender that died (a killed function, a timeout).

use super::schedules::dispatch_schedule;
use super::PatientAction;
use super::{Budget, Dependency, Rappel, ServiceError};
use crate::domain::*;
use crate::formats::delivery;
use crate::messages::{self, sms, Details, ReplyInvite};
use crate::ports::{AfterOutcomes, Completion, MessageOutcome, OutgoingEmail, OutgoingText, SendError};
use crate::rules;
use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use std::collections::HashMap;

/// How long a claimed message stays reserved to its sender: longer than a live sender can hold it
/// (one provider call, at most `PROVIDER_TIMEOUT`, then one store write, at most 6 s), so a live
/// sender is never overtaken; short enough that a retry soon takes over from a dead one.
pub const CLAIM_LEASE: Duration = Duration::seconds(30);

/// How long a caller waits for another sender of the same message before answering "retry".
const WAIT_FOR_OTHER_SENDER: std::time::Duration = std::time::Duration::from_secs(2);

/// The reason a `message_sent` event carries when an earlier attempt at the same message may have
/// gone out too: its provider answer was lost (a 5xx, a timeout), or its sender was killed
/// mid-send and the message was taken over once its lease ran out. The patient may then have it
/// twice; this is how such a copy is counted.
pub const POSSIBLE_DUPLICATE: &str = "possible_duplicate";

/// Marks, in a failed message's detail, an attempt whose provider may have taken the message.
const MAYBE_SENT: &str = "it may have gone out";

/// Pauses before retrying, within the same request, a send the provider certainly did not take
/// (throttling): the SDK clients of the providers make one attempt each.
const SAFE_RETRY_PAUSES: [std::time::Duration; 2] = [
    std::time::Duration::from_millis(200),
    std::time::Duration::from_millis(800),
];

/// When a message whose send failed, and that no caller will retry, is tried again.
const RETRY_AFTER: Duration = Duration::minutes(1);

/// Whether a recorded message still says something true when it is about to go out. A message
/// held back (quiet hours, a provider outage) is dropped once the appointment moved on.
fn still_applies(
    record: &AppointmentRecord,
    message: &MessageRecord,
    all: &[MessageRecord],
    now: DateTime<Utc>,
) -> bool {
    let content = &record.content;
    let patient_cancelled = record.patient_status == PatientStatus::CancelledByPatient;
    // An answer to a text reply may follow the appointment (a "merci" the evening after).
    if content.start() <= now && message.kind != MessageKind::ReplyHelp {
        return false;
    }
    match message.kind {
        MessageKind::Confirmation | MessageKind::Change | MessageKind::Cancellation => {
            let is_notice = |m: &&MessageRecord| {
                m.channel == message.channel
                    && matches!(
                        m.kind,
                        MessageKind::Confirmation | MessageKind::Change | MessageKind::Cancellation
                    )
            };
            let newest = all.iter().rfind(is_notice).is_some_and(|m| m.key == message.key);
            let cancellation = message.kind == MessageKind::Cancellation;
            newest && cancellation != content.is_booked() && (cancellation || !patient_cancelled)
        }
        MessageKind::CancellationReceipt => patient_cancelled && content.is_booked(),
        MessageKind::ConfirmationReceipt => {
            content.is_booked() && matches!(record.patient_status, PatientStatus::Confirmed | PatientStatus::Arrived)
        }
        // Even after the start (see above): the link and the phone still help.
        MessageKind::ReplyHelp => true,
        MessageKind::Reminder => {
            let Some(before) = message.before() else {
                return false;
            };
            let planned = record.reminder(before);
            // Past its window (a send that kept failing, retried by a later save), a reminder
            // no longer goes: days late, or at night, it would say the wrong thing.
            let in_window = now <= rules::reminder_window(content.start(), before.duration()).1;
            planned.map(|r| r.revision) == Some(message.revision)
                && in_window
                && content.is_booked()
                && !patient_cancelled
        }
    }
}

/// Whether an earlier attempt at `message` may have reached the patient: its sender was killed
/// mid-send (claimed from `sending`, its lease run out), or its provider's answer was lost.
fn may_have_gone_out(message: &MessageRecord) -> bool {
    match message.status {
        MessageStatus::Sending => true,
        MessageStatus::Failed => message
            .detail
            .as_deref()
            .is_some_and(|d| d.ends_with(&format!("({MAYBE_SENT})"))),
        _ => false,
    }
}

/// What handing one message to its provider gave.
enum Attempt {
    Sent {
        provider_id: String,
        ledger: Option<(sms::Encoding, u32)>,
    },
    /// Worth retrying; `maybe_sent` when the provider may have taken it all the same.
    Failed {
        reason: String,
        maybe_sent: bool,
    },
    /// Final: no address, opted out, over the cap, refused for good by the provider.
    Undeliverable(String),
    Dropped,
}

impl Attempt {
    /// A provider's error, named after the provider.
    fn provider_error(provider: &str, e: SendError) -> Attempt {
        if e.permanent {
            Attempt::Undeliverable(format!("refused by the {provider}: {}", e.reason))
        } else {
            Attempt::Failed {
                reason: format!("{provider}: {}", e.reason),
                maybe_sent: e.maybe_sent,
            }
        }
    }
}

/// How one pass over an appointment's messages ended.
enum PassEnd {
    /// Every open message was handled or left for a reason in the report: the messages as the
    /// pass left them.
    Done(Vec<MessageRecord>),
    /// A save moved the appointment on since it was read: read it again and start over.
    Overtaken,
}

/// One pass's ending, what writing its outcomes said of the appointment's version, and the
/// keys of the messages it completed.
struct Pass {
    ending: PassEnd,
    still_current: Option<bool>,
    completed: Vec<String>,
}

impl Pass {
    fn done(messages: Vec<MessageRecord>) -> Pass {
        Pass {
            ending: PassEnd::Done(messages),
            still_current: None,
            completed: Vec::new(),
        }
    }
}

/// What a dispatch leaves undone, and why: any of these makes it answer "retry".
#[derive(Default)]
struct Leftovers {
    /// The provider that failed a send (mailer or texter) and its error code.
    provider_failure: Option<(Dependency, String)>,
    held_by_another_sender: bool,
    out_of_time: bool,
}

impl Leftovers {
    fn is_empty(&self) -> bool {
        self.provider_failure.is_none() && !self.held_by_another_sender && !self.out_of_time
    }

    fn into_result(self) -> Result<(), ServiceError> {
        if let Some((provider, reason)) = self.provider_failure {
            Err(ServiceError::unavailable(
                provider,
                format!("a message could not be sent: {reason}"),
            ))
        } else if self.held_by_another_sender {
            Err(ServiceError::unavailable(
                Dependency::ConcurrentRequests,
                "a message is still being sent by another request",
            ))
        } else if self.out_of_time {
            Err(ServiceError::unavailable(
                Dependency::TimeBudget,
                "the request ran out of time before every message was sent",
            ))
        } else {
            Ok(())
        }
    }
}

/// What every step of one dispatch pass works with: the appointment as read, what its
/// messages say, and the request's budget.
#[derive(Clone, Copy)]
struct Sending<'a> {
    clinic: &'a Clinic,
    record: &'a AppointmentRecord,
    details: &'a Details,
    budget: &'a Budget,
    /// Whether the record's email is suppressed, when the caller knows.
    email_suppressed: Option<bool>,
}

/// The outcome of a claim.
enum Claim {
    /// This caller sends it; the claim's instant.
    Won(DateTime<Utc>),
    /// A save overtook the read the claim was made on.
    Overtaken,
    /// Sent already, or another sender holds it.
    Taken,
}

/// What the caller of a dispatch already knows: each saves a store call.
#[derive(Default)]
pub(super) struct Known<'a> {
    /// The appointment type's settings, when the caller has just read them.
    pub type_settings: Option<&'a Option<TypeSettings>>,
    /// The messages to look at, as stored, when the caller has just written them all; `None`
    /// reads every message of the appointment.
    pub messages: Option<Vec<MessageRecord>>,
    /// Messages the caller recorded already claimed (key → the claim's instant): they are its
    /// to send without another claim.
    pub held: HashMap<String, DateTime<Utc>>,
    /// Work to run during the first sends (or on its own when there are none), always finished
    /// before any outcome is written; it answers whether it did what it had to.
    pub alongside: Option<Alongside<'a>>,
    /// Whether an address is on the clinic's suppression list, when the caller read it with
    /// the appointment: used while the appointment's email is that address.
    pub suppressed: Option<(String, bool)>,
    /// The caller is a save: when its first pass leaves every message final, its `alongside`
    /// work done and nothing left over, that is recorded with the outcomes (see
    /// [`AfterOutcomes::settled`]), so a replay of the save reads everything in one call.
    pub settle: bool,
}

/// How a dispatch left the appointment's messages.
pub(super) struct Dispatched {
    /// The messages as the dispatch left them (those it looked at).
    pub messages: Vec<MessageRecord>,
    /// Whether the appointment was still at the dispatched version when the outcomes were
    /// written (`None`: nothing was written, so the dispatch cannot tell).
    pub still_current: Option<bool>,
}

/// Marks the new messages a writer is about to send as claimed by it at `now` (`sending`, `at`
/// the claim's instant): texts that quiet hours hold back stay pending.
pub(super) fn claim_on_write(messages: &mut [MessageRecord], clinic: &ClinicSettings, now: DateTime<Utc>) {
    // To the microsecond, as every store keeps it: the claim is recognised when read back.
    let now = now.trunc_subsecs(6);
    let quiet = clinic.quiet_hours.contains(now, clinic.tz());
    for message in messages.iter_mut().filter(|m| !(quiet && m.channel == Channel::Sms)) {
        message.status = MessageStatus::Sending;
        message.at = now;
    }
}

impl<'a> Known<'a> {
    /// What a write that recorded `written` (marked by [`claim_on_write`]) leaves its caller
    /// knowing: the claims it took, on the messages it recorded (a key already present was left
    /// as it was, under whatever claim it had), and, when the caller knew the messages `before`
    /// the write and every one of `written` was recorded, the appointment's messages in full.
    pub(super) fn after_write(
        type_settings: &'a Option<TypeSettings>,
        before: Option<Vec<MessageRecord>>,
        written: &[MessageRecord],
        recorded: &[String],
    ) -> Known<'a> {
        let held = written
            .iter()
            .filter(|m| m.status == MessageStatus::Sending && recorded.contains(&m.key))
            .map(|m| (m.key.clone(), m.at))
            .collect();
        let all_recorded = recorded.len() == written.len();
        Known {
            type_settings: Some(type_settings),
            messages: before
                .filter(|_| all_recorded)
                .map(|before| [before, written.to_vec()].concat()),
            held,
            ..Known::default()
        }
    }
}

/// Whether `message` is under a claim the caller's own write took.
fn is_held(message: &MessageRecord, held: &HashMap<String, DateTime<Utc>>) -> bool {
    message.status == MessageStatus::Sending && held.get(&message.key) == Some(&message.at)
}

/// Work a caller runs alongside the first pass's sends, finished before their outcomes are
/// written (the save places the reminder's schedule there: see `Rappel::carry_out`).
pub(super) type Alongside<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;

/// What one round of sends gave.
#[derive(Default)]
struct SendRound {
    /// The outcomes, to write together.
    finished: Vec<Finished>,
    /// A claim found the appointment changed since it was read.
    overtaken: bool,
    /// Texts were held back by quiet hours.
    held_back: bool,
}

/// A message sent (or given up) whose outcome waits to be written with the others of its pass.
struct Finished {
    index: usize,
    key: String,
    outcome: MessageOutcome,
}

impl Rappel {
    /// Sends every message of `record` that is not sent yet and that nobody else is sending,
    /// starting from what the caller knows (see [`Known`]). Returns `Unavailable` when
    /// something is left to send, so the caller's retry completes it.
    pub(super) async fn dispatch_known(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        mut known: Known<'_>,
        budget: &Budget,
    ) -> Result<Dispatched, ServiceError> {
        let mut record = record.clone();
        let mut leftovers = Leftovers::default();
        let mut done = None;
        let mut still_current = None;
        let mut completed = Vec::new();
        // Each overtaking save dispatches too, so giving up after a few passes loses nothing.
        for _ in 0..8 {
            let messages = match known.messages.take() {
                Some(messages) => messages,
                None => self.store.messages(&clinic.id, &record.id).await?,
            };
            let pass = self
                .dispatch_pass(clinic, &record, messages, &mut known, budget, &mut leftovers)
                .await?;
            completed.extend(pass.completed);
            // Once overtaken, later passes speak of a newer version, not of the one asked about.
            if still_current != Some(false) {
                still_current = pass.still_current.or(still_current);
            }
            match pass.ending {
                PassEnd::Done(messages) => {
                    done = Some(messages);
                    break;
                }
                PassEnd::Overtaken => {
                    still_current = Some(false);
                    match self.store.appointment(&clinic.id, &record.id).await? {
                        Some(fresh) => record = fresh,
                        None => break,
                    }
                }
            }
        }
        if let Some(job) = known.alongside.take() {
            job.await;
        }
        self.release_unused(clinic, &record, &known.held, &completed).await;
        leftovers.into_result()?;
        let messages = match done {
            Some(messages) => messages,
            None => self.store.messages(&clinic.id, &record.id).await?,
        };
        Ok(Dispatched {
            messages,
            still_current,
        })
    }

    /// One pass over `messages`: claims each open one (against the version of `record` read)
    /// unless the caller holds it, sends it, and writes every outcome of the pass together.
    async fn dispatch_pass(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        mut messages: Vec<MessageRecord>,
        known: &mut Known<'_>,
        budget: &Budget,
        leftovers: &mut Leftovers,
    ) -> Result<Pass, ServiceError> {
        let open: Vec<usize> = (0..messages.len())
            .filter(|&i| {
                matches!(
                    messages[i].status,
                    MessageStatus::Pending | MessageStatus::Failed | MessageStatus::Sending
                )
            })
            .collect();
        if open.is_empty() {
            let alongside_done = match known.alongside.take() {
                Some(job) => job.await,
                None => false,
            };
            let mut pass = Pass::done(messages);
            if known.settle && alongside_done {
                let PassEnd::Done(messages) = &mut pass.ending else {
                    unreachable!("a pass just made done")
                };
                pass.still_current = self.record_outcomes(clinic, record, messages, Vec::new(), true).await?;
            }
            return Ok(pass);
        }
        let type_settings = match known.type_settings {
            Some(known) => known.clone(),
            None => self.store.type_settings(&clinic.id, &record.content.type_code).await?,
        };
        let language = record.language(clinic.settings.language);
        let details = self.details(&clinic.settings, type_settings.as_ref(), record, language);
        let now = self.clock.now();
        let email = record.content.patient.email.as_ref().map(|e| e.as_str().to_lowercase());
        let sending = Sending {
            clinic,
            record,
            details: &details,
            budget,
            email_suppressed: known
                .suppressed
                .as_ref()
                .filter(|(address, _)| Some(address) == email.as_ref())
                .map(|(_, suppressed)| *suppressed),
        };
        let open_sends = self.send_open(&sending, &messages, open, &known.held, leftovers);
        let (round, alongside_done) = match known.alongside.take() {
            Some(job) => tokio::join!(open_sends, job),
            None => (open_sends.await, false),
        };
        let SendRound {
            finished,
            overtaken,
            held_back,
        } = round?;
        // Outcomes are written before anything else happens, overtaken or not: they are sends.
        let completed = finished.iter().map(|f| f.key.clone()).collect();
        let may_settle = known.settle && alongside_done && !overtaken && !held_back && leftovers.is_empty();
        let still_current = self
            .record_outcomes(clinic, record, &mut messages, finished, may_settle)
            .await?;
        if overtaken {
            return Ok(Pass {
                ending: PassEnd::Overtaken,
                still_current,
                completed,
            });
        }
        if held_back {
            let at = rules::quiet_end(now, &clinic.settings.quiet_hours, clinic.settings.tz());
            tracing::info!(clinic = %clinic.id, appointment = %record.id, until = %at, "texts held back by quiet hours");
            self.schedule_dispatch(clinic, record, at, budget).await?;
        }
        Ok(Pass {
            ending: PassEnd::Done(messages),
            still_current,
            completed,
        })
    }

    /// Claims (unless held) and sends each open message of `messages` in turn, as the request's
    /// budget, quiet hours and other senders allow; the outcomes are returned, not yet written.
    async fn send_open(
        &self,
        sending: &Sending<'_>,
        messages: &[MessageRecord],
        open: Vec<usize>,
        held: &HashMap<String, DateTime<Utc>>,
        leftovers: &mut Leftovers,
    ) -> Result<SendRound, ServiceError> {
        let Sending {
            clinic, record, budget, ..
        } = *sending;
        let now = self.clock.now();
        let quiet = clinic.settings.quiet_hours.contains(now, clinic.settings.tz());
        let mut round = SendRound::default();
        for i in open {
            let message = &messages[i];
            if quiet && message.channel == Channel::Sms && still_applies(record, message, messages, now) {
                round.held_back = true;
                continue;
            }
            if !budget.fits_a_send() {
                leftovers.out_of_time = true;
                break;
            }
            // A claim the caller's own write took is fresh; any other `Sending` is an attempt
            // that may have gone out.
            let earlier = if is_held(message, held) { None } else { Some(message) };
            let claimed_at = match self.claim(clinic, record, message, held).await? {
                Claim::Won(at) => at,
                Claim::Overtaken => {
                    round.overtaken = true;
                    break;
                }
                Claim::Taken => {
                    if self.still_sending_elsewhere(clinic, record, &message.key).await? {
                        leftovers.held_by_another_sender = true;
                    }
                    continue;
                }
            };
            let attempt = self
                .send_claimed(sending, message, messages, claimed_at, leftovers)
                .await;
            round.finished.push(Finished {
                index: i,
                key: message.key.clone(),
                outcome: self.outcome_of(sending, message, earlier, claimed_at, attempt),
            });
        }
        Ok(round)
    }

    /// Gives back the claims the caller recorded with its write that no pass used (out of
    /// time, quiet hours begun, a provider outage ending the dispatch early), so the next
    /// caller sends those messages at once instead of waiting for the lease to run out.
    async fn release_unused(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        held: &HashMap<String, DateTime<Utc>>,
        completed: &[String],
    ) {
        let unused: Vec<(String, DateTime<Utc>)> = held
            .iter()
            .filter(|(key, _)| !completed.contains(key))
            .map(|(key, at)| (key.clone(), *at))
            .collect();
        if unused.is_empty() {
            return;
        }
        if let Err(e) = self.store.release_messages(&clinic.id, &record.id, &unused).await {
            // Their lease runs out in `CLAIM_LEASE`, and a later caller takes them over.
            tracing::warn!(clinic = %clinic.id, appointment = %record.id, error = %e, "unused claims not given back");
        }
    }

    /// Sends a message this caller claimed at `claimed_at`, unless the appointment changed so
    /// that it no longer applies (then it is dropped). A failure is noted in `leftovers`.
    async fn send_claimed(
        &self,
        pass: &Sending<'_>,
        message: &MessageRecord,
        all: &[MessageRecord],
        claimed_at: DateTime<Utc>,
        leftovers: &mut Leftovers,
    ) -> Attempt {
        let Sending { clinic, record, .. } = *pass;
        let attempt = if still_applies(record, message, all, claimed_at) {
            self.send(pass, message).await
        } else {
            Attempt::Dropped
        };
        if let Attempt::Failed { reason, .. } = &attempt {
            tracing::warn!(clinic = %clinic.id, appointment = %record.id, kind = message.kind.as_str(), channel = message.channel.as_str(), reason, "send failed");
            let provider = match message.channel {
                Channel::Email => Dependency::Mailer,
                Channel::Sms => Dependency::Texter,
            };
            leftovers.provider_failure = Some((provider, reason.clone()));
        }
        attempt
    }

    /// How a claimed send ended, as it will be recorded: status, event and (for a text sent)
    /// its ledger entry, marked when an earlier attempt may have gone out too.
    fn outcome_of(
        &self,
        pass: &Sending<'_>,
        message: &MessageRecord,
        earlier: Option<&MessageRecord>,
        claimed_at: DateTime<Utc>,
        attempt: Attempt,
    ) -> MessageOutcome {
        let (clinic, record) = (pass.clinic, pass.record);
        let mut outcome = self.outcome(clinic, record, message, claimed_at, attempt);
        if earlier.is_some_and(may_have_gone_out) && outcome.status == MessageStatus::Sent {
            tracing::warn!(clinic = %clinic.id, appointment = %record.id, kind = message.kind.as_str(), channel = message.channel.as_str(), "sent again after an attempt that may have gone out");
            outcome.event.reason = Some(POSSIBLE_DUPLICATE.to_owned());
        }
        outcome
    }

    /// Writes the outcomes of a pass in one store call, each only while its claim still holds
    /// (see `Store::complete_messages`), and updates `messages` to match. With `may_settle`,
    /// when every message is then final, the call also records that (it is made for that alone
    /// when there are no outcomes). Returns whether the appointment was still at the pass's
    /// version then (`None` when no call was made).
    async fn record_outcomes(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        messages: &mut Vec<MessageRecord>,
        finished: Vec<Finished>,
        may_settle: bool,
    ) -> Result<Option<bool>, ServiceError> {
        let mut after = messages.clone();
        for f in &finished {
            let message = &mut after[f.index];
            message.status = f.outcome.status;
            message.at = f.outcome.at;
            message.detail = f.outcome.detail.clone();
        }
        let settled = may_settle && after.iter().all(|m| m.status.is_final());
        if finished.is_empty() && !settled {
            return Ok(None);
        }
        let completions: Vec<Completion> = finished
            .iter()
            .map(|f| Completion {
                key: f.key.clone(),
                outcome: f.outcome.clone(),
            })
            .collect();
        let check = AfterOutcomes {
            version: record.version,
            settled: settled.then_some(&after[..]),
        };
        let still_current = self
            .store
            .complete_messages(&clinic.id, &record.id, &completions, check)
            .await?;
        for f in &finished {
            let message = &after[f.index];
            tracing::info!(clinic = %clinic.id, appointment = %record.id, kind = message.kind.as_str(), channel = message.channel.as_str(), status = ?message.status, "message done");
        }
        *messages = after;
        Ok(Some(still_current))
    }

    /// Takes `message` for sending, against the version of `record` read, unless the caller
    /// recorded it already claimed (`held`).
    async fn claim(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        message: &MessageRecord,
        held: &HashMap<String, DateTime<Utc>>,
    ) -> Result<Claim, ServiceError> {
        if is_held(message, held) {
            return Ok(Claim::Won(message.at));
        }
        let now = self.clock.now();
        let won = self
            .store
            .claim_message(
                &clinic.id,
                &record.id,
                &message.key,
                now,
                now - CLAIM_LEASE,
                record.version,
            )
            .await?;
        if won {
            return Ok(Claim::Won(now));
        }
        let current = self.store.appointment(&clinic.id, &record.id).await?;
        Ok(if current.is_some_and(|c| c.version != record.version) {
            Claim::Overtaken
        } else {
            Claim::Taken
        })
    }

    /// Waits a little for another sender of `key` to finish: `true` if it is still sending (it may
    /// have died; its lease lets a later retry take over).
    async fn still_sending_elsewhere(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        key: &str,
    ) -> Result<bool, ServiceError> {
        let started = tokio::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(25);
        loop {
            let messages = self.store.messages(&clinic.id, &record.id).await?;
            let sending = messages
                .iter()
                .any(|m| m.key == key && m.status == MessageStatus::Sending);
            if !sending || started.elapsed() >= WAIT_FOR_OTHER_SENDER {
                return Ok(sending);
            }
            tokio::time::sleep(pause.min(WAIT_FOR_OTHER_SENDER.saturating_sub(started.elapsed()))).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(400));
        }
    }

    /// Whether a message going out now may ask the patient to confirm: confirming is open and
    /// they have not.
    fn confirm_open(&self, record: &AppointmentRecord) -> bool {
        record.patient_status == PatientStatus::Pending
            && rules::check_confirm(self.clock.now(), record.content.start()).is_ok()
    }

    /// The answers a text going out now may invite: those a reply would be acted on for, when
    /// the clinic takes replies and they reach this deployment.
    fn reply_invite(&self, clinic: &Clinic, record: &AppointmentRecord) -> ReplyInvite {
        if !(self.config.text_replies && clinic.settings.sms_replies) {
            return ReplyInvite::NONE;
        }
        let now = self.clock.now();
        let open = |action| super::patient::check_action(&clinic.settings, record, action, now).is_ok();
        ReplyInvite {
            confirm: record.patient_status == PatientStatus::Pending && open(PatientAction::Confirm),
            cancel: open(PatientAction::Cancel),
        }
    }

    /// The record of a finished attempt: status, event and, for a text sent, its ledger entry.
    fn outcome(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        message: &MessageRecord,
        claimed_at: DateTime<Utc>,
        attempt: Attempt,
    ) -> MessageOutcome {
        let at = self.clock.now();
        let mut texted_to = None;
        let (status, detail, event_type, ledger) = match attempt {
            Attempt::Sent { provider_id, ledger } => {
                let unit_price_cents = self.config.sms_prices.cents_at(at);
                let ledger = ledger.map(|(encoding, segments)| LedgerEntry {
                    clinic_id: clinic.id.clone(),
                    appointment_id: record.id.clone(),
                    message_key: message.key.clone(),
                    kind: message.kind,
                    provider_message_id: provider_id,
                    sent_at: at,
                    segments,
                    encoding: encoding.as_str().to_owned(),
                    unit_price_cents,
                    amount_cents: i64::from(segments) * unit_price_cents,
                    provider_price_micro_usd: None,
                });
                if ledger.is_some() {
                    texted_to = record.content.patient.mobile.as_ref().map(|m| m.as_str().to_owned());
                }
                (MessageStatus::Sent, None, EventType::MessageSent, ledger)
            }
            Attempt::Failed { reason, maybe_sent } => {
                let detail = if maybe_sent {
                    format!("{reason} ({MAYBE_SENT})")
                } else {
                    reason
                };
                (MessageStatus::Failed, Some(detail), EventType::MessageFailed, None)
            }
            Attempt::Undeliverable(reason) => (
                MessageStatus::Undeliverable,
                Some(reason),
                EventType::MessageFailed,
                None,
            ),
            Attempt::Dropped => (
                MessageStatus::Dropped,
                Some("dropped: the appointment changed before it could be sent".to_owned()),
                EventType::MessageFailed,
                None,
            ),
        };
        MessageOutcome {
            claimed_at,
            status,
            at,
            detail: detail.clone(),
            event: NewEvent {
                at,
                appointment_id: record.id.clone(),
                event_type,
                kind: Some(message.kind),
                channel: Some(message.channel),
                reason: detail,
                before: message.before(),
                via: None,
                request: None,
            },
            ledger,
            texted_to,
        }
    }

    /// Sends what is open for `record`; if something is left, asks the scheduler to try again in
    /// a minute (for callers nobody retries, such as a patient whose action already stands).
    pub(super) async fn dispatch_or_retry_later(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        known: Known<'_>,
        budget: &Budget,
    ) {
        let Err(e) = self.dispatch_known(clinic, record, known, budget).await else {
            return;
        };
        tracing::warn!(clinic = %clinic.id, appointment = %record.id, error = %e, "messages left; retrying from the scheduler");
        let at = self.clock.now() + RETRY_AFTER;
        if let Err(e) = self.schedule_dispatch(clinic, record, at, budget).await {
            tracing::error!(clinic = %clinic.id, appointment = %record.id, error = %e, "retry not scheduled");
        }
    }

    /// One schedule per appointment and instant that sends its open messages then.
    async fn schedule_dispatch(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        at: DateTime<Utc>,
        budget: &Budget,
    ) -> Result<(), ServiceError> {
        self.put_schedule(&dispatch_schedule(&clinic.id, record, at), budget)
            .await
    }

    /// Whether a text of `segments` would take the clinic's spending this month past its cap.
    async fn over_sms_cap(&self, clinic: &Clinic, segments: u32) -> Result<bool, ServiceError> {
        let Some(cap) = clinic.settings.sms_monthly_cap_cents else {
            return Ok(false);
        };
        let now = self.clock.now();
        let Some((from, to)) = super::feeds::month_around(now, clinic.settings.tz()) else {
            return Ok(false);
        };
        let spent: i64 = self
            .store
            .ledger_between(&clinic.id, from, to)
            .await?
            .iter()
            .map(|e| e.amount_cents)
            .sum();
        let cost = i64::from(segments) * self.config.sms_prices.cents_at(now);
        Ok(spent + cost > i64::from(cap))
    }

    /// Hands one message to its provider within the budget, retrying at once what the provider
    /// certainly did not take. A timeout of ours leaves the outcome unknown.
    async fn send(&self, pass: &Sending<'_>, message: &MessageRecord) -> Attempt {
        let budget = pass.budget;
        let mut pauses = SAFE_RETRY_PAUSES.iter();
        loop {
            let attempt = match tokio::time::timeout(budget.call_limit(), self.attempt(pass, message)).await {
                Ok(attempt) => attempt,
                Err(_) => Attempt::Failed {
                    reason: "provider: timed out".to_owned(),
                    maybe_sent: true,
                },
            };
            match (&attempt, pauses.next()) {
                (Attempt::Failed { maybe_sent: false, .. }, Some(pause)) if budget.fits_a_send() => {
                    tokio::time::sleep(*pause).await;
                }
                _ => return attempt,
            }
        }
    }

    /// Hands one message to its provider (the caller bounds the whole attempt in time).
    async fn attempt(&self, pass: &Sending<'_>, message: &MessageRecord) -> Attempt {
        match message.channel {
            Channel::Email => self.attempt_email(pass, message).await,
            Channel::Sms => self.attempt_text(pass.clinic, pass.record, message, pass.details).await,
        }
    }

    async fn attempt_email(&self, pass: &Sending<'_>, message: &MessageRecord) -> Attempt {
        let Sending {
            clinic,
            record,
            details,
            ..
        } = *pass;
        let Some(to) = &record.content.patient.email else {
            return Attempt::Undeliverable("the patient has no email address".to_owned());
        };
        let Some(from) = &clinic.settings.sender_email else {
            return Attempt::Undeliverable("the clinic has no sender_email".to_owned());
        };
        if let Err(why) = clinic.settings.check_sender() {
            return Attempt::Undeliverable(format!("sender_not_bound: {why}"));
        }
        let suppressed = match pass.email_suppressed {
            Some(known) => Ok(known),
            None => self.store.is_suppressed(&clinic.id, to.as_str()).await,
        };
        match suppressed {
            Ok(false) => {}
            Ok(true) => {
                // The contract's reason, exactly: the list says why (GET /v1/suppressions).
                return Attempt::Undeliverable("suppressed".to_owned());
            }
            Err(e) => {
                return Attempt::Failed {
                    reason: format!("suppression list: {e}"),
                    maybe_sent: false,
                }
            }
        }
        let rendered = messages::render_email(message.kind, details, self.confirm_open(record));
        let email = OutgoingEmail {
            tag: delivery::encode_tag(clinic.id.as_str(), record.id.as_str(), &message.key),
            from: from.as_str().to_owned(),
            reply_to: clinic.settings.reply_to.as_ref().map(|r| r.as_str().to_owned()),
            to: to.as_str().to_owned(),
            kind: message.kind,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        };
        match self.mailer.send_email(&email).await {
            Ok(provider_id) => Attempt::Sent {
                provider_id,
                ledger: None,
            },
            Err(e) => Attempt::provider_error("email provider", e),
        }
    }

    async fn attempt_text(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        message: &MessageRecord,
        details: &Details,
    ) -> Attempt {
        let Some(to) = &record.content.patient.mobile else {
            return Attempt::Undeliverable("the patient has no mobile number".to_owned());
        };
        match self.texter.is_opted_out(to.as_str()).await {
            Ok(true) => return Attempt::Undeliverable("opted_out: the number asked for no more texts".to_owned()),
            Ok(false) => {}
            Err(e) => return Attempt::provider_error("sms provider", e),
        }
        let invite = self.reply_invite(clinic, record);
        let body = messages::render_text(message.kind, details, self.confirm_open(record), invite);
        let (encoding, segments) = sms::segments(&body);
        match self.over_sms_cap(clinic, segments).await {
            Ok(false) => {}
            Ok(true) => {
                return Attempt::Undeliverable(
                    "sms_cap_reached: the clinic's monthly text budget is spent; email goes on".to_owned(),
                )
            }
            Err(e) => {
                return Attempt::Failed {
                    reason: format!("ledger: {e}"),
                    maybe_sent: false,
                }
            }
        }
        let text = OutgoingText {
            tag: delivery::encode_tag(clinic.id.as_str(), record.id.as_str(), &message.key),
            to: to.as_str().to_owned(),
            kind: message.kind,
            body,
        };
        match self.texter.send_text(&text).await {
            Ok(provider_id) => Attempt::Sent {
                provider_id,
                ledger: Some((encoding, segments)),
            },
            Err(e) => Attempt::provider_error("sms provider", e),
        }
    }
}
