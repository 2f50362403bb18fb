//! MQTT: the station's link to the warehouse system.
//!
//! - [`topic`]: the topic layout (documented in `docs/events.md`);
//! - [`options`]: broker URL and connection options from the config;
//! - [`publisher`]: drains the outbox to the broker, deleting events only after PUBACK.

pub mod options;
pub mod publisher;
pub mod topic;
