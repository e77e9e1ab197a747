//! Saving appointments from the EMR (what a save decides is in `save_plan`), keeping the
//! reminder's schedule in step, and the appointment as the EMR reads it back.

use super::concurrency::until_not_overtaken;
use super::dispatch::{claim_on_write, Known};
use super::save_plan::{plan_save, SavePlan};
use super::schedules::{reminder_schedule, reminder_schedule_name};
use super::{Budget, Dependency, Rappel, ServiceError};
use crate::domain::*;
use crate::ports::{StoreError, Wanted};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How a save ended (201 / 200 / 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// First save.
    Created,
    /// A higher revision was stored.
    Updated,
    /// The same revision with the same content: nothing new.
    Unchanged,
}

/// One message in the appointment view.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MessageView {
    /// Confirmation, change, cancellation, reminder or receipt.
    pub kind: MessageKind,
    /// Email or SMS.
    pub channel: Channel,
    /// Where it stands, as [`MessageStatus::shown`] names it.
    pub status: &'static str,
    /// When its status last changed, in the clinic's zone.
    pub at: String,
    /// For a reminder: which one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<ReminderOffset>,
}

/// One planned reminder in the appointment view.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReminderView {
    /// How long before the appointment.
    pub before: ReminderOffset,
    /// When it is (or was) due, in the clinic's zone.
    pub at: String,
    /// `planned` (not sent yet), `sending`, `sent` (on at least one channel) or `not_sent`
    /// (every message it had ended unsent).
    pub status: &'static str,
}

/// `GET /v1/appointments/{id}` (docs/BEHAVIOUR.md §4.4). Times in the clinic's zone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppointmentView {
    /// The EMR's id.
    pub id: AppointmentId,
    /// Latest revision.
    pub revision: u64,
    /// `booked` or `cancelled`.
    pub status: AppointmentStatus,
    /// What the patient said.
    pub patient_status: PatientStatus,
    /// When the appointment starts, in the clinic's zone.
    pub start: String,
    /// When the next reminder is due (or the last one was), in the clinic's zone.
    pub reminder_at: Option<String>,
    /// Every reminder planned, earliest first.
    pub reminders: Vec<ReminderView>,
    /// The patient page.
    pub patient_url: String,
    /// Messages, oldest first.
    pub messages: Vec<MessageView>,
    /// The patient's open request for another time (until a move or a cancellation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reschedule_request: Option<RescheduleRequest>,
}

/// What a save read before it planned.
struct SaveReads<'a> {
    /// The appointment.
    stored: Stored,
    /// Its type's settings.
    type_settings: &'a Option<TypeSettings>,
    /// Whether the patient's email is suppressed (the address, then the answer).
    suppressed: &'a Option<(String, bool)>,
}

/// The appointment as a save read it.
struct Stored {
    /// The record, if the appointment exists.
    record: Option<AppointmentRecord>,
    /// Its messages, when the store recorded that everything the record causes is done.
    settled: Option<Vec<MessageRecord>>,
}

impl Rappel {
    /// Saves one revision of an appointment (`PUT /v1/appointments/{id}`) and carries out what it
    /// causes: messages and the reminder schedule. A replay of a save whose effects failed
    /// completes the missing ones.
    pub async fn save_appointment(
        &self,
        clinic: &Clinic,
        id: AppointmentId,
        content: AppointmentContent,
    ) -> Result<(SaveOutcome, AppointmentRecord), ServiceError> {
        let (outcome, record, _) = self.save_and_report(clinic, id, content).await?;
        Ok((outcome, record))
    }

    /// The same, also returning the appointment's messages as the save left them (what the
    /// EMR's answer shows), without reading them again.
    pub async fn save_and_report(
        &self,
        clinic: &Clinic,
        id: AppointmentId,
        content: AppointmentContent,
    ) -> Result<(SaveOutcome, AppointmentRecord, Vec<MessageRecord>), ServiceError> {
        content
            .check()
            .map_err(|(field, message)| ServiceError::invalid(field, message))?;
        let budget = Budget::start();
        let wanted = Wanted {
            clinic: false,
            appointment: Some(id.clone()),
            type_code: Some(content.type_code.clone()),
            // Read with the appointment, so the email's send needs no read of its own.
            suppression_of: content.patient.email.as_ref().map(|e| e.as_str().to_lowercase()),
        };
        let found = self.store.read_together(&clinic.id, &wanted).await?;
        let type_settings = found.type_settings;
        let suppressed = found.suppressed;
        // The first attempt plans on what was just read; a later one (a lost race) reads again.
        let first_read = std::sync::Mutex::new(Some(Stored {
            record: found.appointment,
            settled: found.settled,
        }));
        until_not_overtaken("this appointment", || async {
            let first = first_read.lock().unwrap_or_else(|p| p.into_inner()).take();
            let stored = match first {
                Some(stored) => stored,
                None => Stored {
                    record: self.store.appointment(&clinic.id, &id).await?,
                    settled: None,
                },
            };
            let read = SaveReads {
                stored,
                type_settings: &type_settings,
                suppressed: &suppressed,
            };
            self.save_attempt(clinic, &id, read, &content, &budget).await
        })
        .await
    }

