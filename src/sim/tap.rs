//! An MQTT subscriber that collects a station's events: what the warehouse system would see.
//!
//! The demo prints through it, and the tests and benchmarks assert on it, so they check what
//! actually crossed the broker, not what packwatch believes it sent.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::mpsc;

/// A message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retained: bool,
}

impl Received {
    /// The payload as JSON (events are JSON; availability is plain text).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok()
    }
}

/// A subscription that keeps reconnecting (and resubscribing) in the background.
pub struct Tap {
    rx: mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    /// Subscribes to `filter` on the broker at `host:port` and waits until the broker
    /// confirmed the subscription (so nothing published afterwards is missed).
    pub async fn subscribe(host: &str, port: u16, filter: &str) -> anyhow::Result<Tap> {
        Tap::connect(host, port, filter, false).await
    }

    /// Like [`Tap::subscribe`], with a persistent session: the broker keeps our messages while
    /// we are away, and across its own restarts when it persists sessions (as
    /// [`super::broker::LocalBroker`] does). Only for throwaway brokers: the session never
    /// expires.
    pub async fn subscribe_persistent(host: &str, port: u16, filter: &str) -> anyhow::Result<Tap> {
        Tap::connect(host, port, filter, true).await
    }

    async fn connect(host: &str, port: u16, filter: &str, persistent: bool) -> anyhow::Result<Tap> {
        let id = format!("packwatch-tap-{}", uuid::Uuid::now_v7().simple());
        let mut options = MqttOptions::new(id, host, port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_clean_session(!persistent);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 16);
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let filter = filter.to_string();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.subscribe(&filter, QoS::AtLeastOnce).await;
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let message = Received {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retained: p.retain,
                        };
                        if tx.send(message).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .map_err(|_| anyhow::anyhow!("no SUBACK from the broker at {host}:{port}"))?
            .map_err(|_| anyhow::anyhow!("subscriber stopped"))?;
        Ok(Tap { rx, task })
    }

    /// The next message, or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Received> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next event (JSON message on an `events/` topic), skipping anything else.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.next(left).await?;
            if message.topic.contains("/events/")
                && let Some(v) = message.json()
            {
                return Some(v);
            }
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}
