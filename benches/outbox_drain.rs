//! Outbox throughput and memory: a backlog queued while the broker is down, then drained.
//!
//! **What**: events are enqueued straight into a fresh station database with
//! `Store::emit_all` in batches of 1,000 (one transaction each, `synchronous = FULL`, as the
//! station writes) while the local mosquitto is stopped: the enqueue rate is reported. The
//! events are a realistic mix made from `packwatch::sim::packer::plan` orders: per order
//! `session.started`, one `item.scanned` per item, `weight.captured`, `session.completed`
//! (listing its items). Then the broker is resumed, and only then the real
//! `packwatch::mqtt::publisher::Publisher` is started on the database; the drain time runs
//! from starting the publisher (so it includes its connect) until its `LinkStatus` reports
//! the last `seq` acknowledged. Nobody subscribes, so the broker acknowledges and discards:
//! this is the publisher's throughput to the broker.
//!
//! **Memory**: a background thread samples this process's `VmRSS` (`/proc/self/status`)
//! every 20 ms during each drain; the kernel's high-water mark `VmHWM` is reset before the
//! drain (`/proc/self/clear_refs`) and read after it, as a cross-check between samples. This
//! is done for a 10,000-event backlog and then a 100,000-event backlog (fresh database each),
//! after one unreported 10,000-event warm-up run so that both measured runs start with the
//! allocator, SQLite and rumqttc at their working sizes; the small run comes first, so memory
//! growing with the backlog cannot hide in what an earlier, larger run left allocated. The
//! report gives peak_100k / peak_10k (≈ 1 if memory is flat), the peak growth per 10,000
//! events of backlog, and each drain's own growth (peak − RSS just before it).
//!
//! **Baseline** (same run, same broker, after the memory measurements): a plain rumqttc
//! `AsyncClient` with the publisher's connection options publishes the same 100,000 payloads
//! (read beforehand from a copy of the 100k database) to the same topics at QoS 1, with the
//! same in-flight window (`publisher::WINDOW`), no database; timed from creating the client
//! until the last PUBACK. The report gives the packwatch/baseline throughput ratio. Nothing is
//! asserted: this is a measurement, not a test.
//!
//! Run: `cargo bench --bench outbox_drain` (needs `mosquitto` installed). The databases go in
//! a temporary directory under `$PACKWATCH_BENCH_DIR` when set, else the system temp dir.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use packwatch::core::barcode::Symbology;
use packwatch::core::event::{CloseReason, Event, EventBody, SessionKind};
use packwatch::core::machine::Mode;
use packwatch::core::time::Timestamp;
use packwatch::core::weight::Unit;
use packwatch::mqtt::options::Connection;
use packwatch::mqtt::publisher::{Publisher, WINDOW};
use packwatch::mqtt::topic::Topics;
use packwatch::sim::broker::LocalBroker;
use packwatch::sim::packer::{OrderPlan, plan};
use packwatch::store::outbox::Outbox;
use packwatch::store::{Identity, Store};
use rumqttc::{AsyncClient, Event as MqttEvent, Packet, QoS};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const SITE: &str = "bench";
const STATION: &str = "st1";
const BATCH: usize = 1_000;
const SMALL: usize = 10_000;
const LARGE: usize = 100_000;
const SEED: u64 = 0x0B0C;
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// A drain (or the baseline) taking longer than this ends the benchmark.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    common::block_on(run());
}

/// What one backlog run measured.
struct Run {
    backlog: usize,
    enqueue: Duration,
    drain: Duration,
    /// Average outbox payload, bytes.
    payload_avg: f64,
    rss_before_enqueue: u64,
    rss_before_drain: u64,
    peak_sampled: u64,
    samples: usize,
    hwm: Option<u64>,
    left_in_outbox: u64,
}

