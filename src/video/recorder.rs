//! A camera's recorder: builds its pipeline, watches it, and rebuilds it when it fails.
//!
//! Each camera records continuously from start to stop; session boundaries never touch the
//! pipeline (a clip is a time range over segments, see [`super::clip`]). The recorder runs on
//! its own thread, reading the pipeline's bus, and reports to the station loop as [`Note`]s:
//! a segment opened (with the wall-clock time of its first frame), a segment closed and
//! sealed, recording started, or a fault. The station loop is the only writer of the
//! database; the recorder never touches it.
//!
//! Nothing fails silently. A pipeline error (camera unplugged, RTSP camera unreachable, disk
//! full, a write error), an end of stream, or no picture for [`STALL`] is a fault: the
//! recorder seals what was written, reports the fault and rebuilds the pipeline with backoff
//! from 1 s to 30 s, for as long as the station runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use tokio::sync::mpsc;

use super::clock::WallClock;
use super::overlay::{Elements, Overlay};
use super::pipeline::{self, Plan};
use super::segment;
use crate::config::{CameraConfig, CameraKind, VideoSection};
use crate::core::time::Timestamp;

/// No picture for this long is a fault.
pub const STALL: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a clean stop waits for the muxer to finish the open segment.
const EOS_WAIT: Duration = Duration::from_secs(5);

/// What a recorder tells the station loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The pipeline runs and writes (the first segment after a (re)start opened).
    Recording { camera: String, source: String },
    /// A segment file was started; `path` is relative to the data dir.
    SegmentOpened {
        camera: String,
        path: PathBuf,
        started_at: Timestamp,
        /// The overlay is burned into its pictures.
        encoded: bool,
    },
    /// A segment file is complete and on disk.
    SegmentClosed {
        camera: String,
        path: PathBuf,
        ended_at: Timestamp,
        bytes: u64,
        sha256: String,
        /// Cut short by a fault: ends at its last written fragment.
        cut_short: bool,
    },
    /// A segment that was being written cannot be found or read any more.
    SegmentLost {
        camera: String,
        path: PathBuf,
        reason: String,
    },
    /// Recording stopped for `reason`; the recorder retries.
    Fault { camera: String, reason: String },
}

/// A running recorder; [`Recorder::stop`] ends it.
pub struct Recorder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts recording `camera` into `data_dir`.
    pub fn start(
        camera: CameraConfig,
        video: VideoSection,
        data_dir: PathBuf,
        overlay: Overlay,
        notes: mpsc::UnboundedSender<Note>,
    ) -> Recorder {
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            camera,
            video,
            data_dir,
            overlay,
            notes,
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("camera-{}", worker.camera.name))
            .spawn(move || worker.run())
            .ok();
        Recorder { stop, thread }
    }

    /// Stops recording: the open segment is finished and sealed first. Blocks.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

enum Ended {
    Stopped,
    Failed(String),
}

struct Worker {
    camera: CameraConfig,
    video: VideoSection,
    data_dir: PathBuf,
    overlay: Overlay,
    notes: mpsc::UnboundedSender<Note>,
    stop: Arc<AtomicBool>,
}

/// State shared with the streaming threads of one pipeline run.
struct Run {
    clock: Mutex<WallClock>,
    /// The segment being written (absolute path), to seal it after a failure.
    open: Mutex<Option<PathBuf>>,
    /// Monotonic ms of the last picture that reached the muxer.
    last_picture_ms: AtomicU64,
    started: Instant,
}

