//! Video evidence end to end: a real GStreamer test camera, the simulated scanner and scale,
//! a real mosquitto, and `packwatch export` reading the result.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use packwatch::config::StationConfig;
use packwatch::core::time::Timestamp;
use packwatch::sim::broker::LocalBroker;
use packwatch::sim::packer::{self, pack};
use packwatch::video::frame::{self, Gray};
use packwatch::video::segment;
use serde_json::Value;
use support::*;

/// Our encoder makes a keyframe every second.
const GOP_MS: i64 = 1000;
/// One frame at 15 fps, rounded up.
const FRAME_MS: i64 = 67;

fn ts(v: &Value) -> Timestamp {
    Timestamp::parse_rfc3339(v.as_str().expect("a time")).expect("RFC 3339")
}

/// `packwatch export ORDER --data-dir DIR -o OUT --json [extra]`, parsed.
fn export(data_dir: &Path, order: &str, out: &Path) -> Value {
    export_with(data_dir, order, out, &[])
}

fn export_with(data_dir: &Path, order: &str, out: &Path, extra: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_packwatch"))
        .args(["export", order, "--json"])
        .args(extra)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("-o")
        .arg(out)
        .output()
        .expect("packwatch export");
    assert!(
        output.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("export JSON")
}

/// Events until `n` of type `kind` have arrived; returns all of them.
async fn until_n(tap: &mut packwatch::sim::tap::Tap, kind: &str, n: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    while seen.iter().filter(|e: &&Value| e["type"] == kind).count() < n {
        seen.extend(until(tap, kind, Duration::from_secs(30)).await);
    }
    seen
}

/// Mean absolute difference of two pictures inside the box around the order text (the top
/// half, where either reference has text).
fn order_box_distance(frame: &Gray, reference: &Gray, other: &Gray) -> f64 {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for r in [reference, other] {
        for y in 0..r.height / 2 {
            for x in 0..r.width {
                if r.at(x, y) > 128 {
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                }
            }
        }
    }
    assert!(x1 > x0 && y1 > y0, "the reference shows no order text");
    let mut sum = 0u64;
    for y in y0..=y1 {
        for x in x0..=x1 {
            sum += u64::from(frame.at(x, y).abs_diff(reference.at(x, y)));
        }
    }
    sum as f64 / ((x1 - x0 + 1) * (y1 - y0 + 1)) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_clip_covers_its_session_with_rolls_back_to_back_and_shows_its_order() {
    let broker = LocalBroker::start().expect("broker");
    let bench = Bench::new();
    let mut tap = tap(&broker).await;
    // A second, smaller camera: every session gets a clip from each.
    let cameras = format!(
        "{TEST_CAMERA}
[[camera]]
name = \"side\"
kind = \"test\"
width = 160
height = 120
fps = 10
encoder = \"x264\"
"
    );
    let config = StationConfig::load(&bench.station_file_with(broker.port(), &cameras))
        .expect("station with cameras");
    let (running, _) = start_config(config, &mut tap).await;
    // Let the cameras record a pre-roll's worth before the first scan.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let orders = packer::plan(2, 11);
    for order in &orders {
        pack(&bench.scanner, &bench.scale, order, PACE)
            .await
            .expect("pack");
    }
    let events = until_n(&mut tap, "video.ready", 4).await;
    running.stop().await.expect("stop");

    let sessions: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "session.started")
        .collect();
    let completed: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "session.completed")
        .collect();
    let ready: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "video.ready")
        .collect();
    assert_eq!((sessions.len(), completed.len()), (2, 2));
    let mut exports = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        let side = ready
            .iter()
            .find(|e| e["order"] == order.tracking.as_str() && e["camera"] == "side")
            .expect("video.ready from the second camera");
        let r = ready
            .iter()
            .find(|e| e["order"] == order.tracking.as_str() && e["camera"] == "cam")
            .expect("video.ready for each order");
        assert_eq!(side["duration_ms"], r["duration_ms"]);
        let other = export_with(
            &bench.data_dir(),
            &order.tracking,
            &bench.dir.path().join(format!("side-{i}.mp4")),
            &["--camera", "side"],
        );
        assert_eq!(other["camera"], "side");
        assert!(other["frames"].as_u64().expect("frames") > 30, "{other}");
        assert_eq!(r["camera"], "cam");
        assert_eq!(r["session_id"], completed[i]["session_id"]);
        assert_eq!(r["complete"], true, "{r}");
        // The clip is the session plus 3 s pre-roll and 2 s post-roll, exactly.
        let session_ms = completed[i]["duration_ms"].as_i64().expect("duration");
        assert_eq!(r["duration_ms"].as_i64(), Some(session_ms + 5000));
        assert_eq!(ts(&r["starts_at"]), ts(&sessions[i]["ts"]).plus(-3000));
        // Every listed segment is on disk with the hash the event gives.
        let segments = r["segments"].as_array().expect("segments");
        assert!(!segments.is_empty());
        for s in segments {
            let path = bench.data_dir().join(s["path"].as_str().expect("path"));
            let sealed = segment::seal(&path).expect("segment on disk");
            assert_eq!(Some(sealed.sha256.as_str()), s["sha256"].as_str());
            assert_eq!(Some(sealed.bytes), s["bytes"].as_u64());
        }

        let out = bench.dir.path().join(format!("clip-{i}.mp4"));
        let e = export_with(
            &bench.data_dir(),
            &order.tracking,
            &out,
            &["--camera", "cam"],
        );
        let (clip_from, clip_to) = (ts(&r["starts_at"]), ts(&r["ends_at"]));
        let (from, to) = (ts(&e["starts_at"]), ts(&e["ends_at"]));
        // It starts at the keyframe at or before the pre-roll, and ends with the post-roll.
        assert!(
            from <= clip_from && clip_from.since(from) <= GOP_MS,
            "{e} vs {r}"
        );
        assert!((to.since(clip_to)).abs() <= FRAME_MS, "{e} vs {r}");
        let duration = e["duration_ms"].as_i64().expect("duration");
        assert!(
            (duration - r["duration_ms"].as_i64().expect("clip")).abs() <= GOP_MS + FRAME_MS,
            "export {duration} ms vs clip {r}"
        );
        exports.push((out, from, to));
    }
    // Back to back: the second clip starts before the first one ends.
    assert!(
        exports[1].1 <= exports[0].2,
        "a gap between consecutive clips"
    );

    // The overlay of a frame inside each session shows that session's order, not the other.
    let reference: Vec<Gray> = orders
        .iter()
        .map(|o| frame::render_overlay(320, 240, Some(&o.tracking)).expect("reference"))
        .collect();
    for i in 0..2 {
        let (out, from, _) = &exports[i];
        let inside = ts(&sessions[i]["ts"]).plus(700).since(*from);
        let picture = frame::decode_at(
            out,
            gstreamer::ClockTime::from_mseconds(inside.unsigned_abs()),
        )
        .expect("decode a frame");
        let other = 1 - i;
        let right = order_box_distance(&picture, &reference[i], &reference[other]);
        let wrong = order_box_distance(&picture, &reference[other], &reference[i]);
        println!(
            "clip {i}: order box distance to its own order {right:.1}, to the other {wrong:.1}"
        );
        assert!(
            right * 2.0 < wrong,
            "clip {i}: distance to its own order's overlay {right:.1}, to the other's {wrong:.1}"
        );
    }
}

