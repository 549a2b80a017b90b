//! The Ferry server as a library: [`run`] serves a node on listeners the
//! caller bound, until a shutdown future resolves. The `ferry-server` binary
//! and the test kit both call it.
//!
//! Layout: [`config`] (layered settings), [`gateway`] (TCP and WebSocket
//! sessions), [`http`] (JSON API), [`hub`] (who is connected), [`service`]
//! (domain logic over the store), [`turn`] (the embedded STUN/TURN relay),
//! [`error`] (the one place errors meet the wire), [`migrate`] (the
//! `migrate-store` command).

pub mod app;
pub mod bus;
pub mod cache;
pub mod config;
pub mod error;
pub mod gateway;
pub mod http;
pub mod hub;
pub mod media;
pub mod migrate;
pub mod service;
pub mod turn;

#[cfg(test)]
mod testing;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use ferry_store::{
    Store,
    postgres::{PgOptions, PgStore},
    sqlite::{SqliteOptions, SqliteStore},
};
use tokio::net::TcpListener;

pub use config::Config;

use crate::{
    app::App,
    turn::{Relay, TurnSockets},
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

/// Connections the kernel queues for `accept` per listener. The default
/// (1024) overflows when thousands of clients reconnect at once after a
/// restart, and each overflowed SYN costs its client a 1 s retransmit; the
/// kernel caps this at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 8192;

/// Binds `addr` with [`LISTEN_BACKLOG`] (and SO_REUSEADDR, so a restarted
/// node rebinds at once).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The sockets a node serves on, bound by the caller (port 0 allowed).
pub struct Listeners {
    pub http: TcpListener,
    pub tcp: TcpListener,
    /// The TURN relay's, required when `calls.turn.enabled`.
    pub turn: Option<TurnSockets>,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &Config) -> std::io::Result<Self> {
        let t = &config.calls.turn;
        let turn = if t.enabled { Some(TurnSockets::bind(t.listen, t.tcp).await?) } else { None };
        Ok(Self { http: listen(config.http)?, tcp: listen(config.tcp)?, turn })
    }

    /// The actual addresses (after port 0 was resolved): (http, tcp).
    pub fn local_addrs(&self) -> std::io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.http.local_addr()?, self.tcp.local_addr()?))
    }
}

/// Opens the configured store: the embedded SQLite database under the
/// data directory, or the shared PostgreSQL database
/// (`storage.backend`).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServerError> {
    let search = config.messages.search.then(crate::service::content::search_extractor);
    if config.storage.backend == config::StoreBackend::Postgres {
        let options =
            PgOptions { max_connections: config.storage.postgres_connections, search, ..PgOptions::default() };
        return Ok(Arc::new(PgStore::connect(&config.storage.postgres_url, options).await?));
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let options = SqliteOptions {
        synchronous: config.storage.synchronous.into(),
        read_connections: config.storage.read_connections,
        log_rows: config.storage.log_rows,
        checkpoint_interval: std::time::Duration::from_millis(config.storage.checkpoint_interval_ms),
        cache_kib: config.storage.cache_mib.saturating_mul(1024),
        search,
    };
    Ok(Arc::new(SqliteStore::open(config.database_path(), options).await?))
}

/// Serves a node until `shutdown` resolves, then shuts down gracefully: stop
/// accepting, close sessions (clients are told to reconnect), commit every
/// queued message, close the store.
pub async fn run(
    mut config: Config,
    mut listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate().map_err(ServerError::Config)?;
    let turn_sockets = match (config.calls.turn.enabled, listeners.turn.take()) {
        (true, Some(sockets)) => {
            // The ICE servers handed out name the port actually bound.
            config.calls.turn.listen = sockets.local_addr()?;
            Some(sockets)
        }
        (true, None) => return Err(ServerError::Config("calls.turn.enabled, but no TURN socket was bound".into())),
        (false, _) => None,
    };
    let (app, pipeline) = App::start(config).await?;
    let relay = match turn_sockets {
        Some(sockets) => Some(
            Relay::start(
                &app.config.calls.turn,
                Arc::clone(&app.ice),
                Arc::clone(&app.turn_allocations),
                Arc::clone(&app.turn_stats),
                sockets,
            )
            .await
            .map_err(ServerError::Config)?,
        ),
        None => None,
    };

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
    app.health.start_draining();
    if app.config.drain_secs > 0 {
        tracing::info!(secs = app.config.drain_secs, "draining: /readyz answers 503, sessions stay open");
        tokio::time::sleep(Duration::from_secs(app.config.drain_secs.into())).await;
    }
    tracing::info!("shutting down");
    app.shutdown.cancel();
    if let Some(relay) = relay {
        relay.stop().await;
    }
    let _ = tcp_task.await;
    app.connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, app.connections.wait()).await.is_err() {
        tracing::warn!(left = app.connections.len(), "sessions still open after the grace period");
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, http_task).await.is_err() {
        tracing::warn!("HTTP server did not stop within the grace period");
    }
    pipeline.drain().await;
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
