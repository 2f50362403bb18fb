//! Export: one MP4 of a clip, cut from its segments.
//!
//! By default nothing is re-encoded. Each segment is demuxed on its own (so a gap between
//! segments stays a gap in time, and each frame keeps the wall-clock time of its segment);
//! [`Cut`] keeps frames from the last keyframe at or before the clip's start (the picture
//! must be decodable, so a clip starts up to one GOP early, never late) to the clip's end;
//! the frames go into a new MP4 with the index in front (`faststart`: browsers and phones
//! play it while it downloads). The file is written under a temporary name, fsynced and
//! renamed, and its sha256 is reported.
//!
//! With `burn_in`, the frames are decoded, the overlay (order, station, weight, time) is
//! drawn and the result is encoded again: for cameras recorded without re-encoding (H.264
//! from the camera), whose segments carry no overlay.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::clip::Span;
use super::overlay::{self, Elements};
use super::segment;
use crate::core::time::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no footage in the clip's range")]
    NoFootage,
    #[error("segment {path}: {message}")]
    Segment { path: String, message: String },
    #[error("writing {path}: {message}")]
    Output { path: PathBuf, message: String },
    #[error("GStreamer: {0}")]
    Gst(String),
}

/// What to export.
pub struct Request<'a> {
    pub data_dir: &'a Path,
    /// The segments overlapping the range, oldest first.
    pub segments: &'a [Span],
    pub from: Timestamp,
    pub to: Timestamp,
    pub out: &'a Path,
    /// Draw this overlay and re-encode.
    pub burn_in: Option<BurnIn>,
}

/// The overlay text of a re-encoded export.
pub struct BurnIn {
    pub order: String,
    pub station: String,
    /// `(from, text)`: the info line from each time on (the weights of the session).
    pub weights: Vec<(Timestamp, String)>,
}

/// A written export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub path: PathBuf,
    /// Wall-clock time of the first and after the last frame.
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub frames: usize,
    pub bytes: u64,
    pub sha256: String,
    pub elapsed_ms: u64,
    /// Segments that could not be read, with why (a segment cut short in its first second
    /// has nothing playable); the clip has a gap there.
    pub skipped: Vec<(String, String)>,
}

impl Exported {
    pub fn duration_ms(&self) -> i64 {
        self.ends_at.since(self.starts_at)
    }
}

/// Keeps the frames of `[from, to)` plus the GOP that leads into `from`.
#[derive(Debug)]
pub struct Cut<T> {
    from_ns: i128,
    to_ns: i128,
    held: Vec<T>,
    started: bool,
    done: bool,
}

impl<T> Cut<T> {
    pub fn new(from: Timestamp, to: Timestamp) -> Cut<T> {
        Cut {
            from_ns: i128::from(from.millis()) * 1_000_000,
            to_ns: i128::from(to.millis()) * 1_000_000,
            held: Vec::new(),
            started: false,
            done: false,
        }
    }

    /// Offers the next frame (wall-clock ns, keyframe or not); returns what to write now.
    pub fn push(&mut self, wall_ns: i128, keyframe: bool, frame: T) -> Vec<T> {
        if self.done {
            return Vec::new();
        }
        if wall_ns >= self.to_ns {
            self.done = true;
            return self.take_held();
        }
        if self.started {
            return vec![frame];
        }
        if keyframe && wall_ns <= self.from_ns {
            // A later keyframe still at or before the start: the clip starts here instead.
            self.held.clear();
            self.held.push(frame);
            Vec::new()
        } else if keyframe {
            self.started = true;
            let mut out = self.take_held();
            out.push(frame);
            out
        } else {
            // Frames before the first keyframe cannot be decoded.
            if !self.held.is_empty() {
                self.held.push(frame);
            }
            Vec::new()
        }
    }

