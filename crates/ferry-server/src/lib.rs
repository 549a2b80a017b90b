//! The Ferry server as a library: [`run`] serves a node on listeners the
//! caller bound, until a shutdown future resolves. The `ferry-server` binary
//! and the test kit both call it.
//!
//! Layout: [`config`] (layered settings), [`gateway`] (TCP and WebSocket
//! sessions), [`http`] (JSON API), [`hub`] (who is connected), [`service`]
//! (domain logic over the store), [`error`] (the one place errors meet the wire).

pub mod app;
pub mod bus;
pub mod cache;
pub mod config;
pub mod error;
pub mod gateway;
pub mod http;
pub mod hub;
pub mod service;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use ferry_store::{
    Store,
    sqlite::{SqliteOptions, SqliteStore},
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use config::Config;

use crate::{
    app::App,
    bus::{Bus, LocalBus},
    hub::Hub,
    service::{
        accounts::Accounts, caches::Caches, contacts::Contacts, fanout, groups::Groups, messaging::Messaging,
        notify::Notifier, presence::Presence, writer,
    },
};

/// How long shutdown waits for sessions to close before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("storage: {0}")]
    Store(#[from] ferry_store::StoreError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The sockets a node serves on, bound by the caller (port 0 allowed).
pub struct Listeners {
    pub http: TcpListener,
    pub tcp: TcpListener,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &Config) -> std::io::Result<Self> {
        Ok(Self { http: TcpListener::bind(config.http).await?, tcp: TcpListener::bind(config.tcp).await? })
    }

    /// The actual addresses (after port 0 was resolved): (http, tcp).
    pub fn local_addrs(&self) -> std::io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.http.local_addr()?, self.tcp.local_addr()?))
    }
}

/// Opens the embedded SQLite store under the data directory.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServerError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let options = SqliteOptions {
        synchronous: config.storage.synchronous.into(),
        read_connections: config.storage.read_connections,
    };
    Ok(Arc::new(SqliteStore::open(config.database_path(), options).await?))
}

/// Serves a node until `shutdown` resolves, then shuts down gracefully: stop
/// accepting, close sessions (clients are told to reconnect), commit every
/// queued message, close the store.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate().map_err(ServerError::Config)?;
    let store = open_store(&config).await?;
    let hub = Arc::new(Hub::new());
    let caches = Arc::new(Caches::new(Arc::clone(&store), &config.caches));
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(Arc::clone(&hub), Arc::clone(&caches)));
    let (fanout, fanout_task) = fanout::spawn(Arc::clone(&bus), Arc::clone(&caches));
    let stop_writer = CancellationToken::new();
    let (writer, writer_task) =
        writer::spawn(Arc::clone(&store), fanout, config.writer.max_batch, config.writer.queue, stop_writer.clone());
    let notifier = Notifier::new(Arc::clone(&store), Arc::clone(&bus), Arc::clone(&caches));
    let accounts = Accounts::new(
        Arc::clone(&store),
        Arc::clone(&bus),
        Arc::clone(&caches),
        config.auth.clone(),
        config.limits.min_password_chars,
    )
    .map_err(ServerError::Config)?;
    let app = Arc::new(App {
        messaging: Messaging::new(
            Arc::clone(&store),
            Arc::clone(&caches),
            writer,
            config.limits.clone(),
            config.social.clone(),
            config.groups.clone(),
            config.node_id,
        ),
        contacts: Contacts::new(Arc::clone(&store), Arc::clone(&bus), Arc::clone(&notifier)),
        groups: Groups::new(Arc::clone(&store), Arc::clone(&bus), notifier, config.groups.clone()),
        presence: Arc::new(Presence::new(Arc::clone(&bus), Arc::clone(&caches))),
        accounts,
        connection_slots: Arc::new(Semaphore::new(config.gateway.max_connections)),
        shutdown: CancellationToken::new(),
        connections: TaskTracker::new(),
        hub,
        bus,
        caches,
        config,
    });

    let (http_addr, tcp_addr) = listeners.local_addrs()?;
    tracing::info!(http = %http_addr, ws = %format!("ws://{http_addr}/ws"), tcp = %tcp_addr, "ferry listening");

    let tcp_task = tokio::spawn(gateway::tcp::serve(Arc::clone(&app), listeners.tcp));
    let router = http::router(Arc::clone(&app));
    let http_shutdown = app.shutdown.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(listeners.http, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
            .await
    });
    let janitor = tokio::spawn(janitor(Arc::clone(&app)));

    shutdown.await;
    tracing::info!("shutting down");
    app.shutdown.cancel();
    let _ = tcp_task.await;
    app.connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, app.connections.wait()).await.is_err() {
        tracing::warn!(left = app.connections.len(), "sessions still open after the grace period");
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, http_task).await.is_err() {
        tracing::warn!("HTTP server did not stop within the grace period");
    }
    // Every message already queued is committed before the writer stops.
    stop_writer.cancel();
    let _ = writer_task.await;
    // The writer dropped its fan-out handle; what it handed over is pushed.
    let _ = fanout_task.await;
    janitor.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Periodic housekeeping.
async fn janitor(app: app::AppRef) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        app.accounts.forget_idle_rate_limits();
    }
}
