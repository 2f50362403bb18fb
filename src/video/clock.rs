//! The wall-clock time of a frame.
//!
//! GStreamer stamps buffers with *running time*: nanoseconds since the pipeline started
//! playing, on its clock. Each recorder gives its pipeline the monotonic system clock and a
//! base time it chose, so for a live source a frame's capture instant on that clock is
//! `base_time + running_time`. Converting to wall time adds `CLOCK_REALTIME -
//! CLOCK_MONOTONIC`, read again at every segment so a time step (NTP after boot) is absorbed
//! at the next segment boundary instead of skewing every later clip.
//!
//! Segment and clip times in the store are wall-clock milliseconds, the same scale as the
//! scan times of sessions: that is what makes a clip's range a simple interval query.

use gstreamer as gst;
use gstreamer::prelude::*;
use nix::time::{ClockId, clock_gettime};

use crate::core::time::Timestamp;

/// Maps a pipeline's running time to wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    /// The pipeline's base time on the monotonic clock, ns.
    base_ns: u64,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC`, ns, as last read.
    offset_ns: i128,
}

impl WallClock {
    /// Gives `pipeline` the monotonic system clock and a base time of "now", and returns the
    /// mapping for it. Call before the pipeline goes to PAUSED.
    pub fn attach(pipeline: &gst::Pipeline) -> WallClock {
        let clock = gst::SystemClock::obtain();
        pipeline.use_clock(Some(&clock));
        pipeline.set_start_time(gst::ClockTime::NONE);
        let base = clock.time();
        pipeline.set_base_time(base);
        WallClock {
            base_ns: base.nseconds(),
            offset_ns: realtime_minus_monotonic(),
        }
    }

    /// Reads the realtime offset again (at a segment boundary).
    pub fn resync(&mut self) {
        self.offset_ns = realtime_minus_monotonic();
    }

    /// The wall-clock time of a running time.
    pub fn wall(&self, running: gst::ClockTime) -> Timestamp {
        let ns = i128::from(self.base_ns) + i128::from(running.nseconds()) + self.offset_ns;
        Timestamp(i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX))
    }

    /// The local time of running time zero: the overlay clock shows this plus the running
    /// time of each frame.
    pub fn epoch(&self) -> Option<gst::glib::DateTime> {
        local_datetime(i128::from(self.base_ns) + self.offset_ns)
    }
}

/// Unix time in ns as a local GLib date-time (what `timeoverlay`'s `datetime-epoch` takes),
/// to the microsecond.
pub fn local_datetime(unix_ns: i128) -> Option<gst::glib::DateTime> {
    let us = i64::try_from(unix_ns / 1000).ok()?;
    gst::glib::DateTime::from_unix_local(us.div_euclid(1_000_000))
        .and_then(|t| {
            t.add(gst::glib::TimeSpan::from_microseconds(
                us.rem_euclid(1_000_000),
            ))
        })
        .ok()
}

fn realtime_minus_monotonic() -> i128 {
    let ns = |id| {
        clock_gettime(id)
            .map(|t| i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec()))
            .unwrap_or(0)
    };
    // Read monotonic on both sides of realtime and take the middle: the error is at most
    // half the time between the reads.
    let m0 = ns(ClockId::CLOCK_MONOTONIC);
    let r = ns(ClockId::CLOCK_REALTIME);
    let m1 = ns(ClockId::CLOCK_MONOTONIC);
    r - (m0 + m1) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_time_zero_is_about_now() {
        gst::init().expect("gstreamer");
        let pipeline = gst::Pipeline::new();
        let clock = WallClock::attach(&pipeline);
        let now = Timestamp::now();
        let at_start = clock.wall(gst::ClockTime::ZERO);
        assert!((at_start.since(now)).abs() < 50, "{at_start} vs {now}");
        let later = clock.wall(gst::ClockTime::from_seconds(2));
        assert_eq!(later.since(at_start), 2000);
    }
}
