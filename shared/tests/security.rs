//! Tenancy and privacy: one clinic's key never reaches another's data, and no patient data
//! reaches the logs.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{Duration, TimeZone, Utc};
use http_body_util::BodyExt;
use rappel::domain::*;
use rappel::http::{emr, patient};
use rappel::services::{hash_api_key, PatientAction};
use rappel::testing::{appointment, appointment_json, Harness, API_KEY};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

async fn call(app: &axum::Router, key: &str, method: Method, uri: &str, body: Option<serde_json::Value>) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn key_a_never_reads_or_changes_clinic_b() {
    let h = Harness::new(Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap()).await;
    let b = Clinic {
        id: ClinicId::parse("clinic-b").unwrap(),
        settings: ClinicSettings::named("Clinique B").unwrap(),
    };
    h.rappel.store.put_clinic(&b).await.unwrap();
    h.rappel.store.set_api_key_hash(&b.id, &hash_api_key("key-b")).await.unwrap();
    let app = emr::router(h.rappel.clone());
    let start = Utc.with_ymd_and_hms(2026, 12, 10, 19, 0, 0).unwrap();

    // B saves an appointment and a type; A uses the same id and code.
    assert_eq!(call(&app, "key-b", Method::PUT, "/v1/appointment-types/FU", Some(json!({"communications": "full"}))).await.0, StatusCode::CREATED);
    assert_eq!(call(&app, "key-b", Method::PUT, "/v1/appointments/SAME", Some(appointment_json(5, start, "FU"))).await.0, StatusCode::CREATED);
    assert_eq!(call(&app, API_KEY, Method::GET, "/v1/appointments/SAME", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, API_KEY, Method::GET, "/v1/appointment-types", None).await.1, json!({"appointment_types": []}));
    // A's revision 1 of "SAME" is A's own appointment, not a stale write to B's revision 5.
    assert_eq!(call(&app, API_KEY, Method::PUT, "/v1/appointments/SAME", Some(appointment_json(1, start, "FU"))).await.0, StatusCode::CREATED);
    assert_eq!(call(&app, "key-b", Method::GET, "/v1/appointments/SAME", None).await.1["revision"], 5);
    // A changing its settings leaves B's alone; events and ledgers are per clinic.
    let (_, mut settings) = call(&app, API_KEY, Method::GET, "/v1/clinic", None).await;
    settings["name"] = json!("Clinique A renommée");
    call(&app, API_KEY, Method::PUT, "/v1/clinic", Some(settings)).await;
    assert_eq!(call(&app, "key-b", Method::GET, "/v1/clinic", None).await.1["name"], "Clinique B");
    let (_, events_b) = call(&app, "key-b", Method::GET, "/v1/events", None).await;
    assert!(events_b["events"].as_array().unwrap().iter().all(|e| e["appointment_id"] == "SAME"));
    let (_, events_a) = call(&app, API_KEY, Method::GET, "/v1/events", None).await;
    assert_eq!(events_a["events"].as_array().unwrap().len(), 0, "A's type is unset: nothing sent, no events");
}

/// A writer that keeps everything tracing writes, for inspection.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[test]
fn whole_flows_log_json_with_ids_and_no_patient_data() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let t = Utc.with_ymd_and_hms(2026, 12, 10, 19, 0, 0).unwrap();
            let mut h = Harness::new(Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap()).await;
            h.set_type("FU", Communications::Full).await;
            h.configure(|s| {
                s.sms_enabled = true;
                s.allow_patient_cancellation = true;
            })
            .await;
            let id = AppointmentId::parse("LOG-1").unwrap();
            h.rappel.save_appointment(&h.clinic, id.clone(), appointment(1, t, "FU")).await.unwrap();
            // A failing provider and a bad request are logged too.
            h.mailer.failures.store(1, std::sync::atomic::Ordering::SeqCst);
            let _ = h.rappel.save_appointment(&h.clinic, id.clone(), appointment(2, t + Duration::hours(1), "FU")).await;
            h.rappel.save_appointment(&h.clinic, id.clone(), appointment(2, t + Duration::hours(1), "FU")).await.unwrap();
            h.advance_to(t - Duration::hours(30)).await;
            let token = h.rappel.store.appointment(&h.clinic.id, &id).await.unwrap().unwrap().token;
            h.rappel.patient_act(&token, PatientAction::Confirm).await.unwrap();
            h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap();
            let app = patient::router(h.rappel.clone()).merge(emr::router(h.rappel.clone()));
            let request = Request::builder().uri(format!("/p/{token}")).body(Body::empty()).unwrap();
            app.clone().oneshot(request).await.unwrap();
            let bad = Request::builder()
                .method(Method::PUT)
                .uri("/v1/appointments/LOG-2")
                .header(header::AUTHORIZATION, format!("Bearer {API_KEY}"))
                .body(Body::from(r#"{"patient":{"email":"secret.patient@example.ca"}}"#))
                .unwrap();
            app.oneshot(bad).await.unwrap();
            assert_eq!(h.sent_kinds("email"), vec!["confirmation", "change", "reminder", "cancellation_receipt"]);
        })
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.lines().count() >= 5, "the flows were logged:\n{logs}");
    for line in logs.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(entry["fields"].is_object(), "{line}");
    }
    assert!(logs.contains(r#""clinic":"clinic-1""#) && logs.contains(r#""appointment":"LOG-1""#), "{logs}");
    for personal in ["Julie", "Roy", "julie.roy", "example.ca", "5145550199", "514 555", "Tremblay", "Principale", "secret.patient"] {
        assert!(!logs.contains(personal), "{personal:?} leaked into the logs:\n{logs}");
    }
}
