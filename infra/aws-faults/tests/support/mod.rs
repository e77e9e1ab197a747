//! A moto server on a free loopback port, started for the tests and killed with the last of them,
//! and SDK configurations pointing at it or at a proxy in front of it.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

static SHARED: Mutex<Weak<Moto>> = Mutex::new(Weak::new());

impl Moto {
    /// The moto server the running tests share, started if none is (`RAPPEL_MOTO_SERVER` names
    /// the executable; `moto_server` by default). Each test uses its own table and names.
    pub fn shared() -> Arc<Moto> {
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(moto) = shared.upgrade() {
            return moto;
        }
        let moto = Arc::new(Moto::start());
        *shared = Arc::downgrade(&moto);
        moto
    }

    fn start() -> Moto {
        let program = std::env::var("RAPPEL_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program} ({e}): run scripts/test.sh, which installs moto[server]")
            });
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// Everything moto holds, as `/moto-api/data.json` shows it.
    pub async fn data(&self) -> serde_json::Value {
        reqwest::get(format!("{}/moto-api/data.json", self.endpoint))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SDK configuration for `endpoint` (moto, or a proxy in front of it) with `retry`.
pub async fn sdk(endpoint: &str, retry: RetryConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("ca-central-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "t"))
        .retry_config(retry)
        .load()
        .await
}

/// One attempt per call: what the SDK makes of exactly one answer.
pub async fn sdk_one_attempt(endpoint: &str) -> SdkConfig {
    sdk(endpoint, RetryConfig::disabled()).await
}