    /// The footage ended: whatever is held still belongs to the clip.
    pub fn finish(&mut self) -> Vec<T> {
        self.done = true;
        self.take_held()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    fn take_held(&mut self) -> Vec<T> {
        self.started = true;
        std::mem::take(&mut self.held)
    }
}

/// A frame on its way out, with wall-clock times.
struct Frame {
    buffer: gst::Buffer,
    pts_ns: i128,
    dts_ns: i128,
}

/// Writes the clip. Blocks (run it off the async runtime).
pub fn export(req: &Request<'_>) -> Result<Exported, ExportError> {
    gst::init().map_err(|e| ExportError::Gst(e.to_string()))?;
    let began = Instant::now();
    if req.segments.is_empty() {
        return Err(ExportError::NoFootage);
    }
    let dir = req
        .out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| output_error(req.out, e))?;
    let partial = dir.join(format!(
        ".{}.partial",
        req.out
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("export")
    ));
    let writer = Writer::start(&partial, req.burn_in.as_ref())?;
    let mut cut = Cut::new(req.from, req.to);
    let mut base: Option<i128> = None;
    let mut last_end: i128 = 0;
    let mut frames = 0usize;
    let mut skipped = Vec::new();
    let mut write = |batch: Vec<Frame>, writer: &Writer| -> Result<(), ExportError> {
        for f in batch {
            let b = match base {
                Some(b) => b,
                None => {
                    let b = f.pts_ns.min(f.dts_ns);
                    writer.set_base(b);
                    *base.insert(b)
                }
            };
            let mut buffer = f.buffer;
            let duration = buffer
                .duration()
                .map(|d| i128::from(d.nseconds()))
                .unwrap_or(0);
            {
                let buf = buffer.make_mut();
                buf.set_pts(clock_time(f.pts_ns - b));
                buf.set_dts(clock_time(f.dts_ns - b));
            }
            last_end = last_end.max(f.pts_ns + duration);
            frames += 1;
            writer.push(buffer)?;
        }
        Ok(())
    };
    for span in req.segments {
        if cut.is_done() {
            break;
        }
        let path = req.data_dir.join(&span.path);
        let reader = match Reader::open(&path) {
            Ok(reader) => reader,
            Err(message) => {
                tracing::warn!(segment = %span.path, %message, "a segment cannot be read; the export has a gap there");
                skipped.push((span.path.clone(), message));
                continue;
            }
        };
        writer.set_caps_once(&reader.caps);
        let mut first_pts: Option<i128> = None;
        let start_ns = i128::from(span.started_at.millis()) * 1_000_000;
        let segment_error = |message| ExportError::Segment {
            path: span.path.clone(),
            message,
        };
        while let Some(buffer) = reader.next().map_err(segment_error)? {
            let (Some(pts), dts) = (buffer.pts(), buffer.dts()) else {
                continue;
            };
            let pts = i128::from(pts.nseconds());
            let dts = dts.map(|d| i128::from(d.nseconds())).unwrap_or(pts);
            let first = *first_pts.get_or_insert(pts);
            let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
            let frame = Frame {
                buffer,
                pts_ns: start_ns + pts - first,
                dts_ns: start_ns + dts - first,
            };
            let wall = frame.pts_ns;
            write(cut.push(wall, keyframe, frame), &writer)?;
            if cut.is_done() {
                break;
            }
        }
        reader.stop();
    }
    write(cut.finish(), &writer)?;
    let Some(base) = base else {
        writer.abort();
        let _ = std::fs::remove_file(&partial);
        return Err(ExportError::NoFootage);
    };
    writer.finish()?;
    let sealed = segment::seal(&partial).map_err(|e| output_error(req.out, e))?;
    std::fs::rename(&partial, req.out).map_err(|e| output_error(req.out, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Exported {
        path: req.out.to_path_buf(),
        starts_at: Timestamp(i64::try_from(base / 1_000_000).unwrap_or(0)),
        ends_at: Timestamp(i64::try_from(last_end / 1_000_000).unwrap_or(0)),
        frames,
        bytes: sealed.bytes,
        sha256: sealed.sha256,
        elapsed_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
        skipped,
    })
}

fn clock_time(ns: i128) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(u64::try_from(ns.max(0)).unwrap_or(u64::MAX))
}

