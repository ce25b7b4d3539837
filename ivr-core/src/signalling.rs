//! The SIP task: the async shell around the sans-IO [`Endpoint`].
//!
//! One task owns the endpoint, the UDP socket and the registry of calls. TCP connections have a
//! reader task each (framing by `Content-Length`) that hands complete messages over, and a writer
//! task fed by a channel. Every loop iteration drains the endpoint's outputs (datagrams to send,
//! events), then waits for the next datagram, command or timer deadline.
//!
//! Admission (trunks, digest, rate limit, `max_calls`, draining) and SDP negotiation happen here,
//! before a call task exists, so a rejected call costs nothing but the response.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ivr_media::audio::wav::EncodedPrompt;
use ivr_media::dtmf::info::parse_info;
use ivr_media::sdp::{self, LocalMedia, Negotiated, SessionDescription};
use ivr_media::sip::auth::Credentials;
use ivr_media::sip::endpoint::RegisterParams;
use ivr_media::sip::framing;
use ivr_media::sip::headers::NameAddr;
use ivr_media::sip::Uri;
use ivr_media::sip::{CallKey, Endpoint, Event, Output, Peer, Request, ServerTxnKey, Transport};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::admission::{Admission, Verdict};
use crate::call::{self, CallEvent, CallRequest, CallSetup};
use crate::clock::MediaClock;
use crate::config::Config;
use crate::events::{mask_number, EventLog};
use crate::flow::{Flow, FlowServices};
use crate::plans::PlanRegistry;
use crate::ports::PortPool;

/// Commands into the SIP task from outside (signals, TCP connections).
#[derive(Debug)]
pub enum Control {
    /// First SIGTERM: refuse new calls, let active ones finish.
    Drain,
    /// Second SIGTERM or drain timeout: end every call now.
    HangupAll,
    /// SIGUSR1: print a one-line JSON snapshot of the engine's counters on stdout.
    Stats,
    /// An administrator ends a call; the answer says whether it was in progress.
    Hangup {
        /// The call's SIP Call-ID.
        call_id: String,
        /// Whether a call had that id.
        reply: tokio::sync::oneshot::Sender<bool>,
    },
    /// A TCP connection opened; frames for `peer` go to `tx`.
    TcpOpened {
        /// The connection.
        peer: Peer,
        /// Its writer.
        tx: mpsc::UnboundedSender<Vec<u8>>,
    },
    /// A complete SIP message arrived on a TCP connection.
    TcpFrame {
        /// The connection.
        peer: Peer,
        /// The message bytes.
        data: Vec<u8>,
    },
    /// A TCP connection closed.
    TcpClosed {
        /// The connection.
        peer: Peer,
    },
    /// Ring an agent's phone for a queued caller (the call center accepted an offer).
    DialAgent {
        /// The caller's call id.
        call_id: String,
        /// The agent.
        agent: crate::acd::AgentId,
        /// The agent's SIP contact.
        contact: String,
    },
    /// Hang up (or cancel) the agent leg of a caller's call.
    DropAgent {
        /// The caller's call id.
        call_id: String,
    },
    /// Place an outbound call running a dial plan; progress goes to `progress`.
    Originate {
        /// What to call, through which trunk, with which plan and variables.
        order: crate::api::OriginateOrder,
        /// Where progress goes (created, ringing, answered or failed).
        progress: mpsc::Sender<ivr_proto::v1::OriginateProgress>,
    },
    /// A supervisor's phone rang too long: cancel it.
    MonitorRingTimeout {
        /// The monitoring session.
        monitor_id: String,
    },
    /// An outbound call was not answered in time: cancel it.
    OriginateTimeout {
        /// The call.
        call: CallKey,
    },
    /// Ring a supervisor into a call bridged to an agent, or switch the mode of the supervisor
    /// already on it (see [`crate::monitor`]).
    DialMonitor {
        /// The call, the supervisor, their phone and the mode.
        order: crate::monitor::MonitorOrder,
        /// The monitoring session, or why there is none.
        reply: tokio::sync::oneshot::Sender<
            Result<crate::monitor::MonitorStarted, crate::monitor::MonitorError>,
        >,
    },
    /// Hang up a supervisor's monitoring leg.
    DropMonitor {
        /// The monitoring session.
        monitor_id: String,
        /// Whether it existed.
        reply: tokio::sync::oneshot::Sender<Result<(), crate::monitor::MonitorError>>,
    },
}

/// How long a supervisor's phone may ring before monitoring is given up.
const MONITOR_RING_TIMEOUT: Duration = Duration::from_secs(30);

/// An outbound call not answered yet.
struct Dialing {
    call_id: String,
    progress: mpsc::Sender<ivr_proto::v1::OriginateProgress>,
    ports: Option<crate::ports::RtpPorts>,
    local: LocalMedia,
    plan: Arc<crate::plans::LoadedPlan>,
    record: crate::store::CallStart,
    vars: serde_json::Map<String, serde_json::Value>,
    /// The order's timeout cancelled the INVITE.
    timed_out: bool,
    /// The engine's shutdown cancelled the INVITE.
    shutdown: bool,
    /// A queue's call back.
    callback: Option<crate::callback::CallbackTicket>,
}

/// An INVITE the engine sent to an agent's phone.
struct AgentLegEntry {
    /// The caller's call id.
    call_id: String,
    /// The caller's call.
    caller: CallKey,
    agent: crate::acd::AgentId,
    /// The leg's RTP ports, until the phone answers.
    ports: Option<crate::ports::RtpPorts>,
    local: LocalMedia,
}

struct CallEntry {
    tx: mpsc::UnboundedSender<CallEvent>,
    call_id: String,
    local: LocalMedia,
    answer: Bytes,
    negotiated: Negotiated,
}

/// The running SIP side of the engine.
pub struct Signalling {
    endpoint: Endpoint,
    udp: Arc<UdpSocket>,
    tcp_conns: HashMap<Peer, mpsc::UnboundedSender<Vec<u8>>>,
    control_tx: mpsc::UnboundedSender<Control>,
    calls: HashMap<CallKey, CallEntry>,
    admission: Admission,
    ports: PortPool,
    config: Arc<Config>,
    prompt: Option<Arc<EncodedPrompt>>,
    events: EventLog,
    clock: MediaClock,
    call_tx: mpsc::UnboundedSender<CallRequest>,
    draining: Option<Instant>,
    rejected: u64,
    plans: Option<Arc<PlanRegistry>>,
    services: Option<FlowServices>,
    /// Whether free memory was handed back since the engine last went idle.
    trimmed: bool,
    /// The call center, when queues are configured.
    center: Option<crate::center::Center>,
    /// Agent legs by their SIP call, and by the caller's call id.
    legs: HashMap<CallKey, AgentLegEntry>,
    leg_of: HashMap<String, CallKey>,
    /// Outbound calls not answered yet.
    dialing: HashMap<CallKey, Dialing>,
    /// Recordings are encrypted with it when set.
    keyring: Option<Arc<crate::privacy::crypt::Keyring>>,
    /// Supervisors' monitoring legs.
    monitors: crate::monitor::MonitorLegs,
}

