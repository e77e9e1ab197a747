//! Load run (not part of the test suite): drives a fresh `rappel-dev` with many appointments and
//! their reminders on a manual clock, then counts what was sent. Prints lost and duplicated
//! messages (both must be 0) and throughput.
//!
//! ```sh
//! cargo build --release --bin rappel-dev
//! cargo run --release -p rappel-lambda-bench --example load -- 10000
//! ```

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

const CONCURRENCY: usize = 32;

#[tokio::main]
async fn main() {
    let total: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let bin = std::env::var("RAPPEL_DEV_BIN").unwrap_or_else(|_| "target/release/rappel-dev".to_owned());
    let data = std::env::temp_dir().join(format!("rappel-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut child = Command::new(&bin)
        .env("RAPPEL_DEV_ADDR", "127.0.0.1:0")
        .env("RAPPEL_DEV_DATA", &data)
        .env("RAPPEL_DEV_CLOCK", "manual")
        .env("RAPPEL_DEV_API_KEY", "load-key")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e} (build it with cargo build --release --bin rappel-dev)"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let call =
        |method: reqwest::Method, path: &str| http.request(method, format!("{base}{path}")).bearer_auth("load-key");

    // Monday 2030-01-07 10:00 in Toronto; appointments spread over the next week, every 10 minutes.
    call(reqwest::Method::POST, "/_dev/clock")
        .json(&json!({"now": "2030-01-07T15:00:00Z"}))
        .send()
        .await
        .unwrap();
    call(reqwest::Method::PUT, "/v1/appointment-types/LOAD")
        .json(&json!({"communications": "full"}))
        .send()
        .await
        .unwrap();
    let t0 = chrono::DateTime::parse_from_rfc3339("2030-01-09T13:00:00Z").unwrap();
    let bodies: Vec<(String, Value)> = (0..total)
        .map(|i| {
            let start = t0 + chrono::Duration::minutes(10 * (i as i64 % 720));
            (
                format!("L{i}"),
                json!({
                    "revision": 1, "start": start.to_rfc3339(), "duration_minutes": 15, "type_code": "LOAD",
                    "modality": "phone", "professional": {"display_name": "Dr Charge"},
                    "patient": {"first_name": "P", "last_name": format!("{i}"), "email": format!("p{i}@load.example.ca")}
                }),
            )
        })
        .collect();

    let started = Instant::now();
    let queue = Arc::new(tokio::sync::Mutex::new(bodies.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (queue, http, base) = (queue.clone(), http.clone(), base.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some((id, body)) = queue.lock().await.next() else {
                    break;
                };
                let sent = Instant::now();
                let response = http
                    .put(format!("{base}/v1/appointments/{id}"))
                    .bearer_auth("load-key")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201, "{id}");
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let saving = started.elapsed();
    latencies.sort();

    let fired = Instant::now();
    let moved = call(reqwest::Method::POST, "/_dev/clock")
        .json(&json!({"now": "2030-01-20T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let moved: Value = moved.json().await.unwrap();
    let firing = fired.elapsed();

    let outbox: Vec<Value> = call(reqwest::Method::GET, "/_dev/outbox.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for entry in &outbox {
        *counts
            .entry((
                entry["to"].as_str().unwrap().to_owned(),
                entry["kind"].as_str().unwrap().to_owned(),
            ))
            .or_default() += 1;
    }
    let mut lost = 0;
    let mut duplicated = 0;
    for i in 0..total {
        for kind in ["confirmation", "reminder"] {
            match counts
                .get(&(format!("p{i}@load.example.ca"), kind.to_owned()))
                .copied()
                .unwrap_or(0)
            {
                0 => lost += 1,
                1 => {}
                n => duplicated += n - 1,
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);

    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!("appointments: {total}, concurrency {CONCURRENCY}");
    println!(
        "saves: {:.0}/s over {:.2?} (p50 {:.2?}, p99 {:.2?})",
        total as f64 / saving.as_secs_f64(),
        saving,
        p(0.5),
        p(0.99)
    );
    println!(
        "reminders fired by one clock move: {} in {:.2?} ({:.0}/s)",
        moved["fired"],
        firing,
        moved["fired"].as_f64().unwrap_or(0.0) / firing.as_secs_f64()
    );
    println!("messages: {} sent, {lost} lost, {duplicated} duplicated", outbox.len());
    if lost + duplicated > 0 {
        std::process::exit(1);
    }
}
