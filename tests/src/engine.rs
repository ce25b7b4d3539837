//! The engine under test: a real `ivr serve` process with a throw-away configuration.

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::{audio, ports, wait_until};

/// How to configure the engine. `Default` gives a permissive loopback trunk, a 1 s prompt, a 30 s
/// demo timeout and a 20 s drain.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Source networks of the single trunk.
    pub allow: Vec<String>,
    /// Length of the generated prompt in 20 ms frames.
    pub prompt_frames: usize,
    /// `demo.timeout`.
    pub demo_timeout: Duration,
    /// `demo.answer_delay` (ring this long before answering), when set.
    pub answer_delay: Option<Duration>,
    /// `server.drain_timeout`.
    pub drain_timeout: Duration,
    /// `recording.enabled`.
    pub recording: bool,
    /// `limits.max_calls` (the RTP block holds about 19 calls).
    pub max_calls: usize,
    /// `server.plans`: a folder of dial plans (without it calls run the demo).
    pub plans: Option<PathBuf>,
    /// `limits.invite_rate` (INVITEs per second from one source), when set.
    pub invite_rate: Option<u32>,
    /// TOML appended verbatim to the configuration.
    pub extra_toml: String,
    /// `rtp.timeout` (hang up a call without media), when set.
    pub rtp_timeout: Option<Duration>,
    /// The data folder, when it must outlive this engine (a restart); default: inside the
    /// engine's temporary folder.
    pub data: Option<PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            allow: vec!["127.0.0.0/8".into(), "::1/128".into()],
            prompt_frames: 50,
            demo_timeout: Duration::from_secs(30),
            answer_delay: None,
            drain_timeout: Duration::from_secs(20),
            recording: false,
            max_calls: 16,
            invite_rate: None,
            plans: None,
            extra_toml: String::new(),
            rtp_timeout: None,
            data: None,
        }
    }
}

/// Configuration of a trunk `carrier` whose outbound calls go to a SIPp phone on
/// `127.0.0.1:proxy_port` (calling number `+15550100`), for `EngineOptions::extra_toml`.
pub fn outbound_trunk(proxy_port: u16) -> String {
    format!(
        "[[trunks]]\nname = \"carrier\"\nallow = [\"127.0.0.2\"]\n[trunks.outbound]\n\
         proxy = \"127.0.0.1:{proxy_port}\"\ncaller_id = \"+15550100\"\n"
    )
}

/// One line of `DATA/events.jsonl`.
#[derive(Debug, Clone)]
pub struct Event(pub Value);

impl Event {
    /// The `event` field.
    pub fn name(&self) -> &str {
        self.str("event").unwrap_or("")
    }

    /// The `call_id` field.
    pub fn call_id(&self) -> &str {
        self.str("call_id").unwrap_or("")
    }

    /// A string field.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.as_str()
    }

    /// A numeric field.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.0.get(key)?.as_u64()
    }

    /// A numeric field as a float.
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.0.get(key)?.as_f64()
    }

    /// Whether this is a `digit` event.
    pub fn is_digit(&self) -> bool {
        self.name() == "digit"
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A running engine. Killed when dropped; if the test is failing then, its stderr and events are
/// printed first.
pub struct Engine {
    child: Child,
    dir: TempDir,
    data: PathBuf,
    /// The UDP SIP address from the `ready` line.
    pub sip_udp: SocketAddr,
    /// The gRPC API address from the `ready` line (when `[api]` is configured).
    pub grpc: Option<SocketAddr>,
    /// The Prometheus endpoint, when `[metrics]` is configured.
    pub metrics: Option<SocketAddr>,
    /// The TCP SIP address from the `ready` line.
    pub sip_tcp: SocketAddr,
    /// The RTP port range given to this engine.
    pub rtp_range: (u16, u16),
    prompt: Vec<i16>,
    stdout: Receiver<String>,
    exit: Option<ExitStatus>,
}

/// The `ivr` binary: `$IVR_BIN`, else beside the test executable, else under the target folder.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("IVR_BIN") {
        return PathBuf::from(p);
    }
    let exe = format!("ivr{}", std::env::consts::EXE_SUFFIX);
    let mut candidates = Vec::new();
    // target/<profile>/deps/e2e-<hash> → target/<profile>/ivr
    if let Ok(me) = std::env::current_exe() {
        if let Some(profile_dir) = me.parent().and_then(Path::parent) {
            candidates.push(profile_dir.join(&exe));
        }
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("debug").join(&exe));
    }
    candidates.push(
        crate::workspace_root()
            .join("target")
            .join("debug")
            .join(&exe),
    );
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the `ivr` binary is missing (looked at {candidates:?}); build it first with \
             `cargo build -p ivr-core --bin ivr`, or point IVR_BIN at it"
            )
        })
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn toml_duration(d: Duration) -> String {
    toml_str(&format!("{}ms", d.as_millis()))
}

