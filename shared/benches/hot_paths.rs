//! Criterion benches of the hot paths (issue 7, docs/PERFORMANCE.md): request parsing and
//! validation, the timing rules, message rendering, tokens, and the on-save service and router
//! over the in-memory adapters. Run with `cargo bench -p rappel`.

use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rappel::domain::*;
use rappel::messages::{render_email, render_text, Details, ReplyInvite};
use rappel::testing::{appointment, appointment_json, Harness, API_KEY};
use std::hint::black_box;
use tower::ServiceExt;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn parsing(c: &mut Criterion) {
    let body = serde_json::to_vec(&appointment_json(3, now() + Duration::days(3), "consult")).unwrap();
    c.bench_function("parse and validate an appointment body", |b| {
        b.iter(|| rappel::http::body::parse_json::<AppointmentContent>(black_box(&body)).unwrap())
    });
    let bad = serde_json::to_vec(&serde_json::json!({ "revision": 1, "start": "tomorrow" })).unwrap();
    c.bench_function("reject an invalid appointment body", |b| {
        b.iter(|| rappel::http::body::parse_json::<AppointmentContent>(black_box(&bad)).unwrap_err())
    });
}

fn rules(c: &mut Criterion) {
    let quiet = QuietHours::default();
    let zone = chrono_tz::America::Toronto;
    let start = now() + Duration::days(3);
    c.bench_function("reminder time", |b| {
        b.iter(|| rappel::rules::reminder_time(black_box(start), &quiet, zone))
    });
    c.bench_function("confirm, cancel and arrival windows", |b| {
        b.iter(|| {
            let n = black_box(now());
            (
                rappel::rules::check_confirm(n, start).is_ok(),
                rappel::rules::check_cancel(n, start, true).is_ok(),
                rappel::rules::check_arrive(n, start, true).is_ok(),
            )
        })
    });
}

/// A harness holding one saved appointment, three days ahead.
fn saved_appointment(rt: &tokio::runtime::Runtime) -> (Harness, AppointmentRecord) {
    let harness = rt.block_on(Harness::new(now()));
    let id = AppointmentId::parse("bench-1").unwrap();
    let (_, record) = rt
        .block_on(harness.rappel.save_appointment(
            &harness.clinic,
            id,
            appointment(1, now() + Duration::days(3), "consult"),
        ))
        .unwrap();
    (harness, record)
}

fn rendering(c: &mut Criterion) {
    let rt = runtime();
    let (harness, record) = saved_appointment(&rt);
    let url = rappel::links::patient_url("https://rappel.example.ca", &record.token);
    let details = Details::new(&harness.clinic.settings, None, &record, url.clone(), Language::Fr);
    c.bench_function("localised details of an appointment", |b| {
        b.iter(|| {
            Details::new(
                &harness.clinic.settings,
                None,
                black_box(&record),
                url.clone(),
                Language::Fr,
            )
        })
    });
    c.bench_function("render a confirmation email (HTML + text)", |b| {
        b.iter(|| render_email(MessageKind::Confirmation, black_box(&details), true))
    });
    c.bench_function("render a text message", |b| {
        b.iter(|| render_text(MessageKind::Reminder, black_box(&details), true, ReplyInvite::NONE))
    });
}

fn tokens(c: &mut Criterion) {
    c.bench_function("issue a patient token", |b| b.iter(rappel::links::new_token));
    let token = rappel::links::new_token();
    c.bench_function("check a token's shape", |b| {
        b.iter(|| rappel::links::looks_like_token(black_box(&token)))
    });
    let rt = runtime();
    let (harness, record) = saved_appointment(&rt);
    c.bench_function("resolve a token to its appointment (SQLite in memory)", |b| {
        b.iter(|| {
            rt.block_on(harness.rappel.store.appointment_by_token(black_box(&record.token)))
                .unwrap()
        })
    });
}

