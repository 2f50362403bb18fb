//! Pack events: what the station tells the warehouse system.
//!
//! The core produces an [`Event`] for everything that happens; the store writes it to the
//! outbox in the same transaction as the state change, adding the envelope (`event_id`, `seq`,
//! `site`, `station`), and the MQTT publisher sends it to
//! `{prefix}/{site}/{station}/events/{type}`. The JSON field names here are a public
//! interface documented in `docs/events.md`: change them only with a new event version.

use serde::Serialize;

use super::barcode::Symbology;
use super::classify::InvalidReason;
use super::machine::Mode;
use super::time::Timestamp;
use super::weight::Unit;

/// An event with the context every event carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: Timestamp,
    pub mode: Mode,
    /// The order of the session the event belongs to (for device events: the open one).
    pub order: Option<String>,
    pub body: EventBody,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The packer scanned the done command.
    DoneCommand,
    /// The packer scanned the next order.
    NextOrder,
    /// Nothing was scanned for the idle timeout.
    IdleTimeout,
    /// The packer switched the station's mode.
    ModeChange,
    /// The packer scanned the cancel command.
    CancelCommand,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::DoneCommand => "done_command",
            CloseReason::NextOrder => "next_order",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::ModeChange => "mode_change",
            CloseReason::CancelCommand => "cancel_command",
        }
    }
}

/// Why a scan did not do anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnrecognizedReason {
    /// Not an order and no session is open to take it as an item.
    NoOpenSession,
    /// A done/cancel command with no session to end.
    CommandWithoutSession,
    /// Not valid barcode text (empty, too long, control characters).
    Invalid,
}

/// Which kind of device an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Scanner,
    Scale,
    Camera,
}

/// The type-specific part of an event. Serialized without a tag: the type travels in the
/// envelope's `type` field and in the topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventBody {
    SessionStarted {
        session_id: String,
        /// `pack` or `unboxing` (returns mode).
        kind: SessionKind,
        /// Which format recognised the order: `ups`, `usps`, `pattern:0`, `catch_all`...
        matched_by: String,
        scanner: String,
    },
    ItemScanned {
        session_id: String,
        code: String,
        gtin: Option<String>,
        symbology: Option<Symbology>,
        /// Items scanned in this session so far, this one included.
        item_count: u32,
        scanner: String,
    },
    WeightCaptured {
        session_id: String,
        weight_g: f64,
        /// The value and unit the scale sent.
        value: f64,
        unit: Unit,
        scale: String,
    },
    SessionCompleted {
        session_id: String,
        kind: SessionKind,
        duration_ms: i64,
        /// `null` when no stable weight was captured.
        weight_g: Option<f64>,
        /// The item codes in scan order, at most `MAX_ITEMS_IN_EVENT` of them.
        items: Vec<String>,
        /// More items were scanned than `items` lists (`item_count` has them all).
        items_truncated: bool,
        item_count: u32,
        reason: CloseReason,
    },
    SessionCancelled {
        session_id: String,
        kind: SessionKind,
        duration_ms: i64,
        items: Vec<String>,
        items_truncated: bool,
        item_count: u32,
        reason: CloseReason,
    },
    /// The order of the open (or just closed) session was scanned again: not a new session.
    ScanDuplicate {
        session_id: String,
        scanner: String,
    },
    ScanUnrecognized {
        /// The scanned text, with control characters escaped, at most 128 characters.
        code: String,
        reason: UnrecognizedReason,
        /// For `invalid`: what was wrong.
        detail: Option<InvalidReason>,
        scanner: String,
    },
    ModeChanged {
        from: Mode,
        to: Mode,
    },
    DeviceConnected {
        device: String,
        kind: DeviceKind,
        port: String,
    },
    DeviceDisconnected {
        device: String,
        kind: DeviceKind,
        reason: String,
    },
    DeviceFault {
        device: String,
        kind: DeviceKind,
        reason: String,
    },
    /// A session's footage from one camera is closed, on disk and hashed.
    VideoReady {
        session_id: String,
        camera: String,
        /// The clip's range: session start - pre-roll to session end + post-roll (RFC 3339).
        starts_at: String,
        ends_at: String,
        duration_ms: i64,
        /// No gap: footage covers the whole range.
        complete: bool,
        /// Ranges without footage (camera down, recorder restarting).
        gaps: Vec<Gap>,
        /// The segment files holding the clip, oldest first, at most `MAX_SEGMENTS_IN_EVENT`.
        segments: Vec<SegmentRef>,
        segments_truncated: bool,
    },
    /// The video disk is below `video.min_free` and nothing more may be deleted.
    StorageCritical {
        path: String,
        free_bytes: u64,
        min_free_bytes: u64,
        detail: String,
    },
}

/// A time range without footage in a clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub from: String,
    pub to: String,
}

/// One segment file of a clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentRef {
    /// Relative to the station's data dir.
    pub path: String,
    pub started_at: String,
    pub ended_at: String,
    pub bytes: u64,
    pub sha256: String,
}

/// At most this many segments are listed in one `video.ready` (over 30 minutes of 4 s
/// segments): an event must fit an MQTT packet.
pub const MAX_SEGMENTS_IN_EVENT: usize = 500;

/// A pack session (outbound parcel) or an unboxing session (returned parcel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Pack,
    Unboxing,
}

impl SessionKind {
    pub fn for_mode(mode: Mode) -> SessionKind {
        match mode {
            Mode::Pack => SessionKind::Pack,
            Mode::Returns => SessionKind::Unboxing,
        }
    }
}

impl EventBody {
    /// The event type: the last topic level and the envelope's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventBody::SessionStarted { .. } => "session.started",
            EventBody::ItemScanned { .. } => "item.scanned",
            EventBody::WeightCaptured { .. } => "weight.captured",
            EventBody::SessionCompleted { .. } => "session.completed",
            EventBody::SessionCancelled { .. } => "session.cancelled",
            EventBody::ScanDuplicate { .. } => "scan.duplicate",
            EventBody::ScanUnrecognized { .. } => "scan.unrecognized",
            EventBody::ModeChanged { .. } => "station.mode_changed",
            EventBody::DeviceConnected { .. } => "device.connected",
            EventBody::DeviceDisconnected { .. } => "device.disconnected",
            EventBody::DeviceFault { .. } => "device.fault",
            EventBody::VideoReady { .. } => "video.ready",
            EventBody::StorageCritical { .. } => "storage.critical",
        }
    }

    /// Every event type, for documentation and tests.
    pub const TYPES: [&'static str; 13] = [
        "session.started",
        "item.scanned",
        "weight.captured",
        "session.completed",
        "session.cancelled",
        "scan.duplicate",
        "scan.unrecognized",
        "station.mode_changed",
        "device.connected",
        "device.disconnected",
        "device.fault",
        "video.ready",
        "storage.critical",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_is_documented() {
        let reference = include_str!("../../docs/events.md");
        for t in EventBody::TYPES {
            assert!(
                reference.contains(&format!("`{t}`")),
                "docs/events.md lacks {t}"
            );
        }
    }
}
