//! The event outbox: events waiting for the broker's PUBACK.
//!
//! [`enqueue`] runs inside the store's transaction, so an event exists exactly when the state
//! change it describes does. The MQTT publisher reads the outbox in `seq` order through its
//! own [`Outbox`] connection, a page at a time (memory stays flat whatever the backlog), and
//! deletes rows only after the broker acknowledged them. A crash between PUBACK and delete
//! sends that event again: delivery is at-least-once, and `event_id` lets consumers drop the
//! repeat.

use std::path::Path;

use rusqlite::{Connection, Transaction, params};
use serde::Serialize;
use uuid::Uuid;

use super::{Identity, StoreError};
use crate::core::event::{Event, EventBody};
use crate::core::machine::Mode;

/// The JSON every event is published as: the envelope, then the type's fields.
#[derive(Serialize)]
struct Envelope<'a> {
    event_id: Uuid,
    seq: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    ts: String,
    site: &'a str,
    station: &'a str,
    mode: Mode,
    order: Option<&'a str>,
    #[serde(flatten)]
    body: &'a EventBody,
}

/// Writes `event` as outbox entry `seq`, inside the caller's transaction.
pub(super) fn enqueue(
    tx: &Transaction<'_>,
    identity: &Identity,
    seq: u64,
    event: &Event,
) -> Result<(), StoreError> {
    let envelope = Envelope {
        event_id: Uuid::now_v7(),
        seq,
        kind: event.body.type_name(),
        ts: event.at.rfc3339(),
        site: &identity.site,
        station: &identity.station,
        mode: event.mode,
        order: event.order.as_deref(),
        body: &event.body,
    };
    let payload = serde_json::to_string(&envelope)
        .map_err(|e| StoreError::Corrupt(format!("event does not serialize: {e}")))?;
    super::execute(
        tx,
        "INSERT INTO outbox (seq, event_id, type, payload) VALUES (?1, ?2, ?3, ?4)",
        params![
            i64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?,
            envelope.event_id.to_string(),
            envelope.kind,
            payload
        ],
    )?;
    Ok(())
}

/// One event waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: u64,
    pub event_type: String,
    pub payload: String,
}

/// The publisher's view of the outbox.
pub struct Outbox {
    conn: Connection,
}

impl Outbox {
    /// Opens the outbox of the database at `path` (which the station created).
    pub fn open(path: &Path) -> Result<Outbox, StoreError> {
        let conn = super::open_existing(path)?;
        // Losing a delete to a power cut only sends that event again; no fsync per ack.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Outbox { conn })
    }

    /// Up to `limit` events with `seq > after`, oldest first.
    pub fn page_after(&self, after: u64, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, type, payload FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![
                i64::try_from(after).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(Pending {
                    seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    event_type: r.get(1)?,
                    payload: r.get(2)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Removes acknowledged events.
    pub fn delete(&mut self, seqs: &[u64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for seq in seqs {
                stmt.execute([i64::try_from(*seq).unwrap_or(i64::MAX)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// How many events wait.
    pub fn len(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}
