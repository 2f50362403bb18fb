//! Retention: which footage is deleted, and when.
//!
//! Footage is *order* footage if it overlaps a session's clip range, else *idle* footage.
//! Order footage is kept `keep_orders` (90 days by default), idle footage `keep_idle` (24 h).
//! When the video disk has less than `min_free` free, idle footage goes early, oldest first;
//! order footage is never deleted before its time. If that is not enough, a
//! `storage.critical` event says so (once, until space is back): a full disk then shows up as
//! a recording fault instead of silently eating evidence.
//!
//! Exports are files of their own under `exports/`; retention only ever deletes segment files
//! listed in the store, so an exported clip outlives the footage it was cut from.
//!
//! A segment is classified once it is older than the pre-roll (no later scan can claim it),
//! and the class is stored, so each sweep only looks at segments that are new or due.

use std::path::{Path, PathBuf};

use crate::config::VideoSection;
use crate::core::event::EventBody;
use crate::core::time::Timestamp;
use crate::store::video::{SessionSpan, Stored};
use crate::store::{Store, StoreError};

/// Footage younger than the pre-roll plus this is not classified yet.
const SETTLE_MS: i64 = 30_000;
const BATCH: usize = 500;
/// A sweep does at most this many batches of each kind; the next sweep goes on.
const MAX_BATCHES: usize = 20;

/// What footage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Footage {
    Order,
    Idle,
}

impl Footage {
    pub fn as_str(self) -> &'static str {
        match self {
            Footage::Order => "order",
            Footage::Idle => "idle",
        }
    }
}

/// The class of a segment `[start, end]`, given the session that started last before
/// `end + pre_roll` (the only one whose clip can overlap it).
pub fn footage_of(
    start: Timestamp,
    end: Timestamp,
    latest: Option<SessionSpan>,
    pre_roll_ms: i64,
    post_roll_ms: i64,
) -> Footage {
    match latest {
        Some(s) if s.started_at.plus(-pre_roll_ms) < end => match s.ended_at {
            None => Footage::Order,
            Some(e) if e.plus(post_roll_ms) > start => Footage::Order,
            Some(_) => Footage::Idle,
        },
        _ => Footage::Idle,
    }
}

/// The settings retention works by, in ms and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub keep_orders_ms: i64,
    pub keep_idle_ms: i64,
    pub min_free_bytes: u64,
    pub pre_roll_ms: i64,
    pub post_roll_ms: i64,
}

