//! Device adapters: scanners and scales as the core sees them.
//!
//! Each driver owns one device's protocol and turns it into [`crate::core::machine::Input`]s;
//! [`serial`] owns the part every serial device shares (opening, losing and reopening the
//! port, device events, garbage accounting). The protocol parsers ([`framer`], [`mtsics`])
//! are pure and unit-tested against the wire formats in `docs/devices.md`.

pub mod framer;
pub mod mtsics;
pub mod scale;
pub mod scanner;
pub mod serial;
