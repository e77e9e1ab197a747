//! Patients' text replies (docs/BEHAVIOUR.md §9.1): a reply from a number goes to the
//! appointment of the latest text sent to it in the last 7 days, and is acted on exactly as the
//! link's buttons would be (same windows, same clinic options, same receipts).

use super::dispatch::{claim_on_write, Known};
use super::event_items::take_each;
use super::patient::ActionSource;
use super::{concurrency::until_not_overtaken, Budget, Dependency, PatientAction, PatientPage, Rappel, ServiceError};
use crate::domain::*;
use crate::formats::inbound_sms::{self, InboundText};
use crate::formats::sms_reply::{self, Reply};
use crate::ports::SendError;
use crate::ports::{StoreError, TextRoute};
use chrono::{DateTime, Duration, Utc};

/// How long after a text a reply from its number is matched to it.
pub const REPLY_MATCH_WINDOW: Duration = Duration::days(7);

/// What became of a text reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// No text went to the number in the 7 days before the reply, a later text went out before
    /// the reply was taken (which appointment it meant cannot be told), the appointment no
    /// longer has that number, or its data is gone: no answer (Rappel does not text numbers it
    /// did not text first).
    Unmatched,
    /// The clinic does not take replies (or no longer sends texts): no answer.
    NotTaken,
    /// An opt-out word: no more texts to the number.
    OptedOut,
    /// `START` or `UNSTOP` after an opt-out: texts again.
    OptedIn,
    /// The carrier's `HELP`, which the provider answers itself: no answer from Rappel.
    CarrierKeyword,
    /// The appointment is confirmed (now, or it already was).
    Confirmed,
    /// The appointment is cancelled by the patient (now, or it already was).
    Cancelled,
    /// Not something Rappel can act on now: answered with the link and the clinic's phone,
    /// unless the appointment had that answer already today (`answered` false).
    Helped {
        /// Whether this reply got the answer.
        answered: bool,
    },
}

impl ReplyOutcome {
    /// A name for logs and the dev server's answer (never the reply's words).
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyOutcome::Unmatched => "unmatched",
            ReplyOutcome::NotTaken => "not_taken",
            ReplyOutcome::OptedOut => "opted_out",
            ReplyOutcome::OptedIn => "opted_in",
            ReplyOutcome::CarrierKeyword => "carrier_keyword",
            ReplyOutcome::Confirmed => "confirmed",
            ReplyOutcome::Cancelled => "cancelled",
            ReplyOutcome::Helped { answered: true } => "answered",
            ReplyOutcome::Helped { answered: false } => "answered_already_today",
        }
    }
}

impl Rappel {
    /// Takes a patient's text `body` from number `from` (E.164), sent now (the dev server's
    /// `/_dev/sms-in`).
    pub async fn text_reply(&self, from: &str, body: &str) -> Result<ReplyOutcome, ServiceError> {
        self.text_reply_sent_at(from, body, self.clock.now()).await
    }

    /// Takes a patient's text sent at `sent_at` (as the provider stamped it; a later instant is
    /// read as now). The reply is judged as of then: the latest text before it, the 7 days
    /// before it, and an appointment written since is not acted on (the patient answered what
    /// stood before). A store or provider failure is `Unavailable`: the same reply delivered
    /// again is taken once (a repeated confirmation or cancellation changes nothing, and
    /// answers are keyed).
    pub async fn text_reply_sent_at(
        &self,
        from: &str,
        body: &str,
        sent_at: DateTime<Utc>,
    ) -> Result<ReplyOutcome, ServiceError> {
        let Ok(number) = Mobile::parse(from) else {
            return Ok(ReplyOutcome::Unmatched);
        };
        let sent_at = sent_at.min(self.clock.now());
        let outcome = match sms_reply::read(body) {
            Reply::OptOut => {
                // Honoured whoever the number is: carriers require it.
                self.texter
                    .honour_opt_out(number.as_str())
                    .await
                    .map_err(texter_failed)?;
                ReplyOutcome::OptedOut
            }
            Reply::OptIn => {
                self.texter.lift_opt_out(number.as_str()).await.map_err(texter_failed)?;
                ReplyOutcome::OptedIn
            }
            Reply::Help => ReplyOutcome::CarrierKeyword,
            reply => return self.routed_reply(&number, reply, sent_at).await,
        };
        tracing::info!(outcome = outcome.as_str(), "text reply");
        Ok(outcome)
    }

    /// A reply that needs its appointment: found by the latest text to the number before it.
    async fn routed_reply(
        &self,
        number: &Mobile,
        reply: Reply,
        sent_at: DateTime<Utc>,
    ) -> Result<ReplyOutcome, ServiceError> {
        let route = self
            .store
            .latest_text_to(number.as_str(), sent_at)
            .await?
            .filter(|route| sent_at - route.sent_at <= REPLY_MATCH_WINDOW);
        let Some(route) = route else {
            tracing::info!(outcome = "unmatched", "text reply");
            return Ok(ReplyOutcome::Unmatched);
        };
        let budget = Budget::start();
        let outcome = until_not_overtaken("this appointment", || {
            self.reply_once(&route, number, reply, sent_at, &budget)
        })
        .await?;
        tracing::info!(clinic = %route.clinic_id, appointment = %route.appointment_id, outcome = outcome.as_str(), "text reply");
        Ok(outcome)
    }

