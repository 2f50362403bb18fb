//! A running station: the core, its devices, its store and its publisher, wired together.
//!
//! One task (the station loop) owns the state machine and the store's writer, so every step
//! is "input → actions → one transaction → wake the publisher", in input order. Devices feed
//! it through a bounded channel (a flooding device is slowed, never buffered without bound);
//! the publisher runs beside it on its own connection to the database. The loop also drives
//! the idle timeout and pets the systemd watchdog, so a hung loop gets the process restarted.
//!
//! Cameras record on their own threads ([`crate::video::recorder`]); their notes (segment
//! opened, segment sealed, fault) come to the same loop, which writes the segment rows, turns
//! faults into `device.fault`, puts `video.ready` in the outbox once a closed session's
//! footage is sealed, keeps the overlay's order and weight current, and runs retention.
//!
//! Database work runs in `block_in_place`: a commit waiting for the disk never stalls the
//! device readers or the publisher.
//!
//! If a step cannot be stored (disk full, I/O error) the machine is rebuilt from the store,
//! which still holds the last durable state: memory never runs ahead of disk, and the failure
//! is logged as an error.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::StationConfig;
use crate::core::classify::Classifier;
use crate::core::event::{DeviceKind, Event};
use crate::core::machine::DeviceStatus;
use crate::core::machine::{Input, Mode, PackMachine};
use crate::core::time::Timestamp;
use crate::devices::{scale, scanner};
use crate::mqtt::options::Connection;
use crate::mqtt::publisher::{LinkStatus, Publisher};
use crate::store::video::ClipPlan;
use crate::store::{Identity, Store};
use crate::systemd;
use crate::video::overlay::Overlay;
use crate::video::recorder::{Note, Recorder};
use crate::video::retention::{Policy, Retention};

/// Inputs waiting for the core at most; devices wait when it is full.
const INPUT_QUEUE: usize = 256;
/// How often clips of cameras that are down are checked for readiness.
const CLIP_CHECK: Duration = Duration::from_secs(5);
/// How often retention runs.
const RETENTION_PERIOD: Duration = Duration::from_secs(60);

/// A station started by [`start`].
pub struct RunningStation {
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
    link: watch::Receiver<LinkStatus>,
}

impl RunningStation {
    /// The MQTT link's state.
    pub fn link(&self) -> watch::Receiver<LinkStatus> {
        self.link.clone()
    }

    /// Stops everything (the publisher says `offline`) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.join().await
    }

    /// Waits until a task ends: normally never, before [`RunningStation::stop`].
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match self.tasks.join_next().await {
            Some(r) => r.context("station task panicked")?,
            None => Ok(()),
        }
    }

    async fn join(&mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r.context("station task panicked").and_then(|r| r) {
                tracing::error!(error = %format!("{e:#}"), "station task failed");
                result = Err(e);
            }
        }
        result
    }
}