fn output_error(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Demuxes one segment file into H.264 access units.
struct Reader {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    caps: gst::Caps,
    pending: std::cell::RefCell<Option<gst::Buffer>>,
}

impl Reader {
    fn open(path: &Path) -> Result<Reader, String> {
        let pipeline = gst::parse::launch(
            "filesrc name=src ! qtdemux ! h264parse ! video/x-h264,stream-format=avc,alignment=au \
             ! appsink name=out sync=false max-buffers=64",
        )
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
        let opened = (|| {
            let src = pipeline.by_name("src").ok_or("no source")?;
            src.set_property("location", path.to_str().ok_or("the path is not UTF-8")?);
            let sink = appsink(&pipeline)?;
            pipeline
                .set_state(gst::State::Playing)
                .map_err(|_| format!("cannot read it{}", super::pipeline::bus_error(&pipeline)))?;
            // The first sample carries the caps (SPS/PPS) the writer needs.
            let first = pull(&pipeline, &sink)?.ok_or_else(|| "no video in it".to_string())?;
            let caps = first.caps().map(|c| c.to_owned()).ok_or("no caps")?;
            Ok((sink, caps, first.buffer_owned()))
        })();
        match opened {
            Ok((sink, caps, first)) => Ok(Reader {
                pipeline,
                sink,
                caps,
                pending: std::cell::RefCell::new(first),
            }),
            Err(e) => {
                let _ = pipeline.set_state(gst::State::Null);
                Err(e)
            }
        }
    }

    /// The next access unit; `Ok(None)` at the end of the file.
    fn next(&self) -> Result<Option<gst::Buffer>, String> {
        if let Some(b) = self.pending.borrow_mut().take() {
            return Ok(Some(b));
        }
        Ok(pull(&self.pipeline, &self.sink)?.and_then(|s| s.buffer_owned()))
    }

    fn stop(self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Muxes access units into the output file, re-encoding with the overlay if asked.
struct Writer {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    caps_set: std::cell::Cell<bool>,
    /// The overlay and the info line over time, when burning in.
    burn_in: Option<(Elements, Vec<(Timestamp, String)>)>,
}

impl Writer {
    fn start(path: &Path, burn_in: Option<&BurnIn>) -> Result<Writer, ExportError> {
        let middle = if burn_in.is_some() {
            format!(
                "h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! {} \
                 ! x264enc speed-preset=veryfast key-int-max=30 bitrate=4000 ! h264parse",
                overlay::description()
            )
        } else {
            "h264parse".to_string()
        };
        let pipeline = gst::parse::launch(&format!(
            "appsrc name=in format=time ! {middle} ! mp4mux faststart=true ! filesink name=file"
        ))
        .map_err(|e| ExportError::Gst(e.to_string()))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| ExportError::Gst("not a pipeline".into()))?;
        let file = pipeline
            .by_name("file")
            .ok_or(ExportError::Gst("no sink".into()))?;
        file.set_property(
            "location",
            path.to_str()
                .ok_or_else(|| output_error(path, "not UTF-8"))?,
        );
        let src = pipeline
            .by_name("in")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or(ExportError::Gst("no appsrc".into()))?;
        // Block instead of queueing the whole clip in memory.
        src.set_max_bytes(8 << 20);
        src.set_property_from_str("stream-type", "stream");
        src.set_block(true);
        let burn_in = match (burn_in, Elements::find(pipeline.upcast_ref())) {
            (Some(b), Some(elements)) => {
                elements
                    .order
                    .set_property("text", overlay::order_text(Some(&b.order)));
                let mut timeline =
                    vec![(Timestamp(i64::MIN), overlay::info_text(&b.station, None))];
                timeline.extend(b.weights.iter().cloned());
                timeline.sort_by_key(|(t, _)| *t);
                Some((elements, timeline))
            }
            _ => None,
        };
        pipeline.set_state(gst::State::Playing).map_err(|_| {
            ExportError::Gst(format!(
                "cannot start the writer{}",
                super::pipeline::bus_error(&pipeline)
            ))
        })?;
        Ok(Writer {
            pipeline,
            src,
            caps_set: std::cell::Cell::new(false),
            burn_in,
        })
    }

    /// Output time zero is wall-clock `base_ns`: the burned-in clock and weights follow it.
    fn set_base(&self, base_ns: i128) {
        let Some((elements, timeline)) = &self.burn_in else {
            return;
        };
        if let Some(epoch) = super::clock::local_datetime(base_ns) {
            elements.set_epoch(&epoch);
        }
        let info = elements.info.clone();
        let timeline = timeline.clone();
        let shown = std::sync::atomic::AtomicUsize::new(usize::MAX);
        if let Some(pad) = info.static_pad("video_sink") {
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, probe| {
                let Some(pts) = probe.buffer().and_then(|b| b.pts()) else {
                    return gst::PadProbeReturn::Ok;
                };
                let wall = Timestamp(
                    i64::try_from((base_ns + i128::from(pts.nseconds())) / 1_000_000).unwrap_or(0),
                );
                let current = timeline
                    .partition_point(|(t, _)| *t <= wall)
                    .saturating_sub(1);
                if shown.swap(current, std::sync::atomic::Ordering::Relaxed) != current
                    && let Some((_, text)) = timeline.get(current)
                {
                    info.set_property("text", text);
                }
                gst::PadProbeReturn::Ok
            });
        }
    }

    fn set_caps_once(&self, caps: &gst::Caps) {
        if !self.caps_set.replace(true) {
            self.src.set_caps(Some(caps));
        }
    }

    fn push(&self, buffer: gst::Buffer) -> Result<(), ExportError> {
        self.src.push_buffer(buffer).map(|_| ()).map_err(|e| {
            ExportError::Gst(format!(
                "the writer stopped: {e:?}{}",
                super::pipeline::bus_error(&self.pipeline)
            ))
        })
    }

    fn abort(self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }

    /// Ends the stream and waits for the file to be complete.
    fn finish(self) -> Result<(), ExportError> {
        let _ = self.src.end_of_stream();
        let bus = self
            .pipeline
            .bus()
            .ok_or(ExportError::Gst("no bus".into()))?;
        let result = match bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(600),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => Ok(()),
                gst::MessageView::Error(e) => Err(ExportError::Gst(super::pipeline::describe(e))),
                _ => Ok(()),
            },
            None => Err(ExportError::Gst(
                "the writer did not finish within 10 minutes".into(),
            )),
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        result
    }
}

