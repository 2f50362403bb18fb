//! `packwatch demo`: a whole station on simulated devices, real SQLite and real MQTT.
//!
//! The simulated scanner and scale sit on pseudo-terminals and the station reads them with
//! its real serial drivers. Without `--mqtt` a private mosquitto is started on a free loopback
//! port (the system's `mosquitto` binary; `apt-get install mosquitto`). A subscriber prints the
//! events as the warehouse system would receive them; with `--orders N` the demo exits 0 once
//! all N `session.completed` events, and each camera's N `video.ready`, have come back
//! through the broker, 1 otherwise. The demo's test camera records real video: `packwatch
//! export ORDER --data-dir DIR` afterwards writes an MP4 that shows the order number.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::config::{StationConfig, TerminatorSetting};
use crate::mqtt::options::broker_address;
use crate::sim::broker::LocalBroker;
use crate::sim::packer::{self, Pace};
use crate::sim::scale::{ScaleSim, ScaleSimOptions};
use crate::sim::scanner::{ScannerSim, ScannerSimOptions};
use crate::sim::tap::Tap;
use crate::station;

/// The demo station, compiled in so the binary runs the demo from anywhere.
const DEMO_STATION: &str = include_str!("../../stations/demo.toml");

#[derive(Args)]
pub struct DemoArgs {
    /// Use this broker instead of starting a local mosquitto.
    #[arg(long, value_name = "URL")]
    mqtt: Option<String>,
    /// Pack this many orders, then exit; without it, pack until Ctrl-C.
    #[arg(long, value_name = "N")]
    orders: Option<usize>,
    /// Where the demo keeps its database (kept after the demo, for `packwatch sessions`).
    #[arg(long, value_name = "DIR", default_value = "packwatch-demo")]
    data_dir: PathBuf,
    /// A station file with simulated devices, instead of the built-in `stations/demo.toml`.
    #[arg(long, value_name = "FILE")]
    station: Option<PathBuf>,
}

pub fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.station {
        Some(file) => StationConfig::load(file)?,
        // Relative paths in the built-in file resolve inside the data dir.
        None => StationConfig::parse(DEMO_STATION, &args.data_dir.join("station.toml"))?,
    };
    if args.station.is_some() {
        config.station.data_dir = args.data_dir.clone();
    }
    std::fs::create_dir_all(&config.station.data_dir)
        .with_context(|| format!("creating {}", config.station.data_dir.display()))?;
    super::runtime()?.block_on(run_demo(config, args))
}