/// Opens the store, resumes the core, starts devices and the publisher. Needs tokio's
/// multi-threaded runtime: database commits block their thread while they wait for the disk.
pub async fn start(config: StationConfig) -> anyhow::Result<RunningStation> {
    if tokio::runtime::Handle::current().runtime_flavor()
        != tokio::runtime::RuntimeFlavor::MultiThread
    {
        anyhow::bail!("a station needs tokio's multi-threaded runtime");
    }
    let database = config.database_path();
    let identity = Identity {
        site: config.station.site.clone(),
        station: config.station.id.clone(),
    };
    let mut store = Store::open(&database, identity)
        .with_context(|| format!("opening the station database {}", database.display()))?;
    if !config.camera.is_empty() {
        gstreamer::init().context(
            "GStreamer cannot start: install gstreamer1.0-plugins-base, -good, -bad, -ugly (scripts/setup does)",
        )?;
        let recovered =
            tokio::task::block_in_place(|| store.recover_segments(&config.station.data_dir))?;
        if recovered > 0 {
            tracing::warn!(recovered, "segments cut short by a crash were sealed");
        }
        store.set_clip_plan(ClipPlan {
            cameras: config.camera.iter().map(|c| c.name.clone()).collect(),
            pre_roll_ms: millis(config.video.pre_roll),
            post_roll_ms: millis(config.video.post_roll),
        });
    }
    let mode = store.startup_mode(config.station.mode)?;
    let machine = resume(&config, &store, mode)?;
    if let Some(open) = machine.open_session() {
        tracing::info!(order = %open.order, session = %open.id, "resuming the session that was open");
    }

    let shutdown = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let publisher = Publisher::new(Connection::from_config(&config)?, database, wake.clone());
    let link = publisher.status();
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let mut tasks = JoinSet::new();
    let devices = shutdown.child_token();
    for s in config.scanner.iter().cloned() {
        tasks.spawn(run_device(scanner::run(s, tx.clone(), devices.clone())));
    }
    for s in config.scale.iter().cloned() {
        tasks.spawn(run_device(scale::run(s, tx.clone(), devices.clone())));
    }
    drop(tx);
    let overlay = Overlay::new(&format!("{}/{}", config.station.site, config.station.id));
    overlay.set_order(machine.open_session().map(|s| s.order.as_str()));
    let (notes_tx, notes) = mpsc::unbounded_channel();
    let recorders: Vec<Recorder> = config
        .camera
        .iter()
        .map(|c| {
            Recorder::start(
                c.clone(),
                config.video.clone(),
                config.station.data_dir.clone(),
                overlay.clone(),
                notes_tx.clone(),
            )
        })
        .collect();
    drop(notes_tx);
    let retention = Retention::new(
        Policy::from_config(&config.video),
        config.station.data_dir.clone(),
    );
    let publisher_stop = CancellationToken::new();
    let stop_publisher = publisher_stop.clone();
    tasks.spawn(async move {
        publisher
            .run(publisher_stop)
            .await
            .context("MQTT publisher")
    });
    let station_shutdown = shutdown.clone();
    tasks.spawn(async move {
        let station = Station {
            config,
            store,
            machine,
            wake,
            overlay,
            retention,
        };
        let result = station.run(rx, notes, recorders, station_shutdown).await;
        // The publisher outlives the loop just long enough to say `offline`.
        stop_publisher.cancel();
        result
    });
    systemd::ready();
    Ok(RunningStation {
        shutdown,
        tasks,
        link,
    })
}

async fn run_device(device: impl Future<Output = ()>) -> anyhow::Result<()> {
    device.await;
    Ok(())
}

/// The machine as the store last saw it, in `mode`.
fn resume(config: &StationConfig, store: &Store, mode: Mode) -> anyhow::Result<PackMachine> {
    let classifier = Classifier::new(config.classifier_spec()?)
        .map_err(|e| anyhow::anyhow!("orders.{}: {}", e.which, e.message))?;
    let open = store.open_session()?;
    Ok(PackMachine::resume(
        config.machine_config(),
        classifier,
        mode,
        open,
    ))
}

/// What the station loop owns.
struct Station {
    config: StationConfig,
    store: Store,
    machine: PackMachine,
    wake: Arc<Notify>,
    overlay: Overlay,
    retention: Retention,
}

