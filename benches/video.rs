//! Video: what recording, export and retrieval cost, each against a baseline measured in the
//! same run on the same machine.
//!
//! **1. Encoding with the overlay** (test camera, x264, 1280x720 and 1920x1080 at 30 fps): CPU
//! seconds per second of video recorded. *packwatch*: this binary re-executes itself as a
//! child (`PACKWATCH_BENCH_CHILD=record:...`) that runs the real `Recorder` for 20 s while an
//! `Overlay` changes the order text every 2 s and the weight every 200 ms, then stops it (EOS,
//! the open segment finished and sealed). *Baseline*: `gst-launch-1.0 -e` runs the very same
//! `pipeline::plan(..).description`, with three additions only gst-launch needs:
//! `num-buffers` on the source (20 s of pictures, then EOS), a `location` for the segments,
//! and the overlays' texts set once (a gst-launch pipeline cannot change them, and an empty
//! `textoverlay` draws nothing, which would make the baseline skip work packwatch does). The
//! recorder also configures each muxer and file sink (index rewritten every second,
//! unbuffered writes), which the baseline does not. Runs go packwatch, baseline, baseline,
//! packwatch per size, so drift in the machine's speed hits both sides alike.
//!
//! **How a child is measured**: every child runs under a small wrapper (this binary again,
//! `PACKWATCH_BENCH_MEASURE=...`) whose only child it is; after reaping it, the wrapper reads
//! `getrusage(RUSAGE_CHILDREN)`: user + system CPU and the peak RSS of exactly that process,
//! startup (GStreamer's registry, plugin loading) and shutdown included for both sides. The
//! seconds of video are what `ffprobe` finds in the files written, measured the same way for
//! both; the frames in them show whether the encoder kept up (the pipeline's queue drops
//! pictures when it does not). The packwatch child also reports its own CPU over the steady
//! part of its run (from 3 s after start until stop is requested), without startup. Each
//! row also shows the machine's steal time during the run (`/proc/stat`), and each size the
//! spread between runs of the same command: on a shared 2-core VM that spread (5-15 % in our
//! runs) is as large as the margin the goal allows, so read the ratio with it.
//!
//! **2. Passthrough** (an H.264 1920x1080 30 fps MP4 at 4 Mbit/s, made first with gst-launch,
//! untimed, replayed in real time as a `file` camera by `clocksync`): 30 s recorded by the child;
//! CPU as % of one core per second of video and peak RSS; baseline: the same description
//! under `gst-launch-1.0 -e`, stopped by SIGINT after 30 s.
//!
//! The footage made for 2 and 3 is moving colour bars, not the test camera's ball: x264 makes
//! the ball into ~0.2 Mbit/s, a twentieth of a real camera's byte rate, which would flatter
//! both measurements.
//!
//! **3. Export of a 60 s clip without re-encoding**: 75 s of 1280x720 segments (4 s each) are
//! made as fast as possible with gst-launch (one `mp4mux` run per segment: `splitmuxsink` fed
//! that fast sometimes never finishes), registered in a fresh `Store` with consecutive
//! wall-clock times, and `export::export` cuts 60 s from 7.5 s in (one unreported warm-up,
//! then 5 timed runs in this process). Baselines: reading the same segment files
//! (`std::fs::read`, page cache warm) and `ffmpeg -f concat -c copy -movflags +faststart` of
//! them into one MP4 (a new process each time; no cut to the range, no fsync).
//!
//! **4. `retrieve::find` by order at 1,000,000 sessions**: 1,000,000 completed sessions (and
//! each one's clip row on one camera, as a station with a camera writes) are inserted into a
//! fresh station database in one transaction; then `find` is timed for 1,000 random existing
//! orders (after 20 warm-up lookups, on a connection opened like the CLI opens it, scans and
//! segments tables empty); the lookups stop after 30 s in all if they are slow. Baseline:
//! `SELECT id FROM sessions WHERE id = ?` for the same rows. As a reference, the by-order
//! SELECT of `sessions::list` (a copy) is timed alone and its query plan printed: the first
//! run of this benchmark found it scanning every session (213 ms at a million).
//!
//! **5. Memory per camera**: peak RSS of the child recording two 1280x720 30 fps test cameras
//! for 20 s, minus that of the one-camera runs of 1.
//!
//! Figures are printed, never asserted: this is a measurement, not a test. Needs
//! `gst-launch-1.0` (plugins base, good, bad, ugly), `ffmpeg` and `ffprobe`. Run:
//! `cargo bench --bench video` (about 5 minutes). Files go in a temporary directory under
//! `$PACKWATCH_BENCH_DIR` when set, else the system temp dir.

#[allow(dead_code)] // `block_on`: nothing here is async
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gstreamer as gst;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{Signal, kill};
use nix::sys::time::TimeVal;
use nix::unistd::Pid;
use packwatch::config::{CameraConfig, CameraFormat, CameraKind, EncoderSetting, VideoSection};
use packwatch::core::machine::Mode;
use packwatch::core::time::Timestamp;
use packwatch::core::weight::{ScaleReading, Unit};
use packwatch::store::{Identity, Store};
use packwatch::video::export::{self, Request};
use packwatch::video::overlay::{self, Overlay};
use packwatch::video::pipeline;
use packwatch::video::recorder::{Note, Recorder};
use packwatch::video::retrieve;
use packwatch::video::segment;
use rusqlite::params;

/// Set in a child that records: `record:<test|file>:<cameras>:<W>x<H>:<fps>:<seconds>:<dir>`.
const CHILD_ENV: &str = "PACKWATCH_BENCH_CHILD";
/// Set in the measuring wrapper: `<interrupt after ms, 0 = never>:<timeout ms>`; its
/// arguments are the command to measure.
const MEASURE_ENV: &str = "PACKWATCH_BENCH_MEASURE";
/// The MP4 a `file` camera replays.
const SOURCE_ENV: &str = "PACKWATCH_BENCH_SOURCE";

const STATION: &str = "bench-st1";
const FPS: u32 = 30;
/// Seconds of video per encoding run.
const ENCODE_SECONDS: u32 = 20;
const PASSTHROUGH_SECONDS: u32 = 30;
/// Length of the passthrough source file (longer than the recording: it must not run out).
const SOURCE_SECONDS: u32 = 40;
const ORDER_EVERY_TICKS: u64 = 10;
const WEIGHT_EVERY: Duration = Duration::from_millis(200);
/// The packwatch child's own steady-state CPU is counted from this long after start.
const STEADY_AFTER: Duration = Duration::from_secs(3);
/// A child still running this long after it should have ended is killed.
const CHILD_GRACE: Duration = Duration::from_secs(60);

/// The made-up footage of 2 and 3: moving colour bars, which x264 encodes at the bit rate
/// asked (a real camera's byte rate), where the test camera's ball would give a twentieth.
const MOVING_PATTERN: &str = "pattern=smpte horizontal-speed=8";
/// A typical IP camera's 1080p stream.
const PASSTHROUGH_KBPS: u32 = 4_000;
/// About what the recorder's x264 makes of a 1280x720 camera.
const EXPORT_KBPS: u32 = 2_000;
const EXPORT_FOOTAGE_FRAMES: u32 = 2250;
/// The station's default segment length.
const SEGMENT_SECONDS: u32 = 4;
/// A setup gst-launch (making footage) running longer than this is killed.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
const EXPORT_FROM_MS: i64 = 7_500;
const CLIP_MS: i64 = 60_000;
const EXPORT_RUNS: usize = 5;
/// Wall-clock time of the export footage's first frame (2026-01-01T00:00:00Z).
const FOOTAGE_EPOCH: Timestamp = Timestamp(1_767_225_600_000);

