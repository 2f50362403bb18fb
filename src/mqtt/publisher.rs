//! The outbox publisher: every stored event reaches the broker, in `seq` order, at least once.
//!
//! One task owns the broker connection. Per connection it makes a fresh rumqttc client
//! (clean session), publishes `online` (retained) on the availability topic, whose last will
//! is `offline`, then streams the outbox from its oldest entry with up to [`WINDOW`] events
//! in flight. rumqttc reports the packet id it gave each publish (`Outgoing::Publish`) in the
//! order the publishes were queued, which maps PUBACKs back to `seq`s; an acknowledged event is
//! deleted from the outbox (in batches). When the connection fails, everything not yet
//! acknowledged is still in the outbox and is sent again, oldest first, on the next
//! connection: a broker outage of any length loses nothing and keeps the order. An event
//! whose PUBACK was lost with the connection arrives twice; consumers drop the repeat by
//! `event_id` (or `seq`).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Outgoing, Packet, QoS};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::options::Connection;
use crate::store::StoreError;
use crate::store::outbox::{Outbox, Pending};

/// Events in flight (published, not yet acknowledged) at most.
pub const WINDOW: usize = 64;
/// Acknowledged events are deleted in one transaction once this many have gathered...
const DELETE_BATCH: usize = 512;
/// ...or once the oldest has waited this long. Deleting right after each PUBACK would take
/// SQLite's write lock just when the station commits the next scan (measured: a 1 ms
/// busy-wait on a quarter of scans); an acknowledged event left a little longer costs
/// nothing but a possible repeat after a crash.
const DELETE_DELAY: Duration = Duration::from_millis(500);
/// Events read from the outbox per query.
const PAGE: usize = 256;
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// What the station (and `check`, and tests) can see of the link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkStatus {
    pub connected: bool,
    pub last_error: Option<String>,
    /// The highest `seq` the broker has acknowledged in this process.
    pub acked_through: u64,
}

