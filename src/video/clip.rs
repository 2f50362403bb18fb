//! A clip: the footage of one session from one camera, as a time range over segments.
//!
//! Recording never stops at order boundaries, so a clip is not a file: it is the range
//! `[session start - pre_roll, session end + post_roll]` and the segments that overlap it.
//! Consecutive sessions' clips overlap by pre- plus post-roll, so there is never a gap
//! between orders. Pure functions: the store supplies the segments, export cuts the file.

use crate::core::event::{EventBody, Gap, MAX_SEGMENTS_IN_EVENT, SegmentRef};
use crate::core::time::Timestamp;

/// Boundaries of consecutive segments are within a few ms; a hole longer than this is a gap.
pub const GAP_TOLERANCE_MS: i64 = 500;

/// A sealed segment, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub path: String,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub bytes: u64,
    pub sha256: String,
}

/// The clip range of a session.
pub fn range(
    session_start: Timestamp,
    session_end: Timestamp,
    pre_roll_ms: i64,
    post_roll_ms: i64,
) -> (Timestamp, Timestamp) {
    (
        session_start.plus(-pre_roll_ms),
        session_end.plus(post_roll_ms),
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clip {
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The segments overlapping the range, oldest first.
    pub segments: Vec<Span>,
    /// Parts of the range no segment covers.
    pub gaps: Vec<(Timestamp, Timestamp)>,
}

impl Clip {
    /// The clip of `[starts_at, ends_at]` from a camera's segments (any order, any range).
    pub fn assemble(starts_at: Timestamp, ends_at: Timestamp, mut segments: Vec<Span>) -> Clip {
        segments.retain(|s| s.ended_at > starts_at && s.started_at < ends_at);
        segments.sort_by_key(|s| s.started_at);
        let mut gaps = Vec::new();
        let mut covered_to = starts_at;
        for s in &segments {
            if s.started_at.since(covered_to) > GAP_TOLERANCE_MS {
                gaps.push((covered_to, s.started_at));
            }
            covered_to = covered_to.max(s.ended_at);
        }
        if ends_at.since(covered_to) > GAP_TOLERANCE_MS {
            gaps.push((covered_to, ends_at));
        }
        Clip {
            starts_at,
            ends_at,
            segments,
            gaps,
        }
    }

    /// The `video.ready` event body.
    pub fn ready_event(&self, session_id: &str, camera: &str) -> EventBody {
        EventBody::VideoReady {
            session_id: session_id.to_string(),
            camera: camera.to_string(),
            starts_at: self.starts_at.rfc3339(),
            ends_at: self.ends_at.rfc3339(),
            duration_ms: self.ends_at.since(self.starts_at),
            complete: self.gaps.is_empty(),
            gaps: self
                .gaps
                .iter()
                .map(|(from, to)| Gap {
                    from: from.rfc3339(),
                    to: to.rfc3339(),
                })
                .collect(),
            segments: self
                .segments
                .iter()
                .take(MAX_SEGMENTS_IN_EVENT)
                .map(|s| SegmentRef {
                    path: s.path.clone(),
                    started_at: s.started_at.rfc3339(),
                    ended_at: s.ended_at.rfc3339(),
                    bytes: s.bytes,
                    sha256: s.sha256.clone(),
                })
                .collect(),
            segments_truncated: self.segments.len() > MAX_SEGMENTS_IN_EVENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(from: i64, to: i64) -> Span {
        Span {
            path: format!("s-{from}.mp4"),
            started_at: Timestamp(from),
            ended_at: Timestamp(to),
            bytes: 1,
            sha256: String::new(),
        }
    }

    #[test]
    fn the_range_adds_pre_and_post_roll() {
        assert_eq!(
            range(Timestamp(10_000), Timestamp(20_000), 3000, 2000),
            (Timestamp(7000), Timestamp(22_000))
        );
    }

    #[test]
    fn only_overlapping_segments_in_time_order_and_no_gap_when_covered() {
        let segs = vec![
            span(8000, 12_000),
            span(0, 4000),
            span(4002, 8000),
            span(12_000, 16_000),
        ];
        let clip = Clip::assemble(Timestamp(5000), Timestamp(12_000), segs);
        let paths: Vec<_> = clip.segments.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["s-4002.mp4", "s-8000.mp4"]);
        assert!(clip.gaps.is_empty());
    }

    #[test]
    fn holes_at_the_start_middle_and_end_are_gaps() {
        let segs = vec![span(2000, 4000), span(6000, 8000)];
        let clip = Clip::assemble(Timestamp(0), Timestamp(10_000), segs);
        assert_eq!(
            clip.gaps,
            [
                (Timestamp(0), Timestamp(2000)),
                (Timestamp(4000), Timestamp(6000)),
                (Timestamp(8000), Timestamp(10_000))
            ]
        );
        let none = Clip::assemble(Timestamp(0), Timestamp(1000), vec![]);
        assert_eq!(none.gaps, [(Timestamp(0), Timestamp(1000))]);
        let EventBody::VideoReady {
            complete,
            duration_ms,
            ..
        } = none.ready_event("s", "c")
        else {
            panic!("not video.ready")
        };
        assert!(!complete);
        assert_eq!(duration_ms, 1000);
    }

    #[test]
    fn a_long_clip_lists_at_most_the_event_limit() {
        let segs: Vec<_> = (0..600).map(|i| span(i * 4000, (i + 1) * 4000)).collect();
        let clip = Clip::assemble(Timestamp(0), Timestamp(2_400_000), segs);
        let EventBody::VideoReady {
            segments,
            segments_truncated,
            complete,
            ..
        } = clip.ready_event("s", "c")
        else {
            panic!("not video.ready")
        };
        assert_eq!(segments.len(), MAX_SEGMENTS_IN_EVENT);
        assert!(segments_truncated);
        assert!(complete);
    }
}
