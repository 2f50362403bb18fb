//! One camera's recording pipeline, as a GStreamer launch description.
//!
//! ```text
//! source ─┬─ raw pictures ─ videoconvert ─ overlays ─ queue ─ encoder ─ h264parse ─┬─ splitmuxsink
//!         └─ H.264 as it comes (RTSP, UVC H.264, file) ─ h264parse ─────────────────┘
//! ```
//!
//! The description is a string so the benchmark can hand the very same pipeline to
//! `gst-launch-1.0`. Values that come from the station file and could contain anything (a
//! device path, an RTSP URL with a password) are never spliced into it: the recorder sets
//! them on the named elements after parsing. Our encoder makes a keyframe every second, so a
//! kill costs about a second of video and segments are cut within a second of their length.

use std::time::Duration;

use gstreamer as gst;

use super::overlay;
use crate::config::{CameraConfig, CameraFormat, CameraKind, EncoderSetting, VideoSection};

/// Element names the recorder looks up.
pub const SOURCE: &str = "src";
pub const SINK: &str = "sink";
pub const PARSER: &str = "parse";

/// The H.264 encoder used for cameras that deliver raw pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    X264,
    /// The Raspberry Pi 4's hardware encoder (the Pi 5 has none).
    V4l2,
}

impl Encoder {
    /// Resolves `auto` by what this machine's GStreamer offers.
    pub fn choose(setting: EncoderSetting) -> Encoder {
        match setting {
            EncoderSetting::X264 => Encoder::X264,
            EncoderSetting::V4l2h264enc => Encoder::V4l2,
            // The v4l2 plugin registers v4l2h264enc only when an encoder device exists.
            EncoderSetting::Auto => {
                if gst::ElementFactory::find("v4l2h264enc").is_some() {
                    Encoder::V4l2
                } else {
                    Encoder::X264
                }
            }
        }
    }

    pub fn factory(self) -> &'static str {
        match self {
            Encoder::X264 => "x264enc",
            Encoder::V4l2 => "v4l2h264enc",
        }
    }

    fn description(self, fps: u32, kbps: u32) -> String {
        match self {
            Encoder::X264 => format!(
                "x264enc speed-preset=superfast tune=zerolatency key-int-max={fps} bitrate={kbps}"
            ),
            Encoder::V4l2 => format!(
                "v4l2h264enc extra-controls=\"controls,repeat_sequence_header=1,h264_i_frame_period={fps},video_bitrate={}\" \
                 ! video/x-h264,level=(string)4",
                u64::from(kbps) * 1000
            ),
        }
    }
}

/// What a USB camera is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsbFormat {
    H264,
    Mjpeg,
    Yuy2,
}

impl UsbFormat {
    fn caps(self, camera: &CameraConfig) -> String {
        let size = format!(
            "width={},height={},framerate={}/1",
            camera.width, camera.height, camera.fps
        );
        match self {
            UsbFormat::H264 => format!("video/x-h264,{size}"),
            UsbFormat::Mjpeg => format!("image/jpeg,{size}"),
            UsbFormat::Yuy2 => format!("video/x-raw,format=YUY2,{size}"),
        }
    }

    /// Picks from what the device offers: the configured format, or for `auto` H.264 (no
    /// re-encoding), then MJPEG, then YUY2, each at the configured size and rate.
    pub fn pick(offered: &gst::Caps, camera: &CameraConfig) -> Option<UsbFormat> {
        let candidates: &[UsbFormat] = match camera.format {
            CameraFormat::Auto => &[UsbFormat::H264, UsbFormat::Mjpeg, UsbFormat::Yuy2],
            CameraFormat::H264 => &[UsbFormat::H264],
            CameraFormat::Mjpeg => &[UsbFormat::Mjpeg],
            CameraFormat::Yuy2 => &[UsbFormat::Yuy2],
        };
        candidates.iter().copied().find(|f| {
            f.caps(camera)
                .parse::<gst::Caps>()
                .is_ok_and(|wanted| offered.can_intersect(&wanted))
        })
    }
}

/// A camera's pipeline, ready to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub description: String,
    /// The part up to the encoded H.264 (everything but the sink): what `check` plays.
    pub source: String,
    /// `Some` when we encode (and so burn the overlay in); `None` for H.264 passthrough.
    pub encoder: Option<Encoder>,
}

