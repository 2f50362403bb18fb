//! The outbox publisher against a real mosquitto with a backlog far larger than its in-flight
//! window, and the broker restarted in the middle of the drain: packet ids wrap, rumqttc's
//! flow control engages, a connection dies with events in flight; every event is still
//! acknowledged, and what was unacknowledged at the cut is sent again and arrives, in order.

mod support;

use std::sync::Arc;
use std::time::Duration;

use packwatch::core::event::{Event, EventBody};
use packwatch::core::machine::Mode;
use packwatch::core::time::Timestamp;
use packwatch::mqtt::options::Connection;
use packwatch::mqtt::publisher::{Publisher, WINDOW};
use packwatch::mqtt::topic::Topics;
use packwatch::sim::broker::LocalBroker;
use packwatch::store::outbox::Outbox;
use packwatch::store::{Identity, Store};
use support::*;
use tokio_util::sync::CancellationToken;

const BACKLOG: u64 = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_backlog_drains_in_order_across_a_broker_restart() {
    let mut broker = LocalBroker::stopped().expect("broker port");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("packwatch.db");
    let mut store = Store::open(
        &db,
        Identity {
            site: SITE.into(),
            station: STATION.into(),
        },
    )
    .expect("store");
    let events: Vec<Event> = (0..BACKLOG)
        .map(|i| Event {
            at: Timestamp(1_800_000_000_000 + i as i64),
            mode: Mode::Pack,
            order: Some("1Z5R89390357567127".into()),
            body: EventBody::ItemScanned {
                session_id: "s".into(),
                code: format!("SKU-{i}"),
                gtin: None,
                symbology: None,
                item_count: 1,
                scanner: "scanner".into(),
            },
        })
        .collect();
    for chunk in events.chunks(1_000) {
        store.emit_all(chunk).expect("enqueue");
    }
    assert!(BACKLOG > 50 * WINDOW as u64);

    broker.resume().expect("broker up");
    let mut tap = tap(&broker).await;
    let connection = Connection {
        host: "127.0.0.1".into(),
        port: broker.port(),
        client_id: "packwatch-outbox-test".into(),
        credentials: None,
        keep_alive: Duration::from_secs(5),
        topics: Topics::new("packwatch", SITE, STATION),
    };
    let publisher = Publisher::new(connection, db.clone(), Arc::new(tokio::sync::Notify::new()));
    let mut status = publisher.status();
    let stop = CancellationToken::new();
    let task = tokio::spawn(publisher.run(stop.clone()));

    status
        .wait_for(|s| s.acked_through >= 300)
        .await
        .expect("draining");
    broker.stop();
    let at_stop = status.borrow().acked_through;
    assert!(
        at_stop < BACKLOG,
        "the broker went away mid-drain ({at_stop} acked)"
    );
    status.wait_for(|s| !s.connected).await.expect("link down");
    broker.resume().expect("broker back");

    // What the broker acknowledged before it went away is its to deliver (mosquitto can drop
    // a few of those on shutdown). Everything after that, at most WINDOW in flight at the
    // stop, must be sent again and arrive; first arrivals must stay in seq order.
    let must_arrive = (at_stop + WINDOW as u64 + 1)..=BACKLOG;
    let mut seen = std::collections::BTreeSet::new();
    let mut first_arrivals = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.range(must_arrive.clone()).count() < must_arrive.clone().count() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = tap.next_event(left).await.expect("events keep arriving");
        let seq = event["seq"].as_u64().expect("seq");
        if seen.insert(seq) {
            first_arrivals.push(seq);
        }
    }
    assert!(
        first_arrivals.windows(2).all(|w| w[0] < w[1]),
        "first arrivals out of order"
    );
    status
        .wait_for(|s| s.acked_through == BACKLOG)
        .await
        .expect("all acknowledged");
    stop.cancel();
    task.await.expect("publisher task").expect("publisher");
    assert_eq!(Outbox::open(&db).expect("outbox").len().expect("len"), 0);
}
