//! Appointment types: what a clinic wants sent for each EMR type code.

use super::{TypeCode, WebLink};
use serde::{Deserialize, Serialize};

/// How much Rappel says for a type. `None` is the default for every type, known or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Communications {
    /// No automated message at all.
    #[default]
    None,
    /// Confirmation, change and cancellation notices, the patient page and its actions.
    Notices,
    /// Notices plus the pre-visit reminder.
    Full,
}

impl Communications {
    /// What a type sends, from its settings if the clinic set any: `None` for a type it never set.
    pub fn of(type_settings: Option<&TypeSettings>) -> Communications {
        type_settings.map(|t| t.communications).unwrap_or_default()
    }
}

/// Settings of one type, as `PUT /v1/appointment-types/{code}` takes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TypeSettings {
    /// What is sent.
    #[serde(default)]
    pub communications: Communications,
    /// The pre-visit questionnaire, linked from the reminder and the patient page.
    #[serde(default)]
    pub questionnaire_url: Option<WebLink>,
}

/// A type with its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentType {
    /// The EMR's type code.
    pub code: TypeCode,
    /// Its settings.
    #[serde(flatten)]
    pub settings: TypeSettings,
}
