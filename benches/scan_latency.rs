//! Scan-to-event latency: from a barcode written to the scanner's pty to `session.started`
//! received by an MQTT subscriber.
//!
//! **What**: a real station (`packwatch::station::start`) runs on a simulated serial scanner
//! and MT-SICS scale (ptys) against a local mosquitto on 127.0.0.1, with its database in a
//! temporary directory. 1,000 distinct valid waybills from `packwatch::sim::packer::plan` are
//! scanned one after the other; for each, the clock starts immediately before
//! `ScannerSim::scan` writes the line and stops when the `session.started` event for that
//! order arrives at a [`Tap`] subscribed to the station's events. Each scan also completes the
//! previous session (its `session.completed` is skipped). The path measured is the whole
//! product: pty → serial driver → core → SQLite commit (`synchronous = FULL`) → outbox
//! publisher → broker → subscriber. 20 warm-up scans are not counted.
//!
//! **Baseline** (same run, same broker, station still running): a plain rumqttc client
//! publishes a payload of the same size at QoS 1 to a topic a second [`Tap`] subscribes to;
//! the clock runs from the publish call to the subscriber's receipt, 1,000 times (after 20
//! warm-up pings). It is the broker round trip alone, the floor packwatch cannot go under.
//!
//! The report gives p50/p90/p99/max for both, the packwatch/baseline ratios for p50 and p99,
//! and whether the goal "p99 under 10 ms" is met. To show where the time goes it adds a rough
//! split from the event's `ts` (millisecond resolution: pty → input stamped by the scanner
//! driver, then the rest), and a reference row: the same two-event `Store` commit a scan
//! makes, alone, 1,000 times in a database in the same directory (after the station stopped).
//! Nothing is asserted: this is a measurement, not a test.
//!
//! Run: `cargo bench --bench scan_latency` (needs `mosquitto` installed). The temporary
//! directory (and so the database) is created under `$PACKWATCH_BENCH_DIR` when set, e.g. to
//! measure on the disk the station would really use; otherwise under the system temp dir.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use packwatch::config::StationConfig;
use packwatch::core::event::{CloseReason, Event, EventBody, SessionKind};
use packwatch::core::machine::Mode;
use packwatch::core::time::Timestamp;
use packwatch::sim::broker::LocalBroker;
use packwatch::sim::packer::plan;
use packwatch::sim::scale::{ScaleSim, ScaleSimOptions};
use packwatch::sim::scanner::{ScannerSim, ScannerSimOptions};
use packwatch::sim::tap::Tap;
use packwatch::store::{Identity, Store};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::Value;

const SITE: &str = "bench";
const STATION: &str = "st1";
/// Measured scans (and baseline pings).
const SCANS: usize = 1_000;
/// Scans (and pings) before measuring: connection set-up, caches, first allocations.
const WARMUP: usize = 20;
const SEED: u64 = 0xBE7C;
/// One scan or ping taking longer than this ends the benchmark (something is broken).
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// The goal from the issue.
const P99_GOAL: Duration = Duration::from_millis(10);
const PING_TOPIC: &str = "packwatch-bench/ping";

fn main() {
    common::block_on(run());
}

/// One measured scan.
struct Sample {
    latency: Duration,
    /// Milliseconds from the write to the station's input timestamp (`ts`, ms resolution).
    to_input_ms: f64,
}

