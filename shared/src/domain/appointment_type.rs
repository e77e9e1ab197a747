//! Appointment types: what a clinic wants sent for each EMR type code.

use super::{check_reminders, InvalidValue, Language, Modality, ReminderSpec, TypeCode, WebLink};
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
    /// The clinic's own instructions, per language (emails and the patient page, never texts).
    #[serde(default, skip_serializing_if = "Instructions::is_empty")]
    pub instructions: Instructions,
    /// The reminders of a `full` type; left out: one, 36 h before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminders: Option<Vec<ReminderSpec>>,
    /// How appointments of this type happen when a message in an EMR format does not say (HL7 v2
    /// without a video link, FHIR without the modality extension); left out: in person. The JSON
    /// API always says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
}

impl TypeSettings {
    /// The reminders an appointment of this type gets: the list (or the 36-h one) for `full`,
    /// none otherwise.
    pub fn planned_reminders(&self) -> Vec<ReminderSpec> {
        match (self.communications, &self.reminders) {
            (Communications::Full, Some(list)) => list.clone(),
            (Communications::Full, None) => vec![ReminderSpec::default_reminder()],
            _ => Vec::new(),
        }
    }

    /// What deserialising cannot check: the reminders' list as a whole. The error names the field.
    pub fn check(&self) -> Result<(), (String, String)> {
        self.reminders.as_deref().map_or(Ok(()), check_reminders)
    }
}

/// A clinic's instructions for a type in one language ("Apportez votre carte d'assurance
/// maladie"): plain text with line breaks, trimmed, at most [`Instruction::MAX_CHARS`]
/// characters. Line ends are stored as `\n`; blank lines separate paragraphs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Instruction(String);

impl Instruction {
    /// The longest instructions a type may carry, in characters.
    pub const MAX_CHARS: usize = 600;

    /// Validates `value`: not empty, not too long, no control characters but line breaks.
    pub fn parse(value: &str) -> Result<Instruction, InvalidValue> {
        let unified = value.replace("\r\n", "\n").replace('\r', "\n");
        let lines: Vec<&str> = unified.trim().lines().map(str::trim_end).collect();
        let text = lines.join("\n");
        if text.is_empty() {
            return Err(InvalidValue("must not be empty".to_owned()));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue(format!("must be at most {} characters", Self::MAX_CHARS)));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(InvalidValue(
                "must be plain text: no control characters other than line breaks".to_owned(),
            ));
        }
        Ok(Instruction(text))
    }

    /// The text, lines separated by `\n`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The paragraphs (separated by blank lines), each as its lines.
    pub fn paragraphs(&self) -> Vec<Vec<String>> {
        let mut paragraphs: Vec<Vec<String>> = vec![Vec::new()];
        for line in self.0.lines() {
            match (line.trim().is_empty(), paragraphs.last_mut()) {
                (true, Some(last)) if !last.is_empty() => paragraphs.push(Vec::new()),
                (true, _) => {}
                (false, Some(last)) => last.push(line.to_owned()),
                (false, None) => paragraphs.push(vec![line.to_owned()]),
            }
        }
        paragraphs.retain(|p| !p.is_empty());
        paragraphs
    }
}

impl TryFrom<String> for Instruction {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        Instruction::parse(&value)
    }
}

impl From<Instruction> for String {
    fn from(i: Instruction) -> String {
        i.0
    }
}

/// A type's instructions in each language a clinic wrote them in. A language left out shows
/// none: the other language's text is never shown instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Instructions {
    /// In French.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fr: Option<Instruction>,
    /// In English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<Instruction>,
}

impl Instructions {
    /// Whether there are none in any language.
    pub fn is_empty(&self) -> bool {
        self.fr.is_none() && self.en.is_none()
    }

    /// Those written in `lang`, if any.
    pub fn for_language(&self, lang: Language) -> Option<&Instruction> {
        match lang {
            Language::Fr => self.fr.as_ref(),
            Language::En => self.en.as_ref(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_keep_line_breaks_and_refuse_other_control_characters() {
        let i = Instruction::parse(
            "  Apportez votre carte.\r\nÀ jeun dès minuit.  \r\n\r\n\r\nStationnement rue Sherbrooke.\n",
        )
        .unwrap();
        assert_eq!(
            i.as_str(),
            "Apportez votre carte.\nÀ jeun dès minuit.\n\n\nStationnement rue Sherbrooke."
        );
        assert_eq!(
            i.paragraphs(),
            vec![
                vec!["Apportez votre carte.".to_owned(), "À jeun dès minuit.".to_owned()],
                vec!["Stationnement rue Sherbrooke.".to_owned()],
            ]
        );
        assert!(Instruction::parse(" \n\t ").is_err());
        assert!(Instruction::parse("Une\ttabulation").is_err());
        assert!(Instruction::parse("Un\u{7}bip").is_err());
        assert!(Instruction::parse(&"é".repeat(600)).is_ok());
        assert!(Instruction::parse(&"é".repeat(601)).is_err());
    }

    #[test]
    fn instructions_are_per_language_and_unknown_languages_are_refused() {
        let settings: TypeSettings =
            serde_json::from_str(r#"{"communications":"full","instructions":{"en":"Bring your card"}}"#).unwrap();
        assert_eq!(
            settings
                .instructions
                .for_language(Language::En)
                .map(Instruction::as_str),
            Some("Bring your card")
        );
        assert_eq!(settings.instructions.for_language(Language::Fr), None);
        assert!(serde_json::from_str::<TypeSettings>(r#"{"instructions":{"es":"Traiga su tarjeta"}}"#).is_err());
        // Settings without instructions read and write as before.
        let plain: TypeSettings = serde_json::from_str(r#"{"communications":"notices"}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::json!({"communications":"notices","questionnaire_url":null})
        );
    }
}
