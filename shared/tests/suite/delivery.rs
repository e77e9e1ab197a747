//! Delivery feedback (docs/BEHAVIOUR.md §10) through the services and the EMR router: statuses in
//! the view, the suppression list, and reports that overtake the sender.

use axum::http::{Method, StatusCode};
use chrono::Duration;
use rappel::domain::*;
use rappel::formats::delivery::{DeliveryReport, Feedback, MessageRef};
use rappel::services::{DeliveryOutcome, ServiceError};
use rappel::testing::{appointment_json, Harness};
use serde_json::json;

use crate::http::Api;
use crate::support::{now0, t};

fn report(h: &Harness, appointment: &str, key: &str, feedback: Feedback, addresses: &[&str]) -> DeliveryReport {
    DeliveryReport {
        message: MessageRef::Tagged {
            clinic: h.clinic.id.to_string(),
            appointment: appointment.to_owned(),
            key: key.to_owned(),
        },
        feedback,
        at: Some(h.rappel.clock.now()),
        addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
        provider_price_micro_usd: None,
    }
}

async fn api() -> Api {
    let h = Harness::with_standard_types(now0()).await;
    Api::over(h)
}

/// The API, with appointment A1 whose confirmation email drew a complaint from julie.roy@example.ca.
async fn api_with_a_complaint() -> Api {
    let api = api().await;
    api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU")).await;
    let complaint = report(
        &api.h,
        "A1",
        "confirmation:1:email",
        Feedback::Complained,
        &["julie.roy@example.ca"],
    );
    api.h.rappel.apply_delivery(&complaint).await.unwrap();
    api
}

fn statuses(view: &serde_json::Value) -> Vec<(String, String, String)> {
    view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
            (text(&m["kind"]), text(&m["channel"]), text(&m["status"]))
        })
        .collect()
}

#[tokio::test]
async fn a_bounced_address_is_suppressed_until_the_emr_saves_another_or_the_clinic_lifts_it() {
    let api = api().await;
    let h = &api.h;
    assert_eq!(
        api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU"))
            .await
            .status,
        StatusCode::CREATED
    );
    let bounce = report(
        h,
        "A1",
        "confirmation:1:email",
        Feedback::Bounced { permanent: true },
        &["Julie.Roy@Example.ca"],
    );
    assert_eq!(
        h.rappel.apply_delivery(&bounce).await.unwrap(),
        DeliveryOutcome::Applied(MessageStatus::Bounced)
    );
    let view = api.call(Method::GET, "/v1/appointments/A1", None).await.json();
    assert_eq!(
        statuses(&view),
        vec![("confirmation".into(), "email".into(), "bounced".into())]
    );
    let list = api.call(Method::GET, "/v1/suppressions", None).await.json();
    assert_eq!(list["suppressions"][0]["address"], "julie.roy@example.ca");
    assert_eq!(list["suppressions"][0]["reason"], "bounce");

    // A move: the change email is not sent to the suppressed address.
    let moved = appointment_json(2, t() + Duration::hours(1), "FU");
    let view = api.put("/v1/appointments/A1", &moved).await.json();
    assert_eq!(
        statuses(&view)[1],
        ("change".into(), "email".into(), "undeliverable".into())
    );
    let page = h.rappel.events(&h.clinic, None, Some("100")).await.unwrap();
    let failed = page.events.iter().find(|e| e["type"] == "message_failed").unwrap();
    assert!(failed["reason"].as_str().unwrap().starts_with("suppressed"), "{failed}");
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);

    // The EMR saves another address: later messages go to it; earlier ones are not resent.
    let mut new_address = appointment_json(3, t() + Duration::hours(2), "FU");
    new_address["patient"]["email"] = json!("julie.r@example.ca");
    api.put("/v1/appointments/A1", &new_address).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "change"]);
    assert_eq!(h.sent().last().unwrap().to, "julie.r@example.ca");

    // The clinic lifts the suppression: the old address is mailed again.
    let lifted = api
        .call(Method::DELETE, "/v1/suppressions/JULIE.ROY%40example.ca", None)
        .await;
    assert_eq!(lifted.status, StatusCode::NO_CONTENT);
    let again = api
        .call(Method::DELETE, "/v1/suppressions/julie.roy%40example.ca", None)
        .await;
    assert_eq!(again.error_field().0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::GET, "/v1/suppressions", None).await.json(),
        json!({"suppressions": []})
    );
    api.put(
        "/v1/appointments/A1",
        &appointment_json(4, t() + Duration::hours(3), "FU"),
    )
    .await;
    assert_eq!(h.sent().last().unwrap().to, "julie.roy@example.ca");
}

