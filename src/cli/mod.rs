//! The `packwatch` command line: parsing, logging set-up, exit codes.
//!
//! Exit codes: 0 success; 1 a failure at run time (a device or broker `check` failed, an
//! unknown order, a demo that did not deliver); 2 a config mistake (the message names file,
//! key and fix).

mod check;
mod data_dir;
mod demo;
mod export;
mod find;
mod run;
mod sessions;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ConfigError;

#[derive(Parser)]
#[command(
    name = "packwatch",
    version,
    about = "Edge controller for e-commerce packing stations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a station: devices, recording of pack sessions, events to MQTT.
    Run {
        /// The station config (TOML).
        #[arg(long, short, value_name = "FILE")]
        station: PathBuf,
    },
    /// Validate a station config and probe its devices, broker and data dir.
    Check {
        #[arg(long, short, value_name = "FILE")]
        station: PathBuf,
    },
    /// A demo station: simulated scanner and scale pack realistic orders.
    Demo(demo::DemoArgs),
    /// List recorded sessions.
    Sessions(sessions::SessionsArgs),
    /// Find the sessions of an order and their footage.
    Find(find::FindArgs),
    /// Export an order's video as one MP4 (with its sha256).
    Export(export::ExportArgs),
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run { station } => run::run(&station),
        Command::Check { station } => check::check(&station),
        Command::Demo(args) => demo::demo(args),
        Command::Sessions(args) => sessions::sessions(args),
        Command::Find(args) => find::find(args),
        Command::Export(args) => export::export(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(config) = e.downcast_ref::<ConfigError>() {
                eprintln!("error: {config}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr; under systemd (journald) without colours and timestamps, which the journal
/// adds. The level comes from `PACKWATCH_LOG` (default `info`), in `RUST_LOG` syntax.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("PACKWATCH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.with_ansi(false).without_time().init();
    } else {
        builder.init();
    }
}

/// A multi-threaded tokio runtime for the long-running commands.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
