//! The pack-session state machine: scans and weights in, session changes and events out.
//!
//! This is the station's logic and nothing else: no I/O, no clock, no randomness. Adapters
//! (devices, the store, MQTT) turn the world into [`Input`]s and carry out the [`Action`]s,
//! which is what makes every rule below testable without hardware.
//!
//! The rules:
//! - A scan classified as an order opens a session, closing the open one (`next_order`).
//!   The same order scanned again while its session is open, or within `rescan_window` after
//!   it completed, is a duplicate, not a new session.
//! - Any other scan while a session is open is an item of that session.
//! - The done command, the next order, or `idle_timeout` without a scan completes the
//!   session; the cancel command cancels it; switching mode completes it.
//! - The first stable weight of at least `min_grams` that settled *after* the order scan and
//!   stayed stable for `stable_for` is the parcel's weight. A load that was already resting on
//!   the scale when the order was scanned (the previous parcel) is never captured: the scale
//!   has to move and settle again.
//! - In `returns` mode the same flow makes unboxing sessions; the events say which.
//!
//! Every action list that [`PackMachine::handle`] returns is applied by the store in one
//! transaction, so a session change and its events are durable together or not at all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::barcode::{Barcode, Symbology, gtin14};
use super::classify::{Classifier, Command, ScanKind};
use super::event::{CloseReason, DeviceKind, Event, EventBody, SessionKind, UnrecognizedReason};
use super::time::Timestamp;
use super::weight::{ScaleReading, Unit};

/// The station's mode: packing outbound parcels, or unboxing returned ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Pack,
    Returns,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Pack => "pack",
            Mode::Returns => "returns",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "pack" => Some(Mode::Pack),
            "returns" => Some(Mode::Returns),
            _ => None,
        }
    }
}

/// The machine's settings (from the station config).
#[derive(Debug, Clone, PartialEq)]
pub struct MachineConfig {
    pub mode: Mode,
    pub idle_timeout_ms: i64,
    pub rescan_window_ms: i64,
    pub min_grams: f64,
    pub stable_for_ms: i64,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            mode: Mode::Pack,
            idle_timeout_ms: 600_000,
            rescan_window_ms: 10_000,
            min_grams: 5.0,
            stable_for_ms: 0,
        }
    }
}

/// Something that happened at the station.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Scan {
        scanner: String,
        barcode: Barcode,
        at: Timestamp,
        /// The id the session gets if this scan opens one (the adapter makes a UUIDv7).
        new_session_id: String,
    },
    Weight {
        scale: String,
        reading: ScaleReading,
        at: Timestamp,
    },
    Device {
        device: String,
        kind: DeviceKind,
        status: DeviceStatus,
        at: Timestamp,
    },
    /// Time passed; sent at [`PackMachine::next_deadline`].
    Tick { at: Timestamp },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    Connected { port: String },
    Disconnected { reason: String },
    Fault { reason: String },
}

/// What a scan was taken as, for the scan log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanRole {
    Order,
    Item,
    Command,
    Duplicate,
    Unrecognized,
}

impl ScanRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanRole::Order => "order",
            ScanRole::Item => "item",
            ScanRole::Command => "command",
            ScanRole::Duplicate => "duplicate",
            ScanRole::Unrecognized => "unrecognized",
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Cancelled,
}

/// A state change for the store to make durable, or an event to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    OpenSession {
        id: String,
        order: String,
        matched_by: String,
        kind: SessionKind,
        started_at: Timestamp,
    },
    RecordScan {
        session_id: Option<String>,
        at: Timestamp,
        scanner: String,
        code: String,
        role: ScanRole,
        symbology: Option<Symbology>,
        gtin: Option<String>,
    },
    CaptureWeight {
        session_id: String,
        at: Timestamp,
        scale: String,
        grams: f64,
        value: f64,
        unit: Unit,
    },
    CloseSession {
        id: String,
        at: Timestamp,
        outcome: Outcome,
        reason: CloseReason,
    },
    SetMode(Mode),
    Emit(Event),
}

/// The open session as the machine tracks it (and as the store restores it after a restart).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSession {
    pub id: String,
    pub order: String,
    pub kind: SessionKind,
    pub started_at: Timestamp,
    /// The last scan (or the start): the idle timeout counts from here.
    pub last_activity: Timestamp,
    pub items: Vec<String>,
    pub weight_g: Option<f64>,
}

/// The last completed session, for the rescan window.
#[derive(Debug, Clone, PartialEq)]
struct RecentSession {
    id: String,
    order: String,
    closed_at: Timestamp,
}