impl Station {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
        mut notes: mpsc::UnboundedReceiver<Note>,
        recorders: Vec<Recorder>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut watchdog = tokio::time::interval(
            systemd::watchdog_interval().unwrap_or(Duration::from_secs(3600)),
        );
        let mut clip_check = tokio::time::interval(CLIP_CHECK);
        let mut retention = tokio::time::interval(RETENTION_PERIOD);
        // A session left open past its idle timeout (a long power cut) closes at once.
        self.step(Input::Tick {
            at: Timestamp::now(),
        })?;
        let mut inputs_open = true;
        let mut notes_open = true;
        loop {
            let idle = self.machine.next_deadline().map(|deadline| {
                let wait = deadline.since(Timestamp::now()).max(0);
                tokio::time::Instant::now() + Duration::from_millis(wait.unsigned_abs())
            });
            tokio::select! {
                input = rx.recv(), if inputs_open => match input {
                    Some(input) => self.step(input)?,
                    // Every device task has ended: keep the timer and the watchdog going.
                    None => inputs_open = false,
                },
                note = notes.recv(), if notes_open => match note {
                    Some(note) => self.note(note)?,
                    None => notes_open = false,
                },
                _ = tokio::time::sleep_until(idle.unwrap_or_else(far_future)), if idle.is_some() => {
                    self.step(Input::Tick { at: Timestamp::now() })?;
                }
                // Also without cameras: footage recorded before they were removed from the
                // station file still expires, and its pending clips still get `video.ready`.
                _ = clip_check.tick() => self.ready_clips(),
                _ = retention.tick() => self.sweep(),
                _ = watchdog.tick() => systemd::watchdog(),
                _ = shutdown.cancelled() => break,
            }
        }
        systemd::stopping();
        // The devices stop with `shutdown`; what they already read still becomes durable.
        let drain = async {
            while let Some(input) = rx.recv().await {
                self.step(input)?;
            }
            anyhow::Ok(())
        };
        if tokio::time::timeout(Duration::from_secs(2), drain)
            .await
            .is_err()
        {
            tracing::warn!("devices did not stop within 2 s; inputs still queued are dropped");
        }
        // Recorders finish their open segment; its row and any clip it completes follow.
        if !recorders.is_empty() {
            let stopping = tokio::task::spawn_blocking(move || {
                for r in recorders {
                    r.stop();
                }
            });
            let _ = stopping.await;
            while let Ok(note) = notes.try_recv() {
                self.note(note)?;
            }
            self.ready_clips();
        }
        Ok(())
    }

    /// One input through the machine and into the store.
    fn step(&mut self, input: Input) -> anyhow::Result<()> {
        match &input {
            Input::Weight { reading, .. } => self.overlay.set_weight(Some(*reading)),
            Input::Device {
                kind: DeviceKind::Scale,
                status: DeviceStatus::Disconnected { .. } | DeviceStatus::Fault { .. },
                ..
            } => self.overlay.set_weight(None),
            _ => {}
        }
        let actions = self.machine.handle(input);
        self.overlay
            .set_order(self.machine.open_session().map(|s| s.order.as_str()));
        // The commit waits for fsync (tens of ms on an SD card): not on a runtime thread.
        match tokio::task::block_in_place(|| self.store.apply(&actions)) {
            Ok(0) => {}
            Ok(_) => self.wake.notify_one(),
            Err(e) => {
                tracing::error!(error = %e, lost = ?actions, "could not store a station step; it did not happen");
                let mode = self
                    .store
                    .current_mode()?
                    .unwrap_or(self.config.station.mode);
                self.machine = resume(&self.config, &self.store, mode)?;
            }
        }
        Ok(())
    }

    /// A recorder's note: segment rows, camera status, and clips it may complete.
    fn note(&mut self, note: Note) -> anyhow::Result<()> {
        let stored = tokio::task::block_in_place(|| match &note {
            Note::SegmentOpened {
                camera,
                path,
                started_at,
                encoded,
            } => self
                .store
                .segment_opened(camera, &path.to_string_lossy(), *started_at, *encoded),
            Note::SegmentClosed {
                camera,
                path,
                ended_at,
                bytes,
                sha256,
                cut_short,
            } => self.store.segment_closed(
                camera,
                &path.to_string_lossy(),
                *ended_at,
                *bytes,
                sha256,
                *cut_short,
            ),
            Note::SegmentLost { path, .. } => self.store.segment_missing(&path.to_string_lossy()),
            Note::Recording { .. } | Note::Fault { .. } => Ok(()),
        });
        if let Err(e) = stored {
            tracing::error!(error = %e, ?note, "could not store a segment change");
        }
        match note {
            Note::Recording { camera, source } => self.step(Input::Device {
                device: camera,
                kind: DeviceKind::Camera,
                status: DeviceStatus::Connected { port: source },
                at: Timestamp::now(),
            })?,
            Note::Fault { camera, reason } => {
                self.step(Input::Device {
                    device: camera,
                    kind: DeviceKind::Camera,
                    status: DeviceStatus::Fault { reason },
                    at: Timestamp::now(),
                })?;
                self.ready_clips();
            }
            Note::SegmentClosed { .. } | Note::SegmentLost { .. } => self.ready_clips(),
            Note::SegmentOpened { .. } => {}
        }
        Ok(())
    }

    /// `video.ready` for every clip whose footage is sealed.
    fn ready_clips(&mut self) {
        let mode = self.machine.mode();
        match tokio::task::block_in_place(|| self.store.ready_clips(Timestamp::now(), mode)) {
            Ok(0) => {}
            Ok(_) => self.wake.notify_one(),
            Err(e) => tracing::error!(error = %e, "could not mark clips ready; retrying later"),
        }
    }

    /// Retention: deletes due footage; a disk that stays short raises `storage.critical`.
    fn sweep(&mut self) {
        let now = Timestamp::now();
        let report = tokio::task::block_in_place(|| self.retention.sweep(&mut self.store, now));
        match report {
            Ok(report) => {
                if let Some(body) = report.critical {
                    let event = Event {
                        at: now,
                        mode: self.machine.mode(),
                        order: self.machine.open_session().map(|s| s.order.clone()),
                        body,
                    };
                    match tokio::task::block_in_place(|| self.store.emit_all(&[event])) {
                        Ok(_) => self.wake.notify_one(),
                        Err(e) => tracing::error!(error = %e, "could not store storage.critical"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "retention failed; retrying in a minute"),
        }
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
