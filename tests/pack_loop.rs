//! The packing loop end to end: simulated scanner and scale on pseudo-terminals, the real
//! serial drivers, real SQLite, a real mosquitto, and a subscriber checking what arrives.

mod support;

use std::time::Duration;

use packwatch::sim::broker::LocalBroker;
use packwatch::sim::packer::{self, pack};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_orders_give_n_completed_sessions_with_their_weights_and_items() {
    let broker = LocalBroker::start().expect("mosquitto");
    let bench = Bench::new();
    let mut tap = tap(&broker).await;
    let (running, mut all) = start_station(&bench, &broker, &mut tap).await;
    let orders = packer::plan(6, 42);
    for order in &orders {
        pack(&bench.scanner, &bench.scale, order, PACE)
            .await
            .expect("pack");
    }
    let mut completed = Vec::new();
    while completed.len() < orders.len() {
        let events = until(&mut tap, "session.completed", Duration::from_secs(10)).await;
        completed.push(events.last().cloned().expect("completed"));
        all.extend(events);
    }
    for (event, order) in completed.iter().zip(&orders) {
        assert_eq!(event["order"], order.tracking.as_str());
        assert_eq!(event["weight_g"].as_f64(), Some(order.grams), "{event}");
        assert_eq!(event["items"], serde_json::json!(order.items));
        assert_eq!(event["reason"], "done_command");
        assert_eq!(event["site"], SITE);
        assert_eq!(event["station"], STATION);
        assert_eq!(event["mode"], "pack");
        assert!(event["duration_ms"].as_i64().is_some_and(|d| d > 0));
    }
    assert_in_order(&all);
    let started = all
        .iter()
        .filter(|e| e["type"] == "session.started")
        .count();
    assert_eq!(started, orders.len());
    running.stop().await.expect("stop");
    assert_eq!(completed_sessions(&bench.data_dir()), orders.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_loses_nothing_and_keeps_the_order() {
    let mut broker = LocalBroker::start().expect("mosquitto");
    let bench = Bench::new();
    let mut tap = tap(&broker).await;
    let (running, mut all) = start_station(&bench, &broker, &mut tap).await;
    let orders = packer::plan(5, 7);
    for order in &orders[..2] {
        pack(&bench.scanner, &bench.scale, order, PACE)
            .await
            .expect("pack");
    }
    all.extend(until(&mut tap, "session.completed", Duration::from_secs(10)).await);

    broker.stop();
    let mut link = running.link();
    link.wait_for(|s| !s.connected).await.expect("link status");
    for order in &orders[2..4] {
        pack(&bench.scanner, &bench.scale, order, PACE)
            .await
            .expect("pack while down");
    }
    eventually(
        "four completed sessions stored",
        Duration::from_secs(10),
        || completed_sessions(&bench.data_dir()) == 4,
    )
    .await;
    broker.resume().expect("broker back");
    pack(&bench.scanner, &bench.scale, &orders[4], PACE)
        .await
        .expect("pack");
    eventually(
        "five completed sessions stored",
        Duration::from_secs(10),
        || completed_sessions(&bench.data_dir()) == 5,
    )
    .await;

    // Every event the station made, in seq order, each at least once.
    let last = last_seq(&bench.data_dir());
    let events = collect_through(&mut tap, all, last, Duration::from_secs(20)).await;
    assert_in_order(&events);
    let expected: Vec<&str> = orders.iter().map(|o| o.tracking.as_str()).collect();
    assert_eq!(completed_orders(&events), expected);
    link.wait_for(|s| s.connected && s.acked_through >= last)
        .await
        .expect("all acked");
    running.stop().await.expect("stop");
    let outbox = packwatch::store::outbox::Outbox::open(&bench.data_dir().join("packwatch.db"))
        .expect("outbox");
    assert_eq!(
        outbox.len().expect("len"),
        0,
        "acknowledged events leave the outbox"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplugged_scanner_reconnects_and_the_next_order_works() {
    let broker = LocalBroker::start().expect("mosquitto");
    let mut bench = Bench::new();
    let mut tap = tap(&broker).await;
    let (running, _) = start_station(&bench, &broker, &mut tap).await;
    let orders = packer::plan(2, 3);
    pack(&bench.scanner, &bench.scale, &orders[0], PACE)
        .await
        .expect("pack");
    until(&mut tap, "session.completed", Duration::from_secs(10)).await;

    bench.scanner.unplug();
    let events = until(&mut tap, "device.disconnected", Duration::from_secs(10)).await;
    let gone = events.last().expect("event");
    assert_eq!(gone["device"], "scanner");
    assert_eq!(gone["kind"], "scanner");
    tokio::time::sleep(Duration::from_millis(300)).await;
    bench.scanner.replug().expect("replug");
    loop {
        let events = until(&mut tap, "device.connected", Duration::from_secs(10)).await;
        if events.last().is_some_and(|e| e["device"] == "scanner") {
            break;
        }
    }
    pack(&bench.scanner, &bench.scale, &orders[1], PACE)
        .await
        .expect("pack after replug");
    let events = until(&mut tap, "session.completed", Duration::from_secs(10)).await;
    assert_eq!(
        events.last().expect("event")["order"],
        orders[1].tracking.as_str()
    );
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_scanner_is_skipped_and_the_station_keeps_working() {
    let broker = LocalBroker::start().expect("mosquitto");
    let bench = Bench::new();
    let mut tap = tap(&broker).await;
    let (running, _) = start_station(&bench, &broker, &mut tap).await;
    // Binary noise, a 10 kB line, invalid UTF-8, and a frame split across writes.
    let noise: Vec<u8> = (0..=255u8)
        .cycle()
        .take(2048)
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    bench.scanner.send_raw(&noise).await.expect("noise");
    bench.scanner.send_raw(b"\r\n").await.expect("end noise");
    bench.scanner.send_raw(&[b'7'; 10_000]).await.expect("long");
    bench
        .scanner
        .send_raw(b"\r\n\xff\xfe\xfd\r\n")
        .await
        .expect("non-utf8");
    // Valid text with a control character reaches the core and is reported, not acted on.
    bench
        .scanner
        .send_raw(b"AB\x07CD\r\n")
        .await
        .expect("control character");
    let order = &packer::plan(1, 11)[0];
    let (head, tail) = order.tracking.split_at(5);
    bench
        .scanner
        .send_raw(head.as_bytes())
        .await
        .expect("first half");
    tokio::time::sleep(Duration::from_millis(30)).await;
    bench
        .scanner
        .send_raw(format!("{tail}\r\n").as_bytes())
        .await
        .expect("second half");
    let events = until(&mut tap, "session.started", Duration::from_secs(10)).await;
    assert_eq!(
        events.last().expect("event")["order"],
        order.tracking.as_str()
    );
    // Noise, the long line and invalid UTF-8 never reach the core; the control character does.
    let unrecognized: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "scan.unrecognized")
        .collect();
    assert_eq!(unrecognized.len(), 1, "{unrecognized:?}");
    assert_eq!(unrecognized[0]["reason"], "invalid");
    assert_eq!(unrecognized[0]["code"], "AB\\x07CD");
    let types: Vec<_> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert!(
        !types.contains(&"item.scanned") && !types.contains(&"session.completed"),
        "{types:?}"
    );
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_mode_unboxing_session_closes_on_the_idle_timer() {
    let broker = LocalBroker::start().expect("mosquitto");
    let bench = Bench::new();
    let mut tap = tap(&broker).await;
    let mut config = bench.config(broker.port());
    config.session.idle_timeout = Duration::from_secs(1);
    let running = packwatch::station::start(config).await.expect("start");
    for _ in 0..2 {
        until(&mut tap, "device.connected", Duration::from_secs(10)).await;
    }
    bench.scanner.scan("PW-MODE-RETURNS").await.expect("scan");
    let changed = until(&mut tap, "station.mode_changed", Duration::from_secs(5)).await;
    let changed = changed.last().expect("event");
    assert_eq!(
        (changed["from"].as_str(), changed["to"].as_str()),
        (Some("pack"), Some("returns"))
    );

    let order = &packer::plan(1, 5)[0];
    bench.scanner.scan(&order.tracking).await.expect("scan");
    bench.scanner.scan(&order.items[0]).await.expect("scan");
    let started = until(&mut tap, "session.started", Duration::from_secs(5)).await;
    let started = started.last().expect("event");
    assert_eq!(started["kind"], "unboxing");
    assert_eq!(started["mode"], "returns");
    let t0 = tokio::time::Instant::now();
    let events = until(&mut tap, "session.completed", Duration::from_secs(5)).await;
    let done = events.last().expect("event");
    assert_eq!(done["reason"], "idle_timeout");
    assert_eq!(done["kind"], "unboxing");
    assert_eq!(done["items"], serde_json::json!([order.items[0]]));
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "closed by the timer, not by chance"
    );
    running.stop().await.expect("stop");
}
