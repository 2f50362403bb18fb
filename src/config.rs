//! The station config: one TOML file per packing station, validated before anything starts.
//!
//! This module owns the file format (see `stations/example.toml` for the commented reference)
//! and every check that can be made without touching hardware. A mistake produces one
//! [`ConfigError`] that names the file, the key, what was expected and, where there is one,
//! the fix; the CLI turns it into exit code 2. Nothing is started with a config that did not
//! pass [`StationConfig::load`].
//!
//! Relative paths (`data_dir`, device ports of simulated devices) are resolved against the
//! directory that holds the config file, so a station directory can be moved as a whole.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::core::carrier::Carrier;
use crate::core::classify::{Classifier, ClassifierSpec, CommandCodes};
use crate::core::machine::{MachineConfig, Mode};

/// A config that cannot be used, with enough context to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// The key, as a TOML path (`scale[0].poll_interval`), when one is to blame.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The whole station config as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationConfig {
    pub station: StationSection,
    #[serde(default)]
    pub session: SessionSection,
    #[serde(default)]
    pub weight: WeightSection,
    #[serde(default)]
    pub commands: CommandsSection,
    #[serde(default)]
    pub orders: OrdersSection,
    pub mqtt: MqttSection,
    #[serde(default)]
    pub scanner: Vec<ScannerConfig>,
    #[serde(default)]
    pub scale: Vec<ScaleConfig>,
    #[serde(default)]
    pub video: VideoSection,
    #[serde(default)]
    pub camera: Vec<CameraConfig>,
    /// Where the file was read from; set by [`StationConfig::load`].
    #[serde(skip)]
    pub source: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationSection {
    /// Site (warehouse) id: the second MQTT topic level.
    pub site: String,
    /// Station id, unique within the site: the third MQTT topic level.
    pub id: String,
    #[serde(default)]
    pub mode: Mode,
    /// Where the database, the video segments and the exports live.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSection {
    /// An open session with no scan for this long is closed.
    #[serde(default = "default_idle_timeout", deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// The same order scanned again within this window is not a new session.
    #[serde(default = "default_rescan_window", deserialize_with = "duration")]
    pub rescan_window: Duration,
}

impl Default for SessionSection {
    fn default() -> Self {
        SessionSection {
            idle_timeout: default_idle_timeout(),
            rescan_window: default_rescan_window(),
        }
    }
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(600)
}
fn default_rescan_window() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightSection {
    /// Readings below this are "nothing on the scale" and never captured.
    #[serde(default = "default_min_grams")]
    pub min_grams: f64,
    /// How long a reading must stay stable before it is captured.
    #[serde(default, deserialize_with = "duration")]
    pub stable_for: Duration,
}

impl Default for WeightSection {
    fn default() -> Self {
        WeightSection {
            min_grams: default_min_grams(),
            stable_for: Duration::ZERO,
        }
    }
}

