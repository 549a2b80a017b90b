//! A real S3-protocol server for tests: `moto` in server mode (PyPI
//! `moto[server]`, installed by `.ci/run`) on a free loopback port, one per
//! test, stopped when dropped. Not a mock of the client: `object_store`
//! speaks signed S3 requests to it over HTTP, multipart uploads included.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use ferry_server::{Config, config::BlobBackend};

use crate::WAIT;

/// How `.ci/run` installs moto; said when it is missing.
const INSTALL: &str = "python3 -m pip install \"moto[server]==5.2.1\" (.ci/run does)";

/// A running moto server with one bucket.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    pub bucket: String,
}

impl Moto {
    /// Starts moto and creates `bucket`. Panics (the test fails, never
    /// skips) if moto is not installed or does not come up.
    pub async fn start(bucket: &str) -> Self {
        // Free now; moto binds it a moment later (nothing else on this
        // machine picks ports in between but other tests asking the kernel
        // for port 0, which hands out another one).
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        // Its log goes to a file (a pipe nobody reads would fill up and
        // stall it), read back if it fails to start.
        let mut log = tempfile::tempfile().expect("temp file");
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.try_clone().expect("clone the log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 for moto ({e}); install: {INSTALL}"));
        let mut moto = Self { child, endpoint: format!("http://127.0.0.1:{port}"), bucket: bucket.to_string() };
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + 3 * WAIT;
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                use std::io::{Read as _, Seek as _};
                let mut err = String::new();
                let _ = log.rewind().and_then(|()| log.read_to_string(&mut err));
                panic!("moto exited at start ({status}): {err}\nIs it installed? {INSTALL}");
            }
            if http.get(format!("{}/moto-api/", moto.endpoint)).send().await.is_ok() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "moto did not answer on {}", moto.endpoint);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto.create_bucket().await;
        moto
    }

    /// Creates the bucket (a plain, unsigned PUT: moto does not check).
    pub async fn create_bucket(&self) {
        let url = format!("{}/{}", self.endpoint, self.bucket);
        let created = reqwest::Client::new().put(&url).send().await.expect("create the bucket");
        assert!(created.status().is_success(), "PUT {url}: {}", created.status());
    }

    /// Deletes the (empty) bucket: an S3 outage as the server sees it.
    pub async fn delete_bucket(&self) {
        let url = format!("{}/{}", self.endpoint, self.bucket);
        let deleted = reqwest::Client::new().delete(&url).send().await.expect("delete the bucket");
        assert!(deleted.status().is_success(), "DELETE {url}: {}", deleted.status());
    }

    /// The keys in the bucket.
    pub async fn keys(&self) -> Vec<String> {
        let url = format!("{}/{}?list-type=2", self.endpoint, self.bucket);
        let listing = reqwest::get(&url).await.expect("list the bucket").text().await.expect("listing");
        listing.split("<Key>").skip(1).filter_map(|k| k.split("</Key>").next()).map(str::to_string).collect()
    }

    /// Points `config` at this bucket (path-style, plain HTTP, any keys).
    pub fn configure(&self, config: &mut Config) {
        let s3 = &mut config.files.s3;
        config.files.backend = BlobBackend::S3;
        s3.bucket = self.bucket.clone();
        s3.endpoint = self.endpoint.clone();
        s3.region = "us-east-1".into();
        s3.access_key_id = "test".into();
        s3.secret_access_key = "test".into();
        s3.allow_http = true;
        s3.path_style = true;
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
