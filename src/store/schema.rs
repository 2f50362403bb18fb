//! The database schema and its migrations.
//!
//! The schema version is SQLite's `user_version`. Each entry of [`MIGRATIONS`] takes the
//! database from version `i` to `i + 1` and runs in one transaction with the version bump, so
//! a power cut during an upgrade leaves the old version intact. Never edit a released
//! migration: append a new one.

use rusqlite::Connection;

use super::StoreError;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, their scans and weights, the event outbox.
    r#"
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        order_no TEXT NOT NULL,
        matched_by TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('pack', 'unboxing')),
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        status TEXT NOT NULL CHECK (status IN ('open', 'completed', 'cancelled')),
        close_reason TEXT,
        weight_g REAL,
        item_count INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX sessions_by_order ON sessions (order_no, started_at);
    CREATE INDEX sessions_by_start ON sessions (started_at);
    CREATE UNIQUE INDEX sessions_one_open ON sessions (status) WHERE status = 'open';

    CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        session_id TEXT REFERENCES sessions (id),
        at INTEGER NOT NULL,
        scanner TEXT NOT NULL,
        code TEXT NOT NULL,
        role TEXT NOT NULL,
        symbology TEXT,
        gtin TEXT
    ) STRICT;
    CREATE INDEX scans_by_session ON scans (session_id, id);

    CREATE TABLE weights (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id),
        at INTEGER NOT NULL,
        scale TEXT NOT NULL,
        grams REAL NOT NULL,
        value REAL NOT NULL,
        unit TEXT NOT NULL
    ) STRICT;
    CREATE INDEX weights_by_session ON weights (session_id);

    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        payload TEXT NOT NULL
    ) STRICT;
    "#,
    // 2: video segments and the clips of sessions.
    r#"
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        camera TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        status TEXT NOT NULL
            CHECK (status IN ('open', 'closed', 'cut_short', 'missing', 'deleted')),
        encoded INTEGER NOT NULL,
        bytes INTEGER,
        sha256 TEXT,
        footage TEXT CHECK (footage IN ('order', 'idle'))
    ) STRICT;
    CREATE INDEX segments_by_time ON segments (camera, started_at);
    CREATE INDEX segments_by_end ON segments (status, ended_at);
    CREATE INDEX segments_unclassified ON segments (ended_at)
        WHERE footage IS NULL AND status != 'open';
    CREATE INDEX segments_by_footage ON segments (footage, ended_at)
        WHERE status != 'deleted';

    CREATE TABLE clips (
        session_id TEXT NOT NULL REFERENCES sessions (id),
        camera TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL,
        ready_at INTEGER,
        PRIMARY KEY (session_id, camera)
    ) STRICT;
    CREATE INDEX clips_pending ON clips (ends_at) WHERE ready_at IS NULL;
    "#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;

/// Checks, without changing anything, that the database has exactly this build's schema.
pub fn check(conn: &Connection) -> Result<(), StoreError> {
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    match found.cmp(&CURRENT_VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::NewerSchema {
            found,
            known: CURRENT_VERSION,
        }),
        std::cmp::Ordering::Less => Err(StoreError::OlderSchema {
            found,
            known: CURRENT_VERSION,
        }),
    }
}

/// Brings the database up to [`CURRENT_VERSION`]; refuses one written by a newer packwatch.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > CURRENT_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: CURRENT_VERSION,
        });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as u32 + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "database schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_a_new_database_once_and_refuses_a_newer_one() {
        let mut conn = Connection::open_in_memory().expect("db");
        assert!(matches!(
            check(&conn),
            Err(StoreError::OlderSchema { found: 0, .. })
        ));
        migrate(&mut conn).expect("migrate");
        migrate(&mut conn).expect("idempotent");
        check(&conn).expect("current");
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, CURRENT_VERSION);
        conn.pragma_update(None, "user_version", CURRENT_VERSION + 1)
            .expect("bump");
        let e = migrate(&mut conn).expect_err("newer");
        assert!(e.to_string().contains("newer packwatch"), "{e}");
    }
}
