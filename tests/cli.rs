//! The `packwatch` binary as an operator meets it: config mistakes, `check`, `sessions`.

mod support;

use std::path::Path;
use std::process::Output;

use packwatch::sim::broker::LocalBroker;
use support::*;

async fn packwatch(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_packwatch"))
        .args(args)
        .env("PACKWATCH_LOG", "error")
        .output()
        .await
        .expect("run packwatch")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test]
async fn config_mistakes_exit_2_naming_file_and_key() {
    let bench = Bench::new();
    let good = std::fs::read_to_string(bench.station_file(1883)).expect("read");
    let cases = [
        (
            good.replace(
                "protocol = \"mt-sics\"",
                "protocol = \"mt-sics\"\nbaudrate = 9600",
            ),
            "key `scale[0]`: line 18: unknown field `baudrate`",
        ),
        (
            good.replace("name = \"scale\"", "name = \"scanner\""),
            "key `scale[0].name`: device \"scanner\" is listed twice",
        ),
        (
            good.replace("poll_interval = \"50ms\"", "poll_interval = \"often\""),
            "key `scale[0].poll_interval`: line 22: expected a duration",
        ),
    ];
    for (i, (config, expected)) in cases.iter().enumerate() {
        let file = bench.dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, config).expect("write");
        for command in ["run", "check"] {
            let out = packwatch(&[command, "--station", path(&file)]).await;
            assert_eq!(out.status.code(), Some(2), "{command}: {}", text(&out));
            let message = text(&out);
            assert!(
                message.contains(path(&file)) && message.contains(expected),
                "{message}"
            );
        }
    }
    let out = packwatch(&["run", "--station", "/nonexistent/station.toml"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("/nonexistent/station.toml: cannot read"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probes_devices_and_broker() {
    let broker = LocalBroker::start().expect("mosquitto");
    let mut bench = Bench::new();
    let file = bench.station_file(broker.port());
    let out = packwatch(&["check", "--station", path(&file)]).await;
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("ok    scale \"scale\""), "{report}");
    assert!(report.contains("accepts the station"), "{report}");
    assert!(
        bench.scale.commands_received() >= 1,
        "the scale was asked for a weight"
    );

    bench.scale.unplug();
    let out = packwatch(&["check", "--station", path(&file)]).await;
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL  scale \"scale\": cannot open"),
        "{report}"
    );
}

#[tokio::test]
async fn sessions_on_an_unknown_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = packwatch(&["sessions", "--data-dir", path(dir.path())]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("is this a packwatch data directory"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_plays_each_camera_until_its_first_encoded_picture() {
    let broker = LocalBroker::start().expect("mosquitto");
    let bench = Bench::new();
    let extra = format!(
        "{TEST_CAMERA}
[[camera]]
name = \"gone\"
kind = \"file\"
path = \"no-such-recording.mp4\"
"
    );
    let file = bench.station_file_with(broker.port(), &extra);
    let out = packwatch(&["check", "--station", path(&file)]).await;
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(
            "ok    camera \"cam\" (test pattern): pictures at 320x240, encoded with x264enc"
        ),
        "{report}"
    );
    assert!(
        report.contains("FAIL  camera \"gone\"") && report.contains("no-such-recording.mp4"),
        "{report}"
    );
    assert!(report.contains("ok    video disk"), "{report}");
}

#[tokio::test]
async fn export_of_an_unknown_order_exits_1_and_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    packwatch::store::Store::open(
        &data.join("packwatch.db"),
        packwatch::store::Identity {
            site: "s".into(),
            station: "t".into(),
        },
    )
    .expect("an empty station database");
    for command in ["export", "find"] {
        let out = packwatch(&[command, "../../etc/passwd", "--data-dir", path(&data)]).await;
        assert_eq!(out.status.code(), Some(1), "{command}: {}", text(&out));
        assert!(
            text(&out).contains("no session for order \"../../etc/passwd\""),
            "{command}: {}",
            text(&out)
        );
    }
    assert!(!data.join("exports").exists(), "nothing was written");
}
