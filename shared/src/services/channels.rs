//! Which channels an appointment's messages go out on, and the pending messages a decision to
//! tell the patient something becomes: one per channel.

use crate::domain::*;
use chrono::{DateTime, Utc};

/// The channels the clinic and patient allow for automated messages: email when the patient has
/// an address, SMS when the clinic pays for texts and the patient has a mobile number.
pub(super) fn channels(clinic: &ClinicSettings, patient: &Patient) -> Vec<Channel> {
    let mut channels = Vec::with_capacity(2);
    if patient.email.is_some() {
        channels.push(Channel::Email);
    }
    if clinic.sms_enabled && patient.mobile.is_some() {
        channels.push(Channel::Sms);
    }
    channels
}

/// One pending `kind` message on each of `channels`, for `revision`.
pub(super) fn pending_on_each(
    kind: MessageKind,
    channels: &[Channel],
    revision: u64,
    now: DateTime<Utc>,
) -> Vec<MessageRecord> {
    channels
        .iter()
        .map(|channel| MessageRecord::pending(kind, *channel, revision, now))
        .collect()
}
