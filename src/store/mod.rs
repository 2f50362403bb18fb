//! The station's durable state: one SQLite database (WAL) in the data dir.
//!
//! The store owns sessions, their scans and weights, the station's mode and the event
//! outbox. Its one write path is [`Store::apply`]: the actions from one state-machine step,
//! state changes and events together, in one transaction with `synchronous = FULL`. When it
//! returns, the change and its events survive a power cut; until it returns, nothing has been
//! acknowledged to anyone. Each event gets its place in the per-station `seq` inside that
//! transaction, so the numbering has no gaps whatever fails.
//!
//! Readers ([`outbox::Outbox`] for the MQTT publisher, [`sessions`] for the CLI) open their
//! own connections; WAL lets them read while the station writes.

pub mod outbox;
pub mod schema;
pub mod sessions;
pub mod video;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::core::event::{Event, SessionKind};
use crate::core::machine::{Action, Mode, OpenSession, Outcome};
use crate::core::time::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the database was written by a newer packwatch (schema {found}, this build knows {known}): upgrade packwatch"
    )]
    NewerSchema { found: u32, known: u32 },
    #[error(
        "the database has schema {found}, this build reads {known}: let the station (`packwatch run`) upgrade it first"
    )]
    OlderSchema { found: u32, known: u32 },
    #[error("no database at {0}: is this a packwatch data directory?")]
    Missing(PathBuf),
    #[error("the database holds a value this build cannot read: {0}")]
    Corrupt(String),
}

/// Who the station is: stamped on every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub site: String,
    pub station: String,
}

/// Opens a connection with the pragmas every packwatch connection uses.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Opens an existing database made by a station (CLI, back office, the publisher); never
/// creates or migrates one: only the station's own [`Store::open`] changes the schema.
pub fn open_existing(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Missing(path.to_path_buf()));
    }
    let conn = connect(path)?;
    schema::check(&conn)?;
    Ok(conn)
}

