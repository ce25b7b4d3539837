//! The phone legs of a bridged call, relayed by the caller's call task.
//!
//! Each media tick the caller's task pops one frame from each leg's jitter buffer, decoded to
//! linear PCM, and sends each to the other leg encoded in that leg's codec: a PCMU caller and
//! a PCMA agent hear each other, and the recording gets both sides on their own channels. No
//! allocation happens per packet; the only state is the legs' sockets and buffers.
//!
//! A [`Leg`] is one phone: the agent's, or a supervisor's. The agent's leg may carry a
//! supervisor's leg ([`crate::monitor`]); it then mixes the three parties each tick as the
//! monitoring mode says (listen, whisper, barge).

use std::net::SocketAddr;
use std::time::Instant;

use ivr_media::audio::Frame8k;
use ivr_media::codec::g711::{self, G711};
use ivr_media::rtp::{self, JitterBuffer, JitterConfig, Playout, Sender};
use ivr_media::sdp::Codec;
use tokio::net::UdpSocket;

use crate::center::AgentMedia;
use crate::monitor::{self, MonitorMode};
use crate::ports::RtpPorts;

/// RTP packets are at most this big.
const MAX_PACKET: usize = 1500;

/// The agent's leg (the leg that may carry a supervisor's).
pub(crate) type AgentLeg = Leg;

/// A supervisor's leg attached to the agent's.
struct Attached {
    leg: Leg,
    mode: MonitorMode,
    monitor_id: String,
}

/// Where a datagram came from: which leg's socket, and the sender's address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source {
    addr: SocketAddr,
    supervisor: bool,
}

/// One phone's leg of a bridged call: an agent's or a supervisor's.
pub(crate) struct Leg {
    /// Who is on the phone: the agent's id, or the supervisor's.
    pub party: String,
    sock: UdpSocket,
    _ports: RtpPorts,
    codec: G711,
    payload_type: u8,
    remote: Option<SocketAddr>,
    latched: bool,
    sender: Sender,
    jitter: JitterBuffer,
    frame: Frame8k,
    fresh: bool,
    out: [u8; MAX_PACKET],
    /// A supervisor monitoring the call on this (the agent's) leg.
    monitor: Option<Box<Attached>>,
    /// What the caller hears this tick while a supervisor is attached.
    to_caller: Option<Frame8k>,
    /// When the phone answered.
    pub connected_at: Instant,
    /// Packets from the phone.
    pub received: u64,
    /// Packets to the phone.
    pub sent: u64,
}

impl Leg {
    /// The leg for an answered phone.
    pub fn new(media: AgentMedia, now: Instant) -> std::io::Result<Leg> {
        let sock = UdpSocket::from_std(media.ports.rtp.try_clone()?)?;
        Ok(Leg {
            party: media.agent.0,
            sock,
            _ports: media.ports,
            codec: match media.media.codec {
                Codec::Pcmu => G711::Pcmu,
                Codec::Pcma => G711::Pcma,
            },
            payload_type: media.media.payload_type,
            remote: media.media.remote_rtp,
            latched: false,
            sender: Sender::random(),
            jitter: JitterBuffer::new(JitterConfig::default()),
            frame: Frame8k::silence(),
            fresh: false,
            out: [0; MAX_PACKET],
            monitor: None,
            to_caller: None,
            connected_at: now,
            received: 0,
            sent: 0,
        })
    }

    /// The next datagram from the agent's phone or the attached supervisor's (never completes
    /// without a leg).
    pub async fn recv(leg: Option<&Leg>, buf: &mut [u8]) -> Option<(usize, Source)> {
        let Some(l) = leg else {
            return std::future::pending().await;
        };
        let Some(m) = l.monitor.as_deref() else {
            let (n, addr) = l.sock.recv_from(buf).await.ok()?;
            return Some((
                n,
                Source {
                    addr,
                    supervisor: false,
                },
            ));
        };
        loop {
            let supervisor = tokio::select! {
                biased;
                r = l.sock.readable() => { r.ok()?; false }
                r = m.leg.sock.readable() => { r.ok()?; true }
            };
            let sock = if supervisor { &m.leg.sock } else { &l.sock };
            match sock.try_recv_from(buf) {
                Ok((n, addr)) => return Some((n, Source { addr, supervisor })),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return None,
            }
        }
    }

