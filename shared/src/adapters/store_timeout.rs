//! A store decorator that bounds every call, so a store that hangs becomes a store error (a 503
//! the EMR retries) instead of a request that never answers. Deployments wrap their store in it.

use crate::domain::*;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The longest one store call may take.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(6);

/// Any store, with every call bounded by [`STORE_TIMEOUT`].
pub struct TimeLimitedStore {
    inner: Arc<dyn Store>,
}

impl TimeLimitedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        TimeLimitedStore { inner }
    }
}

/// Runs one store call, answering `Unavailable` if it takes longer than [`STORE_TIMEOUT`].
async fn within_store_timeout<T>(call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    tokio::time::timeout(STORE_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("store timed out".to_owned())))
}

#[async_trait]
impl ClinicStore for TimeLimitedStore {
    async fn clinic_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Clinic>> {
        within_store_timeout(self.inner.clinic_by_key_hash(key_hash)).await
    }
    async fn clinic(&self, id: &ClinicId) -> StoreResult<Option<Clinic>> {
        within_store_timeout(self.inner.clinic(id)).await
    }
    async fn put_clinic(&self, clinic: &Clinic) -> StoreResult<()> {
        within_store_timeout(self.inner.put_clinic(clinic)).await
    }
    async fn set_api_key_hash(&self, id: &ClinicId, key_hash: &str) -> StoreResult<()> {
        within_store_timeout(self.inner.set_api_key_hash(id, key_hash)).await
    }
}

#[async_trait]
impl TypeStore for TimeLimitedStore {
    async fn put_type(&self, clinic: &ClinicId, appointment_type: &AppointmentType) -> StoreResult<bool> {
        within_store_timeout(self.inner.put_type(clinic, appointment_type)).await
    }
    async fn types(&self, clinic: &ClinicId) -> StoreResult<Vec<AppointmentType>> {
        within_store_timeout(self.inner.types(clinic)).await
    }
    async fn type_settings(&self, clinic: &ClinicId, code: &TypeCode) -> StoreResult<Option<TypeSettings>> {
        within_store_timeout(self.inner.type_settings(clinic, code)).await
    }
}

#[async_trait]
impl AppointmentStore for TimeLimitedStore {
    async fn appointment(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Option<AppointmentRecord>> {
        within_store_timeout(self.inner.appointment(clinic, id)).await
    }
    async fn appointment_by_token(&self, token: &str) -> StoreResult<LinkTarget> {
        within_store_timeout(self.inner.appointment_by_token(token)).await
    }
    async fn write_appointment(&self, write: &AppointmentWrite) -> StoreResult<Vec<String>> {
        within_store_timeout(self.inner.write_appointment(write)).await
    }
    async fn add_messages(&self, record: &AppointmentRecord, messages: &[MessageRecord]) -> StoreResult<Vec<String>> {
        within_store_timeout(self.inner.add_messages(record, messages)).await
    }
    async fn messages(&self, clinic: &ClinicId, id: &AppointmentId) -> StoreResult<Vec<MessageRecord>> {
        within_store_timeout(self.inner.messages(clinic, id)).await
    }
    async fn claim_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        appointment_version: u64,
    ) -> StoreResult<bool> {
        within_store_timeout(
            self.inner
                .claim_message(clinic, id, key, now, stale_before, appointment_version),
        )
        .await
    }
    async fn complete_message(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        key: &str,
        outcome: &MessageOutcome,
    ) -> StoreResult<()> {
        within_store_timeout(self.inner.complete_message(clinic, id, key, outcome)).await
    }
    async fn apply_feedback(&self, write: &FeedbackWrite) -> StoreResult<bool> {
        within_store_timeout(self.inner.apply_feedback(write)).await
    }
    async fn text_by_provider_id(&self, provider_message_id: &str) -> StoreResult<Option<MessageAddress>> {
        within_store_timeout(self.inner.text_by_provider_id(provider_message_id)).await
    }
    async fn latest_text_to(&self, number: &str, sent_by: DateTime<Utc>) -> StoreResult<Option<TextRoute>> {
        within_store_timeout(self.inner.latest_text_to(number, sent_by)).await
    }
    async fn release_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        claims: &[(String, DateTime<Utc>)],
    ) -> StoreResult<()> {
        within_store_timeout(self.inner.release_messages(clinic, id, claims)).await
    }
    async fn complete_messages(
        &self,
        clinic: &ClinicId,
        id: &AppointmentId,
        completions: &[Completion],
        after: AfterOutcomes<'_>,
    ) -> StoreResult<bool> {
        within_store_timeout(self.inner.complete_messages(clinic, id, completions, after)).await
    }
}

#[async_trait]
impl ReadTogether for TimeLimitedStore {
    async fn read_together(&self, clinic: &ClinicId, wanted: &Wanted) -> StoreResult<Found> {
        within_store_timeout(self.inner.read_together(clinic, wanted)).await
    }
    async fn add_messages_checking(
        &self,
        record: &AppointmentRecord,
        messages: &[MessageRecord],
        address: Option<&str>,
    ) -> StoreResult<Added> {
        within_store_timeout(self.inner.add_messages_checking(record, messages, address)).await
    }
    async fn read_by_token(&self, token: &str) -> StoreResult<Linked> {
        within_store_timeout(self.inner.read_by_token(token)).await
    }
}

#[async_trait]
impl EventStore for TimeLimitedStore {
    async fn events_after(&self, clinic: &ClinicId, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        within_store_timeout(self.inner.events_after(clinic, after, limit)).await
    }
}

#[async_trait]
impl SuppressionStore for TimeLimitedStore {
    async fn suppressions(&self, clinic: &ClinicId) -> StoreResult<Vec<Suppression>> {
        within_store_timeout(self.inner.suppressions(clinic)).await
    }
    async fn is_suppressed(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        within_store_timeout(self.inner.is_suppressed(clinic, address)).await
    }
    async fn suppress(&self, clinic: &ClinicId, suppressions: &[Suppression]) -> StoreResult<()> {
        within_store_timeout(self.inner.suppress(clinic, suppressions)).await
    }
    async fn lift_suppression(&self, clinic: &ClinicId, address: &str) -> StoreResult<bool> {
        within_store_timeout(self.inner.lift_suppression(clinic, address)).await
    }
}

#[async_trait]
impl LedgerStore for TimeLimitedStore {
    async fn ledger_between(
        &self,
        clinic: &ClinicId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LedgerEntry>> {
        within_store_timeout(self.inner.ledger_between(clinic, from, to)).await
    }
}
