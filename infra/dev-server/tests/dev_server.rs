//! Black-box tests: spawn the real `rappel-dev` binary on a free port with a manual clock and its
//! own data directory, and walk the contract's flows over HTTP.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{data_dir, DevServer};

fn appointment(revision: u64, start: &str, email: &str) -> Value {
    json!({
        "revision": revision,
        "start": start,
        "duration_minutes": 30,
        "type_code": "SUIVI",
        "modality": "telemedicine",
        "telemedicine_url": "https://video.example.ca/room/42",
        "professional": { "display_name": "Dr Jean Gagnon" },
        "patient": { "first_name": "Marc", "last_name": "Roy", "email": email }
    })
}

/// Fixed clinic-local times far in the future, so the walk does not depend on today's date.
/// Clock: Monday 2030-01-07 10:00 EST. Appointment: Thursday 2030-01-10 14:00 EST (19:00Z).
/// T−36 h = Wednesday 02:00 (quiet) → reminder Tuesday 2030-01-08 20:59 EST (01:59Z on the 9th).
const NOW: &str = "2030-01-07T15:00:00Z";
const T: &str = "2030-01-10T14:00:00-05:00";

async fn setup(server: &DevServer, clinic: Value) {
    server.set_clock(NOW).await;
    let (status, settings) = server.get("/v1/clinic").await;
    assert_eq!(status, StatusCode::OK);
    let mut settings = settings;
    for (k, v) in clinic.as_object().unwrap() {
        settings[k] = v.clone();
    }
    assert_eq!(server.put("/v1/clinic", &settings).await.0, StatusCode::OK);
    let (status, _) = server
        .put(
            "/v1/appointment-types/SUIVI",
            &json!({"communications": "full", "questionnaire_url": "https://forms.example.ca/suivi"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn confirmation_then_reminder_then_confirm() {
    let dir = data_dir("walk");
    let server = DevServer::start(&dir);
    setup(&server, json!({})).await;
    let (status, view) = server
        .put("/v1/appointments/W1", &appointment(1, T, "marc@example.ca"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["reminder_at"], "2030-01-08T20:59:00-05:00");
    let patient_url = view["patient_url"].as_str().unwrap().to_owned();
    assert!(patient_url.starts_with(&server.base));

    let outbox = server.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["kind"], "confirmation");
    assert_eq!(outbox[0]["channel"], "email");
    assert!(
        outbox[0]["text"].as_str().unwrap().contains(&patient_url),
        "the text holds the patient link"
    );
    assert!(outbox[0]["text"]
        .as_str()
        .unwrap()
        .contains("https://video.example.ca/room/42"));

    // The page is readable; confirming is not open yet.
    let page = server
        .http
        .get(&patient_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("jeudi 10 janvier 2030 à 14 h"));
    assert_eq!(server.act(&patient_url, "confirm").await.0, StatusCode::CONFLICT);

    // Moving the clock fires the reminder at its own due time.
    let moved = server.set_clock("2030-01-09T12:00:00Z").await;
    assert_eq!(moved["fired"], 1);
    let outbox = server.outbox().await;
    assert_eq!(outbox.len(), 2);
    assert_eq!(outbox[1]["kind"], "reminder");
    assert_eq!(outbox[1]["at"], "2030-01-09T01:59:00Z");
    assert_eq!(server.get("/_dev/clock").await.1["now"], "2030-01-09T12:00:00Z");

    let (status, body) = server.act(&patient_url, "confirm").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"patient_status": "confirmed"})));
    assert_eq!(server.get("/v1/appointments/W1").await.1["patient_status"], "confirmed");
    let events = server.get("/v1/events").await.1;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["message_sent", "message_sent", "patient_confirmed"]);

    // The clock only moves forward.
    let (status, body) = server
        .call(reqwest::Method::POST, "/_dev/clock", Some(&json!({"now": NOW})))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("now"))
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn patient_cancel_arrival_move_emr_cancel_and_past() {
    let dir = data_dir("flows");
    let server = DevServer::start(&dir);
    setup(
        &server,
        json!({"allow_patient_cancellation": true, "allow_arrival_checkin": true}),
    )
    .await;

    // Patient cancel: a receipt, and the reminder never fires.
    let cancel_url = server
        .put("/v1/appointments/C1", &appointment(1, T, "c1@example.ca"))
        .await
        .1["patient_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        server.act(&cancel_url, "cancel").await.1,
        json!({"patient_status": "cancelled_by_patient"})
    );

    // Move: the old reminder never fires, the new one fires once.
    server
        .put("/v1/appointments/M1", &appointment(1, T, "m1@example.ca"))
        .await;
    let (_, moved) = server
        .put(
            "/v1/appointments/M1",
            &appointment(2, "2030-01-11T10:00:00-05:00", "m1@example.ca"),
        )
        .await;
    assert_eq!(moved["reminder_at"], "2030-01-09T20:59:00-05:00");

    // EMR cancel.
    server
        .put("/v1/appointments/E1", &appointment(1, T, "e1@example.ca"))
        .await;
    let mut cancelled = appointment(2, T, "e1@example.ca");
    cancelled["status"] = json!("cancelled");
    assert_eq!(
        server.put("/v1/appointments/E1", &cancelled).await.1["status"],
        "cancelled"
    );

    // Past appointment: stored, nothing sent.
    let (status, past) = server
        .put(
            "/v1/appointments/P1",
            &appointment(1, "2030-01-06T10:00:00-05:00", "p1@example.ca"),
        )
        .await;
    assert_eq!((status, past["messages"].clone()), (StatusCode::CREATED, json!([])));

    // Arrival: open from T−30 min.
    let arrive_url = server
        .put("/v1/appointments/A1", &appointment(1, T, "a1@example.ca"))
        .await
        .1["patient_url"]
        .as_str()
        .unwrap()
        .to_owned();
    server.set_clock("2030-01-10T18:29:00Z").await;
    assert_eq!(server.act(&arrive_url, "arrive").await.0, StatusCode::CONFLICT);
    server.set_clock("2030-01-10T18:30:00Z").await;
    assert_eq!(
        server.act(&arrive_url, "arrive").await.1,
        json!({"patient_status": "arrived"})
    );

    server.set_clock("2030-01-12T00:00:00Z").await;
    assert_eq!(
        server.kinds("c1@example.ca").await,
        vec!["confirmation", "cancellation_receipt"]
    );
    assert_eq!(
        server.kinds("m1@example.ca").await,
        vec!["confirmation", "change", "reminder"]
    );
    assert_eq!(
        server.kinds("e1@example.ca").await,
        vec!["confirmation", "cancellation"]
    );
    assert_eq!(server.kinds("p1@example.ca").await, Vec::<String>::new());
    assert_eq!(server.kinds("a1@example.ca").await, vec!["confirmation", "reminder"]);
    let reminder = server
        .outbox()
        .await
        .into_iter()
        .find(|e| e["to"] == "m1@example.ca" && e["kind"] == "reminder")
        .unwrap();
    assert_eq!(
        reminder["at"], "2030-01-10T01:59:00Z",
        "the new reminder, at its own time"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn data_and_pending_reminders_survive_a_restart() {
    let dir = data_dir("restart");
    let server = DevServer::start(&dir);
    setup(&server, json!({})).await;
    server
        .put("/v1/appointments/R1", &appointment(1, T, "r1@example.ca"))
        .await;
    drop(server);

    let server = DevServer::start(&dir);
    let (status, view) = server.get("/v1/appointments/R1").await;
    assert_eq!((status, view["revision"].clone()), (StatusCode::OK, json!(1)));
    // The new process's manual clock starts at the real time; move it to after the reminder.
    server.set_clock("2030-01-09T12:00:00Z").await;
    assert_eq!(server.kinds("r1@example.ca").await, vec!["confirmation", "reminder"]);
    let outbox_page = server
        .http
        .get(format!("{}/_dev/outbox", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(outbox_page.contains("Rappel : votre rendez-vous du jeudi 10 janvier 2030"));
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_identical_puts_give_one_201_and_one_confirmation() {
    let dir = data_dir("parallel");
    let server = std::sync::Arc::new(DevServer::start(&dir));
    setup(&server, json!({})).await;
    let puts = (0..20).map(|_| {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .put("/v1/appointments/PAR-1", &appointment(1, T, "par@example.ca"))
                .await
                .0
        })
    });
    let mut statuses = Vec::new();
    for put in puts {
        statuses.push(put.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::CREATED).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(server.kinds("par@example.ca").await, vec!["confirmation"]);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The README's walkthrough with its two reminders (36 h, and a text 2 h before) and a preview,
/// through the real binary: the reminders listed on save, each fired at its own time by the
/// manual clock, the 2-h one as a text only.
#[tokio::test]
async fn the_readme_walkthrough_with_two_reminders_and_a_preview() {
    let dir = data_dir("reminders");
    let server = DevServer::start(&dir);
    setup(&server, json!({"sms_enabled": true})).await;
    let (status, _) = server
        .put(
            "/v1/appointment-types/SUIVI",
            &json!({"communications": "full",
                    "reminders": [{"before": "36h"}, {"before": "2h", "channels": ["sms"]}],
                    "instructions": {"fr": "Apportez votre carte d’assurance maladie.", "en": "Bring your health card."}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, preview) = server.get("/v1/previews/reminder?type_code=SUIVI&language=en").await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert!(preview["email"]["text"]
        .as_str()
        .unwrap()
        .contains("Bring your health card."));
    assert!(server.outbox().await.is_empty(), "a preview sends nothing");

    let mut body = appointment(1, T, "marc@example.ca");
    body["patient"]["mobile"] = json!("514 555-0123");
    let (status, view) = server.put("/v1/appointments/W2", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(
        view["reminders"],
        json!([
            {"before": "36h", "at": "2030-01-08T20:59:00-05:00", "status": "planned"},
            {"before": "2h", "at": "2030-01-10T12:00:00-05:00", "status": "planned"},
        ])
    );
    assert_eq!(view["reminder_at"], "2030-01-08T20:59:00-05:00");

    let moved = server.set_clock("2030-01-10T18:00:00Z").await;
    assert_eq!(moved["fired"], 2, "{moved}");
    let reminders: Vec<(String, String)> = server
        .outbox()
        .await
        .iter()
        .filter(|m| m["kind"] == "reminder")
        .map(|m| {
            (
                m["channel"].as_str().unwrap().to_owned(),
                m["at"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        reminders,
        [
            ("email".to_owned(), "2030-01-09T01:59:00Z".to_owned()),
            ("sms".to_owned(), "2030-01-09T01:59:00Z".to_owned()),
            ("sms".to_owned(), "2030-01-10T17:00:00Z".to_owned()),
        ]
    );
    let view = server.get("/v1/appointments/W2").await.1;
    assert_eq!(view["reminders"][1]["status"], "sent");
    assert_eq!(
        view["reminder_at"], "2030-01-10T12:00:00-05:00",
        "the last one, once all are past"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The README's reply step: the patient answers the reminder's text with "Oui" through
/// `POST /_dev/sms-in`; the answer lands in the outbox, the event says it came by text.
#[tokio::test]
async fn the_readme_walkthrough_reply_by_text() {
    let dir = data_dir("sms-in");
    let server = DevServer::start(&dir);
    setup(
        &server,
        json!({"sms_enabled": true, "sms_replies": true, "allow_patient_cancellation": true}),
    )
    .await;
    let mut body = appointment(1, T, "marc@example.ca");
    body["patient"]["mobile"] = json!("514 555-0199");
    let (status, view) = server.put("/v1/appointments/SMS-1", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let sms_in = |from: &str, text: &str| {
        let body = json!({"from": from, "text": text});
        let server = &server;
        async move { server.call(reqwest::Method::POST, "/_dev/sms-in", Some(&body)).await }
    };
    // Wednesday 09:00: the reminder went at 20:59 the evening before, inviting the answers.
    server.set_clock("2030-01-09T14:00:00Z").await;
    let reminder = server
        .outbox()
        .await
        .into_iter()
        .find(|m| m["kind"] == "reminder" && m["channel"] == "sms")
        .unwrap();
    assert!(
        reminder["text"]
            .as_str()
            .unwrap()
            .contains("Répondez OUI pour confirmer ou ANNULER pour annuler."),
        "{reminder}"
    );
    assert_eq!(
        sms_in("+15145550199", "Oui").await,
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    assert_eq!(
        server.kinds("+15145550199").await,
        vec!["confirmation", "reminder", "confirmation_receipt"]
    );
    let (_, events) = server.get("/v1/events").await;
    let confirmed = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "patient_confirmed")
        .cloned()
        .unwrap();
    assert_eq!(confirmed["via"], "sms");
    assert_eq!(
        server.get("/v1/appointments/SMS-1").await.1["patient_status"],
        "confirmed"
    );
    // A number never texted gets nothing; a malformed one is refused.
    assert_eq!(
        sms_in("+15145550123", "Oui").await,
        (StatusCode::OK, json!({"outcome": "unmatched"}))
    );
    let (status, error) = sms_in("not a number", "Oui").await;
    assert_eq!(
        (status, error["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("from"))
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `POST /_dev/delivery` plays the provider's feedback: the outbox shows each entry's status, a
/// permanent bounce suppresses the address (the next email to it is not sent), an unknown id is
/// 404.
#[tokio::test]
async fn delivery_feedback_on_the_outbox() {
    let dir = data_dir("delivery");
    let server = DevServer::start(&dir);
    setup(&server, json!({"sms_enabled": true})).await;
    let mut body = appointment(1, T, "marc@example.ca");
    body["patient"]["mobile"] = json!("514 555-0123");
    server.put("/v1/appointments/D-1", &body).await;
    let outbox = server.outbox().await;
    assert_eq!(
        outbox.iter().map(|e| e["status"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["sent", "sent"]
    );
    let (email, text) = (outbox[0]["id"].clone(), outbox[1]["id"].clone());
    let delivery = |body: Value| {
        let server = &server;
        async move { server.call(reqwest::Method::POST, "/_dev/delivery", Some(&body)).await }
    };
    assert_eq!(
        delivery(json!({"id": text, "status": "delivered"})).await,
        (StatusCode::OK, json!({"id": text, "outcome": "delivered"}))
    );
    assert_eq!(
        delivery(json!({"id": email, "status": "bounced"})).await,
        (StatusCode::OK, json!({"id": email, "outcome": "bounced"}))
    );
    assert_eq!(
        delivery(json!({"id": email, "status": "delivered"})).await.1["outcome"],
        "already_final"
    );
    let statuses: Vec<String> = server
        .outbox()
        .await
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, vec!["bounced", "delivered"]);
    let page = server.http_text("/_dev/outbox").await;
    assert!(page.contains(r#"<strong class="status">bounced</strong>"#), "{page}");
    let (_, list) = server.get("/v1/suppressions").await;
    assert_eq!(list["suppressions"][0]["address"], "marc@example.ca");
    let (_, view) = server.get("/v1/appointments/D-1").await;
    assert_eq!(view["messages"][0]["status"], "bounced");
    // The next email to that address is not sent; the text is.
    let mut moved = appointment(2, "2030-01-10T15:00:00-05:00", "marc@example.ca");
    moved["patient"]["mobile"] = json!("514 555-0123");
    server.put("/v1/appointments/D-1", &moved).await;
    assert_eq!(server.kinds("marc@example.ca").await, vec!["confirmation"]);
    assert_eq!(server.kinds("+15145550123").await, vec!["confirmation", "change"]);
    // Bad requests.
    assert_eq!(
        delivery(json!({"id": 999, "status": "delivered"})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delivery(json!({"id": text, "status": "bounced"})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        delivery(json!({"id": email, "status": "bounced", "reason": "soft"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
