//! Engine configuration: one TOML file, validated at start with every problem reported at once.
//!
//! Relative paths in the file resolve against the file's folder, so `examples/ivr.toml` works
//! from any working directory. Command-line overrides (`--sip`, `--data`, ...) are applied after
//! loading and before validation.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The whole engine configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Process-wide settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// SIP listeners and identity.
    #[serde(default)]
    pub sip: SipConfig,
    /// RTP port range and behaviour.
    #[serde(default)]
    pub rtp: RtpConfig,
    /// Who may send calls.
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    /// Outbound registrations to providers.
    #[serde(default)]
    pub registrations: Vec<RegistrationConfig>,
    /// Admission limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The built-in demo flow.
    #[serde(default)]
    pub demo: DemoConfig,
    /// Call recording.
    #[serde(default)]
    pub recording: RecordingConfig,
    /// Speech recognition, voice activity detection and barge-in.
    #[serde(default)]
    pub speech: SpeechConfig,
    /// The call store (call detail records, events, transcripts).
    #[serde(default)]
    pub store: StoreConfig,
    /// The gRPC API (agents, supervisors, administrators); off without this section.
    #[serde(default)]
    pub api: Option<crate::api::ApiConfig>,
    /// Call-center queues served by agents; without it queued callers hear hold audio only.
    #[serde(default)]
    pub acd: Option<crate::center::AcdSection>,
    /// Quality inspection of every call as it ends; off without this section.
    #[serde(default)]
    pub qa: Option<crate::qa::live::QaConfig>,
    /// Prometheus metrics on `GET /metrics`; off without this section.
    #[serde(default)]
    pub metrics: Option<crate::metrics::MetricsConfig>,
    /// Recording encryption keys, retention periods, redaction (see docs/privacy.md).
    #[serde(default)]
    pub privacy: PrivacyConfig,
    /// Answering-machine detection for outbound calls whose plan sets `settings.amd`.
    #[serde(default)]
    pub amd: crate::amd::AmdSettings,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Folder for the event log and recordings.
    pub data: PathBuf,
    /// Folder of dial plans; without it, calls run the built-in demo.
    pub plans: Option<PathBuf>,
    /// Plan for dialed numbers no plan lists (not needed when only one plan is loaded).
    pub default_plan: Option<String>,
    /// How long active calls may continue after the first SIGTERM.
    #[serde(with = "humantime")]
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data: PathBuf::from("data"),
            plans: None,
            default_plan: None,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Address for both the UDP and the TCP listener.
    pub listen: SocketAddr,
    /// Host advertised in Contact and Via instead of the bind address (behind NAT).
    pub public_host: Option<String>,
    /// `User-Agent` / `Server` header value.
    pub user_agent: String,
    /// Whether to listen on TCP too.
    pub tcp: bool,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            public_host: None,
            user_agent: format!("ivr/{}", env!("CARGO_PKG_VERSION")),
            tcp: true,
        }
    }
}

/// `[rtp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtpConfig {
    /// Address RTP sockets bind to and that the SDP advertises (unless `public_ip`).
    pub bind: IpAddr,
    /// Address advertised in SDP instead of `bind`.
    pub public_ip: Option<IpAddr>,
    /// First port of the range (even).
    pub port_min: u16,
    /// Last port of the range.
    pub port_max: u16,
    /// Latch to the source address of the caller's first RTP packet (NAT traversal).
    pub symmetric: bool,
    /// Hang up an answered call after this long without RTP or RTCP from the caller (a caller
    /// whose line dropped without a BYE); `0s` never does. Calls on hold are exempt.
    #[serde(with = "humantime")]
    pub timeout: Duration,
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            bind: IpAddr::from([127, 0, 0, 1]),
            public_ip: None,
            port_min: 20000,
            port_max: 29999,
            symmetric: true,
            timeout: Duration::from_secs(60),
        }
    }
}

