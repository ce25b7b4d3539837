//! SIPp runs: a scenario from `tests/scenarios/` against the engine, with every message traced.
//!
//! Every run is bounded: SIPp gets `-timeout` (20 s unless changed) with `-timeout_error`, and
//! the harness kills it if it outlives that by 10 s.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ports;
use crate::sip::SipMessage;

/// SIP transport for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP, one socket (`-t u1`).
    Udp,
    /// TCP, one connection (`-t t1`).
    Tcp,
}

/// The SDP offer a scenario puts in its INVITE, through the keys `rtp_port`, `fmts` and
/// `rtpmaps`.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The audio port (the test's [`crate::RtpPeer`] or SIPp's own media port).
    pub port: u16,
    /// Audio payload types with their `rtpmap` encodings, in preference order.
    pub codecs: Vec<(u8, &'static str)>,
    /// The telephone-event payload type, if offered.
    pub telephone_event: Option<u8>,
}

impl Offer {
    /// PCMU, PCMA and telephone-event/101.
    pub fn new(port: u16) -> Offer {
        Offer {
            port,
            codecs: vec![(0, "PCMU/8000"), (8, "PCMA/8000")],
            telephone_event: Some(101),
        }
    }

    /// Replaces the audio codecs.
    pub fn codecs(mut self, codecs: &[(u8, &'static str)]) -> Offer {
        self.codecs = codecs.to_vec();
        self
    }

    /// PCMU only, no telephone-event (DTMF must then be detected in-band).
    pub fn pcmu_only(port: u16) -> Offer {
        Offer {
            port,
            codecs: vec![(0, "PCMU/8000")],
            telephone_event: None,
        }
    }

    /// Sets or removes telephone-event.
    pub fn telephone_event(mut self, pt: Option<u8>) -> Offer {
        self.telephone_event = pt;
        self
    }

    fn fmts(&self) -> String {
        let mut f: Vec<String> = self.codecs.iter().map(|(pt, _)| pt.to_string()).collect();
        f.extend(self.telephone_event.map(|pt| pt.to_string()));
        f.join(" ")
    }

    fn rtpmaps(&self) -> String {
        let mut s = String::new();
        for (pt, enc) in &self.codecs {
            let _ = write!(s, "\r\na=rtpmap:{pt} {enc}");
        }
        if let Some(pt) = self.telephone_event {
            let _ = write!(
                s,
                "\r\na=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16"
            );
        }
        s
    }
}

/// A SIPp run being set up.
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: String,
    template: Vec<(String, String)>,
    target: SocketAddr,
    transport: Transport,
    calls: u32,
    limit: Option<u32>,
    rate: Option<u32>,
    keys: Vec<(String, String)>,
    pause: Option<Duration>,
    local_ip: String,
    media_port: u16,
    timeout: Duration,
    port: Option<u16>,
    rtp_echo: bool,
}

impl Sipp {
    /// A run of `tests/scenarios/<scenario>.xml` against `target`: one call over UDP from
    /// 127.0.0.1, offering PCMU/PCMA/telephone-event at SIPp's own media port.
    pub fn new(scenario: &str, target: SocketAddr) -> Sipp {
        let media_port = ports::rtp_block().0;
        Sipp {
            scenario: scenario.to_string(),
            template: Vec::new(),
            target,
            transport: Transport::Udp,
            calls: 1,
            limit: None,
            rate: None,
            keys: Vec::new(),
            pause: None,
            local_ip: "127.0.0.1".into(),
            media_port,
            timeout: Duration::from_secs(20),
            port: None,
            rtp_echo: false,
        }
        .offer(&Offer::new(media_port))
    }

    /// SIPp's own media port (`-mp`): where `play_pcap_audio` sends from.
    pub fn media_port(&self) -> u16 {
        self.media_port
    }

    /// Sets the SDP offer.
    pub fn offer(self, offer: &Offer) -> Sipp {
        self.key("rtp_port", &offer.port.to_string())
            .key("fmts", &offer.fmts())
            .key("rtpmaps", &offer.rtpmaps())
    }

    /// Sets a `-key` (used as `[name]` in the scenario), replacing an earlier value.
    pub fn key(mut self, name: &str, value: &str) -> Sipp {
        self.keys.retain(|(k, _)| k != name);
        self.keys.push((name.into(), value.into()));
        self
    }

    /// Replaces `@NAME@` in the scenario text before SIPp reads it (for what SIPp resolves at
    /// load time, such as pcap paths and methods).
    pub fn template(mut self, name: &str, value: &str) -> Sipp {
        self.template.push((format!("@{name}@"), value.into()));
        self
    }

    /// The transport.
    pub fn transport(mut self, t: Transport) -> Sipp {
        self.transport = t;
        self
    }

    /// Total calls (`-m`), all allowed at once (`-l`).
    pub fn calls(mut self, n: u32) -> Sipp {
        self.calls = n;
        self.limit = Some(n);
        self
    }