async fn run() {
    let dir = common::bench_dir();
    let broker = LocalBroker::start().expect("start mosquitto (is it installed?)");
    let scanner = ScannerSim::start(
        &dir.path().join("scanner"),
        ScannerSimOptions {
            terminator: b"\r\n",
            aim: None,
        },
    )
    .expect("scanner sim");
    let _scale =
        ScaleSim::start(&dir.path().join("scale"), ScaleSimOptions::default()).expect("scale sim");
    let config = StationConfig::load(
        &packwatch::sim::station_file::write(dir.path(), SITE, STATION, broker.port())
            .expect("write the station file"),
    )
    .expect("the bench's station file is valid");
    let data_dir = config.database_path();

    let mut tap = Tap::subscribe(
        "127.0.0.1",
        broker.port(),
        &format!("packwatch/{SITE}/{STATION}/events/#"),
    )
    .await
    .expect("subscribe to the station's events");
    let station = packwatch::station::start(config)
        .await
        .expect("start the station");
    wait_for_devices(&mut tap).await;

    let orders = plan(WARMUP + SCANS, SEED);
    let distinct: HashSet<&str> = orders.iter().map(|o| o.tracking.as_str()).collect();
    assert_eq!(
        distinct.len(),
        orders.len(),
        "the plan must hold distinct orders (a repeat is a duplicate scan, not a session)"
    );

    let mut skipped = 0usize;
    let mut payload_len = 0usize;
    for order in &orders[..WARMUP] {
        let (_, event) = scan_once(&scanner, &mut tap, &order.tracking, &mut skipped).await;
        payload_len = event.to_string().len();
    }
    let mut samples = Vec::with_capacity(SCANS);
    for order in &orders[WARMUP..] {
        let (sample, _) = scan_once(&scanner, &mut tap, &order.tracking, &mut skipped).await;
        samples.push(sample);
    }

    let pings = baseline(broker.port(), payload_len).await;
    station.stop().await.expect("station stops cleanly");
    let commits = commit_reference(dir.path());

    report(&samples, &pings, &commits, skipped, payload_len, &data_dir);
}

/// Waits for `device.connected` from both devices: the station flushes what a port held
/// before it opened it, so a scan written earlier would be lost by design.
async fn wait_for_devices(tap: &mut Tap) {
    let mut connected = HashSet::new();
    while connected.len() < 2 {
        let event = tap
            .next_event(EVENT_TIMEOUT)
            .await
            .expect("both devices connect within 10 s");
        if event["type"] == "device.connected"
            && let Some(device) = event["device"].as_str()
        {
            connected.insert(device.to_string());
        }
    }
}

/// Scans `tracking` and waits for its `session.started`; other events are counted in
/// `skipped`. Returns the sample and the event.
async fn scan_once(
    scanner: &ScannerSim,
    tap: &mut Tap,
    tracking: &str,
    skipped: &mut usize,
) -> (Sample, Value) {
    let wall0 = SystemTime::now();
    let t0 = Instant::now();
    scanner
        .scan(tracking)
        .await
        .expect("write the scan to the pty");
    loop {
        let left = EVENT_TIMEOUT.saturating_sub(t0.elapsed());
        let Some(event) = tap.next_event(left).await else {
            panic!("no session.started for {tracking} within {EVENT_TIMEOUT:?}");
        };
        if event["type"] == "session.started" && event["order"] == tracking {
            let latency = t0.elapsed();
            let wall0_ms = wall0
                .duration_since(UNIX_EPOCH)
                .expect("clock after 1970")
                .as_secs_f64()
                * 1000.0;
            let ts = event["ts"]
                .as_str()
                .and_then(Timestamp::parse_rfc3339)
                .expect("events carry an RFC 3339 ts");
            // `ts` is truncated to the millisecond: +0.5 ms centres it.
            let to_input_ms = ts.millis() as f64 + 0.5 - wall0_ms;
            return (
                Sample {
                    latency,
                    to_input_ms,
                },
                event,
            );
        }
        *skipped += 1;
    }
}

/// The broker round trip alone: QoS 1 publish from a plain client → a subscriber.
async fn baseline(port: u16, payload_len: usize) -> Vec<Duration> {
    let mut tap = Tap::subscribe("127.0.0.1", port, PING_TOPIC)
        .await
        .expect("subscribe to the ping topic");
    let id = format!("packwatch-bench-ping-{}", uuid::Uuid::now_v7().simple());
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let driver = tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });

    let mut latencies = Vec::with_capacity(SCANS);
    for i in 0..WARMUP + SCANS {
        let payload = ping_payload(i, payload_len);
        let t0 = Instant::now();
        client
            .publish(PING_TOPIC, QoS::AtLeastOnce, false, payload)
            .await
            .expect("queue the ping");
        loop {
            let left = EVENT_TIMEOUT.saturating_sub(t0.elapsed());
            let Some(message) = tap.next(left).await else {
                panic!("ping {i} did not come back within {EVENT_TIMEOUT:?}");
            };
            // A QoS 1 repeat of an earlier ping is skipped.
            if message.json().is_some_and(|v| v["i"] == i) {
                break;
            }
        }
        if i >= WARMUP {
            latencies.push(t0.elapsed());
        }
    }
    driver.abort();
    latencies
}