/// The station's writer.
pub struct Store {
    conn: Connection,
    identity: Identity,
    next_seq: u64,
    /// Which clips a closing session gets; none without cameras.
    clip_plan: Option<video::ClipPlan>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, migrated to the current schema.
    pub fn open(path: &Path, identity: Identity) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = connect(path)?;
        schema::migrate(&mut conn)?;
        let next_seq = meta(&conn, "next_seq")?
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| StoreError::Corrupt(format!("next_seq = {v:?}")))
            })
            .transpose()?
            .unwrap_or(1);
        Ok(Store {
            conn,
            identity,
            next_seq,
            clip_plan: None,
        })
    }

    /// The `seq` the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The mode to start in. The configured mode wins when the config changed since the last
    /// start; otherwise a mode switched by command survives a restart.
    pub fn startup_mode(&mut self, configured: Mode) -> Result<Mode, StoreError> {
        let last_configured = meta(&self.conn, "configured_mode")?;
        let current = self.current_mode()?;
        let mode = match (last_configured.as_deref(), current) {
            (Some(last), Some(current)) if last == configured.as_str() => current,
            _ => configured,
        };
        let tx = self.conn.transaction()?;
        set_meta(&tx, "configured_mode", configured.as_str())?;
        set_meta(&tx, "mode", mode.as_str())?;
        // Who wrote this database: `find` on a copied data dir names the station.
        set_meta(&tx, "site", &self.identity.site)?;
        set_meta(&tx, "station", &self.identity.station)?;
        tx.commit()?;
        Ok(mode)
    }

    /// The mode as last stored (no write: usable while the disk is failing).
    pub fn current_mode(&self) -> Result<Option<Mode>, StoreError> {
        Ok(meta(&self.conn, "mode")?.and_then(|m| Mode::parse(&m)))
    }

    /// The session that was open when the station last stopped, if any.
    pub fn open_session(&self) -> Result<Option<OpenSession>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT id, order_no, kind, started_at, weight_g FROM sessions WHERE status = 'open'",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<f64>>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, order, kind, started_at, weight_g)) = row else {
            return Ok(None);
        };
        let kind = match kind.as_str() {
            "pack" => SessionKind::Pack,
            "unboxing" => SessionKind::Unboxing,
            other => return Err(StoreError::Corrupt(format!("session kind {other:?}"))),
        };
        let mut stmt = self.conn.prepare(
            "SELECT code FROM scans WHERE session_id = ?1 AND role = 'item' ORDER BY id",
        )?;
        let items = stmt
            .query_map([&id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let last_activity: Option<i64> = self.conn.query_row(
            "SELECT max(at) FROM (SELECT at FROM scans WHERE session_id = ?1
                                  UNION ALL SELECT at FROM weights WHERE session_id = ?1)",
            [&id],
            |r| r.get(0),
        )?;
        Ok(Some(OpenSession {
            id,
            order,
            kind,
            started_at: Timestamp(started_at),
            last_activity: Timestamp(last_activity.unwrap_or(started_at).max(started_at)),
            items,
            weight_g,
        }))
    }

    /// Makes one state-machine step durable: all of `actions` or none. Returns how many
    /// events went into the outbox.
    pub fn apply(&mut self, actions: &[Action]) -> Result<usize, StoreError> {
        if actions.is_empty() {
            return Ok(0);
        }
        let mut seq = self.next_seq;
        let tx = self.conn.transaction()?;
        for action in actions {
            match action {
                Action::OpenSession {
                    id,
                    order,
                    matched_by,
                    kind,
                    started_at,
                } => {
                    execute(
                        &tx,
                        "INSERT INTO sessions (id, order_no, matched_by, kind, started_at, status)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'open')",
                        params![id, order, matched_by, kind_str(*kind), started_at.millis()],
                    )?;
                }
                Action::RecordScan {
                    session_id,
                    at,
                    scanner,
                    code,
                    role,
                    symbology,
                    gtin,
                } => {
                    execute(
                        &tx,
                        "INSERT INTO scans (session_id, at, scanner, code, role, symbology, gtin)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            session_id,
                            at.millis(),
                            scanner,
                            code,
                            role.as_str(),
                            symbology.map(|s| s.as_str()),
                            gtin
                        ],
                    )?;
                    if *role == crate::core::machine::ScanRole::Item {
                        execute(
                            &tx,
                            "UPDATE sessions SET item_count = item_count + 1 WHERE id = ?1",
                            [session_id],
                        )?;
                    }
                }
                Action::CaptureWeight {
                    session_id,
                    at,
                    scale,
                    grams,
                    value,
                    unit,
                } => {
                    execute(
                        &tx,
                        "INSERT INTO weights (session_id, at, scale, grams, value, unit)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![session_id, at.millis(), scale, grams, value, unit.as_str()],
                    )?;
                    execute(
                        &tx,
                        "UPDATE sessions SET weight_g = ?2 WHERE id = ?1",
                        params![session_id, grams],
                    )?;
                }
                Action::CloseSession {
                    id,
                    at,
                    outcome,
                    reason,
                } => {
                    let status = match outcome {
                        Outcome::Completed => "completed",
                        Outcome::Cancelled => "cancelled",
                    };
                    execute(
                        &tx,
                        "UPDATE sessions SET status = ?2, ended_at = ?3, close_reason = ?4
                         WHERE id = ?1 AND status = 'open'",
                        params![id, status, at.millis(), reason.as_str()],
                    )?;
                    if let Some(plan) = &self.clip_plan {
                        video::add_clips(&tx, plan, id, *at)?;
                    }
                }
                Action::SetMode(mode) => set_meta(&tx, "mode", mode.as_str())?,
                Action::Emit(event) => {
                    outbox::enqueue(&tx, &self.identity, seq, event)?;
                    seq += 1;
                }
            }
        }
        let enqueued = usize::try_from(seq - self.next_seq).unwrap_or(usize::MAX);
        if enqueued > 0 {
            set_meta(&tx, "next_seq", &seq.to_string())?;
        }
        tx.commit()?;
        self.next_seq = seq;
        Ok(enqueued)
    }

    /// Enqueues events with no state change (benchmarks and tests fill the outbox this way).
    pub fn emit_all(&mut self, events: &[Event]) -> Result<usize, StoreError> {
        let actions: Vec<Action> = events.iter().cloned().map(Action::Emit).collect();
        self.apply(&actions)
    }
}

/// Runs one statement through the connection's prepared-statement cache: the same few
/// statements run for every scan, so each is parsed once per connection.
fn execute(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn kind_str(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Pack => "pack",
        SessionKind::Unboxing => "unboxing",
    }
}

pub(crate) fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