/// Bound listeners, before the task starts.
pub struct Listeners {
    /// UDP socket.
    pub udp: UdpSocket,
    /// TCP listener, if enabled.
    pub tcp: Option<TcpListener>,
}

impl Listeners {
    /// Binds UDP and TCP on the same address (with port 0, TCP takes the port UDP got).
    pub async fn bind(addr: SocketAddr, tcp: bool) -> std::io::Result<Listeners> {
        for _ in 0..20 {
            let udp = UdpSocket::bind(addr).await?;
            if !tcp {
                return Ok(Listeners { udp, tcp: None });
            }
            let local = udp.local_addr()?;
            match TcpListener::bind(local).await {
                Ok(l) => return Ok(Listeners { udp, tcp: Some(l) }),
                Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no port free for both UDP and TCP",
        ))
    }
}

impl Signalling {
    /// Prepares the SIP task.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        udp: Arc<UdpSocket>,
        tcp_local: Option<SocketAddr>,
        control_tx: mpsc::UnboundedSender<Control>,
        prompt: Option<Arc<EncodedPrompt>>,
        events: EventLog,
        clock: MediaClock,
        call_tx: mpsc::UnboundedSender<CallRequest>,
        plans: Option<(Arc<PlanRegistry>, FlowServices)>,
    ) -> std::io::Result<Signalling> {
        let (plans, services) = match plans {
            Some((p, s)) => (Some(p), Some(s)),
            None => (None, None),
        };
        let local_udp = udp.local_addr()?;
        let endpoint = Endpoint::new(ivr_media::sip::EndpointConfig {
            user_agent: config.sip.user_agent.clone(),
            timers: Default::default(),
            local_udp: Some(local_udp),
            local_tcp: tcp_local,
            public_host: config.sip.public_host.clone(),
        });
        let realm = config
            .sip
            .public_host
            .clone()
            .unwrap_or_else(|| local_udp.ip().to_string());
        let admission = Admission::new(config.trunks.clone(), &config.limits, realm);
        let ports = PortPool::new(config.rtp.bind, config.rtp.port_min, config.rtp.port_max);
        Ok(Signalling {
            endpoint,
            udp,
            tcp_conns: HashMap::new(),
            control_tx,
            calls: HashMap::new(),
            admission,
            ports,
            config,
            prompt,
            events,
            clock,
            call_tx,
            draining: None,
            rejected: 0,
            trimmed: true,
            plans,
            services,
            center: None,
            legs: HashMap::new(),
            leg_of: HashMap::new(),
            dialing: HashMap::new(),
            keyring: None,
            monitors: Default::default(),
        })
    }

    /// Encrypts every call's recording with `keyring` when the call ends.
    pub fn with_keyring(mut self, keyring: Arc<crate::privacy::crypt::Keyring>) -> Signalling {
        self.keyring = Some(keyring);
        self
    }

    /// Connects the call center: queued callers go to it, and it rings agents' phones.
    pub fn with_center(mut self, center: crate::center::Center) -> Signalling {
        self.center = Some(center);
        self
    }

    /// Runs until a drain completes.
    pub async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut call_rx: mpsc::UnboundedReceiver<CallRequest>,
    ) {
        let mut buf = vec![0u8; 65_536];
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let timer = tokio::time::sleep_until(far.into());
        tokio::pin!(timer);
        let mut hangup_all_sent = false;
        let mut finishing_since: Option<Instant> = None;
        self.start_registrations();
        loop {
            self.process_events().await;
            let now = Instant::now();
            // Drain bookkeeping.
            if let Some(deadline) = self.draining {
                if !hangup_all_sent && now >= deadline {
                    hangup_all_sent = true;
                    self.hangup_all();
                }
                if self.calls.is_empty() {
                    let since = *finishing_since.get_or_insert(now);
                    // Give our BYEs a moment to be answered, then stop.
                    if self.endpoint.stats().active_dialogs == 0
                        || now.duration_since(since) > Duration::from_secs(2)
                    {
                        info!("drained; stopping");
                        return;
                    }
                }
            }
            if !self.trimmed
                && self.calls.is_empty()
                && self.endpoint.stats().active_transactions == 0
            {
                self.endpoint.shrink();
                self.calls.shrink_to_fit();
                self.tcp_conns.shrink_to_fit();
                crate::memory::release_free_memory();
                self.trimmed = true;
            }
            let mut next = self.endpoint.poll_timeout().unwrap_or(far);
            if let Some(d) = self.draining {
                if !hangup_all_sent {
                    next = next.min(d);
                }
                if finishing_since.is_some() {
                    next = next.min(now + Duration::from_millis(50));
                }
            }
            timer.as_mut().reset(next.into());
            tokio::select! {
                r = self.udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let now = Instant::now();
                        self.endpoint.handle_datagram(now, Peer { transport: Transport::Udp, addr: from }, &buf[..n]);
                        self.process_events().await;
                        // Batch whatever else is already queued.
                        for _ in 0..64 {
                            match self.udp.try_recv_from(&mut buf) {
                                Ok((n, from)) => {
                                    self.endpoint.handle_datagram(now, Peer { transport: Transport::Udp, addr: from }, &buf[..n]);
                                    self.process_events().await;
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    Err(e) => debug!(error = %e, "UDP receive error"),
                },
                Some(req) = call_rx.recv() => self.on_call_request(req),
                Some(ctl) = control.recv() => match ctl {
                    Control::Drain => {
                        if self.draining.is_none() {
                            info!(active = self.calls.len(), "draining: new calls get 503");
                            self.draining = Some(Instant::now() + self.config.server.drain_timeout);
                        }
                    }
                    Control::HangupAll => {
                        info!(active = self.calls.len(), "ending every call");
                        self.draining.get_or_insert_with(Instant::now);
                        hangup_all_sent = true;
                        self.hangup_all();
                    }
                    Control::Stats => println!("{}", self.stats_json()),
                    Control::Hangup { call_id, reply } => {
                        let found = self
                            .calls
                            .values()
                            .find(|e| e.call_id == call_id)
                            .is_some_and(|e| e.tx.send(CallEvent::Hangup("admin")).is_ok());
                        let _ = reply.send(found);
                    }
                    Control::TcpOpened { peer, tx } => { self.tcp_conns.insert(peer, tx); }
                    Control::TcpFrame { peer, data } => {
                        self.endpoint.handle_datagram(Instant::now(), peer, &data);
                    }
                    Control::TcpClosed { peer } => { self.tcp_conns.remove(&peer); }
                    Control::DialAgent { call_id, agent, contact } => self.dial_agent(call_id, agent, &contact),
                    Control::DropAgent { call_id } => self.drop_agent(&call_id),
                    Control::DialMonitor { order, reply } => { let _ = reply.send(self.dial_monitor(order)); }
                    Control::DropMonitor { monitor_id, reply } => { let _ = reply.send(self.stop_monitor(&monitor_id)); }
                    Control::Originate { order, progress } => self.originate(order, progress),
                    Control::MonitorRingTimeout { monitor_id } => {
                        let ringing = self
                            .monitors
                            .find(&monitor_id)
                            .and_then(|key| self.monitors.get_mut(key))
                            .filter(|leg| leg.ports.is_some())
                            .map(|leg| leg.call_id.clone());
                        if let Some(call_id) = ringing {
                            self.drop_monitor(&call_id, "no_answer");
                        }
                    }
                    Control::OriginateTimeout { call } => {
                        if let Some(d) = self.dialing.get_mut(&call) {
                            d.timed_out = true;
                            self.endpoint.hangup(Instant::now(), call);
                        }
                    }
                },
                () = &mut timer => self.endpoint.handle_timeout(Instant::now()),
            }
        }
    }

    /// Sends the configured REGISTERs; the endpoint refreshes them before they expire.
    fn start_registrations(&mut self) {
        let now = Instant::now();
        for reg in &self.config.registrations {
            // The AOR was parsed when the configuration was validated.
            let Ok(aor) = Uri::parse(&reg.aor) else {
                continue;
            };
            let mut uri = aor.clone();
            uri.user = None;
            uri.params.clear();
            let params = RegisterParams {
                registrar: Peer {
                    transport: Transport::Udp,
                    addr: reg.registrar,
                },
                uri,
                aor: NameAddr {
                    display: None,
                    uri: aor,
                    params: Vec::new(),
                },
                credentials: Some(Credentials {
                    username: reg.username.clone(),
                    password: reg.password.clone(),
                }),
                expires: reg.expires,
            };
            info!(registrar = %reg.registrar, aor = %mask_number(&reg.aor), "registering");
            self.endpoint.register(now, params);
        }
    }

    fn hangup_all(&mut self) {
        for entry in self.calls.values() {
            let _ = entry.tx.send(CallEvent::Shutdown);
        }
        // Outbound calls still ringing are cancelled (each reports `failed`).
        let now = Instant::now();
        for (&call, d) in &mut self.dialing {
            d.shutdown = true;
            self.endpoint.hangup(now, call);
        }
    }

    /// Sends every pending datagram and handles every pending event.
    async fn process_events(&mut self) {
        while let Some(out) = self.endpoint.poll_output() {
            match out {
                Output::Transmit(t) => self.transmit(t.to, t.data).await,
                Output::Event(ev) => self.on_event(ev),
            }
        }
    }

    async fn transmit(&mut self, to: Peer, data: Vec<u8>) {
        match to.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.try_send_to(&data, to.addr) {
                    if e.kind() == std::io::ErrorKind::WouldBlock {
                        let _ = self.udp.send_to(&data, to.addr).await;
                    } else {
                        debug!(error = %e, to = %to.addr, "UDP send failed");
                    }
                }
            }
            Transport::Tcp => {
                if let Some(tx) = self.tcp_conns.get(&to) {
                    if tx.send(data).is_ok() {
                        return;
                    }
                    self.tcp_conns.remove(&to);
                    return;
                }
                // No connection to that address yet: open one (requests we originate).
                let (tx, rx) = mpsc::unbounded_channel();
                let _ = tx.send(data);
                self.tcp_conns.insert(to, tx.clone());
                let control = self.control_tx.clone();
                tokio::spawn(async move {
                    match TcpStream::connect(to.addr).await {
                        Ok(stream) => serve_connection(stream, to, control, rx).await,
                        Err(e) => {
                            debug!(error = %e, to = %to.addr, "TCP connect failed");
                            let _ = control.send(Control::TcpClosed { peer: to });
                        }
                    }
                });
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        if crate::monitor::event_call(&ev).is_some_and(|c| self.monitors.contains(c)) {
            return self.on_monitor_event(ev);
        }
        let leg = match &ev {
            Event::Progress { call, .. }
            | Event::Answered { call, .. }
            | Event::Failed { call, .. }
            | Event::Bye { call }
            | Event::Terminated { call, .. }
            | Event::ReInvite { call, .. } => self.legs.contains_key(call),
            _ => false,
        };
        if leg {
            return self.on_leg_event(ev);
        }
        let dialing = match &ev {
            Event::Progress { call, .. }
            | Event::Answered { call, .. }
            | Event::Failed { call, .. }
            | Event::Terminated { call, .. } => self.dialing.contains_key(call),
            _ => false,
        };
        if dialing {
            return self.on_dialing_event(ev);
        }
        match ev {
            Event::IncomingCall { call, from, invite } => self.on_invite(call, from, invite),
            Event::Confirmed { call } => self.to_call(call, CallEvent::Confirmed),
            Event::Cancelled { call } => {
                self.to_call(call, CallEvent::Cancelled);
                self.call_gone(call);
            }
            Event::Bye { call } => {
                self.to_call(call, CallEvent::Bye);
                self.call_gone(call);
            }
            Event::Terminated { call, reason } => {
                let why = match reason {
                    ivr_media::sip::Termination::AckTimeout => "ack_timeout",
                    ivr_media::sip::Termination::TransportError => "transport_error",
                    _ => "terminated",
                };
                self.to_call(call, CallEvent::Terminated(why));
                self.call_gone(call);
            }
            Event::Transferred { call, status } => {
                self.to_call(call, CallEvent::Transferred(status))
            }
            Event::ReInvite { call, txn, request } => self.on_reinvite(call, txn, request),
            Event::Request { call, txn, request } => self.on_in_dialog(call, txn, request),
            Event::Registered { expires, .. } => info!(expires_s = expires.as_secs(), "registered"),
            Event::RegistrationFailed { status, .. } => {
                warn!(status = ?status, "registration failed; retrying in 60 s")
            }
            other => debug!(event = ?other, "ignored SIP event"),
        }
    }

    /// Forgets a caller's call whose dialog ended, with its agent leg.
    fn call_gone(&mut self, call: CallKey) {
        if let Some(entry) = self.calls.remove(&call) {
            self.drop_agent(&entry.call_id);
        }
    }

    fn to_call(&self, call: CallKey, ev: CallEvent) {
        if let Some(entry) = self.calls.get(&call) {
            let _ = entry.tx.send(ev);
        }
    }

    fn reject(
        &mut self,
        call: CallKey,
        call_id: &str,
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
    ) {
        self.rejected += 1;
        self.endpoint.reject(Instant::now(), call, status, headers);
        self.events.emit(
            call_id,
            "rejected",
            json!({"status": status, "reason": reason}),
        );
        info!(call_id, status, reason, "call rejected");
    }

    fn on_invite(&mut self, call: CallKey, from: Peer, invite: Request) {
        let now = Instant::now();
        let call_id = invite.call_id().unwrap_or_default().to_string();
        let from_user = invite.from().map(|n| n.uri.to_string()).unwrap_or_default();
        let to_user = invite.to().map(|n| n.uri.to_string()).unwrap_or_default();
        self.trimmed = false;
        if self.draining.is_some() {
            return self.reject(call, &call_id, 503, "draining", &[("Retry-After", "30")]);
        }
        if self.calls.len() >= self.config.limits.max_calls {
            return self.reject(
                call,
                &call_id,
                503,
                "max_calls reached",
                &[("Retry-After", "5")],
            );
        }
        let trunk = match self.admission.check(now, from.addr.ip(), &invite) {
            Verdict::Accept { trunk } => trunk,
            Verdict::Reject {
                status,
                reason,
                headers,
            } => {
                let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                return self.reject(call, &call_id, status, reason, &h);
            }
        };
        let trunk_name = self
            .admission
            .trunk(trunk)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let dialed = invite.uri.user.clone().unwrap_or_default();
        let plan = match &self.plans {
            Some(registry) => match registry.current().route(&dialed) {
                Some(plan) => Some(plan),
                None => {
                    return self.reject(call, &call_id, 404, "no dial plan for this number", &[]);
                }
            },
            None => None,
        };
        let plan_name = plan.as_ref().map(|p| p.name().to_string());
        let offer = match std::str::from_utf8(&invite.body)
            .ok()
            .map(SessionDescription::parse)
        {
            Some(Ok(sdp)) => sdp,
            _ => {
                return self.reject(
                    call,
                    &call_id,
                    488,
                    "no usable SDP offer",
                    &[(
                        "Warning",
                        "399 ivr \"an SDP offer with PCMU or PCMA is required\"",
                    )],
                );
            }
        };
        let Some(ports) = self.ports.allocate() else {
            return self.reject(
                call,
                &call_id,
                503,
                "no RTP ports free",
                &[("Retry-After", "5")],
            );
        };
        let local = self.offer_media(ports.port());
        let negotiated = match sdp::negotiate(&offer, &local) {
            Ok(n) => n,
            Err(e) => {
                let reason = e.to_string();
                return self.reject(call, &call_id, 488, &reason, &[]);
            }
        };
        let answer = Bytes::from(sdp::answer(&offer, &local, &negotiated).to_string());
        info!(
            call_id = %call_id,
            from = %mask_number(&from_user),
            to = %mask_number(&to_user),
            source = %from.addr,
            trunk = %trunk_name,
            "incoming call"
        );
        self.events.emit(
            &call_id,
            "incoming",
            json!({"from": from_user, "to": to_user, "source": from.addr.to_string(), "transport": format!("{:?}", from.transport).to_lowercase(), "trunk": trunk_name, "plan": plan_name}),
        );
        let record = crate::store::CallStart {
            call_id: call_id.clone(),
            direction: crate::store::Direction::Inbound,
            from_number: invite
                .from()
                .ok()
                .and_then(|n| n.uri.user)
                .unwrap_or_default(),
            to_number: dialed.clone(),
            trunk: trunk_name.to_string(),
            started_at_unix_ms: crate::store::now_unix_ms(),
            dial_plan: plan_name.clone().unwrap_or_default(),
            dial_plan_version: plan
                .as_ref()
                .map(|p| p.fingerprint.clone())
                .unwrap_or_default(),
        };
        if let Some(store) = self.events.store() {
            store.begin_call(record.clone());
        }
        let recording = self.config.recording.enabled.then(|| {
            self.config
                .server
                .data
                .join("recordings")
                .join(format!("{}.wav", sanitize(&call_id)))
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let caller = invite
            .from()
            .ok()
            .and_then(|n| n.uri.user)
            .unwrap_or_default();
        let flow = match (plan, &self.services) {
            (Some(plan), Some(services)) => Some(Flow::new(
                plan,
                services.clone(),
                tx.clone(),
                &call_id,
                &caller,
                &dialed,
            )),
            _ => None,
        };
        let setup = CallSetup {
            key: call,
            call_id: call_id.clone(),
            ports,
            media: negotiated.clone(),
            prompt: self.prompt.clone(),
            repeat: self.config.demo.repeat,
            answer_delay: self.config.demo.answer_delay,
            timeout: self.config.demo.timeout,
            recording,
            symmetric: self.config.rtp.symmetric,
            rtp_timeout: self.config.rtp.timeout,
            events: self.events.clone(),
            sip: self.call_tx.clone(),
            clock: self.clock.clone(),
            flow,
            data_dir: self.config.server.data.clone(),
            record,
            center: self.center.clone(),
            outbound: false,
            keyring: self.keyring.clone(),
        };
        self.endpoint.ringing(now, call);
        self.calls.insert(
            call,
            CallEntry {
                tx,
                call_id,
                local,
                answer,
                negotiated,
            },
        );
        tokio::spawn(call::run(setup, rx));
    }

    fn on_call_request(&mut self, req: CallRequest) {
        let now = Instant::now();
        match req {
            CallRequest::Answer(call) => {
                if let Some(entry) = self.calls.get_mut(&call) {
                    let codec = match entry.negotiated.codec {
                        sdp::Codec::Pcmu => "PCMU",
                        sdp::Codec::Pcma => "PCMA",
                    };
                    self.events.emit(
                        &entry.call_id,
                        "answered",
                        json!({"codec": codec, "telephone_event_pt": entry.negotiated.telephone_event_pt}),
                    );
                    self.endpoint.answer(now, call, entry.answer.clone());
                }
            }
            CallRequest::Refer { call, target } => self.endpoint.refer(now, call, &target),
            CallRequest::Finished { call, hangup } => {
                if let Some(entry) = self.calls.remove(&call) {
                    if hangup {
                        self.endpoint.hangup(now, call);
                    }
                    self.drop_agent(&entry.call_id);
                }
            }
        }
    }

    /// Sends an INVITE to an agent's phone for the caller `call_id` (with an `X-Call-Id` header
    /// naming the caller's call, for the agent's softphone or CRM).
    fn dial_agent(&mut self, call_id: String, agent: crate::acd::AgentId, contact: &str) {
        let now = Instant::now();
        let fail = |s: &Self, why: &str| {
            warn!(call_id = %call_id, agent = %agent, why, "cannot ring the agent");
            if let Some(center) = &s.center {
                center.leg(
                    &call_id,
                    agent.clone(),
                    crate::center::LegStatus::Failed(None),
                );
            }
        };
        let Some((&caller, _)) = self.calls.iter().find(|(_, e)| e.call_id == call_id) else {
            return fail(self, "the caller is gone");
        };
        let Ok(target) = Uri::parse(contact) else {
            return fail(self, "the contact is not a SIP URI");
        };
        let port = target.port.unwrap_or(5060);
        let Ok(ip) = target
            .host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
        else {
            return fail(self, "the contact's host must be an IP address");
        };
        let tcp = target.params.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("transport")
                && v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
        });
        let peer = Peer {
            transport: if tcp { Transport::Tcp } else { Transport::Udp },
            addr: SocketAddr::new(ip, port),
        };
        let Some(ports) = self.ports.allocate() else {
            return fail(self, "no RTP ports free");
        };
        let local = self.offer_media(ports.port());
        let host = self.own_host();
        let from = match Uri::parse(&format!("sip:ivr@{host}")) {
            Ok(uri) => NameAddr {
                display: Some("IVR queue".into()),
                uri,
                params: Vec::new(),
            },
            Err(_) => return fail(self, "the engine's own address is not a SIP host"),
        };
        let params = ivr_media::sip::endpoint::InviteParams {
            to: peer,
            target: target.clone(),
            from,
            to_header: NameAddr {
                display: None,
                uri: target,
                params: Vec::new(),
            },
            sdp: Bytes::from(sdp::offer(&local).to_string()),
            credentials: None,
            extra_headers: vec![("X-Call-Id".into(), call_id.clone())],
        };
        let key = self.endpoint.invite(now, params);
        info!(call_id = %call_id, agent = %agent, "ringing the agent");
        self.leg_of.insert(call_id.clone(), key);
        self.legs.insert(
            key,
            AgentLegEntry {
                call_id,
                caller,
                agent,
                ports: Some(ports),
                local,
            },
        );
    }

    /// Places an outbound call for `order`: an INVITE through the trunk's proxy; the dial plan
    /// runs when the far end answers.
    fn originate(
        &mut self,
        order: crate::api::OriginateOrder,
        progress: mpsc::Sender<ivr_proto::v1::OriginateProgress>,
    ) {
        use ivr_proto::v1::originate_progress::Progress;
        let now = Instant::now();
        let fail = |call_id: &str, status: u32, reason: &str| {
            warn!(reason, trunk = %order.trunk, "outbound call not placed");
            send_progress(
                &progress,
                call_id,
                Progress::Failed(ivr_proto::v1::OriginateFailed {
                    sip_status: status,
                    reason: reason.into(),
                }),
            );
        };
        if self.draining.is_some() {
            return fail("", 0, "draining");
        }
        if self.calls.len() + self.dialing.len() >= self.config.limits.max_calls {
            return fail("", 0, "max_calls");
        }
        let Some(trunk) = self.config.trunks.iter().find(|t| t.name == order.trunk) else {
            return fail("", 0, "unknown_trunk");
        };
        let Some(out) = trunk.outbound.clone() else {
            return fail("", 0, "trunk_has_no_outbound");
        };
        let plan = self.plans.as_ref().and_then(|r| {
            r.current()
                .plans()
                .find(|p| p.name() == order.dial_plan)
                .cloned()
        });
        let Some(plan) = plan else {
            return fail("", 0, "unknown_dial_plan");
        };
        let Some(ports) = self.ports.allocate() else {
            return fail("", 0, "no_rtp_ports");
        };
        let domain = out
            .domain
            .clone()
            .unwrap_or_else(|| out.proxy.ip().to_string());
        let user = order.destination.trim();
        let caller_id = if order.caller_id.is_empty() {
            out.caller_id.clone().unwrap_or_else(|| "anonymous".into())
        } else {
            order.caller_id.clone()
        };
        let host = self.own_host();
        let (Ok(target), Ok(from_uri)) = (
            Uri::parse(&format!("sip:{user}@{domain}")),
            Uri::parse(&format!("sip:{caller_id}@{host}")),
        ) else {
            return fail("", 0, "invalid_number");
        };
        let local = self.offer_media(ports.port());
        let credentials = match (&out.username, &out.password) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            _ => None,
        };
        let params = ivr_media::sip::endpoint::InviteParams {
            to: Peer {
                transport: Transport::Udp,
                addr: out.proxy,
            },
            target: target.clone(),
            from: NameAddr {
                display: None,
                uri: from_uri,
                params: Vec::new(),
            },
            to_header: NameAddr {
                display: None,
                uri: target,
                params: Vec::new(),
            },
            sdp: Bytes::from(sdp::offer(&local).to_string()),
            credentials,
            extra_headers: Vec::new(),
        };
        let key = self.endpoint.invite(now, params);
        let call_id = self.endpoint.call_id(key).unwrap_or_default().to_string();
        self.trimmed = false;
        info!(call_id = %call_id, trunk = %order.trunk, to = %mask_number(user), plan = %order.dial_plan, "outbound call");
        self.events.emit(
            &call_id,
            "outbound",
            json!({"from": caller_id, "to": user, "trunk": order.trunk, "plan": order.dial_plan, "by": order.actor}),
        );
        let record = crate::store::CallStart {
            call_id: call_id.clone(),
            direction: crate::store::Direction::Outbound,
            from_number: caller_id,
            to_number: user.to_string(),
            trunk: order.trunk.clone(),
            started_at_unix_ms: crate::store::now_unix_ms(),
            dial_plan: plan.name().to_string(),
            dial_plan_version: plan.fingerprint.clone(),
        };
        if let Some(store) = self.events.store() {
            store.begin_call(record.clone());
        }
        send_progress(
            &progress,
            &call_id,
            Progress::Created(ivr_proto::v1::OriginateCreated {}),
        );
        let vars = order
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        self.dialing.insert(
            key,
            Dialing {
                call_id,
                progress,
                ports: Some(ports),
                local,
                plan,
                record,
                vars,
                timed_out: false,
                shutdown: false,
                callback: order.callback.clone(),
            },
        );
        let control = self.control_tx.clone();
        let timeout = order.timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let _ = control.send(Control::OriginateTimeout { call: key });
        });
    }

    fn on_dialing_event(&mut self, ev: Event) {
        use ivr_proto::v1::originate_progress::Progress;
        match ev {
            Event::Progress { call, response } => {
                if let Some(d) = self.dialing.get(&call) {
                    if matches!(response.status, 180 | 183) {
                        self.events
                            .emit(&d.call_id, "ringing", json!({"status": response.status}));
                        send_progress(
                            &d.progress,
                            &d.call_id,
                            Progress::Ringing(ivr_proto::v1::OriginateRinging {}),
                        );
                    }
                }
            }
            Event::Failed { .. } | Event::Terminated { .. } => {
                let (call, status) = match ev {
                    Event::Failed { call, response } => (call, response.map(|r| r.status)),
                    Event::Terminated { call, .. } => (call, None),
                    _ => return,
                };
                let Some(d) = self.dialing.remove(&call) else {
                    return;
                };
                let reason = match status {
                    _ if d.shutdown => "shutdown",
                    _ if d.timed_out => "no_answer",
                    Some(486 | 600) => "busy",
                    Some(408 | 480) => "no_answer",
                    Some(_) => "rejected",
                    None => "trunk_unreachable",
                };
                info!(call_id = %d.call_id, status = ?status, reason, "outbound call failed");
                self.events.emit(
                    &d.call_id,
                    "originate_failed",
                    json!({"status": status, "reason": reason}),
                );
                send_progress(
                    &d.progress,
                    &d.call_id,
                    Progress::Failed(ivr_proto::v1::OriginateFailed {
                        sip_status: status.map_or(0, u32::from),
                        reason: reason.into(),
                    }),
                );
                if let Some(store) = self.events.store() {
                    let mut cdr = crate::store::Cdr::started(d.record);
                    cdr.ended_at_unix_ms = Some(crate::store::now_unix_ms());
                    cdr.outcome = Some(crate::store::Outcome::Unanswered);
                    cdr.hangup_cause = Some(match status {
                        Some(code) if reason == "rejected" => format!("rejected_{code}"),
                        _ => reason.to_string(),
                    });
                    cdr.hangup_side = Some(crate::store::HangupSide::Caller);
                    store.finish_call(cdr);
                }
            }
            Event::Answered { call, response } => {
                let Some(mut d) = self.dialing.remove(&call) else {
                    return;
                };
                let negotiated = std::str::from_utf8(&response.body)
                    .ok()
                    .and_then(|t| SessionDescription::parse(t).ok())
                    .and_then(|answer| sdp::negotiate(&answer, &d.local).ok());
                let (Some(negotiated), Some(ports), Some(services)) =
                    (negotiated, d.ports.take(), self.services.clone())
                else {
                    warn!(call_id = %d.call_id, "the answer to an outbound call has no usable SDP");
                    self.endpoint.hangup(Instant::now(), call);
                    send_progress(
                        &d.progress,
                        &d.call_id,
                        Progress::Failed(ivr_proto::v1::OriginateFailed {
                            sip_status: 488,
                            reason: "no_common_codec".into(),
                        }),
                    );
                    return;
                };
                let codec = match negotiated.codec {
                    sdp::Codec::Pcmu => "PCMU",
                    sdp::Codec::Pcma => "PCMA",
                };
                self.events.emit(
                    &d.call_id,
                    "answered",
                    json!({"codec": codec, "telephone_event_pt": negotiated.telephone_event_pt}),
                );
                send_progress(
                    &d.progress,
                    &d.call_id,
                    Progress::Answered(ivr_proto::v1::OriginateAnswered {}),
                );
                let (tx, rx) = mpsc::unbounded_channel();
                let flow = Flow::with_vars(
                    d.plan.clone(),
                    services,
                    tx.clone(),
                    &d.call_id,
                    &d.record.to_number,
                    &d.record.from_number,
                    std::mem::take(&mut d.vars),
                );
                let flow = match d.callback.take() {
                    Some(ticket) => flow.for_callback(ticket),
                    None => flow.with_amd(&self.config.amd),
                };
                let recording = self.config.recording.enabled.then(|| {
                    self.config
                        .server
                        .data
                        .join("recordings")
                        .join(format!("{}.wav", sanitize(&d.call_id)))
                });
                let setup = CallSetup {
                    key: call,
                    call_id: d.call_id.clone(),
                    ports,
                    media: negotiated.clone(),
                    prompt: None,
                    repeat: false,
                    answer_delay: Duration::ZERO,
                    timeout: self.config.demo.timeout,
                    recording,
                    symmetric: self.config.rtp.symmetric,
                    rtp_timeout: self.config.rtp.timeout,
                    events: self.events.clone(),
                    sip: self.call_tx.clone(),
                    clock: self.clock.clone(),
                    flow: Some(flow),
                    data_dir: self.config.server.data.clone(),
                    record: d.record,
                    center: self.center.clone(),
                    outbound: true,
                    keyring: self.keyring.clone(),
                };
                let offer = Bytes::from(sdp::offer(&d.local).to_string());
                let _ = tx.send(CallEvent::Confirmed);
                self.calls.insert(
                    call,
                    CallEntry {
                        tx,
                        call_id: d.call_id,
                        local: d.local,
                        answer: offer,
                        negotiated,
                    },
                );
                tokio::spawn(call::run(setup, rx));
            }
            _ => {}
        }
    }

    /// Answers a re-INVITE on a leg the engine dialled: 200 with `answer`, or 488 when the
    /// offer was unusable.
    fn answer_reinvite(&mut self, now: Instant, txn: ServerTxnKey, answer: Option<Bytes>) {
        match answer {
            Some(a) => self
                .endpoint
                .respond(now, txn, 200, &[], Some(("application/sdp", a))),
            None => self.endpoint.respond(now, txn, 488, &[], None),
        }
    }

    /// The engine's media on `port`: both G.711 codecs and telephone events — what it answers
    /// a caller's offer from, and offers in the INVITEs it sends (agents, supervisors, callees).
    fn offer_media(&self, port: u16) -> LocalMedia {
        LocalMedia {
            addr: self.config.rtp.public_ip.unwrap_or(self.config.rtp.bind),
            port,
            codecs: vec![sdp::Codec::Pcmu, sdp::Codec::Pcma],
            telephone_event: true,
            session_id: rand::random::<u32>().into(),
            session_version: 1,
        }
    }

    /// The host the engine names itself by in the requests it sends: `sip.public_host`, else
    /// the address SIP listens on.
    fn own_host(&self) -> String {
        self.config.sip.public_host.clone().unwrap_or_else(|| {
            self.udp
                .local_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default()
        })
    }

    /// Ends the agent leg of `call_id`, if any (CANCEL while ringing, BYE once answered).
    fn drop_agent(&mut self, call_id: &str) {
        if let Some(key) = self.leg_of.remove(call_id) {
            self.legs.remove(&key);
            self.endpoint.hangup(Instant::now(), key);
        }
        self.drop_monitor(call_id, "bridge_ended");
    }

    fn forget_leg(&mut self, key: CallKey) -> Option<AgentLegEntry> {
        let leg = self.legs.remove(&key)?;
        self.leg_of.remove(&leg.call_id);
        Some(leg)
    }

    fn on_leg_event(&mut self, ev: Event) {
        use crate::center::{AgentMedia, LegStatus};
        let now = Instant::now();
        match ev {
            Event::Progress { call, .. } => {
                if let (Some(leg), Some(center)) = (self.legs.get(&call), &self.center) {
                    center.leg(&leg.call_id, leg.agent.clone(), LegStatus::Ringing);
                }
            }
            Event::Answered { call, response } => {
                let Some(leg) = self.legs.get_mut(&call) else {
                    return;
                };
                let negotiated = std::str::from_utf8(&response.body)
                    .ok()
                    .and_then(|t| SessionDescription::parse(t).ok())
                    .and_then(|answer| sdp::negotiate(&answer, &leg.local).ok());
                let status = match (negotiated, leg.ports.take()) {
                    (Some(media), Some(ports)) => LegStatus::Answered(Box::new(AgentMedia {
                        agent: leg.agent.clone(),
                        ports,
                        media,
                    })),
                    _ => {
                        warn!(call_id = %leg.call_id, "the agent's phone answered without usable SDP");
                        self.endpoint.hangup(now, call);
                        LegStatus::Failed(Some(488))
                    }
                };
                let failed = matches!(status, LegStatus::Failed(_));
                if let Some(center) = &self.center {
                    center.leg(&leg.call_id, leg.agent.clone(), status);
                }
                if failed {
                    self.forget_leg(call);
                }
            }
            Event::Failed { call, response } => {
                if let Some(leg) = self.forget_leg(call) {
                    let status = response.map(|r| r.status);
                    if let Some(center) = &self.center {
                        center.leg(&leg.call_id, leg.agent, LegStatus::Failed(status));
                    }
                }
            }
            Event::Bye { call } | Event::Terminated { call, .. } => {
                if let Some(leg) = self.forget_leg(call) {
                    info!(call_id = %leg.call_id, agent = %leg.agent, "the agent hung up");
                    self.to_call(leg.caller, CallEvent::AgentHangup);
                }
            }
            Event::ReInvite { call, txn, request } => {
                // The agent's phone changes its media (hold, a new address): answer with ours.
                let Some(leg) = self.legs.get_mut(&call) else {
                    return;
                };
                let answer = crate::monitor::reinvite_answer(&request.body, &leg.local);
                self.answer_reinvite(now, txn, answer);
            }
            _ => {}
        }
    }

    fn on_reinvite(&mut self, call: CallKey, txn: ServerTxnKey, request: Request) {
        let now = Instant::now();
        let Some(entry) = self.calls.get_mut(&call) else {
            self.endpoint.respond(now, txn, 481, &[], None);
            return;
        };
        if request.body.is_empty() {
            // An offerless re-INVITE: offer what we have; the answer comes in the ACK.
            self.endpoint.respond(
                now,
                txn,
                200,
                &[],
                Some(("application/sdp", entry.answer.clone())),
            );
            return;
        }
        let offer = match std::str::from_utf8(&request.body)
            .ok()
            .map(SessionDescription::parse)
        {
            Some(Ok(o)) => o,
            _ => {
                self.endpoint.respond(now, txn, 488, &[], None);
                return;
            }
        };
        entry.local.session_version += 1;
        match sdp::negotiate(&offer, &entry.local) {
            Ok(n) => {
                let answer = Bytes::from(sdp::answer(&offer, &entry.local, &n).to_string());
                let _ = entry.tx.send(CallEvent::MediaUpdate {
                    remote: n.remote_rtp,
                    direction: n.direction,
                });
                entry.negotiated = n;
                entry.answer = answer.clone();
                self.endpoint
                    .respond(now, txn, 200, &[], Some(("application/sdp", answer)));
            }
            Err(_) => {
                entry.local.session_version -= 1;
                self.endpoint.respond(now, txn, 488, &[], None);
            }
        }
    }

    fn on_in_dialog(&mut self, call: CallKey, txn: ServerTxnKey, request: Request) {
        let now = Instant::now();
        match request.method {
            ivr_media::sip::Method::Info => {
                let ctype = request.headers.get("Content-Type").unwrap_or_default();
                if let Some((digit, _)) = parse_info(ctype, &request.body) {
                    self.to_call(call, CallEvent::Digit(digit));
                }
                self.endpoint.respond(now, txn, 200, &[], None);
            }
            // A session refresh without SDP is fine; changing media by UPDATE is not supported
            // (re-INVITE is).
            ivr_media::sip::Method::Update if request.body.is_empty() => {
                self.endpoint.respond(now, txn, 200, &[], None)
            }
            ivr_media::sip::Method::Update => self.endpoint.respond(now, txn, 488, &[], None),
            // Progress of a transfer we asked for (RFC 3515 §2.4.5): acknowledged, not acted on.
            ivr_media::sip::Method::Notify => self.endpoint.respond(now, txn, 200, &[], None),
            _ => self.endpoint.respond(now, txn, 501, &[], None),
        }
    }

    /// A snapshot of the engine's counters.
    pub fn stats_json(&self) -> serde_json::Value {
        let e = self.endpoint.stats();
        json!({
            "event": "stats",
            "active_calls": self.calls.len(),
            "tasks": tokio::runtime::Handle::current().metrics().num_alive_tasks(),
            "rtp_ports_free": self.ports.available(),
            "tcp_connections": self.tcp_conns.len(),
            "rejected": self.rejected,
            "draining": self.draining.is_some(),
            "sip": {
                "received": e.received,
                "malformed_dropped": e.malformed_dropped,
                "bad_requests_400": e.bad_requests_400,
                "no_dialog_481": e.no_dialog_481,
                "method_not_allowed_405": e.method_not_allowed_405,
                "stray_responses": e.stray_responses,
                "retransmissions_sent": e.retransmissions_sent,
                "active_transactions": e.active_transactions,
                "active_dialogs": e.active_dialogs,
            },
        })
    }
}

