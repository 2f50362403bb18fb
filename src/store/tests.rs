//! The store against a real SQLite file: atomic steps, gap-free seq, resume after restart.

use super::outbox::Outbox;
use super::*;
use crate::core::barcode::Barcode;
use crate::core::classify::{Classifier, ClassifierSpec};
use crate::core::machine::{Input, MachineConfig, PackMachine};
use crate::core::weight::{ScaleReading, Unit};

const UPS: &str = "1Z5R89390357567127";

fn identity() -> Identity {
    Identity {
        site: "wh1".into(),
        station: "pack-01".into(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data").join("packwatch.db");
    Fixture { _dir: dir, path }
}

fn machine() -> PackMachine {
    PackMachine::new(
        MachineConfig::default(),
        Classifier::new(ClassifierSpec::default()).expect("spec"),
    )
}

fn scan(m: &mut PackMachine, text: &str, at: i64) -> Vec<Action> {
    m.handle(Input::Scan {
        scanner: "sc".into(),
        barcode: Barcode::plain(text),
        at: Timestamp(at),
        new_session_id: format!("session-{at}"),
    })
}

fn payloads(outbox: &Outbox) -> Vec<serde_json::Value> {
    outbox
        .page_after(0, 1000)
        .expect("page")
        .into_iter()
        .map(|p| serde_json::from_str(&p.payload).expect("json"))
        .collect()
}

#[test]
fn a_pack_is_stored_with_gap_free_events_in_the_outbox() {
    let f = fixture();
    let mut store = Store::open(&f.path, identity()).expect("open");
    let mut m = machine();
    let mut steps = vec![scan(&mut m, UPS, 1_000), scan(&mut m, "SKU-1", 2_000)];
    m.handle(Input::Weight {
        scale: "scale".into(),
        reading: ScaleReading::weight(1.1, Unit::Kg, false),
        at: Timestamp(2_500),
    });
    steps.push(m.handle(Input::Weight {
        scale: "scale".into(),
        reading: ScaleReading::weight(1.25, Unit::Kg, true),
        at: Timestamp(3_000),
    }));
    steps.push(scan(&mut m, "PW-DONE", 4_000));
    for step in &steps {
        store.apply(step).expect("apply");
    }
    assert_eq!(store.next_seq(), 5);

    let outbox = Outbox::open(&f.path).expect("outbox");
    let events = payloads(&outbox);
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "session.started",
            "item.scanned",
            "weight.captured",
            "session.completed"
        ]
    );
    let done = &events[3];
    assert_eq!(done["site"], "wh1");
    assert_eq!(done["station"], "pack-01");
    assert_eq!(done["mode"], "pack");
    assert_eq!(done["order"], UPS);
    assert_eq!(done["weight_g"], 1250.0);
    assert_eq!(done["items"], serde_json::json!(["SKU-1"]));
    assert_eq!(done["duration_ms"], 3000);
    assert_eq!(done["ts"], "1970-01-01T00:00:04.000Z");
    let id = done["event_id"].as_str().expect("event_id");
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("uuid").get_version_num(),
        7
    );

    let conn = open_existing(&f.path).expect("read");
    let rows = sessions::list(&conn, Some(UPS), 10).expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "completed");
    assert_eq!(rows[0].weight_g, Some(1250.0));
    assert_eq!(rows[0].items, ["SKU-1"]);
    assert_eq!(rows[0].item_count, 1);
    assert_eq!(rows[0].close_reason.as_deref(), Some("done_command"));
    assert!(
        sessions::list(&conn, Some("NOPE"), 10)
            .expect("list")
            .is_empty()
    );
}

