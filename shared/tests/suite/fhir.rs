//! FHIR R4 intake: the official HL7 Appointment examples (shared/tests/fixtures/fhir-r4), in a
//! transaction Bundle and as contained resources; ordering by `meta.versionId`; OperationOutcome
//! errors naming the FHIRPath; batch Bundles; a save through FHIR changed through HL7 v2.

use axum::http::{header, Method, StatusCode};
use chrono::{TimeZone, Utc};
use rappel::domain::Communications;
use rappel::testing::Harness;
use serde_json::{json, Value};

use crate::http::Api;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/fhir-r4/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A clinic whose clock reads 2013-12-01 (the examples are in December 2013), with the
/// examples' types set to `full`.
async fn api() -> Api {
    let h = Harness::new(Utc.with_ymd_and_hms(2013, 12, 1, 12, 0, 0).unwrap()).await;
    h.set_type("FOLLOWUP", Communications::Full).await;
    h.set_type("WALKIN", Communications::Full).await;
    Api::over(h)
}

async fn fhir(api: &Api, method: Method, uri: &str, body: &Value) -> (StatusCode, Value) {
    let answer = api.call(method, uri, Some(body.to_string().into_bytes())).await;
    assert_eq!(
        answer.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/fhir+json"),
        "{}",
        answer.text()
    );
    (answer.status, answer.json())
}

/// POSTs a Bundle of `kind` holding `entries`.
async fn post_bundle(api: &Api, kind: &str, entries: &Value) -> (StatusCode, Value) {
    let bundle = json!({"resourceType": "Bundle", "type": kind, "entry": entries});
    fhir(api, Method::POST, "/fhir/r4", &bundle).await
}

fn entry(resource: Value, put: bool) -> Value {
    let kind = resource["resourceType"].as_str().unwrap().to_owned();
    let id = resource["id"].as_str().unwrap().to_owned();
    let mut e = json!({"fullUrl": format!("http://hl7.org/fhir/{kind}/{id}"), "resource": resource});
    if put {
        e["request"] = json!({"method": "PUT", "url": format!("{kind}/{id}")});
    }
    e
}

#[tokio::test]
async fn the_official_examples_in_a_transaction_bundle_are_answered_as_the_contract_says() {
    let api = api().await;
    let mut entries: Vec<Value> = [
        "Patient-example",
        "Practitioner-example",
        "Practitioner-f202",
        "Location-1",
    ]
    .into_iter()
    .map(|n| entry(fixture(n), false))
    .collect();
    for name in ["Appointment-example", "Appointment-2docs", "Appointment-examplereq"] {
        entries.push(entry(fixture(name), true));
    }
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    let (status, answer) = fhir(&api, Method::POST, "/fhir/r4", &bundle).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["type"], "transaction-response");
    let statuses: Vec<&str> = answer["entry"].as_array().unwrap()[4..]
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201 Created", "201 Created", "201 Created"]);

    // booked, 09:00 UTC to 11:00, FOLLOWUP, Dr Adam Careful in the South Wing.
    let example = api.h.record("example").await;
    assert_eq!(
        example.content.start(),
        Utc.with_ymd_and_hms(2013, 12, 10, 9, 0, 0).unwrap()
    );
    assert_eq!(example.content.duration_minutes, 120);
    assert_eq!(example.content.type_code.as_str(), "FOLLOWUP");
    assert_eq!(example.content.professional.display_name.as_str(), "Dr Adam Careful");
    assert_eq!(example.content.patient.first_name.as_str(), "Peter");
    assert_eq!(example.content.patient.last_name.as_str(), "Chalmers");
    let location = example.content.location.clone().unwrap();
    assert_eq!(location.name.unwrap().as_str(), "South Wing, second floor");
    assert!(location
        .address
        .unwrap()
        .as_str()
        .starts_with("Galapagosweg 91, Building A, Den Burg"));
    assert!(example.content.is_booked());
    // Its patient has no email, and "(03) 3410 5613" is no mobile Rappel can text: kept, ignored.
    assert_eq!(example.content.patient.mobile, None);
    // Two doctors: the first Practitioner is the professional.
    let two_docs = api.h.record("2docs").await;
    assert_eq!(two_docs.content.type_code.as_str(), "WALKIN");
    assert_eq!(two_docs.content.professional.display_name.as_str(), "Dr Adam Careful");
    // A request (`proposed`, a requested period, 15 minutes): kept, not booked.
    let request = api.h.record("examplereq").await;
    assert!(!request.content.is_booked());
    assert_eq!(request.content.duration_minutes, 15);
    assert!(api.h.sent().is_empty(), "no channel to reach Peter Chalmers on");
    // The same Bundle again: replays, nothing new.
    let (status, answer) = fhir(&api, Method::POST, "/fhir/r4", &bundle).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["entry"][4]["response"]["status"], "200 OK");
}

