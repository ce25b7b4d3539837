//! One call: a task that owns the call's media and its place in the flow.
//!
//! ```text
//!   IncomingCall ──▶ Ringing ──(answer delay)──▶ Answering ──ACK──▶ Talking ──▶ Ended
//!                      │ CANCEL                     │ no ACK (Timer H)     │ BYE either side,
//!                      ▼                            ▼                      │ '#', timeout, drain
//!                    Ended                        Ended                    ▼
//! ```
//!
//! The task is woken by three things only: its RTP/RTCP sockets, the shared media clock, and its
//! command channel from the SIP task. Nothing else touches its state. Inbound RTP goes straight
//! through: parse → (telephone-event → RFC 4733 receiver) or (audio → jitter buffer); on each clock
//! tick one frame leaves the jitter buffer for the in-band DTMF detector and the recorder, and one
//! pre-encoded prompt frame goes out. No allocation happens per packet.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_media::audio::recorder::StereoRecorder;
use ivr_media::audio::wav::EncodedPrompt;
use ivr_media::audio::Frame8k;
use ivr_media::codec::g711::{self, G711};
use ivr_media::dtmf::{DigitEvent, DtmfMethod, InbandDetector, Rfc4733Receiver};
use ivr_media::rtp::rtcp::{ntp_from_system_time, MAX_REPORT_LEN};
use ivr_media::rtp::{self, JitterBuffer, JitterConfig, Playout, RtcpConfig, RtcpSession, Sender};

use crate::playout::Playout as PlayQueue;
use ivr_media::sdp::{Codec, Direction, Negotiated};
use ivr_media::sip::CallKey;
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::clock::{MediaClock, Tick, FRAME};
use crate::events::EventLog;
use crate::ports::RtpPorts;

/// What the SIP task tells a call.
#[derive(Debug)]
pub enum CallEvent {
    /// The caller acknowledged our 200 OK.
    Confirmed,
    /// The caller cancelled before we answered.
    Cancelled,
    /// The caller hung up.
    Bye,
    /// The dialog ended without a BYE from the caller (ACK timeout, transport error).
    Terminated(&'static str),
    /// A digit arrived by SIP INFO.
    Digit(char),
    /// A re-INVITE changed the remote media.
    MediaUpdate {
        /// Where the caller now wants RTP.
        remote: Option<SocketAddr>,
        /// The caller's direction (`SendOnly`/`Inactive` = hold).
        direction: Direction,
    },
    /// Hang up now (drain timeout or second SIGTERM).
    Shutdown,
}

/// What a call asks of the SIP task.
#[derive(Debug)]
pub enum CallRequest {
    /// Send the prepared 200 OK.
    Answer(CallKey),
    /// The call task is ending; `hangup` asks for a BYE (or a 480 if not yet answered).
    Finished {
        /// The call.
        call: CallKey,
        /// Whether the engine ends the dialog.
        hangup: bool,
    },
}

/// Everything a call task needs.
pub struct CallSetup {
    /// The SIP task's handle for the call.
    pub key: CallKey,
    /// The SIP Call-ID (for events).
    pub call_id: String,
    /// Sockets.
    pub ports: RtpPorts,
    /// Negotiated media.
    pub media: Negotiated,
    /// Prompt played after answer.
    pub prompt: Option<Arc<EncodedPrompt>>,
    /// Replay the prompt until a key is pressed.
    pub repeat: bool,
    /// Ring time before answering.
    pub answer_delay: Duration,
    /// Hang up this long after answer.
    pub timeout: Duration,
    /// Where to record, if enabled.
    pub recording: Option<PathBuf>,
    /// Latch RTP to the caller's real source.
    pub symmetric: bool,
    /// Event log.
    pub events: EventLog,
    /// Requests to the SIP task.
    pub sip: mpsc::UnboundedSender<CallRequest>,
    /// Shared media clock.
    pub clock: MediaClock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ringing,
    Answering,
    Talking,
}

/// At most this many missed ticks are made up after a stall; beyond it the call skips ahead.
const MAX_CATCH_UP: u64 = 5;
/// RTP packets are at most this big (G.711 20 ms = 172 bytes; allow generous senders).
const MAX_PACKET: usize = 1500;

/// Runs the call to its end.
pub async fn run(setup: CallSetup, mut commands: mpsc::UnboundedReceiver<CallEvent>) {
    let CallSetup {
        key,
        call_id,
        ports,
        media,
        prompt,
        repeat,
        answer_delay,
        timeout,
        recording,
        symmetric,
        events,
        sip,
        mut clock,
    } = setup;
    let span = tracing::info_span!("call", call_id = %call_id, key = %key);
    let _enter = span.enter();
    let (rtp_sock, rtcp_sock) = match (
        ports.rtp.try_clone().and_then(UdpSocket::from_std),
        ports.rtcp.try_clone().and_then(UdpSocket::from_std),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            warn!(error = %e, "cannot register RTP sockets");
            events.emit(&call_id, "ended", json!({"error": "rtp socket"}));
            let _ = sip.send(CallRequest::Finished {
                call: key,
                hangup: true,
            });
            return;
        }
    };
    drop(_enter);

