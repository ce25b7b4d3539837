//! The call itself: the async shell around the sans-IO SIP [`Endpoint`], the RTP socket and
//! the 20 ms media tick that drives [`Turns`] and [`Mouth`].
//!
//! One task owns everything. The SIP socket is *connected* to the IVR's address, so an ICMP
//! "port unreachable" comes back as a receive error and the call fails at once instead of
//! after Timer B; the endpoint sends every in-dialog request to that same address.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ivr_media::audio::Frame8k;
use ivr_media::codec::g711::{self, G711};
use ivr_media::rtp::{self, JitterBuffer, JitterConfig, Playout};
use ivr_media::sdp::{self, Codec, LocalMedia, SessionDescription};
use ivr_media::sip::{
    CallKey, Endpoint, EndpointConfig, Event, InviteParams, NameAddr, Output, Peer, Response,
    Termination, Transport, Uri,
};
use tokio::net::UdpSocket;

use super::ears::Ears;
use super::mouth::{Mouth, Out};
use super::report::{Record, Report};
use super::script::{Action, Step};
use super::turns::{TurnConfig, TurnOver, Turns, Utterance};
use super::CallError;

/// With no response at all (not even `100 Trying`) by then, nobody is there.
const NO_RESPONSE: Duration = Duration::from_secs(4);
/// How long to wait for the answer to our BYE or CANCEL before leaving.
const LINGER: Duration = Duration::from_secs(3);
/// Samples per 20 ms frame.
const FRAME: usize = 160;

/// Everything the call needs, resolved and rendered.
#[derive(Debug, Clone)]
pub struct CallPlan {
    /// The IVR's SIP address.
    pub target: SocketAddr,
    /// The Request-URI.
    pub uri: Uri,
    /// The caller's number (From user).
    pub from: String,
    /// The steps with their audio.
    pub steps: Vec<(Step, Action)>,
    /// Turn-taking.
    pub turns: TurnConfig,
    /// The longest the whole call may last.
    pub timeout: Duration,
}

/// How the call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The IVR answered; the call ended by `by` (`caller` or `ivr`).
    Answered {
        /// Who hung up.
        by: &'static str,
    },
    /// The call was not answered.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Up,
    /// We hung up (BYE or CANCEL sent) and wait for the answer until the deadline.
    Ending {
        until: Instant,
    },
    Done,
}

/// The answered call's media.
struct Media {
    remote: SocketAddr,
    codec: G711,
    audio_pt: u8,
    te_pt: Option<u8>,
    sender: rtp::Sender,
    jitter: JitterBuffer,
    mouth: Mouth,
    /// Ticks spent on the current telephone-event (its packets share one timestamp).
    event_ticks: u32,
    out: [u8; 12 + FRAME],
}

/// The caller side of the conversation.
struct Conversation {
    turns: Turns,
    steps: std::vec::IntoIter<(Step, Action)>,
    ears: Option<Ears>,
    /// Feeding the current utterance to the recogniser; the frame it started on.
    utterance_since: Option<u64>,
    /// Utterances that ended since the caller's turn last ended.
    heard_this_turn: u32,
    /// A step is playing; after it the caller listens (`true`: for a reply; `false`: only
    /// until the IVR is quiet, after a wait).
    acting: Option<bool>,
    max_wait: Duration,
}

fn g711(codec: Codec) -> G711 {
    match codec {
        Codec::Pcmu => G711::Pcmu,
        Codec::Pcma => G711::Pcma,
    }
}

fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Places the call and plays the script; returns when the call is over.
pub async fn run(
    plan: CallPlan,
    ears: Option<Ears>,
    report: &Report,
) -> Result<Outcome, CallError> {
    let unspecified: SocketAddr = if plan.target.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sip = UdpSocket::bind(unspecified)
        .await
        .map_err(CallError::Socket)?;
    sip.connect(plan.target).await.map_err(CallError::Socket)?;
    let local_sip = sip.local_addr().map_err(CallError::Socket)?;
    let rtp_socket = UdpSocket::bind((local_sip.ip(), 0))
        .await
        .map_err(CallError::Socket)?;
    let rtp_port = rtp_socket.local_addr().map_err(CallError::Socket)?.port();

    let mut endpoint = Endpoint::new(EndpointConfig {
        user_agent: concat!("ivr-call/", env!("CARGO_PKG_VERSION")).to_string(),
        local_udp: Some(local_sip),
        ..EndpointConfig::default()
    });
    let local = LocalMedia {
        addr: local_sip.ip(),
        port: rtp_port,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        telephone_event: true,
        session_id: rand::random::<u32>().into(),
        session_version: 1,
    };
    let offer = Bytes::from(sdp::offer(&local).to_string());
    let peer = Peer {
        transport: Transport::Udp,
        addr: plan.target,
    };
    let from = NameAddr::new(Uri::sip(
        Some(&plan.from),
        &host(local_sip.ip()),
        Some(local_sip.port()),
    ));
    report.line(Record::Calling {
        uri: plan.uri.to_string(),
        from: plan.from.clone(),
    });
    let started = Instant::now();
    let call = endpoint.invite(
        started,
        InviteParams {
            to: peer,
            target: plan.uri.clone(),
            from,
            to_header: NameAddr::new(plan.uri.clone()),
            sdp: offer.clone(),
            credentials: None,
            extra_headers: Vec::new(),
        },
    );

    let mut conv = Conversation {
        turns: Turns::new(plan.turns),
        steps: plan.steps.into_iter(),
        ears,
        utterance_since: None,
        heard_this_turn: 0,
        acting: None,
        max_wait: plan.turns.max_wait,
    };
    let mut shell = Shell {
        endpoint,
        sip,
        call,
        peer,
        local,
        offer,
        state: State::Calling,
        media: None,
        outcome: Outcome::Failed,
        got_response: false,
        transport_error: None,
        last_progress: None,
    };
    shell.flush(report, &mut conv).await;

    let deadline = started + plan.timeout;
    let mut timed_out = false;
    let mut ticker: Option<tokio::time::Interval> = None;
    let mut sip_buf = vec![0u8; 65_536];
    let mut rtp_buf = [0u8; 2048];
    let far = started + Duration::from_secs(86_400);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    while shell.state != State::Done {
        if ticker.is_none() && shell.media.is_some() {
            let mut t = tokio::time::interval(Duration::from_millis(20));
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            ticker = Some(t);
        }
        let mut wake = shell.endpoint.poll_timeout().unwrap_or(far);
        if !timed_out {
            wake = wake.min(deadline);
        }
        if shell.state == State::Calling && !shell.got_response {
            wake = wake.min(started + NO_RESPONSE);
        }
        if let State::Ending { until } = shell.state {
            wake = wake.min(until);
        }
        tokio::select! {
            r = shell.sip.recv(&mut sip_buf) => {
                let now = Instant::now();
                match r {
                    Ok(n) => {
                        shell.got_response = true;
                        shell.endpoint.handle_datagram(now, peer, &sip_buf[..n]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        shell.transport_error = Some("connection refused".into());
                        shell.endpoint.handle_transport_error(peer);
                    }
                    Err(e) => tracing::debug!(error = %e, "SIP receive error"),
                }
            }
            r = rtp_socket.recv_from(&mut rtp_buf) => {
                if let (Ok((n, _from)), Some(media)) = (r, shell.media.as_mut()) {
                    if let Ok((header, payload)) = rtp::parse(&rtp_buf[..n]) {
                        if header.payload_type == media.audio_pt {
                            media.jitter.push(Instant::now(), &header, payload);
                        }
                    }
                }
            }
            _ = tick(&mut ticker) => {
                shell.tick(report, &mut conv, &rtp_socket);
            }
            () = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                shell.endpoint.handle_timeout(now);
                if !timed_out && now >= deadline {
                    timed_out = true;
                    match shell.state {
                        State::Calling => {
                            report.line(Record::Failed {
                                status: None,
                                reason: format!(
                                    "no answer within {} s",
                                    plan.timeout.as_secs()
                                ),
                            });
                            shell.hang_up(now, &mut conv, report, None);
                        }
                        State::Up => {
                            report.line(Record::Timeout { after: plan.timeout });
                            shell.hang_up(now, &mut conv, report, Some("caller"));
                        }
                        _ => {}
                    }
                }
                if shell.state == State::Calling
                    && !shell.got_response
                    && now >= started + NO_RESPONSE
                {
                    report.line(Record::Failed {
                        status: None,
                        reason: format!(
                            "no response from {} within {} s: is a SIP service listening there?",
                            plan.target,
                            NO_RESPONSE.as_secs()
                        ),
                    });
                    shell.state = State::Done;
                }
                if let State::Ending { until } = shell.state {
                    if now >= until {
                        shell.state = State::Done;
                    }
                }
            }
            _ = &mut ctrl_c => {
                let now = Instant::now();
                match shell.state {
                    State::Calling => {
                        report.line(Record::Failed { status: None, reason: "cancelled".into() });
                        shell.hang_up(now, &mut conv, report, None);
                    }
                    State::Up => shell.hang_up(now, &mut conv, report, Some("caller")),
                    _ => shell.state = State::Done,
                }
            }
        }
        shell.flush(report, &mut conv).await;
    }
    Ok(shell.outcome)
}