    /// One attempt at a reply: `None` when another writer changed the appointment first.
    async fn reply_once(
        &self,
        route: &TextRoute,
        number: &Mobile,
        reply: Reply,
        sent_at: DateTime<Utc>,
        budget: &Budget,
    ) -> Result<Option<ReplyOutcome>, ServiceError> {
        let Some(record) = self.store.appointment(&route.clinic_id, &route.appointment_id).await? else {
            return Ok(Some(ReplyOutcome::Unmatched));
        };
        // A number the clinic has since replaced is no longer the patient's: whoever has it
        // now must not act on the appointment, nor have its answers sent to the patient.
        if record.content.patient.mobile.as_ref() != Some(number) {
            return Ok(Some(ReplyOutcome::Unmatched));
        }
        let page = match self.patient_page(&record.token).await {
            Ok(page) => page,
            Err(ServiceError::NotFound(_) | ServiceError::Gone) => return Ok(Some(ReplyOutcome::Unmatched)),
            Err(e) => return Err(e),
        };
        let settings = &page.clinic.settings;
        if !(self.config.text_replies && settings.sms_replies && settings.sms_enabled) {
            return Ok(Some(ReplyOutcome::NotTaken));
        }
        let action = match reply {
            Reply::Confirm => PatientAction::Confirm,
            Reply::Cancel => PatientAction::Cancel,
            _ => return self.answer_help(&page, budget).await,
        };
        let source = ActionSource {
            via: Via::Sms,
            sent_at: Some(sent_at),
        };
        match self.patient_act_once(&record.token, action, source, budget).await {
            Ok(Some(_)) if action == PatientAction::Confirm => Ok(Some(ReplyOutcome::Confirmed)),
            Ok(Some(_)) => Ok(Some(ReplyOutcome::Cancelled)),
            Ok(None) => Ok(None),
            Err(ServiceError::Refused(_)) => self.answer_help(&page, budget).await,
            Err(e) => Err(e),
        }
    }
    /// The short answer with the link and the clinic's phone, once per appointment and
    /// clinic-local day (the message's key is the day).
    async fn answer_help(&self, page: &PatientPage, budget: &Budget) -> Result<Option<ReplyOutcome>, ServiceError> {
        let day = page.now.with_timezone(&page.clinic.settings.tz()).date_naive();
        let help = MessageRecord::pending_reply_help(day, page.record.content.revision, page.now);
        let answered = self.answer_by_text(page, vec![help], budget).await?;
        Ok(answered.map(|answered| ReplyOutcome::Helped { answered }))
    }

    /// Records `answers` (texts whose keys make each go once) on the appointment as `page` read
    /// it, and sends those that were new: `None` when the appointment changed since (read
    /// again), else whether any was new.
    pub(super) async fn answer_by_text(
        &self,
        page: &PatientPage,
        mut answers: Vec<MessageRecord>,
        budget: &Budget,
    ) -> Result<Option<bool>, ServiceError> {
        claim_on_write(&mut answers, &page.clinic.settings, page.now);
        let recorded = match self.store.add_messages(&page.record, &answers).await {
            Ok(recorded) => recorded,
            Err(StoreError::Conflict) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if !recorded.is_empty() {
            let known = Known::after_write(&page.type_settings, None, &answers, &recorded);
            self.dispatch_or_retry_later(&page.clinic, &page.record, known, budget)
                .await;
        }
        Ok(Some(!recorded.is_empty()))
    }
}

fn texter_failed(e: SendError) -> ServiceError {
    ServiceError::unavailable(Dependency::Texter, e.reason)
}

/// What an SNS event of patients' texts gave (`inbound-sms`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundReport {
    /// Each readable text's outcome, in the event's order.
    pub outcomes: Vec<ReplyOutcome>,
    /// Notifications that held no readable text (logged without their content, skipped).
    pub unreadable: usize,
}

impl Rappel {
    /// Takes every text of a Lambda SNS event from the two-way number's topic, as
    /// `event_items::take_each` does; a text taken again by Lambda's retry has no effect
    /// (actions and answers are idempotent).
    pub async fn answer_inbound_event(&self, event: &serde_json::Value) -> Result<InboundReport, ServiceError> {
        let texts = match inbound_sms::read_sns_event(event) {
            Ok(texts) => texts,
            Err(e) => {
                tracing::error!(error = %e, "inbound event skipped");
                return Ok(InboundReport {
                    outcomes: Vec::new(),
                    unreadable: 1,
                });
            }
        };
        // One at a time: two replies of one patient in one event apply in the order sent.
        let taken = take_each(texts, 1, "inbound text", |text: InboundText| async move {
            let sent_at = text.sent_at.unwrap_or_else(|| self.clock.now());
            self.text_reply_sent_at(&text.from, &text.body, sent_at).await
        })
        .await?;
        Ok(InboundReport {
            outcomes: taken.outcomes,
            unreadable: taken.skipped,
        })
    }
}
