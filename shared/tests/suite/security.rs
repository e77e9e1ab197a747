//! Tenancy: one clinic's key never reaches another's data.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use rappel::domain::*;
use rappel::http::emr;
use rappel::services::register_clinic;
use rappel::testing::{appointment_json, Harness, API_KEY};
use serde_json::json;
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    key: &str,
    method: Method,
    uri: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn key_a_never_reads_or_changes_clinic_b() {
    let h = Harness::new(Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap()).await;
    let b = Clinic {
        id: ClinicId::parse("clinic-b").unwrap(),
        settings: ClinicSettings::named("Clinique B").unwrap(),
    };
    register_clinic(h.rappel.store.as_ref(), &b, "key-b").await.unwrap();
    let app = emr::router(h.rappel.clone());
    let start = Utc.with_ymd_and_hms(2026, 12, 10, 19, 0, 0).unwrap();

    // B saves an appointment and a type; A uses the same id and code.
    assert_eq!(
        call(
            &app,
            "key-b",
            Method::PUT,
            "/v1/appointment-types/FU",
            Some(json!({"communications": "full"}))
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(
            &app,
            "key-b",
            Method::PUT,
            "/v1/appointments/SAME",
            Some(appointment_json(5, start, "FU"))
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(&app, API_KEY, Method::GET, "/v1/appointments/SAME", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, API_KEY, Method::GET, "/v1/appointment-types", None).await.1,
        json!({"appointment_types": []})
    );
    // A's revision 1 of "SAME" is A's own appointment, not a stale write to B's revision 5.
    assert_eq!(
        call(
            &app,
            API_KEY,
            Method::PUT,
            "/v1/appointments/SAME",
            Some(appointment_json(1, start, "FU"))
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(&app, "key-b", Method::GET, "/v1/appointments/SAME", None).await.1["revision"],
        5
    );
    // A changing its settings leaves B's alone; events and ledgers are per clinic.
    let (_, mut settings) = call(&app, API_KEY, Method::GET, "/v1/clinic", None).await;
    settings["name"] = json!("Clinique A renommée");
    call(&app, API_KEY, Method::PUT, "/v1/clinic", Some(settings)).await;
    assert_eq!(
        call(&app, "key-b", Method::GET, "/v1/clinic", None).await.1["name"],
        "Clinique B"
    );
    let (_, events_b) = call(&app, "key-b", Method::GET, "/v1/events", None).await;
    assert!(events_b["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["appointment_id"] == "SAME"));
    let (_, events_a) = call(&app, API_KEY, Method::GET, "/v1/events", None).await;
    assert_eq!(
        events_a["events"].as_array().unwrap().len(),
        0,
        "A's type is unset: nothing sent, no events"
    );
}
