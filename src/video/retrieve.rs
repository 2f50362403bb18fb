//! Finding a session's footage again: from an order number to a clip to an MP4.
//!
//! Used by `packwatch find` / `packwatch export` and by the HTTP API. The order number comes
//! from a person or the network: it is only ever a bound SQL parameter, and reaches a file
//! name only through [`safe_stem`].

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::Serialize;

use super::clip::range;
use super::export::{self, BurnIn, Exported, Request};
use super::overlay;
use crate::config::VideoSection;
use crate::core::time::Timestamp;
use crate::core::weight::{ScaleReading, Unit};
use crate::store::StoreError;
use crate::store::sessions::{self, SessionRow};
use crate::store::video as stored;

#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    #[error("no session for order {0:?}")]
    UnknownOrder(String),
    #[error("order {order:?} has no session {session:?}; its sessions: {known}")]
    UnknownSession {
        order: String,
        session: String,
        known: String,
    },
    #[error("no camera {camera:?} recorded this session; cameras with footage: {known}")]
    UnknownCamera { camera: String, known: String },
    #[error("no footage of this session is left (no camera recorded it, or retention deleted it)")]
    NoFootage,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Export(#[from] export::ExportError),
}

/// A session with where its footage is.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub station: Option<String>,
    #[serde(flatten)]
    pub session: SessionRow,
    pub clips: Vec<ClipInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClipInfo {
    pub camera: String,
    pub starts_at: String,
    pub ends_at: String,
    pub duration_ms: i64,
    /// `video.ready` was sent: the footage is sealed.
    pub ready: bool,
}

/// Every session of `order`, newest first, with its clips.
pub fn find(
    conn: &Connection,
    order: &str,
    video: &VideoSection,
) -> Result<Vec<Found>, RetrieveError> {
    let station = sessions::station_of(conn)?;
    let rows = sessions::list(conn, Some(order), 1000)?;
    rows.into_iter()
        .map(|session| {
            let clips = clips(conn, &session, video)?
                .into_iter()
                .map(|(camera, from, to, ready)| ClipInfo {
                    camera,
                    starts_at: from.rfc3339(),
                    ends_at: to.rfc3339(),
                    duration_ms: to.since(from),
                    ready,
                })
                .collect();
            Ok(Found {
                station: station.clone(),
                session,
                clips,
            })
        })
        .collect()
}

/// A session's clips: the stored ones, or (open session, or footage of cameras the session
/// was not planned for) the range computed from the session and the cameras with footage.
fn clips(
    conn: &Connection,
    session: &SessionRow,
    video: &VideoSection,
) -> Result<Vec<(String, Timestamp, Timestamp, bool)>, RetrieveError> {
    let stored = stored::clips_of(conn, &session.id)?;
    if !stored.is_empty() {
        return Ok(stored);
    }
    let started = Timestamp::parse_rfc3339(&session.started_at).unwrap_or_default();
    let ended = session
        .ended_at
        .as_deref()
        .and_then(Timestamp::parse_rfc3339)
        .unwrap_or_else(Timestamp::now);
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(0);
    let (from, to) = range(started, ended, ms(video.pre_roll), ms(video.post_roll));
    Ok(stored::cameras_between(conn, from, to)?
        .into_iter()
        .map(|c| (c, from, to, false))
        .collect())
}

