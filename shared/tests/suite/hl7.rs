//! HL7 v2 SIU over HTTPS (`POST /hl7/v2`): messages written from the v2.3, v2.5.1 and v2.8
//! definitions for every event Rappel acts on, with escapes, repetitions, Latin-1 names, stale and
//! out-of-order messages, and a save through JSON changed through HL7.

use axum::http::{Method, StatusCode};
use rappel::domain::Communications;
use rappel::formats::er7::Message;
use rappel::testing::{appointment_json, Harness};

use crate::http::Api;
use crate::support::{now0, t};

/// One segment with its fields at their HL7 positions (counted from 1; for MSH, from MSH-3).
fn segment(name: &str, fields: &[(usize, &str)]) -> String {
    let last = fields.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let mut values = vec![String::new(); last + 1];
    for (n, value) in fields {
        values[*n] = (*value).to_owned();
    }
    if name == "MSH" {
        // MSH-1 is the separator itself and MSH-2 the encoding characters.
        format!("MSH|^~\\&|{}", values[3..].join("|"))
    } else {
        format!("{name}|{}", values[1..].join("|"))
    }
}

fn msh(event: &str, sent: &str, control: &str, version: &str) -> String {
    segment(
        "MSH",
        &[
            (3, "EMR"),
            (4, "CLINIQUE"),
            (5, "RAPPEL"),
            (6, "RAPPEL"),
            (7, sent),
            (9, &format!("SIU^{event}^SIU_S12")),
            (10, control),
            (11, "P"),
            (12, version),
            (17, "CAN"),
            (18, "UNICODE UTF-8"),
        ],
    )
}

/// A v2.5.1 booking: timing in TQ1, the type in SCH-8, two phones and an email in PID-13.
fn s12_v251(id: &str, sent: &str, start: &str, end: &str) -> String {
    [
        msh("S12", sent, "MSG-12", "2.5.1"),
        segment(
            "SCH",
            &[
                (1, "PL-1^EMR"),
                (2, &format!("{id}^EMR")),
                (7, "ROUTINE^Routine^HL70276"),
                (8, "FU^Suivi^L"),
                (25, "Booked"),
            ],
        ),
        segment("TQ1", &[(1, "1"), (7, start), (8, end)]),
        segment(
            "PID",
            &[
                (1, "1"),
                (3, "MRN-1^^^CLINIQUE^MR"),
                (5, "Roy^Julie^^^^^L"),
                (7, "19800101"),
                (
                    13,
                    "^ORN^PH^^1^514^5550100~^NET^Internet^julie.roy@example.ca~^PRN^CP^^1^438^5550123",
                ),
                (15, "fre^French^ISO639"),
            ],
        ),
        segment("RGS", &[(1, "1"), (2, "A")]),
        segment(
            "AIS",
            &[(1, "1"), (2, "A"), (3, "FU^Suivi^L"), (4, start), (7, "30"), (8, "MIN")],
        ),
        segment("AIL", &[(1, "1"), (2, "A"), (3, "CC^^^CLINIQUE^^^^^Clinique Centre")]),
        segment(
            "AIP",
            &[
                (1, "1"),
                (2, "A"),
                (3, "1234^Tremblay^Marie^^^Dre"),
                (4, "MD^Physician"),
            ],
        ),
    ]
    .join("\r")
}

/// A message naming only the appointment (MSH and SCH-2), as cancellations often are.
fn only_sch(event: &str, sent: &str, control: &str, id: &str) -> String {
    [msh(event, sent, control, "2.5.1"), segment("SCH", &[(2, id)])].join("\r")
}

async fn post(api: &Api, message: impl Into<Vec<u8>>) -> (StatusCode, Message) {
    let answer = api.call(Method::POST, "/hl7/v2", Some(message.into())).await;
    let ack = Message::parse(answer.text().as_bytes()).unwrap_or_else(|e| panic!("{e}: {}", answer.text()));
    (answer.status, ack)
}

fn msa(ack: &Message) -> (String, String) {
    (
        ack.component("MSA", 1, 1).unwrap_or_default(),
        ack.component("MSA", 2, 1).unwrap_or_default(),
    )
}

async fn api() -> Api {
    let h = Harness::new(now0()).await;
    h.set_type("FU", Communications::Full).await;
    Api::over(h)
}

