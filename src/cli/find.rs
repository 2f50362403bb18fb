//! `packwatch find ORDER`: the sessions of an order and where their footage is.

use std::process::ExitCode;

use clap::Args;

use super::data_dir::DataDirArgs;
use crate::store;
use crate::video::retrieve;

#[derive(Args)]
pub struct FindArgs {
    /// The order or tracking number, exactly as scanned.
    order: String,
    /// Print JSON (an array of sessions with their clips).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    source: DataDirArgs,
}

pub fn find(args: FindArgs) -> anyhow::Result<ExitCode> {
    let source = args.source.resolve()?;
    let conn = store::open_existing(&source.database())?;
    let found = retrieve::find(&conn, &args.order, &source.video())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        eprintln!("no session for order {:?}", args.order);
    } else {
        println!(
            "{:<20} {:<9} {:<10} {:<24} {:>9} {:>10}  CAMERAS",
            "STATION", "MODE", "STATUS", "STARTED", "DURATION", "WEIGHT"
        );
        for f in &found {
            let s = &f.session;
            let (duration, weight) = super::sessions::duration_and_weight(s);
            let cameras = if f.clips.is_empty() {
                "no video".to_string()
            } else {
                f.clips
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ({:.1}s{})",
                            c.camera,
                            c.duration_ms as f64 / 1000.0,
                            if c.ready { "" } else { ", not sealed yet" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "{:<20} {:<9} {:<10} {:<24} {:>9} {:>10}  {}",
                f.station.as_deref().unwrap_or("-"),
                s.kind,
                s.status,
                s.started_at,
                duration,
                weight,
                cameras
            );
            println!("  session {}", s.id);
        }
    }
    Ok(if found.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
