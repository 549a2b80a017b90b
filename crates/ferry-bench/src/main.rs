//! `ferry-bench`: parses flags, runs a workload, prints the summary and
//! writes `--json`. Exits non-zero when the correctness check fails.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ferry_bench::{Target, Workload, runner, workload};

/// Load generator for a Ferry server started separately.
///
/// For realistic figures start the server with cheap argon2 (setup speed) and
/// raised limits, e.g. FERRY_AUTH__ARGON2_MEMORY_KIB=1024
/// FERRY_AUTH__ARGON2_ITERATIONS=1 FERRY_AUTH__LOGIN_PER_IP_PER_MINUTE=1000000
/// FERRY_LIMITS__FRAMES_PER_SECOND=100000 FERRY_GATEWAY__MAX_CONNECTIONS=300000
/// FERRY_GROUPS__MAX_MEMBERS=5000 (see the crate README).
#[derive(Debug, Parser)]
// A flag given twice takes its last value: fresh-run.sh appends
// `--duration 1` to the setup run of a command line that may set its own.
#[command(name = "ferry-bench", version, args_override_self = true)]
struct Cli {
    #[command(flatten)]
    target: Target,
    /// Also write every figure as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Workload(Workload),
    /// Internal: one worker process of --procs (spec on stdin).
    #[command(hide = true)]
    Worker,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let workload = match cli.command {
        Command::Worker => {
            runner::worker_main().await?;
            return Ok(true);
        }
        Command::Workload(w) => w,
    };
    let outcome = workload::run(&cli.target, &workload).await?;
    println!("{outcome}");
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&outcome)?;
        std::fs::write(path, json).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(outcome.passed)
}