fn default_min_grams() -> f64 {
    5.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandsSection {
    #[serde(default = "default_done")]
    pub done: String,
    #[serde(default = "default_cancel")]
    pub cancel: String,
    #[serde(default = "default_mode_pack")]
    pub mode_pack: String,
    #[serde(default = "default_mode_returns")]
    pub mode_returns: String,
}

impl Default for CommandsSection {
    fn default() -> Self {
        CommandsSection {
            done: default_done(),
            cancel: default_cancel(),
            mode_pack: default_mode_pack(),
            mode_returns: default_mode_returns(),
        }
    }
}

fn default_done() -> String {
    "PW-DONE".into()
}
fn default_cancel() -> String {
    "PW-CANCEL".into()
}
fn default_mode_pack() -> String {
    "PW-MODE-PACK".into()
}
fn default_mode_returns() -> String {
    "PW-MODE-RETURNS".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersSection {
    /// Built-in carrier formats that count as order scans: ups, usps, fedex, dhl, s10.
    #[serde(default = "default_carriers")]
    pub carriers: Vec<String>,
    /// The site's own order-number formats, as regular expressions (whole-scan match).
    #[serde(default)]
    pub patterns: Vec<String>,
    /// A regular expression: any scan it matches that is not a product barcode is an order.
    #[serde(default)]
    pub catch_all: Option<String>,
}

impl Default for OrdersSection {
    fn default() -> Self {
        OrdersSection {
            carriers: default_carriers(),
            patterns: Vec::new(),
            catch_all: None,
        }
    }
}

fn default_carriers() -> Vec<String> {
    Carrier::ALL.iter().map(|c| c.name().to_string()).collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSection {
    /// `mqtt://host:port`.
    pub url: String,
    /// First topic level.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// MQTT client id; defaults to `packwatch-{site}-{station}`.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password (keeps secrets out of the station config).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_keep_alive", deserialize_with = "duration")]
    pub keep_alive: Duration,
}

fn default_prefix() -> String {
    "packwatch".into()
}
fn default_keep_alive() -> Duration {
    Duration::from_secs(15)
}

/// What ends a barcode on a serial scanner's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TerminatorSetting {
    Cr,
    Lf,
    Crlf,
    /// CR, LF or CRLF.
    #[default]
    Any,
}

/// Serial flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FlowControlSetting {
    #[default]
    None,
    /// XON/XOFF (the factory setting of many MT-SICS balances).
    Software,
    /// RTS/CTS.
    Hardware,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ParitySetting {
    #[default]
    None,
    Even,
    Odd,
}

/// Serial line settings shared by serial scanners and scales.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialSettings {
    #[serde(default = "default_baud")]
    pub baud: u32,
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    #[serde(default)]
    pub parity: ParitySetting,
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    #[serde(default)]
    pub flow_control: FlowControlSetting,
}

impl Default for SerialSettings {
    fn default() -> Self {
        SerialSettings {
            baud: default_baud(),
            data_bits: default_data_bits(),
            parity: ParitySetting::None,
            stop_bits: default_stop_bits(),
            flow_control: FlowControlSetting::None,
        }
    }
}

fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    pub name: String,
    /// The serial device, best a stable name: `/dev/serial/by-id/...` or a udev symlink.
    pub port: PathBuf,
    #[serde(flatten)]
    pub serial: SerialSettings,
    #[serde(default)]
    pub terminator: TerminatorSetting,
    /// The scanner sends an AIM symbology identifier (`]C0`, `]E0`...) before each code.
    #[serde(default)]
    pub aim_prefix: bool,
    /// Longer lines are garbage and are dropped.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// `packwatch demo` puts a simulated scanner on `port` (a pseudo-terminal).
    #[serde(default)]
    pub simulate: bool,
}