async fn run() {
    let dir = common::bench_dir();
    let mut broker = LocalBroker::stopped().expect("a port for mosquitto");

    // Not reported: brings the allocator, SQLite and rumqttc to their working sizes, so the
    // two measured runs start from the same state.
    backlog_run(&mut broker, dir.path(), "warm-up", SMALL, None).await;
    let small = backlog_run(&mut broker, dir.path(), "outbox-10k", SMALL, None).await;
    let copy = dir.path().join("baseline.db");
    let large = backlog_run(&mut broker, dir.path(), "outbox-100k", LARGE, Some(&copy)).await;

    broker.resume().expect("start mosquitto");
    let messages = payloads(&copy);
    let baseline = baseline(broker.port(), messages).await;
    broker.stop();

    report(&small, &large, baseline, dir.path());
}

fn connection(port: u16, client_id: &str) -> Connection {
    Connection {
        host: "127.0.0.1".to_string(),
        port,
        client_id: client_id.to_string(),
        credentials: None,
        keep_alive: Duration::from_secs(15),
        topics: Topics::new("packwatch", SITE, STATION),
    }
}

/// Enqueues `backlog` events with the broker down, then resumes it and drains them with the
/// real publisher, in a new database `dir/{name}.db`. `copy`: where to copy the filled
/// database (for the baseline's payloads).
async fn backlog_run(
    broker: &mut LocalBroker,
    dir: &Path,
    name: &str,
    backlog: usize,
    copy: Option<&Path>,
) -> Run {
    let db = dir.join(format!("{name}.db"));
    assert!(!db.exists(), "{} must be a fresh database", db.display());
    let rss_before_enqueue = rss_kib().expect("VmRSS in /proc/self/status");

    // Enqueue, broker down. Events are made a batch at a time: no backlog held in memory.
    let mut store = Store::open(
        &db,
        Identity {
            site: SITE.to_string(),
            station: STATION.to_string(),
        },
    )
    .expect("open a fresh station database");
    let mut events = EventMix::new(SEED);
    let mut batch = Vec::with_capacity(BATCH);
    let started = Instant::now();
    let mut left = backlog;
    while left > 0 {
        batch.clear();
        batch.extend(events.by_ref().take(BATCH.min(left)));
        let n = store.emit_all(&batch).expect("enqueue a batch");
        left -= n;
    }
    let enqueue = started.elapsed();
    let last_seq = store.next_seq() - 1;
    drop(batch);
    drop(store);
    let payload_avg = average_payload(&db);
    if let Some(copy) = copy {
        copy_database(&db, copy);
    }
    let rss_before_drain = rss_kib().expect("VmRSS");

    // Drain: broker first, then the publisher.
    broker.resume().expect("start mosquitto");
    let hwm_reset = reset_hwm();
    let sampler = RssSampler::start(SAMPLE_EVERY);
    let publisher = Publisher::new(
        connection(broker.port(), "packwatch-bench-st1"),
        db.clone(),
        Arc::new(Notify::new()),
    );
    let mut status = publisher.status();
    let stop = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(publisher.run(stop.clone()));
    tokio::time::timeout(
        DRAIN_TIMEOUT,
        status.wait_for(|s| s.acked_through >= last_seq),
    )
    .await
    .unwrap_or_else(|_| panic!("{backlog} events not drained within {DRAIN_TIMEOUT:?}"))
    .map(|_| ())
    .expect("the publisher stopped before draining");
    let drain = started.elapsed();
    stop.cancel();
    task.await
        .expect("publisher task panicked")
        .expect("publisher failed");
    let (peak_sampled, samples) = sampler.stop();
    let hwm = if hwm_reset { hwm_kib() } else { None };
    broker.stop();

    let left_in_outbox = Outbox::open(&db)
        .and_then(|o| o.len())
        .expect("count what is left in the outbox");
    Run {
        backlog,
        enqueue,
        drain,
        payload_avg,
        rss_before_enqueue,
        rss_before_drain,
        peak_sampled,
        samples,
        hwm,
        left_in_outbox,
    }
}

/// Average payload size in the outbox, bytes.
fn average_payload(db: &Path) -> f64 {
    let conn = packwatch::store::open_existing(db).expect("open the database");
    conn.query_row("SELECT avg(length(payload)) FROM outbox", [], |r| {
        r.get::<_, f64>(0)
    })
    .expect("average payload size")
}

