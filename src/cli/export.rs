//! `packwatch export ORDER`: one MP4 of an order's session, with its sha256.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::data_dir::DataDirArgs;
use crate::store;
use crate::video::retrieve;

#[derive(Args)]
pub struct ExportArgs {
    /// The order or tracking number, exactly as scanned.
    order: String,
    /// Where to write the MP4 (default: `exports/` in the data dir).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Which camera (default: the first that recorded the session).
    #[arg(long, value_name = "NAME")]
    camera: Option<String>,
    /// Which session, when the order was packed more than once (default: the newest).
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// Draw order, station, time and weight into the picture (re-encodes; for cameras
    /// recorded without re-encoding, whose footage has no overlay).
    #[arg(long)]
    burn_in: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    source: DataDirArgs,
}

pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let source = args.source.resolve()?;
    let conn = store::open_existing(&source.database())?;
    let choice = match retrieve::choose(
        &conn,
        &args.order,
        args.session.as_deref(),
        args.camera.as_deref(),
        &source.video(),
    ) {
        Ok(choice) => choice,
        Err(e @ retrieve::RetrieveError::UnknownOrder(_)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| retrieve::default_path(&source.dir, &choice));
    let exported = retrieve::export_clip(&conn, &source.dir, &choice, &out, args.burn_in)?;
    // A checksum file beside it, in `sha256sum -c` format.
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("export.mp4");
    let mut sums = out.clone().into_os_string();
    sums.push(".sha256");
    std::fs::write(&sums, format!("{}  {name}\n", exported.sha256))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "path": exported.path,
                "order": choice.found.session.order,
                "session_id": choice.found.session.id,
                "camera": choice.camera,
                "starts_at": exported.starts_at.rfc3339(),
                "ends_at": exported.ends_at.rfc3339(),
                "duration_ms": exported.duration_ms(),
                "frames": exported.frames,
                "bytes": exported.bytes,
                "sha256": exported.sha256,
                "unreadable_segments": exported.skipped.iter().map(|(path, why)| {
                    serde_json::json!({ "path": path, "reason": why })
                }).collect::<Vec<_>>(),
            })
        );
    } else {
        println!("{}", exported.path.display());
        println!(
            "  order {}  session {}  camera {}",
            choice.found.session.order, choice.found.session.id, choice.camera
        );
        println!(
            "  {} to {}  duration {:.2} s  {} frames  {} bytes  (took {} ms)",
            exported.starts_at.rfc3339(),
            exported.ends_at.rfc3339(),
            exported.duration_ms() as f64 / 1000.0,
            exported.frames,
            exported.bytes,
            exported.elapsed_ms
        );
        println!("  sha256 {}", exported.sha256);
        for (path, why) in &exported.skipped {
            println!("  gap: segment {path} could not be read ({why})");
        }
    }
    Ok(ExitCode::SUCCESS)
}