/// One `[[trunks]]` entry: a carrier or PBX allowed to send calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Name used in logs and call records.
    pub name: String,
    /// Source networks (CIDR or single addresses) the trunk sends from.
    #[serde(default)]
    pub allow: Vec<Cidr>,
    /// Digest user name required on INVITEs (with `password`).
    pub username: Option<String>,
    /// Digest password.
    pub password: Option<String>,
    /// Digest realm (defaults to the SIP listen host).
    pub realm: Option<String>,
    /// Calls the engine places through this trunk (`Originate`, campaigns).
    #[serde(default)]
    pub outbound: Option<OutboundTrunk>,
}

/// `[trunks.outbound]`: where and how the engine places calls through a trunk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundTrunk {
    /// The provider's SIP proxy (`ADDR:PORT`), where outbound INVITEs go.
    pub proxy: SocketAddr,
    /// The host of the Request-URI (`sip:NUMBER@DOMAIN`); the proxy's address by default.
    pub domain: Option<String>,
    /// Digest user name the provider challenges for (with `password`).
    pub username: Option<String>,
    /// Digest password.
    pub password: Option<String>,
    /// The calling number presented when an order gives none.
    pub caller_id: Option<String>,
}

/// One `[[registrations]]` entry: REGISTER to a provider so it routes calls here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// Registrar address, e.g. `203.0.113.10:5060`.
    pub registrar: SocketAddr,
    /// Address of record, e.g. `sip:1000@provider.example`.
    pub aor: String,
    /// Digest user name.
    pub username: String,
    /// Digest password.
    pub password: String,
    /// Requested binding lifetime.
    #[serde(with = "humantime", default = "default_expires")]
    pub expires: Duration,
}

fn default_expires() -> Duration {
    Duration::from_secs(3600)
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Concurrent calls beyond which INVITEs get 503.
    pub max_calls: usize,
    /// INVITEs per second accepted from one source address (burst of the same size).
    pub invite_rate: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_calls: 4000,
            invite_rate: 500,
        }
    }
}

/// `[demo]`: the built-in flow answered calls run until dial plans are configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// WAV prompt played after answer (16-bit PCM, any rate).
    pub prompt: Option<PathBuf>,
    /// Play the prompt again and again until a key is pressed.
    pub repeat: bool,
    /// Hang up this long after answer.
    #[serde(with = "humantime")]
    pub timeout: Duration,
    /// Ring this long before answering.
    #[serde(with = "humantime")]
    pub answer_delay: Duration,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            prompt: None,
            repeat: false,
            timeout: Duration::from_secs(30),
            answer_delay: Duration::ZERO,
        }
    }
}

/// `[recording]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Record every call to `DATA/recordings/CALL-ID.wav`.
    pub enabled: bool,
}

/// Which speech recogniser listens to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AsrEngine {
    /// PocketSphinx, embedded (Debian's `pocketsphinx-en-us` model): grammar mode from the
    /// active `listen`, US English only.
    #[default]
    Pocketsphinx,
    /// Whisper (the `whisper` build feature and a ggml model file in `speech.whisper_model`).
    Whisper,
    /// No recogniser: callers use the keypad.
    None,
}

/// `[speech]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechConfig {
    /// The recogniser.
    pub asr: AsrEngine,
    /// PocketSphinx model folder (holding `en-us/`, `cmudict-en-us.dict`, `en-us.lm.bin`).
    pub pocketsphinx_model: PathBuf,
    /// Score PocketSphinx's acoustic model with the engine's SIMD scorer (same results as the
    /// library's, about twice the streams per core); `false` keeps the library's own.
    pub pocketsphinx_simd: bool,
    /// Whisper ggml model file.
    pub whisper_model: Option<PathBuf>,
    /// Recognition worker threads (inference never runs on the call tasks).
    pub workers: usize,
    /// Utterances recognised at once; above it a caller is asked for keys instead.
    pub max_streams: usize,
    /// Silence that ends an utterance.
    #[serde(with = "humantime")]
    pub end_silence: Duration,
    /// Shortest sound that counts as speech (coughs and clicks are shorter) and that may
    /// interrupt a prompt.
    #[serde(with = "humantime")]
    pub min_speech: Duration,
    /// Longest utterance; recognition is finalised at this length.
    #[serde(with = "humantime")]
    pub max_utterance: Duration,
}