/// Copies a closed database (and its WAL, if one was left) to `to`.
fn copy_database(db: &Path, to: &Path) {
    std::fs::copy(db, to).expect("copy the database for the baseline");
    let wal = with_suffix(db, "-wal");
    if wal.exists() {
        std::fs::copy(&wal, with_suffix(to, "-wal")).expect("copy the WAL for the baseline");
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// (topic, payload) of every event in the database, in `seq` order.
fn payloads(db: &Path) -> Vec<(String, String)> {
    let topics = Topics::new("packwatch", SITE, STATION);
    let outbox = Outbox::open(db).expect("open the baseline's copy");
    outbox
        .page_after(0, usize::MAX)
        .expect("read the baseline's payloads")
        .into_iter()
        .map(|p| (topics.event(&p.event_type), p.payload))
        .collect()
}

/// The same payloads through a plain rumqttc client: QoS 1, same window, no database.
async fn baseline(port: u16, messages: Vec<(String, String)>) -> (usize, Duration) {
    let n = messages.len();
    let started = Instant::now();
    let options = connection(port, "packwatch-bench-baseline")
        .mqtt_options(u16::try_from(WINDOW).expect("WINDOW fits MQTT's in-flight limit"));
    let (client, mut eventloop) = AsyncClient::new(options, WINDOW + 8);
    let mut queue = messages.into_iter();
    let (mut in_flight, mut acked) = (0usize, 0usize);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while acked < n {
            while in_flight < WINDOW {
                let Some((topic, payload)) = queue.next() else {
                    break;
                };
                client
                    .try_publish(topic, QoS::AtLeastOnce, false, payload)
                    .expect("queue a baseline publish");
                in_flight += 1;
            }
            if let MqttEvent::Incoming(Packet::PubAck(_)) =
                eventloop.poll().await.expect("baseline connection")
            {
                acked += 1;
                in_flight -= 1;
            }
        }
    })
    .await;
    drained.unwrap_or_else(|_| panic!("baseline not acknowledged within {DRAIN_TIMEOUT:?}"));
    let elapsed = started.elapsed();
    let _ = client.try_disconnect();
    (n, elapsed)
}

/// An endless, deterministic stream of realistic events: per order `session.started`,
/// `item.scanned` per item, `weight.captured`, `session.completed`.
struct EventMix {
    seed: u64,
    chunk: u64,
    orders: std::vec::IntoIter<OrderPlan>,
    pending: std::collections::VecDeque<Event>,
    clock: Timestamp,
}

impl EventMix {
    fn new(seed: u64) -> EventMix {
        EventMix {
            seed,
            chunk: 0,
            orders: Vec::new().into_iter(),
            pending: Default::default(),
            clock: Timestamp::now(),
        }
    }

    fn next_order(&mut self) -> OrderPlan {
        if let Some(order) = self.orders.next() {
            return order;
        }
        self.chunk += 1;
        self.orders = plan(256, self.seed ^ self.chunk.wrapping_mul(0x9E37_79B9)).into_iter();
        self.orders.next().expect("plan gives orders")
    }

    fn tick(&mut self, ms: i64) -> Timestamp {
        self.clock = self.clock.plus(ms);
        self.clock
    }

    fn session(&mut self) {
        let order = self.next_order();
        let session_id = uuid::Uuid::now_v7().to_string();
        let started_at = self.tick(1_000);
        let event = |at, body| Event {
            at,
            mode: Mode::Pack,
            order: Some(order.tracking.clone()),
            body,
        };
        self.pending.push_back(event(
            started_at,
            EventBody::SessionStarted {
                session_id: session_id.clone(),
                kind: SessionKind::Pack,
                matched_by: "ups".to_string(),
                scanner: "scanner".to_string(),
            },
        ));
        for (i, code) in order.items.iter().enumerate() {
            let at = self.tick(2_000);
            self.pending.push_back(event(
                at,
                EventBody::ItemScanned {
                    session_id: session_id.clone(),
                    code: code.clone(),
                    gtin: Some(format!("0{code}")),
                    symbology: Some(Symbology::EanUpc),
                    item_count: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    scanner: "scanner".to_string(),
                },
            ));
        }
        let weighed = self.tick(3_000);
        self.pending.push_back(event(
            weighed,
            EventBody::WeightCaptured {
                session_id: session_id.clone(),
                weight_g: order.grams,
                value: order.grams,
                unit: Unit::G,
                scale: "scale".to_string(),
            },
        ));
        let done = self.tick(1_500);
        self.pending.push_back(event(
            done,
            EventBody::SessionCompleted {
                session_id,
                kind: SessionKind::Pack,
                duration_ms: done.since(started_at),
                weight_g: Some(order.grams),
                items: order.items.clone(),
                items_truncated: false,
                item_count: u32::try_from(order.items.len()).unwrap_or(u32::MAX),
                reason: CloseReason::DoneCommand,
            },
        ));
    }
}

