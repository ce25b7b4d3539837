//! The agent's leg of a bridged call, relayed by the caller's call task.
//!
//! Each media tick the caller's task pops one frame from each leg's jitter buffer, decoded to
//! linear PCM, and sends each to the other leg encoded in that leg's codec: a PCMU caller and
//! a PCMA agent hear each other, and the recording gets both sides on their own channels. No
//! allocation happens per packet; the only state is the leg's sockets and buffers.

use std::net::SocketAddr;
use std::time::Instant;

use ivr_media::audio::Frame8k;
use ivr_media::codec::g711::{self, G711};
use ivr_media::rtp::{self, JitterBuffer, JitterConfig, Playout, Sender};
use ivr_media::sdp::Codec;
use tokio::net::UdpSocket;

use crate::center::AgentMedia;
use crate::ports::RtpPorts;

/// RTP packets are at most this big.
const MAX_PACKET: usize = 1500;

/// The agent's leg.
pub(crate) struct AgentLeg {
    /// The agent.
    pub agent: String,
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
    /// When the agent answered.
    pub connected_at: Instant,
    /// Packets from the agent.
    pub received: u64,
    /// Packets to the agent.
    pub sent: u64,
}

impl AgentLeg {
    /// The leg for an answered agent phone.
    pub fn new(media: AgentMedia, now: Instant) -> std::io::Result<AgentLeg> {
        let sock = UdpSocket::from_std(media.ports.rtp.try_clone()?)?;
        Ok(AgentLeg {
            agent: media.agent.to_string(),
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
            connected_at: now,
            received: 0,
            sent: 0,
        })
    }

    /// The next datagram from the agent's phone (never completes without a leg).
    pub async fn recv(leg: Option<&AgentLeg>, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        match leg {
            Some(l) => l.sock.recv_from(buf).await.ok(),
            None => std::future::pending().await,
        }
    }

    /// A datagram from the agent's side: audio goes to the jitter buffer; anything else (RTCP,
    /// DTMF, strangers) is dropped.
    pub fn on_rtp(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) {
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

    /// One tick: the agent's next frame is decoded (see [`AgentLeg::frame`]) and `caller` (if
    /// any: the caller may be silent or on hold) is sent to the agent.
    pub fn tick(&mut self, now: Instant, caller: Option<&Frame8k>) {
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
        let (Some(frame), Some(remote)) = (caller, self.remote) else {
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

    /// The agent's audio of this tick, if any arrived.
    pub fn frame(&self) -> Option<&Frame8k> {
        self.fresh.then_some(&self.frame)
    }
}
