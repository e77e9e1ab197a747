//! Privacy in logs: whole flows log structured JSON with clinic and appointment ids, and no
//! patient data. Alone in its test binary: tracing caches per-callsite interest process-wide, so
//! a test running beside it without a subscriber could hide its log lines.

use axum::body::Body;
use axum::http::{header, Method, Request};
use chrono::{Duration, TimeZone, Utc};
use rappel::domain::*;
use rappel::http::{emr, patient};
use rappel::services::PatientAction;
use rappel::testing::{appointment, appointment_json, Harness, API_KEY};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let t = Utc.with_ymd_and_hms(2026, 12, 10, 19, 0, 0).unwrap();
            let mut h = Harness::new(Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap()).await;
            h.set_type("FU", Communications::Full).await;
            h.configure(|s| {
                s.sms_enabled = true;
                s.allow_patient_cancellation = true;
                s.sms_replies = true;
                s.allow_reschedule_request = true;
            })
            .await;
            let id = AppointmentId::parse("LOG-1").unwrap();
            h.rappel
                .save_appointment(&h.clinic, id.clone(), appointment(1, t, "FU"))
                .await
                .unwrap();
            // A failing provider and a bad request are logged too.
            h.mailer.failures.store(1, std::sync::atomic::Ordering::SeqCst);
            let _ = h
                .rappel
                .save_appointment(&h.clinic, id.clone(), appointment(2, t + Duration::hours(1), "FU"))
                .await;
            h.rappel
                .save_appointment(&h.clinic, id.clone(), appointment(2, t + Duration::hours(1), "FU"))
                .await
                .unwrap();
            h.advance_to(t - Duration::hours(30)).await;
            let token = h
                .rappel
                .store
                .appointment(&h.clinic.id, &id)
                .await
                .unwrap()
                .unwrap()
                .token;
            // The patient's own words, in a request for another time and in text replies.
            let form = rappel::services::RescheduleForm {
                preferences: vec!["2026-12-11-pm".to_owned()],
                note: Some("Note très privée".to_owned()),
            };
            h.rappel.request_reschedule(&token, &form).await.unwrap();
            h.rappel
                .text_reply("+15145550199", "Mon diagnostic secret")
                .await
                .unwrap();
            h.rappel.text_reply("+15145550199", "OUI").await.unwrap();
            h.rappel
                .text_reply("+15145550123", "Inconnu au bataillon")
                .await
                .unwrap();
            h.rappel.patient_act(&token, PatientAction::Confirm).await.unwrap();
            h.rappel.patient_act(&token, PatientAction::Cancel).await.unwrap();
            // A provider's complaint names the address; the list and its routes never log it.
            let complaint = rappel::formats::delivery::DeliveryReport {
                message: rappel::formats::delivery::MessageRef::Tagged {
                    clinic: h.clinic.id.to_string(),
                    appointment: "LOG-1".to_owned(),
                    key: "confirmation:1:email".to_owned(),
                },
                feedback: rappel::formats::delivery::Feedback::Complained,
                at: None,
                addresses: vec!["julie.roy@example.ca".to_owned()],
                provider_price_micro_usd: None,
            };
            h.rappel.apply_delivery(&complaint).await.unwrap();
            let app = patient::router(h.rappel.clone()).merge(emr::router(h.rappel.clone()));
            let request = Request::builder()
                .uri(format!("/p/{token}"))
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
            let bad = Request::builder()
                .method(Method::PUT)
                .uri("/v1/appointments/LOG-2")
                .header(header::AUTHORIZATION, format!("Bearer {API_KEY}"))
                .body(Body::from(r#"{"patient":{"email":"secret.patient@example.ca"}}"#))
                .unwrap();
            app.clone().oneshot(bad).await.unwrap();
            let lift = Request::builder()
                .method(Method::DELETE)
                .uri("/v1/suppressions/julie.roy%40example.ca")
                .header(header::AUTHORIZATION, format!("Bearer {API_KEY}"))
                .body(Body::empty())
                .unwrap();
            assert_eq!(app.clone().oneshot(lift).await.unwrap().status(), 204);
            // A 503 names what failed, and why, without the patient's data.
            h.mailer.failures.store(1, std::sync::atomic::Ordering::SeqCst);
            let unavailable = Request::builder()
                .method(Method::PUT)
                .uri("/v1/appointments/LOG-3")
                .header(header::AUTHORIZATION, format!("Bearer {API_KEY}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(appointment_json(1, t, "FU").to_string()))
                .unwrap();
            let answer = app.oneshot(unavailable).await.unwrap();
            assert_eq!(answer.status(), 503);
            assert_eq!(
                h.sent_kinds("email"),
                vec!["confirmation", "change", "reminder", "cancellation_receipt"]
            );
        })
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.lines().count() >= 5, "the flows were logged:\n{logs}");
    for line in logs.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(entry["fields"].is_object(), "{line}");
    }
    assert!(
        logs.contains(r#""clinic":"clinic-1""#) && logs.contains(r#""appointment":"LOG-1""#),
        "{logs}"
    );
    let unavailable = logs
        .lines()
        .find(|line| line.contains("the caller may retry"))
        .unwrap_or_else(|| panic!("the 503 was logged:\n{logs}"));
    assert!(unavailable.contains(r#""dependency":"mailer""#), "{unavailable}");
    assert!(unavailable.contains("a message could not be sent"), "{unavailable}");
    for personal in [
        "Julie",
        "Roy",
        "julie.roy",
        "example.ca",
        "5145550199",
        "514 555",
        "Tremblay",
        "Principale",
        "secret.patient",
        "très privée",
        "diagnostic",
        "bataillon",
        "5145550123",
    ] {
        assert!(!logs.contains(personal), "{personal:?} leaked into the logs:\n{logs}");
    }
}
