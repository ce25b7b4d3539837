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

use crate::bridge::AgentLeg;
use crate::clock::{MediaClock, Tick, FRAME};
use crate::events::EventLog;
use crate::flow::{Ending, Flow, Next};
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
    /// Hang up now, for this reason (an administrator's request).
    Hangup(&'static str),
    /// Synthesized speech for a reserved place in the playout queue (`None`: it failed).
    Spoken {
        /// The place.
        token: u64,
        /// The audio.
        audio: Option<Arc<EncodedPrompt>>,
        /// How long synthesis (or the cache) took.
        took: Duration,
    },
    /// A webhook answered (or failed, with the error kind).
    WebhookDone(Result<serde_json::Value, String>),
    /// The answer to our REFER (`None`: no answer).
    Transferred(Option<u16>),
    /// The recogniser finished an utterance.
    Recognized(Box<crate::flow::Recognized>),
    /// An agent answered: relay audio between the caller and the agent's leg.
    AgentConnected(Box<crate::center::AgentMedia>),
    /// The agent hung up.
    AgentHangup,
    /// The agent left the call (transferred it to a queue): the caller waits again.
    AgentDetached,
    /// The agent put the caller on hold (`true`) or took them off it.
    Hold(bool),
    /// A supervisor's leg joined, switched mode or left ([`crate::monitor`]).
    Monitor(crate::monitor::MonitorEvent),
    /// Where the caller stands in the queue.
    QueuePosition {
        /// 1 for the next caller served.
        position: usize,
        /// The estimated wait, if agents are staffed.
        estimated_wait: Option<Duration>,
    },
    /// The queue gave up on the caller: an apology, then a message to this mailbox (or the
    /// engine hangs up).
    QueueFallback {
        /// The mailbox, or `None` to hang up.
        voicemail: Option<String>,
    },
    /// The queue takes call-back requests: tell the caller how to ask.
    CallbackOffered,
    /// The answer to the caller's call-back request: the number booked, or why not.
    CallbackBooked(Result<String, String>),
}

/// What a call asks of the SIP task.
#[derive(Debug)]
pub enum CallRequest {
    /// Send the prepared 200 OK.
    Answer(CallKey),
    /// Blind-transfer the caller (REFER).
    Refer {
        /// The call.
        call: CallKey,
        /// SIP URI to transfer to.
        target: String,
    },
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
    /// Hang up after this long without media from the caller (zero: never).
    pub rtp_timeout: Duration,
    /// Event log.
    pub events: EventLog,
    /// Requests to the SIP task.
    pub sip: mpsc::UnboundedSender<CallRequest>,
    /// Shared media clock.
    pub clock: MediaClock,
    /// The dial plan's conversation, or `None` for the built-in demo.
    pub flow: Option<Flow>,
    /// Data folder (voicemail).
    pub data_dir: PathBuf,
    /// What the call record starts with.
    pub record: crate::store::CallStart,
    /// The call center, when queues are configured.
    pub center: Option<crate::center::Center>,
    /// The engine placed the call and the far end has answered: no ringing, no 200 OK to send;
    /// the conversation starts with the `Confirmed` the SIP task sends at once.
    pub outbound: bool,
    /// Recordings are encrypted with this keyring when the call ends.
    pub keyring: Option<Arc<crate::privacy::crypt::Keyring>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ringing,
    Answering,
    Talking,
}

/// The caller's side of the recording stays silent this many ticks (500 ms) after a sensitive
/// answer.
const SENSITIVE_TAIL_TICKS: u32 = 25;

/// At most this many missed ticks are made up after a stall; beyond it the call skips ahead.
const MAX_CATCH_UP: u64 = 5;
/// RTP packets are at most this big (G.711 20 ms = 172 bytes; allow generous senders).
const MAX_PACKET: usize = 1500;

/// Runs the call to its end, its log lines in the call's span.
pub async fn run(setup: CallSetup, commands: mpsc::UnboundedReceiver<CallEvent>) {
    use tracing::Instrument;
    // The span is attached to the future, not entered across awaits: a guard held over an
    // await would leave the span current on a worker thread while other tasks run there.
    let span = tracing::info_span!("call", call_id = %setup.call_id, key = %setup.key);
    run_call(setup, commands).instrument(span).await;
}