#[tokio::test]
async fn a_v2_5_1_booking_is_saved_and_acknowledged() {
    let api = api().await;
    let booking = s12_v251(
        "FIL-1",
        "20261207100000-0500",
        "20261210140000-0500",
        "20261210143000-0500",
    );
    let (status, ack) = post(&api, booking.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(msa(&ack), ("AA".to_owned(), "MSG-12".to_owned()));
    assert_eq!(ack.component("MSH", 9, 1).as_deref(), Some("ACK"));
    assert_eq!(ack.component("MSH", 5, 1).as_deref(), Some("EMR"), "back to the sender");
    let view = api.get("/v1/appointments/FIL-1").await.json();
    assert_eq!(view["start"], "2026-12-10T14:00:00-05:00");
    assert_eq!(view["status"], "booked");
    let record = api.h.record("FIL-1").await;
    let c = &record.content;
    assert_eq!(c.duration_minutes, 30);
    assert_eq!(c.type_code.as_str(), "FU");
    assert_eq!(c.professional.display_name.as_str(), "Dre Marie Tremblay");
    assert_eq!(
        c.location.as_ref().and_then(|l| l.name.as_ref()).map(|n| n.as_str()),
        Some("Clinique Centre")
    );
    assert_eq!(
        c.patient.email.as_ref().map(|e| e.as_str()),
        Some("julie.roy@example.ca")
    );
    assert_eq!(
        c.patient.mobile.as_ref().map(|m| m.as_str()),
        Some("+14385550123"),
        "the mobile, not the work phone"
    );
    assert_eq!(c.patient.language, Some(rappel::domain::Language::Fr));
    assert_eq!(c.modality, rappel::domain::Modality::InPerson);
    assert_eq!(api.h.sent_kinds("email"), ["confirmation"]);
    // The same message again: acknowledged, nothing sent twice.
    let (_, ack) = post(&api, booking).await;
    assert_eq!(msa(&ack).0, "AA");
    assert_eq!(api.h.sent_kinds("email"), ["confirmation"]);
}

#[tokio::test]
async fn reschedules_in_v2_8_and_v2_3_shapes_and_stale_messages_change_nothing() {
    let api = api().await;
    post(
        &api,
        s12_v251("FIL-2", "20261207100000", "20261210140000", "20261210143000"),
    )
    .await;
    // v2.8 (no SCH-11; TQ1 only), S13 an hour later; times without an offset are the clinic's.
    let s13 = s12_v251("FIL-2", "20261207110000", "20261210150000", "20261210154500")
        .replace("SIU^S12^SIU_S12", "SIU^S13^SIU_S13")
        .replace("|2.5.1|", "|2.8|");
    let (_, ack) = post(&api, s13).await;
    assert_eq!(msa(&ack).0, "AA");
    let view = api.get("/v1/appointments/FIL-2").await.json();
    assert_eq!(view["start"], "2026-12-10T15:00:00-05:00");
    assert_eq!(api.h.record("FIL-2").await.content.duration_minutes, 45);
    assert_eq!(api.h.sent_kinds("email"), ["confirmation", "change"]);
    // v2.3 (no TQ1: SCH-11.4 start, SCH-9/10 duration), S14 with another professional, but
    // older than the S13: acknowledged, no effect.
    let s14_v23 = [
        msh("S14", "20261207103000", "MSG-14", "2.3"),
        segment(
            "SCH",
            &[
                (1, "PL-1"),
                (2, "FIL-2"),
                (8, "FU"),
                (9, "1"),
                (10, "H"),
                (11, "^^60^20261210160000"),
            ],
        ),
        segment(
            "PID",
            &[(1, "1"), (5, "Roy^Julie"), (13, "^NET^Internet^julie.roy@example.ca")],
        ),
        segment("AIP", &[(1, "1"), (3, "99^Gagnon^Luc^^^Dr")]),
    ]
    .join("\r");
    let (_, ack) = post(&api, s14_v23.clone()).await;
    assert_eq!(msa(&ack).0, "AA");
    assert_eq!(
        api.get("/v1/appointments/FIL-2").await.json()["start"],
        "2026-12-10T15:00:00-05:00"
    );
    // The same S14 sent after it (newer): applied, from SCH-11 and SCH-9/10.
    let (_, ack) = post(&api, s14_v23.replace("20261207103000", "20261207120000")).await;
    assert_eq!(msa(&ack).0, "AA");
    let record = api.h.record("FIL-2").await;
    let four_pm = chrono::DateTime::parse_from_rfc3339("2026-12-10T16:00:00-05:00").unwrap();
    assert_eq!(record.content.start(), four_pm);
    assert_eq!(record.content.duration_minutes, 60);
    assert_eq!(record.content.professional.display_name.as_str(), "Dr Luc Gagnon");
    assert_eq!(api.h.sent_kinds("email"), ["confirmation", "change", "change"]);
    // Same MSH-7 as the stored save, other content: applied after it, in arrival order.
    let same_time = s14_v23
        .replace("20261207103000", "20261207120000")
        .replace("20261210160000", "20261210170000");
    post(&api, same_time).await;
    assert_eq!(
        api.get("/v1/appointments/FIL-2").await.json()["start"],
        "2026-12-10T17:00:00-05:00"
    );
}

#[tokio::test]
async fn cancellations_discontinuations_deletions_and_no_shows() {
    let api = api().await;
    for id in ["FIL-15", "FIL-16", "FIL-17"] {
        post(&api, s12_v251(id, "20261207100000", "20261210140000", "20261210143000")).await;
    }
    for (id, event) in [("FIL-15", "S15"), ("FIL-16", "S16"), ("FIL-17", "S17")] {
        // Only MSH and SCH: the stored appointment, cancelled.
        let cancel = [
            msh(event, "20261207110000", &format!("C-{event}"), "2.5.1"),
            segment("SCH", &[(2, id)]),
        ]
        .join("\n");
        let (_, ack) = post(&api, cancel).await;
        assert_eq!(msa(&ack), ("AA".to_owned(), format!("C-{event}")));
        assert_eq!(
            api.get(&format!("/v1/appointments/{id}")).await.json()["status"],
            "cancelled",
            "{event}"
        );
    }
    assert_eq!(
        api.h
            .sent_kinds("email")
            .iter()
            .filter(|k| *k == "cancellation")
            .count(),
        3
    );
    // A cancellation of an appointment never seen: nothing to do.
    let (_, ack) = post(&api, only_sch("S15", "20261207110000", "C-X", "NEVER")).await;
    assert_eq!(msa(&ack).0, "AA");
    assert_eq!(api.get("/v1/appointments/NEVER").await.status, StatusCode::NOT_FOUND);
    // A no-show, after the appointment's time: recorded, nothing sent.
    post(
        &api,
        s12_v251("FIL-26", "20261207100000", "20261210140000", "20261210143000"),
    )
    .await;
    let sent_before = api.h.sent().len();
    api.h.advance_to(t() + chrono::Duration::hours(2)).await;
    let sent_by_then = api.h.sent().len();
    let (_, ack) = post(&api, only_sch("S26", "20261210160000", "NS-1", "FIL-26")).await;
    assert_eq!(msa(&ack).0, "AA");
    assert_eq!(api.get("/v1/appointments/FIL-26").await.json()["status"], "cancelled");
    assert_eq!(api.h.sent().len(), sent_by_then, "nothing sent for a no-show");
    assert!(sent_by_then >= sent_before);
}

#[tokio::test]
async fn escapes_repetitions_and_latin1_names_reach_the_patient_as_written() {
    let api = api().await;
    // Latin-1 bytes, declared in MSH-18; an escaped separator in the professional's name.
    let text = s12_v251("FIL-L1", "20261207100000", "20261210140000", "20261210143000")
        .replace("UNICODE UTF-8", "8859/1")
        .replace("Roy^Julie", "Bélanger^Hélène")
        .replace("1234^Tremblay^Marie^^^Dre", "1234^Côté\\T\\Fils^François^^^Dr");
    let bytes: Vec<u8> = text.chars().map(|c| u8::try_from(u32::from(c)).unwrap()).collect();
    let (_, ack) = post(&api, bytes).await;
    assert_eq!(msa(&ack).0, "AA", "{:?}", ack.component("ERR", 8, 1));
    let record = api.h.record("FIL-L1").await;
    assert_eq!(record.content.patient.first_name.as_str(), "Hélène");
    assert_eq!(record.content.patient.last_name.as_str(), "Bélanger");
    assert_eq!(
        record.content.professional.display_name.as_str(),
        "Dr François Côté&Fils"
    );
    let email = api.h.sent().into_iter().find(|m| m.channel == "email").unwrap();
    assert!(email.text.contains("Bonjour Hélène"), "{}", email.text);
    // Hex-escaped UTF-8 in a UTF-8 message.
    let text = s12_v251("FIL-L2", "20261207100000", "20261210140000", "20261210143000")
        .replace("Roy^Julie", "Roy^Jos\\XC3A9\\e");
    post(&api, text).await;
    assert_eq!(
        api.h.record("FIL-L2").await.content.patient.first_name.as_str(),
        "Josée"
    );
}

#[tokio::test]
async fn a_json_save_changed_through_hl7() {
    let api = api().await;
    let saved = api.put("/v1/appointments/MIX-1", &appointment_json(1, t(), "FU")).await;
    assert_eq!(saved.status, StatusCode::CREATED);
    let (_, ack) = post(
        &api,
        s12_v251("MIX-1", "20261207110000", "20261210150000", "20261210153000").replace("SIU^S12", "SIU^S13"),
    )
    .await;
    assert_eq!(msa(&ack).0, "AA");
    assert_eq!(
        api.get("/v1/appointments/MIX-1").await.json()["start"],
        "2026-12-10T15:00:00-05:00"
    );
    assert_eq!(api.h.sent_kinds("email"), ["confirmation", "change"]);
}

#[tokio::test]
async fn what_does_not_fit_is_answered_ae_or_ar_naming_the_field() {
    let api = api().await;
    // No patient name: AE, ERR at PID-5.
    let no_name =
        s12_v251("FIL-E1", "20261207100000", "20261210140000", "20261210143000").replace("Roy^Julie^^^^^L", "");
    let (status, ack) = post(&api, no_name).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(msa(&ack), ("AE".to_owned(), "MSG-12".to_owned()));
    assert_eq!(
        (
            ack.component("ERR", 2, 1).as_deref(),
            ack.component("ERR", 2, 3).as_deref()
        ),
        (Some("PID"), Some("5"))
    );
    assert_eq!(
        api.get("/v1/appointments/FIL-E1").await.status,
        StatusCode::NOT_FOUND,
        "nothing stored"
    );
    // A bad email: AE at PID-13. A phone that is no mobile is left out, never refused.
    let bad_email = s12_v251("FIL-E2", "20261207100000", "20261210140000", "20261210143000")
        .replace("julie.roy@example.ca", "not-an-address")
        .replace("^PRN^CP^^1^438^5550123", "^PRN^CP^^1^999^1");
    let (_, ack) = post(&api, bad_email).await;
    assert_eq!(
        (
            ack.component("ERR", 2, 1).as_deref(),
            ack.component("ERR", 2, 3).as_deref()
        ),
        (Some("PID"), Some("13"))
    );
    let no_mobile = s12_v251("FIL-E3", "20261207100000", "20261210140000", "20261210143000")
        .replace("^PRN^CP^^1^438^5550123", "^PRN^CP^^1^999^1");
    assert_eq!(msa(&post(&api, no_mobile).await.1).0, "AA");
    assert_eq!(api.h.record("FIL-E3").await.content.patient.mobile, None);
    // Not a SIU, not an event Rappel acts on, not HL7: AR.
    let adt = s12_v251("FIL-E4", "20261207100000", "20261210140000", "20261210143000")
        .replace("SIU^S12^SIU_S12", "ADT^A01^ADT_A01");
    let (_, ack) = post(&api, adt).await;
    assert_eq!(msa(&ack).0, "AR");
    assert_eq!(ack.component("ERR", 3, 1).as_deref(), Some("201"));
    let s18 = s12_v251("FIL-E5", "20261207100000", "20261210140000", "20261210143000").replace("SIU^S12", "SIU^S18");
    assert_eq!(msa(&post(&api, s18).await.1).0, "AR");
    let (status, ack) = post(&api, "{\"not\": \"hl7\"}").await;
    assert_eq!((status, msa(&ack).0.as_str()), (StatusCode::OK, "AR"));
    // The key decides the clinic, as for JSON.
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/hl7/v2")
        .body(axum::body::Body::from(s12_v251(
            "FIL-E6",
            "20261207100000",
            "20261210140000",
            "20261210143000",
        )))
        .unwrap();
    assert_eq!(api.send(request).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_video_link_in_a_note_makes_a_telemedicine_visit() {
    let api = api().await;
    let message = format!(
        "{}\rNTE|1||Rejoindre la visite : https://video.example.ca/salle/9?code=a\\T\\b.",
        s12_v251("FIL-V1", "20261207100000", "20261210140000", "20261210143000")
    );
    let (_, ack) = post(&api, message).await;
    assert_eq!(msa(&ack).0, "AA", "{:?}", ack.component("ERR", 8, 1));
    let record = api.h.record("FIL-V1").await;
    assert_eq!(record.content.modality, rappel::domain::Modality::Telemedicine);
    assert_eq!(
        record
            .content
            .telemedicine_url
            .map(|u| u.as_str().to_owned())
            .as_deref(),
        Some("https://video.example.ca/salle/9?code=a&b")
    );
    // Without one, the type's modality setting (here none: in person).
    post(
        &api,
        s12_v251("FIL-V2", "20261207100000", "20261210140000", "20261210143000"),
    )
    .await;
    assert_eq!(
        api.h.record("FIL-V2").await.content.modality,
        rappel::domain::Modality::InPerson
    );
    // A type whose visits happen by phone.
    let put = api
        .put(
            "/v1/appointment-types/FU",
            &serde_json::json!({"communications": "full", "modality": "phone"}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text());
    post(
        &api,
        s12_v251("FIL-V3", "20261207100000", "20261210140000", "20261210143000"),
    )
    .await;
    assert_eq!(
        api.h.record("FIL-V3").await.content.modality,
        rappel::domain::Modality::Phone
    );
}

#[tokio::test]
async fn a_bad_link_in_a_note_is_left_out_and_fractions_of_seconds_order_messages() {
    let api = api().await;
    let message = format!(
        "{}\rNTE|1||Lien : https:// (invalide)",
        s12_v251("FIL-B1", "20261207100000.1", "20261210140000", "20261210143000")
    );
    let (_, ack) = post(&api, message).await;
    assert_eq!(msa(&ack).0, "AA", "{:?}", ack.component("ERR", 8, 1));
    assert_eq!(
        api.h.record("FIL-B1").await.content.modality,
        rappel::domain::Modality::InPerson
    );
    // 0.5 s later in the same second: newer, so applied.
    let later =
        s12_v251("FIL-B1", "20261207100000.6", "20261210150000", "20261210153000").replace("SIU^S12", "SIU^S13");
    post(&api, later).await;
    assert_eq!(
        api.get("/v1/appointments/FIL-B1").await.json()["start"],
        "2026-12-10T15:00:00-05:00"
    );
    // 0.3 s: older than the stored 0.6 s, so no effect.
    let older =
        s12_v251("FIL-B1", "20261207100000.3", "20261210160000", "20261210163000").replace("SIU^S12", "SIU^S14");
    post(&api, older).await;
    assert_eq!(
        api.get("/v1/appointments/FIL-B1").await.json()["start"],
        "2026-12-10T15:00:00-05:00"
    );
}

#[tokio::test]
async fn a_store_failure_answers_503_with_an_ar_and_the_same_message_again_completes_once() {
    let api = api().await;
    let booking = s12_v251("FIL-503", "20261207100000", "20261210140000", "20261210143000");
    api.h.store.failures.store(1, std::sync::atomic::Ordering::SeqCst);
    let answer = api
        .call(Method::POST, "/hl7/v2", Some(booking.clone().into_bytes()))
        .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("30")
    );
    let ack = Message::parse(answer.text().as_bytes()).unwrap();
    assert_eq!(msa(&ack), ("AR".to_owned(), "MSG-12".to_owned()));
    assert_eq!(ack.component("ERR", 3, 1).as_deref(), Some("207"));
    // The sender sends it again: saved, one confirmation.
    let (status, ack) = post(&api, booking).await;
    assert_eq!((status, msa(&ack).0.as_str()), (StatusCode::OK, "AA"));
    assert_eq!(api.h.sent_kinds("email"), ["confirmation"]);
}
