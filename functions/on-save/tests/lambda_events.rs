//! Every sample event in `events/` (the files `cargo lambda invoke --data-file` takes) fed
//! through the handler of its function: API Gateway HTTP API v2 payloads through the on-save and
//! patient-action routers, the Scheduler input through the reminder service.

use axum::body::Body;
use axum::http::StatusCode;
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use rappel::ports::SchedulePayload;
use rappel::testing::{Harness, API_KEY};
use tower::ServiceExt;

const PLACEHOLDER_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAA";

fn event(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parses an API Gateway event as the Lambda runtime does and runs it through `router`.
async fn invoke(router: &axum::Router, json: &str) -> (StatusCode, String) {
    let request = lambda_http::request::from_str(json).expect("a valid API Gateway v2 event");
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn every_sample_event_runs_through_its_handler() {
    let h = Harness::new(Utc.with_ymd_and_hms(2030, 1, 7, 15, 0, 0).unwrap()).await;
    let on_save = rappel::http::emr::router(h.rappel.clone());
    let patient = rappel::http::patient::router(h.rappel.clone());
    let emr_event = |name: &str| event(name).replace("Bearer dev-key", &format!("Bearer {API_KEY}"));

    assert_eq!(
        invoke(&on_save, &emr_event("on-save/unauthorized.json")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = invoke(&on_save, &emr_event("on-save/put-clinic.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, clinic) = invoke(&on_save, &emr_event("on-save/get-clinic.json")).await;
    assert_eq!(
        (status, clinic.contains("\"allow_patient_cancellation\":true")),
        (StatusCode::OK, true)
    );
    assert_eq!(
        invoke(&on_save, &emr_event("on-save/put-appointment-type.json"))
            .await
            .0,
        StatusCode::CREATED
    );
    assert!(invoke(&on_save, &emr_event("on-save/list-appointment-types.json"))
        .await
        .1
        .contains("\"SUIVI\""));
    let (status, body) = invoke(&on_save, &emr_event("on-save/put-appointment.json")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        invoke(&on_save, &emr_event("on-save/put-appointment.json")).await.0,
        StatusCode::OK,
        "a replay"
    );
    assert!(invoke(&on_save, &emr_event("on-save/get-appointment.json"))
        .await
        .1
        .contains("\"revision\":1"));
    assert!(invoke(&on_save, &emr_event("on-save/get-events.json"))
        .await
        .1
        .contains("message_sent"));
    assert!(invoke(&on_save, &emr_event("on-save/get-ledger.json"))
        .await
        .1
        .contains("\"month\":\"2030-01\""));
    assert_eq!(h.sent_kinds("email"), vec!["confirmation"]);

    let record = h
        .rappel
        .store
        .appointment(&h.clinic.id, &rappel::domain::AppointmentId::parse("RDV-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    let patient_event = |name: &str| event(name).replace(PLACEHOLDER_TOKEN, &record.token);
    let (status, page) = invoke(&patient, &patient_event("patient-action/get-page.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("jeudi 10 janvier 2030 à 14 h"));
    assert_eq!(
        invoke(&patient, &event("patient-action/get-page.json")).await.0,
        StatusCode::NOT_FOUND,
        "the placeholder token is unknown"
    );
    assert_eq!(
        invoke(&patient, &patient_event("patient-action/post-confirm.json"))
            .await
            .0,
        StatusCode::CONFLICT,
        "too early"
    );

    // The reminder event as Scheduler sends it (clinic id adapted to the harness).
    let reminder: SchedulePayload =
        serde_json::from_str(&event("reminder/reminder.json").replace("dev-clinic", h.clinic.id.as_str())).unwrap();
    h.clock.set(Utc.with_ymd_and_hms(2030, 1, 9, 1, 59, 0).unwrap());
    h.rappel.fire(&reminder).await.unwrap();
    h.rappel.fire(&reminder).await.unwrap();
    assert_eq!(h.sent_kinds("email"), vec!["confirmation", "reminder"]);

    let (status, body) = invoke(&patient, &patient_event("patient-action/post-confirm.json")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"patient_status":"confirmed"}"#)
    );
    assert_eq!(
        invoke(&patient, &patient_event("patient-action/post-cancel.json"))
            .await
            .0,
        StatusCode::OK,
        "cancel open until T−24 h"
    );
    assert_eq!(
        invoke(&patient, &patient_event("patient-action/post-arrive.json"))
            .await
            .0,
        StatusCode::CONFLICT,
        "cancelled"
    );
    let (status, ics) = invoke(&patient, &patient_event("patient-action/get-calendar.json")).await;
    assert_eq!((status, ics.starts_with("BEGIN:VCALENDAR")), (StatusCode::OK, true));

    // An HL7 v2 SIU^S13 through API Gateway: acknowledged, and the appointment moved to 15:00.
    let (status, ack) = invoke(&on_save, &emr_event("on-save/post-hl7-s13.json")).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert!(ack.contains("MSA|AA|MSG-13"), "{ack}");
    assert!(invoke(&on_save, &emr_event("on-save/get-appointment.json"))
        .await
        .1
        .contains("\"start\":\"2030-01-10T15:00:00-05:00\""));

    // A FHIR R4 Appointment through API Gateway: created, answered in FHIR.
    let (status, saved) = invoke(&on_save, &emr_event("on-save/put-fhir-appointment.json")).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert!(saved.contains("\"versionId\":\"1\""), "{saved}");
}
