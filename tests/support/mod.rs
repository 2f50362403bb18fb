//! What the integration tests share: a station on simulated devices, a real mosquitto, a
//! subscriber that sees what the warehouse system would.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::time::Duration;

use packwatch::config::StationConfig;
use packwatch::sim::broker::LocalBroker;
use packwatch::sim::packer::Pace;
use packwatch::sim::scale::{ScaleSim, ScaleSimOptions};
use packwatch::sim::scanner::{ScannerSim, ScannerSimOptions};
use packwatch::sim::tap::Tap;
use serde_json::Value;

pub const SITE: &str = "test";
pub const STATION: &str = "st1";

/// A fast packer for tests: the scale settles in 100 ms and is polled every 50 ms.
pub const PACE: Pace = Pace {
    between_scans: Duration::from_millis(60),
    on_scale: Duration::from_millis(700),
};

/// Devices and a data dir in a temporary directory.
pub struct Bench {
    pub dir: tempfile::TempDir,
    pub scanner: ScannerSim,
    pub scale: ScaleSim,
}

impl Bench {
    pub fn new() -> Bench {
        // Station logs show up in the output of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("packwatch=debug")
            .try_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let scanner = ScannerSim::start(
            &dir.path().join("scanner"),
            ScannerSimOptions {
                terminator: b"\r\n",
                aim: None,
            },
        )
        .expect("scanner sim");
        let scale = ScaleSim::start(
            &dir.path().join("scale"),
            ScaleSimOptions {
                settle: Duration::from_millis(100),
                ..ScaleSimOptions::default()
            },
        )
        .expect("scale sim");
        Bench {
            dir,
            scanner,
            scale,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A station file for these devices and `broker_port`, written into the temp dir.
    pub fn station_file(&self, broker_port: u16) -> PathBuf {
        packwatch::sim::station_file::write(self.dir.path(), SITE, STATION, broker_port)
            .expect("write station file")
    }

    pub fn config(&self, broker_port: u16) -> StationConfig {
        StationConfig::load(&self.station_file(broker_port)).expect("valid test station")
    }

    /// The station file with `extra` TOML (cameras, video settings) appended.
    pub fn station_file_with(&self, broker_port: u16, extra: &str) -> PathBuf {
        let path = self.station_file(broker_port);
        let mut text = std::fs::read_to_string(&path).expect("read station file");
        text.push_str(extra);
        std::fs::write(&path, text).expect("write station file");
        path
    }
}

/// Station-file TOML for one camera `ipcam` of `kind` whose source is `key = value`, with
/// 2 s segments.
pub fn one_camera(kind: &str, key: &str, value: &str) -> String {
    format!(
        r#"
[video]
segment = "2s"
min_free = "1MiB"

[[camera]]
name = "ipcam"
kind = "{kind}"
{key} = "{value}"
"#
    )
}

/// A small test camera (320x240, 15 fps, x264) with 2 s segments and the default rolls.
pub const TEST_CAMERA: &str = r#"
[video]
segment = "2s"
min_free = "1MiB"

[[camera]]
name = "cam"
kind = "test"
width = 320
height = 240
fps = 15
bitrate_kbps = 300
encoder = "x264"
"#;

pub async fn tap(broker: &LocalBroker) -> Tap {
    Tap::subscribe_persistent(
        "127.0.0.1",
        broker.port(),
        &format!("packwatch/{SITE}/{STATION}/events/#"),
    )
    .await
    .expect("subscribe")
}

/// Starts a station on the bench and waits until both devices are open (the station flushes
/// what a port held before it opened it, so scanning earlier would be lost by design).
/// Returns the station and the events seen meanwhile.
pub async fn start_station(
    bench: &Bench,
    broker: &LocalBroker,
    tap: &mut Tap,
) -> (packwatch::station::RunningStation, Vec<Value>) {
    start_config(bench.config(broker.port()), tap).await
}

/// Starts a station and waits until every device (scanners, scales, cameras) is connected.
pub async fn start_config(
    config: StationConfig,
    tap: &mut Tap,
) -> (packwatch::station::RunningStation, Vec<Value>) {
    let devices = config.scanner.len() + config.scale.len() + config.camera.len();
    let running = packwatch::station::start(config).await.expect("start");
    let mut connected = std::collections::BTreeSet::new();
    let mut seen = Vec::new();
    while connected.len() < devices {
        let events = until(tap, "device.connected", Duration::from_secs(10)).await;
        if let Some(device) = events.last().and_then(|e| e["device"].as_str()) {
            connected.insert(device.to_string());
        }
        seen.extend(events);
    }
    (running, seen)
}

/// Waits until the station's outbox holds `n` `device.connected` events (no broker needed).
pub async fn devices_connected_offline(data_dir: &Path, n: usize) {
    let db = data_dir.join("packwatch.db");
    eventually("devices connected", Duration::from_secs(10), || {
        packwatch::store::outbox::Outbox::open(&db)
            .and_then(|o| o.page_after(0, 1000))
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e.event_type == "device.connected")
                    .count()
                    >= n
            })
            .unwrap_or(false)
    })
    .await;
}