fn default_max_len() -> usize {
    256
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScaleProtocol {
    MtSics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScaleReadMode {
    /// Ask `SI` every `poll_interval`; a scale that stops answering is noticed.
    #[default]
    Poll,
    /// Send `SIR` once; the scale streams readings.
    Stream,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    pub name: String,
    pub port: PathBuf,
    pub protocol: ScaleProtocol,
    #[serde(flatten)]
    pub serial: SerialSettings,
    #[serde(default)]
    pub read: ScaleReadMode,
    #[serde(default = "default_poll_interval", deserialize_with = "duration")]
    pub poll_interval: Duration,
    /// No answer for this long is a fault.
    #[serde(default = "default_reply_timeout", deserialize_with = "duration")]
    pub reply_timeout: Duration,
    #[serde(default)]
    pub simulate: bool,
}

fn default_poll_interval() -> Duration {
    Duration::from_millis(200)
}
fn default_reply_timeout() -> Duration {
    Duration::from_secs(2)
}

/// How video is cut, kept and encoded (all cameras).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoSection {
    /// Length of one segment file: 2 to 10 s (cut at the next keyframe).
    #[serde(default = "default_segment", deserialize_with = "duration")]
    pub segment: Duration,
    /// Footage kept before the scan that opens a session.
    #[serde(default = "default_pre_roll", deserialize_with = "duration")]
    pub pre_roll: Duration,
    /// Footage kept after a session closes.
    #[serde(default = "default_post_roll", deserialize_with = "duration")]
    pub post_roll: Duration,
    /// How long footage of a session is kept.
    #[serde(default = "default_keep_orders", deserialize_with = "duration")]
    pub keep_orders: Duration,
    /// How long footage between sessions is kept.
    #[serde(default = "default_keep_idle", deserialize_with = "duration")]
    pub keep_idle: Duration,
    /// Below this much free space on the video disk, idle footage is deleted early.
    #[serde(default = "default_min_free")]
    pub min_free: bytesize::ByteSize,
    /// `auto` (the Raspberry Pi's hardware encoder where there is one, else x264), `x264`
    /// or `v4l2h264enc`.
    #[serde(default)]
    pub encoder: EncoderSetting,
}

impl Default for VideoSection {
    fn default() -> Self {
        VideoSection {
            segment: default_segment(),
            pre_roll: default_pre_roll(),
            post_roll: default_post_roll(),
            keep_orders: default_keep_orders(),
            keep_idle: default_keep_idle(),
            min_free: default_min_free(),
            encoder: EncoderSetting::default(),
        }
    }
}

fn default_segment() -> Duration {
    Duration::from_secs(4)
}

fn default_pre_roll() -> Duration {
    Duration::from_secs(3)
}

fn default_post_roll() -> Duration {
    Duration::from_secs(2)
}

fn default_keep_orders() -> Duration {
    Duration::from_secs(90 * 86_400)
}

fn default_keep_idle() -> Duration {
    Duration::from_secs(86_400)
}

fn default_min_free() -> bytesize::ByteSize {
    bytesize::ByteSize::gib(2)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderSetting {
    #[default]
    Auto,
    X264,
    V4l2h264enc,
}

/// Where a camera's pictures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraKind {
    /// A generated moving picture (demo and tests).
    Test,
    /// A USB/UVC camera (`device`).
    V4l2,
    /// An IP camera (`url`); its H.264 is recorded as it comes.
    Rtsp,
    /// An H.264 MP4 file replayed in real time as if it were a camera (`path`): for trying
    /// recorded footage and for benchmarks.
    File,
}

/// What to ask a USB camera for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraFormat {
    /// H.264 if the camera offers it (recorded without re-encoding), else MJPEG, else YUY2.
    #[default]
    Auto,
    H264,
    Mjpeg,
    Yuy2,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Name in events, file paths and `--camera` (a-z A-Z 0-9 - _).
    pub name: String,
    pub kind: CameraKind,
    /// `v4l2`: the device, best a stable `/dev/v4l/by-id/...` path.
    #[serde(default)]
    pub device: Option<PathBuf>,
    /// `rtsp`: the stream URL (`rtsp://user:pass@host/path`).
    #[serde(default)]
    pub url: Option<String>,
    /// `file`: the MP4 to replay.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    #[serde(default = "default_fps")]
    pub fps: u32,
    /// `v4l2`: which of the camera's formats to use.
    #[serde(default)]
    pub format: CameraFormat,
    /// Overrides `video.encoder` for this camera.
    #[serde(default)]
    pub encoder: Option<EncoderSetting>,
    /// Target bit rate of our encoder; default from the picture size.
    #[serde(default)]
    pub bitrate_kbps: Option<u32>,
}

fn default_width() -> u32 {
    1280
}

fn default_height() -> u32 {
    720
}

fn default_fps() -> u32 {
    30
}

impl CameraConfig {
    /// The bit rate our encoder aims at: about 0.07 bits per pixel per frame.
    pub fn bitrate(&self) -> u32 {
        self.bitrate_kbps.unwrap_or_else(|| {
            let bits = u64::from(self.width) * u64::from(self.height) * u64::from(self.fps) / 14;
            u32::try_from(bits / 1000)
                .unwrap_or(u32::MAX)
                .clamp(300, 20_000)
        })
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "expected a duration such as \"250ms\", \"10s\" or \"5m\", got {text:?} ({e})"
        ))
    })
}