/// What the machine knows about one scale's load. A scale the machine has not heard since
/// it started, or since the scale faulted, has no track: its first stable load may have been
/// resting there all along (the previous parcel), so it counts as settled since forever and
/// the load has to move and settle again before it is captured.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ScaleTrack {
    /// The stable load, if the scale is stable now.
    stable_grams: Option<f64>,
    /// When the scale settled at `stable_grams`.
    settled_since: Timestamp,
}

impl ScaleTrack {
    const UNKNOWN_SINCE: Timestamp = Timestamp(i64::MIN);
}

/// Two readings closer than this are the same settled load.
const SAME_LOAD_GRAMS: f64 = 1e-6;
/// Unrecognised codes are echoed into events at most this long.
const ECHO_MAX_CHARS: usize = 128;
/// A closing event lists at most this many items (the store keeps them all). Bounds the
/// event's size (codes are at most 128 characters: under 70 kB) below every broker's packet
/// limit: an event too large to publish would hold up the outbox behind it.
pub const MAX_ITEMS_IN_EVENT: usize = 500;

pub struct PackMachine {
    config: MachineConfig,
    classifier: Classifier,
    mode: Mode,
    open: Option<OpenSession>,
    recent: Option<RecentSession>,
    scales: BTreeMap<String, ScaleTrack>,
}

impl PackMachine {
    /// A machine with no open session, in the configured mode.
    pub fn new(config: MachineConfig, classifier: Classifier) -> PackMachine {
        let mode = config.mode;
        PackMachine::resume(config, classifier, mode, None)
    }

