//! `packwatch run --station FILE`: the station as systemd runs it.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{ConfigError, StationConfig};
use crate::station;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = StationConfig::load(path)?;
    if let Some(key) = simulated_device(&config) {
        return Err(ConfigError {
            file: config.source.clone(),
            key: Some(key),
            message: "simulated devices run only under `packwatch demo`; set `simulate = false` and a real port".into(),
        }
        .into());
    }
    super::runtime()?.block_on(async move {
        let mut running = station::start(config).await?;
        tracing::info!("station running; SIGTERM or Ctrl-C stops it");
        tokio::select! {
            _ = super::stop_signal() => {}
            r = running.wait() => {
                r?;
                anyhow::bail!("a station task ended unexpectedly");
            }
        }
        running.stop().await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn simulated_device(config: &StationConfig) -> Option<String> {
    let scanner = config
        .scanner
        .iter()
        .position(|s| s.simulate)
        .map(|i| format!("scanner[{i}].simulate"));
    scanner.or_else(|| {
        config
            .scale
            .iter()
            .position(|s| s.simulate)
            .map(|i| format!("scale[{i}].simulate"))
    })
}
