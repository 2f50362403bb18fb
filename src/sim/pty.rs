//! A pseudo-terminal standing in for a USB serial device.
//!
//! The simulators own the master side; the station opens the slave side through a symlink at
//! the path it is configured with, exactly as it opens `/dev/serial/by-id/...` for a real
//! scanner or scale. Two details make a pty behave like a cable:
//!
//! * One slave fd stays open inside [`PtyDevice`] for its whole life, so the master never sees
//!   a hangup while the station closes and reopens the port. The simulator never reads from it;
//!   the station is the only reader of the slave, so none of its bytes go missing.
//! * Dropping the [`PtyDevice`] is the unplug: the symlink goes away and closing the master
//!   hangs up the slave: on Linux the station's reads then return end of file and its writes
//!   fail with EIO.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use tokio::io::unix::AsyncFd;

/// The simulator's end of a pty pair, published at a symlink.
#[derive(Debug)]
pub struct PtyDevice {
    /// Non-blocking master, registered with the tokio reactor.
    master: AsyncFd<OwnedFd>,
    /// Held open (never read) so the master does not see a hangup when the station closes.
    _slave: OwnedFd,
    slave_path: PathBuf,
    link: PathBuf,
}

impl PtyDevice {
    /// Opens a pty pair in raw mode and points a symlink at `link` to the slave's
    /// `/dev/pts/N` path, replacing a stale symlink (but not any other kind of file). Must be
    /// called inside a tokio runtime.
    pub fn create(link: &Path) -> io::Result<PtyDevice> {
        let pty = nix::pty::openpty(None, None)?;
        for fd in [&pty.master, &pty.slave] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        }
        let mut termios = tcgetattr(&pty.slave)?;
        cfmakeraw(&mut termios);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &termios)?;
        let flags = OFlag::from_bits_retain(fcntl(&pty.master, FcntlArg::F_GETFL)?);
        fcntl(&pty.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        let slave_path = nix::unistd::ttyname(&pty.slave)?;
        // SAFETY: an OwnedFd is open and stays the same descriptor until the AsyncFd drops it.
        let master = unsafe { AsyncFd::register(pty.master)? };
        publish(link, &slave_path)?;
        Ok(PtyDevice {
            master,
            _slave: pty.slave,
            slave_path,
            link: link.to_owned(),
        })
    }

    pub fn link(&self) -> &Path {
        &self.link
    }

    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// Reads what the station wrote. Never returns end of file: the slave is held open.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.master.readable().await?;
            if let Ok(result) = ready.try_io(|fd| Ok(nix::unistd::read(fd.get_ref(), buf)?)) {
                return result;
            }
        }
    }

    /// Writes all of `bytes` for the station to read; waits while the pty buffer is full.
    pub async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let mut ready = self.master.writable().await?;
            match ready.try_io(|fd| Ok(nix::unistd::write(fd.get_ref(), bytes)?)) {
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(n)) => bytes = &bytes[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }
}

impl Drop for PtyDevice {
    /// Removes the link if it still points at this slave (a replugged device may own it by
    /// now); the fields then close the master, which hangs up the station's side.
    fn drop(&mut self) {
        if fs::read_link(&self.link).is_ok_and(|target| target == self.slave_path)
            && let Err(e) = fs::remove_file(&self.link)
        {
            tracing::warn!(link = %self.link.display(), error = %e, "cannot remove pty link");
        }
    }
}

/// Points the symlink `link` at `target`, replacing an existing symlink.
fn publish(link: &Path, target: &Path) -> io::Result<()> {
    match fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => fs::remove_file(link)?,
        Ok(_) => {
            let msg = format!("{} exists and is not a symlink", link.display());
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, msg));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(target, link)
}