    /// A datagram from a phone of this leg: audio goes to that phone's jitter buffer; anything
    /// else (RTCP, DTMF, strangers) is dropped.
    pub fn on_rtp(&mut self, now: Instant, from: Source, packet: &[u8]) {
        match &mut self.monitor {
            Some(m) if from.supervisor => m.leg.on_phone_rtp(now, from.addr, packet),
            _ if from.supervisor => {}
            _ => self.on_phone_rtp(now, from.addr, packet),
        }
    }

    fn on_phone_rtp(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) {
        let Ok((header, payload)) = rtp::parse(packet) else {
            return;
        };
        if Some(from) != self.remote {
            // Symmetric RTP: the phone's real source wins once, before anything else came.
            if self.latched {
                return;
            }
            self.remote = Some(from);
        }
        self.latched = true;
        if header.payload_type != self.payload_type {
            return;
        }
        self.received += 1;
        self.jitter.push(now, &header, payload);
    }

    /// One tick: the agent's next frame is decoded and `caller` (if any: the caller may be
    /// silent or on hold) is sent to the agent; with a supervisor attached the three parties
    /// are mixed as the mode says. What the caller hears is then [`Leg::frame`].
    pub fn tick(&mut self, now: Instant, caller: Option<&Frame8k>) {
        self.pull(now);
        let Some(m) = self.monitor.as_deref_mut() else {
            self.send(caller);
            return;
        };
        m.leg.pull(now);
        let agent = self.fresh.then_some(self.frame);
        let mix = monitor::mix(m.mode, caller, agent.as_ref(), m.leg.heard());
        m.leg.send(mix.to_supervisor.as_ref());
        self.send(mix.to_agent.as_ref());
        self.to_caller = mix.to_caller;
    }

    /// What the caller hears from this leg this tick: the agent's audio (with the supervisor's
    /// mixed in while barging), if any arrived.
    pub fn frame(&self) -> Option<&Frame8k> {
        match &self.monitor {
            Some(_) => self.to_caller.as_ref(),
            None => self.heard(),
        }
    }

    /// Attaches a supervisor's leg to this (the agent's) leg, replacing any earlier one.
    pub fn attach(&mut self, supervisor: Leg, mode: MonitorMode, monitor_id: String) {
        self.monitor = Some(Box::new(Attached {
            leg: supervisor,
            mode,
            monitor_id,
        }));
        self.to_caller = None;
    }

    /// Switches the attached supervisor's mode; false without one.
    pub fn set_mode(&mut self, mode: MonitorMode) -> bool {
        match &mut self.monitor {
            Some(m) => {
                m.mode = mode;
                true
            }
            None => false,
        }
    }

    /// Detaches the supervisor's leg (its sockets are released); returns its monitor id.
    pub fn detach(&mut self) -> Option<String> {
        self.to_caller = None;
        self.monitor.take().map(|m| m.monitor_id)
    }

    /// Pops this phone's next frame from its jitter buffer.
    fn pull(&mut self, now: Instant) {
        self.fresh = match self.jitter.pop(now) {
            Playout::Packet { payload, .. } if payload.len() == 160 => {
                g711::decode(self.codec, payload, self.frame.samples_mut());
                true
            }
            Playout::Packet { .. } | Playout::Empty => false,
            Playout::Lost => {
                for s in self.frame.samples_mut() {
                    *s /= 2;
                }
                true
            }
        };
    }

    /// This phone's audio of this tick, if any arrived.
    fn heard(&self) -> Option<&Frame8k> {
        self.fresh.then_some(&self.frame)
    }

    /// Sends `frame` to this phone (nothing, with the timestamp advanced, for `None`).
    fn send(&mut self, frame: Option<&Frame8k>) {
        let (Some(frame), Some(remote)) = (frame, self.remote) else {
            self.sender.skip(160);
            return;
        };
        let mut payload = [0u8; 160];
        g711::encode(self.codec, frame.samples(), &mut payload);
        let header = self.sender.next_header(self.payload_type, 160, false);
        if let Ok(n) = rtp::write(&header, &payload, &mut self.out) {
            if self.sock.try_send_to(&self.out[..n], remote).is_ok() {
                self.sent += 1;
            }
        }
    }
}
