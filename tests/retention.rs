//! Retention on a real database and real files: what goes, in which order, and what stays.

use std::path::Path;

use packwatch::core::event::{CloseReason, EventBody, SessionKind};
use packwatch::core::machine::{Action, Outcome};
use packwatch::core::time::Timestamp;
use packwatch::store::{Identity, Store};
use packwatch::video::retention::{Policy, Retention};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn session(store: &mut Store, id: &str, from: Timestamp, to: Timestamp) {
    store
        .apply(&[
            Action::OpenSession {
                id: id.into(),
                order: format!("ORDER-{id}"),
                matched_by: "catch_all".into(),
                kind: SessionKind::Pack,
                started_at: from,
            },
            Action::CloseSession {
                id: id.into(),
                at: to,
                outcome: Outcome::Completed,
                reason: CloseReason::DoneCommand,
            },
        ])
        .expect("session");
}

/// A 4 s segment file starting at `from`, recorded and sealed in the store.
fn segment(store: &mut Store, data_dir: &Path, from: Timestamp) -> String {
    let path = packwatch::video::segment::relative_path("cam", from);
    let absolute = data_dir.join(&path);
    std::fs::create_dir_all(absolute.parent().expect("dir")).expect("mkdir");
    std::fs::write(&absolute, vec![0u8; 4096]).expect("write");
    let path = path.to_string_lossy().into_owned();
    store
        .segment_opened("cam", &path, from, true)
        .expect("opened");
    store
        .segment_closed("cam", &path, from.plus(4000), 4096, "00", false)
        .expect("closed");
    path
}

fn policy(min_free_bytes: u64) -> Policy {
    Policy {
        keep_orders_ms: 2 * DAY,
        keep_idle_ms: HOUR,
        min_free_bytes,
        pre_roll_ms: 3000,
        post_roll_ms: 2000,
    }
}

#[test]
fn due_footage_goes_by_age_idle_goes_first_when_short_of_space_and_exports_stay() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path();
    let mut store = Store::open(
        &data.join("packwatch.db"),
        Identity {
            site: "s".into(),
            station: "t".into(),
        },
    )
    .expect("store");
    let now = Timestamp::now();
    // An order packed 4 days ago (past keep_orders) and one 1 day ago (within it).
    let old_order = now.plus(-4 * DAY);
    session(&mut store, "old", old_order, old_order.plus(10_000));
    let recent_order = now.plus(-DAY);
    session(
        &mut store,
        "recent",
        recent_order,
        recent_order.plus(10_000),
    );
    let old_order_footage = segment(&mut store, data, old_order.plus(2000));
    let old_idle = segment(&mut store, data, old_order.plus(HOUR));
    let recent_order_footage = segment(&mut store, data, recent_order.plus(-2000));
    let idle_older = segment(&mut store, data, now.plus(-30 * 60_000));
    let idle_newer = segment(&mut store, data, now.plus(-20 * 60_000));
    let export = data.join("exports/ORDER-old-cam.mp4");
    std::fs::create_dir_all(export.parent().expect("dir")).expect("mkdir");
    std::fs::write(&export, b"exported evidence").expect("export");
    let exists = |p: &str| data.join(p).exists();

    // Plenty of space: only what is past its time goes.
    let mut retention = Retention::new(policy(0), data.to_path_buf());
    let report = retention.sweep(&mut store, now).expect("sweep");
    assert_eq!(report.classified, 5);
    assert_eq!((report.deleted_idle, report.deleted_order), (1, 1));
    assert!(report.critical.is_none());
    assert!(
        !exists(&old_order_footage),
        "order footage past keep_orders"
    );
    assert!(!exists(&old_idle), "idle footage past keep_idle");
    for kept in [&recent_order_footage, &idle_older, &idle_newer] {
        assert!(exists(kept), "{kept} is within its retention");
    }

    // A disk that can never have enough free space: idle footage goes early, however young;
    // order footage within keep_orders stays, and storage.critical says so, once.
    let mut short = Retention::new(policy(u64::MAX), data.to_path_buf());
    let report = short.sweep(&mut store, now).expect("sweep");
    assert_eq!((report.deleted_idle, report.deleted_order), (2, 0));
    assert!(!exists(&idle_older) && !exists(&idle_newer));
    assert!(
        exists(&recent_order_footage),
        "order footage is never deleted early"
    );
    match report.critical {
        Some(EventBody::StorageCritical {
            free_bytes,
            min_free_bytes,
            ..
        }) => {
            assert_eq!(min_free_bytes, u64::MAX);
            assert!(free_bytes < min_free_bytes);
        }
        other => panic!("expected storage.critical, got {other:?}"),
    }
    let again = short.sweep(&mut store, now).expect("sweep");
    assert!(again.critical.is_none(), "one event per episode");
    assert!(exists(&recent_order_footage));
    assert_eq!(
        std::fs::read(&export).expect("the export survives"),
        b"exported evidence"
    );
}
