//! An MT-SICS balance simulated over a pty.
//!
//! A task owns the pty master, reads CRLF-terminated commands and answers them the way a
//! Mettler Toledo balance does (`SI`, `S`, `SIR`, `@`, `Z`, `T`; `ES` for anything else), so
//! the station's scale driver runs unchanged against it. Tests move the load with
//! [`ScaleSim::place`]: the reading is dynamic (`S D`, with a small deterministic jitter) for
//! the settle time, then stable at exactly the load.
//!
//! The balance itself is the pure part: [`Pan`] plus [`respond`] map a command and an instant
//! to reply bytes and are unit-tested without a pty. The serving task only adds timing: it
//! waits for stability for `S` and repeats readings for `SIR`. Any new command cancels a
//! pending `S` or `SIR`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::core::weight::Unit;
use crate::devices::framer::{Frame, LineFramer, Terminator};
use crate::sim::pty::PtyDevice;

/// What the balance answers to `@` (in I4 format).
const SERIAL_NUMBER: &str = "SIM00001";
/// How long `S` waits for stability before answering `S I`.
const STABLE_TIMEOUT: Duration = Duration::from_secs(2);
/// The interval between `SIR` readings.
const STREAM_PERIOD: Duration = Duration::from_millis(100);
/// How often a pending `S` looks at the pan again.
const STABLE_POLL: Duration = Duration::from_millis(20);
/// Longer command lines are answered with `ES` without being looked at.
const MAX_COMMAND: usize = 64;

/// How the simulated balance reports.
#[derive(Debug, Clone, Copy)]
pub struct ScaleSimOptions {
    /// The display unit (`G` or `Kg`).
    pub unit: Unit,
    /// Digits after the decimal point.
    pub decimals: usize,
    /// How long readings stay dynamic after the load changes.
    pub settle: Duration,
}

impl Default for ScaleSimOptions {
    /// Grams with one decimal, settling in 400 ms.
    fn default() -> Self {
        ScaleSimOptions {
            unit: Unit::G,
            decimals: 1,
            settle: Duration::from_millis(400),
        }
    }
}

/// The state of the balance, shared between the test's handle and the serving task.
#[derive(Debug)]
struct Pan {
    options: ScaleSimOptions,
    /// Grams physically on the pan; below zero means the pan is lifted off (underload).
    load: f64,
    placed_at: Instant,
    /// Grams subtracted by `Z`.
    zero: f64,
    /// Grams subtracted by `T`.
    tare: f64,
    never_settles: bool,
    overload: bool,
    commands: u64,
}

/// What the display shows at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Display {
    Overload,
    Underload,
    Weight { grams: f64, stable: bool },
}

/// What the serving task does with a command.
#[derive(Debug, PartialEq)]
enum Response {
    /// Send this line (with its CR LF) now.
    Line(Vec<u8>),
    /// `S` while dynamic: answer once stable, or `S I` after [`STABLE_TIMEOUT`].
    WhenStable,
    /// `SIR`: send the reading now and every [`STREAM_PERIOD`] until the next command.
    Stream,
}

impl Pan {
    fn new(options: ScaleSimOptions, now: Instant) -> Pan {
        Pan {
            options,
            load: 0.0,
            placed_at: now,
            zero: 0.0,
            tare: 0.0,
            never_settles: false,
            overload: false,
            commands: 0,
        }
    }

    fn display(&self, now: Instant) -> Display {
        if self.overload {
            return Display::Overload;
        }
        if self.load < 0.0 {
            return Display::Underload;
        }
        let since = now.saturating_duration_since(self.placed_at);
        let stable = !self.never_settles && since >= self.options.settle;
        let mut grams = self.load - self.zero - self.tare;
        if !stable {
            // About 1 % of the load plus a few digits, swinging at a few hertz.
            let digit = self.options.unit.grams_per_unit() / self.digits_scale();
            grams += (0.01 * self.load + 3.0 * digit) * (since.as_secs_f64() * 40.0 + 1.0).sin();
        }
        Display::Weight { grams, stable }
    }

    /// The reply to `SI`: `S S`/`S D` with the weight, `S +` or `S -`.
    fn reading_line(&self, now: Instant) -> Vec<u8> {
        match self.display(now) {
            Display::Overload => b"S +\r\n".to_vec(),
            Display::Underload => b"S -\r\n".to_vec(),
            Display::Weight { grams, stable } => {
                let status = if stable { 'S' } else { 'D' };
                format!("S {status} {}\r\n", self.weight_field(grams)).into_bytes()
            }
        }
    }

