//! The domain: validated value types and the records Rappel keeps.
//!
//! Every type here validates itself when it is deserialised, so a value that reached the
//! services is already known to be well formed (an `Email` is an email, a `Mobile` is E.164).

mod appointment;
mod appointment_type;
mod clinic;
mod contact;
mod ids;
mod message;
mod reminders;
mod reschedule;

pub use appointment::*;
pub use appointment_type::*;
pub use clinic::*;
pub use contact::*;
pub use ids::*;
pub use message::*;
pub use reminders::*;
pub use reschedule::*;

/// The two languages patients are served in; French first (Quebec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// French, the default.
    #[default]
    Fr,
    /// English, on request.
    En,
}

impl Language {
    /// The BCP 47 tag, for `lang` attributes.
    pub fn tag(self) -> &'static str {
        match self {
            Language::Fr => "fr",
            Language::En => "en",
        }
    }

    /// Reads `fr` or `en` (any case); anything else is `None`.
    pub fn parse(text: &str) -> Option<Language> {
        match text.to_ascii_lowercase().as_str() {
            "fr" => Some(Language::Fr),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}
