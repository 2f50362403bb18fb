//! Broker address and connection options, from the `[mqtt]` section.

use std::path::Path;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS};

use super::topic::Topics;
use crate::config::StationConfig;

/// A broker URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

/// `mqtt://host[:port]` (or `tcp://`) as host and port; the port defaults to 1883.
pub fn broker_address(url: &str) -> Result<(String, u16), UrlError> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| {
            UrlError(format!(
                "{url:?} is not a broker URL: expected mqtt://host:port (TLS: see README, reverse proxy)"
            ))
        })?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| UrlError(format!("{port:?} in {url:?} is not a port number")))?;
            (host, port)
        }
        _ => (rest, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '?', '@', ' ']) {
        return Err(UrlError(format!("{url:?} has no usable host name")));
    }
    Ok((host.to_string(), port))
}

/// What the publisher needs to connect.
#[derive(Debug, Clone)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    pub keep_alive: Duration,
    pub topics: Topics,
}

impl Connection {
    /// From a validated config; reads the password file if one is named.
    pub fn from_config(config: &StationConfig) -> anyhow::Result<Connection> {
        let (host, port) = broker_address(&config.mqtt.url)?;
        let m = &config.mqtt;
        let credentials = match (&m.username, &m.password_file) {
            (Some(user), Some(file)) => Some((user.clone(), read_password(file)?)),
            (Some(user), None) => Some((user.clone(), String::new())),
            (None, _) => None,
        };
        Ok(Connection {
            host,
            port,
            client_id: m.client_id.clone().unwrap_or_else(|| {
                format!("packwatch-{}-{}", config.station.site, config.station.id)
            }),
            credentials,
            keep_alive: m.keep_alive,
            topics: Topics::new(&m.topic_prefix, &config.station.site, &config.station.id),
        })
    }

    /// rumqttc options: clean session, `offline` as the retained last will.
    pub fn mqtt_options(&self, inflight: u16) -> MqttOptions {
        let mut o = MqttOptions::new(&self.client_id, &self.host, self.port);
        o.set_keep_alive(self.keep_alive);
        o.set_clean_session(true);
        o.set_inflight(inflight);
        // A session.completed lists its items: allow large events.
        o.set_max_packet_size(1 << 20, 1 << 20);
        o.set_last_will(LastWill::new(
            self.topics.availability(),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some((user, password)) = &self.credentials {
            o.set_credentials(user, password);
        }
        o
    }
}

fn read_password(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("mqtt.password_file {}: {e}", file.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            broker_address("mqtt://127.0.0.1:1884"),
            Ok(("127.0.0.1".into(), 1884))
        );
        assert_eq!(
            broker_address("mqtt://broker.local"),
            Ok(("broker.local".into(), 1883))
        );
        assert_eq!(
            broker_address("tcp://[::1]:1883/"),
            Ok(("::1".into(), 1883))
        );
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://host:99999",
            "mqtt://host:0",
            "mqtt://u@h",
            "broker",
        ] {
            assert!(broker_address(bad).is_err(), "{bad}");
        }
    }
}