    /// The reply to a pending `S`: the reading once it is not dynamic, `S I` once `deadline`
    /// has passed, otherwise nothing yet.
    fn settled_line(&self, deadline: Instant, now: Instant) -> Option<Vec<u8>> {
        match self.display(now) {
            Display::Weight { stable: false, .. } if now < deadline => None,
            Display::Weight { stable: false, .. } => Some(b"S I\r\n".to_vec()),
            _ => Some(self.reading_line(now)),
        }
    }

    /// A weight in the display unit, right-aligned in 10 characters, then the unit
    /// (`    100.00 g`).
    fn weight_field(&self, grams: f64) -> String {
        let ScaleSimOptions { unit, decimals, .. } = self.options;
        let scale = self.digits_scale();
        // Rounding first and adding 0.0 turns a tiny negative into "0.0" rather than "-0.0".
        let value = (grams / unit.grams_per_unit() * scale).round() / scale + 0.0;
        format!("{value:>10.decimals$} {}", unit.as_str())
    }

    /// 10 to the power of the displayed decimals.
    fn digits_scale(&self) -> f64 {
        10f64.powi(i32::try_from(self.options.decimals).unwrap_or(i32::MAX))
    }
}

/// Answers one command line (without CR LF) as the balance would at `now`.
fn respond(command: &[u8], pan: &mut Pan, now: Instant) -> Response {
    let line = |text: String| Response::Line(format!("{text}\r\n").into_bytes());
    match command {
        b"SI" => Response::Line(pan.reading_line(now)),
        b"S" => match pan.settled_line(now + STABLE_TIMEOUT, now) {
            Some(reply) => Response::Line(reply),
            None => Response::WhenStable,
        },
        b"SIR" => Response::Stream,
        b"@" => line(format!("I4 A \"{SERIAL_NUMBER}\"")),
        b"Z" if pan.overload => line("Z +".to_owned()),
        b"Z" => {
            pan.zero = pan.load;
            pan.tare = 0.0;
            line("Z A".to_owned())
        }
        b"T" if pan.overload => line("T +".to_owned()),
        b"T" => {
            pan.tare = pan.load - pan.zero;
            line(format!("T S {}", pan.weight_field(pan.tare)))
        }
        _ => line("ES".to_owned()),
    }
}

/// A simulated MT-SICS balance published at a link path.
#[derive(Debug)]
pub struct ScaleSim {
    link: PathBuf,
    pan: Arc<Mutex<Pan>>,
    /// The serving task; it owns the pty, so aborting it unplugs the balance.
    task: Option<JoinHandle<()>>,
}

impl ScaleSim {
    /// Plugs a balance in at `link` with nothing on the pan. Must be called inside a tokio
    /// runtime.
    pub fn start(link: &Path, options: ScaleSimOptions) -> io::Result<ScaleSim> {
        let mut sim = ScaleSim {
            link: link.to_owned(),
            pan: Arc::new(Mutex::new(Pan::new(options, Instant::now()))),
            task: None,
        };
        sim.replug()?;
        Ok(sim)
    }

    /// Puts a new load on the pan (replacing the old one); readings are dynamic for the settle
    /// time. A negative load is a lifted pan and reads as underload.
    pub fn place(&self, grams: f64) {
        let mut pan = self.pan();
        pan.load = grams;
        pan.placed_at = Instant::now();
    }

    /// Empties the pan.
    pub fn clear(&self) {
        self.place(0.0);
    }

    /// Keeps readings dynamic for as long as it is on (a draught, a restless parcel).
    pub fn set_never_settles(&self, on: bool) {
        self.pan().never_settles = on;
    }

    pub fn set_overload(&self, on: bool) {
        self.pan().overload = on;
    }

    /// Command lines received over all plugs, including unknown and over-long ones.
    pub fn commands_received(&self) -> u64 {
        self.pan().commands
    }

    /// Pulls the cable: the station's port hangs up and the link goes away once the runtime
    /// has dropped the aborted serving task. The pan keeps its load, zero and tare.
    pub fn unplug(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Plugs a new device in at the same link (unplugging the old one first if needed). A
    /// pending `S` or `SIR` does not survive.
    pub fn replug(&mut self) -> io::Result<()> {
        self.unplug();
        let pty = PtyDevice::create(&self.link)?;
        self.task = Some(tokio::spawn(serve(pty, Arc::clone(&self.pan))));
        Ok(())
    }

    pub fn link(&self) -> &Path {
        &self.link
    }

    fn pan(&self) -> MutexGuard<'_, Pan> {
        lock(&self.pan)
    }
}