impl Default for SpeechConfig {
    fn default() -> Self {
        SpeechConfig {
            asr: AsrEngine::Pocketsphinx,
            pocketsphinx_model: PathBuf::from("/usr/share/pocketsphinx/model/en-us"),
            pocketsphinx_simd: true,
            whisper_model: None,
            workers: 2,
            max_streams: 200,
            end_silence: Duration::from_millis(500),
            min_speech: Duration::from_millis(200),
            max_utterance: Duration::from_secs(15),
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Where calls are stored: a SQLite file path (relative to the config file), a
    /// `sqlite://PATH` URL or a `postgres://…` URL. Default: `DATA/ivr.db`.
    pub url: Option<String>,
}

impl StoreConfig {
    /// The store's location for a data folder.
    pub fn location(&self, data: &Path) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None => data.join("ivr.db").display().to_string(),
        }
    }
}

/// `[privacy]`: the keys that encrypt recordings, how long recordings and transcripts are
/// kept, and whether anything is stored unredacted. See docs/privacy.md.
///
/// ```toml
/// [privacy]
/// active_key = "2025q3"
/// recording_retention_days = 90
/// transcript_retention_days = 30
///
/// [privacy.recording_keys]
/// 2025q3 = { env = "IVR_KEY_2025Q3" }
/// 2025q2 = { file = "/etc/ivr/keys/2025q2.key" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Recording keys by key id (1–64 of `A–Z a–z 0–9 . _ -`): where each key's 32 bytes
    /// (base64 or 64 hex digits) are read from. The key itself is never written here.
    pub recording_keys: std::collections::BTreeMap<String, KeySource>,
    /// The key id that encrypts new recordings; the other keys only decrypt older files.
    /// Without it recordings are stored unencrypted.
    pub active_key: Option<String>,
    /// Recordings (and voicemail) are deleted this many days after they were written; unset
    /// keeps them until deleted by hand.
    pub recording_retention_days: Option<std::num::NonZeroU32>,
    /// Transcripts are deleted this many days after their call started (the call record
    /// stays); unset keeps them.
    pub transcript_retention_days: Option<std::num::NonZeroU32>,
    /// Store transcripts and slots as heard, without masking card numbers, IDs and accounts.
    /// Off by default; turning it on needs a legal basis (PCI DSS forbids it for card data).
    pub store_unredacted: bool,
    /// How often the retention job runs.
    #[serde(with = "humantime")]
    pub retention_interval: Duration,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            recording_keys: std::collections::BTreeMap::new(),
            active_key: None,
            recording_retention_days: None,
            transcript_retention_days: None,
            store_unredacted: false,
            retention_interval: Duration::from_secs(3600),
        }
    }
}