const SESSIONS: usize = 1_000_000;
const LOOKUPS: usize = 1_000;
const LOOKUP_WARMUP: usize = 20;
/// Lookups stop early when they take longer than this in all.
const LOOKUP_BUDGET: Duration = Duration::from_secs(30);
const SEED: u64 = 0x51DE_0BEC;

/// Goals from the issue.
const ENCODE_RATIO_GOAL: f64 = 1.10;
const PASSTHROUGH_CPU_GOAL_PCT: f64 = 2.0;
const EXPORT_GOAL: Duration = Duration::from_millis(300);
const FIND_GOAL: Duration = Duration::from_millis(5);

fn main() {
    if let Ok(spec) = std::env::var(MEASURE_ENV) {
        std::process::exit(measure_wrapper(&spec));
    }
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        record_child(&spec);
        return;
    }
    run();
}

// ---------------------------------------------------------------------------------------
// The children.

/// Runs the command in its arguments, interrupting it (SIGINT) after the given time if asked,
/// and prints `rusage: <user s> <sys s> <max RSS KiB> <wall s> <exit code>` once it is reaped.
fn measure_wrapper(spec: &str) -> i32 {
    let (interrupt_ms, timeout_ms) = spec
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .expect("PACKWATCH_BENCH_MEASURE=<interrupt ms>:<timeout ms>");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("the measuring wrapper needs a command");
        return 2;
    };
    let started = Instant::now();
    let mut child = match Command::new(program)
        .args(rest)
        .env_remove(MEASURE_ENV)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("cannot start {program}: {e}");
            return 2;
        }
    };
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits i32"));
    let interrupt = (interrupt_ms > 0).then(|| Duration::from_millis(interrupt_ms));
    let timeout = Duration::from_millis(timeout_ms);
    let mut interrupted = false;
    let mut killed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                eprintln!("waiting for {program}: {e}");
                return 2;
            }
        }
        let elapsed = started.elapsed();
        if let Some(after) = interrupt
            && !interrupted
            && elapsed >= after
        {
            let _ = kill(pid, Signal::SIGINT);
            interrupted = true;
        }
        if elapsed >= timeout && !killed {
            eprintln!("{program} still running after {timeout:?}: killed");
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = started.elapsed();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    println!(
        "rusage: {:.6} {:.6} {} {:.3} {}",
        seconds(usage.user_time()),
        seconds(usage.system_time()),
        usage.max_rss(),
        wall.as_secs_f64(),
        status.code().unwrap_or(-1)
    );
    0
}

fn seconds(t: TimeVal) -> f64 {
    t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6
}

/// This process's user + system CPU seconds.
fn self_cpu() -> f64 {
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| seconds(u.user_time()) + seconds(u.system_time()))
        .unwrap_or(f64::NAN)
}

/// The child that records: real `Recorder`s, an `Overlay` changing as at a packing station.
fn record_child(spec: &str) {
    let parts: Vec<&str> = spec.splitn(7, ':').collect();
    let ["record", kind, cameras, size, fps, secs, dir] = parts.as_slice() else {
        panic!(
            "{CHILD_ENV}={spec:?}: expected record:<test|file>:<cameras>:<W>x<H>:<fps>:<seconds>:<dir>"
        );
    };
    let (width, height) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .expect("<W>x<H>");
    let fps: u32 = fps.parse().expect("fps");
    let cameras: usize = cameras.parse().expect("camera count");
    let total = Duration::from_secs(secs.parse().expect("seconds"));
    let dir = PathBuf::from(dir);
    let (kind, path) = match *kind {
        "test" => (CameraKind::Test, None),
        "file" => (
            CameraKind::File,
            Some(PathBuf::from(
                std::env::var_os(SOURCE_ENV).expect("PACKWATCH_BENCH_SOURCE for a file camera"),
            )),
        ),
        other => panic!("camera kind {other:?}"),
    };
    gst::init().expect("gstreamer");

    let overlay = Overlay::new(STATION);
    overlay.set_order(Some(&order_no(0)));
    overlay.set_weight(Some(weight(0)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let recorders: Vec<Recorder> = (0..cameras)
        .map(|i| {
            let mut camera = camera(&format!("cam{i}"), kind, width, height, fps);
            camera.path.clone_from(&path);
            Recorder::start(
                camera,
                VideoSection::default(),
                dir.clone(),
                overlay.clone(),
                tx.clone(),
            )
        })
        .collect();
    drop(tx);

    let started = Instant::now();
    let mut steady_from: Option<(Instant, f64)> = None;
    let mut tick = 0u64;
    while started.elapsed() < total {
        tick += 1;
        let next = started + WEIGHT_EVERY * u32::try_from(tick).unwrap_or(u32::MAX);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        overlay.set_weight(Some(weight(tick)));
        if tick.is_multiple_of(ORDER_EVERY_TICKS) {
            overlay.set_order(Some(&order_no(tick / ORDER_EVERY_TICKS)));
        }
        if steady_from.is_none() && started.elapsed() >= STEADY_AFTER {
            steady_from = Some((Instant::now(), self_cpu()));
        }
    }
    let steady_to = (Instant::now(), self_cpu());
    std::thread::scope(|s| {
        for recorder in recorders {
            s.spawn(move || recorder.stop());
        }
    });

    let (mut closed, mut faults) = (0usize, Vec::new());
    while let Ok(note) = rx.try_recv() {
        match note {
            Note::SegmentClosed { .. } => closed += 1,
            Note::Fault { reason, .. } => faults.push(reason),
            Note::SegmentLost { reason, .. } => faults.push(format!("segment lost: {reason}")),
            _ => {}
        }
    }
    let (steady_cpu, steady_wall) = match steady_from {
        Some((t, cpu)) => (
            steady_to.1 - cpu,
            steady_to.0.duration_since(t).as_secs_f64(),
        ),
        None => (f64::NAN, 0.0),
    };
    println!(
        "child: segments={closed} faults={} steady_cpu_s={steady_cpu:.4} steady_wall_s={steady_wall:.4}",
        faults.len()
    );
    for fault in faults {
        println!("child-fault: {}", fault.replace('\n', " "));
    }
}

fn camera(name: &str, kind: CameraKind, width: u32, height: u32, fps: u32) -> CameraConfig {
    CameraConfig {
        name: name.into(),
        kind,
        device: None,
        url: None,
        path: None,
        width,
        height,
        fps,
        format: CameraFormat::Auto,
        encoder: Some(EncoderSetting::X264),
        bitrate_kbps: None,
    }
}

fn order_no(i: u64) -> String {
    format!("1Z999AA1{:010}", splitmix(i ^ SEED) % 10_000_000_000)
}

/// A reading that changes on every tick: the info text changes every 200 ms.
fn weight(tick: u64) -> ScaleReading {
    ScaleReading::weight(
        800.0 + (tick % 50) as f64 * 7.0,
        Unit::G,
        tick.is_multiple_of(5),
    )
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

// ---------------------------------------------------------------------------------------
// Measuring children from the parent.

/// What the wrapper measured of one child.
#[derive(Debug, Clone, Copy)]
struct Usage {
    user_s: f64,
    sys_s: f64,
    max_rss_kib: u64,
    wall_s: f64,
    /// CPU time the hypervisor gave other guests during the run (all CPUs, from
    /// `/proc/stat`): a sign of a noisy neighbour.
    steal_s: Option<f64>,
}

impl Usage {
    fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }
}

/// What `ffprobe` finds in a directory's MP4 files.
#[derive(Debug, Clone, Copy, Default)]
struct Footage {
    files: usize,
    unreadable: usize,
    seconds: f64,
    frames: u64,
}

/// One measured recording.
struct Recording {
    label: String,
    usage: Usage,
    footage: Footage,
    /// The packwatch child's report: segments closed, faults, own steady-state CPU.
    child: Option<ChildReport>,
}

struct ChildReport {
    segments: usize,
    faults: Vec<String>,
    steady_cpu_s: f64,
    steady_wall_s: f64,
}

impl Recording {
    fn cpu_per_video_s(&self) -> f64 {
        self.usage.cpu_s() / self.footage.seconds
    }
}

/// Runs `program args` under the measuring wrapper; `Err` with its output if it failed.
fn measure(
    program: &Path,
    args: &[String],
    env: &[(&str, String)],
    interrupt_after: Option<Duration>,
    timeout: Duration,
) -> Result<(Usage, String), String> {
    let ms = |d: Duration| d.as_millis().to_string();
    let steal_before = steal_s();
    let output = Command::new(std::env::current_exe().expect("this benchmark's path"))
        .arg(program)
        .args(args)
        .env(
            MEASURE_ENV,
            format!(
                "{}:{}",
                interrupt_after.map(ms).unwrap_or_else(|| "0".into()),
                ms(timeout)
            ),
        )
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .map_err(|e| format!("cannot start the measuring wrapper: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let tail = || {
        let all = format!("{stdout}\n{stderr}");
        let lines: Vec<&str> = all.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(8)..].join("\n    ")
    };
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("rusage: "))
        .ok_or_else(|| format!("no measurement from the wrapper:\n    {}", tail()))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [user, sys, rss, wall, code] = fields.as_slice() else {
        return Err(format!("bad wrapper line {line:?}"));
    };
    if *code != "0" {
        return Err(format!(
            "{} exited with {code}:\n    {}",
            program.display(),
            tail()
        ));
    }
    let f = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
    Ok((
        Usage {
            user_s: f(user),
            sys_s: f(sys),
            max_rss_kib: rss.parse().unwrap_or(0),
            wall_s: f(wall),
            steal_s: steal_before.zip(steal_s()).map(|(a, b)| b - a),
        },
        stdout,
    ))
}

/// Steal time of all CPUs so far, seconds (`/proc/stat` counts in USER_HZ = 100).
fn steal_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let steal: u64 = cpu.split_whitespace().nth(7)?.parse().ok()?;
    Some(steal as f64 / 100.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// A packwatch recording child: `kind` `cameras` × `width`x`height` for `secs` into `dir`.
#[allow(clippy::too_many_arguments)]
fn record_packwatch(
    label: &str,
    kind: &str,
    cameras: usize,
    width: u32,
    height: u32,
    secs: u32,
    dir: &Path,
    source: Option<&Path>,
) -> Result<Recording, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut env = vec![(
        CHILD_ENV,
        format!(
            "record:{kind}:{cameras}:{width}x{height}:{FPS}:{secs}:{}",
            dir.display()
        ),
    )];
    if let Some(source) = source {
        env.push((SOURCE_ENV, source.display().to_string()));
    }
    let exe = std::env::current_exe().expect("this benchmark's path");
    let (usage, stdout) = measure(
        &exe,
        &[],
        &env,
        None,
        Duration::from_secs(u64::from(secs)) + CHILD_GRACE,
    )?;
    let child = stdout
        .lines()
        .find_map(|l| l.strip_prefix("child: "))
        .map(|line| {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    .unwrap_or("")
            };
            ChildReport {
                segments: field("segments").parse().unwrap_or(0),
                faults: stdout
                    .lines()
                    .filter_map(|l| l.strip_prefix("child-fault: "))
                    .map(str::to_string)
                    .collect(),
                steady_cpu_s: field("steady_cpu_s").parse().unwrap_or(f64::NAN),
                steady_wall_s: field("steady_wall_s").parse().unwrap_or(f64::NAN),
            }
        });
    Ok(Recording {
        label: label.to_string(),
        usage,
        footage: footage(dir),
        child,
    })
}

