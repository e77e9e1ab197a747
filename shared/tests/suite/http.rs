//! Router tests: the EMR API and patient links over real HTTP requests, without a socket.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::Duration;
use http_body_util::BodyExt;
use rappel::domain::Communications;
use rappel::http::{emr, patient};
use rappel::testing::{appointment_json, Harness, API_KEY};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::{now0, t};

pub(crate) struct Api {
    pub(crate) h: Harness,
    app: Router,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub(crate) fn error_field(&self) -> (StatusCode, String, Option<String>) {
        let body = self.json();
        (
            self.status,
            body["error"]["code"].as_str().unwrap().to_owned(),
            body["error"]["field"].as_str().map(str::to_owned),
        )
    }
}

impl Api {
    async fn new() -> Api {
        let h = Harness::new(now0()).await;
        h.set_type("FU", Communications::Full).await;
        Api::over(h)
    }

    /// The EMR and patient routers over `h`.
    pub(crate) fn over(h: Harness) -> Api {
        let app = emr::router(h.rappel.clone()).merge(patient::router(h.rappel.clone()));
        Api { h, app }
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer { status, headers, body }
    }

    pub(crate) async fn call(&self, method: Method, uri: &str, body: Option<Vec<u8>>) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {API_KEY}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        self.send(request).await
    }

    pub(crate) async fn put(&self, uri: &str, body: &Value) -> Answer {
        self.call(Method::PUT, uri, Some(body.to_string().into_bytes())).await
    }

    pub(crate) async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, None).await
    }

    pub(crate) async fn patient(&self, method: Method, uri: &str, accept_json: bool) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if accept_json {
            request = request.header(header::ACCEPT, "application/json");
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub(crate) async fn patient_path(&self, id: &str) -> String {
        let view = self.get(&format!("/v1/appointments/{id}")).await.json();
        let url = view["patient_url"].as_str().unwrap().to_owned();
        url.trim_start_matches("https://rappel.test").to_owned()
    }
}