impl Policy {
    pub fn from_config(video: &VideoSection) -> Policy {
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Policy {
            keep_orders_ms: ms(video.keep_orders),
            keep_idle_ms: ms(video.keep_idle),
            min_free_bytes: video.min_free.as_u64(),
            pre_roll_ms: ms(video.pre_roll),
            post_roll_ms: ms(video.post_roll),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub classified: usize,
    pub deleted_idle: usize,
    pub deleted_order: usize,
    pub freed_bytes: u64,
    /// Free space on the video disk at the end of the sweep.
    pub free_bytes: u64,
    /// `storage.critical`, the first time the disk stays below `min_free`.
    pub critical: Option<EventBody>,
}

/// Runs sweeps for one data dir, remembering whether the disk is in a critical episode.
pub struct Retention {
    policy: Policy,
    data_dir: PathBuf,
    critical: bool,
}

impl Retention {
    pub fn new(policy: Policy, data_dir: PathBuf) -> Retention {
        Retention {
            policy,
            data_dir,
            critical: false,
        }
    }

    /// Classifies new footage, deletes what is due, and frees space if the disk is short.
    pub fn sweep(&mut self, store: &mut Store, now: Timestamp) -> Result<Report, StoreError> {
        let p = self.policy;
        let mut report = Report::default();
        for _ in 0..MAX_BATCHES {
            let batch =
                store.unclassified_segments(now.plus(-(p.pre_roll_ms + SETTLE_MS)), BATCH)?;
            if batch.is_empty() {
                break;
            }
            let mut classes = Vec::with_capacity(batch.len());
            for s in &batch {
                let latest = store.latest_session_before(s.ended_at.plus(p.pre_roll_ms))?;
                let footage = footage_of(
                    s.started_at,
                    s.ended_at,
                    latest,
                    p.pre_roll_ms,
                    p.post_roll_ms,
                );
                classes.push((s.id, footage.as_str()));
            }
            store.classify_segments(&classes)?;
            report.classified += batch.len();
        }
        for (footage, keep) in [
            (Footage::Idle, p.keep_idle_ms),
            (Footage::Order, p.keep_orders_ms),
        ] {
            for _ in 0..MAX_BATCHES {
                let due = store.footage_before(footage.as_str(), now.plus(-keep), BATCH)?;
                if due.is_empty() {
                    break;
                }
                let n = self.delete(store, &due, &mut report)?;
                match footage {
                    Footage::Idle => report.deleted_idle += n,
                    Footage::Order => report.deleted_order += n,
                }
            }
        }
        let video = self.data_dir.join(crate::video::segment::VIDEO_DIR);
        // A station that never recorded has no video disk to watch.
        let mut free = if video.exists() {
            free_bytes(&video)
        } else {
            None
        };
        // Short of space: idle footage goes early, oldest first.
        while free.is_some_and(|f| f < p.min_free_bytes) {
            let oldest = store.footage_before(Footage::Idle.as_str(), now, 50)?;
            if oldest.is_empty() {
                break;
            }
            report.deleted_idle += self.delete(store, &oldest, &mut report)?;
            free = free_bytes(&video);
        }
        report.free_bytes = free.unwrap_or(0);
        match free {
            // Once per episode: the event says it, the log keeps saying it is still so.
            Some(f) if f < p.min_free_bytes && self.critical => {
                tracing::warn!(
                    free = f,
                    min_free = p.min_free_bytes,
                    "video disk still below min_free"
                );
            }
            Some(f) if f < p.min_free_bytes => {
                self.critical = true;
                tracing::error!(
                    free = f,
                    min_free = p.min_free_bytes,
                    "video disk below min_free with no idle footage left to delete"
                );
                report.critical = Some(EventBody::StorageCritical {
                    path: video.display().to_string(),
                    free_bytes: f,
                    min_free_bytes: p.min_free_bytes,
                    detail: "below video.min_free and only order footage within keep_orders is left: recording will stop when the disk is full; add space or shorten video.keep_orders".into(),
                });
            }
            Some(_) => {
                if self.critical {
                    tracing::info!("video disk back above min_free");
                }
                self.critical = false;
            }
            None => {}
        }
        if report.deleted_idle + report.deleted_order > 0 {
            tracing::info!(
                idle = report.deleted_idle,
                order = report.deleted_order,
                freed = report.freed_bytes,
                "retention deleted footage"
            );
        }
        Ok(report)
    }

    fn delete(
        &self,
        store: &mut Store,
        segments: &[Stored],
        report: &mut Report,
    ) -> Result<usize, StoreError> {
        let ids: Vec<i64> = segments.iter().map(|s| s.id).collect();
        store.segments_deleted(&ids)?;
        for s in segments {
            let path = self.data_dir.join(&s.path);
            match std::fs::remove_file(&path) {
                Ok(()) => report.freed_bytes += s.bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot delete a segment")
                }
            }
            // The day directory goes with its last segment (fails harmlessly while not empty).
            if let Some(dir) = path.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        Ok(segments.len())
    }
}

/// Free bytes for unprivileged writers on the filesystem holding `path` (or its nearest
/// existing parent).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let st = nix::sys::statvfs::statvfs(existing).ok()?;
    // The field types are u32 on some 32-bit targets (Raspberry Pi OS armhf).
    #[allow(clippy::useless_conversion)]
    let (blocks, size) = (
        u64::from(st.blocks_available()),
        u64::from(st.fragment_size()),
    );
    Some(blocks.saturating_mul(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRE: i64 = 3000;
    const POST: i64 = 2000;

    fn session(start: i64, end: Option<i64>) -> Option<SessionSpan> {
        Some(SessionSpan {
            started_at: Timestamp(start),
            ended_at: end.map(Timestamp),
        })
    }

    fn class(start: i64, end: i64, latest: Option<SessionSpan>) -> Footage {
        footage_of(Timestamp(start), Timestamp(end), latest, PRE, POST)
    }

    #[test]
    fn footage_inside_a_clip_range_is_order_footage() {
        // Session 100 s - 160 s: clip 97 s - 162 s.
        let s = session(100_000, Some(160_000));
        assert_eq!(class(96_000, 98_000, s), Footage::Order, "pre-roll");
        assert_eq!(class(120_000, 124_000, s), Footage::Order, "during");
        assert_eq!(class(161_000, 165_000, s), Footage::Order, "post-roll");
        assert_eq!(
            class(162_000, 166_000, s),
            Footage::Idle,
            "after the post-roll"
        );
        assert_eq!(
            class(90_000, 97_000, s),
            Footage::Idle,
            "before the pre-roll"
        );
        assert_eq!(class(0, 4000, None), Footage::Idle, "no session ever");
    }

    #[test]
    fn everything_after_an_open_session_started_is_order_footage() {
        let open = session(100_000, None);
        assert_eq!(class(500_000, 504_000, open), Footage::Order);
        assert_eq!(class(90_000, 96_000, open), Footage::Idle);
    }

    #[test]
    fn the_policy_comes_from_the_config_defaults() {
        let p = Policy::from_config(&VideoSection::default());
        assert_eq!(p.keep_orders_ms, 90 * 86_400_000);
        assert_eq!(p.keep_idle_ms, 86_400_000);
        assert_eq!(p.min_free_bytes, 2 << 30);
        assert_eq!((p.pre_roll_ms, p.post_roll_ms), (PRE, POST));
    }

    #[test]
    fn free_space_is_measured_on_the_nearest_existing_directory() {
        let dir = tempfile::tempdir().expect("dir");
        let free = free_bytes(&dir.path().join("video/not/yet")).expect("statvfs");
        assert!(free > 0);
    }
}
