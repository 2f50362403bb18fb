//! Video in the store: segment files and the clips of sessions.
//!
//! A `segments` row follows its file: `open` while the muxer writes it, `closed` when it was
//! finished and sealed (fsynced, sized, hashed), `cut_short` when a fault or a crash ended
//! it early (its end is the file's last write), `missing` when the file could not be found,
//! `deleted` once retention removed it. A `clips` row is the range of one session on one
//! camera, written in the same transaction that closes the session, so no closed session is
//! ever without its clips; `ready_at` is set in the transaction that puts its `video.ready`
//! event in the outbox.
//!
//! Segment rows are written only by the station loop (notes from the recorders); the CLI and
//! the web server read them through [`spans`].

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError, execute, outbox};
use crate::core::event::Event;
use crate::core::machine::Mode;
use crate::core::time::Timestamp;
use crate::video::clip::{Clip, Span};
use crate::video::segment;

/// A segment never lasts longer than this (segments are 2-10 s, cut at a keyframe); range
/// queries look this far back for a segment that overlaps.
pub const MAX_SEGMENT_MS: i64 = 120_000;

/// The clips a closing session gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipPlan {
    pub cameras: Vec<String>,
    pub pre_roll_ms: i64,
    pub post_roll_ms: i64,
}

/// Inserts the clips of session `id`, closed at `ended_at`, inside the caller's transaction.
pub(super) fn add_clips(
    tx: &Connection,
    plan: &ClipPlan,
    id: &str,
    ended_at: Timestamp,
) -> Result<(), StoreError> {
    let started: Option<i64> = tx
        .query_row("SELECT started_at FROM sessions WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(started) = started else {
        return Ok(());
    };
    let (from, to) = crate::video::clip::range(
        Timestamp(started),
        ended_at,
        plan.pre_roll_ms,
        plan.post_roll_ms,
    );
    for camera in &plan.cameras {
        execute(
            tx,
            "INSERT OR IGNORE INTO clips (session_id, camera, starts_at, ends_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![id, camera, from.millis(), to.millis()],
        )?;
    }
    Ok(())
}

