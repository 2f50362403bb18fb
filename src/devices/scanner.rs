//! The serial barcode scanner (RS-232 or USB CDC-ACM): lines in, scans out.
//!
//! Bytes are framed on the configured terminator (CR, LF, CRLF or any of them); a partial
//! frame that sits for [`INTER_FRAME_GAP`] is taken as complete, for scanners whose suffix
//! got lost. A frame that is not UTF-8 or is longer than `max_len` is garbage: counted,
//! logged sparsely and skipped. Everything else becomes an [`Input::Scan`], stamped when its
//! last byte arrived; what it means is the core's business.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_serial::SerialStream;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::framer::{Frame, LineFramer, Terminator};
use super::serial::{DeviceLink, GarbageCounter, escape, supervise};
use crate::config::{ScannerConfig, TerminatorSetting};
use crate::core::barcode::Barcode;
use crate::core::event::DeviceKind;
use crate::core::machine::Input;
use crate::core::time::Timestamp;

/// A partial frame older than this is flushed as a scan.
pub const INTER_FRAME_GAP: Duration = Duration::from_millis(250);

/// Runs the scanner until `shutdown`, surviving unplugs.
pub async fn run(
    config: ScannerConfig,
    tx: tokio::sync::mpsc::Sender<Input>,
    shutdown: CancellationToken,
) {
    let device = DeviceLink::new(&config.name, DeviceKind::Scanner, tx);
    let port = config.port.clone();
    let serial = config.serial.clone();
    supervise(device, &port, &serial, shutdown, |stream, device| {
        read_scans(stream, device, config.clone())
    })
    .await;
}

fn terminator(setting: TerminatorSetting) -> Terminator {
    match setting {
        TerminatorSetting::Cr => Terminator::Cr,
        TerminatorSetting::Lf => Terminator::Lf,
        TerminatorSetting::Crlf => Terminator::CrLf,
        TerminatorSetting::Any => Terminator::Any,
    }
}

/// Reads scans from an open port until it fails; returns why.
async fn read_scans(mut stream: SerialStream, device: DeviceLink, config: ScannerConfig) -> String {
    let mut framer = LineFramer::new(terminator(config.terminator), config.max_len);
    let mut garbage = GarbageCounter::default();
    let mut buf = [0u8; 1024];
    let mut frames = Vec::new();
    loop {
        let read = if framer.pending() > 0 {
            match tokio::time::timeout(INTER_FRAME_GAP, stream.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    frames.extend(framer.flush());
                    if !deliver(&mut frames, &device, &config, &mut garbage).await {
                        return "station stopped".into();
                    }
                    continue;
                }
            }
        } else {
            stream.read(&mut buf).await
        };
        match read {
            Ok(0) => return "port closed".into(),
            Ok(n) => framer.push(&buf[..n], &mut frames),
            Err(e) => return format!("read failed: {e}"),
        }
        if !deliver(&mut frames, &device, &config, &mut garbage).await {
            return "station stopped".into();
        }
    }
}

/// Turns frames into scans for the core; false once the core has stopped.
async fn deliver(
    frames: &mut Vec<Frame>,
    device: &DeviceLink,
    config: &ScannerConfig,
    garbage: &mut GarbageCounter,
) -> bool {
    let at = Timestamp::now();
    for frame in frames.drain(..) {
        match frame {
            Frame::Line(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => {
                    let input = Input::Scan {
                        scanner: device.name.clone(),
                        barcode: Barcode::from_frame(text, config.aim_prefix),
                        at,
                        new_session_id: Uuid::now_v7().to_string(),
                    };
                    if !device.send(input).await {
                        return false;
                    }
                }
                Err(_) => garbage.record(
                    &device.name,
                    &format!("scan is not UTF-8 text: {}", escape(&bytes)),
                ),
            },
            Frame::Rejected(rejection) => {
                garbage.record(&device.name, &format!("frame rejected: {rejection:?}"))
            }
        }
    }
    true
}
