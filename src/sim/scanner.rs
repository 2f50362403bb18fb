//! A serial barcode scanner (RS-232 or USB CDC-ACM) simulated over a pty.
//!
//! Tests and the demo station drive it like a person with a scanner: each [`ScannerSim::scan`]
//! sends one frame `[AIM ID][data][suffix]` in a single write, as a real scanner's firmware
//! does. [`ScannerSim::send_raw`] sends anything else (noise, a frame split across writes),
//! and unplug/replug exercise the station's reconnect path.
//!
//! Real scanners ignore host bytes they do not understand, so a small task reads and discards
//! whatever the station writes; without it a station that sends trigger commands would
//! eventually block on a full pty buffer.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::sim::pty::PtyDevice;

/// How the simulated scanner frames a barcode.
#[derive(Debug, Clone, Copy)]
pub struct ScannerSimOptions {
    /// The suffix: `b"\r"`, `b"\n"` or `b"\r\n"`.
    pub terminator: &'static [u8],
    /// An AIM symbology identifier sent before every scan, e.g. `Some("]C0")`.
    pub aim: Option<&'static str>,
}

impl Default for ScannerSimOptions {
    /// CR LF suffix, no AIM ID (Honeywell's RS-232 default).
    fn default() -> Self {
        ScannerSimOptions {
            terminator: b"\r\n",
            aim: None,
        }
    }
}

/// A simulated serial scanner published at a link path.
#[derive(Debug)]
pub struct ScannerSim {
    link: PathBuf,
    options: ScannerSimOptions,
    plugged: Option<Plugged>,
}

/// The pty of a plugged-in scanner and the task draining it.
#[derive(Debug)]
struct Plugged {
    pty: Arc<PtyDevice>,
    drain: JoinHandle<()>,
}

impl Plugged {
    fn new(link: &Path) -> io::Result<Plugged> {
        let pty = Arc::new(PtyDevice::create(link)?);
        let drain = tokio::spawn({
            let pty = Arc::clone(&pty);
            async move {
                let mut discard = [0; 256];
                while pty.read(&mut discard).await.is_ok() {}
            }
        });
        Ok(Plugged { pty, drain })
    }
}

impl Drop for Plugged {
    /// The pty closes (and the link vanishes) once the runtime has dropped the aborted task.
    fn drop(&mut self) {
        self.drain.abort();
    }
}

impl ScannerSim {
    /// Plugs a scanner in at `link`. Must be called inside a tokio runtime.
    pub fn start(link: &Path, options: ScannerSimOptions) -> io::Result<ScannerSim> {
        Ok(ScannerSim {
            link: link.to_owned(),
            options,
            plugged: Some(Plugged::new(link)?),
        })
    }

    /// Sends one scan: AIM ID, `text` and the suffix together in one `write_all`.
    pub async fn scan(&self, text: &str) -> io::Result<()> {
        let aim = self.options.aim.unwrap_or("");
        let frame = [aim.as_bytes(), text.as_bytes(), self.options.terminator].concat();
        self.send_raw(&frame).await
    }

    /// Sends bytes exactly as given.
    pub async fn send_raw(&self, bytes: &[u8]) -> io::Result<()> {
        let plugged = self.plugged.as_ref().ok_or(io::ErrorKind::NotConnected)?;
        plugged.pty.write_all(bytes).await
    }

    /// Pulls the cable: the station's port hangs up and the link goes away once the runtime has
    /// dropped the aborted drain task. Scans fail with `NotConnected` until
    /// [`ScannerSim::replug`].
    pub fn unplug(&mut self) {
        self.plugged = None;
    }

    /// Plugs a new device in at the same link (unplugging the old one first if needed).
    pub fn replug(&mut self) -> io::Result<()> {
        self.unplug();
        self.plugged = Some(Plugged::new(&self.link)?);
        Ok(())
    }

    pub fn link(&self) -> &Path {
        &self.link
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::pty::testing::{StationPort, link_path};
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn scans_arrive_at_the_link() {
        let link = link_path("scanner-scan");
        let options = ScannerSimOptions {
            terminator: b"\r",
            aim: Some("]C0"),
        };
        let sim = ScannerSim::start(&link, options).unwrap();
        assert_eq!(sim.link(), link);
        let port = StationPort::open(&link).unwrap();

        sim.scan("1Z999AA10123456784").await.unwrap();
        sim.send_raw(b"\x00\xffABC").await.unwrap();
        sim.send_raw(b"DEF\n").await.unwrap();
        let want = b"]C01Z999AA10123456784\r\x00\xffABCDEF\n";
        let mut got = Vec::new();
        let mut buf = [0; 64];
        while got.len() < want.len() {
            let n = tokio::time::timeout(WAIT, port.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, want);

        // Host commands are drained, not left to fill the pty.
        let flood = async {
            for _ in 0..1000 {
                port.write_all(&[b'T'; 256]).await.unwrap();
            }
        };
        tokio::time::timeout(WAIT, flood)
            .await
            .expect("station writes are drained");
        sim.scan("after").await.unwrap();
    }

    #[tokio::test]
    async fn unplug_hangs_up_and_replug_comes_back() {
        let link = link_path("scanner-replug");
        let mut sim = ScannerSim::start(&link, ScannerSimOptions::default()).unwrap();
        let port = StationPort::open(&link).unwrap();

        sim.unplug();
        assert!(port.hung_up(WAIT).await);
        assert!(std::fs::symlink_metadata(&link).is_err());
        assert_eq!(
            sim.scan("x").await.unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );

        sim.replug().unwrap();
        let mut port = StationPort::open(&link).unwrap();
        sim.scan("4006381333931").await.unwrap();
        assert_eq!(port.line(WAIT).await.unwrap(), b"4006381333931");
    }
}
