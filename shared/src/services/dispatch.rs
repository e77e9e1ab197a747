//! Sending recorded messages: claim, render, hand to the provider, record the outcome.
//! The claim makes every message go out at most once however many callers race.

use super::{Rappel, ServiceError};
use crate::domain::*;
use crate::links;
use crate::messages::{self, sms, Details};
use crate::ports::{MessageOutcome, OutgoingEmail, OutgoingText, Schedule, SchedulePayload};
use sha2::Digest;

/// The schedule kind that releases texts held back by quiet hours.
pub const TEXTS_KIND: &str = "texts";
use crate::rules;
use chrono::Duration;

/// How long a claimed message stays reserved to its sender.
const CLAIM_LEASE: Duration = Duration::minutes(2);

/// Whether a recorded message still says something true when it is about to go out. A message
/// held back (quiet hours, a provider outage) is dropped once the appointment moved on.
fn still_applies(
    record: &AppointmentRecord,
    message: &MessageRecord,
    all: &[MessageRecord],
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let content = &record.content;
    let patient_cancelled = record.patient_status == PatientStatus::CancelledByPatient;
    if content.start() <= now {
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
        MessageKind::Reminder => {
            record.reminder.map(|r| r.revision) == Some(message.revision) && content.is_booked() && !patient_cancelled
        }
    }
}

enum Attempt {
    Sent {
        provider_id: String,
        ledger: Option<(sms::Encoding, u32)>,
    },
    Failed(String),
    Undeliverable(String),
    Dropped,
}

/// How one pass over an appointment's messages ended.
enum Pass {
    /// Every open message was handled (or is someone else's): the messages as the pass left them.
    Done(Vec<MessageRecord>),
    /// A save moved the appointment on since it was read: read it again and start over.
    Overtaken,
}

impl Rappel {
    /// Sends every message of `record` that is not sent yet and that nobody else is sending.
    /// Returns `Unavailable` when a provider failed, so the caller's retry completes the rest.
    pub(super) async fn dispatch(&self, clinic: &Clinic, record: &AppointmentRecord) -> Result<(), ServiceError> {
        self.dispatch_known(clinic, record, None).await.map(drop)
    }

    /// The same, with the appointment type's settings when the caller has just read them (a
    /// store read saved), returning the appointment's messages as sending left them.
    pub(super) async fn dispatch_known(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        type_settings: Option<&Option<TypeSettings>>,
    ) -> Result<Vec<MessageRecord>, ServiceError> {
        let mut record = record.clone();
        let mut provider_failure = None;
        let mut done = None;
        // Each overtaking save dispatches too, so giving up after a few passes loses nothing.
        for _ in 0..8 {
            match self
                .dispatch_pass(clinic, &record, type_settings, &mut provider_failure)
                .await?
            {
                Pass::Done(messages) => {
                    done = Some(messages);
                    break;
                }
                Pass::Overtaken => match self.store.appointment(&clinic.id, &record.id).await? {
                    Some(fresh) => record = fresh,
                    None => break,
                },
            }
        }
        if let Some(reason) = provider_failure {
            return Err(ServiceError::Unavailable(format!(
                "a message could not be sent: {reason}"
            )));
        }
        match done {
            Some(messages) => Ok(messages),
            None => Ok(self.store.messages(&clinic.id, &record.id).await?),
        }
    }