/// The next media tick, or never without media.
async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

struct Shell {
    endpoint: Endpoint,
    sip: UdpSocket,
    call: CallKey,
    peer: Peer,
    local: LocalMedia,
    offer: Bytes,
    state: State,
    media: Option<Media>,
    outcome: Outcome,
    got_response: bool,
    /// Why the IVR's address cannot be reached (an ICMP error or a failed send).
    transport_error: Option<String>,
    last_progress: Option<u16>,
}

impl Shell {
    /// Sends what the endpoint has to send and handles its events.
    async fn flush(&mut self, report: &Report, conv: &mut Conversation) {
        while let Some(out) = self.endpoint.poll_output() {
            match out {
                Output::Transmit(t) => {
                    if t.to.addr == self.peer.addr {
                        if let Err(e) = self.sip.send(&t.data).await {
                            tracing::debug!(error = %e, "SIP send failed");
                            self.transport_error = Some(match e.kind() {
                                std::io::ErrorKind::ConnectionRefused => {
                                    "connection refused".into()
                                }
                                _ => e.to_string(),
                            });
                            self.endpoint.handle_transport_error(self.peer);
                        }
                    } else {
                        tracing::debug!(to = %t.to.addr, "not sent: the call talks to one address only");
                    }
                }
                Output::Event(ev) => self.on_event(ev, report, conv),
            }
        }
    }

    fn on_event(&mut self, ev: Event, report: &Report, conv: &mut Conversation) {
        let now = Instant::now();
        match ev {
            Event::Progress { call, response } if call == self.call => {
                if self.last_progress != Some(response.status) {
                    self.last_progress = Some(response.status);
                    report.line(Record::Ringing {
                        status: response.status,
                        reason: response.reason.clone(),
                    });
                }
            }
            Event::Answered { call, response } if call == self.call => {
                self.on_answer(now, &response, report, conv)
            }
            Event::Failed { call, response } if call == self.call => {
                if self.state == State::Calling {
                    report.line(match response {
                        Some(r) => Record::Failed {
                            status: Some(r.status),
                            reason: r.reason,
                        },
                        None => Record::Failed {
                            status: None,
                            reason: "no final answer to the INVITE (Timer B)".into(),
                        },
                    });
                }
                self.state = State::Done;
            }
            Event::Bye { call } if call == self.call => {
                conv.flush_utterance(report);
                report.line(Record::Hangup { by: "ivr" });
                self.outcome = Outcome::Answered { by: "ivr" };
                self.media = None;
                self.state = State::Done;
            }
            Event::Terminated { call, reason } if call == self.call => {
                match (self.state, reason) {
                    (State::Calling, Termination::TransportError) => {
                        report.line(Record::Failed {
                            status: None,
                            reason: format!(
                                "nothing answers at {} ({})",
                                self.peer.addr,
                                self.transport_error.as_deref().unwrap_or("transport error")
                            ),
                        });
                    }
                    (State::Up, _) => {
                        conv.flush_utterance(report);
                        report.line(Record::Hangup { by: "ivr" });
                        self.outcome = Outcome::Answered { by: "ivr" };
                    }
                    _ => {}
                }
                self.media = None;
                self.state = State::Done;
            }
            Event::ReInvite { txn, .. } => {
                self.local.session_version += 1;
                let body = Bytes::from(sdp::offer(&self.local).to_string());
                self.offer = body.clone();
                self.endpoint
                    .respond(now, txn, 200, &[], Some(("application/sdp", body)));
            }
            Event::Request { txn, .. } => self.endpoint.respond(now, txn, 200, &[], None),
            other => tracing::debug!(event = ?other, "ignored SIP event"),
        }
    }