    /// Plans the save over the appointment as just read and writes it unless another writer
    /// got there first (`None`); then carries out what the stored save causes. The new messages
    /// are recorded already claimed by this request, which sends them next.
    async fn save_attempt(
        &self,
        clinic: &Clinic,
        id: &AppointmentId,
        read: SaveReads<'_>,
        content: &AppointmentContent,
        budget: &Budget,
    ) -> Result<Option<(SaveOutcome, AppointmentRecord, Vec<MessageRecord>)>, ServiceError> {
        let SaveReads {
            stored,
            type_settings,
            suppressed,
        } = read;
        let now = self.clock.now();
        let (mut write, created, previous_reminders) = match plan_save(
            clinic,
            type_settings.as_ref(),
            stored.record.as_ref(),
            id,
            content.clone(),
            now,
        )? {
            SavePlan::Unchanged(record) => {
                if let Some(messages) = stored.settled {
                    // A replay of a save whose effects were all carried out: nothing to do.
                    return Ok(Some((SaveOutcome::Unchanged, record, messages)));
                }
                // A replay: whatever the first try left undone is done now.
                let known = Known {
                    type_settings: Some(type_settings),
                    settle: true,
                    suppressed: suppressed.clone(),
                    ..Known::default()
                };
                let messages = self
                    .carry_out(clinic, &record, record.reminders.clone(), known, budget)
                    .await?;
                return Ok(Some((SaveOutcome::Unchanged, record, messages)));
            }
            SavePlan::Write {
                write,
                created,
                previous_reminders,
            } => (write, created, previous_reminders),
        };
        claim_on_write(&mut write.messages, &clinic.settings, now);
        let recorded = match self.store.write_appointment(&write).await {
            Ok(recorded) => recorded,
            Err(StoreError::Conflict) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(clinic = %clinic.id, appointment = %id, revision = write.record.content.revision, messages = write.messages.len(), "appointment saved");
        // The messages need not be read back when the read showed them all: a first save has
        // none before its own, and a settled appointment's earlier ones are all final.
        let before = if created { Some(Vec::new()) } else { stored.settled };
        let known = Known {
            settle: true,
            suppressed: suppressed.clone(),
            ..Known::after_write(type_settings, before, &write.messages, &recorded)
        };
        let messages = self
            .carry_out(clinic, &write.record, previous_reminders, known, budget)
            .await?;
        let outcome = if created {
            SaveOutcome::Created
        } else {
            SaveOutcome::Updated
        };
        Ok(Some((outcome, write.record, messages)))
    }

    /// What a stored save causes: the messages sent (right away: the write claimed them
    /// against the version it wrote) while the reminder's schedule is placed, then the schedule
    /// checked against newer saves. Writing the sends' outcomes checks the version too, after
    /// the schedule was placed, which spares the check's read whenever something was sent.
    async fn carry_out(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        previous: Vec<PlannedReminder>,
        known: Known<'_>,
        budget: &Budget,
    ) -> Result<Vec<MessageRecord>, ServiceError> {
        let placed_slot = std::sync::Mutex::new(None);
        let place = async {
            let placed = self.place_reminders(clinic, record, &previous, budget).await;
            let done = placed.is_ok();
            *placed_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(placed);
            done
        };
        let known = Known {
            alongside: Some(Box::pin(place)),
            ..known
        };
        let dispatched = self.dispatch_known(clinic, record, known, budget).await;
        let placed = placed_slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let placed = match placed {
            Some(placed) => placed,
            // The dispatch failed before it got to run it.
            None => self.place_reminders(clinic, record, &previous, budget).await,
        };
        let checked = dispatched.as_ref().ok().and_then(|d| d.still_current);
        if matches!(placed, Ok(true)) && checked != Some(true) {
            self.keep_reminders_in_step(clinic, record, &previous, budget).await?;
        }
        let messages = dispatched?.messages;
        placed?;
        Ok(messages)
    }

    /// Makes the scheduler hold the reminders `record` plans: each one's schedule put (again: a
    /// put that failed before is repaired by any later save), and the schedules of reminders
    /// `previous` planned that are gone deleted. Returns whether it asked the scheduler for
    /// anything.
    async fn place_reminders(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        previous: &[PlannedReminder],
        budget: &Budget,
    ) -> Result<bool, ServiceError> {
        let now = self.clock.now();
        let mut asked = false;
        for reminder in record.reminders.iter().filter(|r| r.at >= now) {
            let schedule = reminder_schedule(&clinic.id, record, *reminder);
            self.put_schedule(&schedule, budget).await?;
            asked = true;
        }
        for gone in previous
            .iter()
            .filter(|p| p.at >= now && record.reminder(p.before).is_none_or(|r| r.at < now))
        {
            let name = reminder_schedule_name(&clinic.id, &record.id, gone.before);
            self.delete_schedule(&name, budget).await?;
            asked = true;
        }
        Ok(asked)
    }

    /// After placing the reminders of `record`: if a newer save overtook it meanwhile, places
    /// that one's too, until the appointment stays put. Two saves racing could otherwise leave
    /// the older one's schedules last in place, and the real reminders would never fire. (Skipped
    /// when writing the sends' outcomes found the version unchanged after the schedules were
    /// placed.)
    async fn keep_reminders_in_step(
        &self,
        clinic: &Clinic,
        record: &AppointmentRecord,
        previous: &[PlannedReminder],
        budget: &Budget,
    ) -> Result<(), ServiceError> {
        let mut record = record.clone();
        let mut previous = previous.to_vec();
        for _ in 0..8 {
            match self.store.appointment(&clinic.id, &record.id).await? {
                Some(fresh) if fresh.version != record.version => {
                    // Whatever either planned may hold a schedule the fresh record no longer wants.
                    for planned in &record.reminders {
                        if !previous
                            .iter()
                            .any(|p| p.before == planned.before && p.at == planned.at)
                        {
                            previous.push(*planned);
                        }
                    }
                    record = fresh;
                }
                _ => return Ok(()),
            }
            if !self.place_reminders(clinic, &record, &previous, budget).await? {
                return Ok(());
            }
        }
        Err(ServiceError::unavailable(
            Dependency::ConcurrentRequests,
            "the appointment kept changing while its reminders were scheduled",
        ))
    }

    /// `GET /v1/appointments/{id}`.
    pub async fn appointment_view(&self, clinic: &Clinic, id: &AppointmentId) -> Result<AppointmentView, ServiceError> {
        let record = self
            .store
            .appointment(&clinic.id, id)
            .await?
            .ok_or(ServiceError::NotFound("appointment"))?;
        let messages = self.store.messages(&clinic.id, id).await?;
        Ok(self.view(clinic, &record, &messages))
    }

    /// The view of a record.
    pub fn view(&self, clinic: &Clinic, record: &AppointmentRecord, messages: &[MessageRecord]) -> AppointmentView {
        let zone = clinic.settings.tz();
        let show = |t: DateTime<Utc>| {
            t.with_timezone(&zone)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        };
        AppointmentView {
            id: record.id.clone(),
            revision: record.content.revision,
            status: record.content.status,
            patient_status: record.patient_status,
            start: show(record.content.start()),
            reminder_at: record.next_reminder(self.clock.now()).map(|r| show(r.at)),
            reminders: record
                .reminders
                .iter()
                .map(|r| ReminderView {
                    before: r.before,
                    at: show(r.at),
                    status: reminder_status(r, record.content.start(), self.clock.now(), messages),
                })
                .collect(),
            patient_url: self.patient_url(record),
            messages: messages
                .iter()
                .map(|m| MessageView {
                    kind: m.kind,
                    channel: m.channel,
                    status: m.status.shown(),
                    at: show(m.at),
                    before: m.before(),
                })
                .collect(),
            reschedule_request: record.reschedule_request.clone(),
        }
    }
}

/// Where a planned reminder stands, from its messages (those of its offset and revision) and,
/// when it has none, whether its window is over.
fn reminder_status(
    reminder: &PlannedReminder,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    messages: &[MessageRecord],
) -> &'static str {
    let window_over = now > crate::rules::reminder_window(start, reminder.before.duration()).1;
    let mine: Vec<&MessageRecord> = messages
        .iter()
        .filter(|m| m.before() == Some(reminder.before) && m.revision == reminder.revision)
        .collect();
    if mine.iter().any(|m| m.status.was_sent()) {
        "sent"
    } else if mine.is_empty() && !window_over {
        "planned"
    } else if mine.iter().all(|m| m.status.is_final()) {
        // None at all once its window is over, or every one ended unsent.
        "not_sent"
    } else {
        "sending"
    }
}