    let mut call = Call::new(&call_id, &media, recording.as_deref(), &events);
    let start = clock.now();
    let mut last_tick = start.seq;
    let mut answered_at: Option<u64> = None;
    let answer_ticks = ticks(answer_delay);
    let timeout_ticks = ticks(timeout);
    let mut state = State::Ringing;
    let mut buf = [0u8; MAX_PACKET];
    let mut rtcp_buf = [0u8; MAX_PACKET];
    let mut cause: Option<(&'static str, &'static str)> = None;
    let mut engine_hangup = false;
    let _enter = span.enter();

    loop {
        tokio::select! {
            biased;
            cmd = commands.recv() => {
                match cmd {
                    Some(CallEvent::Confirmed) => {
                        if state == State::Answering {
                            state = State::Talking;
                            if let Some(p) = &prompt {
                                call.playout.push(p.clone(), repeat, true);
                            }
                        }
                    }
                    Some(CallEvent::Cancelled) => {
                        events.emit(&call_id, "cancelled", json!({}));
                        break;
                    }
                    Some(CallEvent::Bye) => { cause = Some(("caller", "bye")); break; }
                    Some(CallEvent::Terminated(why)) => { cause = Some(("engine", why)); break; }
                    Some(CallEvent::Digit(d)) => {
                        if call.digit(DigitEvent { digit: d, method: DtmfMethod::SipInfo, duration_ms: 0, at: Instant::now() }) {
                            cause = Some(("engine", "hash"));
                            engine_hangup = true;
                            break;
                        }
                    }
                    Some(CallEvent::MediaUpdate { remote, direction }) => call.update_media(remote, direction),
                    Some(CallEvent::Shutdown) | None => {
                        cause = Some(("engine", "drain"));
                        engine_hangup = true;
                        break;
                    }
                }
            }
            r = rtp_sock.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    let now = Instant::now();
                    if let Some(ev) = call.on_rtp(now, from, &buf[..n], symmetric) {
                        if call.digit(ev) { cause = Some(("engine", "hash")); engine_hangup = true; break; }
                    }
                    // Drain whatever else is queued without another trip through the reactor.
                    let mut hash = false;
                    while let Ok((n, from)) = rtp_sock.try_recv_from(&mut buf) {
                        if let Some(ev) = call.on_rtp(now, from, &buf[..n], symmetric) {
                            if call.digit(ev) { hash = true; break; }
                        }
                    }
                    if hash { cause = Some(("engine", "hash")); engine_hangup = true; break; }
                }
            }
            r = rtcp_sock.recv_from(&mut rtcp_buf) => {
                if let Ok((n, _)) = r {
                    let _ = call.rtcp.on_rtcp(Instant::now(), &rtcp_buf[..n]);
                }
            }
            tick = clock.next() => {
                let Some(tick) = tick else { cause = Some(("engine", "drain")); engine_hangup = true; break; };
                let behind = tick.seq.saturating_sub(last_tick);
                let todo = behind.min(MAX_CATCH_UP);
                last_tick = tick.seq;
                let mut hash = false;
                for i in 0..todo {
                    let at = tick.at - FRAME * u32::try_from(todo - 1 - i).unwrap_or(0);
                    if let Some(ev) = call.on_tick(Tick { seq: tick.seq, at }, &rtp_sock) {
                        if call.digit(ev) { hash = true; break; }
                    }
                }
                if hash { cause = Some(("engine", "hash")); engine_hangup = true; break; }
                call.send_rtcp(tick.at, &rtp_sock, &rtcp_sock);
                let elapsed = tick.seq - start.seq;
                if state == State::Ringing && elapsed >= answer_ticks {
                    state = State::Answering;
                    answered_at = Some(tick.seq);
                    let _ = sip.send(CallRequest::Answer(key));
                }
                if let Some(at) = answered_at {
                    if tick.seq - at >= timeout_ticks {
                        cause = Some(("engine", "timeout"));
                        engine_hangup = true;
                        break;
                    }
                }
            }
        }
    }

    if let Some((by, why)) = cause {
        info!(by, cause = why, "hangup");
        events.emit(&call_id, "hangup", json!({"by": by, "cause": why}));
    }
    let _ = sip.send(CallRequest::Finished {
        call: key,
        hangup: engine_hangup,
    });
    let answered_ms = answered_at.map(|a| (last_tick.saturating_sub(a)) * 20);
    call.finish(answered_ms.unwrap_or(0));
    drop(ports);
}