    fn on_answer(
        &mut self,
        now: Instant,
        response: &Response,
        report: &Report,
        conv: &mut Conversation,
    ) {
        if self.state != State::Calling {
            return;
        }
        let negotiated = std::str::from_utf8(&response.body)
            .ok()
            .and_then(|text| SessionDescription::parse(text).ok())
            .ok_or_else(|| "no SDP answer".to_string())
            .and_then(|answer| sdp::negotiate(&answer, &self.local).map_err(|e| e.to_string()))
            .and_then(|n| match n.remote_rtp {
                Some(remote) => Ok((n, remote)),
                None => Err("the answer disables the audio stream".to_string()),
            });
        let (negotiated, remote) = match negotiated {
            Ok(n) => n,
            Err(why) => {
                report.line(Record::Failed {
                    status: Some(response.status),
                    reason: format!("answered without usable audio: {why}"),
                });
                self.state = State::Up;
                self.hang_up(now, conv, report, None);
                return;
            }
        };
        let codec = g711(negotiated.codec);
        report.line(Record::Answered {
            codec: codec.encoding_name(),
            dtmf: if negotiated.telephone_event_pt.is_some() {
                "rfc4733"
            } else {
                "inband"
            },
        });
        self.media = Some(Media {
            remote,
            codec,
            audio_pt: negotiated.payload_type,
            te_pt: negotiated.telephone_event_pt,
            sender: rtp::Sender::random(),
            jitter: JitterBuffer::new(JitterConfig::default()),
            mouth: Mouth::new(negotiated.telephone_event_pt.is_some()),
            event_ticks: 0,
            out: [0; 12 + FRAME],
        });
        self.outcome = Outcome::Answered { by: "caller" };
        self.state = State::Up;
    }

    /// Ends the call from our side: BYE (or CANCEL while ringing), then linger for the answer.
    fn hang_up(
        &mut self,
        now: Instant,
        conv: &mut Conversation,
        report: &Report,
        by: Option<&'static str>,
    ) {
        conv.flush_utterance(report);
        if let Some(by) = by {
            report.line(Record::Hangup { by });
        }
        self.endpoint.hangup(now, self.call);
        self.media = None;
        self.state = State::Ending {
            until: now + LINGER,
        };
    }

    /// One 20 ms media tick: hear a frame, decide the turn, send a frame.
    fn tick(&mut self, report: &Report, conv: &mut Conversation, rtp_socket: &UdpSocket) {
        if self.state != State::Up {
            return;
        }
        let now = Instant::now();
        let turn = {
            let Some(media) = self.media.as_mut() else {
                return;
            };
            let mut frame = Frame8k::silence();
            if let Playout::Packet { payload, .. } = media.jitter.pop(now) {
                let n = payload.len().min(FRAME);
                g711::decode(media.codec, &payload[..n], &mut frame.samples_mut()[..n]);
            }
            conv.hear(&frame, report, &mut media.mouth)
        };
        if let Turn::HangUp = turn {
            self.hang_up(now, conv, report, Some("caller"));
            return;
        }
        let Some(media) = self.media.as_mut() else {
            return;
        };
        media.send(rtp_socket);
        if let Some(need_speech) = conv.acting {
            if !media.mouth.is_busy() {
                conv.acting = None;
                conv.heard_this_turn = 0;
                conv.turns.listen(need_speech);
            }
        }
    }
}

enum Turn {
    Go,
    HangUp,
}

