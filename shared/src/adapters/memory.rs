//! A store in process memory: the store contract without a database, for benchmarks that
//! measure the services alone (and any test that wants no SQLite).

use crate::domain::*;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

type AppointmentKey = (ClinicId, AppointmentId);

#[derive(Default)]
struct State {
    clinics: HashMap<ClinicId, Clinic>,
    key_hashes: HashMap<String, ClinicId>,
    types: BTreeMap<(ClinicId, String), TypeSettings>,
    appointments: HashMap<AppointmentKey, AppointmentRecord>,
    tokens: HashMap<String, AppointmentKey>,
    /// Each appointment's messages in the order they were first recorded.
    messages: HashMap<AppointmentKey, Vec<MessageRecord>>,
    events: HashMap<ClinicId, Vec<Event>>,
    next_cursor: u64,
    ledger: HashMap<ClinicId, Vec<LedgerEntry>>,
    /// The (clinic, appointment, message key) of every ledger entry, so a message is billed once.
    billed: HashSet<(ClinicId, AppointmentId, String)>,
    /// The texts to each number, by [`number_key`].
    texted: HashMap<String, Vec<TextRoute>>,
    /// Texts by the provider's message id.
    provider_ids: HashMap<String, MessageAddress>,
    /// Each clinic's suppression list, by address.
    suppressions: HashMap<ClinicId, BTreeMap<String, Suppression>>,
}

impl State {
    fn append_events(&mut self, clinic: &ClinicId, events: &[NewEvent]) {
        for event in events {
            self.next_cursor += 1;
            let cursor = self.next_cursor;
            self.events.entry(clinic.clone()).or_default().push(Event {
                cursor,
                event: event.clone(),
            });
        }
    }

    /// Records the messages whose key is new; returns their keys.
    fn add_messages(&mut self, key: &AppointmentKey, messages: &[MessageRecord]) -> Vec<String> {
        let stored = self.messages.entry(key.clone()).or_default();
        let mut added = Vec::new();
        for message in messages {
            if !stored.iter().any(|m| m.key == message.key) {
                stored.push(message.clone());
                added.push(message.key.clone());
            }
        }
        added
    }
}

/// The in-memory store. Every operation takes one lock, so each is atomic as the contract asks.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn key(clinic: &ClinicId, id: &AppointmentId) -> AppointmentKey {
    (clinic.clone(), id.clone())
}

#[async_trait]
impl ClinicStore for MemoryStore {
    async fn clinic_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Clinic>> {
        let state = self.state();
        Ok(state
            .key_hashes
            .get(key_hash)
            .and_then(|id| state.clinics.get(id))
            .cloned())
    }

    async fn clinic(&self, id: &ClinicId) -> StoreResult<Option<Clinic>> {
        Ok(self.state().clinics.get(id).cloned())
    }

    async fn put_clinic(&self, clinic: &Clinic) -> StoreResult<()> {
        self.state().clinics.insert(clinic.id.clone(), clinic.clone());
        Ok(())
    }

    async fn set_api_key_hash(&self, id: &ClinicId, key_hash: &str) -> StoreResult<()> {
        let mut state = self.state();
        if !state.clinics.contains_key(id) {
            return Err(StoreError::Conflict);
        }
        state.key_hashes.retain(|_, owner| owner != id);
        state.key_hashes.insert(key_hash.to_owned(), id.clone());
        Ok(())
    }
}

#[async_trait]
impl TypeStore for MemoryStore {
    async fn put_type(&self, clinic: &ClinicId, appointment_type: &AppointmentType) -> StoreResult<bool> {
        let previous = self.state().types.insert(
            (clinic.clone(), appointment_type.code.as_str().to_owned()),
            appointment_type.settings.clone(),
        );
        Ok(previous.is_none())
    }

    async fn types(&self, clinic: &ClinicId) -> StoreResult<Vec<AppointmentType>> {
        self.state()
            .types
            .iter()
            .filter(|((owner, _), _)| owner == clinic)
            .map(|((_, code), settings)| {
                Ok(AppointmentType {
                    code: TypeCode::parse(code).map_err(|e| StoreError::Corrupt(e.0))?,
                    settings: settings.clone(),
                })
            })
            .collect()
    }