/// The appsink called `out` that reading pipelines end in.
pub(super) fn appsink(pipeline: &gst::Pipeline) -> Result<gst_app::AppSink, String> {
    pipeline
        .by_name("out")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| "the pipeline has no appsink".to_string())
}

/// The next sample of `sink`; `Ok(None)` at the end of the stream, `Err` if the pipeline
/// failed (an appsink never sees the end of a stream that failed upstream, so the bus is
/// watched while waiting).
pub(super) fn pull(
    pipeline: &gst::Pipeline,
    sink: &gst_app::AppSink,
) -> Result<Option<gst::Sample>, String> {
    let began = Instant::now();
    loop {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            return Ok(Some(sample));
        }
        if sink.is_eos() {
            return Ok(None);
        }
        let error = super::pipeline::bus_error(pipeline);
        if !error.is_empty() {
            return Err(error.trim_start_matches(": ").to_string());
        }
        if began.elapsed() > std::time::Duration::from_secs(30) {
            return Err("no data for 30 s".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames every 100 ms, a keyframe every second; returns what the cut writes.
    fn run(from: i64, to: i64, frames: i64) -> Vec<i64> {
        let mut cut = Cut::new(Timestamp(from), Timestamp(to));
        let mut out = Vec::new();
        for i in 0..frames {
            let t = i * 100;
            out.extend(cut.push(i128::from(t) * 1_000_000, t % 1000 == 0, t));
        }
        out.extend(cut.finish());
        out
    }

    #[test]
    fn a_clip_starts_at_the_last_keyframe_at_or_before_its_start() {
        let out = run(2500, 4200, 100);
        assert_eq!(out.first(), Some(&2000));
        assert_eq!(out.last(), Some(&4100));
        assert_eq!(out.len(), 22);
        let exact = run(3000, 3500, 100);
        assert_eq!(exact.first(), Some(&3000));
    }

    #[test]
    fn footage_that_starts_late_starts_at_its_first_keyframe() {
        // Asked from -5 s: the first keyframe is at 0.
        let out = run(-5000, 1500, 100);
        assert_eq!(out.first(), Some(&0));
        assert_eq!(out.last(), Some(&1400));
    }

    #[test]
    fn a_range_inside_one_gop_or_past_the_end_keeps_that_gop() {
        let inside = run(2200, 2400, 100);
        assert_eq!(inside, [2000, 2100, 2200, 2300]);
        let past_end = run(9500, 20_000, 100);
        assert_eq!(past_end.first(), Some(&9000));
        assert_eq!(past_end.last(), Some(&9900));
    }
}