#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("broker connection: {0}")]
    Connection(Box<rumqttc::ConnectionError>),
    #[error("expected CONNACK from the broker, got {0}")]
    Unexpected(String),
    #[error("client: {0}")]
    Client(#[from] rumqttc::ClientError),
    #[error("outbox: {0}")]
    Store(#[from] StoreError),
    #[error("no answer from the broker within {0:?}")]
    Timeout(Duration),
}

impl From<rumqttc::ConnectionError> for LinkError {
    fn from(e: rumqttc::ConnectionError) -> LinkError {
        LinkError::Connection(Box::new(e))
    }
}

pub struct Publisher {
    connection: Connection,
    database: PathBuf,
    wake: Arc<Notify>,
    status: watch::Sender<LinkStatus>,
}

impl Publisher {
    /// `wake` is notified by the station after every commit that enqueued events.
    pub fn new(connection: Connection, database: PathBuf, wake: Arc<Notify>) -> Publisher {
        Publisher {
            connection,
            database,
            wake,
            status: watch::Sender::new(LinkStatus::default()),
        }
    }

    pub fn status(&self) -> watch::Receiver<LinkStatus> {
        self.status.subscribe()
    }

    /// Runs until `shutdown`; then says `offline` and disconnects cleanly if it can. Needs
    /// tokio's multi-threaded runtime (outbox reads and deletes use `block_in_place`).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StoreError> {
        let mut outbox = Outbox::open(&self.database)?;
        let mut backoff = BACKOFF_MIN;
        loop {
            let mut link = Link::default();
            let result = self
                .connected(&mut outbox, &mut link, &shutdown, &mut backoff)
                .await;
            // What was acknowledged before the link went down leaves the outbox now.
            link.delete_acked(&mut outbox)?;
            match result {
                Ok(()) => return Ok(()),
                Err(LinkError::Store(e)) => return Err(e),
                Err(e) => {
                    let message = e.to_string();
                    if self.status.borrow().last_error.as_deref() != Some(message.as_str()) {
                        tracing::warn!(error = %message, retry_in = ?backoff, "MQTT link down; events stay in the outbox");
                    }
                    self.status.send_modify(|s| {
                        s.connected = false;
                        s.last_error = Some(message);
                    });
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One broker connection, from CONNECT until it fails or we shut down.
    async fn connected(
        &self,
        outbox: &mut Outbox,
        link: &mut Link,
        shutdown: &CancellationToken,
        backoff: &mut Duration,
    ) -> Result<(), LinkError> {
        let inflight = u16::try_from(WINDOW).unwrap_or(u16::MAX);
        let (client, mut eventloop) =
            AsyncClient::new(self.connection.mqtt_options(inflight), WINDOW + 8);
        let connect_timeout = self.connection.keep_alive.max(Duration::from_secs(5));
        let connack = tokio::select! {
            r = tokio::time::timeout(connect_timeout, eventloop.poll()) => r.map_err(|_| LinkError::Timeout(connect_timeout))??,
            _ = shutdown.cancelled() => return Ok(()),
        };
        // rumqttc's first poll yields the CONNACK, and turns a refusal (bad credentials, ...)
        // into `ConnectionError::ConnectionRefused` itself.
        if !matches!(connack, Event::Incoming(Packet::ConnAck(_))) {
            return Err(LinkError::Unexpected(format!("{connack:?}")));
        }
        let availability = self.connection.topics.availability();
        client.try_publish(&availability, QoS::AtLeastOnce, true, "online")?;
        link.queued.push_back(None);
        *backoff = BACKOFF_MIN;
        tracing::info!(broker = %format!("{}:{}", self.connection.host, self.connection.port), backlog = outbox.len()?, "MQTT connected");
        self.status.send_modify(|s| {
            s.connected = true;
            s.last_error = None;
        });

        loop {
            self.fill_window(outbox, link, &client)?;
            if link.acked.len() >= DELETE_BATCH {
                link.delete_acked(outbox)?;
            }
            let delete_at = link.delete_at;
            tokio::select! {
                event = eventloop.poll() => self.track(link, &event?),
                _ = self.wake.notified(), if link.buffer.is_empty() => {}
                _ = tokio::time::sleep_until(delete_at.unwrap_or_else(tokio::time::Instant::now)), if delete_at.is_some() => {
                    link.delete_acked(outbox)?;
                }
                _ = shutdown.cancelled() => {
                    self.say_offline(&client, &mut eventloop, link, &availability).await;
                    return Ok(());
                }
            }
        }
    }

    /// Follows publishes and their acknowledgements: rumqttc reports the packet id of each
    /// publish in the order they were queued, and a PUBACK names that id.
    fn track(&self, link: &mut Link, event: &Event) {
        match event {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                let seq = link.queued.pop_front().flatten();
                link.by_pkid.insert(*pkid, seq);
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(Some(seq)) = link.by_pkid.remove(&ack.pkid) {
                    link.in_flight = link.in_flight.saturating_sub(1);
                    link.acked.push(seq);
                    link.delete_at
                        .get_or_insert_with(|| tokio::time::Instant::now() + DELETE_DELAY);
                    self.status
                        .send_modify(|s| s.acked_through = s.acked_through.max(seq));
                }
            }
            _ => {}
        }
    }

    /// Publishes outbox events until [`WINDOW`] are in flight or the outbox is drained.
    fn fill_window(
        &self,
        outbox: &Outbox,
        link: &mut Link,
        client: &AsyncClient,
    ) -> Result<(), LinkError> {
        while link.in_flight < WINDOW {
            if link.buffer.is_empty() {
                let page = tokio::task::block_in_place(|| outbox.page_after(link.cursor, PAGE))?;
                link.buffer.extend(page);
                if link.buffer.is_empty() {
                    return Ok(());
                }
            }
            let Some(event) = link.buffer.pop_front() else {
                return Ok(());
            };
            let topic = self.connection.topics.event(&event.event_type);
            client.try_publish(topic, QoS::AtLeastOnce, false, event.payload)?;
            link.queued.push_back(Some(event.seq));
            link.cursor = event.seq;
            link.in_flight += 1;
        }
        Ok(())
    }

    /// A planned disconnect sends no will: say `offline` ourselves, briefly wait for it.
    /// Acknowledgements that arrive meanwhile still count (their events leave the outbox).
    async fn say_offline(
        &self,
        client: &AsyncClient,
        eventloop: &mut rumqttc::EventLoop,
        link: &mut Link,
        availability: &str,
    ) {
        if client
            .try_publish(availability, QoS::AtLeastOnce, true, "offline")
            .is_err()
        {
            return;
        }
        // Queued behind any events still waiting for a packet id: keep the mapping aligned.
        link.queued.push_back(None);
        let _ = client.try_disconnect();
        let drained = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(event) => self.track(link, &event),
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("broker did not take the offline message in time");
        }
    }
}

/// The state of one connection.
#[derive(Default)]
struct Link {
    /// The highest `seq` handed to the client on this connection.
    cursor: u64,
    /// Read from the outbox, not yet published.
    buffer: VecDeque<Pending>,
    /// Published, waiting for rumqttc to assign a packet id (`None`: the availability message).
    queued: VecDeque<Option<u64>>,
    by_pkid: HashMap<u16, Option<u64>>,
    in_flight: usize,
    /// Acknowledged, not yet deleted from the outbox.
    acked: Vec<u64>,
    /// When to delete `acked` at the latest.
    delete_at: Option<tokio::time::Instant>,
}

impl Link {
    fn delete_acked(&mut self, outbox: &mut Outbox) -> Result<(), StoreError> {
        tokio::task::block_in_place(|| outbox.delete(&self.acked))?;
        self.acked.clear();
        self.delete_at = None;
        Ok(())
    }
}