impl StationConfig {
    /// Reads, parses and validates a station file.
    pub fn load(path: &Path) -> Result<StationConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            key: None,
            message: format!("cannot read the station file: {e}"),
        })?;
        StationConfig::parse(&text, path)
    }

    /// Parses and validates config text that came from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<StationConfig, ConfigError> {
        let toml_error = |e: toml::de::Error, key: Option<String>| {
            let location = e
                .span()
                .map(|span| {
                    let before = text.get(..span.start).unwrap_or(text);
                    let line = before.matches('\n').count() + 1;
                    format!("line {line}: ")
                })
                .unwrap_or_default();
            ConfigError {
                file: path.to_path_buf(),
                key,
                message: format!("{location}{}", e.message().trim_end()),
            }
        };
        let document = toml::Deserializer::parse(text).map_err(|e| toml_error(e, None))?;
        let mut config: StationConfig =
            serde_path_to_error::deserialize(document).map_err(|e| {
                // The path of the value that failed (`scale[0].poll_interval`); `?` marks
                // levels serde could not name (inside flattened line settings).
                let key = Some(e.path().to_string()).filter(|k| k != "." && !k.is_empty());
                toml_error(e.into_inner(), key)
            })?;
        config.source = path.to_path_buf();
        let base = path.parent().unwrap_or(Path::new("."));
        config.station.data_dir = resolve(base, &config.station.data_dir);
        for s in &mut config.scanner {
            s.port = resolve(base, &s.port);
        }
        for s in &mut config.scale {
            s.port = resolve(base, &s.port);
        }
        for c in &mut config.camera {
            c.path = c.path.as_ref().map(|p| resolve(base, p));
        }
        config.validate()?;
        Ok(config)
    }

    fn error(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.source.clone(),
            key: Some(key.into()),
            message: message.into(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("station.site", &self.station.site),
            ("station.id", &self.station.id),
            ("mqtt.topic_prefix", &self.mqtt.topic_prefix),
        ] {
            if !is_topic_level(value) {
                return Err(self.error(
                    key,
                    format!(
                        "{value:?} cannot be an MQTT topic level: use 1 to 64 of a-z, A-Z, 0-9, `-`, `_`"
                    ),
                ));
            }
        }
        if let Err(e) = crate::mqtt::options::broker_address(&self.mqtt.url) {
            return Err(self.error("mqtt.url", e.to_string()));
        }
        if self.mqtt.keep_alive < Duration::from_secs(1) {
            return Err(self.error("mqtt.keep_alive", "must be at least 1s"));
        }
        if self.session.idle_timeout < Duration::from_secs(1) {
            return Err(self.error("session.idle_timeout", "must be at least 1s"));
        }
        if !(self.weight.min_grams.is_finite() && self.weight.min_grams > 0.0) {
            return Err(self.error(
                "weight.min_grams",
                "must be a positive number of grams (a zero reading is never a parcel's weight)",
            ));
        }
        self.classifier_spec()?;
        if self.scanner.is_empty() {
            return Err(self.error(
                "scanner",
                "no scanner: add a [[scanner]] section (a station without one can never start a session)",
            ));
        }
        match (&self.mqtt.username, &self.mqtt.password_file) {
            (None, Some(_)) => {
                return Err(self.error("mqtt.password_file", "given without mqtt.username"));
            }
            (_, Some(file)) => {
                // Read it, as the station will: a file that exists but this user cannot read
                // must fail here (exit 2), not at start in a restart loop.
                if let Err(e) = std::fs::read_to_string(file) {
                    return Err(self.error(
                        "mqtt.password_file",
                        format!("cannot read {}: {e}", file.display()),
                    ));
                }
            }
            _ => {}
        }
        let mut names = HashSet::new();
        let mut ports = HashSet::new();
        let devices = self
            .scanner
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("scanner[{i}]"), &s.name, &s.port, &s.serial))
            .chain(
                self.scale
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("scale[{i}]"), &s.name, &s.port, &s.serial)),
            );
        for (key, name, port, serial) in devices {
            if !is_topic_level(name) {
                return Err(self.error(
                    format!("{key}.name"),
                    format!(
                        "{name:?} is not a device name: use 1 to 64 of a-z, A-Z, 0-9, `-`, `_`"
                    ),
                ));
            }
            if !names.insert(name.as_str()) {
                return Err(self.error(
                    format!("{key}.name"),
                    format!("device {name:?} is listed twice: give every device its own name"),
                ));
            }
            if !ports.insert(port.as_path()) {
                return Err(self.error(
                    format!("{key}.port"),
                    format!(
                        "port {} is listed twice: one device per port",
                        port.display()
                    ),
                ));
            }
            if !(7..=8).contains(&serial.data_bits) {
                return Err(self.error(format!("{key}.data_bits"), "must be 7 or 8"));
            }
            if !(1..=2).contains(&serial.stop_bits) {
                return Err(self.error(format!("{key}.stop_bits"), "must be 1 or 2"));
            }
            if serial.baud == 0 {
                return Err(self.error(format!("{key}.baud"), "must be a baud rate such as 9600"));
            }
        }
        for (i, s) in self.scanner.iter().enumerate() {
            if !(8..=65536).contains(&s.max_len) {
                return Err(self.error(format!("scanner[{i}].max_len"), "must be 8 to 65536"));
            }
        }
        for (i, s) in self.scale.iter().enumerate() {
            if s.poll_interval < Duration::from_millis(20) {
                return Err(
                    self.error(format!("scale[{i}].poll_interval"), "must be at least 20ms")
                );
            }
            if s.reply_timeout < Duration::from_millis(100) {
                return Err(self.error(
                    format!("scale[{i}].reply_timeout"),
                    "must be at least 100ms",
                ));
            }
        }
        self.validate_video()
    }

    fn validate_video(&self) -> Result<(), ConfigError> {
        let v = &self.video;
        if !(Duration::from_secs(2)..=Duration::from_secs(10)).contains(&v.segment) {
            return Err(self.error("video.segment", "must be 2s to 10s"));
        }
        if v.pre_roll > Duration::from_secs(60) {
            return Err(self.error("video.pre_roll", "must be at most 60s"));
        }
        if v.post_roll > Duration::from_secs(60) {
            return Err(self.error("video.post_roll", "must be at most 60s"));
        }
        if v.keep_idle < Duration::from_secs(60) {
            return Err(self.error("video.keep_idle", "must be at least 1m"));
        }
        if v.keep_orders < v.keep_idle {
            return Err(self.error(
                "video.keep_orders",
                "must be at least video.keep_idle (order footage is never kept shorter than idle footage)",
            ));
        }
        let mut names = HashSet::new();
        for (i, c) in self.camera.iter().enumerate() {
            let key = |field: &str| format!("camera[{i}].{field}");
            if !is_topic_level(&c.name) {
                return Err(self.error(
                    key("name"),
                    format!(
                        "{:?} is not a camera name: use 1 to 64 of a-z, A-Z, 0-9, `-`, `_`",
                        c.name
                    ),
                ));
            }
            if !names.insert(c.name.as_str())
                || self.scanner.iter().any(|s| s.name == c.name)
                || self.scale.iter().any(|s| s.name == c.name)
            {
                return Err(self.error(
                    key("name"),
                    format!(
                        "device {:?} is listed twice: give every device its own name",
                        c.name
                    ),
                ));
            }
            let needs = |field: &str, present: bool, example: &str| {
                if present {
                    Ok(())
                } else {
                    Err(self.error(
                        key(field),
                        format!(
                            "a {:?} camera needs `{field}`, for example {example}",
                            c.kind
                        ),
                    ))
                }
            };
            match c.kind {
                CameraKind::Test => {}
                CameraKind::V4l2 => needs(
                    "device",
                    c.device.is_some(),
                    "device = \"/dev/v4l/by-id/usb-...-video-index0\"",
                )?,
                CameraKind::Rtsp => {
                    needs(
                        "url",
                        c.url.is_some(),
                        "url = \"rtsp://10.0.0.21:554/stream1\"",
                    )?;
                    let url = c.url.as_deref().unwrap_or_default();
                    if !(url.starts_with("rtsp://") || url.starts_with("rtsps://")) {
                        return Err(self.error(key("url"), "must start with rtsp:// or rtsps://"));
                    }
                }
                CameraKind::File => needs("path", c.path.is_some(), "path = \"clip.mp4\"")?,
            }
            if !(16..=7680).contains(&c.width) || c.width % 2 != 0 {
                return Err(
                    self.error(key("width"), "must be an even number of pixels, 16 to 7680")
                );
            }
            if !(16..=4320).contains(&c.height) || c.height % 2 != 0 {
                return Err(self.error(
                    key("height"),
                    "must be an even number of pixels, 16 to 4320",
                ));
            }
            if !(1..=60).contains(&c.fps) {
                return Err(self.error(key("fps"), "must be 1 to 60 frames per second"));
            }
            if c.bitrate_kbps.is_some_and(|b| !(100..=50_000).contains(&b)) {
                return Err(self.error(key("bitrate_kbps"), "must be 100 to 50000"));
            }
        }
        Ok(())
    }

    /// The classifier settings, checked: unknown carriers and bad patterns are errors.
    pub fn classifier_spec(&self) -> Result<ClassifierSpec, ConfigError> {
        let mut carriers = Vec::new();
        for (i, name) in self.orders.carriers.iter().enumerate() {
            let carrier = Carrier::from_name(name).ok_or_else(|| {
                self.error(
                    format!("orders.carriers[{i}]"),
                    format!(
                        "unknown carrier {name:?}: expected one of {}",
                        Carrier::ALL.map(|c| c.name()).join(", ")
                    ),
                )
            })?;
            carriers.push(carrier);
        }
        let c = &self.commands;
        let codes = [
            ("commands.done", &c.done),
            ("commands.cancel", &c.cancel),
            ("commands.mode_pack", &c.mode_pack),
            ("commands.mode_returns", &c.mode_returns),
        ];
        for (i, (key, code)) in codes.iter().enumerate() {
            if code.is_empty() || code.chars().any(|ch| ch.is_control()) {
                return Err(self.error(*key, "must be a non-empty barcode text"));
            }
            if codes[..i].iter().any(|(_, other)| other == code) {
                return Err(
                    self.error(*key, format!("{code:?} is already used by another command"))
                );
            }
        }
        let spec = ClassifierSpec {
            carriers,
            order_patterns: self.orders.patterns.clone(),
            catch_all: self.orders.catch_all.clone().filter(|s| !s.is_empty()),
            commands: CommandCodes {
                done: c.done.clone(),
                cancel: c.cancel.clone(),
                mode_pack: c.mode_pack.clone(),
                mode_returns: c.mode_returns.clone(),
            },
            ..ClassifierSpec::default()
        };
        Classifier::new(spec.clone()).map_err(|e| {
            self.error(
                format!("orders.{}", e.which.replace("order_patterns", "patterns")),
                format!("not a valid regular expression: {}", e.message),
            )
        })?;
        Ok(spec)
    }

    /// The pure state machine's settings.
    pub fn machine_config(&self) -> MachineConfig {
        MachineConfig {
            mode: self.station.mode,
            idle_timeout_ms: millis(self.session.idle_timeout),
            rescan_window_ms: millis(self.session.rescan_window),
            min_grams: self.weight.min_grams,
            stable_for_ms: millis(self.weight.stable_for),
        }
    }

    /// The station's database file.
    pub fn database_path(&self) -> PathBuf {
        self.station.data_dir.join("packwatch.db")
    }

    /// The camera called `name`.
    pub fn camera(&self, name: &str) -> Option<&CameraConfig> {
        self.camera.iter().find(|c| c.name == name)
    }
}

