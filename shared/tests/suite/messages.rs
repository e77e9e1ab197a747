//! Every message kind, in both languages, for every modality: emails hold their parts, texts
//! stay short, in GSM-7 for French, and free of health details.

use chrono::{DateTime, TimeZone, Utc};
use rappel::domain::*;
use rappel::messages::sms::{segments, Encoding};
use rappel::messages::{render_email, render_text, Details, ReplyInvite};
use rappel::testing::appointment;

const MODALITIES: [Modality; 4] = [
    Modality::InPerson,
    Modality::Telemedicine,
    Modality::Phone,
    Modality::HomeVisit,
];

fn start() -> DateTime<Utc> {
    // Wednesday 30 September 2026, 14:30 in Toronto: long French names ("mercredi", "sept.").
    Utc.with_ymd_and_hms(2026, 9, 30, 18, 30, 0).unwrap()
}

fn record(modality: Modality) -> AppointmentRecord {
    let mut content = appointment(1, start(), "FU");
    content.modality = modality;
    if modality == Modality::Telemedicine {
        content.telemedicine_url = Some(WebLink::parse("https://video.example.ca/r/123").unwrap());
    }
    AppointmentRecord {
        clinic_id: ClinicId::parse("c").unwrap(),
        id: AppointmentId::parse("A1").unwrap(),
        content,
        patient_status: PatientStatus::Pending,
        token: "abcdefghijklmnopqrstuvwx".to_owned(),
        reminders: Vec::new(),
        notified: true,
        reschedule_request: None,
        created_at: start(),
        updated_at: start(),
        version: 1,
    }
}

fn clinic(name: &str) -> ClinicSettings {
    let mut settings = ClinicSettings::named(name).unwrap();
    settings.phone = Some(Text::parse("514 555-0100").unwrap());
    settings.address = Some(Text::parse("1 rue Test").unwrap());
    settings
}

#[test]
fn every_email_has_a_subject_both_parts_the_link_and_the_modality() {
    let settings = clinic("Clinique Test");
    for lang in [Language::Fr, Language::En] {
        for modality in MODALITIES {
            let record = record(modality);
            let url = "https://rappel.example.ca/p/abcdefghijklmnopqrstuvwx".to_owned();
            let d = Details::new(&settings, None, &record, url.clone(), lang);
            for kind in MessageKind::ALL {
                let email = render_email(kind, &d, true);
                let case = format!("{kind:?} {lang:?} {modality:?}");
                let date = match lang {
                    Language::Fr => "mercredi 30 septembre 2026 à 14 h 30",
                    Language::En => "Wednesday, September 30, 2026 at 2:30 PM",
                };
                assert!(email.subject.contains(date), "{case}: {}", email.subject);
                assert!(email.text.contains(&url), "{case}: text lacks the link");
                assert!(
                    email.html.contains(&format!("href=\"{url}\"")),
                    "{case}: html lacks the link"
                );
                let button = match lang {
                    Language::Fr => "Voir les détails et confirmer",
                    Language::En => "View details and confirm",
                };
                assert!(
                    email.text.contains(button) && email.html.contains(button),
                    "{case}: button"
                );
                assert!(
                    email.html.contains(&format!("<html lang=\"{}\">", lang.tag())),
                    "{case}"
                );
                assert!(email.text.contains("514 555-0100"), "{case}: clinic contact");
                let live = !matches!(kind, MessageKind::Cancellation | MessageKind::CancellationReceipt);
                let marker = match (modality, lang) {
                    (Modality::InPerson, _) => "123 rue Principale",
                    (Modality::Telemedicine, _) => "https://video.example.ca/r/123",
                    (Modality::Phone, Language::Fr) => "Nous vous appellerons au (514) 555-0199",
                    (Modality::Phone, Language::En) => "We will call you at (514) 555-0199",
                    (Modality::HomeVisit, Language::Fr) => "Visite à domicile",
                    (Modality::HomeVisit, Language::En) => "Home visit",
                };
                assert_eq!(email.text.contains(marker), live, "{case}: modality block {marker:?}");
            }
        }
    }
}

