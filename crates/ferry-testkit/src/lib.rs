//! Dev-only test kit: start a real Ferry server on `127.0.0.1:0` with a
//! temporary data directory, create users, and connect real clients — so
//! integration tests read like scenarios.
//!
//! ```no_run
//! # async fn scenario() {
//! # use ferry_testkit::TestServer;
//! let server = TestServer::start().await;
//! let alice = server.user("alice").await;
//! let (client, mut events) = alice.connect_tcp().await;
//! # }
//! ```
//!
//! This file is the core: the server, its users and the settings they run
//! with. The helpers tests share live in modules named for what they drive:
//!
//! - [`sdk`]: waiting on the SDK client's events, reading its errors;
//! - [`raw`]: the SDK's [`RawConnection`], frame by frame;
//! - [`wire`]: a bare TCP stream, byte by byte;
//! - [`ws`]: a bare WebSocket, message by message;
//! - [`frames`]: building frames (and hand-encoding broken ones), reading answers;
//! - [`http`]: raw HTTP calls with statuses and JSON bodies as sent;
//! - [`files`]: file uploads (one request and tus) and downloads over raw HTTP;
//! - [`s3`]: a real S3-protocol server (moto) for the S3 blob backend;
//! - [`postgres`]: a real PostgreSQL server and a fresh database per test;
//! - [`redis`]: a real Redis server for the cluster bus;
//! - [`contacts`]: contact and direct-message steps over raw HTTP;
//! - [`ids`]: conversation ids in their wire form;
//! - [`proxy`]: a TCP proxy that cuts a connection on request;
//! - [`health`]: checks that a server still serves after abuse.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use ferry_client::{Client, ClientConfig, EventReceiver, HttpApi, RawConnection, v1};
use ferry_server::{Config, Listeners, ServerError, turn::TurnSockets};
use tempfile::TempDir;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub mod contacts;
pub mod files;
pub mod frames;
pub mod health;
pub mod http;
pub mod ids;
pub mod postgres;
pub mod proxy;
pub mod raw;
pub mod redis;
pub mod s3;
pub mod sdk;
pub mod wire;
pub mod ws;

pub use ferry_client::content::text_of;
pub use sdk::next_message;

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// Upper bound on any single wait in a test: a healthy server answers in
/// milliseconds, so reaching it means something is stuck, not slow.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running server. Dropping it stops the server (abruptly); use
/// [`TestServer::stop`] for a graceful shutdown.
pub struct TestServer {
    pub config: Config,
    pub http_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    /// The embedded TURN relay's address (UDP, and TCP on the same port
    /// with `calls.turn.tcp`), when `calls.turn.enabled`.
    pub turn_addr: Option<SocketAddr>,
    data: Arc<TempDir>,
    stop: CancellationToken,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

/// A registered and logged-in user.
#[derive(Clone)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub token: String,
    pub device_id: String,
    /// HTTP API authorised with this user's token.
    pub http: HttpApi,
    tcp_url: String,
    ws_url: String,
}