/// The pipeline for `camera`. `usb` is the format picked for a `v4l2` camera.
pub fn plan(camera: &CameraConfig, video: &VideoSection, usb: Option<UsbFormat>) -> Plan {
    let raw_caps = format!(
        "video/x-raw,width={},height={},framerate={}/1",
        camera.width, camera.height, camera.fps
    );
    // (source, true if it delivers H.264)
    let (source, h264) = match camera.kind {
        CameraKind::Test => (
            format!("videotestsrc name={SOURCE} is-live=true pattern=ball ! {raw_caps}"),
            false,
        ),
        CameraKind::V4l2 => match usb.unwrap_or(UsbFormat::Yuy2) {
            UsbFormat::H264 => (
                format!("v4l2src name={SOURCE} ! {}", UsbFormat::H264.caps(camera)),
                true,
            ),
            UsbFormat::Mjpeg => (
                format!(
                    "v4l2src name={SOURCE} ! {} ! jpegdec",
                    UsbFormat::Mjpeg.caps(camera)
                ),
                false,
            ),
            UsbFormat::Yuy2 => (
                format!("v4l2src name={SOURCE} ! {}", UsbFormat::Yuy2.caps(camera)),
                false,
            ),
        },
        CameraKind::Rtsp => (
            format!("rtspsrc name={SOURCE} protocols=tcp latency=200 ! rtph264depay"),
            true,
        ),
        CameraKind::File => (
            format!("filesrc name={SOURCE} ! qtdemux ! h264parse ! clocksync"),
            true,
        ),
    };
    let sink = sink_description(video.segment);
    if h264 {
        let source = format!("{source} ! h264parse name={PARSER} config-interval=-1");
        return Plan {
            description: format!("{source} ! {sink}"),
            source,
            encoder: None,
        };
    }
    let encoder = Encoder::choose(camera.encoder.unwrap_or(video.encoder));
    let source = format!(
        "{source} ! videoconvert ! video/x-raw,format=I420 ! {overlays} \
         ! queue max-size-buffers=4 leaky=downstream ! {encode} \
         ! h264parse name={PARSER}",
        overlays = overlay::description(),
        encode = encoder.description(camera.fps, camera.bitrate()),
    );
    Plan {
        description: format!("{source} ! {sink}"),
        source,
        encoder: Some(encoder),
    }
}

/// Sets the station file's values on the parsed pipeline's source (never spliced into the
/// description: a path or URL could contain anything).
pub fn configure_source(bin: &gst::Bin, camera: &CameraConfig) -> Result<(), String> {
    use gst::prelude::*;
    let source = bin.by_name(SOURCE).ok_or("the pipeline has no source")?;
    match camera.kind {
        CameraKind::Test => {}
        CameraKind::V4l2 => source.set_property("device", path_str(camera.device.as_deref())?),
        CameraKind::Rtsp => source.set_property("location", camera.url.as_deref()),
        CameraKind::File => source.set_property("location", path_str(camera.path.as_deref())?),
    }
    Ok(())
}

fn path_str(path: Option<&std::path::Path>) -> Result<&str, String> {
    path.and_then(std::path::Path::to_str)
        .ok_or_else(|| "the camera's path is missing or not UTF-8".to_string())
}

/// Asks a USB camera what it offers and picks a format.
pub fn probe_usb(camera: &CameraConfig) -> Result<UsbFormat, String> {
    use gst::prelude::*;
    let device = path_str(camera.device.as_deref())?;
    let src = gst::ElementFactory::make("v4l2src")
        .property("device", device)
        .build()
        .map_err(|e| format!("v4l2src: {e} (install gstreamer1.0-plugins-good)"))?;
    src.set_state(gst::State::Ready)
        .map_err(|_| format!("cannot open {device}: is the camera plugged in?"))?;
    let offered = src
        .static_pad("src")
        .map(|p| p.query_caps(None))
        .unwrap_or_else(gst::Caps::new_empty);
    let _ = src.set_state(gst::State::Null);
    UsbFormat::pick(&offered, camera).ok_or_else(|| {
        format!(
            "{device} offers no {:?} format at {}x{} {} fps; it offers: {offered}",
            camera.format, camera.width, camera.height, camera.fps
        )
    })
}

