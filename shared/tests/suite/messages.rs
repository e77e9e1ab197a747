//! Every message kind, in both languages, for every modality: emails hold their parts, texts
//! stay short, in GSM-7 for French, and free of health details.

use chrono::{DateTime, TimeZone, Utc};
use rappel::domain::*;
use rappel::messages::sms::{segments, Encoding};
use rappel::messages::{render_email, render_text, Details};
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
            for (kind, asks) in MessageKind::ALL.into_iter().flat_map(|k| [(k, true), (k, false)]) {
                let text = render_text(kind, &d, asks);
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

#[test]
fn texts_never_need_more_than_two_segments_even_with_long_names() {
    let settings = clinic(&"Clinique très longue ".repeat(9));
    for lang in [Language::Fr, Language::En] {
        let record = record(Modality::InPerson);
        let d = Details::new(
            &settings,
            None,
            &record,
            format!("https://{}.example.ca/p/{}", "x".repeat(40), record.token),
            lang,
        );
        for (kind, asks) in MessageKind::ALL.into_iter().flat_map(|k| [(k, true), (k, false)]) {
            let text = render_text(kind, &d, asks);
            assert!(segments(&text).1 <= 2, "{kind:?} {lang:?}: {text}");
        }
    }
}
