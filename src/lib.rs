//! packwatch: the edge controller of an e-commerce packing station.
//!
//! A packer scans a parcel's waybill, packs, weighs; packwatch turns that into a pack
//! session, stores it durably and tells the warehouse system over MQTT, never losing an
//! event. See `docs/architecture.md` for how the pieces fit and `docs/glossary.md` for the
//! words.
//!
//! - [`core`]: the pure pack-session state machine and everything it reasons about;
//! - [`devices`]: scanners and scales, turned into core inputs;
//! - [`store`]: SQLite: sessions, scans, weights, the event outbox;
//! - [`mqtt`]: the outbox publisher and the topic layout;
//! - [`station`]: all of it wired together and running;
//! - [`config`]: the station file; [`cli`]: the `packwatch` command;
//! - [`sim`]: simulated devices and a local broker for the demo, tests and benchmarks.

pub mod cli;
pub mod config;
pub mod core;
pub mod devices;
pub mod mqtt;
pub mod sim;
pub mod station;
pub mod store;
pub mod systemd;
pub mod video;
