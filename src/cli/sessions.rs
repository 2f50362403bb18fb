//! `packwatch sessions`: the recorded sessions, newest first, as a table or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::StationConfig;
use crate::store::{self, sessions};

#[derive(Args)]
pub struct SessionsArgs {
    /// Only the sessions of this order or tracking number.
    #[arg(long)]
    order: Option<String>,
    /// Print JSON (an array of sessions).
    #[arg(long)]
    json: bool,
    /// At most this many sessions.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// The station config (its data dir is read).
    #[arg(
        long,
        short,
        value_name = "FILE",
        conflicts_with = "data_dir",
        required_unless_present = "data_dir"
    )]
    station: Option<PathBuf>,
    /// A station's data dir (or a copy of it).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub fn sessions(args: SessionsArgs) -> anyhow::Result<ExitCode> {
    let database = match (&args.station, &args.data_dir) {
        (Some(station), _) => StationConfig::load(station)?.database_path(),
        (None, Some(dir)) => dir.join("packwatch.db"),
        (None, None) => anyhow::bail!("give --station FILE or --data-dir DIR"),
    };
    let conn = store::open_existing(&database)?;
    let rows = sessions::list(&conn, args.order.as_deref(), args.limit)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no sessions");
    } else {
        println!(
            "{:<24} {:<10} {:<9} {:<24} {:>9} {:>10} {:>5}",
            "ORDER", "KIND", "STATUS", "STARTED", "DURATION", "WEIGHT", "ITEMS"
        );
        for r in &rows {
            let duration = r
                .duration_ms
                .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                .unwrap_or_else(|| "open".into());
            let weight = r
                .weight_g
                .map(|w| format!("{w:.1} g"))
                .unwrap_or_else(|| "-".into());
            println!(
                "{:<24} {:<10} {:<9} {:<24} {:>9} {:>10} {:>5}",
                r.order, r.kind, r.status, r.started_at, duration, weight, r.item_count
            );
        }
    }
    if rows.is_empty() && args.order.is_some() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
