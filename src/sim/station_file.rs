//! The station file the tests and benchmarks run: a simulated scanner and MT-SICS scale whose
//! pty links sit in one directory, a broker on loopback, fast scale polling.

use std::io;
use std::path::{Path, PathBuf};

/// Writes `dir/station.toml` for a scanner at `dir/scanner`, a scale at `dir/scale` (polled
/// every 50 ms) and the broker at `127.0.0.1:broker_port`; data goes to `dir/data`.
pub fn write(dir: &Path, site: &str, station: &str, broker_port: u16) -> io::Result<PathBuf> {
    let text = format!(
        r#"
[station]
site = "{site}"
id = "{station}"
data_dir = "data"

[session]
idle_timeout = "5m"

[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"
keep_alive = "5s"

[[scanner]]
name = "scanner"
port = "scanner"

[[scale]]
name = "scale"
port = "scale"
protocol = "mt-sics"
poll_interval = "50ms"
reply_timeout = "1s"
"#
    );
    let path = dir.join("station.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}