/// Logs once per test binary, filtered by `FERRY_TEST_LOG` (default: warnings).
fn init_tracing() {
    let filter = std::env::var("FERRY_TEST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// Settings for tests: real argon2id with small costs, generous rate limits,
/// short timeouts where a test waits on them.
pub fn test_config() -> Config {
    let mut c = Config {
        http: "127.0.0.1:0".parse().expect("literal"),
        tcp: "127.0.0.1:0".parse().expect("literal"),
        ..Config::default()
    };
    c.auth.argon2_memory_kib = 1024;
    c.auth.argon2_iterations = 1;
    c.auth.login_per_ip_per_minute = 100_000;
    c.auth.register_per_ip_per_minute = 100_000;
    c.auth.login_per_username_per_minute = 1_000;
    c.storage.synchronous = ferry_server::config::Synchronous::Normal;
    // Relay sockets bind the listen address, so relayed traffic stays on loopback.
    c.calls.turn.listen = "127.0.0.1:0".parse().expect("literal");
    c
}

impl TestServer {
    /// Starts a server with [`test_config`].
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with [`test_config`] adjusted by `f`.
    pub async fn start_with(f: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config();
        f(&mut config);
        let data = Arc::new(tempfile::tempdir().expect("temp dir"));
        Self::launch(config, data).await
    }

    /// Starts a second node on this one's data directory, both running at
    /// once with their own SQLite connections to the one database, the way
    /// nodes of a cluster share a store: for what every node reads from the
    /// store (accounts, sessions, server secrets). Not for messaging: each
    /// node keeps its own in-memory index of the message log.
    pub async fn start_sharing(&self, f: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.config.clone();
        config.http = "127.0.0.1:0".parse().expect("literal");
        config.tcp = "127.0.0.1:0".parse().expect("literal");
        config.calls.turn.listen = "127.0.0.1:0".parse().expect("literal");
        config.node_id = (self.config.node_id + 1) % 1024;
        f(&mut config);
        Self::launch(config, Arc::clone(&self.data)).await
    }

    async fn launch(mut config: Config, data: Arc<TempDir>) -> Self {
        init_tracing();
        config.data_dir = data.path().to_path_buf();
        let http = TcpListener::bind(config.http).await.expect("bind http");
        let tcp = TcpListener::bind(config.tcp).await.expect("bind tcp");
        let (http_addr, tcp_addr) = (http.local_addr().expect("addr"), tcp.local_addr().expect("addr"));
        // Restarts reuse the same ports, as a real restarted node would.
        config.http = http_addr;
        config.tcp = tcp_addr;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let turn = if config.calls.turn.enabled {
            let sockets = TurnSockets::bind(config.calls.turn.listen, config.calls.turn.tcp).await.expect("bind TURN");
            config.calls.turn.listen = sockets.local_addr().expect("addr");
            Some(sockets)
        } else {
            None
        };
        let turn_addr = turn.as_ref().map(|_| config.calls.turn.listen);
        let task = tokio::spawn(ferry_server::run(config.clone(), Listeners { http, tcp, turn }, async move {
            stopped.cancelled().await
        }));
        let server = Self { config, http_addr, tcp_addr, turn_addr, data, stop, task: Some(task) };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let api = HttpApi::new(self.http_url()).expect("http client");
        for _ in 0..200 {
            if api.healthz().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server did not become ready");
    }

    /// The base URL of the HTTP API (`http://127.0.0.1:<port>`).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }
    /// The WebSocket endpoint (`ws://127.0.0.1:<port>/ws`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.http_addr)
    }
    /// The TCP listener (`tcp://127.0.0.1:<port>`).
    pub fn tcp_url(&self) -> String {
        format!("tcp://{}", self.tcp_addr)
    }
    /// The temporary data directory, kept across restarts.
    pub fn data_dir(&self) -> PathBuf {
        self.data.path().to_path_buf()
    }

    /// An unauthenticated HTTP client.
    pub fn http(&self) -> HttpApi {
        HttpApi::new(self.http_url()).expect("http client")
    }

    /// Stops gracefully (sessions closed, queued messages committed).
    pub async fn stop(mut self) -> (Config, Arc<TempDir>) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server run");
        }
        (self.config.clone(), Arc::clone(&self.data))
    }

    /// Stops gracefully and starts again on the same data and ports.
    pub async fn restart(self) -> Self {
        let (config, data) = self.stop().await;
        Self::launch(config, data).await
    }

    /// Registers `name` and logs in on a new `cli` device.
    pub async fn user(&self, name: &str) -> TestUser {
        self.http().register(name, PASSWORD, None).await.expect("register");
        self.login(name).await
    }

    /// Logs `name` in again: a new device with its own token.
    pub async fn login(&self, name: &str) -> TestUser {
        self.login_on(name, "cli").await
    }

    /// Logs `name` in on `platform` (a new device).
    pub async fn login_on(&self, name: &str, platform: &str) -> TestUser {
        let login = self.http().login(name, PASSWORD, platform, None).await.expect("login");
        TestUser {
            id: login.user.id,
            username: login.user.username,
            http: self.http().with_token(login.token.clone()),
            token: login.token,
            device_id: login.device_id,
            tcp_url: self.tcp_url(),
            ws_url: self.ws_url(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestUser {
    /// A client config for `url` with this user's token and quick reconnects.
    pub fn client_config(&self, url: &str) -> ClientConfig {
        let mut c = ClientConfig::new(url, self.token.clone());
        c.reconnect_min = Duration::from_millis(20);
        c.reconnect_max = Duration::from_millis(500);
        c
    }

    /// Connects the SDK client over TCP.
    pub async fn connect_tcp(&self) -> (Client, EventReceiver) {
        Client::connect(self.client_config(&self.tcp_url)).await.expect("connect tcp")
    }

    /// Connects the SDK client over WebSocket (binary frames).
    pub async fn connect_ws(&self) -> (Client, EventReceiver) {
        Client::connect(self.client_config(&self.ws_url)).await.expect("connect ws")
    }

    /// Connects the SDK client over WebSocket with proto3-JSON text frames.
    pub async fn connect_ws_json(&self) -> (Client, EventReceiver) {
        let mut c = self.client_config(&self.ws_url);
        c.json = true;
        Client::connect(c).await.expect("connect ws json")
    }

    /// A raw authenticated TCP connection (no reconnect, no automation).
    pub async fn raw_tcp(&self) -> (RawConnection, v1::AuthOk) {
        RawConnection::connect(&self.tcp_url, false, &self.token).await.expect("raw tcp")
    }

    /// The server's TCP URL, for this user's clients.
    pub fn tcp_url(&self) -> &str {
        &self.tcp_url
    }
    /// The server's WebSocket URL, for this user's clients.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }
}
