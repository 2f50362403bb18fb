//! `packwatch sessions`: the recorded sessions, newest first, as a table or JSON.

use std::process::ExitCode;

use clap::Args;

use super::data_dir::DataDirArgs;
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
    #[command(flatten)]
    source: DataDirArgs,
}

pub fn sessions(args: SessionsArgs) -> anyhow::Result<ExitCode> {
    let conn = store::open_existing(&args.source.resolve()?.database())?;
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
            let (duration, weight) = duration_and_weight(r);
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

/// A session's duration and weight as the tables print them.
pub(super) fn duration_and_weight(r: &sessions::SessionRow) -> (String, String) {
    let duration = r
        .duration_ms
        .map(|d| format!("{:.1}s", d as f64 / 1000.0))
        .unwrap_or_else(|| "open".into());
    let weight = r
        .weight_g
        .map(|w| format!("{w:.1} g"))
        .unwrap_or_else(|| "-".into());
    (duration, weight)
}