/// Accepts TCP connections and hands each to a reader/writer pair.
pub async fn accept_tcp(listener: TcpListener, control: mpsc::UnboundedSender<Control>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let peer = Peer {
                    transport: Transport::Tcp,
                    addr,
                };
                let (tx, rx) = mpsc::unbounded_channel();
                if control.send(Control::TcpOpened { peer, tx }).is_err() {
                    return;
                }
                tokio::spawn(serve_connection(stream, peer, control.clone(), rx));
            }
            Err(e) => {
                warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Largest buffered, unframed input on one connection before it is dropped.
const MAX_TCP_BUFFER: usize = 2 * 1024 * 1024;

async fn serve_connection(
    stream: TcpStream,
    peer: Peer,
    control: mpsc::UnboundedSender<Control>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let writer_task = tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if writer.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    'conn: loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        loop {
            match framing::frame(&buf) {
                Ok(Some(len)) => {
                    let data: Vec<u8> = buf.drain(..len).collect();
                    if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
                        continue;
                    }
                    if control.send(Control::TcpFrame { peer, data }).is_err() {
                        break 'conn;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    debug!(error = %e, peer = %peer.addr, "unframeable SIP over TCP; closing");
                    break 'conn;
                }
            }
        }
        if buf.len() > MAX_TCP_BUFFER {
            break;
        }
    }
    let _ = control.send(Control::TcpClosed { peer });
    writer_task.abort();
}

