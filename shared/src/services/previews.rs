//! Previews: any message of a type rendered with sample data, in a language and a modality, so
//! a clinic sees what its patients will get before it switches anything on.

use super::{Rappel, ServiceError};
use crate::domain::*;
use crate::messages::ReplyInvite;
use crate::messages::{self, sms};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::Serialize;

/// What `GET /v1/previews/{kind}` asks for; every part but the kind is optional.
#[derive(Debug, Clone, Default)]
pub struct PreviewQuery<'a> {
    /// The message kind, as the contract spells it.
    pub kind: &'a str,
    /// The type whose settings (questionnaire, instructions) apply; none: a type never set.
    pub type_code: Option<&'a str>,
    /// `fr` or `en`; none: the clinic's language.
    pub language: Option<&'a str>,
    /// The modality; none: in person.
    pub modality: Option<&'a str>,
    /// For a reminder: which one (`7d`, `2h`); none: the 36-h one.
    pub before: Option<&'a str>,
}

/// A message as a patient would get it, with sample patient and appointment.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// The kind rendered.
    pub kind: MessageKind,
    /// The type whose settings were used, if one was named.
    pub type_code: Option<TypeCode>,
    /// What the type sends today (`none` for a type never set): a preview renders any kind
    /// all the same.
    pub communications: Communications,
    /// The language rendered.
    pub language: Language,
    /// The modality rendered.
    pub modality: Modality,
    /// The email.
    pub email: PreviewEmail,
    /// The text.
    pub sms: PreviewText,
}

/// The email of a preview.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewEmail {
    /// Subject line.
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
}

/// The text of a preview, with what it would cost.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewText {
    /// The text.
    pub text: String,
    /// `gsm7` or `ucs2`.
    pub encoding: &'static str,
    /// Segments it takes.
    pub segments: u32,
    /// Price of one segment in force now, in cents.
    pub unit_price_cents: i64,
    /// What the text would cost, in cents.
    pub price_cents: i64,
    /// Whether the clinic sends texts at all (`sms_enabled`).
    pub sms_enabled: bool,
}

/// The sample token of previews' patient links: not a real link (no appointment has it).
const SAMPLE_TOKEN: &str = "apercu-preview";

impl Rappel {
    /// Renders `query.kind` for the clinic with sample data (`GET /v1/previews/{kind}`).
    pub async fn preview(&self, clinic: &Clinic, query: PreviewQuery<'_>) -> Result<Preview, ServiceError> {
        let kind = MessageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == query.kind)
            .ok_or(ServiceError::NotFound("message kind"))?;
        let language = match query.language {
            None => clinic.settings.language,
            Some(tag) => parse_param::<Language>("language", tag, "fr or en")?,
        };
        let modality = match query.modality {
            None => Modality::InPerson,
            Some(m) => parse_param::<Modality>("modality", m, "in_person, telemedicine, phone or home_visit")?,
        };
        let type_code = query
            .type_code
            .map(|code| TypeCode::parse(code).map_err(|e| ServiceError::invalid("type_code", e.0)))
            .transpose()?;
        let type_settings = match &type_code {
            Some(code) => self.store.type_settings(&clinic.id, code).await?,
            None => None,
        };
        let now = self.clock.now();
        let record = sample_record(clinic, &type_code, language, modality, now)?;
        let details = self.details(&clinic.settings, type_settings.as_ref(), &record, language);
        let before = match query.before {
            None => ReminderOffset::DEFAULT,
            Some(text) => ReminderOffset::parse(text).map_err(|e| ServiceError::invalid("before", e.0))?,
        };
        // A reminder reads as it would to a patient who has not confirmed: asking to once
        // confirming is open (48 h before), so a week-ahead one does not.
        let asks = kind == MessageKind::Reminder && before <= ReminderOffset::parse("48h").unwrap_or(before);
        let email = messages::render_email(kind, &details, asks);
        // Replies are invited as they would be at that moment: a reminder ahead of the 48 h
        // invites only cancelling, where the clinic allows it.
        let replies = self.config.text_replies && clinic.settings.sms_replies;
        let invite = ReplyInvite {
            confirm: replies && asks,
            cancel: replies && clinic.settings.allow_patient_cancellation,
        };
        let text = messages::render_text(kind, &details, asks, invite);
        let (encoding, segments) = sms::segments(&text);
        let unit_price_cents = self.config.sms_prices.cents_at(now);
        Ok(Preview {
            kind,
            communications: Communications::of(type_settings.as_ref()),
            type_code,
            language,
            modality,
            email: PreviewEmail {
                subject: email.subject,
                html: email.html,
                text: email.text,
            },
            sms: PreviewText {
                text,
                encoding: encoding.as_str(),
                segments,
                unit_price_cents,
                price_cents: i64::from(segments) * unit_price_cents,
                sms_enabled: clinic.settings.sms_enabled,
            },
        })
    }
}

/// A query parameter read as its JSON spelling (`"fr"`, `"home_visit"`).
fn parse_param<T: serde::de::DeserializeOwned>(field: &str, value: &str, expected: &str) -> Result<T, ServiceError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| ServiceError::invalid(field, format!("must be {expected}")))
}

/// The sample appointment: three days from now at 10:00 on the clinic's clock, 30 minutes, a
/// made-up patient and professional, the clinic's address, a sample video link.
fn sample_record(
    clinic: &Clinic,
    type_code: &Option<TypeCode>,
    language: Language,
    modality: Modality,
    now: DateTime<Utc>,
) -> Result<AppointmentRecord, ServiceError> {
    let start = sample_start(clinic, now);
    let content = serde_json::json!({
        "revision": 1,
        "start": start.to_rfc3339(),
        "duration_minutes": 30,
        "type_code": type_code.as_ref().map_or("PREVIEW", TypeCode::as_str),
        "modality": modality,
        "status": "booked",
        "professional": {"display_name": "Sophie Gagnon"},
        "location": clinic.settings.address.as_ref().map(|a| serde_json::json!({"address": a})),
        "telemedicine_url": (modality == Modality::Telemedicine).then_some("https://video.example.com/preview"),
        "patient": {
            "first_name": "Camille",
            "last_name": "Tremblay",
            "email": "camille@example.com",
            "mobile": "+15145550123",
            "language": language,
        },
    });
    let content: AppointmentContent = serde_json::from_value(content)
        .map_err(|e| ServiceError::invalid("type_code", format!("no sample appointment can be made: {e}")))?;
    Ok(AppointmentRecord {
        clinic_id: clinic.id.clone(),
        id: AppointmentId::parse("PREVIEW").map_err(|e| ServiceError::invalid("id", e.0))?,
        content,
        patient_status: PatientStatus::Pending,
        token: SAMPLE_TOKEN.to_owned(),
        reminders: Vec::new(),
        notified: true,
        reschedule_request: None,
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

/// 10:00 on the clinic's clock three days after `now` (the first instant at or after it on a
/// day that skips 10:00, which no zone does today).
fn sample_start(clinic: &Clinic, now: DateTime<Utc>) -> DateTime<Utc> {
    let zone = clinic.settings.tz();
    let day = (now + Duration::days(3)).with_timezone(&zone).date_naive();
    let ten = day.and_time(NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default());
    ten.and_local_timezone(zone)
        .earliest()
        .map_or(now + Duration::days(3), |t| t.with_timezone(&Utc))
}