#[test]
fn texts_fit_one_segment_with_typical_data_and_french_stays_in_gsm7() {
    // A 30-character clinic name and a 30-character base URL, the longest typical values.
    let settings = clinic("Clinique médicale Saint-Laure");
    assert_eq!(settings.name.as_str().chars().count(), 29);
    let base = "https://rdv.clinique-laure.ca";
    for lang in [Language::Fr, Language::En] {
        for modality in MODALITIES {
            let record = record(modality);
            let d = Details::new(&settings, None, &record, format!("{base}/p/{}", record.token), lang);
            // The short answer to a reply carries the link and the clinic's phone: two segments.
            let kinds = MessageKind::ALL.into_iter().filter(|k| *k != MessageKind::ReplyHelp);
            for (kind, asks) in kinds.flat_map(|k| [(k, true), (k, false)]) {
                let text = render_text(kind, &d, asks, ReplyInvite::NONE);
                let (encoding, parts) = segments(&text);
                assert_eq!(encoding, Encoding::Gsm7, "{kind:?} {lang:?}: {text}");
                assert_eq!(parts, 1, "{kind:?} {lang:?} ({} chars): {text}", text.chars().count());
                for private in ["Julie", "Roy", "Tremblay", "Principale", "video.example"] {
                    assert!(!text.contains(private), "{private} in {text}");
                }
                // Carrier opt-out keywords: a patient told to reply one would stop every text.
                for keyword in ["CANCEL", "ARRET", "ARRÊT", "STOP"] {
                    assert!(!text.contains(keyword), "{keyword} in {text}");
                }
                for invitation in ["reply", "répond"] {
                    assert!(!text.to_lowercase().contains(invitation), "{invitation} in {text}");
                }
            }
        }
    }
}

/// Every invitation a text may carry.
const INVITES: [ReplyInvite; 4] = [
    ReplyInvite::NONE,
    ReplyInvite {
        confirm: true,
        cancel: false,
    },
    ReplyInvite {
        confirm: false,
        cancel: true,
    },
    ReplyInvite {
        confirm: true,
        cancel: true,
    },
];

#[test]
fn texts_never_need_more_than_two_segments_even_with_long_names_and_invitations() {
    // Long names, one with letters outside GSM-7 (folded), one with letters that cannot be
    // (dropped from the name), and a long clinic phone for the short answer.
    let names = [
        "Clinique très longue ".repeat(9),
        "Clinique Côté-Saint-Jérôme « Œuvre » de l’Île ".repeat(2),
        "Clinique 😀 中文诊所 Ĳssel ".repeat(3),
    ];
    for name in names {
        let mut settings = clinic(&name);
        settings.phone = Some(Text::parse("+1 (514) 555-0100 poste 12345").unwrap());
        for lang in [Language::Fr, Language::En] {
            let record = record(Modality::InPerson);
            let d = Details::new(
                &settings,
                None,
                &record,
                format!("https://{}.example.ca/p/{}", "x".repeat(40), record.token),
                lang,
            );
            for kind in MessageKind::ALL {
                for (asks, invite) in INVITES.into_iter().flat_map(|i| [(true, i), (false, i)]) {
                    let text = render_text(kind, &d, asks, invite);
                    assert_eq!(segments(&text), (Encoding::Gsm7, segments(&text).1), "{text}");
                    assert!(segments(&text).1 <= 2, "{kind:?} {lang:?}: {text}");
                    assert!(text.contains(&d.patient_url), "{text}");
                }
            }
        }
    }
}

#[test]
fn invitations_name_only_the_contract_words_and_never_an_opt_out_word() {
    let settings = clinic("Clinique Test");
    for lang in [Language::Fr, Language::En] {
        let record = record(Modality::InPerson);
        let d = Details::new(&settings, None, &record, "https://r.example.ca/p/x".to_owned(), lang);
        for kind in [MessageKind::Confirmation, MessageKind::Change, MessageKind::Reminder] {
            let both = render_text(kind, &d, true, INVITES[3]);
            let (confirm, cancel) = match lang {
                Language::Fr => ("Répondez OUI pour confirmer", "ANNULER pour annuler"),
                Language::En => ("Reply YES to confirm", "2 if you cannot come"),
            };
            assert!(both.contains(confirm) && both.contains(cancel), "{both}");
            let none = render_text(kind, &d, true, ReplyInvite::NONE);
            assert!(
                !none.contains(confirm) && !none.contains("ANNULER") && !none.contains(" 2 "),
                "{none}"
            );
            for word in ["STOP", "ARRET", "ARRÊT", "CANCEL", "END", "QUIT", "UNSUBSCRIBE"] {
                assert!(
                    !both
                        .to_uppercase()
                        .split(|c: char| !c.is_alphanumeric())
                        .any(|w| w == word),
                    "{word}: {both}"
                );
            }
        }
        // Notices that close nothing invite nothing, even when asked.
        for kind in [
            MessageKind::Cancellation,
            MessageKind::CancellationReceipt,
            MessageKind::ConfirmationReceipt,
        ] {
            let text = render_text(kind, &d, true, INVITES[3]);
            assert!(!text.contains("OUI") && !text.contains("YES"), "{text}");
        }
    }
}
