//! What patients read: emails (HTML + plain text), texts, and the details shared with the patient page.

pub mod format;
pub mod phrases;
pub mod sms;

use crate::domain::{AppointmentRecord, ClinicSettings, Language, MessageKind, Modality, TypeSettings};
use askama::Template;
use chrono::{DateTime, NaiveDateTime, Utc};
pub use phrases::{Phrases, ReplyInvite};

/// The modality part of a message: a title, a few lines, maybe a link.
#[derive(Debug, Clone)]
pub struct ModalityBlock {
    /// "Rendez-vous par vidéo".
    pub title: &'static str,
    /// Address lines or explanations.
    pub lines: Vec<String>,
    /// A labelled link: the map or the video call.
    pub link: Option<(String, String)>,
}

/// Everything about an appointment a patient may read, already localised.
#[derive(Debug, Clone)]
pub struct Details {
    /// The patient's language.
    pub lang: Language,
    /// Fixed phrases.
    pub t: &'static Phrases,
    /// Clinic name.
    pub clinic_name: String,
    /// Clinic phone.
    pub clinic_phone: Option<String>,
    /// Clinic address.
    pub clinic_address: Option<String>,
    /// Greeting name.
    pub first_name: String,
    /// Professional.
    pub professional: String,
    /// "mardi 1er décembre 2026 à 14 h 30".
    pub date_time: String,
    /// "14 h 30".
    pub time: String,
    /// "mar. 1er déc.".
    pub short_date: String,
    /// Length.
    pub duration_minutes: u32,
    /// How the patient meets the professional.
    pub modality: ModalityBlock,
    /// The pre-visit questionnaire.
    pub questionnaire_url: Option<String>,
    /// The clinic's instructions for the type in this language: paragraphs of lines (none when
    /// it wrote none in this language).
    pub instructions: Vec<Vec<String>>,
    /// The patient page.
    pub patient_url: String,
}

impl Details {
    /// Builds the details of `record` for its patient, in `lang`, with times in the clinic's zone.
    pub fn new(
        clinic: &ClinicSettings,
        type_settings: Option<&TypeSettings>,
        record: &AppointmentRecord,
        patient_url: String,
        lang: Language,
    ) -> Details {
        let t = phrases::for_language(lang);
        let local = local_time(record.content.start(), clinic);
        let content = &record.content;
        Details {
            lang,
            t,
            clinic_name: clinic.name.to_string(),
            clinic_phone: clinic.phone.as_ref().map(|p| p.to_string()),
            clinic_address: clinic.address.as_ref().map(|a| a.to_string()),
            first_name: content.patient.first_name.to_string(),
            professional: content.professional.display_name.to_string(),
            date_time: format::date_time(local, lang),
            time: format::time(local, lang),
            short_date: format::short_date(local, lang),
            duration_minutes: content.duration_minutes,
            modality: modality_block(clinic, record, lang, t),
            questionnaire_url: type_settings
                .and_then(|s| s.questionnaire_url.as_ref())
                .map(|u| u.to_string()),
            instructions: type_settings
                .and_then(|s| s.instructions.for_language(lang))
                .map(|i| i.paragraphs())
                .unwrap_or_default(),
            patient_url,
        }
    }

    /// Formats another instant the same way as the appointment's (for "from …" sentences).
    pub fn format_instant(&self, at: DateTime<Utc>, clinic: &ClinicSettings) -> String {
        format::date_time(local_time(at, clinic), self.lang)
    }
}

/// `at` on the clinic's wall clock.
pub fn local_time(at: DateTime<Utc>, clinic: &ClinicSettings) -> NaiveDateTime {
    at.with_timezone(&clinic.tz()).naive_local()
}

fn modality_block(
    clinic: &ClinicSettings,
    record: &AppointmentRecord,
    lang: Language,
    t: &'static Phrases,
) -> ModalityBlock {
    let content = &record.content;
    match content.modality {
        Modality::InPerson => {
            let location = content.location.as_ref();
            let name = location.and_then(|l| l.name.as_ref()).map(|n| n.to_string());
            let address = location
                .and_then(|l| l.address.as_ref())
                .or(clinic.address.as_ref())
                .map(|a| a.to_string());
            let link = address.as_ref().map(|a| {
                (
                    t.map.to_owned(),
                    format!("https://www.google.com/maps/search/?api=1&query={}", percent_encode(a)),
                )
            });
            ModalityBlock {
                title: t.in_person_title,
                lines: name.into_iter().chain(address).collect(),
                link,
            }
        }
        Modality::Telemedicine => match &content.telemedicine_url {
            Some(url) => ModalityBlock {
                title: t.video_title,
                lines: vec![t.video_how.to_owned()],
                link: Some((t.video_join.to_owned(), url.to_string())),
            },
            None => ModalityBlock {
                title: t.video_title,
                lines: vec![t.video_link_later.to_owned()],
                link: None,
            },
        },
        Modality::Phone => {
            let number = content.patient.mobile.as_ref().map(|m| national_format(m.as_str()));
            ModalityBlock {
                title: t.phone_title,
                lines: vec![phrases::we_will_call(lang, number.as_deref())],
                link: None,
            }
        }
        Modality::HomeVisit => ModalityBlock {
            title: t.home_title,
            lines: vec![t.home_how.to_owned()],
            link: None,
        },
    }
}