impl Run {
    fn since_start_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl Worker {
    fn run(self) {
        let mut backoff = BACKOFF_MIN;
        while !self.stopping() {
            let began = Instant::now();
            match self.record() {
                Ended::Stopped => break,
                Ended::Failed(reason) => {
                    // Say which source: an operator reads this on a dashboard.
                    let reason = format!("{}: {reason}", self.source_name());
                    tracing::error!(camera = %self.camera.name, %reason, "recording failed; retrying");
                    self.note(Note::Fault {
                        camera: self.camera.name.clone(),
                        reason,
                    });
                }
            }
            if began.elapsed() > Duration::from_secs(60) {
                backoff = BACKOFF_MIN;
            }
            self.sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        self.overlay.unregister(&self.camera.name);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn note(&self, note: Note) {
        // The station loop is gone only when the station stops.
        let _ = self.notes.send(note);
    }

    fn sleep(&self, total: Duration) {
        let until = Instant::now() + total;
        while !self.stopping() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One pipeline run, until it fails or the recorder stops.
    fn record(&self) -> Ended {
        let (pipeline, plan) = match self.build() {
            Ok(built) => built,
            Err(reason) => return Ended::Failed(reason),
        };
        let run = Arc::new(Run {
            clock: Mutex::new(WallClock::attach(&pipeline)),
            open: Mutex::new(None),
            last_picture_ms: AtomicU64::new(0),
            started: Instant::now(),
        });
        let elements = Elements::find(pipeline.upcast_ref());
        if let Some(elements) = &elements {
            if let Some(epoch) = lock(&run.clock).epoch() {
                elements.set_epoch(&epoch);
            }
            self.overlay.register(&self.camera.name, elements.clone());
        }
        if let Err(reason) = self.wire(&pipeline, &run, &plan, elements) {
            return Ended::Failed(reason);
        }
        let ended = if let Err(e) = pipeline.set_state(gst::State::Playing) {
            Ended::Failed(format!(
                "the pipeline would not start: {e}{}",
                pipeline::bus_error(&pipeline)
            ))
        } else {
            self.watch(&pipeline, &run)
        };
        let _ = pipeline.set_state(gst::State::Null);
        self.overlay.unregister(&self.camera.name);
        if let Ended::Failed(_) = ended {
            self.seal_cut_short(&run);
        }
        ended
    }

    fn build(&self) -> Result<(gst::Pipeline, Plan), String> {
        let usb = match self.camera.kind {
            CameraKind::V4l2 => Some(pipeline::probe_usb(&self.camera)?),
            _ => None,
        };
        let plan = pipeline::plan(&self.camera, &self.video, usb);
        if let Some(encoder) = plan.encoder
            && gst::ElementFactory::find(encoder.factory()).is_none()
        {
            return Err(format!(
                "the {} encoder is not installed (x264enc: gstreamer1.0-plugins-ugly)",
                encoder.factory()
            ));
        }
        let pipeline = gst::parse::launch(&plan.description)
            .map_err(|e| format!("cannot build the pipeline: {e}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "the description is not a pipeline".to_string())?;
        pipeline::configure_source(pipeline.upcast_ref(), &self.camera)?;
        let sink = pipeline
            .by_name(pipeline::SINK)
            .ok_or("the pipeline has no sink")?;
        // splitmuxsink makes (and resets) its muxer itself: the index settings go on each
        // muxer it adds. Reserved room for the index at the front, rewritten every second, is
        // what keeps a segment cut short by a kill playable up to its last second.
        let reserved =
            u64::try_from(pipeline::reserved_max_duration(self.video.segment).as_nanos())
                .unwrap_or(u64::MAX);
        sink.connect("muxer-added", false, move |args| {
            let muxer = args.get(1)?.get::<gst::Element>().ok()?;
            muxer.set_property("reserved-max-duration", reserved);
            muxer.set_property(
                "reserved-moov-update-period",
                gst::ClockTime::SECOND.nseconds(),
            );
            None
        });
        // Unbuffered: a fragment the muxer wrote is in the kernel, not in our memory.
        sink.connect("sink-added", false, |args| {
            let file = args.get(1)?.get::<gst::Element>().ok()?;
            if file.has_property("buffer-mode") {
                file.set_property_from_str("buffer-mode", "unbuffered");
            }
            None
        });
        Ok((pipeline, plan))
    }

    /// Connects segment naming and the picture counter.
    fn wire(
        &self,
        pipeline: &gst::Pipeline,
        run: &Arc<Run>,
        plan: &Plan,
        elements: Option<Elements>,
    ) -> Result<(), String> {
        let sink = pipeline
            .by_name(pipeline::SINK)
            .ok_or("the pipeline has no sink")?;
        let camera = self.camera.name.clone();
        let data_dir = self.data_dir.clone();
        let notes = self.notes.clone();
        let encoded = plan.encoder.is_some();
        let naming = run.clone();
        // Called on the streaming thread with the segment's first buffer: its running time
        // is the capture time of the segment's first (key)frame.
        sink.connect("format-location-full", false, move |args| {
            let sample = args.get(2)?.get::<gst::Sample>().ok()?;
            let running = sample
                .buffer()
                .and_then(|b| b.pts())
                .and_then(|pts| {
                    sample
                        .segment()?
                        .downcast_ref::<gst::ClockTime>()?
                        .to_running_time(pts)
                })
                .unwrap_or(gst::ClockTime::ZERO);
            let started_at = {
                let mut clock = lock(&naming.clock);
                clock.resync();
                if let (Some(e), Some(epoch)) = (&elements, clock.epoch()) {
                    e.set_epoch(&epoch);
                }
                clock.wall(running)
            };
            let mut relative = segment::relative_path(&camera, started_at);
            let mut absolute = data_dir.join(&relative);
            // Two segments of one camera in the same millisecond cannot happen with
            // keyframes a second apart, but a path must never be reused.
            let mut n = 1;
            while absolute.exists() {
                relative.set_file_name(format!("{camera}-{}-{n}.mp4", started_at.millis()));
                absolute = data_dir.join(&relative);
                n += 1;
            }
            if let Some(dir) = absolute.parent()
                && let Err(e) = std::fs::create_dir_all(dir)
            {
                tracing::error!(camera = %camera, dir = %dir.display(), error = %e, "cannot create the video directory");
            }
            *lock(&naming.open) = Some(absolute.clone());
            let _ = notes.send(Note::SegmentOpened {
                camera: camera.clone(),
                path: relative,
                started_at,
                encoded,
            });
            Some(absolute.to_string_lossy().into_owned().to_value())
        });
        let counter = run.clone();
        pipeline
            .by_name(pipeline::PARSER)
            .and_then(|p| p.static_pad("src"))
            .ok_or("the pipeline has no parser")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter
                    .last_picture_ms
                    .store(counter.since_start_ms(), Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        Ok(())
    }

    /// Reads the bus until the pipeline fails or the recorder is stopped.
    fn watch(&self, pipeline: &gst::Pipeline, run: &Run) -> Ended {
        let Some(bus) = pipeline.bus() else {
            return Ended::Failed("the pipeline has no bus".into());
        };
        let mut recording = false;
        let mut eos_sent: Option<Instant> = None;
        loop {
            if self.stopping() && eos_sent.is_none() {
                // EOS makes the muxer finish the open segment (index at the front).
                pipeline.send_event(gst::event::Eos::new());
                eos_sent = Some(Instant::now());
            }
            if eos_sent.is_some_and(|t| t.elapsed() > EOS_WAIT) {
                tracing::warn!(camera = %self.camera.name, "the pipeline did not finish within 5 s");
                return Ended::Stopped;
            }
            let silent_ms = run
                .since_start_ms()
                .saturating_sub(run.last_picture_ms.load(Ordering::Relaxed));
            if eos_sent.is_none() && silent_ms > duration_ms(STALL) {
                return Ended::Failed(format!("no pictures for {} s", silent_ms / 1000));
            }
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(250)) else {
                continue;
            };
            match msg.view() {
                gst::MessageView::Element(e) => {
                    let Some(s) = e.structure() else { continue };
                    match s.name().as_str() {
                        "splitmuxsink-fragment-opened" if !recording => {
                            recording = true;
                            self.note(Note::Recording {
                                camera: self.camera.name.clone(),
                                source: self.source_name(),
                            });
                        }
                        "splitmuxsink-fragment-closed" => {
                            let location = s.get::<String>("location").unwrap_or_default();
                            let running = s
                                .get::<u64>("running-time")
                                .map(gst::ClockTime::from_nseconds)
                                .unwrap_or(gst::ClockTime::ZERO);
                            let ended_at = lock(&run.clock).wall(running);
                            let mut open = lock(&run.open);
                            if open.as_deref() == Some(Path::new(&location)) {
                                *open = None;
                            }
                            drop(open);
                            self.closed(Path::new(&location), ended_at, false);
                        }
                        _ => {}
                    }
                }
                gst::MessageView::Error(err) => {
                    return Ended::Failed(pipeline::describe(err));
                }
                gst::MessageView::Eos(_) => {
                    return if eos_sent.is_some() {
                        Ended::Stopped
                    } else {
                        Ended::Failed("the camera's stream ended".into())
                    };
                }
                _ => {}
            }
        }
    }

    /// Seals a segment file and reports it closed.
    fn closed(&self, path: &Path, ended_at: Timestamp, cut_short: bool) {
        let Ok(relative) = path.strip_prefix(&self.data_dir).map(Path::to_path_buf) else {
            tracing::error!(path = %path.display(), "a segment outside the data dir");
            return;
        };
        match segment::seal(path) {
            Ok(sealed) => self.note(Note::SegmentClosed {
                camera: self.camera.name.clone(),
                path: relative,
                ended_at: if cut_short { sealed.modified } else { ended_at },
                bytes: sealed.bytes,
                sha256: sealed.sha256,
                cut_short,
            }),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot seal a segment");
                self.note(Note::SegmentLost {
                    camera: self.camera.name.clone(),
                    path: relative,
                    reason: e.to_string(),
                });
            }
        }
    }

    /// After a failure: the segment that was being written ends at its last fragment.
    fn seal_cut_short(&self, run: &Run) {
        if let Some(path) = lock(&run.open).take() {
            self.closed(&path, Timestamp::now(), true);
        }
    }

    fn source_name(&self) -> String {
        source_name(&self.camera)
    }
}

/// A camera's source as device events name it (never the RTSP password).
pub fn source_name(camera: &CameraConfig) -> String {
    {
        match camera.kind {
            CameraKind::Test => "test pattern".into(),
            CameraKind::V4l2 => camera
                .device
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            CameraKind::Rtsp => camera.url.as_deref().map(redact_url).unwrap_or_default(),
            CameraKind::File => camera
                .path
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        }
    }
}

/// `rtsp://user:secret@host/path` without the credentials.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_credentials_never_reach_events() {
        assert_eq!(
            redact_url("rtsp://admin:s3cr@t@10.0.0.2:554/s1"),
            "rtsp://10.0.0.2:554/s1"
        );
        assert_eq!(redact_url("rtsp://10.0.0.2/a@b"), "rtsp://10.0.0.2/a@b");
        assert_eq!(redact_url("rtsp://10.0.0.2/s1"), "rtsp://10.0.0.2/s1");
    }
}