/// The segments of `camera` overlapping `[from, to]`, oldest first. With `include_open`,
/// segments still being written count too, as ending `now` (for exports of a running
/// station); `video.ready` only ever lists sealed ones.
pub fn spans(
    conn: &Connection,
    camera: &str,
    from: Timestamp,
    to: Timestamp,
    include_open: bool,
) -> Result<Vec<Span>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT path, started_at, coalesce(ended_at, ?5), coalesce(bytes, 0), coalesce(sha256, '')
         FROM segments
         WHERE camera = ?1 AND started_at >= ?2 - ?6 AND started_at < ?3
           AND (status IN ('closed', 'cut_short') OR (?4 AND status = 'open'))
         ORDER BY started_at",
    )?;
    let now = Timestamp::now().millis();
    let rows = stmt
        .query_map(
            params![
                camera,
                from.millis(),
                to.millis(),
                include_open,
                now,
                MAX_SEGMENT_MS
            ],
            |r| {
                Ok(Span {
                    path: r.get(0)?,
                    started_at: Timestamp(r.get(1)?),
                    ended_at: Timestamp(r.get(2)?),
                    bytes: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
                    sha256: r.get(4)?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows.into_iter().filter(|s| s.ended_at > from).collect())
}

/// The cameras that have footage in `[from, to]`.
pub fn cameras_between(
    conn: &Connection,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT camera FROM segments
         WHERE started_at >= ?1 - ?3 AND started_at < ?2 AND status != 'deleted'
         ORDER BY camera",
    )?;
    let rows = stmt
        .query_map(params![from.millis(), to.millis(), MAX_SEGMENT_MS], |r| {
            r.get(0)
        })?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// The clip rows of a session: `(camera, starts_at, ends_at, ready)`.
pub fn clips_of(
    conn: &Connection,
    session_id: &str,
) -> Result<Vec<(String, Timestamp, Timestamp, bool)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT camera, starts_at, ends_at, ready_at IS NOT NULL FROM clips
         WHERE session_id = ?1 ORDER BY camera",
    )?;
    let rows = stmt
        .query_map([session_id], |r| {
            Ok((
                r.get(0)?,
                Timestamp(r.get(1)?),
                Timestamp(r.get(2)?),
                r.get(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Whether the segment's pictures carry the burned-in overlay.
pub fn encoded(conn: &Connection, path: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT encoded FROM segments WHERE path = ?1",
            [path],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false))
}

impl Store {
    /// From now on, closing sessions get clips on these cameras.
    pub fn set_clip_plan(&mut self, plan: ClipPlan) {
        self.clip_plan = (!plan.cameras.is_empty()).then_some(plan);
    }

    /// A recorder started writing `path` (relative to the data dir).
    pub fn segment_opened(
        &mut self,
        camera: &str,
        path: &str,
        started_at: Timestamp,
        encoded: bool,
    ) -> Result<(), StoreError> {
        execute(
            &self.conn,
            "INSERT INTO segments (camera, path, started_at, status, encoded)
             VALUES (?1, ?2, ?3, 'open', ?4)",
            params![camera, path, started_at.millis(), encoded],
        )?;
        Ok(())
    }

    /// A recorder finished and sealed `path`.
    #[allow(clippy::too_many_arguments)]
    pub fn segment_closed(
        &mut self,
        camera: &str,
        path: &str,
        ended_at: Timestamp,
        bytes: u64,
        sha256: &str,
        cut_short: bool,
    ) -> Result<(), StoreError> {
        let status = if cut_short { "cut_short" } else { "closed" };
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let updated = execute(
            &self.conn,
            "UPDATE segments SET ended_at = max(?2, started_at), status = ?3, bytes = ?4, sha256 = ?5
             WHERE path = ?1 AND status = 'open'",
            params![path, ended_at.millis(), status, bytes, sha256],
        )?;
        if updated == 0 {
            tracing::warn!(
                camera,
                path,
                "a segment closed that was not recorded as open"
            );
        }
        Ok(())
    }

    /// A segment could not be sealed (its file is gone).
    pub fn segment_missing(&mut self, path: &str) -> Result<(), StoreError> {
        execute(
            &self.conn,
            "UPDATE segments SET ended_at = started_at, status = 'missing'
             WHERE path = ?1 AND status = 'open'",
            [path],
        )?;
        Ok(())
    }

    /// After a crash: segments left `open` are sealed as they are on disk and end at their
    /// last write. Returns how many there were. Call before the recorders start.
    pub fn recover_segments(&mut self, data_dir: &Path) -> Result<usize, StoreError> {
        let open: Vec<(String, String)> = self
            .conn
            .prepare("SELECT camera, path FROM segments WHERE status = 'open'")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (camera, path) in &open {
            match segment::seal(&data_dir.join(path)) {
                Ok(sealed) => {
                    tracing::warn!(
                        camera,
                        path,
                        bytes = sealed.bytes,
                        "a segment left open by a crash was recovered"
                    );
                    self.segment_closed(
                        camera,
                        path,
                        sealed.modified,
                        sealed.bytes,
                        &sealed.sha256,
                        true,
                    )?;
                }
                Err(e) => {
                    tracing::error!(camera, path, error = %e, "a segment left open by a crash is gone");
                    self.segment_missing(path)?;
                }
            }
        }
        Ok(open.len())
    }

    /// Puts a `video.ready` in the outbox for every clip whose footage is all sealed: its
    /// end has passed and its camera has no open segment that starts before it. A camera
    /// that is down does not hold clips back: they are ready with their gaps listed.
    /// Returns how many events were enqueued.
    pub fn ready_clips(&mut self, now: Timestamp, mode: Mode) -> Result<usize, StoreError> {
        let mut seq = self.next_seq;
        let tx = self.conn.transaction()?;
        let pending: Vec<(String, String, i64, i64, String)> = tx
            .prepare_cached(
                "SELECT c.session_id, c.camera, c.starts_at, c.ends_at, s.order_no
                 FROM clips c JOIN sessions s ON s.id = c.session_id
                 WHERE c.ready_at IS NULL AND c.ends_at <= ?1
                   AND NOT EXISTS (
                       SELECT 1 FROM segments g
                       WHERE g.camera = c.camera AND g.status = 'open' AND g.started_at < c.ends_at)
                 ORDER BY c.ends_at LIMIT 100",
            )?
            .query_map([now.millis()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        for (session_id, camera, from, to, order) in &pending {
            let (from, to) = (Timestamp(*from), Timestamp(*to));
            let clip = Clip::assemble(from, to, spans(&tx, camera, from, to, false)?);
            let event = Event {
                at: now,
                mode,
                order: Some(order.clone()),
                body: clip.ready_event(session_id, camera),
            };
            outbox::enqueue(&tx, &self.identity, seq, &event)?;
            seq += 1;
            execute(
                &tx,
                "UPDATE clips SET ready_at = ?3 WHERE session_id = ?1 AND camera = ?2",
                params![session_id, camera, now.millis()],
            )?;
        }
        if !pending.is_empty() {
            super::set_meta(&tx, "next_seq", &seq.to_string())?;
        }
        tx.commit()?;
        self.next_seq = seq;
        Ok(pending.len())
    }
}

/// A segment as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: i64,
    pub path: String,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub bytes: u64,
}

/// The session that could overlap a segment, see [`Store::latest_session_before`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSpan {
    pub started_at: Timestamp,
    /// `None` while the session is open.
    pub ended_at: Option<Timestamp>,
}

impl Store {
    /// Sealed segments not yet classified as order or idle footage that ended before
    /// `before`, oldest first.
    pub fn unclassified_segments(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        self.stored(
            "SELECT id, path, started_at, ended_at, coalesce(bytes, 0) FROM segments
             WHERE footage IS NULL AND status != 'open' AND ended_at < ?1
             ORDER BY ended_at LIMIT ?2",
            params![before.millis(), limit_param(limit)],
        )
    }

    /// Segments of one kind of footage (`order` or `idle`) still on disk that ended before
    /// `before`, oldest first.
    pub fn footage_before(
        &self,
        footage: &str,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        self.stored(
            "SELECT id, path, started_at, ended_at, coalesce(bytes, 0) FROM segments
             WHERE footage = ?1 AND status != 'deleted' AND ended_at < ?2
             ORDER BY ended_at LIMIT ?3",
            params![footage, before.millis(), limit_param(limit)],
        )
    }

    fn stored(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<Stored>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map(p, |r| {
                Ok(Stored {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    started_at: Timestamp(r.get(2)?),
                    ended_at: Timestamp(r.get(3)?),
                    bytes: r.get::<_, i64>(4)?.try_into().unwrap_or(0),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The session that started last before `t`. Sessions at a station follow each other,
    /// so this is the only one whose clip can reach past `t` from before it.
    pub fn latest_session_before(&self, t: Timestamp) -> Result<Option<SessionSpan>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT started_at, ended_at FROM sessions WHERE started_at < ?1
                 ORDER BY started_at DESC LIMIT 1",
            )?
            .query_row([t.millis()], |r| {
                Ok(SessionSpan {
                    started_at: Timestamp(r.get(0)?),
                    ended_at: r.get::<_, Option<i64>>(1)?.map(Timestamp),
                })
            })
            .optional()?)
    }

    /// Records segments as order (`order`) or idle (`idle`) footage, in one transaction.
    pub fn classify_segments(&mut self, footage: &[(i64, &str)]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for (id, kind) in footage {
            execute(
                &tx,
                "UPDATE segments SET footage = ?2 WHERE id = ?1",
                params![id, kind],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Segments retention is about to remove; the rows stay as a record that they existed.
    /// Committed before the files go: a crash in between leaves a stray file, never a row
    /// that points at nothing.
    pub fn segments_deleted(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for id in ids {
            execute(
                &tx,
                "UPDATE segments SET status = 'deleted' WHERE id = ?1",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
