//! The patient's request for another time (docs/BEHAVIOUR.md §9.2) over the patient router:
//! the form on the page until T − 24 h, up to three half-days and a note, the EMR's event, one
//! open request at a time, closed by the clinic's move or cancellation, the note escaped.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::Duration;
use rappel::domain::*;
use rappel::testing::{appointment, Harness};
use serde_json::Value;

use crate::http::{Answer, Api};
use crate::support::{id, local, now0, t};

/// A clinic taking requests for another time, type `FU`, and appointment `A1` at `t()`
/// (Thursday 2026-12-10 14:00), read on Monday 2026-12-07 10:00.
async fn api() -> (Api, String) {
    let mut h = Harness::with_standard_types(now0()).await;
    h.configure(|s| s.allow_reschedule_request = true).await;
    let record = h
        .rappel
        .save_appointment(&h.clinic, id("A1"), appointment(1, t(), "FU"))
        .await
        .unwrap()
        .1;
    (Api::over(h), record.token)
}

async fn post_form(api: &Api, token: &str, form: &str, json: bool) -> Answer {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/p/{token}/reschedule"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if json {
        request = request.header(header::ACCEPT, "application/json");
    }
    api.send(request.body(Body::from(form.to_owned())).unwrap()).await
}

async fn page(api: &Api, token: &str, lang: &str) -> String {
    let request = Request::builder()
        .uri(format!("/p/{token}?lang={lang}"))
        .body(Body::empty())
        .unwrap();
    api.send(request).await.text()
}

async fn reschedule_events(api: &Api) -> Vec<Value> {
    let page = api.h.rappel.events(&api.h.clinic, None, Some("500")).await.unwrap();
    page.events
        .into_iter()
        .filter(|e| e["type"] == "patient_reschedule_requested")
        .collect()
}

