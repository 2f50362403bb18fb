//! A local mosquitto broker for the demo, the tests and the benchmarks.
//!
//! Runs the system's `mosquitto` on a free loopback port with a throwaway config (anonymous
//! clients, loopback only, state in a temporary directory). It can be stopped and started
//! again on the same port, which is how the tests take the broker away in the middle of a
//! run; persistent subscriber sessions survive that, as they would on a real broker.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) local broker.
pub struct LocalBroker {
    port: u16,
    config: PathBuf,
    _dir: tempfile::TempDir,
    child: Option<Child>,
}

impl LocalBroker {
    /// Starts mosquitto on a free port and waits until it accepts connections.
    pub fn start() -> io::Result<LocalBroker> {
        let mut broker = LocalBroker::stopped()?;
        broker.resume()?;
        Ok(broker)
    }

    /// A broker with its port chosen but not running yet ([`LocalBroker::resume`] starts it).
    pub fn stopped() -> io::Result<LocalBroker> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nmax_queued_messages 0\n",
                dir.path().display()
            ),
        )?;
        Ok(LocalBroker {
            port,
            config,
            _dir: dir,
            child: None,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops the broker: every client's connection drops.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
            if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_err() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port.
    pub fn resume(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    io::Error::new(
                        e.kind(),
                        "mosquitto is not installed: `sudo apt-get install mosquitto`, or give a broker with --mqtt mqtt://HOST:PORT",
                    )
                } else {
                    e
                }
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "mosquitto exited at start: {status}"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "mosquitto did not start listening",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