/// The muxer keeps room for the index at the front and rewrites it every second, so a
/// segment cut short by a kill still plays up to its last second.
pub fn reserved_max_duration(segment: Duration) -> Duration {
    (segment * 4).max(Duration::from_secs(30))
}

/// The recorder configures each muxer and file sink splitmuxsink adds (index rewritten every
/// second, unbuffered writes); `gst-launch-1.0` cannot, so a benchmark baseline built from
/// this description does slightly less work than the recorder.
fn sink_description(segment: Duration) -> String {
    format!(
        "splitmuxsink name={SINK} max-size-time={} use-robust-muxing=true",
        segment.as_nanos(),
    )
}

/// The error a pipeline posted, as `": message (detail)"` to append to a sentence, or `""`.
/// GStreamer's detail usually names the file, device or URL.
pub fn bus_error(pipeline: &gst::Pipeline) -> String {
    use gst::prelude::*;
    let Some(msg) = pipeline
        .bus()
        .and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]))
    else {
        return String::new();
    };
    match msg.view() {
        gst::MessageView::Error(e) => format!(": {}", describe(e)),
        _ => String::new(),
    }
}

/// An error message as one line: GStreamer's message and its detail.
pub fn describe(e: &gst::message::Error) -> String {
    match e.debug() {
        Some(debug) => format!("{} ({})", e.error(), debug.replace('\n', " ")),
        None => e.error().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(kind: CameraKind, format: CameraFormat) -> CameraConfig {
        CameraConfig {
            name: "cam".into(),
            kind,
            device: None,
            url: None,
            path: None,
            width: 1280,
            height: 720,
            fps: 30,
            format,
            encoder: Some(EncoderSetting::X264),
            bitrate_kbps: None,
        }
    }

    #[test]
    fn raw_cameras_are_encoded_with_overlays_and_h264_passes_through() {
        gst::init().expect("gstreamer");
        let video = VideoSection::default();
        let test = plan(&camera(CameraKind::Test, CameraFormat::Auto), &video, None);
        assert_eq!(test.encoder, Some(Encoder::X264));
        assert!(test.description.contains(overlay::ORDER));
        assert!(test.description.contains("key-int-max=30"));
        let rtsp = plan(&camera(CameraKind::Rtsp, CameraFormat::Auto), &video, None);
        assert_eq!(rtsp.encoder, None);
        assert!(!rtsp.description.contains("x264enc"));
        assert!(!rtsp.description.contains(overlay::ORDER));
        for p in [&test, &rtsp] {
            gst::parse::launch(&p.description).expect("parses");
        }
    }

    #[test]
    fn usb_formats_are_picked_from_what_the_camera_offers() {
        gst::init().expect("gstreamer");
        let offered: gst::Caps = "image/jpeg,width=1280,height=720,framerate=30/1; \
             video/x-raw,format=YUY2,width=640,height=480,framerate=30/1; \
             video/x-raw,format=YUY2,width=1280,height=720,framerate=10/1"
            .parse()
            .expect("caps");
        let auto = camera(CameraKind::V4l2, CameraFormat::Auto);
        assert_eq!(UsbFormat::pick(&offered, &auto), Some(UsbFormat::Mjpeg));
        // YUY2 exists, but not at 1280x720 30 fps.
        let yuy2 = camera(CameraKind::V4l2, CameraFormat::Yuy2);
        assert_eq!(UsbFormat::pick(&offered, &yuy2), None);
        let with_h264: gst::Caps = "video/x-h264,stream-format=byte-stream,width=(int)[ 640, 1920 ],height=(int)[ 480, 1080 ],framerate=30/1; image/jpeg,width=1280,height=720,framerate=30/1"
            .parse()
            .expect("caps");
        assert_eq!(UsbFormat::pick(&with_h264, &auto), Some(UsbFormat::H264));
        let mjpeg_plan = plan(&auto, &VideoSection::default(), Some(UsbFormat::Mjpeg));
        assert!(mjpeg_plan.description.contains("jpegdec"));
        assert!(mjpeg_plan.encoder.is_some());
        let h264_plan = plan(&auto, &VideoSection::default(), Some(UsbFormat::H264));
        assert!(h264_plan.encoder.is_none());
    }
}
