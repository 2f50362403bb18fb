//! An IP camera over RTSP: a real RTSP server (gst-rtsp-server) streams H.264 on loopback; the
//! station records it as it comes, survives the camera going away, and picks it up again.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use packwatch::config::StationConfig;
use packwatch::sim::broker::LocalBroker;
use packwatch::sim::packer::{self, pack};
use support::*;

/// An RTSP server on 127.0.0.1 serving a live 320x240 H.264 test picture at `/cam`, run by
/// its own GLib main loop on a thread. Dropping it stops serving and closes every client.
struct Camera {
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    port: u16,
}

impl Camera {
    fn start(port: u16) -> Camera {
        gstreamer::init().expect("gstreamer");
        let (tx, rx) = mpsc::channel();
        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let run = main_loop.clone();
        let thread = std::thread::spawn(move || {
            let server = rtsp::RTSPServer::new();
            server.set_address("127.0.0.1");
            server.set_service(&port.to_string());
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_launch(
                "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 \
                   ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=300 \
                   ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
            );
            factory.set_shared(true);
            server
                .mount_points()
                .expect("mount points")
                .add_factory("/cam", factory);
            let source = server.attach(Some(&context)).expect("attach");
            tx.send(server.bound_port()).expect("port");
            run.run();
            // Gone: no more connections, and every client is dropped.
            if let Some(s) = context.find_source_by_id(&source) {
                s.destroy();
            }
            server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        });
        let port = u16::try_from(rx.recv().expect("server up")).expect("port");
        Camera {
            main_loop,
            thread: Some(thread),
            port,
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_camera_is_recorded_as_it_comes_and_picked_up_again_after_it_goes_away() {
    let broker = LocalBroker::start().expect("broker");
    let bench = Bench::new();
    let mut tap = tap(&broker).await;
    let camera = Camera::start(0);
    let port = camera.port;
    let file = bench.station_file_with(
        broker.port(),
        &one_camera(
            "rtsp",
            "url",
            &format!("rtsp://viewer:s3cret@127.0.0.1:{port}/cam"),
        ),
    );
    let config = StationConfig::load(&file).expect("station");
    let (running, seen) = start_config(config, &mut tap).await;
    let connected = seen
        .iter()
        .find(|e| e["type"] == "device.connected" && e["device"] == "ipcam")
        .expect("the camera connected");
    assert_eq!(
        connected["port"],
        format!("rtsp://127.0.0.1:{port}/cam"),
        "the password never leaves the station"
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let orders = packer::plan(2, 77);
    pack(&bench.scanner, &bench.scale, &orders[0], PACE)
        .await
        .expect("pack");
    let ready = until(&mut tap, "video.ready", Duration::from_secs(30)).await;
    let ready = ready.last().expect("video.ready");
    assert_eq!(ready["complete"], true, "{ready}");

    // The camera goes away: a fault that names it, then recording resumes when it is back.
    drop(camera);
    let fault = until(&mut tap, "device.fault", Duration::from_secs(30)).await;
    let fault = fault.last().expect("fault");
    assert_eq!(fault["device"], "ipcam");
    let reason = fault["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with(&format!("rtsp://127.0.0.1:{port}/cam")),
        "{reason}"
    );
    assert!(!reason.contains("s3cret"), "{reason}");
    let _camera = Camera::start(port);
    loop {
        let events = until(&mut tap, "device.connected", Duration::from_secs(60)).await;
        if events.last().expect("event")["device"] == "ipcam" {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    pack(&bench.scanner, &bench.scale, &orders[1], PACE)
        .await
        .expect("pack");
    let ready = until(&mut tap, "video.ready", Duration::from_secs(30)).await;
    let ready = ready.last().expect("video.ready");
    assert_eq!(ready["order"], orders[1].tracking.as_str());
    assert_eq!(ready["complete"], true, "{ready}");
    running.stop().await.expect("stop");

    let conn = packwatch::store::open_existing(&bench.data_dir().join("packwatch.db")).expect("db");
    let (segments, encoded): (i64, i64) = conn
        .query_row(
            "SELECT count(*), max(encoded) FROM segments WHERE status != 'missing'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("segments");
    assert!(segments >= 4, "{segments} segments");
    assert_eq!(encoded, 0, "the camera's H.264 is recorded as it comes");
}