    /// Calls per second (`-r`).
    pub fn rate(mut self, r: u32) -> Sipp {
        self.rate = Some(r);
        self
    }

    /// The length of `<pause/>` without attributes (`-d`).
    pub fn pause(mut self, d: Duration) -> Sipp {
        self.pause = Some(d);
        self
    }

    /// The local address (`-i`, `-mi`).
    pub fn local_ip(mut self, ip: &str) -> Sipp {
        self.local_ip = ip.into();
        self
    }

    /// SIPp's own SIP port (`-p`); a free one by default.
    pub fn local_port(mut self, port: u16) -> Sipp {
        self.port = Some(port);
        self
    }

    /// Echoes the RTP received on SIPp's media port back to its sender (`-rtp_echo`): a phone
    /// whose user repeats everything they hear.
    pub fn rtp_echo(mut self) -> Sipp {
        self.rtp_echo = true;
        self
    }

    /// The global timeout (`-timeout`), 20 s by default.
    pub fn timeout(mut self, d: Duration) -> Sipp {
        self.timeout = d;
        self
    }

    /// Starts SIPp and returns at once.
    pub fn spawn(self) -> SippChild {
        let dir = tempfile::Builder::new()
            .prefix("sipp-e2e-")
            .tempdir()
            .expect("create a temporary folder");
        let source = crate::workspace_root()
            .join("tests")
            .join("scenarios")
            .join(format!("{}.xml", self.scenario));
        let mut xml = fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("read {}: {e}", source.display()));
        for (from, to) in &self.template {
            xml = xml.replace(from, to);
        }
        assert!(
            !xml.contains("@PCAP@") && !xml.contains("@METHOD@") && !xml.contains("@KEYS@"),
            "{}: a template parameter is unset",
            self.scenario
        );
        let scenario = dir.path().join(format!("{}.xml", self.scenario));
        fs::write(&scenario, xml).expect("write the scenario");

        let port = self
            .port
            .unwrap_or_else(|| ports::free_sip_port(&self.local_ip));
        let d = dir.path();
        let mut cmd = Command::new("sipp");
        cmd.arg(self.target.to_string())
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", &self.local_ip, "-p", &port.to_string()])
            .args(["-mi", &self.local_ip, "-mp", &self.media_port.to_string()])
            .args([
                "-t",
                if self.transport == Transport::Tcp {
                    "t1"
                } else {
                    "u1"
                },
            ])
            .args(["-m", &self.calls.to_string()])
            .args([
                "-timeout",
                &format!("{}s", self.timeout.as_secs().max(1)),
                "-timeout_error",
            ])
            .args([
                "-nostdin",
                "-trace_err",
                "-trace_msg",
                "-trace_logs",
                "-trace_screen",
            ])
            .arg("-error_file")
            .arg(d.join("errors.log"))
            .arg("-message_file")
            .arg(d.join("messages.log"))
            .arg("-log_file")
            .arg(d.join("logs.log"))
            .arg("-screen_file")
            .arg(d.join("screen.log"));
        if let Some(l) = self.limit {
            cmd.args(["-l", &l.to_string()]);
        }
        if let Some(r) = self.rate {
            cmd.args(["-r", &r.to_string()]);
        }
        if self.rtp_echo {
            cmd.arg("-rtp_echo");
        }
        if let Some(p) = self.pause {
            cmd.args(["-d", &p.as_millis().to_string()]);
        }
        for (k, v) in &self.keys {
            cmd.args(["-key", k, v]);
        }
        let stdout = fs::File::create(d.join("stdout.log")).expect("create SIPp's stdout log");
        let stderr = stdout.try_clone().expect("clone a file handle");
        let command_line = format!("{cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `sipp` ({e}); install sip-tester (scripts/setup.sh does)")
            });
        SippChild {
            child,
            dir,
            command_line,
            deadline: Instant::now() + self.timeout + Duration::from_secs(10),
        }
    }

    /// Runs SIPp to the end.
    pub fn run(self) -> SippRun {
        self.spawn().wait()
    }
}

/// A SIPp process still running.
pub struct SippChild {
    child: Child,
    dir: TempDir,
    command_line: String,
    deadline: Instant,
}

