//! The revision of a save in an EMR format, which orders saves by an instant (HL7's MSH-7,
//! FHIR's `meta.lastUpdated`) or not at all, rather than by the JSON API's `revision`.

use crate::domain::{AppointmentContent, AppointmentRecord};
use serde_json::Value;

/// Revisions of saves ordered by an instant: its milliseconds, times 1000 (room for saves within
/// the same millisecond).
pub(super) const PER_MILLISECOND: u64 = 1000;

/// Whether `content` (without its revision) says what `stored` says.
fn same_as_stored(content: &Value, stored: &AppointmentRecord) -> bool {
    let mut content = content.clone();
    content["revision"] = Value::from(stored.content.revision);
    serde_json::from_value::<AppointmentContent>(content).is_ok_and(|c| c == stored.content)
}

/// The revision of a save made at `millis`: `millis × 1000`; at the stored save's millisecond, the
/// stored revision when nothing differs (a replay) and the next one otherwise (arrival order). An
/// older instant gives a lower revision, which the save refuses as stale.
pub(super) fn revision_at(stored: Option<&AppointmentRecord>, millis: u64, content: &Value) -> u64 {
    let ordered = millis.saturating_mul(PER_MILLISECOND);
    match stored {
        Some(record) if record.content.revision / PER_MILLISECOND == millis => next_revision(record, content),
        _ => ordered,
    }
}

/// The revision of a save that orders itself after `stored`: the same when nothing differs.
pub(super) fn next_revision(stored: &AppointmentRecord, content: &Value) -> u64 {
    let revision = stored.content.revision;
    if same_as_stored(content, stored) {
        revision
    } else {
        revision.saturating_add(1)
    }
}