/// Where one recording key is read from: `{ env = "VAR" }` or `{ file = "/abs/path" }`. The
/// file or variable holds the key as base64 or 64 hex digits (surrounding whitespace ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum KeySource {
    /// An environment variable, read when the keyring is loaded.
    Env(String),
    /// A file (absolute path, readable only by the engine's user).
    File(PathBuf),
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the network. IPv4-mapped IPv6 addresses match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| {
            format!("`{s}` is not an IP address or CIDR network (e.g. 192.0.2.0/24)")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Durations written as `30s`, `500ms`, `2m`, `1h` (or a bare number of seconds).
mod humantime {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => super::parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `500ms`, `30s`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (write e.g. 500ms, 30s, 2m)"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use ms, s, m or h)"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{text}` is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Everything wrong with a configuration, reported at once.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown/mistyped fields.
    #[error("{origin}: {message}")]
    Syntax {
        /// The file, or "built-in defaults".
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The values are inconsistent.
    #[error("{origin}: invalid configuration:\n  - {}", problems.join("\n  - "))]
    Invalid {
        /// The file, or "built-in defaults".
        origin: String,
        /// One line per problem.
        problems: Vec<String>,
    },
}

/// Command-line overrides applied on top of the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--sip ADDR:PORT`
    pub sip: Option<SocketAddr>,
    /// `--grpc ADDR:PORT`
    pub grpc: Option<SocketAddr>,
    /// `--data DIR`
    pub data: Option<PathBuf>,
    /// `--plans DIR`
    pub plans: Option<PathBuf>,
}

impl Config {
    /// Reads, resolves and validates a configuration file.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml(&text, base, overrides).map_err(|e| e.with_path(path))
    }

    /// The configuration used when no file is given: loopback, the bundled demo prompt.
    pub fn embedded(overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config = Config::parse("", Path::new("."), overrides)?;
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        if config.server.plans.is_none() && examples.join("bank.yaml").is_file() {
            config.server.plans = Some(examples.clone());
            config.server.default_plan = Some("acme-bank".into());
        }
        let bundled = examples.join("prompts/welcome.wav");
        if bundled.is_file() {
            config.demo.prompt = Some(bundled);
        }
        config.trunks.push(TrunkConfig {
            name: "loopback".into(),
            allow: vec![
                Cidr {
                    addr: IpAddr::from([127, 0, 0, 0]),
                    prefix: 8,
                },
                Cidr {
                    addr: IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                    prefix: 128,
                },
            ],
            username: None,
            password: None,
            realm: None,
            outbound: None,
        });
        config.validate()
    }

    fn from_toml(text: &str, base: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        Config::parse(text, base, overrides)?.validate()
    }

    /// Parses and applies overrides and path resolution, without validating.
    fn parse(text: &str, base: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: "built-in defaults".into(),
            message: e.to_string().trim_end().to_string(),
        })?;
        if let Some(sip) = overrides.sip {
            config.sip.listen = sip;
        }
        if let Some(data) = &overrides.data {
            config.server.data = data.clone();
        } else {
            config.server.data = resolve(base, &config.server.data);
        }
        if let Some(plans) = &overrides.plans {
            config.server.plans = Some(plans.clone());
        } else if let Some(p) = &config.server.plans {
            config.server.plans = Some(resolve(base, p));
        }
        if let Some(p) = &config.demo.prompt {
            config.demo.prompt = Some(resolve(base, p));
        }
        config.speech.pocketsphinx_model = resolve(base, &config.speech.pocketsphinx_model);
        if let Some(listen) = overrides.grpc {
            match &mut config.api {
                Some(api) => api.listen = listen,
                None => {
                    config.api = Some(crate::api::ApiConfig {
                        listen,
                        tokens: Vec::new(),
                        tls: None,
                    })
                }
            }
        }
        if let Some(tls) = config.api.as_mut().and_then(|a| a.tls.as_mut()) {
            tls.cert = resolve(base, &tls.cert);
            tls.key = resolve(base, &tls.key);
        }
        if let Some(url) = &config.store.url {
            if !url.contains("://") {
                config.store.url = Some(resolve(base, Path::new(url)).display().to_string());
            }
        }
        if let Some(qa) = &mut config.qa {
            qa.rules = resolve(base, &qa.rules);
        }
        if let Some(p) = &config.speech.whisper_model {
            config.speech.whisper_model = Some(resolve(base, p));
        }
        Ok(config)
    }

    fn validate(self) -> Result<Config, ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(ConfigError::Invalid {
                origin: "built-in defaults".into(),
                problems,
            })
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.rtp.port_min == 0 || self.rtp.port_min >= self.rtp.port_max {
            p.push(format!(
                "rtp.port_min ({}) must be above 0 and below rtp.port_max ({})",
                self.rtp.port_min, self.rtp.port_max
            ));
        } else if usize::from(self.rtp.port_max - self.rtp.port_min) / 2 < self.limits.max_calls {
            p.push(format!(
                "rtp port range {}-{} holds {} calls but limits.max_calls is {}: widen the range or lower max_calls",
                self.rtp.port_min,
                self.rtp.port_max,
                (self.rtp.port_max - self.rtp.port_min) / 2,
                self.limits.max_calls
            ));
        }
        p.extend(self.amd.problems());
        if self.trunks.is_empty() {
            p.push("no [[trunks]]: add one with `allow = [\"ADDR/PREFIX\"]` or username/password, or no call is accepted".into());
        }
        for (i, t) in self.trunks.iter().enumerate() {
            if t.allow.is_empty() && t.username.is_none() {
                p.push(format!("trunks[{i}] ({}): give `allow` networks, digest `username`/`password`, or both", t.name));
            }
            if t.username.is_some() != t.password.is_some() {
                p.push(format!(
                    "trunks[{i}] ({}): `username` and `password` go together",
                    t.name
                ));
            }
        }
        for (i, r) in self.registrations.iter().enumerate() {
            match ivr_media::sip::Uri::parse(&r.aor) {
                Ok(u) if u.scheme == "sip" || u.scheme == "sips" => {}
                _ => p.push(format!(
                    "registrations[{i}].aor `{}` is not a SIP URI (e.g. sip:1000@provider.example)",
                    r.aor
                )),
            }
        }
        if self.limits.invite_rate == 0 {
            p.push("limits.invite_rate must be at least 1".into());
        }
        if let Some(prompt) = &self.demo.prompt {
            if !prompt.is_file() {
                p.push(format!("demo.prompt: {} does not exist", prompt.display()));
            }
        }
        if let Some(api) = &self.api {
            if let Err(errors) = api.credentials() {
                p.extend(errors.0.iter().map(|e| format!("api: {e}")));
            }
        }
        if let Some(acd) = &self.acd {
            p.extend(acd.problems());
        }
        let sp = &self.speech;
        if sp.workers == 0 || sp.max_streams == 0 {
            p.push("speech.workers and speech.max_streams must be at least 1".into());
        }
        if sp.asr == AsrEngine::Whisper && sp.whisper_model.is_none() {
            p.push("speech.asr = \"whisper\" needs speech.whisper_model = \"/path/to/ggml-base.bin\" (see docs/speech.md)".into());
        }
        if sp.end_silence < Duration::from_millis(100) || sp.min_speech < Duration::from_millis(20)
        {
            p.push(
                "speech.end_silence must be at least 100ms and speech.min_speech at least 20ms"
                    .into(),
            );
        }
        p
    }
}