#[tokio::test]
async fn a_save_answers_201_then_200_with_the_view() {
    let api = Api::new().await;
    let created = api.put("/v1/appointments/A-1", &appointment_json(1, t(), "FU")).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let view = created.json();
    assert_eq!(view["id"], "A-1");
    assert_eq!(view["revision"], 1);
    assert_eq!(view["status"], "booked");
    assert_eq!(view["patient_status"], "pending");
    assert_eq!(view["start"], "2026-12-10T14:00:00-05:00", "shown in the clinic's zone");
    assert_eq!(view["reminder_at"], "2026-12-08T20:59:00-05:00");
    assert!(view["patient_url"]
        .as_str()
        .unwrap()
        .starts_with("https://rappel.test/p/"));
    assert_eq!(view["messages"][0]["kind"], "confirmation");
    assert_eq!(view["messages"][0]["status"], "sent");
    let again = api.put("/v1/appointments/A-1", &appointment_json(1, t(), "FU")).await;
    assert_eq!(again.status, StatusCode::OK);
    let updated = api.put("/v1/appointments/A-1", &appointment_json(2, t(), "FU")).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(api.get("/v1/appointments/A-1").await.json()["revision"], 2);
    assert_eq!(api.get("/v1/appointments/nope").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn revision_errors_are_409_with_their_codes() {
    let api = Api::new().await;
    api.put("/v1/appointments/A1", &appointment_json(5, t(), "FU")).await;
    let stale = api.put("/v1/appointments/A1", &appointment_json(4, t(), "FU")).await;
    assert_eq!(
        stale.error_field(),
        (
            StatusCode::CONFLICT,
            "stale_revision".to_owned(),
            Some("revision".to_owned())
        )
    );
    let conflict = api
        .put(
            "/v1/appointments/A1",
            &appointment_json(5, t() + Duration::hours(1), "FU"),
        )
        .await;
    assert_eq!(conflict.error_field().1, "revision_conflict");
}

#[tokio::test]
async fn the_api_key_decides_the_clinic_and_is_required() {
    let api = Api::new().await;
    let request = |auth: Option<&str>| {
        let mut r = Request::builder().method(Method::GET).uri("/v1/clinic");
        if let Some(a) = auth {
            r = r.header(header::AUTHORIZATION, a);
        }
        r.body(Body::empty()).unwrap()
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic dGVzdA=="),
        Some("Bearer "),
        Some("test-key"),
    ] {
        let answer = api.send(request(auth)).await;
        assert_eq!(
            answer.error_field(),
            (StatusCode::UNAUTHORIZED, "unauthorized".to_owned(), None),
            "{auth:?}"
        );
    }
    assert_eq!(api.send(request(Some("bearer test-key"))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn clinic_settings_round_trip_unchanged() {
    let api = Api::new().await;
    let settings = api.get("/v1/clinic").await.json();
    assert_eq!(settings["timezone"], "America/Toronto");
    assert_eq!(settings["language"], "fr");
    assert_eq!(settings["quiet_hours"], json!({"start": "21:00", "end": "08:00"}));
    assert_eq!(settings["allow_patient_cancellation"], false);
    let put = api.put("/v1/clinic", &settings).await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(put.json(), settings);
    assert_eq!(api.get("/v1/clinic").await.json(), settings);
    let bad = api
        .put("/v1/clinic", &json!({"name": "X", "timezone": "Mars/Olympus"}))
        .await;
    assert_eq!(
        bad.error_field(),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field".to_owned(),
            Some("timezone".to_owned())
        )
    );
    let bad = api
        .put(
            "/v1/clinic",
            &json!({"name": "X", "quiet_hours": {"start": "25:00", "end": "08:00"}}),
        )
        .await;
    assert_eq!(bad.error_field().2.as_deref(), Some("quiet_hours.start"));
    assert_eq!(api.get("/v1/clinic").await.json(), settings, "nothing was stored");
}

#[tokio::test]
async fn types_answer_201_when_new_and_200_when_updated() {
    let api = Api::new().await;
    let new = api
        .put("/v1/appointment-types/NEW", &json!({"communications": "notices"}))
        .await;
    assert_eq!(new.status, StatusCode::CREATED);
    let updated = api
        .put(
            "/v1/appointment-types/NEW",
            &json!({"communications": "full", "questionnaire_url": "https://q.example.ca/1"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    let list = api.get("/v1/appointment-types").await.json();
    let codes: Vec<&str> = list["appointment_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["FU", "NEW"]);
    let bad = api
        .put("/v1/appointment-types/NEW", &json!({"communications": "sometimes"}))
        .await;
    assert_eq!(bad.error_field().2.as_deref(), Some("communications"));
    let bad = api.put("/v1/appointment-types/bad%20code", &json!({})).await;
    assert_eq!(bad.error_field().2.as_deref(), Some("code"));
}

#[tokio::test]
async fn bad_appointment_input_names_the_field_and_stores_nothing() {
    let api = Api::new().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "email",
            json!({"patient": {"first_name": "J", "last_name": "R", "email": "not-an-email"}}),
            "patient.email",
        ),
        (
            "mobile",
            json!({"patient": {"first_name": "J", "last_name": "R", "mobile": "123"}}),
            "patient.mobile",
        ),
        ("modality", json!({"modality": "hologram"}), "modality"),
        ("start", json!({"start": "2026-12-10 14:00"}), "start"),
        ("start without offset", json!({"start": "2026-12-10T14:00:00"}), "start"),
        ("revision type", json!({"revision": "1"}), "revision"),
        ("negative revision", json!({"revision": -1}), "revision"),
        ("duration", json!({"duration_minutes": 0}), "duration_minutes"),
        ("status", json!({"status": "maybe"}), "status"),
        (
            "language",
            json!({"patient": {"first_name": "J", "last_name": "R", "language": "de"}}),
            "patient.language",
        ),
        (
            "video link",
            json!({"telemedicine_url": "javascript:alert(1)"}),
            "telemedicine_url",
        ),
        ("missing professional", json!({"professional": null}), "professional"),
    ];
    for (what, patch, field) in cases {
        let mut body = appointment_json(1, t(), "FU");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let answer = api.put("/v1/appointments/A1", &body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            answer.text()
        );
        assert_eq!(answer.error_field().2.as_deref(), Some(field), "{what}");
    }
    let bad_id = api
        .put("/v1/appointments/has%20space", &appointment_json(1, t(), "FU"))
        .await;
    assert_eq!(
        bad_id.error_field(),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field".to_owned(),
            Some("id".to_owned())
        )
    );
    let long_id = api
        .put(
            &format!("/v1/appointments/{}", "x".repeat(65)),
            &appointment_json(1, t(), "FU"),
        )
        .await;
    assert_eq!(long_id.error_field().2.as_deref(), Some("id"));
    let malformed = api
        .call(Method::PUT, "/v1/appointments/A1", Some(b"{\"revision\": 1,".to_vec()))
        .await;
    assert_eq!(malformed.error_field().0, StatusCode::BAD_REQUEST);
    let empty = api.call(Method::PUT, "/v1/appointments/A1", None).await;
    assert_eq!(empty.error_field().0, StatusCode::BAD_REQUEST);
    let huge = api
        .call(Method::PUT, "/v1/appointments/A1", Some(vec![b' '; 64 * 1024 + 1]))
        .await;
    assert_eq!(
        huge.error_field(),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".to_owned(), None)
    );
    assert_eq!(
        api.get("/v1/appointments/A1").await.status,
        StatusCode::NOT_FOUND,
        "nothing stored"
    );
    assert!(api.h.sent().is_empty(), "nothing sent");
}

#[tokio::test]
async fn events_page_with_a_cursor_and_a_bounded_limit() {
    let api = Api::new().await;
    for n in 0..3 {
        api.put(&format!("/v1/appointments/E{n}"), &appointment_json(1, t(), "FU"))
            .await;
    }
    let first = api.get("/v1/events?limit=2").await.json();
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    assert_eq!(first["events"][0]["type"], "message_sent");
    assert_eq!(first["events"][0]["appointment_id"], "E0");
    let next = first["next"].as_str().unwrap();
    let rest = api.get(&format!("/v1/events?after={next}")).await.json();
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest["events"][0]["appointment_id"], "E2");
    let end = api
        .get(&format!("/v1/events?after={}", rest["next"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(end["events"], json!([]));
    assert_eq!(end["next"], rest["next"], "an empty page keeps the cursor");
    for bad in ["limit=0", "limit=1001", "limit=ten", "after=x"] {
        assert_eq!(
            api.get(&format!("/v1/events?{bad}")).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn the_ledger_answers_json_or_csv() {
    let mut api = Api::new().await;
    api.h.configure(|s| s.sms_enabled = true).await;
    api.put("/v1/appointments/L1", &appointment_json(1, t(), "FU")).await;
    let report = api.get("/v1/ledger?month=2026-12").await.json();
    assert_eq!(
        (
            report["month"].clone(),
            report["currency"].clone(),
            report["texts"].clone(),
            report["total_cents"].clone()
        ),
        (json!("2026-12"), json!("CAD"), json!(1), json!(5))
    );
    let request = Request::builder()
        .uri("/v1/ledger?month=2026-12")
        .header(header::AUTHORIZATION, format!("Bearer {API_KEY}"))
        .header(header::ACCEPT, "text/csv")
        .body(Body::empty())
        .unwrap();
    let csv = api.send(request).await;
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(csv.text().lines().count(), 2);
    assert_eq!(
        api.get("/v1/ledger?month=december").await.error_field().2.as_deref(),
        Some("month")
    );
    assert_eq!(api.get("/v1/ledger").await.error_field().2.as_deref(), Some("month"));
}

#[tokio::test]
async fn the_patient_page_never_changes_anything_and_carries_safety_headers() {
    let api = Api::new().await;
    api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU")).await;
    let path = api.patient_path("A1").await;
    api.h.clock.set(t() - Duration::hours(40));
    for _ in 0..3 {
        let page = api.patient(Method::GET, &path, false).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text().contains("Je confirme ma présence"));
        assert_eq!(page.headers["referrer-policy"], "no-referrer");
        assert_eq!(page.headers["x-robots-tag"], "noindex, nofollow");
        assert!(page.headers["cache-control"].to_str().unwrap().contains("no-store"));
        assert!(page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
    }
    assert_eq!(api.get("/v1/appointments/A1").await.json()["patient_status"], "pending");
    assert_eq!(
        api.get("/v1/events").await.json()["events"].as_array().unwrap().len(),
        1,
        "only the confirmation's event"
    );
}

#[tokio::test]
async fn patient_actions_answer_json_or_redirect_and_refuse_outside_their_window() {
    let api = Api::new().await;
    api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU")).await;
    let path = api.patient_path("A1").await;
    let early = api.patient(Method::POST, &format!("{path}/confirm"), true).await;
    assert_eq!(early.error_field().0, StatusCode::CONFLICT);
    assert_eq!(early.error_field().1, "confirmation_not_open_yet");
    let early_page = api.patient(Method::POST, &format!("{path}/confirm"), false).await;
    assert_eq!(early_page.status, StatusCode::CONFLICT);
    assert!(early_page
        .text()
        .contains("Vous pourrez confirmer votre présence à partir du mardi 8 décembre 2026 à 14 h"));
    api.h.clock.set(t() - Duration::hours(48));
    let confirmed = api.patient(Method::POST, &format!("{path}/confirm"), true).await;
    assert_eq!(
        (confirmed.status, confirmed.json()),
        (StatusCode::OK, json!({"patient_status": "confirmed"}))
    );
    let redirect = api
        .patient(Method::POST, &format!("{path}/confirm?lang=en"), false)
        .await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER);
    let token = path.trim_start_matches("/p/");
    assert_eq!(redirect.headers[header::LOCATION], format!("../{token}?lang=en"));
    let page = api.patient(Method::GET, &format!("{path}?lang=en"), false).await.text();
    assert!(page.contains("You confirmed that you will attend"));
    assert!(page.contains("<html lang=\"en\">"));
    let not_allowed = api.patient(Method::POST, &format!("{path}/cancel"), true).await;
    assert_eq!(not_allowed.error_field().1, "cancellation_not_allowed");
    let events = api.get("/v1/events").await.json();
    assert_eq!(events["events"][1]["type"], "patient_confirmed");
}

#[tokio::test]
async fn unknown_links_are_404_and_expired_ones_410() {
    let api = Api::new().await;
    api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU")).await;
    let path = api.patient_path("A1").await;
    for bad in [
        "/p/AAAAAAAAAAAAAAAAAAAAAAAA",
        "/p/short",
        &format!("{}x", path),
        &path[..path.len() - 1],
    ] {
        assert_eq!(
            api.patient(Method::GET, bad, false).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
        assert_eq!(
            api.patient(Method::POST, &format!("{bad}/confirm"), true)
                .await
                .error_field()
                .0,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        api.patient(Method::POST, &format!("{path}/explode"), true)
            .await
            .error_field()
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.patient(Method::POST, &format!("{path}/calendar.ics"), true)
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    api.h.clock.set(t() + Duration::days(31));
    assert_eq!(api.patient(Method::GET, &path, false).await.status, StatusCode::GONE);
    assert_eq!(
        api.patient(Method::POST, &format!("{path}/confirm"), true)
            .await
            .error_field(),
        (StatusCode::GONE, "link_expired".to_owned(), None)
    );
}

/// Regression: the page once followed the browser's Accept-Language, so a French patient on an
/// English-set phone got English.
#[tokio::test]
async fn the_page_speaks_the_patients_language_whatever_the_browser_accepts() {
    let api = Api::new().await;
    api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU")).await;
    let path = api.patient_path("A1").await;
    let request = Request::builder()
        .uri(&path)
        .header(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9")
        .body(Body::empty())
        .unwrap();
    let page = api.send(request).await.text();
    assert!(page.contains("<html lang=\"fr\">"));
    assert!(page.contains("Votre rendez-vous"));
    let english = api.patient(Method::GET, &format!("{path}?lang=en"), false).await.text();
    assert!(english.contains("<html lang=\"en\">"));
}

#[tokio::test]
async fn the_calendar_file_describes_the_appointment() {
    let api = Api::new().await;
    api.put("/v1/appointments/A1", &appointment_json(1, t(), "FU")).await;
    let path = api.patient_path("A1").await;
    let ics = api.patient(Method::GET, &format!("{path}/calendar.ics"), false).await;
    assert_eq!(ics.headers[header::CONTENT_TYPE], "text/calendar; charset=utf-8");
    let text = ics.text();
    assert!(text.contains("DTSTART:20261210T190000Z\r\n"));
    assert!(text.contains("DTEND:20261210T193000Z\r\n"));
    assert!(text.contains("LOCATION:123 rue Principale\\, Montréal"));
    assert!(!text.contains("Julie"), "no patient name in the calendar file");
}

#[tokio::test]
async fn user_data_is_escaped_in_every_html_output() {
    let api = Api::new().await;
    let mut body = appointment_json(1, t(), "FU");
    body["professional"]["display_name"] = json!("<script>alert('pro')</script>");
    body["patient"]["first_name"] = json!("<img src=x onerror=alert(1)>");
    body["location"]["name"] = json!("\"><script>alert(2)</script>");
    api.put("/v1/appointments/X1", &body).await;
    let path = api.patient_path("X1").await;
    let page = api.patient(Method::GET, &path, false).await.text();
    let email = api.h.sent()[0].html.clone().unwrap();
    for html in [page, email] {
        assert!(!html.contains("<script>alert"), "unescaped script");
        assert!(!html.contains("<img src=x"), "unescaped tag");
    }
}

#[tokio::test]
async fn a_failing_provider_answers_503_with_retry_after_and_the_retry_completes_once() {
    let api = Api::new().await;
    api.h.mailer.failures.store(1, std::sync::atomic::Ordering::SeqCst);
    let failed = api.put("/v1/appointments/F1", &appointment_json(1, t(), "FU")).await;
    assert_eq!(
        failed.error_field(),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable".to_owned(), None)
    );
    assert_eq!(failed.headers[header::RETRY_AFTER], "30");
    let view = api.get("/v1/appointments/F1").await.json();
    assert_eq!(
        view["messages"][0]["status"], "failed",
        "the save is kept, the email marked failed"
    );
    let retried = api.put("/v1/appointments/F1", &appointment_json(1, t(), "FU")).await;
    assert_eq!(retried.status, StatusCode::OK);
    assert_eq!(retried.json()["messages"][0]["status"], "sent");
    api.put("/v1/appointments/F1", &appointment_json(1, t(), "FU")).await;
    assert_eq!(api.h.sent_kinds("email"), vec!["confirmation"]);
    let events = api.get("/v1/events").await.json();
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["message_failed", "message_sent"]);
}