/// `path` relative to `base` (absolute paths stay as they are), without `.` components.
fn resolve(base: &Path, path: &Path) -> PathBuf {
    base.join(path)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An identifier that is safe as one MQTT topic level and as a file name.
pub fn is_topic_level(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[station]
site = "wh1"
id = "pack-01"
data_dir = "data"

[mqtt]
url = "mqtt://127.0.0.1:1883"

[[scanner]]
name = "scanner"
port = "/dev/ttyACM0"

[[scale]]
name = "scale"
port = "/dev/ttyUSB0"
protocol = "mt-sics"
"#;

    fn parse(text: &str) -> Result<StationConfig, ConfigError> {
        StationConfig::parse(text, Path::new("/etc/packwatch/pack-01.toml"))
    }

    #[test]
    fn minimal_config_gets_defaults_and_resolves_paths() {
        let c = parse(MINIMAL).expect("valid");
        assert_eq!(c.station.mode, Mode::Pack);
        assert_eq!(c.station.data_dir, Path::new("/etc/packwatch/data"));
        assert_eq!(c.session.rescan_window, Duration::from_secs(10));
        assert_eq!(c.scanner[0].serial.baud, 9600);
        assert_eq!(c.scanner[0].terminator, TerminatorSetting::Any);
        assert_eq!(c.scale[0].read, ScaleReadMode::Poll);
        assert_eq!(c.commands.done, "PW-DONE");
        assert_eq!(c.orders.carriers.len(), 5);
    }

    #[test]
    fn shipped_station_files_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("stations");
        for name in ["demo.toml", "example.toml"] {
            let c = StationConfig::load(&dir.join(name));
            assert!(
                c.is_ok(),
                "{name}: {}",
                c.err().map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = MINIMAL.replace(
            "protocol = \"mt-sics\"",
            "protocol = \"mt-sics\"\nbaudrate = 9600",
        );
        let e = parse(&text).expect_err("unknown key");
        assert_eq!(
            e.to_string(),
            "/etc/packwatch/pack-01.toml: key `scale[0]`: line 14: unknown field `baudrate`"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let e = StationConfig::load(Path::new("/nonexistent/station.toml")).expect_err("missing");
        assert!(
            e.to_string()
                .starts_with("/nonexistent/station.toml: cannot read"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_key_and_expectation() {
        let cases = [
            (MINIMAL.replace("mt-sics", "acme"), "mt-sics"),
            (
                MINIMAL.replace(
                    "data_dir = \"data\"",
                    "data_dir = \"data\"\nmode = \"shipping\"",
                ),
                "pack",
            ),
            (
                MINIMAL.replace("[mqtt]", "[session]\nidle_timeout = \"soon\"\n[mqtt]"),
                "expected a duration",
            ),
        ];
        for (text, expected) in cases {
            let msg = parse(&text).expect_err("bad value").to_string();
            assert!(msg.contains(expected), "{msg}");
        }
        let e = parse(&MINIMAL.replace("[mqtt]", "[session]\nidle_timeout = \"soon\"\n[mqtt]"))
            .expect_err("bad duration");
        assert_eq!(e.key.as_deref(), Some("session.idle_timeout"), "{e}");
        let e = parse(&MINIMAL.replace("mt-sics", "acme")).expect_err("bad protocol");
        assert_eq!(e.key.as_deref(), Some("scale[0].protocol"), "{e}");
    }

    #[test]
    fn validation_errors_name_the_key() {
        let cases = [
            (
                MINIMAL.replace("id = \"pack-01\"", "id = \"pack/01\""),
                "station.id",
            ),
            (
                MINIMAL.replace("mqtt://127.0.0.1:1883", "http://x"),
                "mqtt.url",
            ),
            (
                MINIMAL.replace("name = \"scale\"", "name = \"scanner\""),
                "scale[0].name",
            ),
            (
                MINIMAL.replace("/dev/ttyUSB0", "/dev/ttyACM0"),
                "scale[0].port",
            ),
            (
                format!("{MINIMAL}\n[orders]\ncarriers = [\"ups\", \"royalmail\"]\n"),
                "orders.carriers[1]",
            ),
            (
                format!("{MINIMAL}\n[orders]\npatterns = [\"^SO\\\\d+$\", \"(\"]\n"),
                "orders.patterns[1]",
            ),
            (
                format!("{MINIMAL}\n[commands]\ncancel = \"PW-DONE\"\n"),
                "commands.cancel",
            ),
            (
                MINIMAL.replace(
                    "protocol = \"mt-sics\"",
                    "protocol = \"mt-sics\"\ndata_bits = 5",
                ),
                "scale[0].data_bits",
            ),
            (
                MINIMAL.replace(
                    "[[scanner]]\nname = \"scanner\"\nport = \"/dev/ttyACM0\"\n",
                    "",
                ),
                "scanner",
            ),
            (
                MINIMAL.replace(
                    "[mqtt]",
                    "[mqtt]\nusername = \"st\"\npassword_file = \"/nonexistent/pw\"",
                ),
                "mqtt.password_file",
            ),
            (
                MINIMAL.replace("[mqtt]", "[mqtt]\npassword_file = \"/etc/hostname\""),
                "mqtt.password_file",
            ),
        ];
        for (text, key) in cases {
            let e = parse(&text).expect_err("invalid");
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
        }
    }
}