impl Conversation {
    /// Hears one frame of the IVR; starts the next step (or asks to hang up) when the turn
    /// comes.
    fn hear(&mut self, frame: &Frame8k, report: &Report, mouth: &mut Mouth) -> Turn {
        let tick = self.turns.push(frame);
        match tick.utterance {
            Some(Utterance::Started) => {
                self.utterance_since = Some(self.turns.frames_pushed());
                if let Some(ears) = self.ears.as_mut() {
                    ears.begin();
                    for f in self.turns.pre_roll() {
                        ears.push(f);
                    }
                }
            }
            Some(Utterance::Ended { speech }) => {
                self.utterance_since = None;
                self.heard_this_turn += 1;
                match self.ears.as_mut() {
                    Some(ears) => report.heard(ears.end(), speech),
                    None => report.line(Record::Heard {
                        text: None,
                        confidence: None,
                        speech,
                        error: None,
                    }),
                }
            }
            None => {
                if self.utterance_since.is_some() {
                    if let Some(ears) = self.ears.as_mut() {
                        ears.push(frame);
                    }
                }
            }
        }
        let Some(over) = tick.turn_over else {
            return Turn::Go;
        };
        if over == (TurnOver::MaxWait { talking: false }) && self.heard_this_turn == 0 {
            report.line(Record::Silence {
                waited: self.max_wait,
            });
        }
        let Some((step, action)) = self.steps.next() else {
            return Turn::HangUp;
        };
        let (detail, need_speech) = match action {
            Action::Audio(samples) => {
                let d = format!("{:.1} s", samples.len() as f64 / 8000.0);
                mouth.say(samples);
                (Some(d), true)
            }
            Action::Digits(keys) => {
                mouth.press(&keys);
                let how = if mouth.sends_events() {
                    "rfc4733"
                } else {
                    "inband"
                };
                (Some(how.to_string()), true)
            }
            Action::Wait(d) => {
                mouth.pause_ms(d.as_millis().min(u32::MAX as u128) as u32);
                (None, false)
            }
        };
        report.line(Record::Step {
            kind: step.kind(),
            value: step.value(),
            detail,
        });
        self.acting = Some(need_speech);
        Turn::Go
    }

    /// The call ends mid-utterance: report what was heard so far.
    fn flush_utterance(&mut self, report: &Report) {
        let Some(since) = self.utterance_since.take() else {
            return;
        };
        let frames = self.turns.frames_pushed().saturating_sub(since) + 1;
        let speech = Duration::from_millis(20 * frames);
        match self.ears.as_mut() {
            Some(ears) => report.heard(ears.end(), speech),
            None => report.line(Record::Heard {
                text: None,
                confidence: None,
                speech,
                error: None,
            }),
        }
    }
}

impl Media {
    /// Sends this tick's packet: audio, silence or a telephone-event.
    fn send(&mut self, socket: &UdpSocket) {
        let packet = match self.mouth.next_tick() {
            Out::Event { payload, first } => match self.te_pt {
                Some(pt) => {
                    if first && self.event_ticks > 0 {
                        self.sender.skip(self.event_ticks * FRAME as u32);
                        self.event_ticks = 0;
                    }
                    self.event_ticks += 1;
                    let header = self.sender.next_header(pt, 0, first);
                    self.sender.count_octets(payload.len());
                    rtp::write(&header, &payload, &mut self.out).ok()
                }
                None => None,
            },
            Out::Audio(frame) => self.audio(&frame),
            Out::Silence => self.audio(&Frame8k::silence()),
        };
        if let Some(n) = packet {
            if let Some(bytes) = self.out.get(..n) {
                let _ = socket.try_send_to(bytes, self.remote);
            }
        }
    }

    fn audio(&mut self, frame: &Frame8k) -> Option<usize> {
        if self.event_ticks > 0 {
            self.sender.skip(self.event_ticks * FRAME as u32);
            self.event_ticks = 0;
        }
        let mut payload = [0u8; FRAME];
        g711::encode(self.codec, frame.samples(), &mut payload);
        self.sender
            .write_packet(self.audio_pt, FRAME as u32, false, &payload, &mut self.out)
            .ok()
    }
}