#[tokio::test]
async fn another_clinics_key_neither_sees_nor_lifts_the_list() {
    let api = api_with_a_complaint().await;
    let h = &api.h;
    let other = Clinic {
        id: ClinicId::parse("clinic-2").unwrap(),
        settings: ClinicSettings::named("Autre clinique").unwrap(),
    };
    rappel::services::register_clinic(h.rappel.store.as_ref(), &other, "other-key")
        .await
        .unwrap();
    let as_other = |method: Method, uri: &str| {
        axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header(axum::http::header::AUTHORIZATION, "Bearer other-key")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let list = api.send(as_other(Method::GET, "/v1/suppressions")).await;
    assert_eq!(list.json(), json!({"suppressions": []}));
    let lift = api
        .send(as_other(Method::DELETE, "/v1/suppressions/julie.roy%40example.ca"))
        .await;
    assert_eq!(lift.status, StatusCode::NOT_FOUND);
    let no_key = axum::http::Request::builder()
        .method(Method::DELETE)
        .uri("/v1/suppressions/julie.roy%40example.ca")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(api.send(no_key).await.status, StatusCode::UNAUTHORIZED);
    assert!(h
        .rappel
        .store
        .is_suppressed(&h.clinic.id, "julie.roy@example.ca")
        .await
        .unwrap());
}

#[tokio::test]
async fn a_report_that_overtakes_its_sender_waits_for_the_retry() {
    let api = api().await;
    let h = &api.h;
    // The provider took the email but its answer was lost: `failed` ("it may have gone out").
    h.mailer.hangs.store(1, std::sync::atomic::Ordering::SeqCst);
    let answer = api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let failed = h.messages("A1").await.remove(0);
    assert_eq!(failed.status, MessageStatus::Failed);
    // The EMR's retry has claimed it and is sending it again right now.
    let record = h.record("A1").await;
    let now = h.rappel.clock.now();
    assert!(h
        .rappel
        .store
        .claim_message(&h.clinic.id, &record.id, &failed.key, now, now, record.version)
        .await
        .unwrap());
    let delivered = report(h, "A1", "confirmation:1:email", Feedback::Delivered, &[]);
    let early = h.rappel.apply_delivery(&delivered).await;
    assert!(matches!(early, Err(ServiceError::Unavailable { .. })), "{early:?}");
    // That sender died; the next retry takes the message over after the lease and sends it,
    // and the report then applies.
    h.advance(Duration::minutes(1)).await;
    api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU")).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);
    assert_eq!(
        h.rappel.apply_delivery(&delivered).await.unwrap(),
        DeliveryOutcome::Applied(MessageStatus::Delivered)
    );

    // Another email whose answer was lost, reported delivered before any retry: the provider
    // did take it, so the retry does not send it a second time.
    h.mailer.hangs.store(1, std::sync::atomic::Ordering::SeqCst);
    api.put("/v1/appointments/A2", &appointment_json(1, t(), "FU")).await;
    assert_eq!(h.messages("A2").await[0].status, MessageStatus::Failed);
    let delivered = report(h, "A2", "confirmation:1:email", Feedback::Delivered, &[]);
    assert_eq!(
        h.rappel.apply_delivery(&delivered).await.unwrap(),
        DeliveryOutcome::Applied(MessageStatus::Delivered)
    );
    h.advance(Duration::minutes(1)).await;
    api.put("/v1/appointments/A2", &appointment_json(1, t(), "FU")).await;
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"], "A2's was not sent again");
    // A text's feedback on an email is no report of it; an unknown message is ignored.
    let wrong = report(
        h,
        "A1",
        "confirmation:1:email",
        Feedback::Failed { reason: "x".into() },
        &[],
    );
    assert_eq!(
        h.rappel.apply_delivery(&wrong).await.unwrap(),
        DeliveryOutcome::Ignored("not_for_this_channel")
    );
    let unknown = report(h, "A9", "confirmation:1:email", Feedback::Delivered, &[]);
    assert_eq!(
        h.rappel.apply_delivery(&unknown).await.unwrap(),
        DeliveryOutcome::Ignored("unknown_message")
    );
}

// Found by the review of the first version; each failed before its fix.

#[tokio::test]
async fn a_permanent_bounce_or_complaint_lists_the_address_even_when_the_status_stays() {
    let api = api().await;
    let h = &api.h;
    api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU")).await;
    let delivered = report(h, "A1", "confirmation:1:email", Feedback::Delivered, &[]);
    h.rappel.apply_delivery(&delivered).await.unwrap();
    // The receiving server accepted it, then bounced it for good: still delivered, but listed.
    let bounce = report(
        h,
        "A1",
        "confirmation:1:email",
        Feedback::Bounced { permanent: true },
        &["Julie.Roy@example.ca", "julie.roy@EXAMPLE.ca"],
    );
    assert_eq!(
        h.rappel.apply_delivery(&bounce).await.unwrap(),
        DeliveryOutcome::Ignored("already_final")
    );
    let list = h.rappel.store.suppressions(&h.clinic.id).await.unwrap();
    assert_eq!(list.len(), 1, "one entry for both spellings");
    assert_eq!(list[0].address, "julie.roy@example.ca");
    // A complaint about a message Rappel no longer has lists its address too.
    let gone = report(h, "A9", "reminder:1:email", Feedback::Complained, &["other@example.ca"]);
    assert_eq!(
        h.rappel.apply_delivery(&gone).await.unwrap(),
        DeliveryOutcome::Ignored("unknown_message")
    );
    assert!(h
        .rappel
        .store
        .is_suppressed(&h.clinic.id, "other@example.ca")
        .await
        .unwrap());
    // The view keeps `delivered`; the event reason of a skipped email is `suppressed`, exactly.
    api.put(
        "/v1/appointments/A1",
        &appointment_json(2, t() + Duration::hours(1), "FU"),
    )
    .await;
    let page = h.rappel.events(&h.clinic, None, Some("100")).await.unwrap();
    let failed = page.events.iter().find(|e| e["type"] == "message_failed").unwrap();
    assert_eq!(failed["reason"], "suppressed");
}

#[tokio::test]
async fn a_texts_report_that_overtakes_the_record_of_its_send_is_retried_and_an_old_one_ignored() {
    let api = api().await;
    let h = &api.h;
    let mut text = report(h, "A1", "k", Feedback::Delivered, &[]);
    text.message = MessageRef::ProviderId("not-recorded-yet".to_owned());
    let early = h.rappel.apply_delivery(&text).await;
    assert!(matches!(early, Err(ServiceError::Unavailable { .. })), "{early:?}");
    text.at = Some(h.rappel.clock.now() - Duration::hours(1));
    assert_eq!(
        h.rappel.apply_delivery(&text).await.unwrap(),
        DeliveryOutcome::Ignored("unknown_message")
    );
}

#[tokio::test]
async fn the_suppression_routes_check_the_address_and_show_times_in_the_clinics_zone() {
    let api = api_with_a_complaint().await;
    let list = api.call(Method::GET, "/v1/suppressions", None).await.json();
    assert!(
        list["suppressions"][0]["at"].as_str().unwrap().ends_with("-05:00"),
        "{list}"
    );
    let long = format!("/v1/suppressions/{}", "a".repeat(2000));
    assert_eq!(
        api.call(Method::DELETE, &long, None).await.error_field().2.as_deref(),
        Some("address")
    );
}