/// Events until one of type `kind` arrives (inclusive); panics after `timeout`.
pub async fn until(tap: &mut Tap, kind: &str, timeout: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(event) = tap.next_event(left).await else {
            let types: Vec<_> = seen.iter().map(|e: &Value| e["type"].clone()).collect();
            panic!("no {kind} within {timeout:?}; saw {types:?}");
        };
        let done = event["type"] == kind;
        seen.push(event);
        if done {
            return seen;
        }
    }
}

/// Adds arriving events to `events` until every seq up to `last` is there, keeping only the
/// first arrival of each seq (QoS 1 may repeat an event; consumers drop repeats by seq).
pub async fn collect_through(
    tap: &mut Tap,
    mut events: Vec<Value>,
    last: u64,
    timeout: Duration,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen: std::collections::BTreeSet<u64> =
        events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    while seen.range(1..=last).count() < usize::try_from(last).expect("small") {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(event) = tap.next_event(left).await else {
            let missing: Vec<u64> = (1..=last).filter(|s| !seen.contains(s)).take(20).collect();
            panic!(
                "only {} of {last} events within {timeout:?}; missing (first 20): {missing:?}",
                seen.len()
            );
        };
        let seq = event["seq"].as_u64().expect("seq");
        if seen.insert(seq) {
            events.push(event);
        }
    }
    events
}

/// Asserts the events are seq 1..=n in order, with no gap.
pub fn assert_in_order(events: &[Value]) {
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "events out of order or missing");
}

/// Waits until `check` holds, polling; panics after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Completed sessions in the station's database.
pub fn completed_sessions(data_dir: &Path) -> usize {
    let Ok(conn) = packwatch::store::open_existing(&data_dir.join("packwatch.db")) else {
        return 0;
    };
    packwatch::store::sessions::list(&conn, None, 10_000)
        .map(|rows| rows.iter().filter(|r| r.status == "completed").count())
        .unwrap_or(0)
}

/// The orders of the `session.completed` events, in arrival order.
pub fn completed_orders(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e["type"] == "session.completed")
        .filter_map(|e| e["order"].as_str())
        .collect()
}

/// The `seq` of the last event the station has made (durable, published or not).
pub fn last_seq(data_dir: &Path) -> u64 {
    let conn = packwatch::store::open_existing(&data_dir.join("packwatch.db")).expect("db");
    let next: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
            r.get(0)
        })
        .expect("next_seq");
    next.parse::<u64>().expect("a number") - 1
}

/// `packwatch run --station FILE` as a child process, killed when dropped.
pub struct RunBinary(std::process::Child);

impl RunBinary {
    pub fn start(station_file: &Path) -> RunBinary {
        RunBinary(
            std::process::Command::new(env!("CARGO_BIN_EXE_packwatch"))
                .args(["run", "--station"])
                .arg(station_file)
                .env("PACKWATCH_LOG", "warn")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("packwatch run"),
        )
    }

    /// A power cut, as far as the process can tell.
    pub fn kill_9(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reaped");
    }
}

impl Drop for RunBinary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