/// "+15145550199" → "(514) 555-0199"; other countries in their international form.
fn national_format(e164: &str) -> String {
    // A stored North American number is "+1" and ten digits: its national form needs no metadata
    // (loading libphonenumber's takes 80 ms in a fresh process).
    if let Some(digits) = e164
        .strip_prefix("+1")
        .filter(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()))
    {
        return format!("({}) {}-{}", &digits[..3], &digits[3..6], &digits[6..]);
    }
    match phonenumber::parse(None, e164) {
        Ok(n) if n.code().value() == 1 => n.format().mode(phonenumber::Mode::National).to_string(),
        Ok(n) => n.format().mode(phonenumber::Mode::International).to_string(),
        Err(_) => e164.to_owned(),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for query values.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

#[derive(Template)]
#[template(path = "email.html")]
struct EmailHtml<'a> {
    d: &'a Details,
    lead: &'a str,
    ask_confirm: bool,
    show_questionnaire: bool,
    show_details: bool,
}

#[derive(Template)]
#[template(path = "email.txt", escape = "none")]
struct EmailText<'a> {
    d: &'a Details,
    lead: &'a str,
    ask_confirm: bool,
    show_questionnaire: bool,
    show_details: bool,
}

/// Renders an email of `kind`. `confirm_open` (confirming is open and the patient has not
/// confirmed) adds the request to confirm to confirmations, changes and reminders: a reminder a
/// week ahead, or one after the patient confirmed, does not ask.
pub fn render_email(kind: MessageKind, d: &Details, confirm_open: bool) -> RenderedEmail {
    let lead = phrases::lead(kind, d.lang, &d.clinic_name);
    let live = !matches!(kind, MessageKind::Cancellation | MessageKind::CancellationReceipt);
    let ask_confirm = live && confirm_open;
    let show_questionnaire = live
        && d.questionnaire_url.is_some()
        && matches!(
            kind,
            MessageKind::Reminder | MessageKind::Confirmation | MessageKind::Change
        );
    let html = EmailHtml {
        d,
        lead: &lead,
        ask_confirm,
        show_questionnaire,
        show_details: live,
    };
    let text = EmailText {
        d,
        lead: &lead,
        ask_confirm,
        show_questionnaire,
        show_details: live,
    };
    RenderedEmail {
        subject: phrases::subject(kind, d.lang, &d.date_time),
        // Rendering only formats owned strings; it cannot fail short of a template bug caught by tests.
        text: text.render().unwrap_or_default(),
        html: html.render().unwrap_or_default(),
    }
}

/// Longest clinic name a text carries; a longer one is cut so no text needs a third segment.
const SMS_CLINIC_NAME_MAX: usize = 40;

/// The most segments a text may take.
const SMS_MAX_SEGMENTS: u32 = 2;

/// Renders the text message of `kind`; `confirm_open` as for [`render_email`], `invite` the
/// answers it invites (docs/BEHAVIOUR.md §9.1). The text is folded to GSM-7 where a letter has
/// a plain form ("Côté" → "Cote"). Should it still need a third segment (a clinic name in
/// another script, a very long phone or base URL), it goes without, in turn: the letters of
/// the name GSM-7 lacks, the invitation, the clinic's phone.
pub fn render_text(kind: MessageKind, d: &Details, confirm_open: bool, invite: ReplyInvite) -> String {
    let name: String = sms::fold_to_gsm7(&d.clinic_name.chars().take(SMS_CLINIC_NAME_MAX).collect::<String>());
    let plain_name = sms::gsm7_only(&name);
    let render = |clinic: &str, invite: ReplyInvite, phone: Option<&str>| {
        let parts = phrases::TextParts {
            clinic: clinic.trim_end(),
            date: &d.short_date,
            time: &d.time,
            link: &d.patient_url,
            phone,
        };
        sms::fold_to_gsm7(&phrases::sms(kind, d.lang, &parts, confirm_open, invite))
    };
    let phone = d.clinic_phone.as_deref();
    let attempts = [
        (name.as_str(), invite, phone),
        (plain_name.as_str(), invite, phone),
        (plain_name.as_str(), ReplyInvite::NONE, phone),
        (plain_name.as_str(), ReplyInvite::NONE, None),
    ];
    let mut text = String::new();
    for (clinic, invite, phone) in attempts {
        text = render(clinic, invite, phone);
        let (encoding, segments) = sms::segments(&text);
        if encoding == sms::Encoding::Gsm7 && segments <= SMS_MAX_SEGMENTS {
            break;
        }
    }
    text
}
