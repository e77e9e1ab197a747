//! Clinic wording: a type's own instructions (emails and page, never texts, each language on
//! its own) and previews of any message with sample data.

use axum::http::{Method, StatusCode};
use rappel::testing::{appointment_json, Harness};
use serde_json::json;

use crate::http::Api;
use crate::support::{now0, t};

const FRENCH: &str = "À jeun dès minuit.\n<b>Apportez</b> votre carte & ordonnance.\n\nStationnement rue Sherbrooke.";

/// A clinic that texts, with type `FU` (full) carrying French instructions only.
async fn clinic_with_french_instructions() -> Api {
    let mut h = Harness::new(now0()).await;
    h.configure(|s| s.sms_enabled = true).await;
    let api = Api::over(h);
    let put = api
        .put(
            "/v1/appointment-types/FU",
            &json!({"communications": "full", "instructions": {"fr": FRENCH}}),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());
    api
}

async fn save(api: &Api, id: &str, language: &str) {
    let mut body = appointment_json(1, t(), "FU");
    body["patient"]["language"] = json!(language);
    let saved = api.put(&format!("/v1/appointments/{id}"), &body).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text());
}

#[tokio::test]
async fn instructions_show_in_emails_and_on_the_page_of_their_language_never_in_texts() {
    let api = clinic_with_french_instructions().await;
    save(&api, "FR1", "fr").await;
    save(&api, "EN1", "en").await;
    let sent = api.h.sent();
    let email = |to_kind: &str, lang_marker: &str| {
        sent.iter()
            .find(|e| e.channel == "email" && e.kind == to_kind && e.text.contains(lang_marker))
            .cloned()
            .unwrap_or_else(|| panic!("no {to_kind} email with {lang_marker:?}"))
    };
    let french = email("confirmation", "Bonjour");
    let html = french.html.clone().unwrap();
    assert!(html.contains("Consignes de la clinique"), "{html}");
    assert!(
        html.contains("À jeun dès minuit.<br>&#60;b&#62;Apportez&#60;/b&#62; votre carte &#38; ordonnance.")
            || html.contains("À jeun dès minuit.<br>&lt;b&gt;Apportez&lt;/b&gt; votre carte &amp; ordonnance."),
        "escaped, lines kept: {html}"
    );
    assert!(!html.contains("<b>Apportez"), "unescaped: {html}");
    assert!(html.contains("Stationnement rue Sherbrooke."));
    assert!(french.text.contains("Consignes de la clinique\nÀ jeun dès minuit.\n<b>Apportez</b> votre carte & ordonnance.\n\nStationnement rue Sherbrooke.\n"), "{}", french.text);
    // English patients get no instructions: the clinic wrote none in English.
    let english = email("confirmation", "Hello");
    for part in [english.text.clone(), english.html.clone().unwrap()] {
        assert!(
            !part.contains("jeun") && !part.contains("Instructions from the clinic"),
            "{part}"
        );
    }
    // Never in a text.
    let texts: Vec<_> = sent.iter().filter(|e| e.channel == "sms").collect();
    assert_eq!(texts.len(), 2);
    assert!(texts
        .iter()
        .all(|m| !m.text.contains("jeun") && !m.text.contains("Sherbrooke")));
    // On the page of the French patient, escaped; not on the English one's.
    let page = api
        .patient(Method::GET, &api.patient_path("FR1").await, false)
        .await
        .text();
    assert!(page.contains("Consignes de la clinique") && page.contains("Stationnement rue Sherbrooke."));
    assert!(!page.contains("<b>Apportez"));
    let page = api
        .patient(Method::GET, &api.patient_path("EN1").await, false)
        .await
        .text();
    assert!(!page.contains("jeun") && !page.contains("Instructions from the clinic"));
}

#[tokio::test]
async fn a_cancellation_carries_no_instructions() {
    let api = clinic_with_french_instructions().await;
    save(&api, "FR1", "fr").await;
    let mut body = appointment_json(2, t(), "FU");
    body["status"] = json!("cancelled");
    body["patient"]["language"] = json!("fr");
    assert_eq!(api.put("/v1/appointments/FR1", &body).await.status, StatusCode::OK);
    let sent = api.h.sent();
    let cancellation = sent
        .iter()
        .find(|e| e.channel == "email" && e.kind == "cancellation")
        .expect("a cancellation email");
    assert!(!cancellation.text.contains("jeun"), "{}", cancellation.text);
    let html = cancellation.html.clone().unwrap();
    assert!(!html.contains("jeun") && !html.contains("Consignes"), "{html}");
    let page = api
        .patient(Method::GET, &api.patient_path("FR1").await, false)
        .await
        .text();
    assert!(!page.contains("jeun"));
}