fn segment_statuses(data_dir: &Path) -> Vec<String> {
    let conn = packwatch::store::open_existing(&data_dir.join("packwatch.db")).expect("db");
    let mut stmt = conn
        .prepare("SELECT status FROM segments ORDER BY started_at")
        .expect("query");
    stmt.query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("statuses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_earlier_footage_plays_and_the_open_session_gets_its_clip() {
    let broker = LocalBroker::start().expect("broker");
    let bench = Bench::new();
    let mut tap = tap(&broker).await;
    let file = bench.station_file_with(broker.port(), TEST_CAMERA);
    let mut station = RunBinary::start(&file);
    let mut connected = std::collections::BTreeSet::new();
    while connected.len() < 3 {
        let events = until(&mut tap, "device.connected", Duration::from_secs(20)).await;
        connected.insert(events.last().expect("event")["device"].to_string());
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let orders = packer::plan(2, 23);
    pack(&bench.scanner, &bench.scale, &orders[0], PACE)
        .await
        .expect("pack");
    // The second order is open, with one item, when the power goes.
    bench.scanner.scan(&orders[1].tracking).await.expect("scan");
    bench.scanner.scan(&orders[1].items[0]).await.expect("item");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    station.kill_9();
    let statuses = segment_statuses(&bench.data_dir());
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("open"),
        "{statuses:?}"
    );

    // Footage from before the kill plays.
    let first = export(
        &bench.data_dir(),
        &orders[0].tracking,
        &bench.dir.path().join("before.mp4"),
    );
    assert!(first["frames"].as_u64().expect("frames") > 50, "{first}");
    frame::decode_at(
        Path::new(first["path"].as_str().expect("path")),
        gstreamer::ClockTime::from_seconds(1),
    )
    .expect("the clip from before the kill decodes");

    // Restart: the open session resumes, the cut-short segment is sealed, and the session's
    // clip (with the outage as a gap) is ready once it closes.
    let mut station = RunBinary::start(&file);
    until(&mut tap, "device.connected", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bench.scanner.scan("PW-DONE").await.expect("done");
    let mut events = Vec::new();
    let ready = loop {
        let batch = until(&mut tap, "video.ready", Duration::from_secs(30)).await;
        let last = batch.last().cloned().expect("event");
        events.extend(batch);
        if last["order"] == orders[1].tracking.as_str() {
            break last;
        }
    };
    let completed = events
        .iter()
        .find(|e| e["type"] == "session.completed" && e["order"] == orders[1].tracking.as_str())
        .expect("the open session completed after the restart");
    assert_eq!(
        completed["item_count"], 1,
        "the item scanned before the kill is kept"
    );
    assert_eq!(ready["complete"], false, "the outage is a gap: {ready}");
    assert!(!ready["gaps"].as_array().expect("gaps").is_empty());
    let statuses = segment_statuses(&bench.data_dir());
    assert!(statuses.iter().any(|s| s == "cut_short"), "{statuses:?}");
    assert!(!statuses[..statuses.len() - 1].iter().any(|s| s == "open"));
    let second = export(
        &bench.data_dir(),
        &orders[1].tracking,
        &bench.dir.path().join("across.mp4"),
    );
    let across = Path::new(second["path"].as_str().expect("path"));
    frame::decode_at(across, gstreamer::ClockTime::from_seconds(1)).expect("decodes");
    station.kill_9();
}

/// Writes a `seconds`-long 320x240 H.264 MP4 with a keyframe every second.
fn h264_file(path: &Path, seconds: u32) {
    gstreamer::init().expect("gstreamer");
    use gstreamer::prelude::*;
    let pipeline = gstreamer::parse::launch(&format!(
        "videotestsrc pattern=ball num-buffers={} ! video/x-raw,width=320,height=240,framerate=15/1 \
         ! x264enc key-int-max=15 speed-preset=ultrafast ! h264parse ! mp4mux ! filesink name=out",
        seconds * 15
    ))
    .expect("pipeline");
    let bin = pipeline
        .clone()
        .downcast::<gstreamer::Bin>()
        .expect("a bin");
    bin.by_name("out")
        .expect("filesink")
        .set_property("location", path.to_str().expect("utf-8"));
    pipeline.set_state(gstreamer::State::Playing).expect("play");
    let bus = pipeline.bus().expect("bus");
    let msg = bus
        .timed_pop_filtered(
            gstreamer::ClockTime::from_seconds(60),
            &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
        )
        .expect("finished");
    assert!(
        matches!(msg.view(), gstreamer::MessageView::Eos(_)),
        "{msg:?}"
    );
    pipeline.set_state(gstreamer::State::Null).expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_camera_is_a_fault_until_it_appears_and_h264_is_recorded_as_it_comes() {
    let broker = LocalBroker::start().expect("broker");
    let bench = Bench::new();
    let mut tap = tap(&broker).await;
    let source = bench.dir.path().join("camera.mp4");
    let file = bench.station_file_with(
        broker.port(),
        &one_camera("file", "path", &source.display().to_string()),
    );
    let config = StationConfig::load(&file).expect("station");
    let running = packwatch::station::start(config).await.expect("start");
    // No camera yet: a fault that names the problem, not silence.
    let fault = until(&mut tap, "device.fault", Duration::from_secs(15)).await;
    let fault = fault.last().expect("fault");
    assert_eq!(fault["device"], "ipcam");
    assert_eq!(fault["kind"], "camera");
    assert!(
        fault["reason"]
            .as_str()
            .expect("reason")
            .contains("camera.mp4"),
        "{fault}"
    );
    // The camera appears: the recorder's retry picks it up without a restart.
    h264_file(&source, 20);
    loop {
        let events = until(&mut tap, "device.connected", Duration::from_secs(40)).await;
        if events.last().expect("event")["device"] == "ipcam" {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let order = &packer::plan(1, 5)[0];
    pack(&bench.scanner, &bench.scale, order, PACE)
        .await
        .expect("pack");
    until_n(&mut tap, "video.ready", 1).await;
    running.stop().await.expect("stop");

    // Recorded as it came: the segments are not ours to draw on.
    let conn = packwatch::store::open_existing(&bench.data_dir().join("packwatch.db")).expect("db");
    let encoded: i64 = conn
        .query_row("SELECT max(encoded) FROM segments", [], |r| r.get(0))
        .expect("segments");
    assert_eq!(encoded, 0, "H.264 from the camera is not re-encoded");

    // Without --burn-in the export is a stream copy; with it, the order is drawn in.
    let plain = export(
        &bench.data_dir(),
        &order.tracking,
        &bench.dir.path().join("plain.mp4"),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_packwatch"))
        .args([
            "export",
            &order.tracking,
            "--burn-in",
            "--json",
            "--data-dir",
        ])
        .arg(bench.data_dir())
        .arg("-o")
        .arg(bench.dir.path().join("burned.mp4"))
        .output()
        .expect("export --burn-in");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let burned: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_ne!(plain["sha256"], burned["sha256"]);
    let reference = frame::render_overlay(320, 240, Some(&order.tracking)).expect("reference");
    let nothing = frame::render_overlay(320, 240, Some("NOTHING-HERE-0000")).expect("reference");
    for (file, drawn) in [(&plain, false), (&burned, true)] {
        let picture = frame::decode_at(
            Path::new(file["path"].as_str().expect("path")),
            gstreamer::ClockTime::from_mseconds(3700),
        )
        .expect("decode");
        let right = order_box_distance(&picture, &reference, &nothing);
        let wrong = order_box_distance(&picture, &nothing, &reference);
        println!(
            "burn-in {drawn}: distance to the order's overlay {right:.1}, to another {wrong:.1}"
        );
        assert_eq!(
            right * 2.0 < wrong,
            drawn,
            "burned in: {drawn}; {right:.1} vs {wrong:.1}"
        );
    }
}
