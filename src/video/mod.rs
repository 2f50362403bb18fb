//! Video evidence: continuous recording per camera, clips per session, retention, export.
pub mod clip;
pub mod clock;
pub mod export;
pub mod frame;
pub mod overlay;
pub mod pipeline;
pub mod probe;
pub mod recorder;
pub mod retention;
pub mod retrieve;
pub mod segment;