impl Drop for ScaleSim {
    fn drop(&mut self) {
        self.unplug();
    }
}

fn lock(pan: &Mutex<Pan>) -> MutexGuard<'_, Pan> {
    pan.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the serving task is doing between commands.
enum Pending {
    Idle,
    Stable { deadline: Instant },
    Stream { next: Instant },
}

/// Serves commands until the pty fails or the task is aborted.
async fn serve(pty: PtyDevice, shared: Arc<Mutex<Pan>>) {
    let mut framer = LineFramer::new(Terminator::Any, MAX_COMMAND);
    let mut frames = Vec::new();
    let mut buf = [0; 256];
    let mut pending = Pending::Idle;
    loop {
        let wake = match pending {
            Pending::Idle => None,
            Pending::Stable { .. } => Some(Instant::now() + STABLE_POLL),
            Pending::Stream { next } => Some(next),
        };
        let timer = async {
            match wake {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut out = Vec::new();
        tokio::select! {
            read = pty.read(&mut buf) => {
                let n = match read {
                    Ok(n) if n > 0 => n,
                    _ => return,
                };
                framer.push(&buf[..n], &mut frames);
                for frame in frames.drain(..) {
                    let now = Instant::now();
                    let mut pan = lock(&shared);
                    pan.commands += 1;
                    let response = match frame {
                        Frame::Line(command) => respond(&command, &mut pan, now),
                        Frame::Rejected(_) => Response::Line(b"ES\r\n".to_vec()),
                    };
                    pending = match response {
                        Response::Line(reply) => {
                            out.extend(reply);
                            Pending::Idle
                        }
                        Response::WhenStable => Pending::Stable { deadline: now + STABLE_TIMEOUT },
                        Response::Stream => Pending::Stream { next: now },
                    };
                }
            }
            () = timer => {
                let now = Instant::now();
                let pan = lock(&shared);
                match pending {
                    Pending::Idle => {}
                    Pending::Stable { deadline } => {
                        if let Some(reply) = pan.settled_line(deadline, now) {
                            out = reply;
                            pending = Pending::Idle;
                        }
                    }
                    Pending::Stream { next } => {
                        out = pan.reading_line(now);
                        pending = Pending::Stream { next: (next + STREAM_PERIOD).max(now) };
                    }
                }
            }
        }
        if let Err(e) = pty.write_all(&out).await {
            tracing::debug!(link = %pty.link().display(), error = %e, "scale sim stops");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::pty::testing::{StationPort, link_path};

    const MS: Duration = Duration::from_millis(1);
    const WAIT: Duration = Duration::from_secs(1);

    /// The responder's answer as text, with CR LF shown as `|`.
    fn ask(pan: &mut Pan, command: &[u8], now: Instant) -> String {
        match respond(command, pan, now) {
            Response::Line(line) => String::from_utf8(line).unwrap().replace("\r\n", "|"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn responder_follows_the_load() {
        let t0 = Instant::now();
        let options = ScaleSimOptions {
            decimals: 2,
            ..Default::default()
        };
        let settled = t0 + options.settle;
        let mut pan = Pan::new(options, t0);
        pan.load = 100.0;

        let dynamic = ask(&mut pan, b"SI", t0 + 100 * MS);
        assert!(
            dynamic.starts_with("S D ") && dynamic.len() == 17,
            "{dynamic}"
        );
        assert_eq!(ask(&mut pan, b"SI", settled), "S S     100.00 g|");
        assert_eq!(ask(&mut pan, b"S", t0), "WhenStable");
        assert_eq!(ask(&mut pan, b"S", settled), "S S     100.00 g|");
        assert_eq!(ask(&mut pan, b"SIR", t0), "Stream");
        assert_eq!(ask(&mut pan, b"@", t0), "I4 A \"SIM00001\"|");
        for unknown in [&b"XYZ"[..], b"si", b"SI ", b"\xff"] {
            assert_eq!(ask(&mut pan, unknown, settled), "ES|");
        }

        // Tare, then zero (which also clears the tare).
        assert_eq!(ask(&mut pan, b"T", settled), "T S     100.00 g|");
        pan.load = 99.5;
        assert_eq!(ask(&mut pan, b"SI", settled), "S S      -0.50 g|");
        assert_eq!(ask(&mut pan, b"Z", settled), "Z A|");
        assert_eq!(ask(&mut pan, b"SI", settled), "S S       0.00 g|");

        pan.load = -1.0;
        assert_eq!(ask(&mut pan, b"SI", settled), "S -|");
        pan.overload = true;
        assert_eq!(ask(&mut pan, b"S", t0), "S +|");
        assert_eq!(ask(&mut pan, b"Z", settled), "Z +|");
    }

    #[test]
    fn pending_stable_request_times_out_when_never_settling() {
        let t0 = Instant::now();
        let deadline = t0 + STABLE_TIMEOUT;
        let mut pan = Pan::new(ScaleSimOptions::default(), t0);
        pan.load = 2500.0;
        pan.never_settles = true;
        assert_eq!(pan.settled_line(deadline, t0 + WAIT), None);
        let timed_out = pan.settled_line(deadline, deadline);
        assert_eq!(timed_out.as_deref(), Some(&b"S I\r\n"[..]));
        pan.never_settles = false;
        let stable = pan.settled_line(deadline, t0 + WAIT);
        assert_eq!(stable.as_deref(), Some(&b"S S     2500.0 g\r\n"[..]));
    }

    #[test]
    fn weight_field_formats_units_and_signs() {
        let kg = ScaleSimOptions {
            unit: Unit::Kg,
            decimals: 3,
            ..Default::default()
        };
        let pan = Pan::new(kg, Instant::now());
        assert_eq!(pan.weight_field(1234.6), "     1.235 kg");
        assert_eq!(pan.weight_field(-0.0001), "     0.000 kg");
        assert_eq!(pan.weight_field(-500.0), "    -0.500 kg");
    }

    fn start(name: &str, settle: Duration) -> (ScaleSim, StationPort) {
        let link = link_path(name);
        let sim = ScaleSim::start(
            &link,
            ScaleSimOptions {
                settle,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(sim.link(), link);
        let port = StationPort::open(&link).unwrap();
        (sim, port)
    }

    async fn command(port: &mut StationPort, command: &[u8]) -> String {
        port.write_all(command).await.unwrap();
        String::from_utf8(port.line(WAIT).await.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn serves_commands_over_the_pty() {
        let (sim, mut port) = start("scale-serve", 150 * MS);
        sim.place(812.34);
        assert!(command(&mut port, b"SI\r\n").await.starts_with("S D "));
        // `S` waits for the load to settle.
        assert_eq!(command(&mut port, b"S\r\n").await, "S S      812.3 g");
        assert_eq!(command(&mut port, b"SI\r\n").await, "S S      812.3 g");
        assert_eq!(command(&mut port, b"Z\r\n").await, "Z A");
        assert_eq!(command(&mut port, b"SI\r\n").await, "S S        0.0 g");
        assert_eq!(command(&mut port, b"HELLO\r\n").await, "ES");
        let too_long = [[b'X'; 100].as_slice(), b"\r\n"].concat();
        assert_eq!(command(&mut port, &too_long).await, "ES");
        sim.set_overload(true);
        assert_eq!(command(&mut port, b"SI\r\n").await, "S +");
        sim.set_overload(false);

        sim.set_never_settles(true);
        sim.clear();
        tokio::time::sleep(200 * MS).await;
        assert!(command(&mut port, b"SI\r\n").await.starts_with("S D "));
        assert_eq!(sim.commands_received(), 9);
    }

    #[tokio::test]
    async fn sir_streams_until_reset() {
        let (sim, mut port) = start("scale-sir", Duration::ZERO);
        sim.place(50.0);
        port.write_all(b"SIR\r\n").await.unwrap();
        let started = Instant::now();
        for _ in 0..4 {
            assert_eq!(port.line(WAIT).await.unwrap(), b"S S       50.0 g");
        }
        assert!(started.elapsed() >= 300 * MS, "{:?}", started.elapsed());

        port.write_all(b"@\r\n").await.unwrap();
        loop {
            let line = port.line(WAIT).await.unwrap();
            if line == b"I4 A \"SIM00001\"" {
                break;
            }
            assert_eq!(line, b"S S       50.0 g");
        }
        assert_eq!(port.line(250 * MS).await, None, "stream stopped");
    }

    #[tokio::test]
    async fn unplug_and_replug() {
        let (mut sim, port) = start("scale-replug", Duration::ZERO);
        sim.place(20.0);
        sim.unplug();
        assert!(port.hung_up(WAIT).await);
        assert!(std::fs::symlink_metadata(sim.link()).is_err());

        sim.replug().unwrap();
        let mut port = StationPort::open(sim.link()).unwrap();
        assert_eq!(command(&mut port, b"SI\r\n").await, "S S       20.0 g");
    }
}
