//! The MT-SICS serial scale: weight readings in, [`Input::Weight`] out.
//!
//! Two ways to read, per config: `poll` sends `SI` every `poll_interval` (the default: a
//! scale that stops answering is noticed within `reply_timeout`), `stream` sends `SIR` once
//! and the scale reports on its own. Either way a scale that goes silent for `reply_timeout`
//! raises one `device.fault`, and `device.connected` again when it answers. Replies that do
//! not parse are garbage: counted, logged sparsely, skipped. Whether a reading is a parcel's
//! weight is the core's business; this driver only reports what the scale says.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, sleep_until};
use tokio_serial::SerialStream;
use tokio_util::sync::CancellationToken;

use super::framer::{Frame, LineFramer, Terminator};
use super::mtsics::{self, Reply};
use super::serial::{DeviceLink, GarbageCounter, escape, supervise};
use crate::config::{ScaleConfig, ScaleReadMode};
use crate::core::event::DeviceKind;
use crate::core::machine::{DeviceStatus, Input};
use crate::core::time::Timestamp;

/// MT-SICS replies are short; anything longer is noise.
const MAX_REPLY: usize = 128;

/// Runs the scale until `shutdown`, surviving unplugs.
pub async fn run(
    config: ScaleConfig,
    tx: tokio::sync::mpsc::Sender<Input>,
    shutdown: CancellationToken,
) {
    let device = DeviceLink::new(&config.name, DeviceKind::Scale, tx);
    let port = config.port.clone();
    let serial = config.serial.clone();
    supervise(device, &port, &serial, shutdown, |stream, device| {
        read_weights(stream, device, config.clone())
    })
    .await;
}

/// Talks MT-SICS over an open port until it fails; returns why.
async fn read_weights(stream: SerialStream, device: DeviceLink, config: ScaleConfig) -> String {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut framer = LineFramer::new(Terminator::Any, MAX_REPLY);
    let mut garbage = GarbageCounter::default();
    let mut frames = Vec::new();
    let mut buf = [0u8; 512];
    let polling = config.read == ScaleReadMode::Poll;
    let request = if polling { mtsics::SI } else { mtsics::SIR };
    let mut next_poll = Instant::now();
    let mut last_reply = Instant::now();
    let mut silent = false;
    let mut last_error: Option<String> = None;
    if !polling && let Err(e) = writer.write_all(request).await {
        return format!("write failed: {e}");
    }
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                match read {
                    Ok(0) => return "port closed".into(),
                    Ok(n) => framer.push(&buf[..n], &mut frames),
                    Err(e) => return format!("read failed: {e}"),
                }
                let at = Timestamp::now();
                for frame in frames.drain(..) {
                    let line = match frame {
                        Frame::Line(line) => line,
                        Frame::Rejected(r) => {
                            garbage.record(&device.name, &format!("reply rejected: {r:?}"));
                            continue;
                        }
                    };
                    let reply = match mtsics::parse_reply(&line) {
                        Ok(reply) => reply,
                        Err(e) => {
                            garbage.record(&device.name, &format!("unreadable reply: {e}"));
                            continue;
                        }
                    };
                    if !matches!(reply, Reply::Reading(_) | Reply::NotReady | Reply::Acknowledged { .. }) {
                        // An error is not a weight: a scale that only answers errors is as
                        // useless as a silent one, and is reported the same way.
                        let complaint = format!("{reply:?} to {}", escape(request.trim_ascii_end()));
                        garbage.record(&device.name, &format!("scale answered {complaint}"));
                        last_error = Some(complaint);
                        continue;
                    }
                    last_reply = Instant::now();
                    last_error = None;
                    if silent {
                        silent = false;
                        let port = config.port.display().to_string();
                        if !device.status(DeviceStatus::Connected { port }).await {
                            return "station stopped".into();
                        }
                    }
                    if let Reply::Reading(reading) = reply {
                        let input = Input::Weight { scale: device.name.clone(), reading, at };
                        if !device.send(input).await {
                            return "station stopped".into();
                        }
                    }
                }
            }
            _ = sleep_until(next_poll), if polling => {
                next_poll += config.poll_interval;
                if next_poll < Instant::now() {
                    next_poll = Instant::now() + config.poll_interval;
                }
                if let Err(e) = writer.write_all(request).await {
                    return format!("write failed: {e}");
                }
            }
            _ = sleep_until(last_reply + config.reply_timeout) => {
                if !silent {
                    silent = true;
                    let reason = match &last_error {
                        Some(error) => format!(
                            "no weight for {:?}, only errors (last: {error}): check the protocol and the scale's settings",
                            config.reply_timeout
                        ),
                        None => format!(
                            "no reply for {:?}: check the scale's power, cable and line settings ({} baud)",
                            config.reply_timeout, config.serial.baud
                        ),
                    };
                    tracing::warn!(device = %device.name, %reason, "scale silent");
                    if !device.status(DeviceStatus::Fault { reason }).await {
                        return "station stopped".into();
                    }
                }
                last_reply = Instant::now();
                if !polling && let Err(e) = writer.write_all(request).await {
                    return format!("write failed: {e}");
                }
            }
        }
    }
}