async fn run_call(setup: CallSetup, mut commands: mpsc::UnboundedReceiver<CallEvent>) {
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
        rtp_timeout,
        events,
        sip,
        mut clock,
        mut flow,
        data_dir,
        record,
        center,
        outbound,
        keyring,
    } = setup;
    let mut answered_unix_ms: Option<i64> = None;
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

    let mut call = Call::new(&call_id, &media, recording.as_deref(), &events);
    let start = clock.now();
    let mut last_tick = start.seq;
    let mut answered_at: Option<u64> = None;
    let answer_ticks = ticks(answer_delay);
    let timeout_ticks = ticks(timeout);
    let mut state = if outbound {
        State::Answering
    } else {
        State::Ringing
    };
    let mut buf = [0u8; MAX_PACKET];
    let mut rtcp_buf = [0u8; MAX_PACKET];
    let mut cause: Option<(&'static str, &'static str)> = None;
    let mut engine_hangup = false;
    // Digits seen in this wake-up, from RTP, in-band or SIP INFO (rare: no allocation otherwise).
    let mut digits: Vec<DigitEvent> = Vec::new();
    // Voicemail being recorded: ticks left.
    let mut voicemail: Option<(PathBuf, u64)> = None;
    // Ticks the caller's side of the recording stays silent after a sensitive answer.
    let mut sensitive_tail: u32 = 0;
    // The call center: when the caller joined a queue, the agent's leg, talk time so far.
    let mut queued_at: Option<Instant> = None;
    let mut queue_name: Option<String> = None;
    let mut agent: Option<AgentLeg> = None;
    let mut agent_id: Option<String> = None;
    let mut answered_by_agent: Option<Instant> = None;
    let mut talk = Duration::ZERO;
    let mut held_by_agent = false;
    let mut agent_buf = [0u8; MAX_PACKET];

    'call: loop {
        tokio::select! {
            biased;
            cmd = commands.recv() => {
                match cmd {
                    Some(CallEvent::Confirmed) => {
                        if state == State::Answering {
                            state = State::Talking;
                            answered_unix_ms = Some(crate::store::now_unix_ms());
                            call.last_rx = Instant::now();
                            match &mut flow {
                                Some(f) if f.callback_ticket().is_some() => {
                                    f.start(&mut call.playout, &events);
                                    if let (Some(center), Some(q)) = (&center, f.queued_call()) {
                                        queued_at = Some(Instant::now());
                                        queue_name = Some(q.queue.clone());
                                        center.enqueue(q);
                                    }
                                }
                                Some(f) => f.start(&mut call.playout, &events),
                                None => {
                                    if let Some(p) = &prompt {
                                        call.playout.push(p.clone(), repeat, true);
                                    }
                                }
                            }
                        }
                    }
                    Some(CallEvent::Cancelled) => {
                        events.emit(&call_id, "cancelled", json!({}));
                        break;
                    }
                    Some(CallEvent::Bye) => { cause = Some(("caller", "bye")); break; }
                    Some(CallEvent::Terminated(why)) => { cause = Some(("engine", why)); break; }
                    Some(CallEvent::Digit(d)) => digits.push(DigitEvent { digit: d, method: DtmfMethod::SipInfo, duration_ms: 0, at: Instant::now() }),
                    Some(CallEvent::MediaUpdate { remote, direction }) => call.update_media(remote, direction),
                    Some(CallEvent::Spoken { token, audio, took }) => {
                        events.observe_tts(took);
                        call.playout.fill(token, audio);
                    }
                    Some(CallEvent::WebhookDone(result)) => {
                        if let Some(f) = &mut flow {
                            f.webhook_done(result, &mut call.playout, &events);
                        }
                    }
                    Some(CallEvent::Recognized(r)) => {
                        if let Some(f) = &mut flow {
                            f.recognized(*r, &mut call.playout, &events);
                        }
                    }
                    Some(CallEvent::Transferred(status)) => {
                        events.emit(&call_id, "transfer_result", json!({"status": status}));
                        cause = Some(("engine", if status.is_some_and(|s| (200..300).contains(&s)) { "transfer" } else { "transfer_failed" }));
                        engine_hangup = true;
                        break;
                    }
                    Some(CallEvent::Hangup(why)) => {
                        cause = Some(("engine", why));
                        engine_hangup = true;
                        break;
                    }
                    Some(CallEvent::AgentConnected(media)) => {
                        let now = Instant::now();
                        match AgentLeg::new(*media, now) {
                            Ok(leg) => {
                                call.playout.clear();
                                agent_id = Some(leg.party.clone());
                                answered_by_agent.get_or_insert(now);
                                held_by_agent = false;
                                agent = Some(leg);
                            }
                            Err(e) => {
                                warn!(error = %e, "cannot use the agent's RTP socket");
                                cause = Some(("engine", "agent_media"));
                                engine_hangup = true;
                                break;
                            }
                        }
                    }
                    Some(CallEvent::AgentHangup) => {
                        cause = Some(("agent", "agent_hangup"));
                        engine_hangup = true;
                        break;
                    }
                    Some(CallEvent::AgentDetached) => {
                        if let Some(leg) = agent.take() {
                            talk += leg.connected_at.elapsed();
                        }
                        held_by_agent = false;
                        if let Some(f) = &flow {
                            f.hold_audio(&mut call.playout);
                        }
                    }
                    Some(CallEvent::Hold(on)) => {
                        held_by_agent = on && agent.is_some();
                        call.playout.clear();
                        if held_by_agent {
                            if let Some(f) = &flow {
                                f.hold_audio(&mut call.playout);
                            }
                        }
                    }
                    Some(CallEvent::Monitor(ev)) => crate::monitor::on_event(agent.as_mut(), ev),
                    Some(CallEvent::QueuePosition { position, estimated_wait }) => {
                        events.emit(&call_id, "queue_position", json!({"position": position, "estimated_wait_s": estimated_wait.map(|w| w.as_secs())}));
                        if let (Some(f), None) = (&mut flow, &agent) {
                            f.announce_position(position, estimated_wait, &mut call.playout);
                        }
                    }
                    Some(CallEvent::QueueFallback { voicemail }) => {
                        if let Some(f) = &mut flow {
                            f.leave_queue(voicemail, &mut call.playout);
                        }
                    }
                    Some(CallEvent::CallbackOffered) => {
                        events.emit(&call_id, "callback_offered", json!({}));
                        if let (Some(f), None) = (&mut flow, &agent) {
                            f.offer_callback(&mut call.playout);
                        }
                    }
                    Some(CallEvent::CallbackBooked(booked)) => {
                        events.emit(&call_id, "callback_booked", json!({"booked": booked.is_ok(), "error": booked.as_ref().err()}));
                        if let Some(f) = &mut flow {
                            f.callback_booked(booked, &mut call.playout);
                        }
                    }
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
                        digits.push(ev);
                    }
                    // Drain whatever else is queued without another trip through the reactor.
                    while let Ok((n, from)) = rtp_sock.try_recv_from(&mut buf) {
                        if let Some(ev) = call.on_rtp(now, from, &buf[..n], symmetric) {
                            digits.push(ev);
                        }
                    }
                }
            }
            r = AgentLeg::recv(agent.as_ref(), &mut agent_buf) => {
                if let (Some((n, from)), Some(leg)) = (r, &mut agent) {
                    leg.on_rtp(Instant::now(), from, &agent_buf[..n]);
                }
            }
            r = rtcp_sock.recv_from(&mut rtcp_buf) => {
                if let Ok((n, _)) = r {
                    let now = Instant::now();
                    if call.rtcp.on_rtcp(now, &rtcp_buf[..n]).is_ok() {
                        call.last_rx = now;
                    }
                }
            }
            tick = clock.next() => {
                let Some(tick) = tick else { cause = Some(("engine", "drain")); engine_hangup = true; break; };
                let behind = tick.seq.saturating_sub(last_tick);
                let todo = behind.min(MAX_CATCH_UP);
                last_tick = tick.seq;
                for i in 0..todo {
                    let at = tick.at - FRAME * u32::try_from(todo - 1 - i).unwrap_or(0);
                    let hear = flow.as_ref().is_some_and(Flow::wants_audio);
                    let screening = flow.as_ref().is_some_and(Flow::screening);
                    // While the plan collects a sensitive answer the caller's side is not recorded,
                    // nor for half a second after (the tail of the last key's tone, the end of
                    // the last spoken digit).
                    if flow.as_ref().is_some_and(Flow::sensitive_input) {
                        sensitive_tail = SENSITIVE_TAIL_TICKS;
                    } else {
                        sensitive_tail = sensitive_tail.saturating_sub(1);
                    }
                    call.recording_paused = sensitive_tail > 0;
                    let bridge = agent.as_mut().map(|leg| (leg, held_by_agent));
                    if let Some(ev) = call.on_tick(Tick { seq: tick.seq, at }, &rtp_sock, hear || screening, bridge) {
                        digits.push(ev);
                    }
                    if let (Some(f), true) = (&mut flow, hear) {
                        let caller = if call.caller_fresh { call.last_frame } else { Frame8k::silence() };
                        f.hear(&caller, call.engine_pcm.as_ref(), &mut call.playout, &events);
                    }
                    if let (Some(f), true) = (&mut flow, screening) {
                        // Answering-machine detection: the plan starts once it has decided.
                        let callee = if call.caller_fresh { call.last_frame } else { Frame8k::silence() };
                        f.screen(&callee, &mut call.playout, &events);
                    }
                    if let Some(f) = &mut flow {
                        match f.tick(&mut call.playout, &events) {
                            Next::Continue => {}
                            Next::End(Ending::Hangup) => {
                                cause = Some(("engine", if f.booked_callback() { "callback" } else { "plan" }));
                                engine_hangup = true;
                                break 'call;
                            }
                            Next::End(Ending::Transfer(target)) => {
                                events.emit(&call_id, "transfer", json!({"target": target}));
                                let _ = sip.send(CallRequest::Refer { call: key, target });
                            }
                            Next::End(Ending::Voicemail { mailbox, max_length }) => {
                                let path = crate::flow::voicemail_path(&data_dir, &mailbox, &call_id);
                                call.capture = Some(Vec::new());
                                voicemail = Some((path, ticks(max_length)));
                            }
                            Next::End(Ending::Queue(name)) => {
                                if let Some(center) = &center {
                                    if let Some(q) = f.queued_call() {
                                        queued_at = Some(Instant::now());
                                        queue_name = Some(name);
                                        center.enqueue(q);
                                    }
                                }
                            }
                        }
                    }
                }
                if let Some((_, left)) = &mut voicemail {
                    *left = left.saturating_sub(todo);
                    if *left == 0 {
                        cause = Some(("engine", "voicemail"));
                        engine_hangup = true;
                        break;
                    }
                }
                call.send_rtcp(tick.at, &rtp_sock, &rtcp_sock);
                if state == State::Talking
                    && !rtp_timeout.is_zero()
                    && !call.on_hold
                    && tick.at.saturating_duration_since(call.last_rx) >= rtp_timeout
                {
                    info!(seconds = rtp_timeout.as_secs(), "no media from the caller; hanging up");
                    cause = Some(("engine", "rtp_timeout"));
                    engine_hangup = true;
                    break;
                }
                let elapsed = tick.seq - start.seq;
                if state == State::Ringing && elapsed >= answer_ticks {
                    state = State::Answering;
                    answered_at = Some(tick.seq);
                    let _ = sip.send(CallRequest::Answer(key));
                }
                if let (Some(at), None) = (answered_at, &flow) {
                    if tick.seq - at >= timeout_ticks {
                        cause = Some(("engine", "timeout"));
                        engine_hangup = true;
                        break;
                    }
                }
            }
        }
        for ev in digits.drain(..) {
            let d = call.digit(ev, flow.as_ref().is_some_and(Flow::sensitive_input));
            if voicemail.is_some() {
                if d == '#' {
                    cause = Some(("engine", "voicemail"));
                    engine_hangup = true;
                    break 'call;
                }
                continue;
            }
            if let (Some(f), Some(_), None) = (&mut flow, queued_at, &agent) {
                // Waiting in a queue: keys ask for a call back.
                if let (Some(number), Some(center)) = (f.queue_digit(d, &mut call.playout), &center)
                {
                    center.request_callback(&call_id, number);
                }
                continue;
            }
            match &mut flow {
                Some(f) => f.digit(d, &mut call.playout, &events),
                None if d == '#' => {
                    cause = Some(("engine", "hash"));
                    engine_hangup = true;
                    break 'call;
                }
                None => {}
            }
        }
    }

    let ended = Instant::now();
    if let Some(leg) = &agent {
        talk += ended.saturating_duration_since(leg.connected_at);
        debug!(rx = leg.received, tx = leg.sent, "agent leg ended");
    }
    if let (Some(center), Some(_)) = (&center, queued_at) {
        let side = cause.map(|(by, _)| hangup_side(by));
        center.call_ended(&call_id, side, cause.map_or("cancelled", |(_, why)| why));
    }
    if let Some((by, why)) = cause {
        info!(by, cause = why, "hangup");
        events.emit(&call_id, "hangup", json!({"by": by, "cause": why}));
        if by == "caller" {
            if let Some(f) = &mut flow {
                f.hangup(&events);
            }
        }
    }
    if let (Some((path, _)), Some(samples)) = (voicemail, call.capture.take()) {
        save_voicemail(&events, &call_id, path, samples).await;
    }
    let _ = sip.send(CallRequest::Finished {
        call: key,
        hangup: engine_hangup,
    });
    if let Some(store) = events.store() {
        let mut cdr = crate::store::Cdr::started(record);
        cdr.answered_at_unix_ms = answered_unix_ms;
        cdr.ended_at_unix_ms = Some(crate::store::now_unix_ms());
        cdr.hangup_cause = cause.map(|(_, why)| why.to_string());
        cdr.hangup_side = cause.map(|(by, _)| hangup_side(by));
        cdr.outcome = Some(if answered_unix_ms.is_none() {
            crate::store::Outcome::Unanswered
        } else {
            crate::store::Outcome::Contained
        });
        if let Some(f) = &flow {
            for turn in f.record(&mut cdr) {
                store.append_turn(turn);
            }
        }
        if let Some(at) = queued_at {
            let waited = answered_by_agent
                .unwrap_or(ended)
                .saturating_duration_since(at);
            cdr.wait_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            cdr.agent_id = agent_id.clone();
            cdr.outcome = Some(crate::store::Outcome::Transferred);
            cdr.queue = queue_name.clone();
            cdr.talk_ms = u64::try_from(talk.as_millis()).unwrap_or(u64::MAX);
        }
        store.finish_call(cdr);
    }
    let answered_ms = answered_at.map(|a| (last_tick.saturating_sub(a)) * 20);
    let recording = call.finish(answered_ms.unwrap_or(0), keyring.is_some());
    drop(ports);
    if let (Some(path), Some(ring)) = (recording, keyring) {
        // Encrypted at rest: the plain file is replaced by `NAME.wav.enc` (kept on failure).
        let sealed =
            tokio::task::spawn_blocking(move || crate::privacy::recording::seal(&path, &ring))
                .await;
        match sealed {
            Ok(Ok(p)) => events.emit(
                &call_id,
                "recording_sealed",
                json!({"path": p.display().to_string()}),
            ),
            Ok(Err(e)) => warn!(error = %e, "the recording is kept unencrypted"),
            Err(e) => warn!(error = %e, "the recording sealer failed"),
        }
    }
}