    async fn type_settings(&self, clinic: &ClinicId, code: &TypeCode) -> StoreResult<Option<TypeSettings>> {
        Ok(self
            .state()
            .types
            .get(&(clinic.clone(), code.as_str().to_owned()))
            .cloned())
    }
}

#[async_trait]
impl AppointmentStore for MemoryStore {
    async fn appointment(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Option<AppointmentRecord>> {
        Ok(self.state().appointments.get(&key(clinic, id)).cloned())
    }

    async fn appointment_by_token(&self, token: &str) -> StoreResult<LinkTarget> {
        let state = self.state();
        Ok(match state.tokens.get(token).and_then(|k| state.appointments.get(k)) {
            Some(record) => LinkTarget::Appointment(Box::new(record.clone())),
            None => LinkTarget::Unknown,
        })
    }

    async fn write_appointment(&self, write: &AppointmentWrite) -> StoreResult<Vec<String>> {
        let record = &write.record;
        let expected = record.version.checked_sub(1).ok_or(StoreError::Conflict)?;
        let k = key(&record.clinic_id, &record.id);
        let mut state = self.state();
        let stored = state.appointments.get(&k).map(|r| r.version);
        match stored {
            None if expected == 0 => {}
            Some(v) if v == expected => {}
            _ => return Err(StoreError::Conflict),
        }
        state.tokens.insert(record.token.clone(), k.clone());
        state.appointments.insert(k.clone(), record.clone());
        let added = state.add_messages(&k, &write.messages);
        state.append_events(&record.clinic_id, &write.events);
        Ok(added)
    }

    async fn add_messages(&self, record: &AppointmentRecord, messages: &[MessageRecord]) -> StoreResult<Vec<String>> {
        let (appointment_version, k) = (record.version, key(&record.clinic_id, &record.id));
        let mut state = self.state();
        if state.appointments.get(&k).map(|r| r.version) != Some(appointment_version) {
            return Err(StoreError::Conflict);
        }
        Ok(state.add_messages(&k, messages))
    }

    async fn messages(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Vec<MessageRecord>> {
        Ok(self.state().messages.get(&key(clinic, id)).cloned().unwrap_or_default())
    }

    async fn claim_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        message_key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        appointment_version: u64,
    ) -> StoreResult<bool> {
        let k = key(clinic, id);
        let mut state = self.state();
        if state.appointments.get(&k).map(|r| r.version) != Some(appointment_version) {
            return Ok(false);
        }
        let Some(message) = state
            .messages
            .get_mut(&k)
            .and_then(|all| all.iter_mut().find(|m| m.key == message_key))
        else {
            return Ok(false);
        };
        let claimable = match message.status {
            MessageStatus::Pending | MessageStatus::Failed => true,
            MessageStatus::Sending => message.at < stale_before,
            _ => false,
        };
        if claimable {
            message.status = MessageStatus::Sending;
            message.at = now;
        }
        Ok(claimable)
    }

    async fn release_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        claims: &[(String, DateTime<Utc>)],
    ) -> StoreResult<()> {
        let mut state = self.state();
        for message in state.messages.get_mut(&key(clinic, id)).into_iter().flatten() {
            if message.status == MessageStatus::Sending && claims.contains(&(message.key.clone(), message.at)) {
                message.status = MessageStatus::Pending;
            }
        }
        Ok(())
    }