    /// One pass: claims (against the version of `record` read) and sends each open message.
    async fn dispatch_pass(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        type_settings: Option<&Option<TypeSettings>>,
        provider_failure: &mut Option<String>,
    ) -> Result<Pass, ServiceError> {
        let mut messages = self.store.messages(&clinic.id, &record.id).await?;
        let open: Vec<usize> = (0..messages.len())
            .filter(|&i| {
                matches!(
                    messages[i].status,
                    MessageStatus::Pending | MessageStatus::Failed | MessageStatus::Sending
                )
            })
            .collect();
        if open.is_empty() {
            return Ok(Pass::Done(messages));
        }
        let type_settings = match type_settings {
            Some(known) => known.clone(),
            None => self.store.type_settings(&clinic.id, &record.content.type_code).await?,
        };
        let lang = record.language(clinic.settings.language);
        let details = Details::new(
            &clinic.settings,
            type_settings.as_ref(),
            record,
            links::patient_url(&self.config.public_base_url, &record.token),
            lang,
        );
        let now = self.clock.now();
        let quiet = clinic.settings.quiet_hours.contains(now, clinic.settings.tz());
        let mut held_back = false;
        for i in open {
            let message = &messages[i].clone();
            if quiet && message.channel == Channel::Sms && still_applies(record, message, &messages, now) {
                held_back = true;
                continue;
            }
            let now = self.clock.now();
            if !self
                .store
                .claim_message(
                    &clinic.id,
                    &record.id,
                    &message.key,
                    now,
                    now - CLAIM_LEASE,
                    record.version,
                )
                .await?
            {
                let current = self.store.appointment(&clinic.id, &record.id).await?;
                if current.is_some_and(|c| c.version != record.version) {
                    return Ok(Pass::Overtaken);
                }
                // Someone else is sending it.
                continue;
            }
            messages[i].status = MessageStatus::Sending;
            messages[i].at = now;
            let attempt = if still_applies(record, message, &messages, now) {
                self.attempt(clinic, record, message, &details).await
            } else {
                Attempt::Dropped
            };
            let at = self.clock.now();
            let (status, detail, event_type, ledger) = match attempt {
                Attempt::Sent { provider_id, ledger } => {
                    let ledger = ledger.map(|(encoding, segments)| LedgerEntry {
                        clinic_id: clinic.id.clone(),
                        appointment_id: record.id.clone(),
                        message_key: message.key.clone(),
                        kind: message.kind,
                        provider_message_id: provider_id,
                        sent_at: at,
                        segments,
                        encoding: encoding.as_str().to_owned(),
                        unit_price_cents: self.config.sms_prices.cents_at(at),
                        amount_cents: i64::from(segments) * self.config.sms_prices.cents_at(at),
                    });
                    (MessageStatus::Sent, None, EventType::MessageSent, ledger)
                }
                Attempt::Failed(reason) => {
                    tracing::warn!(clinic = %clinic.id, appointment = %record.id, kind = message.kind.as_str(), channel = message.channel.as_str(), "send failed");
                    *provider_failure = Some(reason.clone());
                    (MessageStatus::Failed, Some(reason), EventType::MessageFailed, None)
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
            let outcome = MessageOutcome {
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
                },
                ledger,
            };
            self.store
                .complete_message(&clinic.id, &record.id, &message.key, &outcome)
                .await?;
            messages[i].status = outcome.status;
            messages[i].at = outcome.at;
            messages[i].detail = outcome.detail;
            tracing::info!(clinic = %clinic.id, appointment = %record.id, kind = message.kind.as_str(), channel = message.channel.as_str(), status = ?status, "message done");
        }
        if held_back {
            self.hold_texts_until_morning(clinic, record, now).await?;
        }
        Ok(Pass::Done(messages))
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

    /// Texts may not go out in quiet hours: one schedule per appointment and night releases them.
    async fn hold_texts_until_morning(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), ServiceError> {
        let at = rules::quiet_end(now, &clinic.settings.quiet_hours, clinic.settings.tz());
        let digest = sha2::Sha256::digest(format!("{}\n{}\n{}", clinic.id, record.id, at.timestamp()).as_bytes());
        let schedule = Schedule {
            name: format!("rappel-texts-{}", &hex::encode(digest)[..40]),
            at,
            payload: SchedulePayload {
                clinic_id: clinic.id.clone(),
                appointment_id: record.id.clone(),
                revision: record.content.revision,
                kind: TEXTS_KIND.to_owned(),
            },
        };
        tracing::info!(clinic = %clinic.id, appointment = %record.id, until = %at, "texts held back by quiet hours");
        super::bounded("scheduler", self.scheduler.put_schedule(&schedule))
            .await
            .map_err(ServiceError::Unavailable)
    }

    async fn attempt(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        message: &MessageRecord,
        details: &Details,
    ) -> Attempt {
        let patient = &record.content.patient;
        match message.channel {
            Channel::Email => {
                let Some(to) = &patient.email else {
                    return Attempt::Undeliverable("the patient has no email address".to_owned());
                };
                let Some(from) = &clinic.settings.sender_email else {
                    return Attempt::Undeliverable("the clinic has no sender_email".to_owned());
                };
                let confirm_open = record.patient_status == PatientStatus::Pending
                    && rules::check_confirm(self.clock.now(), record.content.start()).is_ok();
                let rendered = messages::render_email(message.kind, details, confirm_open);
                let email = OutgoingEmail {
                    from: from.as_str().to_owned(),
                    reply_to: clinic.settings.reply_to.as_ref().map(|r| r.as_str().to_owned()),
                    to: to.as_str().to_owned(),
                    kind: message.kind,
                    subject: rendered.subject,
                    text: rendered.text,
                    html: rendered.html,
                };
                match super::bounded("email provider", self.mailer.send_email(&email)).await {
                    Ok(provider_id) => Attempt::Sent {
                        provider_id,
                        ledger: None,
                    },
                    Err(e) => Attempt::Failed(e),
                }
            }
            Channel::Sms => {
                let Some(to) = &patient.mobile else {
                    return Attempt::Undeliverable("the patient has no mobile number".to_owned());
                };
                match super::bounded("sms provider", self.texter.is_opted_out(to.as_str())).await {
                    Ok(true) => {
                        return Attempt::Undeliverable("opted_out: the number asked for no more texts".to_owned())
                    }
                    Ok(false) => {}
                    Err(e) => return Attempt::Failed(e),
                }
                let body = messages::render_text(message.kind, details);
                let (encoding, segments) = sms::segments(&body);
                match self.over_sms_cap(clinic, segments).await {
                    Ok(false) => {}
                    Ok(true) => {
                        return Attempt::Undeliverable(
                            "sms_cap_reached: the clinic's monthly text budget is spent; email goes on".to_owned(),
                        )
                    }
                    Err(e) => return Attempt::Failed(format!("ledger: {e}")),
                }
                let text = OutgoingText {
                    to: to.as_str().to_owned(),
                    kind: message.kind,
                    body,
                };
                match super::bounded("sms provider", self.texter.send_text(&text)).await {
                    Ok(provider_id) => Attempt::Sent {
                        provider_id,
                        ledger: Some((encoding, segments)),
                    },
                    Err(e) => Attempt::Failed(e),
                }
            }
        }
    }
}
