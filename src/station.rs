//! A running station: the core, its devices, its store and its publisher, wired together.
//!
//! One task (the station loop) owns the state machine and the store's writer, so every step
//! is "input → actions → one transaction → wake the publisher", in input order. Devices feed
//! it through a bounded channel (a flooding device is slowed, never buffered without bound);
//! the publisher runs beside it on its own connection to the database. The loop also drives
//! the idle timeout and pets the systemd watchdog, so a hung loop gets the process restarted.
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
use crate::core::machine::{Input, Mode, PackMachine};
use crate::core::time::Timestamp;
use crate::devices::{scale, scanner};
use crate::mqtt::options::Connection;
use crate::mqtt::publisher::{LinkStatus, Publisher};
use crate::store::{Identity, Store};
use crate::systemd;

/// Inputs waiting for the core at most; devices wait when it is full.
const INPUT_QUEUE: usize = 256;

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
        let result = station_loop(config, store, machine, rx, wake, station_shutdown).await;
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

async fn station_loop(
    config: StationConfig,
    mut store: Store,
    mut machine: PackMachine,
    mut rx: mpsc::Receiver<Input>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut watchdog =
        tokio::time::interval(systemd::watchdog_interval().unwrap_or(Duration::from_secs(3600)));
    // A session left open past its idle timeout (a long power cut) closes at once.
    step(
        &config,
        &mut store,
        &mut machine,
        &wake,
        Input::Tick {
            at: Timestamp::now(),
        },
    )?;
    let mut inputs_open = true;
    loop {
        let idle = machine.next_deadline().map(|deadline| {
            let wait = deadline.since(Timestamp::now()).max(0);
            tokio::time::Instant::now() + Duration::from_millis(wait.unsigned_abs())
        });
        tokio::select! {
            input = rx.recv(), if inputs_open => match input {
                Some(input) => step(&config, &mut store, &mut machine, &wake, input)?,
                // Every device task has ended: keep the timer and the watchdog going.
                None => inputs_open = false,
            },
            _ = tokio::time::sleep_until(idle.unwrap_or_else(far_future)), if idle.is_some() => {
                step(&config, &mut store, &mut machine, &wake, Input::Tick { at: Timestamp::now() })?;
            }
            _ = watchdog.tick() => systemd::watchdog(),
            _ = shutdown.cancelled() => break,
        }
    }
    systemd::stopping();
    // The devices stop with `shutdown`; what they already read still becomes durable.
    let drain = async {
        while let Some(input) = rx.recv().await {
            step(&config, &mut store, &mut machine, &wake, input)?;
        }
        anyhow::Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(2), drain).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("devices did not stop within 2 s; inputs still queued are dropped");
            Ok(())
        }
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400)
}

/// One input through the machine and into the store.
fn step(
    config: &StationConfig,
    store: &mut Store,
    machine: &mut PackMachine,
    wake: &Notify,
    input: Input,
) -> anyhow::Result<()> {
    let actions = machine.handle(input);
    // The commit waits for fsync (tens of ms on an SD card): not on a runtime thread.
    match tokio::task::block_in_place(|| store.apply(&actions)) {
        Ok(0) => {}
        Ok(_) => wake.notify_one(),
        Err(e) => {
            tracing::error!(error = %e, lost = ?actions, "could not store a station step; it did not happen");
            let mode = store.current_mode()?.unwrap_or(config.station.mode);
            *machine = resume(config, store, mode)?;
        }
    }
    Ok(())
}
