//! `packwatch check` for cameras: does this camera deliver pictures through the pipeline the
//! recorder would build?
//!
//! The camera's pipeline is played up to its H.264 (source, conversion, overlay, encoder,
//! parser) into a fakesink until the first encoded picture arrives, without writing
//! anything. It catches a missing plugin or encoder, an unplugged or busy USB camera, a
//! format it does not offer, an unreachable RTSP camera or wrong credentials.

use std::sync::mpsc;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use super::pipeline::{self, UsbFormat};
use super::recorder::source_name;
use crate::config::{CameraConfig, CameraKind, VideoSection};

/// Plays `camera` until its first encoded picture, or fails within `timeout`. Returns a line
/// saying what it delivers.
pub fn probe(
    camera: &CameraConfig,
    video: &VideoSection,
    timeout: Duration,
) -> Result<String, String> {
    play(camera, video, timeout)
        .map_err(|e| format!("camera {:?} ({}): {e}", camera.name, source_name(camera)))
}

fn play(camera: &CameraConfig, video: &VideoSection, timeout: Duration) -> Result<String, String> {
    gst::init().map_err(|e| format!("GStreamer cannot start: {e}"))?;
    let usb: Option<UsbFormat> = match camera.kind {
        CameraKind::V4l2 => Some(pipeline::probe_usb(camera)?),
        _ => None,
    };
    let plan = pipeline::plan(camera, video, usb);
    let pipeline = gst::parse::launch(&format!("{} ! fakesink name=probe", plan.source))
        .map_err(|e| {
            format!("cannot build its pipeline: {e} (scripts/setup installs the plugins)")
        })?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    pipeline::configure_source(pipeline.upcast_ref(), camera)?;
    let (tx, rx) = mpsc::sync_channel::<String>(1);
    let pad = pipeline
        .by_name("probe")
        .and_then(|s| s.static_pad("sink"))
        .ok_or("no probe sink")?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        let caps = pad
            .current_caps()
            .and_then(|c| {
                c.structure(0).map(|s| {
                    let get = |k| {
                        s.get::<i32>(k)
                            .map(|v| v.to_string())
                            .unwrap_or_else(|_| "?".into())
                    };
                    format!("{}x{}", get("width"), get("height"))
                })
            })
            .unwrap_or_default();
        let _ = tx.try_send(caps);
        gst::PadProbeReturn::Remove
    });
    let result = (|| {
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| format!("it would not start{}", pipeline::bus_error(&pipeline)))?;
        let began = std::time::Instant::now();
        while began.elapsed() < timeout {
            if let Ok(size) = rx.recv_timeout(Duration::from_millis(100)) {
                let how = match plan.encoder {
                    Some(e) => format!("encoded with {}, overlay burned in", e.factory()),
                    None => "H.264 recorded as it comes".to_string(),
                };
                return Ok(format!(
                    "camera {:?} ({}): pictures at {size}, {how}",
                    camera.name,
                    source_name(camera)
                ));
            }
            let error = pipeline::bus_error(&pipeline);
            if !error.is_empty() {
                return Err(format!("it failed{error}"));
            }
        }
        Err(format!("no picture within {} s", timeout.as_secs()))
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}
