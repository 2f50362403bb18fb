//! Power-cut behaviour of the real binary: `packwatch run` killed with SIGKILL while the
//! broker is unreachable, events waiting in the outbox, then restarted with the broker up.

mod support;

use std::time::Duration;

use packwatch::sim::broker::LocalBroker;
use packwatch::sim::packer::{self, pack};
use packwatch::store::outbox::Outbox;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_the_outbox_survive_sigkill_and_are_sent_after_restart() {
    let mut broker = LocalBroker::stopped().expect("broker port");
    let bench = Bench::new();
    let file = bench.station_file(broker.port());
    let db = bench.data_dir().join("packwatch.db");

    let mut station = RunBinary::start(&file);
    let orders = packer::plan(3, 99);
    // The broker is down: everything the station does waits in the outbox.
    devices_connected_offline(&bench.data_dir(), 2).await;
    for order in &orders[..2] {
        pack(&bench.scanner, &bench.scale, order, PACE)
            .await
            .expect("pack");
    }
    // A third order is open (scanned, one item) when the power goes.
    bench.scanner.scan(&orders[2].tracking).await.expect("scan");
    bench.scanner.scan(&orders[2].items[0]).await.expect("item");
    eventually(
        "two completed sessions stored",
        Duration::from_secs(10),
        || completed_sessions(&bench.data_dir()) == 2,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    station.kill_9();

    let queued = Outbox::open(&db)
        .expect("outbox")
        .page_after(0, 10_000)
        .expect("page");
    assert!(queued.len() >= 12, "events waiting: {}", queued.len());
    let last = queued.last().map(|p| p.seq).expect("some");

    broker.resume().expect("broker up");
    let mut tap = tap(&broker).await;
    let mut station = RunBinary::start(&file);
    let events = collect_through(&mut tap, Vec::new(), last, Duration::from_secs(20)).await;
    assert_in_order(&events);
    assert_eq!(
        completed_orders(&events),
        [orders[0].tracking.as_str(), orders[1].tracking.as_str()]
    );

    // The session that was open at the kill was resumed: it completes with its item.
    for _ in 0..2 {
        until(&mut tap, "device.connected", Duration::from_secs(10)).await;
    }
    bench.scanner.scan("PW-DONE").await.expect("done");
    let after = until(&mut tap, "session.completed", Duration::from_secs(10)).await;
    let resumed = after.last().expect("event");
    assert_eq!(resumed["order"], orders[2].tracking.as_str());
    assert_eq!(resumed["items"], serde_json::json!([orders[2].items[0]]));
    assert!(
        resumed["seq"].as_u64().is_some_and(|s| s > last),
        "seq continues after restart"
    );
    eventually("the outbox drains", Duration::from_secs(10), || {
        Outbox::open(&db)
            .and_then(|o| o.len())
            .is_ok_and(|n| n == 0)
    })
    .await;
    station.kill_9();
}