async fn run_demo(mut config: StationConfig, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let _broker = match &args.mqtt {
        Some(url) => {
            broker_address(url)?;
            config.mqtt.url = url.clone();
            None
        }
        None => {
            let broker = LocalBroker::start().context("starting a local mosquitto for the demo")?;
            config.mqtt.url = broker.url();
            Some(broker)
        }
    };
    let (host, port) = broker_address(&config.mqtt.url)?;

    let scanner_config = config
        .scanner
        .iter()
        .find(|s| s.simulate)
        .context("the demo needs a scanner with `simulate = true`")?;
    let scale_config = config
        .scale
        .iter()
        .find(|s| s.simulate)
        .context("the demo needs a scale with `simulate = true`")?;
    let scanner = ScannerSim::start(
        &ensure_parent(&scanner_config.port)?,
        ScannerSimOptions {
            terminator: match scanner_config.terminator {
                TerminatorSetting::Lf => b"\n",
                TerminatorSetting::Crlf => b"\r\n",
                TerminatorSetting::Cr | TerminatorSetting::Any => b"\r",
            },
            aim: None,
        },
    )
    .context("starting the simulated scanner")?;
    let scale = ScaleSim::start(
        &ensure_parent(&scale_config.port)?,
        ScaleSimOptions::default(),
    )
    .context("starting the simulated scale")?;

    let topics = crate::mqtt::topic::Topics::new(
        &config.mqtt.topic_prefix,
        &config.station.site,
        &config.station.id,
    );
    let mut tap = Tap::subscribe(&host, port, &topics.all_events()).await?;
    let data_dir = config.station.data_dir.clone();
    println!(
        "packwatch demo: station {}/{} on {}",
        config.station.site, config.station.id, config.mqtt.url
    );
    println!(
        "  watch the events:  mosquitto_sub -h {host} -p {port} -t '{}' -v",
        topics.all_events()
    );
    println!("  data dir:          {}", data_dir.display());

    let devices = config.scanner.len() + config.scale.len() + config.camera.len();
    let cameras = config.camera.len();
    // The first clip starts a pre-roll before its scan: let the camera record that long.
    let warm_up = if cameras > 0 {
        config.video.pre_roll
    } else {
        Duration::ZERO
    };
    let running = station::start(config).await?;
    let seed = crate::core::time::Timestamp::now().millis().unsigned_abs();
    let target = args.orders;
    let orders = packer::plan(target.unwrap_or(1_000_000).min(1_000_000), seed);

    // The station flushes what a port held before it opened it, and a clip needs the
    // camera's pre-roll: scan only once every device is connected.
    let devices_ready = tokio::sync::Notify::new();
    let packing = async {
        tokio::time::timeout(Duration::from_secs(20), devices_ready.notified())
            .await
            .context("the devices did not connect within 20 s")?;
        tokio::time::sleep(warm_up).await;
        for order in &orders {
            packer::pack(&scanner, &scale, order, Pace::default()).await?;
        }
        anyhow::Ok(())
    };
    let expected = target.unwrap_or(usize::MAX);
    let watching = async {
        let mut completed = 0usize;
        let mut videos = 0usize;
        let mut connected = std::collections::BTreeSet::new();
        while completed < expected || videos < expected.saturating_mul(cameras) {
            let Some(event) = tap.next_event(Duration::from_secs(30)).await else {
                break;
            };
            print_event(&event);
            match event["type"].as_str() {
                Some("session.completed") => completed += 1,
                Some("video.ready") => videos += 1,
                Some("device.connected") => {
                    connected.insert(event["device"].as_str().unwrap_or_default().to_string());
                    if connected.len() == devices {
                        devices_ready.notify_one();
                    }
                }
                _ => {}
            }
        }
        (completed, videos)
    };
    let (completed, packed) = tokio::select! {
        _ = super::stop_signal() => (None, Ok(())),
        (packed, completed) = async { tokio::join!(packing, watching) } => (Some(completed), packed),
    };
    running.stop().await?;
    packed?;
    match (completed, target) {
        (Some((done, videos)), Some(n)) if done >= n && videos >= n * cameras => {
            println!(
                "{done} orders packed; all {n} session.completed and {videos} video.ready events came back through the broker."
            );
            println!(
                "  list them:  packwatch sessions --data-dir {0}   (from a checkout: cargo run -- sessions --data-dir {0})",
                data_dir.display()
            );
            if cameras > 0 {
                println!(
                    "  export one: packwatch export ORDER --data-dir {}",
                    data_dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        (Some((done, videos)), Some(n)) => {
            eprintln!(
                "only {done} of {n} session.completed and {videos} of {} video.ready events arrived",
                n * cameras
            );
            Ok(ExitCode::from(1))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The pty link's directory must exist.
fn ensure_parent(link: &Path) -> anyhow::Result<PathBuf> {
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(link.to_path_buf())
}

/// One line per event, as a person at the packing table would want it.
fn print_event(e: &serde_json::Value) {
    let kind = e["type"].as_str().unwrap_or("?");
    let order = e["order"].as_str().unwrap_or("-");
    let detail = match kind {
        "item.scanned" => format!("item {}", e["code"].as_str().unwrap_or("?")),
        "weight.captured" => format!("{} g", e["weight_g"]),
        "session.completed" => format!(
            "{} items, {} g, {} ms",
            e["item_count"], e["weight_g"], e["duration_ms"]
        ),
        "video.ready" => format!(
            "{} {:.1} s in {} segments{}",
            e["camera"].as_str().unwrap_or("?"),
            e["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0,
            e["segments"].as_array().map(Vec::len).unwrap_or(0),
            if e["complete"].as_bool() == Some(true) {
                ""
            } else {
                " (with gaps)"
            }
        ),
        "device.connected" | "device.disconnected" | "device.fault" => {
            format!(
                "{} {}",
                e["device"].as_str().unwrap_or("?"),
                e["reason"].as_str().unwrap_or("")
            )
        }
        _ => String::new(),
    };
    println!("  #{:<5} {:<20} {:<24} {}", e["seq"], kind, order, detail);
}
