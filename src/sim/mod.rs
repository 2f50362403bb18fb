//! Simulated devices and a local broker: what the demo, the tests and the benchmarks run on.
//!
//! The simulators speak the real wire protocols over pseudo-terminals, so the station's real
//! serial drivers are what gets exercised; only the far end of the cable is simulated.
//!
//! - [`pty`]: a pseudo-terminal standing in for a USB serial device (unplug, replug);
//! - [`scanner`], [`scale`]: a serial scanner and an MT-SICS scale on a pty;
//! - [`broker`]: a local mosquitto; [`tap`]: a subscriber that sees what the WMS would;
//! - [`packer`]: realistic orders packed through the simulators;
//! - [`station_file`]: the station file the tests and benchmarks run on them.

pub mod broker;
pub mod packer;
pub mod pty;
pub mod scale;
pub mod scanner;
pub mod station_file;
pub mod tap;