/// Appointment-example with its Patient (given an email and French), Practitioner and Location
/// contained.
fn contained_example() -> Value {
    let mut patient = fixture("Patient-example");
    patient["id"] = json!("p");
    patient["telecom"] = json!([{"system": "email", "value": "peter@example.ca"}, {"system": "phone", "use": "mobile", "value": "514 555-0123"}]);
    patient["communication"] = json!([{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-CA"}]}}]);
    let mut practitioner = fixture("Practitioner-example");
    practitioner["id"] = json!("d");
    let mut location = fixture("Location-1");
    location["id"] = json!("l");
    let mut appointment = fixture("Appointment-example");
    appointment["contained"] = json!([patient, practitioner, location]);
    for (i, reference) in ["#p", "#d", "#l"].into_iter().enumerate() {
        appointment["participant"][i]["actor"]["reference"] = json!(reference);
    }
    appointment
}

#[tokio::test]
async fn a_put_with_contained_resources_saves_and_orders_by_version() {
    let api = api().await;
    let mut appointment = contained_example();
    appointment["meta"] = json!({"versionId": "2"});
    let (status, saved) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &appointment).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(
        (saved["id"].as_str(), saved["meta"]["versionId"].as_str()),
        (Some("example"), Some("2"))
    );
    let sent = api.h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].kind.as_str(), sent[0].to.as_str()),
        ("confirmation", "peter@example.ca")
    );
    assert!(sent[0].text.starts_with("Bonjour Peter"), "{}", sent[0].text);
    assert_eq!(
        api.h.record("example").await.content.patient.mobile.unwrap().as_str(),
        "+15145550123"
    );
    // An older version: 409, nothing changes.
    appointment["meta"] = json!({"versionId": "1"});
    appointment["start"] = json!("2013-12-11T09:00:00Z");
    appointment["end"] = json!("2013-12-11T11:00:00Z");
    let (status, outcome) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &appointment).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "conflict");
    // Newer: a change; `arrived` keeps it booked and leaves the patient's answer alone.
    appointment["meta"] = json!({"versionId": "3"});
    appointment["status"] = json!("arrived");
    let (status, _) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &appointment).await;
    assert_eq!(status, StatusCode::OK);
    let record = api.h.record("example").await;
    assert!(record.content.is_booked());
    assert_eq!(record.patient_status, rappel::domain::PatientStatus::Pending);
    assert_eq!(api.h.sent_kinds("email"), ["confirmation", "change"]);
    // `noshow`: cancelled.
    appointment["meta"] = json!({"versionId": "4"});
    appointment["status"] = json!("noshow");
    fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &appointment).await;
    assert!(!api.h.record("example").await.content.is_booked());
}

#[tokio::test]
async fn the_modality_and_video_link_extensions_are_read() {
    let api = api().await;
    let mut appointment = contained_example();
    appointment["extension"] = json!([
        {"url": "http://example.org/unknown", "valueString": "ignored"},
        {"url": rappel::formats::fhir::TELEMEDICINE_EXTENSION, "valueUrl": "https://video.example.ca/salle/3"}
    ]);
    let (status, _) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/video", &{
        let mut a = appointment.clone();
        a["id"] = json!("video");
        a
    })
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let record = api.h.record("video").await;
    assert_eq!(record.content.modality, rappel::domain::Modality::Telemedicine);
    assert!(api.h.sent()[0].text.contains("https://video.example.ca/salle/3"));
    appointment["id"] = json!("phone");
    appointment["extension"] = json!([{"url": rappel::formats::fhir::MODALITY_EXTENSION, "valueCode": "phone"}]);
    fhir(&api, Method::PUT, "/fhir/r4/Appointment/phone", &appointment).await;
    assert_eq!(
        api.h.record("phone").await.content.modality,
        rappel::domain::Modality::Phone
    );
}

