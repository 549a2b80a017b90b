//! `ferry-server`: parses flags and config, sets up logging, binds the
//! listeners and runs the node until SIGINT/SIGTERM.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::Parser as _;
use ferry_server::{
    Listeners,
    config::{Command, Config, Flags},
};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let config = match Config::load(&flags) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("ferry-server: invalid configuration:\n{problems}");
            std::process::exit(2);
        }
    };
    if flags.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    if let Some(Command::MigrateStore(args)) = &flags.command {
        match ferry_server::migrate::migrate_store(&config, args).await {
            Ok(summary) => {
                print!("{}", ferry_server::migrate::report(&summary));
                return Ok(());
            }
            Err(e) => {
                eprintln!("ferry-server migrate-store: {e}");
                std::process::exit(if e.is_refusal() { 2 } else { 1 });
            }
        }
    }

    let listeners = Listeners::bind(&config).await.with_context(|| {
        let turn = &config.calls.turn;
        let turn = if turn.enabled { format!(" / TURN (calls.turn.listen) {}", turn.listen) } else { String::new() };
        format!("binding http {} / tcp {}{turn}", config.http, config.tcp)
    })?;
    tracing::info!(data_dir = %config.data_dir.display(), "starting ferry {}", env!("CARGO_PKG_VERSION"));
    ferry_server::run(config, listeners, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
