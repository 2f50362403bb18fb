//! Reading sessions back: what `packwatch sessions` (and later the dispute screen) shows.
//!
//! Order numbers arrive from the command line or the network; they only ever reach SQL as
//! bound parameters.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreError;
use crate::core::time::Timestamp;

/// One session as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRow {
    pub id: String,
    pub order: String,
    pub kind: String,
    pub status: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub close_reason: Option<String>,
    pub weight_g: Option<f64>,
    pub item_count: u32,
    pub items: Vec<String>,
}

/// Sessions, newest first: all of them, or those of one order; at most `limit`.
pub fn list(
    conn: &Connection,
    order: Option<&str>,
    limit: usize,
) -> Result<Vec<SessionRow>, StoreError> {
    // Two statements, not `?1 IS NULL OR order_no = ?1`: SQLite cannot use the order index
    // for that form and scans every session (200 ms at a million sessions instead of 0.01).
    const COLUMNS: &str =
        "SELECT id, order_no, kind, status, started_at, ended_at, close_reason, weight_g, item_count
         FROM sessions";
    let mut stmt = match order {
        Some(_) => conn.prepare_cached(&format!(
            "{COLUMNS} WHERE order_no = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2"
        ))?,
        None => conn.prepare_cached(&format!(
            "{COLUMNS} WHERE ?1 IS NULL ORDER BY started_at DESC, id DESC LIMIT ?2"
        ))?,
    };
    let mut items_stmt = conn.prepare_cached(
        "SELECT code FROM scans WHERE session_id = ?1 AND role = 'item' ORDER BY id",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![order, limit], |r| {
            let started: i64 = r.get(4)?;
            let ended: Option<i64> = r.get(5)?;
            Ok(SessionRow {
                id: r.get(0)?,
                order: r.get(1)?,
                kind: r.get(2)?,
                status: r.get(3)?,
                started_at: Timestamp(started).rfc3339(),
                ended_at: ended.map(|e| Timestamp(e).rfc3339()),
                duration_ms: ended.map(|e| e - started),
                close_reason: r.get(6)?,
                weight_g: r.get(7)?,
                item_count: r.get(8)?,
                items: Vec::new(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|mut row| {
            row.items = items_stmt
                .query_map([&row.id], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(row)
        })
        .collect()
}

/// The station that wrote the database, as `site/station` (from its last start).
pub fn station_of(conn: &Connection) -> Result<Option<String>, StoreError> {
    let site = super::meta(conn, "site")?;
    let station = super::meta(conn, "station")?;
    Ok(site
        .zip(station)
        .map(|(site, station)| format!("{site}/{station}")))
}

/// The weights captured in a session: `(at, grams, value, unit)`, in time order.
pub fn weights_of(
    conn: &Connection,
    session_id: &str,
) -> Result<Vec<(Timestamp, f64, f64, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, grams, value, unit FROM weights WHERE session_id = ?1 ORDER BY at, id",
    )?;
    let rows = stmt
        .query_map([session_id], |r| {
            Ok((Timestamp(r.get(0)?), r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