/// `gst-launch-1.0 -e <description>` as a measured child.
fn record_gst_launch(
    label: &str,
    description: &str,
    dir: &Path,
    interrupt_after: Option<Duration>,
    secs: u32,
) -> Result<Recording, String> {
    let mut args = vec!["-e".to_string()];
    args.extend(launch_args(description));
    let (usage, _) = measure(
        Path::new("gst-launch-1.0"),
        &args,
        &[],
        interrupt_after,
        Duration::from_secs(u64::from(secs)) + CHILD_GRACE,
    )?;
    Ok(Recording {
        label: label.to_string(),
        usage,
        footage: footage(dir),
        child: None,
    })
}

/// A launch description as the arguments a shell would give gst-launch: split at blanks
/// outside double quotes, quotes removed (gst-launch escapes each argument's blanks).
fn launch_args(description: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in description.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    args.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        args.push(current);
    }
    args
}

/// The recorder's description made runnable by gst-launch: segment location, and for a test
/// camera `num-buffers` and the overlays' texts; for a file camera the file.
fn baseline_description(
    description: &str,
    dir: &Path,
    num_buffers: Option<u32>,
    source: Option<&Path>,
) -> String {
    let last = description.rsplit('!').next().unwrap_or("").trim();
    assert!(
        last.starts_with("splitmuxsink "),
        "the recorder's description no longer ends with splitmuxsink: {description}"
    );
    let mut d = format!(
        "{description} location=\"{}\"",
        dir.join("base%05d.mp4").display()
    );
    let mut insert_after = |element: &str, what: String| {
        assert!(
            d.contains(element),
            "the recorder's description has no {element:?}: {description}"
        );
        d = d.replacen(element, &format!("{element} {what}"), 1);
    };
    if let Some(n) = num_buffers {
        insert_after("videotestsrc name=src", format!("num-buffers={n}"));
        insert_after(
            &format!("textoverlay name={}", overlay::ORDER),
            format!("text=\"{}\"", overlay::order_text(Some(&order_no(0)))),
        );
        insert_after(
            &format!("textoverlay name={}", overlay::INFO),
            format!("text=\"{}\"", overlay::info_text(STATION, Some(&weight(0)))),
        );
    }
    if let Some(source) = source {
        insert_after(
            "filesrc name=src",
            format!("location=\"{}\"", source.display()),
        );
    }
    d
}

/// Sums what `ffprobe` finds in the MP4 files under `dir`.
fn footage(dir: &Path) -> Footage {
    let mut total = Footage::default();
    for file in mp4_files(dir) {
        match probe(&file) {
            Some((seconds, frames)) => {
                total.files += 1;
                total.seconds += seconds;
                total.frames += frames;
            }
            None => total.unreadable += 1,
        }
    }
    total
}

fn mp4_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "mp4") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// (seconds, frames) of a file's video stream.
fn probe(file: &Path) -> Option<(f64, u64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=duration,nb_frames",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(file)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    Some((
        value("duration")?.parse().ok()?,
        value("nb_frames")?.parse().ok()?,
    ))
}

// ---------------------------------------------------------------------------------------
// The measurements.