#[tokio::test]
async fn what_does_not_fit_is_an_operation_outcome_naming_the_element() {
    let api = api().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            {
                let mut a = contained_example();
                a["participant"].as_array_mut().unwrap().remove(1);
                a
            },
            "/fhir/r4/Appointment/example",
            "Appointment.participant",
        ),
        (
            {
                let mut a = contained_example();
                a["status"] = json!("maybe");
                a
            },
            "/fhir/r4/Appointment/example",
            "Appointment.status",
        ),
        (contained_example(), "/fhir/r4/Appointment/other", "Appointment.id"),
        (
            {
                let mut a = contained_example();
                a["start"] = json!("next tuesday");
                a
            },
            "/fhir/r4/Appointment/example",
            "Appointment.start",
        ),
        (
            {
                let mut a = contained_example();
                a["participant"][0]["actor"]["reference"] = json!("#nobody");
                a
            },
            "/fhir/r4/Appointment/example",
            "Appointment.participant[0].actor",
        ),
        (
            {
                let mut a = contained_example();
                a["contained"][0]["telecom"][0]["value"] = json!("not-an-email");
                a
            },
            "/fhir/r4/Appointment/example",
            "Patient.telecom",
        ),
        (
            {
                let mut a = contained_example();
                a["meta"] = json!({"versionId": "v2"});
                a
            },
            "/fhir/r4/Appointment/example",
            "Appointment.meta.versionId",
        ),
    ];
    for (body, uri, expression) in cases {
        let (status, outcome) = fhir(&api, Method::PUT, uri, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{expression}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["expression"][0], expression, "{outcome}");
    }
    assert_eq!(
        api.get("/v1/appointments/example").await.status,
        StatusCode::NOT_FOUND,
        "nothing stored"
    );
    let answer = api
        .call(Method::PUT, "/fhir/r4/Appointment/example", Some(b"{not json".to_vec()))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["issue"][0]["code"], "structure");
    let (status, _) = fhir(
        &api,
        Method::POST,
        "/fhir/r4",
        &json!({"resourceType": "Bundle", "type": "collection"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_batch_saves_what_fits_and_a_transaction_saves_nothing_unless_all_fit() {
    let api = api().await;
    let good = contained_example();
    let mut bad = contained_example();
    bad["id"] = json!("bad");
    bad["participant"].as_array_mut().unwrap().remove(0);
    let entries = json!([
        {"resource": good, "request": {"method": "PUT", "url": "Appointment/example"}},
        {"resource": bad, "request": {"method": "PUT", "url": "Appointment/bad"}}
    ]);
    let (status, answer) = post_bundle(&api, "transaction", &entries).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answer["issue"][0]["expression"][0],
        "Bundle.entry[1].resource.participant"
    );
    assert_eq!(api.get("/v1/appointments/example").await.status, StatusCode::NOT_FOUND);
    let (status, answer) = post_bundle(&api, "batch", &entries).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["type"], "batch-response");
    assert_eq!(answer["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(answer["entry"][1]["response"]["status"], "422");
    assert_eq!(
        answer["entry"][1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(api.get("/v1/appointments/example").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_save_through_fhir_changed_through_hl7() {
    let api = api().await;
    let mut appointment = contained_example();
    appointment["meta"] = json!({"versionId": "3"});
    fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &appointment).await;
    let hl7 = [
        "MSH|^~\\&|EMR|CLINIQUE|RAPPEL|RAPPEL|20131202100000||SIU^S13^SIU_S13|M1|P|2.5.1",
        "SCH||example||||||FOLLOWUP",
        "TQ1|1||||||20131210050000|20131210070000",
        "PID|1||||Chalmers^Peter||||||||^NET^Internet^peter@example.ca||fre",
        "AIP|1||1^Careful^Adam^^^Dr",
    ]
    .join("\r");
    let answer = api.call(Method::POST, "/hl7/v2", Some(hl7.into_bytes())).await;
    assert!(answer.text().contains("MSA|AA|M1"), "{}", answer.text());
    let record = api.h.record("example").await;
    assert_eq!(
        record.content.start(),
        Utc.with_ymd_and_hms(2013, 12, 10, 10, 0, 0).unwrap()
    );
    assert_eq!(api.h.sent_kinds("email"), ["confirmation", "change"]);
}

#[tokio::test]
async fn without_a_version_or_lastupdated_each_request_counts_as_the_newest() {
    let api = api().await;
    let mut appointment = contained_example();
    let (status, first) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &appointment).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["meta"]["versionId"], "1");
    appointment["start"] = json!("2013-12-10T10:00:00Z");
    appointment["end"] = json!("2013-12-10T12:00:00Z");
    let (status, second) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &appointment).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["meta"]["versionId"], "2");
    // The same again: a replay, nothing new.
    let (_, third) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &appointment).await;
    assert_eq!(third["meta"]["versionId"], "2");
    assert_eq!(api.h.sent_kinds("email"), ["confirmation", "change"]);
    // `lastUpdated` orders as milliseconds: later than any small version.
    appointment["meta"] = json!({"lastUpdated": "2013-12-02T08:00:00Z"});
    appointment["start"] = json!("2013-12-10T11:00:00Z");
    appointment["end"] = json!("2013-12-10T13:00:00Z");
    let (status, fourth) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &appointment).await;
    assert_eq!(status, StatusCode::OK, "{fourth}");
    assert_eq!(fourth["meta"]["versionId"], "1385971200000000");
}