    async fn complete_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        message_key: &str,
        outcome: &MessageOutcome,
    ) -> StoreResult<()> {
        let mut state = self.state();
        let Some(message) = state
            .messages
            .get_mut(&key(clinic, id))
            .and_then(|all| all.iter_mut().find(|m| m.key == message_key))
            .filter(|m| m.status == MessageStatus::Sending && m.at == outcome.claimed_at)
        else {
            // Completed already, or the claim was taken over: its owner records the outcome.
            return Ok(());
        };
        message.status = outcome.status;
        message.at = outcome.at;
        message.detail = outcome.detail.clone();
        state.append_events(clinic, std::slice::from_ref(&outcome.event));
        if let Some(entry) = &outcome.ledger {
            let billing = (clinic.clone(), entry.appointment_id.clone(), entry.message_key.clone());
            if state.billed.insert(billing) {
                state.ledger.entry(clinic.clone()).or_default().push(entry.clone());
            }
        }
        if let Some(entry) = outcome.ledger.as_ref().filter(|e| !e.provider_message_id.is_empty()) {
            let address = MessageAddress {
                clinic_id: clinic.clone(),
                appointment_id: id.clone(),
                key: message_key.to_owned(),
            };
            state.provider_ids.insert(entry.provider_message_id.clone(), address);
        }
        if let Some(number) = &outcome.texted_to {
            let route = TextRoute {
                clinic_id: clinic.clone(),
                appointment_id: id.clone(),
                sent_at: outcome.at,
            };
            state.texted.entry(number_key(number)).or_default().push(route);
        }
        Ok(())
    }

    async fn apply_feedback(&self, write: &FeedbackWrite) -> StoreResult<bool> {
        Ok(MemoryStore::apply_feedback_in(&mut self.state(), write))
    }

    async fn text_by_provider_id(&self, provider_message_id: &str) -> StoreResult<Option<MessageAddress>> {
        Ok(self.state().provider_ids.get(provider_message_id).cloned())
    }

    async fn latest_text_to(&self, number: &str, sent_by: DateTime<Utc>) -> StoreResult<Option<TextRoute>> {
        let state = self.state();
        let routes = state.texted.get(&number_key(number)).into_iter().flatten();
        Ok(routes
            .filter(|r| r.sent_at <= sent_by)
            .max_by_key(|r| r.sent_at)
            .cloned())
    }
}

impl MemoryStore {
    fn apply_feedback_in(state: &mut State, write: &FeedbackWrite) -> bool {
        let address = &write.message;
        let Some(message) = state
            .messages
            .get_mut(&key(&address.clinic_id, &address.appointment_id))
            .and_then(|all| all.iter_mut().find(|m| m.key == address.key))
            .filter(|m| m.status == write.from && m.at == write.read_at)
        else {
            return false;
        };
        message.status = write.status;
        message.at = write.at;
        message.detail = write.detail.clone();
        state.append_events(&address.clinic_id, std::slice::from_ref(&write.event));
        for suppression in &write.suppress {
            state
                .suppressions
                .entry(address.clinic_id.clone())
                .or_default()
                .insert(suppression.address.clone(), suppression.clone());
        }
        if let (Some(price), MessageStatus::Sent) = (write.provider_price_micro_usd, write.from) {
            let entries = state.ledger.get_mut(&address.clinic_id).into_iter().flatten();
            for entry in entries.filter(|e| e.appointment_id == address.appointment_id && e.message_key == address.key)
            {
                entry.provider_price_micro_usd = Some(price);
            }
        }
        true
    }
}

#[async_trait]
impl SuppressionStore for MemoryStore {
    async fn suppressions(&self, clinic: &ClinicId) -> StoreResult<Vec<Suppression>> {
        Ok(self
            .state()
            .suppressions
            .get(clinic)
            .map(|list| list.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn is_suppressed(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        let address = address.to_lowercase();
        Ok(self
            .state()
            .suppressions
            .get(clinic)
            .is_some_and(|list| list.contains_key(&address)))
    }

    async fn suppress(&self, clinic: &ClinicId, suppressions: &[Suppression]) -> StoreResult<()> {
        let mut state = self.state();
        let list = state.suppressions.entry(clinic.clone()).or_default();
        for suppression in suppressions {
            list.insert(suppression.address.to_lowercase(), suppression.clone());
        }
        Ok(())
    }

    async fn lift_suppression(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        let address = address.to_lowercase();
        Ok(self
            .state()
            .suppressions
            .get_mut(clinic)
            .is_some_and(|list| list.remove(&address).is_some()))
    }
}

impl ReadTogether for MemoryStore {}

#[async_trait]
impl EventStore for MemoryStore {
    async fn events_after(&self, clinic: &ClinicId, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        Ok(self
            .state()
            .events
            .get(clinic)
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e.cursor > after)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl LedgerStore for MemoryStore {
    async fn ledger_between(
        &self,
        clinic: &ClinicId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let mut entries: Vec<LedgerEntry> = self
            .state()
            .ledger
            .get(clinic)
            .map(|all| {
                all.iter()
                    .filter(|e| from <= e.sent_at && e.sent_at < to)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        // Stable: entries sent at the same instant keep the order they were billed in.
        entries.sort_by_key(|e| e.sent_at);
        Ok(entries)
    }
}