/// The station's side of a simulated device, for the simulators' tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::fs::{File, OpenOptions};
    use std::io::{self, Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;

    use crate::devices::framer::{Frame, LineFramer, Terminator};

    /// A fresh link path for one test.
    pub(crate) fn link_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("packwatch-{}-{name}", std::process::id()))
    }

    /// The link opened as a plain non-blocking file, as the station's serial port would be.
    pub(crate) struct StationPort {
        file: AsyncFd<File>,
        framer: LineFramer,
        frames: Vec<Frame>,
    }

    impl StationPort {
        pub(crate) fn open(link: &Path) -> io::Result<StationPort> {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
                .open(link)?;
            Ok(StationPort {
                // SAFETY: a File owns its descriptor until the AsyncFd drops it.
                file: unsafe { AsyncFd::register(file)? },
                framer: LineFramer::new(Terminator::Any, 256),
                frames: Vec::new(),
            })
        }

        pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                let mut ready = self.file.readable().await?;
                if let Ok(result) = ready.try_io(|f| f.get_ref().read(buf)) {
                    return result;
                }
            }
        }

        pub(crate) async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
            while !bytes.is_empty() {
                let mut ready = self.file.writable().await?;
                if let Ok(n) = ready.try_io(|f| f.get_ref().write(bytes)) {
                    bytes = &bytes[n?..];
                }
            }
            Ok(())
        }

        /// The next line (any terminator), or `None` if none came within `within`.
        pub(crate) async fn line(&mut self, within: Duration) -> Option<Vec<u8>> {
            let deadline = tokio::time::Instant::now() + within;
            let mut buf = [0; 256];
            while self.frames.is_empty() {
                let read = tokio::time::timeout_at(deadline, self.read(&mut buf)).await;
                let n = read.ok()?.ok()?;
                self.framer.push(&buf[..n], &mut self.frames);
            }
            match self.frames.remove(0) {
                Frame::Line(line) => Some(line),
                Frame::Rejected(rejection) => panic!("station got {rejection:?}"),
            }
        }

        /// Whether the device went away within `within`: a read saw end of file or EIO.
        pub(crate) async fn hung_up(&self, within: Duration) -> bool {
            let mut buf = [0; 256];
            let gone = async {
                loop {
                    match self.read(&mut buf).await {
                        Ok(0) => return true,
                        Ok(_) => {}
                        Err(e) => return e.raw_os_error() == Some(nix::libc::EIO),
                    }
                }
            };
            tokio::time::timeout(within, gone).await.unwrap_or(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{StationPort, link_path};
    use super::*;
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn bytes_flow_both_ways_and_drop_hangs_up() {
        let link = link_path("pty-basic");
        let pty = PtyDevice::create(&link).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), pty.slave_path());
        assert_eq!(pty.link(), link);
        let mut station = StationPort::open(&link).unwrap();

        pty.write_all(b"hello\r\n").await.unwrap();
        assert_eq!(station.line(WAIT).await.unwrap(), b"hello");
        // Raw mode: no echo, no CR/LF translation.
        station.write_all(b"SI\r\n").await.unwrap();
        let mut buf = [0; 16];
        let n = pty.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"SI\r\n");
        assert!(station.line(Duration::from_millis(50)).await.is_none());

        drop(pty);
        assert!(fs::symlink_metadata(&link).is_err(), "link removed");
        assert!(station.hung_up(WAIT).await);
    }

    #[tokio::test]
    async fn stale_links_are_replaced_but_other_files_are_not() {
        let link = link_path("pty-stale");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/pts/nonexistent", &link).unwrap();
        let first = PtyDevice::create(&link).unwrap();
        // A replug while the old device is still alive takes the link over ...
        let second = PtyDevice::create(&link).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), second.slave_path());
        // ... and the old device's drop leaves it alone.
        drop(first);
        assert_eq!(fs::read_link(&link).unwrap(), second.slave_path());
        drop(second);

        fs::write(&link, b"not a link").unwrap();
        let err = PtyDevice::create(&link).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        fs::remove_file(&link).unwrap();
    }
}