/// A Call-ID made safe as a file name.
fn sanitize(call_id: &str) -> String {
    call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect()
}

/// Reports progress of an outbound call; a requester that stopped listening is not waited for.
fn send_progress(
    tx: &mpsc::Sender<ivr_proto::v1::OriginateProgress>,
    call_id: &str,
    progress: ivr_proto::v1::originate_progress::Progress,
) {
    let _ = tx.try_send(ivr_proto::v1::OriginateProgress {
        call_id: call_id.to_string(),
        at_unix_ms: crate::store::now_unix_ms(),
        progress: Some(progress),
    });
}

/// Supervisors' monitoring legs (see [`crate::monitor`]).
impl Signalling {
    /// Rings the supervisor's phone for a call bridged to an agent, or switches the mode of the
    /// supervisor already on it.
    fn dial_monitor(
        &mut self,
        order: crate::monitor::MonitorOrder,
    ) -> Result<crate::monitor::MonitorStarted, crate::monitor::MonitorError> {
        use crate::monitor::{self, MonitorError, MonitorEvent, MonitorLeg, MonitorStarted};
        let Some((&caller, _)) = self.calls.iter().find(|(_, e)| e.call_id == order.call_id) else {
            return Err(MonitorError::UnknownCall(order.call_id));
        };
        if let Some(leg) = self.monitors.of_call_mut(&order.call_id) {
            if leg.supervisor != order.supervisor {
                return Err(MonitorError::Busy {
                    call_id: order.call_id,
                    supervisor: leg.supervisor.clone(),
                });
            }
            let switched = MonitorStarted {
                monitor_id: leg.monitor_id.clone(),
                mode: order.mode,
                switched: true,
            };
            if leg.mode != order.mode {
                leg.mode = order.mode;
                let fields = json!({"monitor_id": leg.monitor_id, "supervisor": leg.supervisor, "mode": order.mode.as_str()});
                self.events.emit(&order.call_id, "monitor_mode", fields);
                self.to_call(caller, CallEvent::Monitor(MonitorEvent::Mode(order.mode)));
            }
            return Ok(switched);
        }
        if !self.leg_of.contains_key(&order.call_id) {
            return Err(MonitorError::NotBridged(order.call_id));
        }
        let (target, peer) = monitor::phone(&order.contact)?;
        let ports = self.ports.allocate().ok_or(MonitorError::NoPorts)?;
        let local = self.offer_media(ports.port());
        let host = self.own_host();
        let Some(params) = monitor::invite(target, peer, &host, &local, &order.call_id, order.mode)
        else {
            warn!(
                host,
                "the engine's own address is not a SIP host; cannot ring a supervisor"
            );
            return Err(MonitorError::Unsupported);
        };
        let key = self.endpoint.invite(Instant::now(), params);
        let monitor_id = format!("mon-{:016x}", rand::random::<u64>());
        info!(call_id = %order.call_id, monitor_id, supervisor = %order.supervisor, mode = order.mode.as_str(), "ringing the supervisor");
        self.monitors.insert(
            key,
            MonitorLeg {
                monitor_id: monitor_id.clone(),
                call_id: order.call_id,
                caller,
                supervisor: order.supervisor,
                mode: order.mode,
                ports: Some(ports),
                local,
            },
        );
        let control = self.control_tx.clone();
        let id = monitor_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(MONITOR_RING_TIMEOUT).await;
            let _ = control.send(Control::MonitorRingTimeout { monitor_id: id });
        });
        Ok(MonitorStarted {
            monitor_id,
            mode: order.mode,
            switched: false,
        })
    }

    /// `StopMonitor`: hangs up the session's leg.
    fn stop_monitor(&mut self, monitor_id: &str) -> Result<(), crate::monitor::MonitorError> {
        let call_id = self
            .monitors
            .find(monitor_id)
            .and_then(|key| self.monitors.get_mut(key))
            .map(|leg| leg.call_id.clone())
            .ok_or_else(|| crate::monitor::MonitorError::UnknownMonitor(monitor_id.to_string()))?;
        self.drop_monitor(&call_id, "stopped");
        Ok(())
    }

    /// Ends the supervisor's leg on `call_id`, if any (CANCEL while ringing, BYE once answered),
    /// and tells the caller's task to release its sockets.
    fn drop_monitor(&mut self, call_id: &str, why: &str) {
        let Some((key, leg)) = self.monitors.remove_call(call_id) else {
            return;
        };
        self.endpoint.hangup(Instant::now(), key);
        self.to_call(
            leg.caller,
            CallEvent::Monitor(crate::monitor::MonitorEvent::Hangup),
        );
        self.monitor_stopped(&leg, why);
    }

    fn monitor_stopped(&self, leg: &crate::monitor::MonitorLeg, why: &str) {
        info!(call_id = %leg.call_id, monitor_id = %leg.monitor_id, why, "monitoring stopped");
        self.events.emit(
            &leg.call_id,
            "monitor_stopped",
            json!({"monitor_id": leg.monitor_id, "supervisor": leg.supervisor, "mode": leg.mode.as_str(), "reason": why}),
        );
    }

    fn on_monitor_event(&mut self, ev: Event) {
        use crate::monitor::{MonitorEvent, MonitorMedia};
        let now = Instant::now();
        match ev {
            Event::Answered { call, response } => {
                let Some(leg) = self.monitors.get_mut(call) else {
                    return;
                };
                let negotiated = std::str::from_utf8(&response.body)
                    .ok()
                    .and_then(|t| SessionDescription::parse(t).ok())
                    .and_then(|answer| sdp::negotiate(&answer, &leg.local).ok());
                let (Some(media), Some(ports)) = (negotiated, leg.ports.take()) else {
                    warn!(call_id = %leg.call_id, "the supervisor's phone answered without usable SDP");
                    self.endpoint.hangup(now, call);
                    if let Some(leg) = self.monitors.remove(call) {
                        self.monitor_stopped(&leg, "no_media");
                    }
                    return;
                };
                let media = MonitorMedia {
                    monitor_id: leg.monitor_id.clone(),
                    mode: leg.mode,
                    leg: crate::center::AgentMedia {
                        agent: crate::acd::AgentId(leg.supervisor.clone()),
                        ports,
                        media,
                    },
                };
                self.events.emit(
                    &leg.call_id,
                    "monitor_started",
                    json!({"monitor_id": leg.monitor_id, "supervisor": leg.supervisor, "mode": leg.mode.as_str()}),
                );
                let caller = leg.caller;
                self.to_call(
                    caller,
                    CallEvent::Monitor(MonitorEvent::Connected(Box::new(media))),
                );
            }
            Event::Failed { call, response } => {
                if let Some(leg) = self.monitors.remove(call) {
                    let status = response.map_or(0, |r| r.status);
                    info!(call_id = %leg.call_id, status, "the supervisor's phone did not answer");
                    self.monitor_stopped(&leg, "no_answer");
                }
            }
            Event::Bye { call } | Event::Terminated { call, .. } => {
                if let Some(leg) = self.monitors.remove(call) {
                    self.to_call(leg.caller, CallEvent::Monitor(MonitorEvent::Hangup));
                    self.monitor_stopped(&leg, "supervisor_hangup");
                }
            }
            Event::ReInvite { call, txn, request } => {
                let answer = self
                    .monitors
                    .get_mut(call)
                    .and_then(|leg| crate::monitor::reinvite_answer(&request.body, &leg.local));
                self.answer_reinvite(now, txn, answer);
            }
            _ => {}
        }
    }
}