/// The on-save service. A move is what a busy EMR sends most: a change notice by email and text,
/// the reminder moved. Each iteration moves an appointment saved once before (not timed), so
/// every save sees the history a real appointment has, not thousands of earlier moves.
fn on_save(c: &mut Criterion) {
    let rt = runtime();
    let mut harness = rt.block_on(Harness::new(now()));
    rt.block_on(harness.configure(|s| s.sms_enabled = true));
    rt.block_on(harness.set_type("consult", Communications::Full));
    let start = now() + Duration::days(3);
    let n = std::cell::Cell::new(0u64);
    let next_id = |prefix: &str| {
        n.set(n.get() + 1);
        AppointmentId::parse(&format!("{prefix}-{}", n.get())).unwrap()
    };
    let fresh = |harness: &Harness| {
        let id = next_id("bench");
        rt.block_on(
            harness
                .rappel
                .save_appointment(&harness.clinic, id.clone(), appointment(1, start, "consult")),
        )
        .unwrap();
        id
    };
    c.bench_function("on-save service: move (change notice, reminder moved)", |b| {
        b.iter_batched(
            || fresh(&harness),
            |id| {
                let moved = appointment(2, start + Duration::hours(1), "consult");
                rt.block_on(harness.rappel.save_appointment(&harness.clinic, id, moved))
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    let id = fresh(&harness);
    let same = appointment(1, start, "consult");
    c.bench_function("on-save service: unchanged save (a retry)", |b| {
        b.iter(|| {
            rt.block_on(
                harness
                    .rappel
                    .save_appointment(&harness.clinic, id.clone(), same.clone()),
            )
            .unwrap()
        })
    });
    c.bench_function(
        "on-save service: new appointment (confirmation, reminder planned)",
        |b| {
            b.iter_batched(
                || next_id("new"),
                |id| {
                    rt.block_on(
                        harness
                            .rappel
                            .save_appointment(&harness.clinic, id, appointment(1, start, "consult")),
                    )
                    .unwrap()
                },
                BatchSize::SmallInput,
            )
        },
    );

    // The same through the EMR router: authentication, body parsing, the answer's JSON.
    let router = rappel::http::emr::router(harness.rappel.clone());
    let put = |id: &AppointmentId, revision: u64, at: DateTime<Utc>| {
        Request::put(format!("/v1/appointments/{id}"))
            .header("authorization", format!("Bearer {API_KEY}"))
            .header("content-type", "application/json")
            .body(Body::from(appointment_json(revision, at, "consult").to_string()))
            .unwrap()
    };
    c.bench_function("on-save router: PUT a move", |b| {
        b.iter_batched(
            || put(&fresh(&harness), 2, start + Duration::hours(1)),
            |request| {
                let response = rt.block_on(router.clone().oneshot(request)).unwrap();
                assert!(response.status().is_success());
            },
            BatchSize::SmallInput,
        )
    });
}

/// Providers that take every message and schedule and keep nothing: with the memory store, what
/// remains is the service's own work (planning, rendering, dispatch), no database, no I/O.
struct Accepting;

#[async_trait::async_trait]
impl rappel::ports::Mailer for Accepting {
    async fn send_email(&self, email: &rappel::ports::OutgoingEmail) -> Result<String, rappel::ports::SendError> {
        Ok(format!("mail-{}", black_box(email.html.len())))
    }
}

#[async_trait::async_trait]
impl rappel::ports::Texter for Accepting {
    async fn send_text(&self, text: &rappel::ports::OutgoingText) -> Result<String, rappel::ports::SendError> {
        Ok(format!("text-{}", black_box(text.body.len())))
    }
    async fn is_opted_out(&self, _to: &str) -> Result<bool, rappel::ports::SendError> {
        Ok(false)
    }
    async fn honour_opt_out(&self, _to: &str) -> Result<(), rappel::ports::SendError> {
        Ok(())
    }
    async fn lift_opt_out(&self, _to: &str) -> Result<(), rappel::ports::SendError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl rappel::ports::Scheduler for Accepting {
    async fn put_schedule(&self, schedule: &rappel::ports::Schedule) -> Result<(), rappel::ports::ScheduleError> {
        black_box(schedule);
        Ok(())
    }
    async fn delete_schedule(&self, name: &str) -> Result<(), rappel::ports::ScheduleError> {
        black_box(name);
        Ok(())
    }
}

/// The on-save service over the memory store and accepting providers: the budget's "warm
/// on-save service, excluding I/O".
fn on_save_in_memory(c: &mut Criterion) {
    use rappel::ports::{ClinicStore, TypeStore};
    let rt = runtime();
    let store = std::sync::Arc::new(rappel::adapters::memory::MemoryStore::new());
    let accepting = std::sync::Arc::new(Accepting);
    let rappel = rappel::services::Rappel {
        store: store.clone(),
        mailer: accepting.clone(),
        texter: accepting.clone(),
        scheduler: accepting,
        clock: std::sync::Arc::new(rappel::adapters::clock::ManualClock::new(now())),
        config: rappel::services::Config {
            public_base_url: "https://rappel.example.ca".to_owned(),
            ..rappel::services::Config::default()
        },
    };
    let mut settings = ClinicSettings::named("Clinique Bench").unwrap();
    settings.sender_email = Some(Email::parse("rdv@clinique.example.ca").unwrap());
    settings.sms_enabled = true;
    let clinic = Clinic {
        id: ClinicId::parse("bench").unwrap(),
        settings,
    };
    rt.block_on(store.put_clinic(&clinic)).unwrap();
    let full: TypeSettings = serde_json::from_value(serde_json::json!({ "communications": "full" })).unwrap();
    let consult = AppointmentType {
        code: TypeCode::parse("consult").unwrap(),
        settings: full,
    };
    rt.block_on(store.put_type(&clinic.id, &consult)).unwrap();
    let start = now() + Duration::days(3);
    let n = std::cell::Cell::new(0u64);
    let fresh = || {
        n.set(n.get() + 1);
        let id = AppointmentId::parse(&format!("memory-{}", n.get())).unwrap();
        rt.block_on(rappel.save_appointment(&clinic, id.clone(), appointment(1, start, "consult")))
            .unwrap();
        id
    };
    c.bench_function("on-save service, memory store: move", |b| {
        b.iter_batched(
            &fresh,
            |id| {
                let moved = appointment(2, start + Duration::hours(1), "consult");
                rt.block_on(rappel.save_appointment(&clinic, id, moved)).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("on-save service, memory store: new appointment", |b| b.iter(&fresh));
}

criterion_group!(benches, parsing, rules, rendering, tokens, on_save, on_save_in_memory);
criterion_main!(benches);
