//! `--station FILE | --data-dir DIR`: which station's records a read-only command reads.
//!
//! A back-office PC may hold only a copy of a station's data dir, without its config; every
//! retrieval command takes either. With a config, its video settings (pre- and post-roll) and
//! camera order apply; with a bare data dir, the defaults do.

use std::path::PathBuf;

use clap::Args;

use crate::config::{StationConfig, VideoSection};

#[derive(Args)]
pub struct DataDirArgs {
    /// The station config (its data dir is read).
    #[arg(
        long,
        short,
        value_name = "FILE",
        conflicts_with = "data_dir",
        required_unless_present = "data_dir"
    )]
    station: Option<PathBuf>,
    /// A station's data dir (or a copy of it).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// The data dir to read and what the station config says about it.
pub struct Resolved {
    pub dir: PathBuf,
    pub config: Option<StationConfig>,
}

impl Resolved {
    pub fn database(&self) -> PathBuf {
        self.dir.join("packwatch.db")
    }

    pub fn video(&self) -> VideoSection {
        self.config
            .as_ref()
            .map(|c| c.video.clone())
            .unwrap_or_default()
    }
}

impl DataDirArgs {
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        match (&self.station, &self.data_dir) {
            (Some(station), _) => {
                let config = StationConfig::load(station)?;
                Ok(Resolved {
                    dir: config.station.data_dir.clone(),
                    config: Some(config),
                })
            }
            (None, Some(dir)) => Ok(Resolved {
                dir: dir.clone(),
                config: None,
            }),
            (None, None) => anyhow::bail!("give --station FILE or --data-dir DIR"),
        }
    }
}
