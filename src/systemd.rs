//! systemd integration: readiness, stopping and the watchdog (`Type=notify`, `WatchdogSec=`).
//!
//! Outside systemd (no `NOTIFY_SOCKET`) every call here does nothing. The watchdog is petted
//! from the station loop itself, so if that loop hangs systemd restarts the process.

use std::time::Duration;

use sd_notify::NotifyState;

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// The station is up.
pub fn ready() {
    notify(&[NotifyState::Ready, NotifyState::Status("packing")]);
}

/// The station is shutting down.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// The station loop is alive.
pub fn watchdog() {
    notify(&[NotifyState::Watchdog]);
}

/// How often to pet the watchdog (half its timeout), if systemd set one.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
}
