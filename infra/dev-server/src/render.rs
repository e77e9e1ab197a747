//! `rappel-render`: every message and every patient-page state written to files for review —
//! HTML and text, and PNG screenshots at 390×844 through headless Chromium when it is installed.

use axum::body::Body;
use axum::http::{Method, Request};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rappel::domain::*;
use rappel::messages::{render_email, render_text, Details, ReplyInvite};
use rappel::services::PatientAction;
use rappel::testing::{appointment, Harness};
use std::path::{Path, PathBuf};
use tower::ServiceExt;

const MODALITIES: [(Modality, &str); 4] = [
    (Modality::InPerson, "in-person"),
    (Modality::Telemedicine, "telemedicine"),
    (Modality::Phone, "phone"),
    (Modality::HomeVisit, "home-visit"),
];

fn write(path: &Path, content: impl AsRef<[u8]>) -> Result<(), String> {
    std::fs::write(path, content).map_err(|e| format!("{}: {e}", path.display()))
}

fn sample(modality: Modality, start: DateTime<Utc>, language: Language) -> AppointmentContent {
    let mut content = appointment(1, start, "SUIVI");
    content.modality = modality;
    content.patient.language = Some(language);
    if modality == Modality::Telemedicine {
        content.telemedicine_url = Some(WebLink::parse("https://video.example.ca/salle/8").expect("valid link"));
    }
    content
}

/// Writes every email (HTML, text) and text message, for each kind, language and modality.
pub fn render_messages(out: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = out.join("messages");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut clinic = ClinicSettings::named("Clinique Rappel").map_err(|e| e.0)?;
    clinic.phone = Some(Text::parse("514 555-0100").map_err(|e| e.0)?);
    clinic.address = Some(Text::parse("1000 rue Sherbrooke Ouest, Montréal (Québec)").map_err(|e| e.0)?);
    let type_settings = TypeSettings {
        communications: Communications::Full,
        questionnaire_url: Some(WebLink::parse("https://forms.example.ca/suivi").map_err(|e| e.0)?),
        instructions: Instructions {
            fr: Some(
                Instruction::parse("Apportez votre carte d’assurance maladie.\n\nStationnement à l’arrière.")
                    .map_err(|e| e.0)?,
            ),
            en: Some(Instruction::parse("Bring your health card.\n\nParking at the back.").map_err(|e| e.0)?),
        },
        ..TypeSettings::default()
    };
    let start = Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).single().ok_or("bad date")?;
    let mut html_files = Vec::new();
    for lang in [Language::Fr, Language::En] {
        for (modality, modality_name) in MODALITIES {
            let record = AppointmentRecord {
                clinic_id: ClinicId::parse("render").map_err(|e| e.0)?,
                id: AppointmentId::parse("RDV-1").map_err(|e| e.0)?,
                content: sample(modality, start, lang),
                patient_status: PatientStatus::Pending,
                token: "abcdefghijklmnopqrstuvwx".to_owned(),
                reminders: Vec::new(),
                notified: true,
                reschedule_request: None,
                created_at: start,
                updated_at: start,
                version: 1,
            };
            let details = Details::new(
                &clinic,
                Some(&type_settings),
                &record,
                "https://rappel.example.ca/p/abcdefghijklmnopqrstuvwx".to_owned(),
                lang,
            );
            for kind in MessageKind::ALL {
                let name = format!("{}-{}-{modality_name}", kind.as_str(), lang.tag());
                // The answers to text replies, with every answer invited that the kind may carry.
                let invite = ReplyInvite {
                    confirm: kind == MessageKind::ReplyHelp,
                    cancel: kind == MessageKind::ReplyHelp,
                };
                if kind.is_text_answer() {
                    write(
                        &dir.join(format!("{name}.sms.txt")),
                        render_text(kind, &details, false, invite),
                    )?;
                    continue;
                }
                let email = render_email(kind, &details, kind == MessageKind::Reminder);
                let html = dir.join(format!("{name}.html"));
                write(&html, &email.html)?;
                write(
                    &dir.join(format!("{name}.txt")),
                    format!("Subject: {}\n\n{}", email.subject, email.text),
                )?;
                write(
                    &dir.join(format!("{name}.sms.txt")),
                    render_text(kind, &details, kind == MessageKind::Reminder, ReplyInvite::NONE),
                )?;
                html_files.push(html);
            }
        }
    }
    Ok(html_files)
}