/// Writes a recorded message (8 kHz mono WAV) and records where it went.
async fn save_voicemail(events: &EventLog, call_id: &str, path: PathBuf, samples: Vec<i16>) {
    let seconds = samples.len() as f64 / 8000.0;
    let p = path.clone();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec).map_err(std::io::Error::other)?;
        for s in samples {
            w.write_sample(s).map_err(std::io::Error::other)?;
        }
        w.finalize().map_err(std::io::Error::other)
    })
    .await;
    match written {
        Ok(Ok(())) => events.emit(
            call_id,
            "voicemail",
            json!({"path": path.display().to_string(), "seconds": (seconds * 10.0).round() / 10.0}),
        ),
        Ok(Err(e)) => warn!(error = %e, path = %path.display(), "voicemail not saved"),
        Err(e) => warn!(error = %e, "voicemail writer failed"),
    }
}

fn hangup_side(by: &str) -> crate::store::HangupSide {
    match by {
        "caller" => crate::store::HangupSide::Caller,
        "agent" => crate::store::HangupSide::Agent,
        _ => crate::store::HangupSide::System,
    }
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
    /// `last_frame` is this tick's caller audio (not an old frame).
    caller_fresh: bool,
    /// What the engine sent this tick, decoded (only when someone needs it).
    engine_pcm: Option<Frame8k>,
    playout: PlayQueue,
    /// Caller audio being kept (voicemail).
    capture: Option<Vec<i16>>,
    recorder: Option<StereoRecorder>,
    /// When media last arrived from the caller (RTP or RTCP).
    last_rx: Instant,
    /// The caller's side of the recording is silence (a sensitive answer is being given).
    recording_paused: bool,
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
            caller_fresh: false,
            engine_pcm: None,
            playout: PlayQueue::default(),
            capture: None,
            recorder,
            last_rx: now,
            recording_paused: false,
            dropped_foreign: 0,
            dropped_unknown_pt: 0,
            dropped_malformed: 0,
            out: [0; MAX_PACKET],
        }
    }

    /// Logs one digit (without the key while the plan collects a sensitive answer) and cuts
    /// interruptible prompts; returns the key.
    fn digit(&mut self, ev: DigitEvent, sensitive: bool) -> char {
        let method = match ev.method {
            DtmfMethod::Rfc4733 => "rfc4733",
            DtmfMethod::Inband => "inband",
            DtmfMethod::SipInfo => "sip_info",
        };
        info!(method, "digit");
        self.events.emit(
            self.call_id,
            "digit",
            json!({
                "digit": (!sensitive).then(|| ev.digit.to_string()),
                "method": method,
                "masked": sensitive,
            }),
        );
        // A key press interrupts the prompt (barge-in) and ends a repetition.
        self.playout.barge_in();
        ev.digit
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
                if self.rtcp.on_rtcp(now, packet).is_ok() {
                    self.last_rx = now;
                }
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
        self.last_rx = now;
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

    /// One media tick; `hear` asks for the caller's and the engine's audio decoded (speech
    /// recognition is listening).
    /// With `bridge` (the agent's leg, and whether the agent holds the caller) the caller hears
    /// the agent instead of the playout queue, and the agent hears the caller.
    fn on_tick(
        &mut self,
        tick: Tick,
        sock: &UdpSocket,
        hear: bool,
        bridge: Option<(&mut AgentLeg, bool)>,
    ) -> Option<DigitEvent> {
        let now = tick.at;
        let mut digit = self.rfc4733.handle_timeout(now);
        // Caller side: one frame out of the jitter buffer.
        let needs_pcm = hear
            || self.inband.is_some()
            || self.recorder.is_some()
            || self.capture.is_some()
            || bridge.is_some();
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
        self.caller_fresh = caller.is_some();
        if caller.is_some() {
            if let Some(c) = &mut self.capture {
                c.extend_from_slice(self.last_frame.samples());
            }
            if let Some(det) = &mut self.inband {
                if let Some(ev) = det.push(now, &self.last_frame) {
                    digit = Some(ev);
                }
            }
        }
        // The agent's leg: the agent hears the caller (not while holding them), and the caller
        // hears the agent instead of the playout queue (hold audio while held).
        let mut agent_payload = [0u8; 160];
        let mut from_agent = false;
        let mut relaying = false;
        let mut agent_leg = None;
        if let Some((leg, held)) = bridge {
            leg.tick(now, caller.filter(|()| !held).map(|()| &self.last_frame));
            relaying = !held;
            if let Some(f) = leg.frame().filter(|_| relaying) {
                g711::encode(self.codec, f.samples(), &mut agent_payload);
                from_agent = true;
            }
            agent_leg = Some(&*leg);
        }
        // Engine side: one frame from the head of the playout queue (held calls get nothing and
        // the queue waits).
        let mut engine_frame = None;
        let frame = match self.remote {
            Some(remote) if !self.on_hold && relaying => {
                from_agent.then_some((&agent_payload[..], remote))
            }
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
        self.engine_pcm = match engine_frame {
            // The agent's side is recorded as received (no second trip through the codec).
            Some(_) if from_agent && (hear || self.recorder.is_some()) => {
                agent_leg.and_then(AgentLeg::frame).map(|f| {
                    let mut copy = Frame8k::silence();
                    copy.samples_mut().copy_from_slice(f.samples());
                    copy
                })
            }
            Some(p) if hear || self.recorder.is_some() => {
                let mut f = Frame8k::silence();
                g711::decode(self.codec, p, f.samples_mut());
                Some(f)
            }
            _ => None,
        };
        if let Some(rec) = &mut self.recorder {
            let caller_pcm = caller
                .filter(|()| !self.recording_paused)
                .map(|()| &self.last_frame);
            if let Err(e) = rec.tick(caller_pcm, self.engine_pcm.as_ref()) {
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

    /// Logs the call's media figures; returns the finished recording's path.
    fn finish(mut self, duration_ms: u64, sealing: bool) -> Option<PathBuf> {
        let recorded = self.recorder.take().and_then(|r| match r.finish() {
            Ok(info) => Some(info.path),
            Err(e) => {
                warn!(error = %e, "recording could not be finished");
                None
            }
        });
        let recording = recorded.as_ref().map(|p| {
            let shown = if sealing {
                crate::privacy::recording::sealed_path(p)
            } else {
                p.clone()
            };
            shown.display().to_string()
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
        recorded
    }
}
