//! One decoded picture from a video file: for thumbnails and for checking what a clip shows.

use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;

/// A grey-scale picture, one byte per pixel, rows of `width` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Gray {
    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.pixels.get(y * self.width + x).copied().unwrap_or(0)
    }
}

/// The first picture of `file` at or after `at` (from the file's start), in grey.
pub fn decode_at(file: &Path, at: gst::ClockTime) -> Result<Gray, String> {
    let pipeline = pipeline("filesrc name=src ! decodebin")?;
    let src = pipeline.by_name("src").ok_or("no source")?;
    src.set_property("location", file.to_str().ok_or("the path is not UTF-8")?);
    picture_at(&pipeline, at).map_err(|e| format!("{}: {e}", file.display()))
}

/// What our overlay draws for `order` on a black `width` x `height` picture: the reference a
/// recorded frame is compared with.
pub fn render_overlay(width: u32, height: u32, order: Option<&str>) -> Result<Gray, String> {
    let pipeline = pipeline(&format!(
        "videotestsrc pattern=black num-buffers=1 ! video/x-raw,width={width},height={height} \
         ! videoconvert ! video/x-raw,format=I420 ! {}",
        super::overlay::description()
    ))?;
    let elements =
        super::overlay::Elements::find(pipeline.upcast_ref()).ok_or("no overlay elements")?;
    elements
        .order
        .set_property("text", super::overlay::order_text(order));
    picture_at(&pipeline, gst::ClockTime::ZERO)
}

/// `head` followed by conversion to grey and an appsink.
fn pipeline(head: &str) -> Result<gst::Pipeline, String> {
    gst::init().map_err(|e| e.to_string())?;
    gst::parse::launch(&format!(
        "{head} ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=out sync=false"
    ))
    .map_err(|e| e.to_string())?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline".to_string())
}

/// Plays `pipeline` to its first picture at or after `at`.
fn picture_at(pipeline: &gst::Pipeline, at: gst::ClockTime) -> Result<Gray, String> {
    let sink = super::export::appsink(pipeline)?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let result = (|| {
        let mut first: Option<gst::ClockTime> = None;
        loop {
            let sample = super::export::pull(pipeline, &sink)?
                .ok_or_else(|| format!("no picture at {at}"))?;
            let buffer = sample.buffer().ok_or("a sample without a buffer")?;
            let pts = buffer.pts().unwrap_or(gst::ClockTime::ZERO);
            let start = *first.get_or_insert(pts);
            if pts.saturating_sub(start) < at {
                continue;
            }
            let caps = sample.caps().ok_or("no caps")?;
            let s = caps.structure(0).ok_or("empty caps")?;
            let width = usize::try_from(s.get::<i32>("width").map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let height = usize::try_from(s.get::<i32>("height").map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let map = buffer.map_readable().map_err(|e| e.to_string())?;
            // GRAY8 rows are padded to 4 bytes.
            let stride = width.div_ceil(4) * 4;
            let mut pixels = Vec::with_capacity(width * height);
            for row in map.chunks(stride).take(height) {
                pixels.extend_from_slice(row.get(..width).ok_or("a short row")?);
            }
            return Ok(Gray {
                width,
                height,
                pixels,
            });
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}