impl ConfigError {
    fn with_path(self, path: &Path) -> ConfigError {
        let origin = path.display().to_string();
        match self {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax { origin, message },
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid { origin, problems },
            other => other,
        }
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matches_inside_and_rejects_outside() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let host: Cidr = "127.0.0.2".parse().unwrap();
        assert!(host.contains("127.0.0.2".parse().unwrap()));
        assert!(!host.contains("127.0.0.1".parse().unwrap()));
        let any: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("203.0.113.9".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn durations_accept_common_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5 fortnights").is_err());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            [rtp]
            port_min = 30000
            port_max = 20000
            [[trunks]]
            name = "carrier"
            username = "u"
            [limits]
            invite_rate = 0
        "#;
        let err = Config::from_toml(text, Path::new("."), &Overrides::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("rtp.port_min"), "{msg}");
        assert!(
            msg.contains("username` and `password` go together"),
            "{msg}"
        );
        assert!(msg.contains("invite_rate"), "{msg}");
    }

    #[test]
    fn unknown_fields_are_rejected_with_position() {
        let err = Config::from_toml(
            "[sip]\nlisten = \"127.0.0.1:5060\"\nlsiten = 1\n",
            Path::new("."),
            &Overrides::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("lsiten"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn overrides_win_over_the_file() {
        let o = Overrides {
            sip: Some("127.0.0.1:0".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::from_toml(
            "[sip]\nlisten = \"127.0.0.1:5070\"\n[[trunks]]\nname='l'\nallow=['127.0.0.1']\n",
            Path::new("/etc/ivr"),
            &o,
        )
        .unwrap();
        assert_eq!(c.sip.listen.port(), 0);
        assert_eq!(c.server.data, PathBuf::from("/etc/ivr/data"));
    }
}
