//! Test support: a spawned `rappel-dev` with its own data directory and manual clock.
// Each test binary that includes this module uses a different subset of it.
#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `rappel-dev`, killed when dropped.
pub struct DevServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client for it.
    pub http: reqwest::Client,
}

impl DevServer {
    /// Spawns `rappel-dev` on a free port with a manual clock and reads the port it chose.
    pub fn start(data: &Path) -> DevServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rappel-dev"))
            .env("RAPPEL_DEV_ADDR", "127.0.0.1:0")
            .env("RAPPEL_DEV_DATA", data)
            .env("RAPPEL_DEV_CLOCK", "manual")
            .env("RAPPEL_DEV_API_KEY", "black-box-key")
            .env_remove("RAPPEL_PUBLIC_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rappel-dev");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the listening line");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        DevServer {
            child,
            base,
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth("black-box-key");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A page as text.
    pub async fn http_text(&self, path: &str) -> String {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        response.text().await.expect("body")
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn set_clock(&self, now: &str) -> Value {
        let (status, body) = self
            .call(reqwest::Method::POST, "/_dev/clock", Some(&json!({ "now": now })))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn outbox(&self) -> Vec<Value> {
        self.get("/_dev/outbox.json")
            .await
            .1
            .as_array()
            .expect("outbox array")
            .clone()
    }

    pub async fn kinds(&self, to: &str) -> Vec<String> {
        self.outbox()
            .await
            .iter()
            .filter(|e| e["to"] == to)
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// POSTs a patient action as a phone's browser would with JavaScript asking for JSON.
    pub async fn act(&self, patient_url: &str, action: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{patient_url}/{action}"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh temporary data directory.
pub fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rappel-bb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