/// Writes the patient page in every state, in both languages, as the patient-action router serves it.
pub async fn render_pages(out: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = out.join("pages");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // Monday 2030-01-07 10:00 in Toronto.
    let now = Utc.with_ymd_and_hms(2030, 1, 7, 15, 0, 0).single().ok_or("bad date")?;
    let mut h = Harness::new(now).await;
    h.set_type("SUIVI", Communications::Full).await;
    h.configure(|s| {
        s.allow_patient_cancellation = true;
        s.allow_arrival_checkin = true;
    })
    .await;
    let router = rappel::http::patient::router(h.rappel.clone());
    let mut states: Vec<(&str, String)> = Vec::new();
    let save = |id: &'static str, start: DateTime<Utc>, status: AppointmentStatus| {
        let rappel = h.rappel.clone();
        let clinic = h.clinic.clone();
        async move {
            let mut content = sample(Modality::InPerson, start, Language::Fr);
            content.status = status;
            let id = AppointmentId::parse(id).map_err(|e| e.0)?;
            rappel
                .save_appointment(&clinic, id, content)
                .await
                .map(|(_, r)| r.token)
                .map_err(|e| e.to_string())
        }
    };
    let booked = AppointmentStatus::Booked;
    states.push((
        "confirm-not-open-yet",
        save("S1", now + Duration::days(4), booked).await?,
    ));
    states.push(("confirm-open", save("S2", now + Duration::hours(30), booked).await?));
    let confirmed = save("S3", now + Duration::hours(30), booked).await?;
    h.rappel
        .patient_act(&confirmed, PatientAction::Confirm)
        .await
        .map_err(|e| e.to_string())?;
    states.push(("confirmed", confirmed));
    let cancelled = save("S4", now + Duration::days(3), booked).await?;
    h.rappel
        .patient_act(&cancelled, PatientAction::Cancel)
        .await
        .map_err(|e| e.to_string())?;
    states.push(("cancelled-by-patient", cancelled));
    save("S5", now + Duration::days(3), booked).await?;
    let mut by_clinic = sample(Modality::InPerson, now + Duration::days(3), Language::Fr);
    by_clinic.revision = 2;
    by_clinic.status = AppointmentStatus::Cancelled;
    let record = h
        .rappel
        .save_appointment(&h.clinic, AppointmentId::parse("S5").map_err(|e| e.0)?, by_clinic)
        .await
        .map_err(|e| e.to_string())?
        .1;
    states.push(("cancelled-by-clinic", record.token));
    states.push((
        "cancellation-closed",
        save("S6", now + Duration::hours(20), booked).await?,
    ));
    let arrived = save("S7", now + Duration::minutes(20), booked).await?;
    h.rappel
        .patient_act(&arrived, PatientAction::Arrive)
        .await
        .map_err(|e| e.to_string())?;
    states.push(("arrived", arrived));
    states.push(("past", save("S8", now - Duration::hours(2), booked).await?));
    let expired = save("S9", now - Duration::days(31), booked).await?;
    states.push(("expired-link", expired));
    states.push(("unknown-link", "AAAAAAAAAAAAAAAAAAAAAAAA".to_owned()));

    let mut html_files = Vec::new();
    let mut save_page = |method: Method, uri: String, name: String| {
        let (router, dir) = (router.clone(), dir.clone());
        html_files.push(dir.join(&name));
        async move {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .map_err(|e| e.to_string())?;
            let response = router.oneshot(request).await.map_err(|e| e.to_string())?;
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .map_err(|e| e.to_string())?;
            write(&dir.join(name), &body)
        }
    };
    for (state, token) in &states {
        for lang in ["fr", "en"] {
            save_page(
                Method::GET,
                format!("/p/{token}?lang={lang}"),
                format!("{state}-{lang}.html"),
            )
            .await?;
        }
    }
    // A refused action: confirming too early.
    let (_, token) = &states[0];
    save_page(
        Method::POST,
        format!("/p/{token}/confirm?lang=fr"),
        "refused-confirm-too-early-fr.html".to_owned(),
    )
    .await?;
    Ok(html_files)
}

/// Screenshots each HTML file to a PNG beside it at 390×844 with headless Chromium; returns how
/// many were taken, or `None` when Chromium is not installed.
pub fn screenshot_all(files: &[PathBuf]) -> Result<Option<usize>, String> {
    let chromium = std::env::var("RAPPEL_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    if std::process::Command::new(&chromium).arg("--version").output().is_err() {
        return Ok(None);
    }
    let profile = std::env::temp_dir().join(format!("rappel-render-{}", std::process::id()));
    for file in files {
        let absolute = std::fs::canonicalize(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let png = absolute.with_extension("png");
        let status = std::process::Command::new(&chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--force-device-scale-factor=1",
                "--window-size=390,844",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("file://{}", absolute.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("chromium failed on {}", file.display()));
        }
    }
    let _ = std::fs::remove_dir_all(&profile);
    Ok(Some(files.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_message_and_page_state_is_rendered() {
        let out = std::env::temp_dir().join(format!("rappel-render-test-{}", std::process::id()));
        let messages = render_messages(&out).unwrap();
        // Five kinds of email (the answers to text replies are texts only), two languages, four
        // modalities.
        assert_eq!(messages.len(), 5 * 2 * 4);
        let help = std::fs::read_to_string(out.join("messages").join("reply_help-fr-in-person.sms.txt")).unwrap();
        assert!(
            help.contains("Répondez OUI pour confirmer ou ANNULER pour annuler."),
            "{help}"
        );
        let pages = render_pages(&out).await.unwrap();
        assert_eq!(pages.len(), 10 * 2 + 1);
        let read = |name: &str| std::fs::read_to_string(out.join("pages").join(name)).unwrap();
        assert!(read("expired-link-fr.html").contains("Ce lien a expiré."));
        assert!(read("unknown-link-en.html").contains("This link is not valid."));
        assert!(read("past-fr.html").contains("Ce rendez-vous est passé."));
        assert!(read("cancellation-closed-en.html").contains("Online cancellation has closed"));
        assert!(read("confirm-not-open-yet-fr.html").contains("Vous pourrez confirmer votre présence à partir du"));
        assert!(read("refused-confirm-too-early-fr.html").contains("Action impossible"));
        let sms = std::fs::read_to_string(out.join("messages").join("reminder-fr-phone.sms.txt")).unwrap();
        assert!(sms.starts_with("Clinique Rappel : rappel"));
        std::fs::remove_dir_all(&out).unwrap();
    }
}