fn run() {
    let dir = common::bench_dir();
    let began = Instant::now();
    let load_at_start = load_average();
    gst::init().expect("gstreamer");

    eprintln!("[video bench] 1/5 encoding with overlay, 1280x720 and 1920x1080, 4 x 20 s each");
    let encode = [(1280, 720), (1920, 1080)]
        .map(|(w, h)| encode_runs(&dir.path().join(format!("encode-{h}p")), w, h));

    eprintln!("[video bench] 2/5 passthrough, 1920x1080 H.264, 2 x 30 s");
    let passthrough = passthrough_runs(&dir.path().join("passthrough"));

    eprintln!("[video bench] 3/5 memory per camera: 2 cameras, 20 s");
    let two = record_packwatch(
        "packwatch, 2 cameras",
        "test",
        2,
        1280,
        720,
        ENCODE_SECONDS,
        &dir.path().join("two-cameras"),
        None,
    );

    eprintln!("[video bench] 4/5 export of a 60 s clip");
    let exports = export_runs(&dir.path().join("export"));

    eprintln!("[video bench] 5/5 find by order at 1,000,000 sessions");
    let lookups = find_runs(&dir.path().join("sessions.db"));

    println!();
    println!(
        "machine: {} CPUs; load average (1, 5, 15 min) at start {load_at_start}, at end {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    report(&encode, &passthrough, &two, &exports, &lookups, dir.path());
    println!();
    println!(
        "total benchmark time {:.0} s",
        began.elapsed().as_secs_f64()
    );
}

struct EncodeRuns {
    size: String,
    bitrate_kbps: u32,
    packwatch: Vec<Result<Recording, String>>,
    baseline: Vec<Result<Recording, String>>,
    /// The last baseline's description, as given to `gst-launch-1.0 -e`.
    baseline_description: String,
}

fn encode_runs(dir: &Path, width: u32, height: u32) -> EncodeRuns {
    let camera = camera("cam0", CameraKind::Test, width, height, FPS);
    let plan = pipeline::plan(&camera, &VideoSection::default(), None);
    let mut packwatch = Vec::new();
    let mut baseline = Vec::new();
    let mut baseline_command = String::new();
    for (i, side) in ["pw", "base", "base", "pw"].iter().enumerate() {
        let run_dir = dir.join(format!("{i}-{side}"));
        if *side == "pw" {
            packwatch.push(record_packwatch(
                &format!("packwatch run {}", packwatch.len() + 1),
                "test",
                1,
                width,
                height,
                ENCODE_SECONDS,
                &run_dir,
                None,
            ));
        } else {
            let _ = std::fs::create_dir_all(&run_dir);
            let description = baseline_description(
                &plan.description,
                &run_dir,
                Some(FPS * ENCODE_SECONDS),
                None,
            );
            baseline.push(record_gst_launch(
                &format!("gst-launch run {}", baseline.len() + 1),
                &description,
                &run_dir,
                None,
                ENCODE_SECONDS,
            ));
            baseline_command = description;
        }
    }
    EncodeRuns {
        size: format!("{width}x{height}@{FPS}"),
        bitrate_kbps: camera.bitrate(),
        packwatch,
        baseline,
        baseline_description: baseline_command,
    }
}

struct PassthroughRuns {
    /// How long making the source took, and its bit rate in kbit/s.
    setup: Result<(Duration, f64), String>,
    packwatch: Result<Recording, String>,
    baseline: Result<Recording, String>,
    baseline_description: String,
}

fn passthrough_runs(dir: &Path) -> PassthroughRuns {
    let _ = std::fs::create_dir_all(dir);
    let source = dir.join("source-1080p30.mp4");
    let started = Instant::now();
    let setup = gst_launch_quiet(&format!(
        "videotestsrc {MOVING_PATTERN} num-buffers={} \
         ! video/x-raw,format=I420,width=1920,height=1080,framerate={FPS}/1 \
         ! x264enc key-int-max={FPS} speed-preset=ultrafast bitrate={PASSTHROUGH_KBPS} ! mp4mux \
         ! filesink location=\"{}\"",
        FPS * SOURCE_SECONDS,
        source.display()
    ))
    .map(|()| {
        let bytes = std::fs::metadata(&source).map(|m| m.len()).unwrap_or(0);
        (
            started.elapsed(),
            bytes as f64 * 8.0 / 1000.0 / f64::from(SOURCE_SECONDS),
        )
    });
    if let Err(e) = &setup {
        let e = format!("the source file could not be made: {e}");
        return PassthroughRuns {
            setup: Err(e.clone()),
            packwatch: Err(e.clone()),
            baseline: Err(e),
            baseline_description: String::new(),
        };
    }
    let packwatch = record_packwatch(
        "packwatch",
        "file",
        1,
        1920,
        1080,
        PASSTHROUGH_SECONDS,
        &dir.join("pw"),
        Some(&source),
    );
    let mut camera = camera("cam0", CameraKind::File, 1920, 1080, FPS);
    camera.path = Some(source.clone());
    let plan = pipeline::plan(&camera, &VideoSection::default(), None);
    let base_dir = dir.join("base");
    let _ = std::fs::create_dir_all(&base_dir);
    let description = baseline_description(&plan.description, &base_dir, None, Some(&source));
    let baseline = record_gst_launch(
        "gst-launch",
        &description,
        &base_dir,
        Some(Duration::from_secs(u64::from(PASSTHROUGH_SECONDS))),
        PASSTHROUGH_SECONDS,
    );
    PassthroughRuns {
        setup,
        packwatch,
        baseline,
        baseline_description: description,
    }
}

/// Runs a description to its end with gst-launch (setup, not measured).
fn gst_launch_quiet(description: &str) -> Result<(), String> {
    let mut child = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(launch_args(description))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("gst-launch-1.0: {e}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > SETUP_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "gst-launch-1.0 did not finish within {SETUP_TIMEOUT:?}: {description}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        Ok(())
    } else {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        Err(format!("gst-launch-1.0 failed: {}", stderr.trim()))
    }
}

struct ExportRuns {
    setup: Duration,
    segments_made: usize,
    footage_s: f64,
    spans: usize,
    span_bytes: u64,
    warmup: Duration,
    export: Vec<Duration>,
    /// The last export's duration, frames, bytes, skipped segments.
    last: Option<(i64, usize, u64, usize)>,
    read: Vec<Duration>,
    ffmpeg: Result<Vec<Duration>, String>,
}

fn export_runs(dir: &Path) -> Result<ExportRuns, String> {
    let data_dir = dir.join("data");
    let rel_dir = Path::new(segment::VIDEO_DIR).join("cam").join("2026-01-01");
    let seg_dir = data_dir.join(&rel_dir);
    std::fs::create_dir_all(&seg_dir).map_err(|e| e.to_string())?;
    let started = Instant::now();
    // One gst-launch per segment: splitmuxsink fed this fast hangs at the end of the stream
    // about one time in six (GStreamer 1.22), all files written but the process never exits.
    let segment_frames = FPS * SEGMENT_SECONDS;
    let mut left = EXPORT_FOOTAGE_FRAMES;
    let mut n = 0;
    while left > 0 {
        let frames = left.min(segment_frames);
        gst_launch_quiet(&format!(
            "videotestsrc {MOVING_PATTERN} num-buffers={frames} \
             ! video/x-raw,format=I420,width=1280,height=720,framerate={FPS}/1 \
             ! x264enc key-int-max={FPS} speed-preset=ultrafast bitrate={EXPORT_KBPS} ! h264parse \
             ! mp4mux ! filesink location=\"{}\"",
            seg_dir.join(format!("seg{n:05}.mp4")).display()
        ))?;
        left -= frames;
        n += 1;
    }

    // Register the segments with consecutive wall-clock times, as the station loop would.
    let db = data_dir.join("packwatch.db");
    let mut store = Store::open(&db, identity()).map_err(|e| e.to_string())?;
    let files = mp4_files(&seg_dir);
    let mut at = FOOTAGE_EPOCH;
    let mut footage_s = 0.0;
    for file in &files {
        let (seconds, _) = probe(file).ok_or_else(|| format!("ffprobe {}", file.display()))?;
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let relative = rel_dir.join(name).to_string_lossy().into_owned();
        let sealed = segment::seal(file).map_err(|e| e.to_string())?;
        let ended = at.plus((seconds * 1000.0).round() as i64);
        store
            .segment_opened("cam", &relative, at, true)
            .map_err(|e| e.to_string())?;
        store
            .segment_closed("cam", &relative, ended, sealed.bytes, &sealed.sha256, false)
            .map_err(|e| e.to_string())?;
        at = ended;
        footage_s += seconds;
    }
    drop(store);
    let setup = started.elapsed();

    let conn = packwatch::store::open_existing(&db).map_err(|e| e.to_string())?;
    let from = FOOTAGE_EPOCH.plus(EXPORT_FROM_MS);
    let to = from.plus(CLIP_MS);
    let spans =
        packwatch::store::video::spans(&conn, "cam", from, to, false).map_err(|e| e.to_string())?;
    let span_bytes = spans.iter().map(|s| s.bytes).sum();
    let out_dir = dir.join("exports");
    let export_once = |i: usize| -> Result<(Duration, export::Exported), String> {
        let out = out_dir.join(format!("clip-{i}.mp4"));
        let t0 = Instant::now();
        let exported = export::export(&Request {
            data_dir: &data_dir,
            segments: &spans,
            from,
            to,
            out: &out,
            burn_in: None,
        })
        .map_err(|e| e.to_string())?;
        Ok((t0.elapsed(), exported))
    };
    let (warmup, _) = export_once(0)?;
    let mut export = Vec::new();
    let mut last = None;
    for i in 1..=EXPORT_RUNS {
        let (took, e) = export_once(i)?;
        export.push(took);
        last = Some((e.duration_ms(), e.frames, e.bytes, e.skipped.len()));
    }

    let paths: Vec<PathBuf> = spans.iter().map(|s| data_dir.join(&s.path)).collect();
    let read = (0..EXPORT_RUNS)
        .map(|_| {
            let t0 = Instant::now();
            let bytes: usize = paths
                .iter()
                .map(|p| std::fs::read(p).map(|b| b.len()).unwrap_or(0))
                .sum();
            std::hint::black_box(bytes);
            t0.elapsed()
        })
        .collect();

    let list = dir.join("concat.txt");
    let listing: String = paths
        .iter()
        .map(|p| format!("file '{}'\n", p.display()))
        .collect();
    std::fs::write(&list, listing).map_err(|e| e.to_string())?;
    let ffmpeg = (0..EXPORT_RUNS)
        .map(|i| {
            let out = out_dir.join(format!("ffmpeg-{i}.mp4"));
            let t0 = Instant::now();
            let result = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"])
                .arg(&list)
                .args(["-c", "copy", "-movflags", "+faststart"])
                .arg(&out)
                .output();
            let took = t0.elapsed();
            match result {
                Ok(o) if o.status.success() => Ok(took),
                Ok(o) => Err(format!(
                    "ffmpeg failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Err(e) => Err(format!("ffmpeg: {e}")),
            }
        })
        .collect::<Result<Vec<_>, _>>();

    Ok(ExportRuns {
        setup,
        segments_made: files.len(),
        footage_s,
        spans: spans.len(),
        span_bytes,
        warmup,
        export,
        last,
        read,
        ffmpeg,
    })
}

fn identity() -> Identity {
    Identity {
        site: "bench".to_string(),
        station: STATION.to_string(),
    }
}

struct FindRuns {
    insert: Duration,
    db_bytes: u64,
    find: Vec<Duration>,
    found_sessions: usize,
    by_id: Vec<Duration>,
    /// Reference: the by-order SELECT of `sessions::list` (a copy) alone, and its plan.
    order_only: Vec<Duration>,
    order_only_plan: String,
}

fn find_runs(db: &Path) -> Result<FindRuns, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    // The schema as the station makes it, and its identity in `meta`.
    let mut store = Store::open(db, identity()).map_err(|x| e(&x))?;
    store.startup_mode(Mode::Pack).map_err(|x| e(&x))?;
    drop(store);

    // Which rows the lookups will ask for, chosen before inserting.
    let mut pick: HashMap<usize, usize> = HashMap::new();
    let mut r = SEED;
    while pick.len() < LOOKUP_WARMUP + LOOKUPS {
        r = splitmix(r);
        let row = usize::try_from(r % SESSIONS as u64).expect("fits");
        let slot = pick.len();
        pick.entry(row).or_insert(slot);
    }
    let mut wanted = vec![(String::new(), String::new()); LOOKUP_WARMUP + LOOKUPS];

    let started = Instant::now();
    {
        let mut conn = rusqlite::Connection::open(db).map_err(|x| e(&x))?;
        conn.pragma_update(None, "journal_mode", "DELETE")
            .map_err(|x| e(&x))?;
        conn.pragma_update(None, "synchronous", "OFF")
            .map_err(|x| e(&x))?;
        conn.pragma_update(None, "cache_size", -262_144)
            .map_err(|x| e(&x))?;
        let tx = conn.transaction().map_err(|x| e(&x))?;
        {
            let mut session = tx
                .prepare(
                    "INSERT INTO sessions (id, order_no, matched_by, kind, started_at, ended_at,
                                           status, close_reason, weight_g, item_count)
                     VALUES (?1, ?2, 'ups', 'pack', ?3, ?4, 'completed', 'done_command', ?5, ?6)",
                )
                .map_err(|x| e(&x))?;
            let mut clip = tx
                .prepare(
                    "INSERT INTO clips (session_id, camera, starts_at, ends_at, ready_at)
                     VALUES (?1, 'cam0', ?2, ?3, ?4)",
                )
                .map_err(|x| e(&x))?;
            // One session a minute, back from the footage epoch: about two years of a station.
            let first = FOOTAGE_EPOCH.millis() - SESSIONS as i64 * 60_000;
            for i in 0..SESSIONS {
                let h = splitmix(i as u64 ^ SEED.rotate_left(17));
                let started_at = first + i as i64 * 60_000 + (h % 10_000) as i64;
                let ended_at = started_at + 20_000 + (h % 40_000) as i64;
                let mut random = [0u8; 10];
                random[..8].copy_from_slice(&h.to_le_bytes());
                random[8..].copy_from_slice(&(i as u16).to_le_bytes());
                let id = uuid::Builder::from_unix_timestamp_millis(
                    u64::try_from(started_at).unwrap_or(0),
                    &random,
                )
                .into_uuid()
                .to_string();
                let order = order_no(i as u64);
                session
                    .execute(params![
                        id,
                        order,
                        started_at,
                        ended_at,
                        200.0 + (h % 5_000) as f64,
                        1 + (h % 6) as i64
                    ])
                    .map_err(|x| e(&x))?;
                clip.execute(params![
                    id,
                    started_at - 3_000,
                    ended_at + 2_000,
                    ended_at + 3_000
                ])
                .map_err(|x| e(&x))?;
                if let Some(&slot) = pick.get(&i) {
                    wanted[slot] = (id, order);
                }
            }
        }
        tx.commit().map_err(|x| e(&x))?;
    }
    let insert = started.elapsed();
    let db_bytes = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);

    // Opened as the CLI opens it (WAL, the station's pragmas).
    let conn = packwatch::store::open_existing(db).map_err(|x| e(&x))?;
    let video = VideoSection::default();
    // A copy of `sessions::list`'s by-order statement: its plan, and its time alone (how
    // much of `find` is the sessions query, how much the rest).
    let order_only_sql = "SELECT id, order_no, kind, status, started_at, ended_at, close_reason, weight_g, item_count
         FROM sessions WHERE order_no = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2";
    let order_only_plan = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {order_only_sql}"))
        .and_then(|mut s| {
            s.query_map(params!["x", 1000], |r| r.get::<_, String>(3))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map(|steps| steps.join("; "))
        .unwrap_or_else(|x| format!("(no plan: {x})"));

    let (mut find, mut found_sessions) = (Vec::new(), 0usize);
    let lookups_began = Instant::now();
    for (i, (_, order)) in wanted.iter().enumerate() {
        let t0 = Instant::now();
        let found = retrieve::find(&conn, order, &video).map_err(|x| e(&x))?;
        let took = t0.elapsed();
        if i >= LOOKUP_WARMUP {
            find.push(took);
            found_sessions += found.len();
        }
        if lookups_began.elapsed() > LOOKUP_BUDGET {
            break;
        }
    }
    let mut by_id = Vec::new();
    {
        let mut stmt = conn
            .prepare_cached("SELECT id FROM sessions WHERE id = ?1")
            .map_err(|x| e(&x))?;
        for (i, (id, _)) in wanted.iter().enumerate().take(LOOKUP_WARMUP + find.len()) {
            let t0 = Instant::now();
            let got: String = stmt.query_row([id], |r| r.get(0)).map_err(|x| e(&x))?;
            let took = t0.elapsed();
            std::hint::black_box(got);
            if i >= LOOKUP_WARMUP {
                by_id.push(took);
            }
        }
    }
    let mut order_only = Vec::new();
    {
        let mut stmt = conn.prepare_cached(order_only_sql).map_err(|x| e(&x))?;
        for (i, (_, order)) in wanted.iter().enumerate() {
            let t0 = Instant::now();
            let rows = stmt
                .query_map(params![order, 1000], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|x| e(&x))?;
            let took = t0.elapsed();
            std::hint::black_box(rows);
            if i >= LOOKUP_WARMUP {
                order_only.push(took);
            }
        }
    }
    Ok(FindRuns {
        insert,
        db_bytes,
        find,
        found_sessions,
        by_id,
        order_only,
        order_only_plan,
    })
}

// ---------------------------------------------------------------------------------------
// The report.

fn median(values: &[Duration]) -> Duration {
    percentile(values, 0.5)
}

/// Nearest-rank percentile.
fn percentile(values: &[Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "NOT MET" }
}

/// The lowest CPU per video second of successful runs (noise only ever adds).
fn best_cpu_per_video_s(runs: &[Result<Recording, String>]) -> Option<f64> {
    runs.iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|r| r.footage.seconds > 0.0)
        .map(Recording::cpu_per_video_s)
        .reduce(f64::min)
}

/// `(max - min) / min` of CPU per video second over successful runs, as a percentage.
fn spread(runs: &[Result<Recording, String>]) -> String {
    let values: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|r| r.footage.seconds > 0.0)
        .map(Recording::cpu_per_video_s)
        .collect();
    match (
        values.iter().copied().reduce(f64::min),
        values.iter().copied().reduce(f64::max),
    ) {
        (Some(min), Some(max)) if values.len() > 1 => format!("{:.1} %", 100.0 * (max - min) / min),
        _ => "n/a".into(),
    }
}