impl Engine {
    /// Starts the engine with `opts` and waits (10 s at most) for its `ready` line.
    pub fn start(opts: EngineOptions) -> Engine {
        let bin = binary();
        let dir = tempfile::Builder::new()
            .prefix("ivr-e2e-")
            .tempdir()
            .expect("create a temporary folder");
        let prompt_path = dir.path().join("prompt.wav");
        let prompt = audio::sweep_prompt(&prompt_path, opts.prompt_frames);
        let data = opts.data.clone().unwrap_or_else(|| dir.path().join("data"));
        let rtp_range = ports::rtp_block();
        let allow: Vec<String> = opts.allow.iter().map(|a| toml_str(a)).collect();
        let mut config = format!(
            "[server]\ndata = {data}\ndrain_timeout = {drain}\n{plans}\n\
             [sip]\nlisten = \"127.0.0.1:0\"\nuser_agent = \"ivr-e2e\"\n\n\
             [rtp]\nbind = \"127.0.0.1\"\nport_min = {min}\nport_max = {max}\nsymmetric = true\n{rtp_timeout}\n\
             [[trunks]]\nname = \"e2e\"\nallow = [{allow}]\n\n\
             [limits]\nmax_calls = {max_calls}\n{invite_rate}\n\
             [demo]\nprompt = {prompt}\ntimeout = {timeout}\n",
            data = toml_str(&data.to_string_lossy()),
            drain = toml_duration(opts.drain_timeout),
            min = rtp_range.0,
            rtp_timeout = opts
                .rtp_timeout
                .map(|d| format!("timeout = {}\n", toml_duration(d)))
                .unwrap_or_default(),
            max = rtp_range.1,
            allow = allow.join(", "),
            prompt = toml_str(&prompt_path.to_string_lossy()),
            timeout = toml_duration(opts.demo_timeout),
            max_calls = opts.max_calls,
            plans = opts
                .plans
                .as_ref()
                .map(|p| format!("plans = {}\n", toml_str(&p.to_string_lossy())))
                .unwrap_or_default(),
            invite_rate = opts
                .invite_rate
                .map(|r| format!("invite_rate = {r}\n"))
                .unwrap_or_default(),
        );
        if let Some(d) = opts.answer_delay {
            config.push_str(&format!("answer_delay = {}\n", toml_duration(d)));
        }
        config.push_str(&format!(
            "\n[recording]\nenabled = {}\n\n{}\n",
            opts.recording, opts.extra_toml
        ));
        let config_path = dir.path().join("ivr.toml");
        fs::write(&config_path, &config).expect("write the engine configuration");
        let stderr =
            fs::File::create(dir.path().join("stderr.log")).expect("create the stderr log");

        let mut child = Command::new(&bin)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--sip")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(&data)
            .env(
                "RUST_LOG",
                std::env::var("IVR_E2E_LOG").unwrap_or_else(|_| "debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));

        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let mut engine = Engine {
            child,
            dir,
            data,
            sip_udp: SocketAddr::from(([0, 0, 0, 0], 0)),
            sip_tcp: SocketAddr::from(([0, 0, 0, 0], 0)),
            grpc: None,
            metrics: None,
            rtp_range,
            prompt,
            stdout,
            exit: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match engine.stdout.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if v.get("event").and_then(Value::as_str) != Some("ready") {
                        continue;
                    }
                    let addr = |k: &str| -> SocketAddr {
                        v.get(k)
                            .and_then(Value::as_str)
                            .and_then(|s| s.parse().ok())
                            .unwrap_or_else(|| panic!("the ready line has no usable `{k}`: {line}"))
                    };
                    engine.sip_udp = addr("sip_udp");
                    engine.sip_tcp = addr("sip_tcp");
                    engine.grpc = v
                        .get("grpc")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok());
                    engine.metrics = v
                        .get("metrics")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok());
                    return engine;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {}
            }
            if let Ok(Some(status)) = engine.child.try_wait() {
                engine.exit = Some(status);
                panic!(
                    "the engine exited before it was ready ({status}); stderr:\n{}",
                    engine.stderr()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "the engine printed no ready line within 10 s; stderr:\n{}",
                    engine.stderr()
                );
            }
        }
    }

    /// The engine's temporary folder (config, prompt, data, stderr.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The data folder (`events.jsonl`, `recordings/`).
    pub fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }

    /// The prompt's samples (8 kHz, a multiple of 160).
    pub fn prompt(&self) -> &[i16] {
        &self.prompt
    }

    /// The engine's stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Every complete line of `events.jsonl` so far (a line still being written is left out).
    pub fn events(&self) -> Vec<Event> {
        let text = fs::read_to_string(self.data_dir().join("events.jsonl")).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |i| &text[..i]);
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                Event(
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("events.jsonl line is not JSON ({e}): {l}")),
                )
            })
            .collect()
    }

    /// The events named `name`.
    pub fn events_named(&self, name: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.name() == name)
            .collect()
    }

    /// The first event satisfying `pred`, waiting up to `timeout`.
    pub fn try_wait_event(
        &self,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Option<Event> {
        wait_until(timeout, || self.events().into_iter().find(|e| pred(e)))
    }

    /// The first event named `name` satisfying `pred`; panics with the events so far after
    /// `timeout`.
    pub fn wait_event(
        &self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Event {
        self.try_wait_event(timeout, |e| e.name() == name && pred(e))
            .unwrap_or_else(|| {
                panic!(
                    "no `{name}` event as expected within {timeout:?}; events:\n{}",
                    self.events_text()
                )
            })
    }

    /// Waits until `count` events named `name` exist; returns them (panics after `timeout`).
    pub fn wait_events(&self, name: &str, count: usize, timeout: Duration) -> Vec<Event> {
        wait_until(timeout, || {
            Some(self.events_named(name)).filter(|v| v.len() >= count)
        })
        .unwrap_or_else(|| {
            panic!(
                "fewer than {count} `{name}` events within {timeout:?}; events:\n{}",
                self.events_text()
            )
        })
    }

    /// The events as text, one per line (for failure messages).
    pub fn events_text(&self) -> String {
        self.events().iter().map(|e| format!("  {e}\n")).collect()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run `kill`");
        assert!(status.success(), "kill -TERM {} failed", self.child.id());
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exit = Some(status);
                false
            }
            _ => true,
        }
    }

    /// Waits for the process to exit; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        while self.is_running() {
            assert!(
                start.elapsed() < timeout,
                "the engine did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.exit
            .expect("is_running returned false, so the status is stored")
    }

    /// Everything a failing test should show about the engine.
    pub fn diagnostics(&self) -> String {
        let stderr = self.stderr();
        let tail: Vec<&str> = stderr.lines().rev().take(200).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "---- engine {} (sip {} / tcp {}, rtp {}-{}) stderr (last 200 lines):\n{}\n---- events:\n{}",
            self.dir.path().display(),
            self.sip_udp,
            self.sip_tcp,
            self.rtp_range.0,
            self.rtp_range.1,
            tail.join("\n"),
            self.events_text()
        )
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
            if std::env::var_os("IVR_E2E_KEEP").is_some() {
                let kept = std::mem::replace(
                    &mut self.dir,
                    TempDir::new().expect("create a temporary folder"),
                );
                eprintln!("kept {}", kept.keep().display());
            }
        }
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