fn ticks(d: Duration) -> u64 {
    (d.as_millis() / FRAME.as_millis()) as u64
}

/// The media state of one call.
struct Call<'a> {
    call_id: &'a str,
    events: &'a EventLog,
    codec: G711,
    payload_type: u8,
    telephone_event_pt: Option<u8>,
    remote: Option<SocketAddr>,
    latched: bool,
    on_hold: bool,
    sender: Sender,
    jitter: JitterBuffer,
    rtcp: RtcpSession,
    remote_rtcp: Option<SocketAddr>,
    rtcp_mux: bool,
    rfc4733: Rfc4733Receiver,
    inband: Option<InbandDetector>,
    last_frame: Frame8k,
    playout: PlayQueue,
    recorder: Option<StereoRecorder>,
    dropped_foreign: u64,
    dropped_unknown_pt: u64,
    dropped_malformed: u64,
    out: [u8; MAX_PACKET],
}

impl<'a> Call<'a> {
    fn new(
        call_id: &'a str,
        media: &Negotiated,
        recording: Option<&std::path::Path>,
        events: &'a EventLog,
    ) -> Call<'a> {
        let codec = match media.codec {
            Codec::Pcmu => G711::Pcmu,
            Codec::Pcma => G711::Pcma,
        };
        let recorder = recording.and_then(|p| match StereoRecorder::create(p) {
            Ok(r) => Some(r),
            Err(e) => {
                warn!(error = %e, "recording disabled for this call");
                None
            }
        });
        let sender = Sender::random();
        let now = Instant::now();
        let rtcp = RtcpSession::new(
            RtcpConfig::new(sender.ssrc(), "ivr"),
            now,
            ntp_from_system_time(std::time::SystemTime::now()),
        );
        Call {
            call_id,
            events,
            codec,
            payload_type: media.payload_type,
            telephone_event_pt: media.telephone_event_pt,
            remote: media.remote_rtp,
            latched: false,
            on_hold: matches!(media.direction, Direction::SendOnly | Direction::Inactive),
            sender,
            jitter: JitterBuffer::new(JitterConfig::default()),
            rtcp,
            remote_rtcp: media.remote_rtcp,
            rtcp_mux: media.rtcp_mux,
            rfc4733: Rfc4733Receiver::new(),
            inband: media.telephone_event_pt.is_none().then(InbandDetector::new),
            last_frame: Frame8k::silence(),
            playout: PlayQueue::default(),
            recorder,
            dropped_foreign: 0,
            dropped_unknown_pt: 0,
            dropped_malformed: 0,
            out: [0; MAX_PACKET],
        }
    }

    /// Handles one digit; returns true when the call should end (`#` in the demo).
    fn digit(&mut self, ev: DigitEvent) -> bool {
        let method = match ev.method {
            DtmfMethod::Rfc4733 => "rfc4733",
            DtmfMethod::Inband => "inband",
            DtmfMethod::SipInfo => "sip_info",
        };
        info!(method, "digit");
        self.events.emit(
            self.call_id,
            "digit",
            json!({"digit": ev.digit.to_string(), "method": method}),
        );
        // A key press interrupts the prompt (barge-in) and ends a repetition.
        self.playout.barge_in();
        ev.digit == '#'
    }

    fn update_media(&mut self, remote: Option<SocketAddr>, direction: Direction) {
        let hold =
            matches!(direction, Direction::SendOnly | Direction::Inactive) || remote.is_none();
        if hold != self.on_hold {
            self.events.emit(
                self.call_id,
                if hold { "hold" } else { "unhold" },
                json!({}),
            );
            if !hold {
                self.sender.set_marker_next();
            }
        }
        self.on_hold = hold;
        if let Some(r) = remote {
            if Some(r) != self.remote {
                self.remote = Some(r);
                self.latched = false;
            }
        }
    }

    fn on_rtp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet: &[u8],
        symmetric: bool,
    ) -> Option<DigitEvent> {
        let (header, payload) = match rtp::parse(packet) {
            Ok(p) => p,
            Err(rtp::RtpError::Rtcp) if self.rtcp_mux => {
                let _ = self.rtcp.on_rtcp(now, packet);
                return None;
            }
            Err(_) => {
                self.dropped_malformed += 1;
                return None;
            }
        };
        if Some(from) != self.remote {
            if symmetric && !self.latched {
                debug!(%from, "latched RTP to the caller's source address");
                self.remote = Some(from);
            } else {
                self.dropped_foreign += 1;
                return None;
            }
        }
        self.latched = true;
        if Some(header.payload_type) == self.telephone_event_pt {
            self.rtcp.on_rtp_received(now, &header);
            return self
                .rfc4733
                .push(now, header.timestamp, header.marker, payload);
        }
        if header.payload_type != self.payload_type {
            self.dropped_unknown_pt += 1;
            return None;
        }
        self.rtcp.on_rtp_received(now, &header);
        self.jitter.push(now, &header, payload);
        None
    }

    fn on_tick(&mut self, tick: Tick, sock: &UdpSocket) -> Option<DigitEvent> {
        let now = tick.at;
        let mut digit = self.rfc4733.handle_timeout(now);
        // Caller side: one frame out of the jitter buffer.
        let needs_pcm = self.inband.is_some() || self.recorder.is_some();
        let caller = match self.jitter.pop(now) {
            Playout::Packet { payload, .. } => {
                if needs_pcm && payload.len() == 160 {
                    g711::decode(self.codec, payload, self.last_frame.samples_mut());
                }
                Some(())
            }
            Playout::Lost => {
                // Conceal a lost frame by fading the previous one.
                for s in self.last_frame.samples_mut() {
                    *s /= 2;
                }
                Some(())
            }
            Playout::Empty => None,
        };
        if caller.is_some() {
            if let Some(det) = &mut self.inband {
                if let Some(ev) = det.push(now, &self.last_frame) {
                    digit = Some(ev);
                }
            }
        }
        // Engine side: one frame from the head of the playout queue (held calls get nothing and
        // the queue waits).
        let mut engine_frame = None;
        let frame = match self.remote {
            Some(remote) if !self.on_hold => {
                self.playout.next_frame(self.codec).map(|f| (f, remote))
            }
            _ => None,
        };
        match frame {
            Some((payload, remote)) => {
                let header = self.sender.next_header(self.payload_type, 160, false);
                if let Ok(n) = rtp::write(&header, payload, &mut self.out) {
                    if sock.try_send_to(&self.out[..n], remote).is_ok() {
                        self.rtcp.on_rtp_sent(now, &header, payload.len());
                    }
                }
                engine_frame = Some(payload);
            }
            None => self.sender.skip(160),
        }
        if let Some(rec) = &mut self.recorder {
            let engine_pcm = engine_frame.map(|p| {
                let mut f = Frame8k::silence();
                g711::decode(self.codec, p, f.samples_mut());
                f
            });
            let caller_pcm = caller.map(|()| &self.last_frame);
            if let Err(e) = rec.tick(caller_pcm, engine_pcm.as_ref()) {
                warn!(error = %e, "recording stopped");
                self.recorder = None;
            }
        }
        digit
    }

    /// Sends an RTCP report when one is due: on the RTCP socket to the caller's RTCP address, or
    /// with rtcp-mux (RFC 5761) on the RTP socket to the caller's RTP address.
    fn send_rtcp(&mut self, now: Instant, rtp_sock: &UdpSocket, rtcp_sock: &UdpSocket) {
        if now < self.rtcp.poll_timeout() {
            return;
        }
        let (sock, to) = if self.rtcp_mux {
            (rtp_sock, self.remote)
        } else {
            let to = self.remote_rtcp.or_else(|| {
                self.remote
                    .map(|r| SocketAddr::new(r.ip(), r.port().wrapping_add(1)))
            });
            (rtcp_sock, to)
        };
        let Some(to) = to else {
            return;
        };
        let mut buf = [0u8; MAX_REPORT_LEN];
        if let Some(n) = self.rtcp.poll_report(now, &mut buf) {
            let _ = sock.try_send_to(&buf[..n], to);
        }
    }

    fn finish(mut self, duration_ms: u64) {
        let recording = self.recorder.take().and_then(|r| match r.finish() {
            Ok(info) => Some(info.path.display().to_string()),
            Err(e) => {
                warn!(error = %e, "recording could not be finished");
                None
            }
        });
        let stats = self.rtcp.stats();
        let rtt = stats.rtt.map(|d| d.as_secs_f64() * 1000.0);
        let jitter_ms = (stats.jitter_ms * 100.0).round() / 100.0;
        let jb = self.jitter.stats();
        info!(
            rtp_rx = stats.packets_received,
            rtp_tx = stats.packets_sent,
            lost = stats.packets_lost,
            jitter_ms,
            "call ended"
        );
        self.events.emit(
            self.call_id,
            "ended",
            json!({
                "duration_ms": duration_ms,
                "rtp_rx": stats.packets_received,
                "rtp_tx": stats.packets_sent,
                "rtp_lost": stats.packets_lost,
                "jitter_ms": jitter_ms,
                "rtt_ms": rtt,
                "late": jb.late,
                "concealed": jb.lost,
                "dropped_foreign": self.dropped_foreign,
                "dropped_unknown_pt": self.dropped_unknown_pt,
                "dropped_malformed": self.dropped_malformed,
                "recording": recording,
            }),
        );
    }
}