#[test]
fn a_failed_step_leaves_no_trace_and_no_seq_gap() {
    let f = fixture();
    let mut store = Store::open(&f.path, identity()).expect("open");
    let mut m = machine();
    let first = scan(&mut m, UPS, 1_000);
    store.apply(&first).expect("apply");
    // A step whose event is written first and whose last action fails (the same session id
    // again violates the primary key): nothing of it may remain.
    let Some(Action::Emit(event)) = first.last().cloned() else {
        panic!("the step ends with its event: {first:?}")
    };
    let Some(open) = first.first().cloned() else {
        panic!("the step opens a session")
    };
    assert!(matches!(open, Action::OpenSession { .. }));
    assert!(store.apply(&[Action::Emit(event), open]).is_err());
    assert_eq!(store.next_seq(), 2, "the failed step's seq is not used");
    store.apply(&scan(&mut m, "SKU", 2_000)).expect("apply");
    let outbox = Outbox::open(&f.path).expect("outbox");
    let seqs: Vec<u64> = outbox
        .page_after(0, 10)
        .expect("page")
        .iter()
        .map(|p| p.seq)
        .collect();
    assert_eq!(seqs, [1, 2], "no event of the failed step, no gap");
    let conn = open_existing(&f.path).expect("read");
    assert_eq!(sessions::list(&conn, None, 10).expect("list").len(), 1);
}

#[test]
fn the_open_session_and_seq_survive_a_restart() {
    let f = fixture();
    {
        let mut store = Store::open(&f.path, identity()).expect("open");
        let mut m = machine();
        store.apply(&scan(&mut m, UPS, 1_000)).expect("apply");
        store.apply(&scan(&mut m, "SKU-1", 2_000)).expect("apply");
        store.apply(&scan(&mut m, "SKU-2", 3_000)).expect("apply");
    }
    let store = Store::open(&f.path, identity()).expect("reopen");
    assert_eq!(store.next_seq(), 4);
    let open = store.open_session().expect("query").expect("open session");
    assert_eq!(open.order, UPS);
    assert_eq!(open.id, "session-1000");
    assert_eq!(open.items, ["SKU-1", "SKU-2"]);
    assert_eq!(open.started_at, Timestamp(1_000));
    assert_eq!(open.last_activity, Timestamp(3_000));
    assert_eq!(open.weight_g, None);
}

#[test]
fn a_mode_switched_by_command_survives_a_restart_unless_the_config_changed() {
    let f = fixture();
    let mut store = Store::open(&f.path, identity()).expect("open");
    assert_eq!(store.startup_mode(Mode::Pack).expect("mode"), Mode::Pack);
    store
        .apply(&[Action::SetMode(Mode::Returns)])
        .expect("apply");
    drop(store);
    let mut store = Store::open(&f.path, identity()).expect("open");
    assert_eq!(store.startup_mode(Mode::Pack).expect("mode"), Mode::Returns);
    drop(store);
    let mut store = Store::open(&f.path, identity()).expect("open");
    store.apply(&[Action::SetMode(Mode::Pack)]).expect("apply");
    // The operator edits the config to returns: the config wins.
    assert_eq!(
        store.startup_mode(Mode::Returns).expect("mode"),
        Mode::Returns
    );
}

#[test]
fn acknowledged_events_leave_the_outbox_in_pages() {
    let f = fixture();
    let mut store = Store::open(&f.path, identity()).expect("open");
    let mut m = machine();
    for i in 0..25 {
        store
            .apply(&scan(&mut m, &format!("SKU-{i}"), i))
            .expect("apply");
    }
    let mut outbox = Outbox::open(&f.path).expect("outbox");
    assert_eq!(outbox.len().expect("len"), 25);
    let first = outbox.page_after(0, 10).expect("page");
    assert_eq!(first.first().map(|p| p.seq), Some(1));
    assert_eq!(first.len(), 10);
    let next = outbox.page_after(10, 10).expect("page");
    assert_eq!(next.first().map(|p| p.seq), Some(11));
    let acked: Vec<u64> = first.iter().map(|p| p.seq).collect();
    outbox.delete(&acked).expect("delete");
    assert_eq!(outbox.len().expect("len"), 15);
    assert_eq!(outbox.page_after(0, 1).expect("page")[0].seq, 11);
    assert!(!outbox.is_empty().expect("empty"));
}

#[test]
fn reading_a_missing_database_is_a_clear_error() {
    let f = fixture();
    let e = open_existing(&f.path).expect_err("missing");
    assert!(
        e.to_string().contains("is this a packwatch data directory"),
        "{e}"
    );
}