impl Iterator for EventMix {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.pending.is_empty() {
            self.session();
        }
        self.pending.pop_front()
    }
}

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

fn hwm_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0); false if not allowed.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Samples `VmRSS` on a thread of its own (not on the runtime being measured).
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, usize)>,
}

impl RssSampler {
    fn start(every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                let (mut peak, mut samples) = (0, 0);
                loop {
                    if let Some(rss) = rss_kib() {
                        peak = peak.max(rss);
                        samples += 1;
                    }
                    if stop.load(Ordering::Relaxed) {
                        return (peak, samples);
                    }
                    std::thread::sleep(every);
                }
            }
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling (after one last sample): (peak KiB, samples taken).
    fn stop(self) -> (u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("RSS sampler panicked")
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// 12345.6 → "12,346".
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn report(small: &Run, large: &Run, baseline: (usize, Duration), dir: &Path) {
    println!();
    println!("## outbox_drain: backlog queued with the broker down, then drained by the publisher");
    println!();
    println!(
        "databases in {}; publisher window {WINDOW}; RSS sampled every {} ms (+ VmHWM); sizes in MiB",
        dir.display(),
        SAMPLE_EVERY.as_millis()
    );
    println!();
    println!(
        "| backlog | payload B | enqueue ev/s | drain s | drain ev/s | RSS before enqueue | RSS before drain | peak RSS in drain (samples) | VmHWM in drain | left in outbox |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in [small, large] {
        println!(
            "| {} | {:.0} | {} | {:.2} | {} | {:.1} | {:.1} | {:.1} ({}) | {} | {} |",
            thousands(r.backlog as f64),
            r.payload_avg,
            thousands(per_second(r.backlog, r.enqueue)),
            r.drain.as_secs_f64(),
            thousands(per_second(r.backlog, r.drain)),
            mib(r.rss_before_enqueue),
            mib(r.rss_before_drain),
            mib(r.peak_sampled),
            r.samples,
            r.hwm
                .map_or("n/a".to_string(), |h| format!("{:.1}", mib(h))),
            r.left_in_outbox,
        );
    }
    let (n, elapsed) = baseline;
    let base_rate = per_second(n, elapsed);
    println!(
        "| baseline: rumqttc QoS 1, window {WINDOW}, no database, {} msgs | | | {:.2} | {} | | | | | |",
        thousands(n as f64),
        elapsed.as_secs_f64(),
        thousands(base_rate)
    );
    println!();
    let steps = (large.backlog - small.backlog) as f64 / SMALL as f64;
    let growth = (large.peak_sampled as f64 - small.peak_sampled as f64) / steps;
    println!(
        "memory flat? peak_100k / peak_10k = {:.3}; peak growth per 10k backlog = {:+.2} MiB; growth during the drain itself (peak - before drain): 10k {:+.1} MiB, 100k {:+.1} MiB",
        large.peak_sampled as f64 / small.peak_sampled as f64,
        growth / 1024.0,
        mib(small.peak_sampled) - mib(small.rss_before_drain),
        mib(large.peak_sampled) - mib(large.rss_before_drain),
    );
    println!(
        "throughput packwatch / baseline (100k) = {:.2} ({} vs {} ev/s)",
        per_second(large.backlog, large.drain) / base_rate,
        thousands(per_second(large.backlog, large.drain)),
        thousands(base_rate)
    );
}
