//! A moto server on a free loopback port, started for the test and killed with it, and Rappel
//! on the AWS adapters against it.

#![allow(dead_code)] // each test binary uses its own part of the support

pub mod rig;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` (from `pip install "moto[server]"`, which scripts/test.sh installs;
    /// `RAPPEL_MOTO_SERVER` names another executable).
    pub fn start() -> Moto {
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

    /// An SDK configuration pointing at this server.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        sdk_at(&self.endpoint).await
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

/// An SDK configuration for an endpoint on loopback (moto, or a fault proxy in front of it).
pub async fn sdk_at(endpoint: &str) -> aws_config::SdkConfig {
    // The functions' own HTTPS client, so the tests go through it.
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(rappel_aws::sdk::https_client(
            rappel_aws::sdk::Roots::AmazonTrustServices,
        ))
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("ca-central-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