/// Which clip to export.
pub struct Choice {
    pub found: Found,
    pub camera: String,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// The clip of `order` (its newest session, or `session_id`) on `camera` (or the first
/// camera with footage).
pub fn choose(
    conn: &Connection,
    order: &str,
    session_id: Option<&str>,
    camera: Option<&str>,
    video: &VideoSection,
) -> Result<Choice, RetrieveError> {
    let all = find(conn, order, video)?;
    if all.is_empty() {
        return Err(RetrieveError::UnknownOrder(order.to_string()));
    }
    let found = match session_id {
        None => all.into_iter().next(),
        Some(id) => {
            let known = all
                .iter()
                .map(|f| f.session.id.clone())
                .collect::<Vec<_>>()
                .join(", ");
            Some(
                all.into_iter()
                    .find(|f| f.session.id == id)
                    .ok_or_else(|| RetrieveError::UnknownSession {
                        order: order.to_string(),
                        session: id.to_string(),
                        known,
                    })?,
            )
        }
    }
    .ok_or_else(|| RetrieveError::UnknownOrder(order.to_string()))?;
    let clip = match camera {
        None => found.clips.first(),
        Some(name) => Some(
            found
                .clips
                .iter()
                .find(|c| c.camera == name)
                .ok_or_else(|| RetrieveError::UnknownCamera {
                    camera: name.to_string(),
                    known: found
                        .clips
                        .iter()
                        .map(|c| c.camera.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?,
        ),
    }
    .ok_or(RetrieveError::NoFootage)?;
    let from = Timestamp::parse_rfc3339(&clip.starts_at).unwrap_or_default();
    let to = Timestamp::parse_rfc3339(&clip.ends_at).unwrap_or_default();
    Ok(Choice {
        camera: clip.camera.clone(),
        found,
        from,
        to,
    })
}

/// A file-name stem for an order: letters, digits, `-` and `_` only, at most 64 of them.
/// An order that is not already such a stem is cleaned (anything else becomes `_`), cut to
/// 55 characters and given 8 hex digits of its hash, which keeps cleaned names apart.
pub fn safe_stem(order: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !order.is_empty() && order.len() <= 64 && order.chars().all(safe) {
        return order.to_string();
    }
    let clean: String = order
        .chars()
        .take(55)
        .map(|c| if safe(c) { c } else { '_' })
        .collect();
    let hash = super::segment::sha256(&mut order.as_bytes()).unwrap_or_default();
    format!("{clean}_{}", hash.get(..8).unwrap_or_default())
}

/// Where an export goes unless told: `exports/` in the data dir, which retention never
/// touches.
pub fn default_path(data_dir: &Path, choice: &Choice) -> PathBuf {
    let session = choice.found.session.id.get(..8).unwrap_or("session");
    data_dir.join("exports").join(format!(
        "{}-{session}-{}.mp4",
        safe_stem(&choice.found.session.order),
        choice.camera
    ))
}

/// Writes the chosen clip to `out`; `burn_in` draws the overlay and re-encodes (unless the
/// footage already carries it).
pub fn export_clip(
    conn: &Connection,
    data_dir: &Path,
    choice: &Choice,
    out: &Path,
    burn_in: bool,
) -> Result<Exported, RetrieveError> {
    let spans = stored::spans(conn, &choice.camera, choice.from, choice.to, true)?;
    if spans.is_empty() {
        return Err(RetrieveError::NoFootage);
    }
    let already = spans
        .iter()
        .all(|s| stored::encoded(conn, &s.path).unwrap_or(false));
    let burn_in = if burn_in && !already {
        let station = choice.found.station.clone().unwrap_or_default();
        let weights = sessions::weights_of(conn, &choice.found.session.id)?
            .into_iter()
            .map(|(at, _, value, unit)| {
                let reading =
                    ScaleReading::weight(value, Unit::parse(&unit).unwrap_or(Unit::G), true);
                (at, overlay::info_text(&station, Some(&reading)))
            })
            .collect();
        Some(BurnIn {
            order: choice.found.session.order.clone(),
            station,
            weights,
        })
    } else {
        None
    };
    Ok(export::export(&Request {
        data_dir,
        segments: &spans,
        from: choice.from,
        to: choice.to,
        out,
        burn_in,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_never_reach_a_path_raw() {
        assert_eq!(safe_stem("1Z999AA10123456784"), "1Z999AA10123456784");
        for evil in [
            "../../etc/passwd",
            "a/b",
            "..",
            "",
            "订单123",
            "x\0y",
            "a b",
        ] {
            let s = safe_stem(evil);
            assert!(
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{evil:?} → {s:?}"
            );
        }
        assert_ne!(
            safe_stem("a/b"),
            safe_stem("a_b"),
            "cleaned names stay apart"
        );
        assert!(safe_stem(&"9".repeat(500)).len() <= 64);
    }
}
