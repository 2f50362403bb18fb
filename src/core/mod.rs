//! The pure core: what a scan means and what a pack session is, with no I/O.
//!
//! - [`barcode`]: what a scanner delivered (text, AIM symbology, GS1 data);
//! - [`carrier`]: carrier tracking-number formats and their check digits;
//! - [`classify`]: order, item, command or garbage;
//! - [`weight`]: scale readings normalised to grams;
//! - [`time`]: the timestamps every input carries;
//! - [`event`]: the events the station publishes;
//! - [`machine`]: the pack-session state machine that ties them together.
//!
//! Everything here is deterministic and unit-tested; the adapters around it live in
//! `devices`, `store`, `mqtt` and `station`.

pub mod barcode;
pub mod carrier;
pub mod classify;
pub mod event;
pub mod machine;
pub mod time;
pub mod weight;
