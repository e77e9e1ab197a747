//! The AWS adapters against a real local AWS emulator (moto): the store contract suite on
//! DynamoDB, and the contract's flows through the real routers over DynamoDB, SES, SNS and
//! EventBridge Scheduler, read back from moto's `/moto-api/data.json`.

mod support;

use axum::http::{Method, StatusCode};
use chrono::{TimeZone, Utc};
use rappel::ports::SchedulePayload;
use rappel::services::schedule_name;
use rappel::testing::{appointment_json, store_contract};
use rappel_aws::dynamodb::DynamoStore;
use rappel_aws::local::create_table;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use support::rig::{call, put_full_type, rig, texted_body, AwsRig};
use support::{schedules, sdk_at, Moto};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_meets_the_store_contract() {
    let moto = Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&sdk_at(&moto.endpoint).await);
    let counter = AtomicUsize::new(0);
    store_contract::run_all(|| {
        let table = format!("contract-{}", counter.fetch_add(1, Ordering::SeqCst));
        let client = client.clone();
        async move {
            create_table(&client, &table).await.unwrap();
            // The suite reads the feed right after its writes; the lag has its own test.
            DynamoStore::new(client, table).with_feed_lag(chrono::Duration::zero())
        }
    })
    .await;
}

fn sent_emails(data: &Value) -> Vec<(String, String)> {
    data["ses"]["Message"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|m| {
                    (
                        m["destinations"]["ToAddresses"][0].as_str().unwrap_or("").to_owned(),
                        m["subject"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_move_remind_confirm_and_cancel_over_aws() {
    let AwsRig {
        moto,
        sdk,
        rappel,
        clock,
        clinic,
    } = rig().await;
    let emr = rappel::http::emr::router(rappel.clone());
    let patient = rappel::http::patient::router(rappel.clone());

    assert_eq!(put_full_type(&emr).await, StatusCode::CREATED);
    // Thursday 2030-01-10 14:00 local; moto opts out numbers ending in 99, so use another.
    let start = Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap();
    let body = texted_body(1, start, "FU");

    // Save → confirmation email and text, one schedule at the reminder time.
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/AWS-1", Some(body.clone()), false).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let data = moto.data().await;
    assert_eq!(
        sent_emails(&data),
        vec![(
            "julie.roy@example.ca".to_owned(),
            "Confirmation de votre rendez-vous du jeudi 10 janvier 2030 à 14 h".to_owned()
        )]
    );
    assert_eq!(data["sns"]["SMS"][0]["phone_number"], "+15145550123");
    let first = schedules(&moto, &sdk).await;
    assert_eq!(first.len(), 1);
    let name = schedule_name(&clinic.id, &rappel::domain::AppointmentId::parse("AWS-1").unwrap());
    assert_eq!(first[0]["name"], name);
    assert_eq!(first[0]["schedule_expression"], "at(2030-01-09T01:59:00)");
    assert_eq!(first[0]["flexible_time_window"]["Mode"], "OFF");
    assert_eq!(first[0]["action_after_completion"], "DELETE");
    let input: SchedulePayload = serde_json::from_str(first[0]["target"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!((input.revision, input.kind), (1, rappel::ports::ScheduleKind::Reminder));

    // A replay sends nothing more.
    assert_eq!(
        call(&emr, Method::PUT, "/v1/appointments/AWS-1", Some(body.clone()), false)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(sent_emails(&moto.data().await).len(), 1);

    // Move → the schedule is replaced and a change email goes out.
    let moved = Utc.with_ymd_and_hms(2030, 1, 11, 15, 0, 0).unwrap();
    let body2 = texted_body(2, moved, "FU");
    assert_eq!(
        call(&emr, Method::PUT, "/v1/appointments/AWS-1", Some(body2), false)
            .await
            .0,
        StatusCode::OK
    );
    let data = moto.data().await;
    let second = schedules(&moto, &sdk).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0]["schedule_expression"], "at(2030-01-10T01:59:00)");
    assert_eq!(second[0]["name"], name, "the move updated the schedule in place");
    let moved_input: SchedulePayload = serde_json::from_str(second[0]["target"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(moved_input.revision, 2);
    assert_eq!(
        sent_emails(&data)[1].1,
        "Modification de votre rendez-vous : vendredi 11 janvier 2030 à 10 h"
    );

    // The reminder payload, as Scheduler would deliver it, sends the reminder once.
    clock.set(Utc.with_ymd_and_hms(2030, 1, 10, 1, 59, 0).unwrap());
    let payload: SchedulePayload = serde_json::from_str(second[0]["target"]["Input"].as_str().unwrap()).unwrap();
    rappel.fire(&payload).await.unwrap();
    rappel.fire(&payload).await.unwrap();
    let data = moto.data().await;
    assert_eq!(
        sent_emails(&data)
            .iter()
            .filter(|(_, s)| s.starts_with("Rappel"))
            .count(),
        1
    );
    assert_eq!(
        data["sns"]["SMS"].as_array().unwrap().len(),
        3,
        "confirmation, change and reminder texts"
    );

    // The patient confirms through the patient-action router.
    let (_, view) = call(&emr, Method::GET, "/v1/appointments/AWS-1", None, false).await;
    let path = view["patient_url"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://rappel.example.ca")
        .to_owned();
    let (status, answer) = call(&patient, Method::POST, &format!("{path}/confirm"), None, true).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"patient_status": "confirmed"}))
    );

    // The EMR cancels → the schedule (already fired here, so none) stays absent and a cancellation goes out.
    let mut cancelled = texted_body(3, moved, "FU");
    cancelled["status"] = json!("cancelled");
    assert_eq!(
        call(&emr, Method::PUT, "/v1/appointments/AWS-1", Some(cancelled), false)
            .await
            .0,
        StatusCode::OK
    );
    let data = moto.data().await;
    assert!(sent_emails(&data)
        .last()
        .unwrap()
        .1
        .starts_with("Annulation de votre rendez-vous"));

    // The ledger, read back from DynamoDB: four texts at 5 cents.
    let (_, ledger) = call(&emr, Method::GET, "/v1/ledger?month=2030-01", None, false).await;
    assert_eq!(
        (ledger["texts"].clone(), ledger["total_cents"].clone()),
        (json!(4), json!(20))
    );
    let (_, events) = call(&emr, Method::GET, "/v1/events?limit=1000", None, false).await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"patient_confirmed"));
    assert_eq!(types.iter().filter(|t| **t == "message_sent").count(), 8);
    let marked: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "possible_duplicate")
        .collect();
    assert!(
        marked.is_empty(),
        "nothing failed, so nothing may have gone out twice: {marked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_deletes_the_pending_schedule() {
    let AwsRig { moto, sdk, rappel, .. } = rig().await;
    let emr = rappel::http::emr::router(rappel.clone());
    put_full_type(&emr).await;
    let start = Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap();
    call(
        &emr,
        Method::PUT,
        "/v1/appointments/C-1",
        Some(appointment_json(1, start, "FU")),
        false,
    )
    .await;
    assert_eq!(schedules(&moto, &sdk).await.len(), 1);
    let mut cancelled = appointment_json(2, start, "FU");
    cancelled["status"] = json!("cancelled");
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/C-1", Some(cancelled), false).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert!(schedules(&moto, &sdk).await.is_empty());
    assert_eq!(sent_emails(&moto.data().await).len(), 2, "{view}");
}

/// DynamoDB records a settled appointment (the contract lets a store skip it): a replay of a
/// save whose effects are all done then reads everything in its first call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_carried_out_in_full_is_found_settled() {
    // (`moto` is kept: dropping it stops the emulator.)
    let AwsRig {
        moto: _moto,
        rappel,
        clinic,
        ..
    } = rig().await;
    let emr = rappel::http::emr::router(rappel.clone());
    put_full_type(&emr).await;
    let start = Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap();
    let body = texted_body(1, start, "FU");
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/AWS-S", Some(body), false).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let id = rappel::domain::AppointmentId::parse("AWS-S").unwrap();
    let wanted = rappel::ports::Wanted {
        appointment: Some(id.clone()),
        ..Default::default()
    };
    let found = rappel.store.read_together(&clinic.id, &wanted).await.unwrap();
    let stored = rappel.store.messages(&clinic.id, &id).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(found.settled, Some(stored));
}

/// A type with three reminders over AWS: one EventBridge schedule each (the 36-h one under the
/// name it always had), moved in place by a move, each fired once from the input Scheduler
/// holds, the text-only one on SNS alone; a cancellation deletes what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_reminders_are_three_schedules_each_fired_once_over_aws() {
    let AwsRig {
        moto,
        sdk,
        rappel,
        clock,
        clinic,
    } = rig().await;
    let emr = rappel::http::emr::router(rappel.clone());
    let reminders = json!({"communications": "full",
        "reminders": [{"before": "7d"}, {"before": "36h"}, {"before": "2h", "channels": ["sms"]}]});
    let (status, _) = call(&emr, Method::PUT, "/v1/appointment-types/PROC", Some(reminders), false).await;
    assert_eq!(status, StatusCode::CREATED);
    // Thursday 2030-01-17 14:00 local (19:00 UTC), ten days after the rig's clock.
    let start = Utc.with_ymd_and_hms(2030, 1, 17, 19, 0, 0).unwrap();
    let body = texted_body(1, start, "PROC");
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/AWS-3", Some(body), false).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(
        view["reminders"],
        json!([
            {"before": "7d", "at": "2030-01-10T14:00:00-05:00", "status": "planned"},
            {"before": "36h", "at": "2030-01-15T20:59:00-05:00", "status": "planned"},
            {"before": "2h", "at": "2030-01-17T12:00:00-05:00", "status": "planned"},
        ])
    );
    let id = rappel::domain::AppointmentId::parse("AWS-3").unwrap();
    let by_expression = |schedules: &[Value]| {
        let mut found: Vec<(String, String)> = schedules
            .iter()
            .map(|s| {
                (
                    s["schedule_expression"].as_str().unwrap().to_owned(),
                    s["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let placed = by_expression(&schedules(&moto, &sdk).await);
    let week = rappel::domain::ReminderOffset::parse("7d").unwrap();
    let two_hours = rappel::domain::ReminderOffset::parse("2h").unwrap();
    let name = |before| rappel::services::reminder_schedule_name(&clinic.id, &id, before);
    assert_eq!(
        placed,
        [
            ("at(2030-01-10T19:00:00)".to_owned(), name(week)),
            ("at(2030-01-16T01:59:00)".to_owned(), schedule_name(&clinic.id, &id)),
            ("at(2030-01-17T17:00:00)".to_owned(), name(two_hours)),
        ]
    );

    // A move of one hour: each schedule moves in place, under the same three names.
    let moved = start + chrono::Duration::hours(1);
    let body = texted_body(2, moved, "PROC");
    assert_eq!(
        call(&emr, Method::PUT, "/v1/appointments/AWS-3", Some(body), false)
            .await
            .0,
        StatusCode::OK
    );
    let live = schedules(&moto, &sdk).await;
    let after_move = by_expression(&live);
    assert_eq!(
        after_move.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        [
            "at(2030-01-10T20:00:00)",
            "at(2030-01-16T13:00:00)",
            "at(2030-01-17T18:00:00)"
        ],
        "36 h before 15:00 is 03:00, quiet: 08:00 (5 h away) is nearer than 20:59 (6 h)"
    );
    let names_before: Vec<&String> = placed.iter().map(|(_, n)| n).collect();
    let names_after: Vec<&String> = after_move.iter().map(|(_, n)| n).collect();
    assert_eq!(names_before, names_after);

    // Each fired twice (Scheduler delivers at least once) at its time, from the input it holds.
    let texts_before = moto.data().await["sns"]["SMS"].as_array().map_or(0, Vec::len);
    let inputs = support::due_inputs(&live);
    for (at, payload) in &inputs {
        clock.set(*at);
        rappel.fire(payload).await.unwrap();
        rappel.fire(payload).await.unwrap();
    }
    let data = moto.data().await;
    let reminder_emails = sent_emails(&data)
        .iter()
        .filter(|(_, s)| s.starts_with("Rappel"))
        .count();
    assert_eq!(
        reminder_emails, 2,
        "the week and 36-h reminders; the 2-h one is a text only"
    );
    let texts_after = data["sns"]["SMS"].as_array().map_or(0, Vec::len);
    assert_eq!(texts_after - texts_before, 3, "one text per reminder");
    let (_, view) = call(&emr, Method::GET, "/v1/appointments/AWS-3", None, false).await;
    let statuses: Vec<&str> = view["reminders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["sent", "sent", "sent"]);
    let (_, events) = call(&emr, Method::GET, "/v1/events?limit=1000", None, false).await;
    let mut befores: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "reminder" && e["type"] == "message_sent")
        .map(|e| e["before"].as_str().unwrap())
        .collect();
    befores.sort();
    assert_eq!(befores, ["2h", "36h", "36h", "7d", "7d"]);

    // Saved again for a later date, then cancelled: every schedule it had is deleted.
    let later = start + chrono::Duration::days(7);
    let mut body = texted_body(3, later, "PROC");
    call(&emr, Method::PUT, "/v1/appointments/AWS-3", Some(body.clone()), false).await;
    assert_eq!(schedules(&moto, &sdk).await.len(), 3);
    body["revision"] = json!(4);
    body["status"] = json!("cancelled");
    assert_eq!(
        call(&emr, Method::PUT, "/v1/appointments/AWS-3", Some(body), false)
            .await
            .0,
        StatusCode::OK
    );
    assert!(schedules(&moto, &sdk).await.is_empty());
}

fn sms_texts(data: &Value) -> Vec<String> {
    data["sns"]["SMS"]
        .as_array()
        .map(|texts| {
            texts
                .iter()
                .map(|t| t["message"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The samples of `events/inbound-sms/` through the handler over DynamoDB and SNS: the text
/// route written with the confirmation text finds the appointment, the reply confirms it once
/// however often SNS delivers it, and its answer goes out on SNS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_replies_over_aws() {
    let AwsRig {
        moto,
        rappel,
        clock,
        mut clinic,
        ..
    } = rig().await;
    clinic.settings.sms_replies = true;
    clinic.settings.allow_patient_cancellation = true;
    rappel.store.put_clinic(&clinic).await.unwrap();
    let emr = rappel::http::emr::router(rappel.clone());
    put_full_type(&emr).await;
    // Thursday 2030-01-10 14:00 local, to the samples' number.
    let start = Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap();
    let body = texted_body(1, start, "FU");
    let (status, view) = call(&emr, Method::PUT, "/v1/appointments/AWS-R", Some(body), false).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let invitation = sms_texts(&moto.data().await).pop().unwrap();
    assert!(invitation.contains("Pour annuler, répondez ANNULER."), "{invitation}");

    let sample = |name: &str| -> Value {
        let path = format!("{}/../../events/inbound-sms/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    // Wednesday 09:00: confirming is open, and twice delivered the reply confirms once.
    clock.set(Utc.with_ymd_and_hms(2030, 1, 9, 14, 0, 0).unwrap());
    for _ in 0..2 {
        let report = rappel.answer_inbound_event(&sample("oui.json")).await.unwrap();
        assert_eq!(report.outcomes, vec![rappel::services::ReplyOutcome::Confirmed]);
    }
    let (_, view) = call(&emr, Method::GET, "/v1/appointments/AWS-R", None, true).await;
    assert_eq!(view["patient_status"], "confirmed", "{view}");
    let texts = sms_texts(&moto.data().await);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[1].contains("présence confirmée, jeu. 10 janv. à 14 h"),
        "{}",
        texts[1]
    );
    let (_, events) = call(&emr, Method::GET, "/v1/events", None, true).await;
    let confirmed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "patient_confirmed")
        .collect();
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0]["via"], "sms");
    // A question gets the short answer; the malformed sample is skipped, not retried.
    let report = rappel.answer_inbound_event(&sample("question.json")).await.unwrap();
    assert_eq!(
        report.outcomes,
        vec![rappel::services::ReplyOutcome::Helped { answered: true }]
    );
    let report = rappel.answer_inbound_event(&sample("malformed.json")).await.unwrap();
    assert_eq!(report.unreadable, 1);
    assert_eq!(sms_texts(&moto.data().await).len(), 3);

    // "ARRÊT" (a word AWS's own opt-out list does not take): the deployment keeps it, and the
    // next text is undeliverable; START lifts it.
    let reply = |text: &'static str| {
        let rappel = rappel.clone();
        async move { rappel.text_reply("+15145550123", text).await.unwrap() }
    };
    assert_eq!(reply("ARRÊT").await, rappel::services::ReplyOutcome::OptedOut);
    let moved =
        |revision: u64, hour: u32| texted_body(revision, Utc.with_ymd_and_hms(2030, 1, 10, hour, 0, 0).unwrap(), "FU");
    let (_, view) = call(&emr, Method::PUT, "/v1/appointments/AWS-R", Some(moved(2, 20)), false).await;
    let change_text = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "change" && m["channel"] == "sms")
        .cloned()
        .unwrap();
    assert_eq!(change_text["status"], "undeliverable", "{view}");
    assert_eq!(sms_texts(&moto.data().await).len(), 3);
    assert_eq!(reply("START").await, rappel::services::ReplyOutcome::OptedIn);
    call(&emr, Method::PUT, "/v1/appointments/AWS-R", Some(moved(3, 21)), false).await;
    assert_eq!(sms_texts(&moto.data().await).len(), 4);
}

/// The samples of `events/delivery-events/` through `delivery-events`' handler over DynamoDB:
/// SES's events find the email by its tag, SNS's delivery logs find the text by the message id
/// SNS gave it, the provider's price reaches the ledger, and a complaint suppresses the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_reports_over_aws() {
    use base64::Engine as _;
    use std::io::{Read as _, Write as _};
    let AwsRig {
        moto: _moto,
        rappel,
        clinic,
        ..
    } = rig().await;
    let emr = rappel::http::emr::router(rappel.clone());
    put_full_type(&emr).await;
    let body = texted_body(1, Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap(), "FU");
    let (status, _) = call(&emr, Method::PUT, "/v1/appointments/RDV-1", Some(body), false).await;
    assert_eq!(status, StatusCode::CREATED);
    let sample = |name: &str| -> String {
        std::fs::read_to_string(format!(
            "{}/../../events/delivery-events/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let dev_tag = rappel::formats::delivery::encode_tag("dev-clinic", "RDV-1", "confirmation:1:email");
    let tag = rappel::formats::delivery::encode_tag(clinic.id.as_str(), "RDV-1", "confirmation:1:email");
    let ses = |name: &str| -> Value { serde_json::from_str(&sample(name).replace(&dev_tag, &tag)).unwrap() };
    let report = rappel.answer_delivery_event(&ses("ses-delivery.json")).await.unwrap();
    assert_eq!(report.outcomes.len(), 1);
    let report = rappel.answer_delivery_event(&ses("ses-complaint.json")).await.unwrap();
    assert_eq!(report.outcomes[0].as_str(), "complained");

    // The text, by the id SNS (moto) gave it.
    let (_, ledger) = call(&emr, Method::GET, "/v1/ledger?month=2030-01", None, true).await;
    let provider_id = ledger["entries"][0]["provider_message_id"].as_str().unwrap().to_owned();
    let logs: Value = serde_json::from_str(&sample("sms-delivered.json")).unwrap();
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(logs["awslogs"]["data"].as_str().unwrap())
        .unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_string(&mut text)
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.replace("SNS-MESSAGE-ID-1", &provider_id).as_bytes())
        .unwrap();
    let event = json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())}});
    let report = rappel.answer_delivery_event(&event).await.unwrap();
    assert_eq!(report.outcomes[0].as_str(), "delivered");

    let (_, view) = call(&emr, Method::GET, "/v1/appointments/RDV-1", None, true).await;
    let statuses: Vec<&str> = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["complained", "delivered"], "{view}");
    let (_, ledger) = call(&emr, Method::GET, "/v1/ledger?month=2030-01", None, true).await;
    assert_eq!(ledger["entries"][0]["provider_price_micro_usd"], 5_810, "{ledger}");
    let (_, list) = call(&emr, Method::GET, "/v1/suppressions", None, true).await;
    // The address the complaint names (the sample's).
    assert_eq!(list["suppressions"][0]["address"], "julie@example.ca", "{list}");
    let (status, _) = call(&emr, Method::DELETE, "/v1/suppressions/julie%40example.ca", None, true).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = call(&emr, Method::GET, "/v1/suppressions", None, true).await;
    assert_eq!(list, json!({"suppressions": []}));

    // A replay of the save answers the statuses as they are now (the appointment's settled
    // snapshot of its messages was forgotten when a report changed one).
    let body = texted_body(1, Utc.with_ymd_and_hms(2030, 1, 10, 19, 0, 0).unwrap(), "FU");
    let (status, replay) = call(&emr, Method::PUT, "/v1/appointments/RDV-1", Some(body), false).await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<&str> = replay["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["complained", "delivered"], "{replay}");

    // A bounce naming one address twice, in two spellings, writes it once (one transaction may
    // not put one item twice).
    let mut second = appointment_json(1, Utc.with_ymd_and_hms(2030, 1, 11, 19, 0, 0).unwrap(), "FU");
    second["patient"]["email"] = json!("second@example.ca");
    call(&emr, Method::PUT, "/v1/appointments/RDV-2", Some(second), false).await;
    let bounce = rappel::formats::delivery::DeliveryReport {
        message: rappel::formats::delivery::MessageRef::Tagged {
            clinic: clinic.id.to_string(),
            appointment: "RDV-2".to_owned(),
            key: "confirmation:1:email".to_owned(),
        },
        feedback: rappel::formats::delivery::Feedback::Bounced { permanent: true },
        at: None,
        addresses: vec!["Second@Example.ca".to_owned(), "second@example.ca".to_owned()],
        provider_price_micro_usd: None,
    };
    assert_eq!(rappel.apply_delivery(&bounce).await.unwrap().as_str(), "bounced");
    let (_, list) = call(&emr, Method::GET, "/v1/suppressions", None, true).await;
    assert_eq!(list["suppressions"].as_array().unwrap().len(), 1, "{list}");
}
