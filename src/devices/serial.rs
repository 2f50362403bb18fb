//! Serial ports that come and go: open, run a device session, reopen with backoff.
//!
//! USB serial adapters vanish when unplugged and come back (often under the same
//! `/dev/serial/by-id` name). [`supervise`] owns that cycle for one device so each driver only
//! speaks its protocol over an open port: it reports `device.connected` when the port opens,
//! `device.disconnected` when an open port is lost, `device.fault` once per outage when the
//! port cannot be opened (with the likely fix), and keeps retrying, from 250 ms up to every
//! 5 s, without ever restarting the process.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, SerialStream, StopBits};
use tokio_util::sync::CancellationToken;

use crate::config::{FlowControlSetting, ParitySetting, SerialSettings};
use crate::core::event::DeviceKind;
use crate::core::machine::{DeviceStatus, Input};
use crate::core::time::Timestamp;

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A device's name and kind, and the way to the core.
#[derive(Clone)]
pub struct DeviceLink {
    pub name: String,
    pub kind: DeviceKind,
    tx: mpsc::Sender<Input>,
}

impl DeviceLink {
    pub fn new(name: &str, kind: DeviceKind, tx: mpsc::Sender<Input>) -> DeviceLink {
        DeviceLink {
            name: name.to_string(),
            kind,
            tx,
        }
    }

    /// Sends an input to the core; false once the core has stopped.
    pub async fn send(&self, input: Input) -> bool {
        self.tx.send(input).await.is_ok()
    }

    /// Reports a change of the device's state.
    pub async fn status(&self, status: DeviceStatus) -> bool {
        self.send(Input::Device {
            device: self.name.clone(),
            kind: self.kind,
            status,
            at: Timestamp::now(),
        })
        .await
    }
}

/// Opens a serial port with the configured line settings, exclusively, input flushed.
pub fn open(port: &Path, settings: &SerialSettings) -> Result<SerialStream, tokio_serial::Error> {
    let data_bits = if settings.data_bits == 7 {
        DataBits::Seven
    } else {
        DataBits::Eight
    };
    let parity = match settings.parity {
        ParitySetting::None => Parity::None,
        ParitySetting::Even => Parity::Even,
        ParitySetting::Odd => Parity::Odd,
    };
    let stop_bits = if settings.stop_bits == 2 {
        StopBits::Two
    } else {
        StopBits::One
    };
    let flow_control = match settings.flow_control {
        FlowControlSetting::None => FlowControl::None,
        FlowControlSetting::Software => FlowControl::Software,
        FlowControlSetting::Hardware => FlowControl::Hardware,
    };
    let stream = tokio_serial::new(port.to_string_lossy(), settings.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
        .flow_control(flow_control)
        .open_native_async()?;
    // Whatever sat in the buffer belongs to nobody (a scale's old readings, half a barcode).
    tokio_serial::SerialPort::clear(&stream, tokio_serial::ClearBuffer::Input)?;
    Ok(stream)
}

/// Why a port did not open, with the likely fix.
pub fn open_failure(port: &Path, e: &tokio_serial::Error) -> String {
    format!("cannot open {}: {e}{}", port.display(), hint(e))
}

/// The likely fix for a port that does not open.
fn hint(e: &tokio_serial::Error) -> &'static str {
    match e.kind() {
        tokio_serial::ErrorKind::NoDevice => {
            " (unplugged? check the cable and `ls -l /dev/serial/by-id/`)"
        }
        tokio_serial::ErrorKind::Io(std::io::ErrorKind::NotFound) => {
            " (no such port: check the name, or the udev rule that makes it)"
        }
        tokio_serial::ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => {
            " (permission denied: the station user needs the `dialout` group; see systemd/packwatch.sysusers.conf)"
        }
        _ if e.to_string().contains("exclusive") => {
            " (in use by another program: is packwatch already running on this port?)"
        }
        _ => "",
    }
}

/// Runs `session` on the device's port whenever it can be opened, until `shutdown`.
/// `session` returns why the port was lost.
pub async fn supervise<F, Fut>(
    device: DeviceLink,
    port: &Path,
    settings: &SerialSettings,
    shutdown: CancellationToken,
    mut session: F,
) where
    F: FnMut(SerialStream, DeviceLink) -> Fut,
    Fut: Future<Output = String>,
{
    let mut backoff = BACKOFF_MIN;
    let mut fault_reported = false;
    while !shutdown.is_cancelled() {
        match open(port, settings) {
            Ok(stream) => {
                tracing::info!(device = %device.name, port = %port.display(), "device connected");
                fault_reported = false;
                backoff = BACKOFF_MIN;
                let connected = DeviceStatus::Connected {
                    port: port.display().to_string(),
                };
                if !device.status(connected).await {
                    return;
                }
                let reason = tokio::select! {
                    reason = session(stream, device.clone()) => reason,
                    _ = shutdown.cancelled() => return,
                };
                tracing::warn!(device = %device.name, %reason, "device disconnected");
                if !device.status(DeviceStatus::Disconnected { reason }).await {
                    return;
                }
            }
            Err(e) => {
                if !fault_reported {
                    let reason = open_failure(port, &e);
                    tracing::warn!(device = %device.name, %reason, "device unavailable; retrying");
                    if !device.status(DeviceStatus::Fault { reason }).await {
                        return;
                    }
                    fault_reported = true;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Counts garbage from a device and logs it without flooding the journal: the 1st, 10th,
/// 100th... occurrence is logged with the running count.
#[derive(Debug, Default)]
pub struct GarbageCounter {
    count: u64,
}

impl GarbageCounter {
    pub fn record(&mut self, device: &str, what: &str) {
        self.count += 1;
        let n = self.count;
        if is_power_of_ten(n) {
            tracing::warn!(device, count = n, "{what}; skipped");
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Bytes made safe for a log line: printable ASCII as is, the rest as `\xNN`, bounded.
pub fn escape(bytes: &[u8]) -> String {
    let mut s: String = bytes
        .iter()
        .take(64)
        .map(|b| match b {
            0x20..=0x7E => char::from(*b).to_string(),
            _ => format!("\\x{b:02X}"),
        })
        .collect();
    if bytes.len() > 64 {
        s.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_counted_and_logged_sparsely() {
        let mut g = GarbageCounter::default();
        for _ in 0..1234 {
            g.record("scanner", "noise");
        }
        assert_eq!(g.count(), 1234);
        assert!(is_power_of_ten(1000) && is_power_of_ten(1) && !is_power_of_ten(20));
    }

    #[test]
    fn escape_bounds_and_escapes() {
        assert_eq!(escape(b"AB\x00\xff"), "AB\\x00\\xFF");
        assert!(escape(&[b'9'; 10_000]).ends_with("... (10000 bytes)"));
    }
}
