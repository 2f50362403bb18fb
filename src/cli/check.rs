//! `packwatch check --station FILE`: is this station ready to run, and if not, what to fix.
//!
//! Validates the config (a mistake exits 2), then probes what the station will use: the data
//! dir is writable, each serial port opens (each scale answers `SI`), each camera delivers
//! encoded pictures through the pipeline the recorder would build, the video disk has
//! `min_free`, the broker accepts a connection. Every line says ok or what is wrong and how to fix it; any failure exits 1.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{ScaleConfig, StationConfig};
use crate::devices::framer::{Frame, LineFramer, Terminator};
use crate::devices::{mtsics, serial};
use crate::mqtt::options::Connection;

pub fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let config = StationConfig::load(path)?;
    println!(
        "ok    config {} (site {}, station {}, mode {})",
        path.display(),
        config.station.site,
        config.station.id,
        config.station.mode.as_str()
    );
    let mut failures = 0;
    let mut report = |result: Result<String, String>| match result {
        Ok(line) => println!("ok    {line}"),
        Err(line) => {
            failures += 1;
            println!("FAIL  {line}");
        }
    };
    report(data_dir(&config));
    let rt = super::runtime()?;
    for s in &config.scanner {
        if s.simulate {
            println!(
                "skip  scanner {:?}: simulated (runs under `packwatch demo`)",
                s.name
            );
            continue;
        }
        report(rt.block_on(async {
            serial::open(&s.port, &s.serial)
                .map(|_| format!("scanner {:?} on {}", s.name, s.port.display()))
                .map_err(|e| {
                    format!(
                        "scanner {:?}: {}",
                        s.name,
                        serial::open_failure(&s.port, &e)
                    )
                })
        }));
    }
    for s in &config.scale {
        if s.simulate {
            println!(
                "skip  scale {:?}: simulated (runs under `packwatch demo`)",
                s.name
            );
            continue;
        }
        report(rt.block_on(probe_scale(s)));
    }
    for c in &config.camera {
        report(crate::video::probe::probe(
            c,
            &config.video,
            Duration::from_secs(10),
        ));
    }
    if !config.camera.is_empty() {
        report(video_disk(&config));
    }
    report(rt.block_on(probe_broker(&config)));
    if failures > 0 {
        println!("{failures} problem(s): fix them and run `packwatch check` again");
        return Ok(ExitCode::from(1));
    }
    println!("station ready");
    Ok(ExitCode::SUCCESS)
}

fn data_dir(config: &StationConfig) -> Result<String, String> {
    let dir = &config.station.data_dir;
    let probe = dir.join(".packwatch-check");
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&probe, b"ok"))
        .and_then(|_| std::fs::remove_file(&probe))
        .map(|_| format!("data dir {} is writable", dir.display()))
        .map_err(|e| {
            format!(
                "data dir {}: {e} (create it and give the packwatch user write access)",
                dir.display()
            )
        })
}

fn video_disk(config: &StationConfig) -> Result<String, String> {
    let dir = config
        .station
        .data_dir
        .join(crate::video::segment::VIDEO_DIR);
    let min = config.video.min_free.as_u64();
    match crate::video::retention::free_bytes(&dir) {
        Some(free) if free >= min => Ok(format!(
            "video disk {}: {} free (video.min_free {})",
            dir.display(),
            bytesize::ByteSize::b(free),
            config.video.min_free
        )),
        Some(free) => Err(format!(
            "video disk {}: only {} free, below video.min_free {}: free space, use a bigger disk or lower min_free",
            dir.display(),
            bytesize::ByteSize::b(free),
            config.video.min_free
        )),
        None => Err(format!(
            "video disk {}: cannot measure free space",
            dir.display()
        )),
    }
}

async fn probe_scale(s: &ScaleConfig) -> Result<String, String> {
    let name = &s.name;
    let mut port = serial::open(&s.port, &s.serial)
        .map_err(|e| format!("scale {name:?}: {}", serial::open_failure(&s.port, &e)))?;
    port.write_all(mtsics::SI)
        .await
        .map_err(|e| format!("scale {name:?}: write failed: {e}"))?;
    let mut framer = LineFramer::new(Terminator::Any, 128);
    let mut frames = Vec::new();
    let mut buf = [0u8; 256];
    let answer = tokio::time::timeout(s.reply_timeout, async {
        loop {
            let n = port.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::other("port closed"));
            }
            framer.push(&buf[..n], &mut frames);
            if let Some(Frame::Line(line)) = frames.drain(..).find(|f| matches!(f, Frame::Line(_)))
            {
                return Ok(line);
            }
        }
    })
    .await;
    match answer {
        Ok(Ok(line)) => match mtsics::parse_reply(&line) {
            Ok(reply) => Ok(format!(
                "scale {name:?} on {} answers: {reply:?}",
                s.port.display()
            )),
            Err(e) => Err(format!(
                "scale {name:?}: answered something that is not MT-SICS ({e}): check protocol and baud rate"
            )),
        },
        Ok(Err(e)) => Err(format!("scale {name:?}: read failed: {e}")),
        Err(_) => Err(format!(
            "scale {name:?}: no answer to SI within {:?}: check power, cable and line settings ({} baud, {} data bits)",
            s.reply_timeout, s.serial.baud, s.serial.data_bits
        )),
    }
}

async fn probe_broker(config: &StationConfig) -> Result<String, String> {
    let connection = Connection::from_config(config).map_err(|e| format!("mqtt: {e:#}"))?;
    // No last will here: a probe that vanishes must not mark the station offline.
    let mut options = rumqttc::MqttOptions::new(
        format!("{}-check", connection.client_id),
        &connection.host,
        connection.port,
    );
    if let Some((user, password)) = &connection.credentials {
        options.set_credentials(user, password);
    }
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 1);
    let target = format!("{}:{}", connection.host, connection.port);
    match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)))) => {
            Ok(format!("broker {target} accepts the station"))
        }
        Ok(Ok(other)) => Err(format!("broker {target}: unexpected answer {other:?}")),
        Ok(Err(e)) => Err(format!(
            "broker {target}: {e} (is the broker running? events wait in the outbox until it is)"
        )),
        Err(_) => Err(format!(
            "broker {target}: no answer within 5s (firewall? wrong host?)"
        )),
    }
}