#[tokio::test]
async fn bad_instructions_are_refused_naming_the_field_and_change_nothing() {
    let api = clinic_with_french_instructions().await;
    for (instructions, field) in [
        (json!({"fr": "é".repeat(601)}), "instructions.fr"),
        (json!({"en": "Tab\there"}), "instructions.en"),
        (json!({"en": "  "}), "instructions.en"),
        (json!({"es": "Traiga su tarjeta"}), "instructions"),
        (json!("Apportez votre carte"), "instructions"),
    ] {
        let answer = api
            .put(
                "/v1/appointment-types/FU",
                &json!({"communications": "full", "instructions": instructions}),
            )
            .await;
        let (status, code, named) = answer.error_field();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{instructions}");
        assert_eq!(code, "invalid_field");
        assert!(
            named.as_deref().is_some_and(|f| f.starts_with(field)),
            "{instructions}: {named:?}"
        );
    }
    let types = api.get("/v1/appointment-types").await.json();
    assert_eq!(types["appointment_types"][0]["instructions"], json!({"fr": FRENCH}));
}

#[tokio::test]
async fn a_preview_renders_any_kind_with_sample_data_and_its_price_and_sends_nothing() {
    let api = clinic_with_french_instructions().await;
    let preview = api
        .get("/v1/previews/reminder?type_code=FU&language=fr&modality=telemedicine")
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let p = preview.json();
    assert_eq!(p["kind"], "reminder");
    assert_eq!(p["communications"], "full");
    assert_eq!(
        (p["language"].as_str(), p["modality"].as_str()),
        (Some("fr"), Some("telemedicine"))
    );
    let html = p["email"]["html"].as_str().unwrap();
    assert!(
        html.contains("https://video.example.com/preview"),
        "the sample video link"
    );
    assert!(html.contains("Consignes de la clinique"), "the type's instructions");
    assert!(p["email"]["subject"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(p["email"]["text"]
        .as_str()
        .unwrap()
        .contains("Stationnement rue Sherbrooke."));
    let sms = &p["sms"];
    let text = sms["text"].as_str().unwrap();
    assert!(!text.contains("jeun"));
    let (encoding, segments) = rappel::messages::sms::segments(text);
    assert_eq!(sms["encoding"], encoding.as_str());
    assert_eq!(sms["segments"], segments);
    assert_eq!(sms["unit_price_cents"], 5);
    assert_eq!(sms["price_cents"], 5 * i64::from(segments));
    assert_eq!(sms["sms_enabled"], true);
    // Every kind renders, for a type never set too (it sends nothing today: `none`).
    for kind in [
        "confirmation",
        "change",
        "cancellation",
        "cancellation_receipt",
        "reminder",
    ] {
        let p = api
            .get(&format!(
                "/v1/previews/{kind}?type_code=NEVER&language=en&modality=phone"
            ))
            .await;
        assert_eq!(p.status, StatusCode::OK, "{kind}");
        assert_eq!(p.json()["communications"], "none");
        // In English, `FU`'s French-only instructions never show either.
        let fu = api
            .get(&format!("/v1/previews/{kind}?type_code=FU&language=en"))
            .await
            .json();
        assert_eq!(fu["communications"], "full");
        for part in [&fu["email"]["html"], &fu["email"]["text"]] {
            let part = part.as_str().unwrap();
            assert!(
                !part.contains("jeun") && !part.contains("Instructions from the clinic"),
                "{kind}: {part}"
            );
        }
    }
    // A week-ahead reminder does not ask to confirm yet; the 36-h one does; a bad offset is 422.
    let week = api.get("/v1/previews/reminder?type_code=FU&before=7d").await.json();
    assert!(!week["sms"]["text"].as_str().unwrap().contains("confirmer"), "{week}");
    let default = api.get("/v1/previews/reminder?type_code=FU").await.json();
    assert!(default["sms"]["text"].as_str().unwrap().contains("Merci de confirmer"));
    let (status, _, field) = api.get("/v1/previews/reminder?before=3w").await.error_field();
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("before"))
    );
    // Defaults: the clinic's language, in person.
    let p = api.get("/v1/previews/confirmation").await.json();
    assert_eq!(
        (p["language"].as_str(), p["modality"].as_str()),
        (Some("fr"), Some("in_person"))
    );
    assert!(api.h.sent().is_empty(), "a preview sends nothing");
    assert_eq!(api.get("/v1/appointments/PREVIEW").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn preview_parameters_are_checked() {
    let api = clinic_with_french_instructions().await;
    assert_eq!(api.get("/v1/previews/newsletter").await.status, StatusCode::NOT_FOUND);
    for (query, field) in [
        ("language=de", "language"),
        ("modality=carrier_pigeon", "modality"),
        ("type_code=bad%20code", "type_code"),
    ] {
        let (status, _, named) = api.get(&format!("/v1/previews/reminder?{query}")).await.error_field();
        assert_eq!(
            (status, named.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{query}"
        );
    }
}