    /// A machine picking up where a previous run stopped (mode and open session from the store).
    pub fn resume(
        config: MachineConfig,
        classifier: Classifier,
        mode: Mode,
        open: Option<OpenSession>,
    ) -> PackMachine {
        PackMachine {
            config,
            classifier,
            mode,
            open,
            recent: None,
            scales: BTreeMap::new(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn open_session(&self) -> Option<&OpenSession> {
        self.open.as_ref()
    }

    /// When the machine next needs a [`Input::Tick`], if ever.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.open
            .as_ref()
            .map(|s| s.last_activity.plus(self.config.idle_timeout_ms))
    }

    /// Takes one input; returns what to make durable and publish, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        // A session past its idle deadline ended then, whatever arrives now: the result must
        // not depend on whether the timer or a late scan reached the machine first.
        let at = match &input {
            Input::Scan { at, .. }
            | Input::Weight { at, .. }
            | Input::Device { at, .. }
            | Input::Tick { at } => *at,
        };
        self.tick(at, &mut out);
        match input {
            Input::Scan {
                scanner,
                barcode,
                at,
                new_session_id,
            } => self.scan(&scanner, &barcode, at, new_session_id, &mut out),
            Input::Weight { scale, reading, at } => self.weight(&scale, reading, at, &mut out),
            Input::Device {
                device,
                kind,
                status,
                at,
            } => self.device(device, kind, status, at, &mut out),
            Input::Tick { .. } => {}
        }
        out
    }

    fn event(&self, at: Timestamp, order: Option<String>, body: EventBody) -> Action {
        Action::Emit(Event {
            at,
            mode: self.mode,
            order,
            body,
        })
    }

    fn scan(
        &mut self,
        scanner: &str,
        barcode: &Barcode,
        at: Timestamp,
        new_session_id: String,
        out: &mut Vec<Action>,
    ) {
        let record = |session_id: Option<String>, code: String, role, gtin| Action::RecordScan {
            session_id,
            at,
            scanner: scanner.to_string(),
            code,
            role,
            symbology: barcode.symbology,
            gtin,
        };
        match self.in_context(self.classifier.classify(barcode), barcode) {
            ScanKind::Order { number, matched_by } => {
                if let Some(id) = self.duplicate_of(&number, at) {
                    if let Some(open) = self.open.as_mut() {
                        open.last_activity = at;
                    }
                    out.push(record(
                        Some(id.clone()),
                        number.clone(),
                        ScanRole::Duplicate,
                        None,
                    ));
                    out.push(self.event(
                        at,
                        Some(number),
                        EventBody::ScanDuplicate {
                            session_id: id,
                            scanner: scanner.to_string(),
                        },
                    ));
                    return;
                }
                self.close(at, Outcome::Completed, CloseReason::NextOrder, out);
                let kind = SessionKind::for_mode(self.mode);
                out.push(Action::OpenSession {
                    id: new_session_id.clone(),
                    order: number.clone(),
                    matched_by: matched_by.clone(),
                    kind,
                    started_at: at,
                });
                out.push(record(
                    Some(new_session_id.clone()),
                    number.clone(),
                    ScanRole::Order,
                    None,
                ));
                out.push(self.event(
                    at,
                    Some(number.clone()),
                    EventBody::SessionStarted {
                        session_id: new_session_id.clone(),
                        kind,
                        matched_by,
                        scanner: scanner.to_string(),
                    },
                ));
                self.open = Some(OpenSession {
                    id: new_session_id,
                    order: number,
                    kind,
                    started_at: at,
                    last_activity: at,
                    items: Vec::new(),
                    weight_g: None,
                });
            }
            ScanKind::Item { code, gtin } => {
                let Some(open) = self.open.as_mut() else {
                    out.push(record(None, code.clone(), ScanRole::Unrecognized, gtin));
                    out.push(self.event(
                        at,
                        None,
                        EventBody::ScanUnrecognized {
                            code: echo(&code),
                            reason: UnrecognizedReason::NoOpenSession,
                            detail: None,
                            scanner: scanner.to_string(),
                        },
                    ));
                    return;
                };
                open.last_activity = at;
                open.items.push(code.clone());
                let item_count = u32::try_from(open.items.len()).unwrap_or(u32::MAX);
                let (id, order) = (open.id.clone(), open.order.clone());
                out.push(record(
                    Some(id.clone()),
                    code.clone(),
                    ScanRole::Item,
                    gtin.clone(),
                ));
                out.push(self.event(
                    at,
                    Some(order),
                    EventBody::ItemScanned {
                        session_id: id,
                        code,
                        gtin,
                        symbology: barcode.symbology,
                        item_count,
                        scanner: scanner.to_string(),
                    },
                ));
            }
            ScanKind::Command(command) => {
                let session_id = self.open.as_ref().map(|s| s.id.clone());
                out.push(record(
                    session_id,
                    barcode.text.clone(),
                    ScanRole::Command,
                    None,
                ));
                match command {
                    Command::Done | Command::Cancel if self.open.is_none() => {
                        out.push(self.event(
                            at,
                            None,
                            EventBody::ScanUnrecognized {
                                code: echo(&barcode.text),
                                reason: UnrecognizedReason::CommandWithoutSession,
                                detail: None,
                                scanner: scanner.to_string(),
                            },
                        ));
                    }
                    Command::Done => {
                        self.close(at, Outcome::Completed, CloseReason::DoneCommand, out)
                    }
                    Command::Cancel => {
                        self.close(at, Outcome::Cancelled, CloseReason::CancelCommand, out)
                    }
                    Command::ModePack => self.switch_mode(Mode::Pack, at, out),
                    Command::ModeReturns => self.switch_mode(Mode::Returns, at, out),
                }
            }
            ScanKind::Invalid { reason } => {
                let code = echo(&barcode.text);
                out.push(record(None, code.clone(), ScanRole::Unrecognized, None));
                let order = self.open.as_ref().map(|s| s.order.clone());
                out.push(self.event(
                    at,
                    order,
                    EventBody::ScanUnrecognized {
                        code,
                        reason: UnrecognizedReason::Invalid,
                        detail: Some(reason),
                        scanner: scanner.to_string(),
                    },
                ));
            }
        }
    }

    /// Settles what classification alone cannot. Without an AIM symbology id, a 12- or
    /// 13-digit product code passes a carrier's check digit by chance (one UPC-A in ten is a
    /// valid FedEx Express number). While a session is open, products are what gets scanned,
    /// and taking one for a waybill would close the parcel's session: so a carrier or
    /// catch-all match that is also a valid GTIN is an item then. A site pattern is the
    /// site's explicit word and stands. Scanners that send AIM ids avoid the question.
    fn in_context(&self, kind: ScanKind, barcode: &Barcode) -> ScanKind {
        match kind {
            ScanKind::Order { ref matched_by, .. }
                if self.open.is_some()
                    && barcode.symbology.is_none()
                    && !matched_by.starts_with("pattern:") =>
            {
                match gtin14(&barcode.text) {
                    Some(gtin) => ScanKind::Item {
                        code: barcode.text.clone(),
                        gtin: Some(gtin),
                    },
                    None => kind,
                }
            }
            other => other,
        }
    }

    /// The session an order scan duplicates: the open one with the same order, or the
    /// last completed one within the rescan window.
    fn duplicate_of(&self, order: &str, at: Timestamp) -> Option<String> {
        if let Some(open) = &self.open {
            return (open.order == order).then(|| open.id.clone());
        }
        self.recent
            .as_ref()
            .filter(|r| r.order == order && at.since(r.closed_at) <= self.config.rescan_window_ms)
            .map(|r| r.id.clone())
    }

    fn close(
        &mut self,
        at: Timestamp,
        outcome: Outcome,
        reason: CloseReason,
        out: &mut Vec<Action>,
    ) {
        let Some(session) = self.open.take() else {
            return;
        };
        let duration_ms = at.since(session.started_at).max(0);
        let item_count = u32::try_from(session.items.len()).unwrap_or(u32::MAX);
        let items_truncated = session.items.len() > MAX_ITEMS_IN_EVENT;
        let mut items = session.items;
        items.truncate(MAX_ITEMS_IN_EVENT);
        out.push(Action::CloseSession {
            id: session.id.clone(),
            at,
            outcome,
            reason,
        });
        let body = match outcome {
            Outcome::Completed => EventBody::SessionCompleted {
                session_id: session.id.clone(),
                kind: session.kind,
                duration_ms,
                weight_g: session.weight_g,
                items,
                items_truncated,
                item_count,
                reason,
            },
            Outcome::Cancelled => EventBody::SessionCancelled {
                session_id: session.id.clone(),
                kind: session.kind,
                duration_ms,
                items,
                items_truncated,
                item_count,
                reason,
            },
        };
        out.push(self.event(at, Some(session.order.clone()), body));
        self.recent = (outcome == Outcome::Completed).then_some(RecentSession {
            id: session.id,
            order: session.order,
            closed_at: at,
        });
    }

    fn switch_mode(&mut self, to: Mode, at: Timestamp, out: &mut Vec<Action>) {
        if self.mode == to {
            return;
        }
        self.close(at, Outcome::Completed, CloseReason::ModeChange, out);
        let from = self.mode;
        self.mode = to;
        self.recent = None;
        out.push(Action::SetMode(to));
        out.push(self.event(at, None, EventBody::ModeChanged { from, to }));
    }

    fn weight(&mut self, scale: &str, reading: ScaleReading, at: Timestamp, out: &mut Vec<Action>) {
        let track = self.scales.entry(scale.to_string()).or_insert(ScaleTrack {
            stable_grams: None,
            settled_since: ScaleTrack::UNKNOWN_SINCE,
        });

        let stable = match reading {
            ScaleReading::Weight {
                grams,
                stable: true,
                value,
                unit,
            } => {
                let same_load = track
                    .stable_grams
                    .is_some_and(|g| (g - grams).abs() < SAME_LOAD_GRAMS);
                if !same_load {
                    let resting_before_we_knew = track.stable_grams.is_none()
                        && track.settled_since == ScaleTrack::UNKNOWN_SINCE;
                    track.stable_grams = Some(grams);
                    if !resting_before_we_knew {
                        track.settled_since = at;
                    }
                }
                Some((grams, value, unit, track.settled_since))
            }
            _ => {
                track.stable_grams = None;
                // Moving: whatever settles next, settles from now on.
                track.settled_since = at;
                None
            }
        };
        let (Some((grams, value, unit, settled_since)), Some(open)) = (stable, self.open.as_mut())
        else {
            return;
        };
        let qualifies = open.weight_g.is_none()
            && grams >= self.config.min_grams
            && settled_since >= open.started_at
            && at.since(settled_since) >= self.config.stable_for_ms;
        if !qualifies {
            return;
        }
        open.weight_g = Some(grams);
        open.last_activity = at;
        let (id, order) = (open.id.clone(), open.order.clone());
        out.push(Action::CaptureWeight {
            session_id: id.clone(),
            at,
            scale: scale.to_string(),
            grams,
            value,
            unit,
        });
        out.push(self.event(
            at,
            Some(order),
            EventBody::WeightCaptured {
                session_id: id,
                weight_g: grams,
                value,
                unit,
                scale: scale.to_string(),
            },
        ));
    }

    fn device(
        &mut self,
        device: String,
        kind: DeviceKind,
        status: DeviceStatus,
        at: Timestamp,
        out: &mut Vec<Action>,
    ) {
        if kind == DeviceKind::Scale && !matches!(status, DeviceStatus::Connected { .. }) {
            // What the scale carried while we could not hear it is unknown.
            self.scales.remove(&device);
        }
        let body = match status {
            DeviceStatus::Connected { port } => EventBody::DeviceConnected { device, kind, port },
            DeviceStatus::Disconnected { reason } => EventBody::DeviceDisconnected {
                device,
                kind,
                reason,
            },
            DeviceStatus::Fault { reason } => EventBody::DeviceFault {
                device,
                kind,
                reason,
            },
        };
        let order = self.open.as_ref().map(|s| s.order.clone());
        out.push(self.event(at, order, body));
    }

    fn tick(&mut self, at: Timestamp, out: &mut Vec<Action>) {
        if let Some(deadline) = self.next_deadline().filter(|d| at >= *d) {
            // The session ended when it went idle, not when we noticed (after a restart,
            // that can be much later).
            self.close(deadline, Outcome::Completed, CloseReason::IdleTimeout, out);
        }
    }
}

/// A scanned text made safe to echo in an event: control characters escaped, bounded length.
fn echo(text: &str) -> String {
    let mut s = String::new();
    for c in text.chars().take(ECHO_MAX_CHARS) {
        if c.is_control() {
            s.push_str(&format!("\\x{:02X}", u32::from(c)));
        } else {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests;
