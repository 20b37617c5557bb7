//! The TOML configuration (SPEC §2), its embedded default, and precise validation
//! errors that name the file, line and key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What `manifold` runs without `--config`: every listener on, any key publishes.
pub const EMBEDDED_DEFAULT: &str = r#"# Manifold's embedded default configuration.
[server]
workers = 0
engine = "auto"

[rtmp]
listen = "0.0.0.0:1935"

[srt]
listen = "0.0.0.0:8890"
latency_ms = 120

[http]
listen = "0.0.0.0:8080"

[admin]
listen = "127.0.0.1:9997"

[webrtc]
listen = "0.0.0.0:8189"

[ingest]
allow_undeclared = true
grace_period_seconds = 10

[hls]
segment_seconds = 2
window = 6
low_latency = true
"#;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub rtmp: RtmpConfig,
    pub srt: SrtConfig,
    pub http: HttpConfig,
    pub admin: AdminConfig,
    pub webrtc: WebrtcConfig,
    pub ingest: IngestConfig,
    pub hls: HlsConfig,
    #[serde(rename = "profile", skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<ProfileConfig>,
    #[serde(rename = "stream", skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamConfig>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    #[default]
    Auto,
    IoUring,
    Epoll,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// I/O threads; 0 = one per core.
    pub workers: usize,
    pub engine: EngineKind,
    /// `error | warn | info | debug | trace`, or a `RUST_LOG`-style filter;
    /// the `RUST_LOG` environment variable overrides it.
    pub log_level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            engine: EngineKind::Auto,
            log_level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RtmpConfig {
    pub listen: String,
    pub tls_listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:1935".into(),
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SrtConfig {
    pub listen: String,
    pub latency_ms: u32,
    /// Packets SRT readers get under one key before it is replaced (libsrt's
    /// `kmrefreshrate`).
    pub km_refresh_packets: u64,
    /// Packets before the switch when the next key is announced, and after it when
    /// the old one is retired (libsrt's `kmpreannounce`).
    pub km_preannounce_packets: u64,
}

impl Default for SrtConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8890".into(),
            latency_ms: 120,
            km_refresh_packets: protocol_parsers::srt::DEFAULT_REFRESH_PACKETS,
            km_preannounce_packets: protocol_parsers::srt::DEFAULT_PREANNOUNCE_PACKETS,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: String,
    /// Where `tools/setup-player.sh` installed hls.js and shaka-player (an npm
    /// `node_modules`), served under `/player/` for the player page.
    pub player_assets: PathBuf,
    /// A connection that moves no byte for this long is closed (idle keep-alive
    /// connections, clients that trickle their requests).
    pub idle_timeout_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            player_assets: PathBuf::from("player/node_modules"),
            idle_timeout_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: String,
    /// Bearer token; a random one is generated and printed when absent.
    pub token: Option<String>,
    /// Whether `/metrics` also needs the token (scrapers can send it with
    /// `authorization: { credentials: ... }`); off by default.
    pub metrics_require_token: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9997".into(),
            token: None,
            metrics_require_token: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebrtcConfig {
    pub listen: String,
    pub public_ips: Vec<String>,
}

impl Default for WebrtcConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8189".into(),
            public_ips: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Any key publishes to a stream named after it.
    pub allow_undeclared: bool,
    /// How long outputs stay connected after the publisher drops.
    pub grace_period_seconds: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            allow_undeclared: false,
            grace_period_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HlsConfig {
    /// false: no stream is segmented, so nothing is served over HLS or DASH (a
    /// pure restreaming relay, as nginx-rtmp without `hls on`).
    pub enabled: bool,
    pub segment_seconds: f64,
    pub window: u32,
    pub low_latency: bool,
    /// Also write playlists, MPD and segments under this directory, for an
    /// external origin: `DIR/NAME/index.m3u8` and so on, as served over HTTP.
    pub directory: Option<PathBuf>,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            segment_seconds: 2.0,
            window: 6,
            low_latency: true,
            directory: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileConfig {
    pub name: String,
    /// 0 keeps the source's aspect ratio from the other dimension.
    pub width: u32,
    pub height: u32,
    pub video_bitrate: String,
    /// Empty: audio passes through unless `audio` asks for a codec.
    pub audio_bitrate: String,
    /// `auto | x264 | nvenc | vaapi | qsv`.
    pub encoder: String,
    /// Frames per second cap; 0 keeps the source's rate.
    pub fps: u32,
    /// `vbr` (default: average rate, VBV-capped) or `cbr`.
    pub rate_control: String,
    /// B-frames between references (default 2; 0 for WebRTC and strict low latency).
    pub bframes: Option<u32>,
    /// `baseline | main | high` (default high).
    pub h264_profile: String,
    /// e.g. "4.1"; the encoder picks one when unset.
    pub h264_level: Option<String>,
    /// x264 preset (default veryfast).
    pub preset: String,
    /// Longest keyframe interval (default `hls.segment_seconds`); source keyframes
    /// are kept, so every rendition of a ladder cuts at the same timestamps.
    pub keyframe_seconds: Option<f64>,
    /// `aac` (default when `audio_bitrate` is set), `opus` or `passthrough`.
    pub audio: String,
    /// Encoder threads; 0: sized to the machine (x264: the cores weighted by the
    /// picture's share of a 1080p frame, 1 to 4).
    pub threads: u32,
    /// x264 rate-control lookahead in frames (default: 6 frames of delay, lookahead
    /// and extra frame threads together; 0.2 s at 30 fps).
    pub lookahead: Option<u32>,
    /// NVENC: which GPU.
    pub gpu: u32,
    /// VA-API: the DRM render node (default /dev/dri/renderD128).
    pub vaapi_device: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Public name, used in playback URLs.
    pub name: String,
    /// Secret publish key.
    pub key: String,
    pub passphrase: Option<String>,
    pub ladder: Vec<String>,
    #[serde(rename = "push", skip_serializing_if = "Vec::is_empty")]
    pub pushes: Vec<PushConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    pub name: String,
    /// `rtmp://host[:port]/app` or `rtmps://...`; the key may also end the URL.
    pub url: String,
    /// Stream key appended to the URL as its last path segment.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Extra PEM CA certificates trusted for this `rtmps://` destination, on top of
    /// the system roots (for self-signed test and private platforms).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn enabled_by_default() -> bool {
    true
}

/// A config error with enough context to find and fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A validation error of an in-memory config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// Full path, e.g. `stream[0].push[1].url`.
    pub key: String,
    /// The last key of the path, e.g. `url`.
    pub field: &'static str,
    pub message: String,
}

/// One step of a key path, for locating a value in the source.
#[derive(Debug, Clone)]
enum Seg {
    Key(&'static str),
    Index(usize),
}

struct Invalid {
    path: Vec<Seg>,
    message: String,
}

impl Config {
    /// Parses and validates TOML text; `file` names it in errors.
    pub fn parse(source: &str, file: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(source).map_err(|e| {
            let line = e.span().map(|span| line_of(source, span.start));
            ConfigError {
                file: file.to_owned(),
                line,
                key: None,
                message: e.message().trim().to_owned(),
            }
        })?;
        config.validate().map_err(|invalid| {
            let key = render_path(&invalid.path);
            ConfigError {
                file: file.to_owned(),
                line: locate(source, &invalid.path),
                key: Some(key),
                message: invalid.message,
            }
        })?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&source, &file)
    }

    pub fn embedded_default() -> Self {
        Self::parse(EMBEDDED_DEFAULT, "<embedded default>")
            .expect("the embedded default config is valid (tested)")
    }

    /// Validates a config built in memory (the admin API's changes); the error
    /// names the key, e.g. `stream[1].push[0].url`, and its last part.
    pub fn check(&self) -> Result<(), InvalidField> {
        self.validate().map_err(|invalid| InvalidField {
            key: render_path(&invalid.path),
            field: invalid
                .path
                .iter()
                .rev()
                .find_map(|seg| match seg {
                    Seg::Key(key) => Some(*key),
                    Seg::Index(_) => None,
                })
                .unwrap_or_default(),
            message: invalid.message,
        })
    }

    pub fn grace_period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ingest.grace_period_seconds)
    }

    fn validate(&self) -> Result<(), Invalid> {
        let invalid = |path: Vec<Seg>, message: String| Invalid { path, message };
        let addr = |section: &'static str, key: &'static str, value: &str| {
            value.parse::<SocketAddr>().map(|_| ()).map_err(|_| {
                invalid(
                    vec![Seg::Key(section), Seg::Key(key)],
                    format!("{value:?} is not an address like 0.0.0.0:1935"),
                )
            })
        };
        addr("rtmp", "listen", &self.rtmp.listen)?;
        if let Some(tls) = &self.rtmp.tls_listen {
            addr("rtmp", "tls_listen", tls)?;
            for (key, value) in [
                ("tls_cert", &self.rtmp.tls_cert),
                ("tls_key", &self.rtmp.tls_key),
            ] {
                if value.is_none() {
                    return Err(invalid(
                        vec![Seg::Key("rtmp"), Seg::Key("tls_listen")],
                        format!("tls_listen needs rtmp.{key}"),
                    ));
                }
            }
        }
        addr("srt", "listen", &self.srt.listen)?;
        if !(20..=60_000).contains(&self.srt.latency_ms) {
            return Err(invalid(
                vec![Seg::Key("srt"), Seg::Key("latency_ms")],
                format!("{} ms is outside 20..=60000", self.srt.latency_ms),
            ));
        }
        if self.srt.km_refresh_packets < 16 {
            return Err(invalid(
                vec![Seg::Key("srt"), Seg::Key("km_refresh_packets")],
                format!("{} is under 16", self.srt.km_refresh_packets),
            ));
        }
        let most = (self.srt.km_refresh_packets - 1) / 2;
        if !(1..=most).contains(&self.srt.km_preannounce_packets) {
            return Err(invalid(
                vec![Seg::Key("srt"), Seg::Key("km_preannounce_packets")],
                format!(
                    "{} is outside 1..={most} (at most half of km_refresh_packets, as libsrt requires)",
                    self.srt.km_preannounce_packets
                ),
            ));
        }
        addr("http", "listen", &self.http.listen)?;
        addr("admin", "listen", &self.admin.listen)?;
        addr("webrtc", "listen", &self.webrtc.listen)?;
        if tracing_subscriber::EnvFilter::try_new(&self.server.log_level).is_err() {
            return Err(invalid(
                vec![Seg::Key("server"), Seg::Key("log_level")],
                format!("{:?} is not a log level or filter", self.server.log_level),
            ));
        }
        if self.admin.token.as_deref().is_some_and(|t| t.len() < 8) {
            return Err(invalid(
                vec![Seg::Key("admin"), Seg::Key("token")],
                "the admin token must be at least 8 characters".into(),
            ));
        }
        if self.server.workers > 1024 {
            return Err(invalid(
                vec![Seg::Key("server"), Seg::Key("workers")],
                "at most 1024 workers".into(),
            ));
        }
        for (i, profile) in self.profiles.iter().enumerate() {
            let at = |key: &'static str| vec![Seg::Key("profile"), Seg::Index(i), Seg::Key(key)];
            if !valid_name(&profile.name) {
                return Err(invalid(
                    at("name"),
                    format!("{:?} is not a valid profile name", profile.name),
                ));
            }
            if self.profiles[..i].iter().any(|p| p.name == profile.name) {
                return Err(invalid(
                    at("name"),
                    format!("duplicate profile name {:?}", profile.name),
                ));
            }
            if let Err((key, message)) =
                crate::transcode::Profile::resolve(profile, self.hls.segment_seconds)
            {
                return Err(invalid(at(key), message));
            }
        }
        for (i, stream) in self.streams.iter().enumerate() {
            let at = |key: &'static str| vec![Seg::Key("stream"), Seg::Index(i), Seg::Key(key)];
            if !valid_name(&stream.name) {
                return Err(invalid(
                    at("name"),
                    format!(
                        "{:?} is not a valid stream name (letters, digits, '-', '_', '.')",
                        stream.name
                    ),
                ));
            }
            if stream.key.is_empty() {
                return Err(invalid(at("key"), "a publish key is required".into()));
            }
            if let Some(j) = self.streams[..i].iter().position(|s| s.name == stream.name) {
                return Err(invalid(
                    at("name"),
                    format!("duplicate stream name {:?} (also stream {j})", stream.name),
                ));
            }
            if self.streams[..i].iter().any(|s| s.key == stream.key) {
                return Err(invalid(at("key"), "duplicate publish key".into()));
            }
            if let Some(passphrase) = &stream.passphrase {
                // libsrt's limits (SRTO_PASSPHRASE): callers refuse anything else.
                if !(10..=79).contains(&passphrase.chars().count()) {
                    return Err(invalid(
                        at("passphrase"),
                        "an SRT passphrase has 10 to 79 characters".into(),
                    ));
                }
            }
            for (j, rendition) in stream.ladder.iter().enumerate() {
                let at = vec![
                    Seg::Key("stream"),
                    Seg::Index(i),
                    Seg::Key("ladder"),
                    Seg::Index(j),
                ];
                if rendition != crate::mux::SOURCE
                    && !self.profiles.iter().any(|p| &p.name == rendition)
                {
                    return Err(invalid(
                        at,
                        format!("no [[profile]] named {rendition:?} (and it is not \"source\")"),
                    ));
                }
                if stream.ladder[..j].contains(rendition) {
                    return Err(invalid(at, format!("{rendition:?} is listed twice")));
                }
            }
            for (j, push) in stream.pushes.iter().enumerate() {
                let at = |key: &'static str| {
                    vec![
                        Seg::Key("stream"),
                        Seg::Index(i),
                        Seg::Key("push"),
                        Seg::Index(j),
                        Seg::Key(key),
                    ]
                };
                if !valid_name(&push.name) {
                    return Err(invalid(
                        at("name"),
                        format!("{:?} is not a valid output name", push.name),
                    ));
                }
                if stream.pushes[..j].iter().any(|p| p.name == push.name) {
                    return Err(invalid(
                        at("name"),
                        format!("duplicate output name {:?}", push.name),
                    ));
                }
                if let Err(e) = crate::outputs::PushTarget::parse(&push.url, push.key.as_deref()) {
                    return Err(invalid(at("url"), e.to_string()));
                }
                if let Some(profile) = &push.profile {
                    if !self.profiles.iter().any(|p| &p.name == profile) {
                        return Err(invalid(
                            at("profile"),
                            format!("no [[profile]] named {profile:?}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A bitrate in bits per second from `"2500k"`, `"6M"`, `"6.5m"` or `"800000"`.
pub fn parse_bitrate(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, scale) = match text.as_bytes().last()? {
        b'k' | b'K' => (text.get(..text.len() - 1)?, 1e3),
        b'm' | b'M' => (text.get(..text.len() - 1)?, 1e6),
        _ => (text, 1.0),
    };
    let value = number.parse::<f64>().ok()? * scale;
    (1.0..1e12).contains(&value).then_some(value as u64)
}

/// Stream and output names appear in URLs and file names: letters, digits, `-_.`,
/// at most 128 bytes, never `.` or `..`. Undeclared streams are named by this rule too.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name != "."
        && name != ".."
}

fn line_of(source: &str, offset: usize) -> usize {
    source
        .get(..offset)
        .unwrap_or(source)
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Finds the line of the value at `path`, or of its nearest present ancestor.
fn locate(source: &str, path: &[Seg]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(source).ok()?;
    let mut table = root.get_ref();
    let mut best = None;
    let mut iter = path.iter().peekable();
    while let Some(seg) = iter.next() {
        let Seg::Key(key) = seg else { return best };
        let (_, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *key)?;
        best = Some(line_of(source, value.span().start));
        let mut current = value;
        if let Some(Seg::Index(i)) = iter.peek() {
            iter.next();
            let DeValue::Array(items) = current.get_ref() else {
                return best;
            };
            current = items.get(*i)?;
            best = Some(line_of(source, current.span().start));
        }
        match current.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => return best,
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates_parse_with_suffixes() {
        assert_eq!(parse_bitrate("2500k"), Some(2_500_000));
        assert_eq!(parse_bitrate("6.5M"), Some(6_500_000));
        assert_eq!(parse_bitrate("800000"), Some(800_000));
        assert_eq!(parse_bitrate("fast"), None);
        assert_eq!(parse_bitrate("k"), None);
        assert_eq!(parse_bitrate("-5k"), None);
    }

    #[test]
    fn in_memory_check_names_the_field() {
        let mut config = Config::embedded_default();
        config.streams.push(StreamConfig {
            name: "main".into(),
            key: "K".into(),
            pushes: vec![PushConfig {
                name: "yt".into(),
                url: "http://x/live".into(),
                key: Some("k".into()),
                profile: None,
                enabled: true,
                ca_file: None,
            }],
            ..StreamConfig::default()
        });
        let err = config.check().unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.field),
            ("stream[0].push[0].url", "url")
        );
    }

    #[test]
    fn embedded_default_parses() {
        let config = Config::embedded_default();
        assert!(config.ingest.allow_undeclared);
        assert_eq!(config.rtmp.listen, "0.0.0.0:1935");
    }

    #[test]
    fn spec_example_parses() {
        let source = r#"
[server]
workers = 0
engine = "auto"
[rtmp]
listen = "0.0.0.0:1935"
[srt]
listen = "0.0.0.0:8890"
latency_ms = 120
[http]
listen = "0.0.0.0:8080"
[admin]
listen = "127.0.0.1:9997"
token = "change-me"
[webrtc]
listen = "0.0.0.0:8189"
[ingest]
allow_undeclared = false
[hls]
segment_seconds = 2
window = 6
low_latency = true
[[profile]]
name = "720p"
width = 1280
height = 720
video_bitrate = "2500k"
audio_bitrate = "128k"
encoder = "auto"
[[stream]]
name = "main"
key = "K"
ladder = ["source", "720p"]
  [[stream.push]]
  name = "youtube"
  url = "rtmp://a.rtmp.youtube.com/live2"
  key = "xxxx-xxxx-xxxx"
"#;
        let config = Config::parse(source, "spec.toml").unwrap();
        assert_eq!(config.streams[0].pushes[0].name, "youtube");
        assert_eq!(config.server.engine, EngineKind::Auto);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let source = "[[stream]]\nname = \"main\"\nkey = \"K\"\n\n  [[stream.push]]\n  name = \"yt\"\n  url = \"http://nope\"\n";
        let err = Config::parse(source, "bad.toml").unwrap_err();
        assert_eq!(err.line, Some(7), "{err}");
        assert_eq!(err.key.as_deref(), Some("stream[0].push[0].url"));
        assert!(
            err.to_string()
                .starts_with("bad.toml:7: key `stream[0].push[0].url`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_an_error_with_a_line() {
        let err =
            Config::parse("[rtmp]\nlisten = \"0.0.0.0:1935\"\nlsten = 1\n", "x.toml").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("lsten"), "{err}");
    }

    #[test]
    fn bad_engine_is_rejected() {
        let err = Config::parse("[server]\nengine = \"kqueue\"\n", "x.toml").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
    }
}