/// Review fixes: each of these failed (or panicked) before.
#[tokio::test]
async fn arrays_uuid_references_deep_checks_requests_and_huge_versions() {
    let api = api().await;
    // Arrays where objects belong: refused, never a panic.
    for body in [json!([1, 2, 3]), {
        let mut a = contained_example();
        a["meta"] = json!([null, null]);
        a
    }] {
        let (status, outcome) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/example", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    }
    // A transaction whose references are urn:uuid fullUrls, as most are.
    let mut appointment = fixture("Appointment-example");
    let names = ["Patient-example", "Practitioner-example", "Location-1"];
    let mut entries: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"fullUrl": format!("urn:uuid:0000000{i}-0000-4000-8000-000000000000"), "resource": fixture(n)}))
        .collect();
    for (i, participant) in appointment["participant"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        participant["actor"]["reference"] = json!(format!("urn:uuid:0000000{i}-0000-4000-8000-000000000000"));
    }
    // A second appointment whose patient email does not fit: the transaction saves neither.
    let mut bad = contained_example();
    bad["id"] = json!("bad");
    bad["contained"][0]["telecom"] = json!([{"system": "email", "value": "not an address"}]);
    entries.push(json!({"resource": appointment, "request": {"method": "PUT", "url": "Appointment/example"}}));
    entries.push(json!({"resource": bad, "request": {"method": "PUT", "url": "Appointment/bad"}}));
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries.clone()});
    let (status, outcome) = fhir(&api, Method::POST, "/fhir/r4", &transaction).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "Bundle.entry[4].resource.Patient.telecom"
    );
    assert_eq!(
        api.get("/v1/appointments/example").await.status,
        StatusCode::NOT_FOUND,
        "nothing saved"
    );
    entries.pop();
    entries.push(json!({"request": {"method": "DELETE", "url": "Appointment/other"}}));
    let (status, answer) = post_bundle(&api, "batch", &json!(entries)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["entry"][3]["response"]["status"], "201 Created",
        "urn:uuid references resolved"
    );
    assert_eq!(answer["entry"][4]["response"]["status"], "405", "a delete is not done");
    // A request (`proposed`) for an appointment already booked does not unbook it.
    let mut booked = contained_example();
    booked["id"] = json!("held");
    fhir(&api, Method::PUT, "/fhir/r4/Appointment/held", &booked).await;
    booked["status"] = json!("proposed");
    let (status, _) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/held", &booked).await;
    assert_eq!(status, StatusCode::OK);
    assert!(api.h.record("held").await.content.is_booked());
    assert!(api.h.sent().iter().all(|m| m.kind != "cancellation"));
    // A version past 2^53 is refused rather than locking the appointment.
    booked["meta"] = json!({"versionId": "18446744073709551615"});
    let (status, outcome) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/held", &booked).await;
    assert_eq!(
        (status, outcome["issue"][0]["expression"][0].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("Appointment.meta.versionId"))
    );
    // Two saves with the same lastUpdated apply in arrival order, as HL7's MSH-7 does.
    let mut timed = contained_example();
    timed["id"] = json!("timed");
    timed["meta"] = json!({"lastUpdated": "2013-12-02T08:00:00.250Z"});
    fhir(&api, Method::PUT, "/fhir/r4/Appointment/timed", &timed).await;
    timed["start"] = json!("2013-12-10T10:00:00Z");
    timed["end"] = json!("2013-12-10T12:00:00Z");
    let (status, saved) = fhir(&api, Method::PUT, "/fhir/r4/Appointment/timed", &timed).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["meta"]["versionId"], "1385971200250001");
}