#[tokio::test]
async fn the_form_offers_the_next_30_days_by_halves_and_its_request_reaches_the_emr() {
    let (api, token) = api().await;
    let html = page(&api, &token, "fr").await;
    assert!(html.contains("<summary>Demander un autre moment</summary>"), "{html}");
    assert!(
        html.contains(r#"<option value="2026-12-08-am">mar. 8 déc., matin</option>"#),
        "{html}"
    );
    assert!(html.contains(r#"<option value="2027-01-06-pm">mer. 6 janv., après-midi</option>"#));
    assert!(!html.contains(r#"value="2026-12-07-pm""#), "today is not offered");
    assert!(!html.contains(r#"value="2027-01-07-am""#), "nor past 30 days");
    for label in [
        r#"<label for="choice1">"#,
        r#"<label for="choice3">"#,
        r#"<label for="note">"#,
    ] {
        assert!(html.contains(label), "{label}");
    }
    let answer = post_form(
        &api,
        &token,
        "choice1=2026-12-09-pm&choice2=&choice3=2026-12-14-am&note=Plut%C3%B4t+apr%C3%A8s+16+h+%3Cb%3E",
        false,
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let events = reschedule_events(&api).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["appointment_id"], "A1");
    assert_eq!(event["via"], "link");
    assert_eq!(
        event["request"]["preferences"],
        serde_json::json!([{"date": "2026-12-09", "part": "pm"}, {"date": "2026-12-14", "part": "am"}])
    );
    assert_eq!(event["request"]["note"], "Plutôt après 16 h <b>");
    // The view shows it; the page says it was sent, lists it with the note escaped, and offers
    // no second form.
    let view = api.call(Method::GET, "/v1/appointments/A1", None).await.json();
    assert_eq!(view["reschedule_request"]["preferences"][1]["date"], "2026-12-14");
    let html = page(&api, &token, "en").await;
    assert!(
        html.contains("Your request for another time was sent to the clinic"),
        "{html}"
    );
    assert!(
        html.contains("<li>Wed Dec 9, afternoon</li>") && html.contains("<li>Mon Dec 14, morning</li>"),
        "{html}"
    );
    assert!(
        html.contains("Plutôt après 16 h &#60;b&#62;") || html.contains("Plutôt après 16 h &lt;b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<summary>"), "one open request at a time");
}

#[tokio::test]
async fn one_open_request_at_a_time_and_a_resent_one_is_the_same() {
    let (api, token) = api().await;
    let form = "choice1=2026-12-09-pm";
    let first = post_form(&api, &token, form, true).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json()["reschedule_request"]["preferences"][0]["part"], "pm");
    let again = post_form(&api, &token, form, true).await;
    assert_eq!(again.status, StatusCode::OK, "a double tap");
    assert_eq!(again.json(), first.json());
    let other = post_form(&api, &token, "choice1=2026-12-11-am", true).await;
    assert_eq!(other.error_field().1, "reschedule_already_requested");
    let other_page = post_form(&api, &token, "choice1=2026-12-11-am", false).await;
    assert_eq!(other_page.status, StatusCode::CONFLICT);
    assert!(other_page.text().contains("Vous avez déjà demandé un autre moment"));
    assert_eq!(reschedule_events(&api).await.len(), 1);
}

#[tokio::test]
async fn bad_forms_are_refused_with_the_field_and_change_nothing() {
    let (api, token) = api().await;
    let long_note = format!("choice1=2026-12-09-am&note={}", "a".repeat(501));
    for (form, field) in [
        ("choice1=", "preferences"),
        ("note=seulement+une+note", "preferences"),
        ("choice1=2026-12-07-pm", "preferences"),
        ("choice1=2027-01-07-am", "preferences"),
        ("choice1=2026-12-09-am&choice2=2026-12-09-am", "preferences"),
        ("choice1=demain", "preferences"),
        (long_note.as_str(), "note"),
    ] {
        let answer = post_form(&api, &token, form, true).await;
        assert_eq!(
            answer.error_field(),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field".to_owned(),
                Some(field.to_owned())
            ),
            "{form}"
        );
    }
    let page_answer = post_form(&api, &token, "choice1=", false).await;
    assert_eq!(page_answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page_answer.text().contains("Choisissez au moins une demi-journée"));
    assert!(
        page_answer.text().contains("<details class=\"card reschedule\" open>"),
        "the form stays open"
    );
    let garbled = api
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(format!("/p/{token}/reschedule"))
                .header(header::ACCEPT, "application/json")
                .body(Body::from("{\"choice1\": 3}"))
                .unwrap(),
        )
        .await;
    assert_eq!(garbled.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reschedule_events(&api).await.is_empty());
}

#[tokio::test]
async fn requests_close_24_hours_before_and_are_off_unless_the_clinic_takes_them() {
    let (mut api, token) = api().await;
    api.h.advance_to(t() - Duration::hours(24)).await;
    assert!(!page(&api, &token, "fr").await.contains("<summary>"));
    let answer = post_form(&api, &token, "choice1=2026-12-12-am", true).await;
    assert_eq!(answer.error_field().1, "reschedule_closed");

    api.h.configure(|s| s.allow_reschedule_request = false).await;
    let later = api
        .h
        .rappel
        .save_appointment(&api.h.clinic, id("A2"), appointment(1, t() + Duration::days(7), "FU"))
        .await
        .unwrap()
        .1;
    assert!(!page(&api, &later.token, "fr").await.contains("<summary>"));
    let answer = post_form(&api, &later.token, "choice1=2026-12-12-am", true).await;
    assert_eq!(answer.error_field().1, "reschedule_not_allowed");
}

#[tokio::test]
async fn the_clinics_move_or_cancellation_closes_the_request_and_other_changes_keep_it() {
    let (api, token) = api().await;
    post_form(&api, &token, "choice1=2026-12-09-pm", false).await;
    let h = &api.h;
    let mut other_professional = appointment(2, t(), "FU");
    other_professional.professional.display_name = Text::parse("Dr Luc Gagnon").unwrap();
    h.rappel
        .save_appointment(&h.clinic, id("A1"), other_professional)
        .await
        .unwrap();
    assert!(
        h.record("A1").await.reschedule_request.is_some(),
        "not answered by that"
    );
    h.rappel
        .save_appointment(&h.clinic, id("A1"), appointment(3, local(2026, 12, 9, 15, 0), "FU"))
        .await
        .unwrap();
    assert_eq!(h.record("A1").await.reschedule_request, None, "the move answers it");
    assert!(
        page(&api, &token, "fr").await.contains("<summary>"),
        "a new request may be made"
    );
    post_form(&api, &token, "choice1=2026-12-11-am", false).await;
    let mut cancelled = appointment(4, local(2026, 12, 9, 15, 0), "FU");
    cancelled.status = AppointmentStatus::Cancelled;
    h.rappel.save_appointment(&h.clinic, id("A1"), cancelled).await.unwrap();
    assert_eq!(h.record("A1").await.reschedule_request, None);
    assert_eq!(reschedule_events(&api).await.len(), 2);
}

#[tokio::test]
async fn a_cancelled_appointment_takes_no_request() {
    let (mut api, token) = api().await;
    api.h.configure(|s| s.allow_patient_cancellation = true).await;
    api.h
        .rappel
        .patient_act(&token, rappel::services::PatientAction::Cancel)
        .await
        .unwrap();
    assert!(!page(&api, &token, "fr").await.contains("<summary>"));
    let answer = post_form(&api, &token, "choice1=2026-12-09-pm", true).await;
    assert_eq!(answer.error_field().1, "appointment_cancelled");
}

#[tokio::test]
async fn a_double_tap_with_the_browsers_empty_or_crlf_note_is_the_same_request() {
    let (api, token) = api().await;
    for form in [
        "choice1=2026-12-09-pm&choice2=&choice3=&note=",
        "choice1=2026-12-09-pm&note=",
    ] {
        let answer = post_form(&api, &token, form, true).await;
        assert_eq!(answer.status, StatusCode::OK, "{form}: {}", answer.text());
    }
    let (api, token) = api_with_second_appointment(api).await;
    let form = "choice1=2026-12-11-am&note=Le+matin%0D%0Aou+le+midi+";
    assert_eq!(post_form(&api, &token, form, true).await.status, StatusCode::OK);
    let again = post_form(&api, &token, form, true).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["reschedule_request"]["note"], "Le matin\nou le midi");
    assert_eq!(reschedule_events(&api).await.len(), 2);
}

async fn api_with_second_appointment(api: Api) -> (Api, String) {
    let record = api
        .h
        .rappel
        .save_appointment(&api.h.clinic, id("A2"), appointment(1, t() + Duration::days(2), "FU"))
        .await
        .unwrap()
        .1;
    (api, record.token)
}