/// One durable store commit of the two events a scan makes (the previous session's end and
/// the new session's start), in a database next to the station's: how much of the latency is
/// SQLite's `synchronous = FULL` commit alone.
fn commit_reference(dir: &Path) -> Vec<Duration> {
    let mut store = Store::open(
        &dir.join("commit-reference.db"),
        Identity {
            site: SITE.to_string(),
            station: STATION.to_string(),
        },
    )
    .expect("open the reference database");
    let event = |body| Event {
        at: Timestamp::now(),
        mode: Mode::Pack,
        order: Some("1Z5R89390000000000".to_string()),
        body,
    };
    let events = [
        event(EventBody::SessionCompleted {
            session_id: uuid::Uuid::now_v7().to_string(),
            kind: SessionKind::Pack,
            duration_ms: 1_000,
            weight_g: None,
            items: Vec::new(),
            items_truncated: false,
            item_count: 0,
            reason: CloseReason::NextOrder,
        }),
        event(EventBody::SessionStarted {
            session_id: uuid::Uuid::now_v7().to_string(),
            kind: SessionKind::Pack,
            matched_by: "ups".to_string(),
            scanner: "scanner".to_string(),
        }),
    ];
    let mut commits = Vec::with_capacity(SCANS);
    for i in 0..WARMUP + SCANS {
        let t0 = Instant::now();
        store.emit_all(&events).expect("commit two events");
        if i >= WARMUP {
            commits.push(t0.elapsed());
        }
    }
    commits
}

/// `{"i":N,"pad":"xxx..."}` of about `len` bytes.
fn ping_payload(i: usize, len: usize) -> Vec<u8> {
    let head = format!(r#"{{"i":{i},"pad":""#);
    let pad = len.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad)).into_bytes()
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Summary {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    mean: Duration,
}

fn summarize(values: &[Duration]) -> Summary {
    let mut sorted = values.to_vec();
    sorted.sort();
    let total: Duration = sorted.iter().sum();
    Summary {
        p50: percentile(&sorted, 0.50),
        p90: percentile(&sorted, 0.90),
        p99: percentile(&sorted, 0.99),
        max: sorted.last().copied().unwrap_or_default(),
        mean: total / u32::try_from(sorted.len().max(1)).unwrap_or(u32::MAX),
    }
}

fn row(name: &str, n: usize, s: &Summary) -> String {
    format!(
        "| {name} | {n} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max),
        ms(s.mean)
    )
}

fn report(
    samples: &[Sample],
    pings: &[Duration],
    commits: &[Duration],
    skipped: usize,
    payload: usize,
    db: &Path,
) {
    let latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    let pw = summarize(&latencies);
    let base = summarize(pings);
    let commit = summarize(commits);
    let to_input = samples.iter().map(|s| s.to_input_ms).sum::<f64>() / samples.len() as f64;
    let rest = ms(pw.mean) - to_input;

    println!();
    println!("## scan_latency: barcode written to the pty -> session.started at a subscriber");
    println!();
    println!(
        "{} scans after {WARMUP} warm-up; other events skipped over all {} scans: {skipped} (the previous order's session.completed); session.started payload ~{payload} B",
        samples.len(),
        samples.len() + WARMUP
    );
    println!("database: {}", db.display());
    println!();
    println!("| path | n | p50 ms | p90 ms | p99 ms | max ms | mean ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "{}",
        row("packwatch: pty -> session.started", samples.len(), &pw)
    );
    println!(
        "{}",
        row(
            "baseline: rumqttc QoS 1 publish -> subscriber",
            pings.len(),
            &base
        )
    );
    println!(
        "| ratio packwatch / baseline | | {:.1}x | | {:.1}x | | |",
        ms(pw.p50) / ms(base.p50),
        ms(pw.p99) / ms(base.p99)
    );
    println!(
        "{}",
        row(
            "reference: Store commit of the 2 events alone, no station",
            commits.len(),
            &commit
        )
    );
    println!();
    println!(
        "where the time goes (means; `ts` has 1 ms resolution, so roughly): pty write -> input stamped by the scanner driver {to_input:.2} ms; stamped -> at the subscriber {rest:.2} ms (core, SQLite commit, publisher, broker)"
    );
    let verdict = if pw.p99 < P99_GOAL { "MET" } else { "NOT MET" };
    println!(
        "goal p99 < {} ms: {verdict} (p99 = {:.2} ms)",
        P99_GOAL.as_millis(),
        ms(pw.p99)
    );
}
