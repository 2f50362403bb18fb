//! Segment files: where they go, and how one is sealed.
//!
//! A camera records into `video/{camera}/{YYYY-MM-DD}/{camera}-{start_ms}.mp4` under the
//! data dir, one file per few seconds, named by the wall-clock time of its first frame. The
//! store keeps their paths relative to the data dir, so a copied data dir still works. No
//! scanned text ever reaches a path: camera names are checked identifiers, times are numbers.
//!
//! *Sealing* a segment makes its bytes durable (fsync of the file and of its directory) and
//! measures it (size, sha256). A segment is sealed when the muxer closes it, and at start-up
//! for one a crash left open; only sealed segments appear in `video.ready`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::core::time::Timestamp;

/// The directory of all video under a data dir.
pub const VIDEO_DIR: &str = "video";

/// The path, relative to the data dir, of `camera`'s segment starting at `start`.
pub fn relative_path(camera: &str, start: Timestamp) -> PathBuf {
    let day = start.rfc3339().get(..10).unwrap_or("unknown").to_string();
    Path::new(VIDEO_DIR)
        .join(camera)
        .join(day)
        .join(format!("{camera}-{}.mp4", start.millis()))
}

/// What sealing measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub bytes: u64,
    pub sha256: String,
    /// Last modification: for a segment cut short, about when its last fragment was written.
    pub modified: Timestamp,
}

/// Flushes `path` and its directory to disk, then hashes it.
pub fn seal(path: &Path) -> io::Result<Sealed> {
    let mut file = File::open(path)?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    let meta = file.metadata()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
        .unwrap_or_else(Timestamp::now);
    Ok(Sealed {
        bytes: meta.len(),
        sha256: sha256(&mut file)?,
        modified,
    })
}

/// The sha256 of everything `reader` yields, as lowercase hex.
pub fn sha256(reader: &mut impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_per_camera_and_day_and_named_by_start() {
        let p = relative_path("top", Timestamp(1_700_000_000_123));
        assert_eq!(p, Path::new("video/top/2023-11-14/top-1700000000123.mp4"));
    }

    #[test]
    fn sealing_measures_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("a.mp4");
        std::fs::write(&path, b"abc").expect("write");
        let s = seal(&path).expect("seal");
        assert_eq!(s.bytes, 3);
        assert_eq!(
            s.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(Timestamp::now().since(s.modified) < 60_000);
    }
}
