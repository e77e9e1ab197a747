//! Any text as a patient-link token, through the real patient router over the embedded
//! adapters: never a panic or a server error; an unknown token is a 404.
#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use rappel::testing::Harness;
use std::sync::OnceLock;
use tower::ServiceExt;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let router = runtime.block_on(async {
            let h = Harness::new(Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap()).await;
            rappel::http::patient::router(h.rappel.clone())
        });
        Fixture { runtime, router }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let fixture = fixture();
    for path in [format!("/p/{token}"), format!("/p/{token}/confirm"), format!("/p/{token}/calendar.ics")] {
        let Ok(request) = Request::builder().method(if path.ends_with("/confirm") { "POST" } else { "GET" }).uri(&path).body(Body::empty()) else {
            continue;
        };
        let status = fixture.runtime.block_on(fixture.router.clone().oneshot(request)).unwrap().status();
        assert!(!status.is_server_error(), "{path}: {status}");
        if status != StatusCode::NOT_FOUND {
            // No token exists in the fixture: anything else must be a routing answer.
            assert!(matches!(status, StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST), "{path}: {status}");
        }
    }
});