/// Total CPU over total video of successful runs.
fn cpu_per_video_s(runs: &[Result<Recording, String>]) -> Option<f64> {
    let ok: Vec<&Recording> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let video: f64 = ok.iter().map(|r| r.footage.seconds).sum();
    (video > 0.0).then(|| ok.iter().map(|r| r.usage.cpu_s()).sum::<f64>() / video)
}

fn mean_rss_kib(runs: &[Result<Recording, String>]) -> Option<f64> {
    let ok: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.usage.max_rss_kib as f64)
        .collect();
    (!ok.is_empty()).then(|| ok.iter().sum::<f64>() / ok.len() as f64)
}

fn recording_row(r: &Result<Recording, String>, label_if_err: &str) -> String {
    match r {
        Ok(r) => {
            let f = &r.footage;
            let fps = f.frames as f64 / f.seconds;
            let child = match &r.child {
                Some(c) => format!(
                    "{} segments, {} faults; own steady CPU {:.3} s/s",
                    c.segments,
                    c.faults.len(),
                    c.steady_cpu_s / c.steady_wall_s
                ),
                None => String::new(),
            };
            format!(
                "| {} | {:.2} | {:.2} | {:.2} | {} | {:.1} | {} ({} unreadable) | {} ({fps:.1}/s) | {:.3} | {:.1} | {child} |",
                r.label,
                r.usage.user_s,
                r.usage.sys_s,
                r.usage.wall_s,
                r.usage.steal_s.map_or("?".into(), |s| format!("{s:.2}")),
                f.seconds,
                f.files,
                f.unreadable,
                f.frames,
                r.cpu_per_video_s(),
                mib(r.usage.max_rss_kib),
            )
        }
        Err(e) => format!(
            "| {label_if_err} | NOT MEASURED: {} |",
            e.replace('\n', " ")
        ),
    }
}