impl SippChild {
    /// Ends SIPp at once, without a BYE (a caller whose line drops).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for SIPp to finish (killing it if it outlives its own timeout by 10 s).
    pub fn wait(mut self) -> SippRun {
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("poll SIPp") {
                break s;
            }
            if Instant::now() >= self.deadline {
                let _ = self.child.kill();
                let s = self.child.wait().expect("reap SIPp");
                eprintln!("SIPp outlived its -timeout and was killed");
                break s;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        SippRun {
            status,
            messages: parse_trace(&read("messages.log")),
            errors: read("errors.log"),
            logs: read("logs.log"),
            screen: read("screen.log"),
            stdout: read("stdout.log"),
            command_line: self.command_line,
            _dir: self.dir,
        }
    }
}

/// A finished SIPp run.
pub struct SippRun {
    /// SIPp's exit status: 0 when every call succeeded, 1 when one failed, others on fatal errors.
    pub status: ExitStatus,
    /// Every SIP message sent and received, in order.
    pub messages: Vec<SipMessage>,
    /// Unexpected messages and errors (`-trace_err`).
    pub errors: String,
    /// `<log>` action output.
    pub logs: String,
    /// The final statistics screen.
    pub screen: String,
    /// SIPp's stdout and stderr.
    pub stdout: String,
    /// The command that ran.
    pub command_line: String,
    _dir: TempDir,
}

impl SippRun {
    /// Whether every call of the scenario succeeded.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with the run's evidence unless every call succeeded.
    pub fn assert_success(&self) {
        assert!(
            self.success(),
            "SIPp failed ({}):\n{}",
            self.status,
            self.diagnostics()
        );
    }

    /// Messages the engine sent.
    pub fn received(&self) -> impl Iterator<Item = &SipMessage> {
        self.messages.iter().filter(|m| !m.outgoing)
    }

    /// The first response with `status` received.
    pub fn response(&self, status: u16) -> Option<&SipMessage> {
        self.received().find(|m| m.status() == Some(status))
    }

    /// The responses received to requests of `method`.
    pub fn responses_to<'a>(
        &'a self,
        method: &'a str,
    ) -> impl Iterator<Item = &'a SipMessage> + 'a {
        self.received()
            .filter(move |m| m.status().is_some() && m.cseq_method() == Some(method))
    }

    /// The requests the engine sent with `method`.
    pub fn requests<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'a SipMessage> + 'a {
        self.received().filter(move |m| m.method() == Some(method))
    }

    /// The Call-IDs of the calls SIPp placed.
    pub fn call_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for m in self.messages.iter().filter(|m| m.outgoing) {
            if let Some(id) = m.header("Call-ID") {
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_string());
                }
            }
        }
        ids
    }

    /// Everything a failing test should show about the run.
    pub fn diagnostics(&self) -> String {
        let mut s = format!(
            "---- sipp: {}\n---- status: {}\n",
            self.command_line, self.status
        );
        let _ = writeln!(s, "---- errors:\n{}", self.errors);
        let _ = writeln!(s, "---- logs:\n{}", self.logs);
        let _ = writeln!(s, "---- messages ({}):", self.messages.len());
        for m in &self.messages {
            let _ = writeln!(
                s,
                "{} {}",
                if m.outgoing { ">>" } else { "<<" },
                m.text.trim_end().replace('\n', "\n   ")
            );
        }
        let tail: Vec<&str> = self.stdout.lines().rev().take(40).collect();
        let _ = writeln!(
            s,
            "---- stdout (tail):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        s
    }
}

/// Splits SIPp's `-trace_msg` file into messages.
///
/// Each entry starts with a line of dashes and a timestamp, then `UDP message sent (N bytes):` or
/// `TCP message received [N] bytes :`, a blank line and the message.
pub fn parse_trace(text: &str) -> Vec<SipMessage> {
    let mut out = Vec::new();
    for block in text.split("\n-----------------------------------------------") {
        let mut lines = block.splitn(3, '\n');
        let _timestamp = lines.next();
        let Some(kind) = lines.next() else { continue };
        let Some(body) = lines.next() else { continue };
        let outgoing = if kind.contains("message sent") {
            true
        } else if kind.contains("message received") {
            false
        } else {
            continue;
        };
        let text = body
            .trim_start_matches(['\r', '\n'])
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        if text.trim().is_empty() {
            continue;
        }
        out.push(SipMessage { outgoing, text });
    }
    out
}

/// Where scenario files live.
pub fn scenarios_dir() -> PathBuf {
    crate::workspace_root().join("tests").join("scenarios")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_splits_into_messages() {
        let t = "----------------------------------------------- 2026-11-20 23:52:46.764209\n\
                 UDP message sent (20 bytes):\n\nOPTIONS sip:a SIP/2.0\nCSeq: 1 OPTIONS\n\n\n\
                 ----------------------------------------------- 2026-11-20 23:52:46.764488\n\
                 TCP message received [10] bytes :\n\nSIP/2.0 200 OK\nCSeq: 1 OPTIONS\nAllow: INVITE\n\n";
        let m = parse_trace(t);
        assert_eq!(m.len(), 2);
        assert!(m[0].outgoing);
        assert_eq!(m[0].method(), Some("OPTIONS"));
        assert!(!m[1].outgoing);
        assert_eq!(m[1].status(), Some(200));
        assert_eq!(m[1].header("allow"), Some("INVITE"));
    }
}
