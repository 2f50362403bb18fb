//! The recorder alone, on a real GStreamer pipeline with a test camera.

use std::time::Duration;

use packwatch::config::{CameraConfig, CameraFormat, CameraKind, EncoderSetting, VideoSection};
use packwatch::video::overlay::Overlay;
use packwatch::video::recorder::{Note, Recorder};

fn test_camera(name: &str) -> CameraConfig {
    CameraConfig {
        name: name.into(),
        kind: CameraKind::Test,
        device: None,
        url: None,
        path: None,
        width: 320,
        height: 240,
        fps: 15,
        format: CameraFormat::Auto,
        encoder: Some(EncoderSetting::X264),
        bitrate_kbps: Some(300),
    }
}

#[test]
fn segments_follow_each_other_without_gaps_and_are_sealed() {
    gstreamer::init().expect("gstreamer");
    let dir = tempfile::tempdir().expect("dir");
    let video = VideoSection {
        segment: Duration::from_secs(2),
        ..VideoSection::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let recorder = Recorder::start(
        test_camera("cam"),
        video,
        dir.path().to_path_buf(),
        Overlay::new("st"),
        tx,
    );
    std::thread::sleep(Duration::from_millis(5500));
    recorder.stop();
    let mut notes = Vec::new();
    while let Ok(n) = rx.try_recv() {
        notes.push(n);
    }
    let opened: Vec<_> = notes
        .iter()
        .filter_map(|n| match n {
            Note::SegmentOpened {
                started_at, path, ..
            } => Some((*started_at, path.clone())),
            _ => None,
        })
        .collect();
    let closed: Vec<_> = notes
        .iter()
        .filter_map(|n| match n {
            Note::SegmentClosed {
                ended_at,
                path,
                bytes,
                cut_short,
                ..
            } => Some((*ended_at, path.clone(), *bytes, *cut_short)),
            _ => None,
        })
        .collect();
    println!("{notes:#?}");
    assert!(matches!(notes.first(), Some(Note::SegmentOpened { .. })));
    assert!(notes.iter().any(|n| matches!(n, Note::Recording { .. })));
    assert!(opened.len() >= 3, "{opened:?}");
    assert_eq!(
        opened.len(),
        closed.len(),
        "every segment is closed on stop"
    );
    for (i, (end, path, bytes, cut_short)) in closed.iter().enumerate() {
        assert_eq!(path, &opened[i].1);
        assert!(!cut_short);
        assert!(*bytes > 1000);
        assert!(dir.path().join(path).is_file());
        if let Some((next_start, _)) = opened.get(i + 1) {
            assert!(
                (next_start.since(*end)).abs() <= 5,
                "gap between segments: {end} → {next_start}"
            );
            let length = end.since(opened[i].0);
            assert!(
                (1900..=3100).contains(&length),
                "segment {i} is {length} ms"
            );
        }
    }
}