const RECORDING_HEADER: &str = "| run | user s | sys s | wall s | steal s (machine) | video s | files | frames | CPU s per video s | max RSS MiB | packwatch child |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|";

fn print_faults(runs: &[&Result<Recording, String>]) {
    for r in runs.iter().filter_map(|r| r.as_ref().ok()) {
        if let Some(c) = &r.child {
            for f in &c.faults {
                println!("  fault in {}: {f}", r.label);
            }
        }
    }
}

/// One line of the summary table.
struct Line {
    what: String,
    packwatch: String,
    baseline: String,
    ratio: String,
    goal: String,
}

fn report(
    encode: &[EncodeRuns; 2],
    passthrough: &PassthroughRuns,
    two: &Result<Recording, String>,
    exports: &Result<ExportRuns, String>,
    lookups: &Result<FindRuns, String>,
    dir: &Path,
) {
    let mut summary: Vec<Line> = Vec::new();
    println!();
    println!("## video: recording, export and retrieval against same-run baselines");
    println!();
    println!("files under {}", dir.display());

    // 1. Encoding.
    for e in encode {
        println!();
        println!(
            "### 1. encoding with overlay, test camera {}, x264 {} kbit/s: CPU s per video s (order: packwatch, gst-launch, gst-launch, packwatch)",
            e.size, e.bitrate_kbps
        );
        println!();
        println!("{RECORDING_HEADER}");
        for (i, r) in e.packwatch.iter().enumerate() {
            println!("{}", recording_row(r, &format!("packwatch run {}", i + 1)));
        }
        for (i, r) in e.baseline.iter().enumerate() {
            println!("{}", recording_row(r, &format!("gst-launch run {}", i + 1)));
        }
        print_faults(&e.packwatch.iter().collect::<Vec<_>>());
        println!("baseline: gst-launch-1.0 -e {}", e.baseline_description);
        let (pw, base) = (cpu_per_video_s(&e.packwatch), cpu_per_video_s(&e.baseline));
        let (ratio, goal) = match (pw, base) {
            (Some(pw), Some(base)) => {
                let ratio = pw / base;
                println!(
                    "packwatch / gst-launch (all runs) = {ratio:.3} ({pw:.3} vs {base:.3} CPU s per video s); goal <= {ENCODE_RATIO_GOAL:.2}: {}",
                    verdict(ratio <= ENCODE_RATIO_GOAL)
                );
                if let (Some(a), Some(b)) = (
                    best_cpu_per_video_s(&e.packwatch),
                    best_cpu_per_video_s(&e.baseline),
                ) {
                    println!(
                        "packwatch / gst-launch (best run of each, less sensitive to a noisy machine) = {:.3} ({a:.3} vs {b:.3})",
                        a / b
                    );
                }
                println!(
                    "run-to-run spread of the same command ((max - min) / min): packwatch {}, gst-launch {}: a ratio closer to 1 than this cannot be told from noise",
                    spread(&e.packwatch),
                    spread(&e.baseline)
                );
                (
                    format!("{ratio:.3}"),
                    format!(
                        "<= {ENCODE_RATIO_GOAL:.2}: {}",
                        verdict(ratio <= ENCODE_RATIO_GOAL)
                    ),
                )
            }
            _ => ("not measured".into(), "-".into()),
        };
        summary.push(Line {
            what: format!("1. encode {} with overlay, CPU s / video s", e.size),
            packwatch: pw.map_or("not measured".into(), |v| format!("{v:.3}")),
            baseline: base.map_or("not measured".into(), |v| format!("{v:.3}")),
            ratio,
            goal,
        });
        if let (Some(a), Some(b)) = (
            best_cpu_per_video_s(&e.packwatch),
            best_cpu_per_video_s(&e.baseline),
        ) {
            summary.push(Line {
                what: format!("1. encode {}, best run of each side", e.size),
                packwatch: format!("{a:.3}"),
                baseline: format!("{b:.3}"),
                ratio: format!("{:.3}", a / b),
                goal: "(a check on noise, not the figure)".into(),
            });
        }
        summary.push(Line {
            what: format!("1. encode {}, max RSS MiB (mean of runs)", e.size),
            packwatch: mean_rss_kib(&e.packwatch)
                .map_or("not measured".into(), |v| format!("{:.1}", v / 1024.0)),
            baseline: mean_rss_kib(&e.baseline)
                .map_or("not measured".into(), |v| format!("{:.1}", v / 1024.0)),
            ratio: match (mean_rss_kib(&e.packwatch), mean_rss_kib(&e.baseline)) {
                (Some(a), Some(b)) => format!("{:.2}", a / b),
                _ => "-".into(),
            },
            goal: "-".into(),
        });
    }

    // 2. Passthrough.
    println!();
    println!(
        "### 2. passthrough of H.264 1920x1080@{FPS} from a file camera, {PASSTHROUGH_SECONDS} s"
    );
    println!();
    match &passthrough.setup {
        Ok((took, kbps)) => println!(
            "source: {SOURCE_SECONDS} s of moving colour bars made by gst-launch (x264 ultrafast, {kbps:.0} kbit/s in the file) in {:.1} s (setup, untimed)",
            took.as_secs_f64()
        ),
        Err(e) => println!("source: NOT MADE: {e}"),
    }
    println!();
    println!("{RECORDING_HEADER}");
    println!("{}", recording_row(&passthrough.packwatch, "packwatch"));
    println!("{}", recording_row(&passthrough.baseline, "gst-launch"));
    print_faults(&[&passthrough.packwatch]);
    println!(
        "baseline: gst-launch-1.0 -e {} (SIGINT after {PASSTHROUGH_SECONDS} s)",
        passthrough.baseline_description
    );
    let pct = |r: &Result<Recording, String>| {
        r.as_ref()
            .ok()
            .filter(|r| r.footage.seconds > 0.0)
            .map(|r| 100.0 * r.cpu_per_video_s())
    };
    let (pw_pct, base_pct) = (pct(&passthrough.packwatch), pct(&passthrough.baseline));
    let steady_pct = passthrough
        .packwatch
        .as_ref()
        .ok()
        .and_then(|r| r.child.as_ref())
        .map(|c| 100.0 * c.steady_cpu_s / c.steady_wall_s);
    if let (Some(pw), Some(base)) = (pw_pct, base_pct) {
        println!(
            "CPU % of one core per video second, whole process: packwatch {pw:.2} %, gst-launch {base:.2} %, ratio {:.2}; packwatch steady state (own rusage, 3 s after start to stop) {}; goal < {PASSTHROUGH_CPU_GOAL_PCT} %: {}",
            pw / base,
            steady_pct.map_or("n/a".into(), |s| format!("{s:.2} %")),
            verdict(pw < PASSTHROUGH_CPU_GOAL_PCT)
        );
    }
    summary.push(Line {
        what: "2. passthrough 1080p30, CPU % of a core (whole process)".into(),
        packwatch: pw_pct.map_or("not measured".into(), |v| format!("{v:.2} %")),
        baseline: base_pct.map_or("not measured".into(), |v| format!("{v:.2} %")),
        ratio: match (pw_pct, base_pct) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "-".into(),
        },
        goal: pw_pct.map_or("-".into(), |v| {
            format!(
                "< {PASSTHROUGH_CPU_GOAL_PCT} %: {}",
                verdict(v < PASSTHROUGH_CPU_GOAL_PCT)
            )
        }),
    });
    summary.push(Line {
        what: "2. passthrough 1080p30, CPU % steady state (packwatch child's own)".into(),
        packwatch: steady_pct.map_or("not measured".into(), |v| format!("{v:.2} %")),
        baseline: "n/a (gst-launch cannot report it)".into(),
        ratio: "-".into(),
        goal: steady_pct.map_or("-".into(), |v| {
            format!(
                "< {PASSTHROUGH_CPU_GOAL_PCT} %: {}",
                verdict(v < PASSTHROUGH_CPU_GOAL_PCT)
            )
        }),
    });
    let rss = |r: &Result<Recording, String>| r.as_ref().ok().map(|r| mib(r.usage.max_rss_kib));
    summary.push(Line {
        what: "2. passthrough 1080p30, max RSS MiB".into(),
        packwatch: rss(&passthrough.packwatch).map_or("not measured".into(), |v| format!("{v:.1}")),
        baseline: rss(&passthrough.baseline).map_or("not measured".into(), |v| format!("{v:.1}")),
        ratio: match (rss(&passthrough.packwatch), rss(&passthrough.baseline)) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "-".into(),
        },
        goal: "-".into(),
    });

    // 3. Export.
    println!();
    println!("### 3. export of a 60 s clip without re-encoding (1280x720@{FPS} segments)");
    println!();
    match exports {
        Ok(x) => {
            println!(
                "setup (untimed): {} segments, {:.1} s of moving colour bars (x264 ultrafast, {EXPORT_KBPS} kbit/s) made and registered in {:.1} s; the clip overlaps {} segments, {:.1} MiB",
                x.segments_made,
                x.footage_s,
                x.setup.as_secs_f64(),
                x.spans,
                x.span_bytes as f64 / 1_048_576.0
            );
            if let Some((duration, frames, bytes, skipped)) = x.last {
                println!(
                    "each export: {:.3} s of video, {frames} frames, {:.1} MiB, {skipped} segments skipped",
                    duration as f64 / 1000.0,
                    bytes as f64 / 1_048_576.0
                );
            }
            let list = |v: &[Duration]| {
                v.iter()
                    .map(|d| format!("{:.1}", ms(*d)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!();
            println!("| what | runs (ms) | median ms | max ms |");
            println!("|---|---|---:|---:|");
            println!(
                "| packwatch export::export (after a warm-up of {:.1} ms) | {} | {:.1} | {:.1} |",
                ms(x.warmup),
                list(&x.export),
                ms(median(&x.export)),
                ms(percentile(&x.export, 1.0))
            );
            println!(
                "| baseline: std::fs::read of the {} segment files | {} | {:.2} | {:.2} |",
                x.spans,
                list(&x.read),
                ms(median(&x.read)),
                ms(percentile(&x.read, 1.0))
            );
            match &x.ffmpeg {
                Ok(f) => println!(
                    "| baseline: ffmpeg concat -c copy +faststart (new process, no cut, no fsync) | {} | {:.1} | {:.1} |",
                    list(f),
                    ms(median(f)),
                    ms(percentile(f, 1.0))
                ),
                Err(e) => println!("| baseline: ffmpeg concat | NOT MEASURED: {e} | | |"),
            }
            let med = median(&x.export);
            let worst = percentile(&x.export, 1.0);
            println!(
                "export median / ffmpeg median = {}; export median / file read median = {:.0}; goal < {} ms: {} (median {:.1}, max {:.1})",
                x.ffmpeg.as_ref().map_or("n/a".into(), |f| format!(
                    "{:.2}",
                    med.as_secs_f64() / median(f).as_secs_f64()
                )),
                med.as_secs_f64() / median(&x.read).as_secs_f64(),
                EXPORT_GOAL.as_millis(),
                verdict(worst < EXPORT_GOAL),
                ms(med),
                ms(worst)
            );
            summary.push(Line {
                what: "3. export 60 s clip, median ms (max)".into(),
                packwatch: format!("{:.1} ({:.1})", ms(med), ms(worst)),
                baseline: x.ffmpeg.as_ref().map_or("not measured".into(), |f| {
                    format!(
                        "ffmpeg {:.1} ({:.1})",
                        ms(median(f)),
                        ms(percentile(f, 1.0))
                    )
                }),
                ratio: x.ffmpeg.as_ref().map_or("-".into(), |f| {
                    format!("{:.2}", med.as_secs_f64() / median(f).as_secs_f64())
                }),
                goal: format!(
                    "< {} ms: {}",
                    EXPORT_GOAL.as_millis(),
                    verdict(worst < EXPORT_GOAL)
                ),
            });
            summary.push(Line {
                what: "3. export vs reading the segment files, median ms".into(),
                packwatch: format!("{:.1}", ms(med)),
                baseline: format!("read {:.2}", ms(median(&x.read))),
                ratio: format!("{:.0}", med.as_secs_f64() / median(&x.read).as_secs_f64()),
                goal: "-".into(),
            });
        }
        Err(e) => {
            println!("NOT MEASURED: {e}");
            summary.push(Line {
                what: "3. export 60 s clip".into(),
                packwatch: format!("not measured: {e}"),
                baseline: "-".into(),
                ratio: "-".into(),
                goal: "-".into(),
            });
        }
    }

    // 4. Find.
    println!();
    println!("### 4. retrieve::find by order at {SESSIONS} sessions");
    println!();
    match lookups {
        Ok(f) => {
            println!(
                "setup (untimed): {SESSIONS} sessions + {SESSIONS} clip rows inserted in {:.1} s; database {:.0} MiB",
                f.insert.as_secs_f64(),
                f.db_bytes as f64 / 1_048_576.0
            );
            println!(
                "query plan of the by-order SELECT of sessions::list (a copy): {}",
                f.order_only_plan
            );
            if f.find.len() < LOOKUPS {
                println!(
                    "only {} of {LOOKUPS} lookups: they exceeded the {} s budget",
                    f.find.len(),
                    LOOKUP_BUDGET.as_secs()
                );
            }
            println!();
            println!("| lookup | n | p50 ms | p90 ms | p99 ms | max ms |");
            println!("|---|---:|---:|---:|---:|---:|");
            for (name, v) in [
                (
                    format!(
                        "packwatch retrieve::find ({} sessions found)",
                        f.found_sessions
                    ),
                    &f.find,
                ),
                (
                    "baseline: SELECT id FROM sessions WHERE id = ?".to_string(),
                    &f.by_id,
                ),
                (
                    "reference: that SELECT alone (find adds clips, scans and meta lookups)"
                        .to_string(),
                    &f.order_only,
                ),
            ] {
                println!(
                    "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    v.len(),
                    ms(percentile(v, 0.5)),
                    ms(percentile(v, 0.9)),
                    ms(percentile(v, 0.99)),
                    ms(percentile(v, 1.0))
                );
            }
            let (p50, p99) = (percentile(&f.find, 0.5), percentile(&f.find, 0.99));
            let (b50, b99) = (percentile(&f.by_id, 0.5), percentile(&f.by_id, 0.99));
            println!(
                "find / primary-key lookup: p50 {:.1}x, p99 {:.1}x; goal < {} ms: {} (p99 {:.3} ms)",
                p50.as_secs_f64() / b50.as_secs_f64(),
                p99.as_secs_f64() / b99.as_secs_f64(),
                FIND_GOAL.as_millis(),
                verdict(p99 < FIND_GOAL),
                ms(p99)
            );
            summary.push(Line {
                what: "4. find by order at 1M sessions, p50 / p99 ms".into(),
                packwatch: format!("{:.3} / {:.3}", ms(p50), ms(p99)),
                baseline: format!("pk {:.3} / {:.3}", ms(b50), ms(b99)),
                ratio: format!(
                    "{:.1} / {:.1}",
                    p50.as_secs_f64() / b50.as_secs_f64(),
                    p99.as_secs_f64() / b99.as_secs_f64()
                ),
                goal: format!(
                    "< {} ms: {}",
                    FIND_GOAL.as_millis(),
                    verdict(p99 < FIND_GOAL)
                ),
            });
        }
        Err(e) => {
            println!("NOT MEASURED: {e}");
            summary.push(Line {
                what: "4. find by order".into(),
                packwatch: format!("not measured: {e}"),
                baseline: "-".into(),
                ratio: "-".into(),
                goal: "-".into(),
            });
        }
    }

    // 5. Memory per camera.
    println!();
    println!("### 5. memory per camera (test cameras 1280x720@{FPS}, {ENCODE_SECONDS} s)");
    println!();
    println!("{RECORDING_HEADER}");
    println!("{}", recording_row(two, "packwatch, 2 cameras"));
    print_faults(&[two]);
    let one = mean_rss_kib(&encode[0].packwatch);
    match (one, two.as_ref().ok().map(|r| r.usage.max_rss_kib as f64)) {
        (Some(one), Some(two)) => {
            println!(
                "max RSS: 1 camera {:.1} MiB (mean of the two 1280x720 runs of 1), 2 cameras {:.1} MiB: {:+.1} MiB per extra camera",
                one / 1024.0,
                two / 1024.0,
                (two - one) / 1024.0
            );
            summary.push(Line {
                what: "5. max RSS per extra 720p camera, MiB".into(),
                packwatch: format!("{:+.1}", (two - one) / 1024.0),
                baseline: format!("1 camera {:.1}", one / 1024.0),
                ratio: format!("2 cams / 1 cam {:.2}", two / one),
                goal: "-".into(),
            });
        }
        _ => {
            println!("NOT MEASURED: a recording run failed (see above)");
            summary.push(Line {
                what: "5. RSS per camera".into(),
                packwatch: "not measured".into(),
                baseline: "-".into(),
                ratio: "-".into(),
                goal: "-".into(),
            });
        }
    }

    println!();
    println!("### summary");
    println!();
    println!("| measure | packwatch | baseline | ratio | goal |");
    println!("|---|---:|---:|---:|---|");
    for l in &summary {
        println!(
            "| {} | {} | {} | {} | {} |",
            l.what, l.packwatch, l.baseline, l.ratio, l.goal
        );
    }
}
