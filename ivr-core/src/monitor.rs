//! Supervisors on a bridged call: listen, whisper, barge.
//!
//! ```text
//!  SupervisorService.Monitor ──DialMonitor──▶ SIP task ──INVITE (X-Call-Id)──▶ supervisor's phone
//!                                               │ 200 OK: Monitor(Connected { sockets, mode })
//!                                               ▼
//!                                   caller's call task, each 20 ms:
//!   listen:  supervisor ◀ caller + agent   agent ◀ caller               caller ◀ agent
//!   whisper: supervisor ◀ caller + agent   agent ◀ caller + supervisor  caller ◀ agent
//!   barge:   supervisor ◀ caller + agent   agent ◀ caller + supervisor  caller ◀ agent + supervisor
//! ```
//!
//! The SIP task rings the supervisor's phone like an agent's (`MonitorLegs` keeps the
//! INVITEs); when it answers, the leg's sockets go to the caller's call task, which attaches
//! them to the agent's leg (`bridge::Leg::attach`) and mixes the three parties each tick with
//! [`mix`]: saturating 16-bit sums of 20 ms frames on the stack, no allocation. A second
//! `Monitor` from the same supervisor switches the mode without a new INVITE; a BYE from the
//! supervisor, `StopMonitor`, the agent leaving or the call ending hang the leg up.
//! Each start, switch and stop is a call event (`monitor_started`, `monitor_mode`,
//! `monitor_stopped`) naming the supervisor and the mode.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use ivr_media::audio::Frame8k;
use ivr_media::sdp::{self, LocalMedia, SessionDescription};
use ivr_media::sip::endpoint::InviteParams;
use ivr_media::sip::headers::NameAddr;
use ivr_media::sip::{CallKey, Event, Peer, Transport, Uri};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::bridge::{AgentLeg, Leg};
use crate::center::AgentMedia;
use crate::ports::RtpPorts;
use crate::signalling::Control;

/// How a supervisor joins a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MonitorMode {
    /// The supervisor hears caller and agent; nobody hears the supervisor.
    Listen,
    /// The supervisor hears both; only the agent hears the supervisor (coaching).
    Whisper,
    /// Everyone hears everyone (a three-way conference).
    Barge,
}

impl MonitorMode {
    /// The mode's name in events and logs: `listen`, `whisper`, `barge`.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorMode::Listen => "listen",
            MonitorMode::Whisper => "whisper",
            MonitorMode::Barge => "barge",
        }
    }
}

/// A supervisor asks to join a call (or to switch the mode they are in).
#[derive(Debug, Clone)]
pub struct MonitorOrder {
    /// The caller's call id.
    pub call_id: String,
    /// The supervisor (the API principal).
    pub supervisor: String,
    /// The supervisor's phone, `sip:user@IP:port`.
    pub contact: String,
    /// The mode.
    pub mode: MonitorMode,
}

/// The engine's answer to a [`MonitorOrder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorStarted {
    /// The monitoring session (the same one when the mode was switched).
    pub monitor_id: String,
    /// The mode in force.
    pub mode: MonitorMode,
    /// True when an existing session's mode was switched (no new INVITE).
    pub switched: bool,
}

/// Why monitoring could not start or stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    /// No call in progress has this id.
    #[error("no call `{0}` in progress; ListCalls shows the calls in progress")]
    UnknownCall(String),
    /// The call has no agent on it.
    #[error("call `{0}` is not connected to an agent; monitor it once an agent has answered (ListCalls shows phase CONNECTED)")]
    NotBridged(String),
    /// Another supervisor already monitors the call.
    #[error("call `{call_id}` is already monitored by `{supervisor}`; only one supervisor at a time can join a call")]
    Busy {
        /// The call.
        call_id: String,
        /// Who monitors it.
        supervisor: String,
    },
    /// No monitoring session has this id.
    #[error("no monitoring session `{0}`: it ended (the supervisor or the call hung up) or never existed")]
    UnknownMonitor(String),
    /// The contact is not a SIP URI the engine can ring.
    #[error("sip_contact `{contact}` {why}; give the supervisor's phone as sip:user@IP:port")]
    BadContact {
        /// The contact given.
        contact: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The engine has no RTP ports free for the supervisor's leg.
    #[error("no RTP ports free for the supervisor's leg; retry when calls have ended or widen [rtp] port_min..port_max")]
    NoPorts,
    /// The engine does not monitor calls (no SIP task reachable).
    #[error("monitoring is not available in this engine")]
    Unsupported,
    /// The engine is stopping.
    #[error("the engine is shutting down; retry on another instance")]
    ShuttingDown,
}

/// The supervisor leg's media, handed from the SIP task to the caller's call task.
#[derive(Debug)]
pub struct MonitorMedia {
    /// The monitoring session.
    pub monitor_id: String,
    /// The mode when the phone answered.
    pub mode: MonitorMode,
    /// The leg: the supervisor's id in `agent`, the sockets and what the phone answered.
    pub leg: AgentMedia,
}

/// What the SIP task tells a caller's call task about a supervisor's leg.
#[derive(Debug)]
pub enum MonitorEvent {
    /// The supervisor's phone answered: mix it in.
    Connected(Box<MonitorMedia>),
    /// The supervisor switched mode.
    Mode(MonitorMode),
    /// The supervisor's leg ended: release its sockets.
    Hangup,
}

/// One tick's audio for each party (`None`: nothing to send, the party hears silence).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    /// What the caller hears.
    pub to_caller: Option<Frame8k>,
    /// What the agent hears.
    pub to_agent: Option<Frame8k>,
    /// What the supervisor hears.
    pub to_supervisor: Option<Frame8k>,
}

/// Mixes one tick of a monitored call: each party's frame (`None` when nothing arrived) goes
/// to whoever `mode` lets hear it, summed with saturation. The supervisor always hears caller
/// and agent; the agent hears the supervisor when whispering or barging; the caller hears the
/// supervisor only when barging.
pub fn mix(
    mode: MonitorMode,
    caller: Option<&Frame8k>,
    agent: Option<&Frame8k>,
    supervisor: Option<&Frame8k>,
) -> Mix {
    let heard = |on: bool| supervisor.filter(|_| on);
    Mix {
        to_caller: sum(agent, heard(mode == MonitorMode::Barge)),
        to_agent: sum(caller, heard(mode != MonitorMode::Listen)),
        to_supervisor: sum(caller, agent),
    }
}

/// `a + b` sample by sample, saturating at the 16-bit limits.
fn sum(a: Option<&Frame8k>, b: Option<&Frame8k>) -> Option<Frame8k> {
    match (a, b) {
        (None, None) => None,
        (Some(f), None) | (None, Some(f)) => Some(*f),
        (Some(a), Some(b)) => {
            let mut out = *a;
            for (o, s) in out.samples_mut().iter_mut().zip(b.samples()) {
                *o = o.saturating_add(*s);
            }
            Some(out)
        }
    }
}

/// Applies a [`MonitorEvent`] in the caller's call task to the agent's leg, if one is bridged.
pub(crate) fn on_event(agent: Option<&mut AgentLeg>, event: MonitorEvent) {
    let now = std::time::Instant::now();
    match (event, agent) {
        (MonitorEvent::Connected(media), Some(agent)) => {
            let MonitorMedia {
                monitor_id,
                mode,
                leg,
            } = *media;
            match Leg::new(leg, now) {
                Ok(leg) => {
                    debug!(monitor_id, mode = mode.as_str(), "supervisor leg attached");
                    agent.attach(leg, mode, monitor_id);
                }
                Err(e) => warn!(error = %e, "cannot use the supervisor's RTP socket"),
            }
        }
        (MonitorEvent::Connected(media), None) => {
            debug!(monitor_id = %media.monitor_id, "no agent on the call: supervisor leg not attached");
        }
        (MonitorEvent::Mode(mode), Some(agent)) => {
            agent.set_mode(mode);
        }
        (MonitorEvent::Hangup, Some(agent)) => {
            if let Some(id) = agent.detach() {
                debug!(monitor_id = id, "supervisor leg detached");
            }
        }
        (MonitorEvent::Mode(_) | MonitorEvent::Hangup, None) => {}
    }
}

/// Where to send the INVITE for `contact`: its URI and next hop. The contact must be
/// `sip:user@IP[:port]` (port 5060 when left out; `;transport=tcp` for TCP).
pub fn phone(contact: &str) -> Result<(Uri, Peer), MonitorError> {
    let bad = |why| MonitorError::BadContact {
        contact: contact.to_string(),
        why,
    };
    let uri = Uri::parse(contact).map_err(|_| bad("is not a SIP URI"))?;
    if uri.scheme != "sip" {
        return Err(bad("is not a sip: URI"));
    }
    if uri.user.as_deref().is_none_or(str::is_empty) {
        return Err(bad("has no user part"));
    }
    let ip: IpAddr = uri
        .host
        .trim_matches(['[', ']'])
        .parse()
        .map_err(|_| bad("does not name its host by IP address"))?;
    let tcp = uri.params.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transport")
            && v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
    });
    let peer = Peer {
        transport: if tcp { Transport::Tcp } else { Transport::Udp },
        addr: SocketAddr::new(ip, uri.port.unwrap_or(5060)),
    };
    Ok((uri, peer))
}

/// The INVITE to a supervisor's phone, from `sip:ivr@host`, with `X-Call-Id` naming the
/// monitored call and `X-Monitor-Mode` the mode; `None` when `host` is not a SIP host.
pub(crate) fn invite(
    target: Uri,
    peer: Peer,
    host: &str,
    local: &LocalMedia,
    call_id: &str,
    mode: MonitorMode,
) -> Option<InviteParams> {
    let from = Uri::parse(&format!("sip:ivr@{host}")).ok()?;
    Some(InviteParams {
        to: peer,
        target: target.clone(),
        from: NameAddr {
            display: Some("IVR monitor".into()),
            uri: from,
            params: Vec::new(),
        },
        to_header: NameAddr {
            display: None,
            uri: target,
            params: Vec::new(),
        },
        sdp: Bytes::from(sdp::offer(local).to_string()),
        credentials: None,
        extra_headers: vec![
            ("X-Call-Id".into(), call_id.to_string()),
            ("X-Monitor-Mode".into(), mode.as_str().to_string()),
        ],
    })
}

/// The SDP answer to a re-INVITE `body` from a phone the engine dialled (an agent's or a
/// supervisor's), if it is acceptable.
pub(crate) fn reinvite_answer(body: &[u8], local: &LocalMedia) -> Option<Bytes> {
    let offer = SessionDescription::parse(std::str::from_utf8(body).ok()?).ok()?;
    let n = sdp::negotiate(&offer, local).ok()?;
    Some(Bytes::from(sdp::answer(&offer, local, &n).to_string()))
}

/// The SIP dialog an event of the endpoint is about, for the events a leg we dialled gets.
pub(crate) fn event_call(ev: &Event) -> Option<CallKey> {
    match ev {
        Event::Progress { call, .. }
        | Event::Answered { call, .. }
        | Event::Failed { call, .. }
        | Event::Bye { call }
        | Event::Terminated { call, .. }
        | Event::ReInvite { call, .. } => Some(*call),
        _ => None,
    }
}

/// A supervisor's leg as the SIP task keeps it.
pub(crate) struct MonitorLeg {
    /// The monitoring session.
    pub monitor_id: String,
    /// The monitored (caller's) call id.
    pub call_id: String,
    /// The caller's SIP call.
    pub caller: CallKey,
    /// The supervisor.
    pub supervisor: String,
    /// The mode in force.
    pub mode: MonitorMode,
    /// The leg's RTP ports, until the phone answers.
    pub ports: Option<RtpPorts>,
    /// Our side of the leg's media.
    pub local: LocalMedia,
}

/// The supervisors' legs the SIP task dialled: by their SIP call, and by the monitored call.
#[derive(Default)]
pub(crate) struct MonitorLegs {
    legs: HashMap<CallKey, MonitorLeg>,
    of_call: HashMap<String, CallKey>,
}

impl MonitorLegs {
    /// Whether `key` is a supervisor's leg.
    pub fn contains(&self, key: CallKey) -> bool {
        self.legs.contains_key(&key)
    }

    /// The leg of `key`.
    pub fn get_mut(&mut self, key: CallKey) -> Option<&mut MonitorLeg> {
        self.legs.get_mut(&key)
    }

    /// The leg monitoring `call_id`.
    pub fn of_call_mut(&mut self, call_id: &str) -> Option<&mut MonitorLeg> {
        let key = self.of_call.get(call_id)?;
        self.legs.get_mut(key)
    }

    /// The SIP call of the session `monitor_id`.
    pub fn find(&self, monitor_id: &str) -> Option<CallKey> {
        self.legs
            .iter()
            .find(|(_, l)| l.monitor_id == monitor_id)
            .map(|(k, _)| *k)
    }

    /// Keeps a new leg.
    pub fn insert(&mut self, key: CallKey, leg: MonitorLeg) {
        self.of_call.insert(leg.call_id.clone(), key);
        self.legs.insert(key, leg);
    }

    /// Forgets the leg of `key`.
    pub fn remove(&mut self, key: CallKey) -> Option<MonitorLeg> {
        let leg = self.legs.remove(&key)?;
        self.of_call.remove(&leg.call_id);
        Some(leg)
    }

    /// Forgets the leg monitoring `call_id`.
    pub fn remove_call(&mut self, call_id: &str) -> Option<(CallKey, MonitorLeg)> {
        let key = *self.of_call.get(call_id)?;
        self.remove(key).map(|leg| (key, leg))
    }
}

/// Asks the SIP task to ring the supervisor into the call, or to switch their mode.
pub async fn dial(
    control: &mpsc::UnboundedSender<Control>,
    order: MonitorOrder,
) -> Result<MonitorStarted, MonitorError> {
    let (reply, answer) = oneshot::channel();
    control
        .send(Control::DialMonitor { order, reply })
        .map_err(|_| MonitorError::ShuttingDown)?;
    answer.await.map_err(|_| MonitorError::ShuttingDown)?
}

/// Asks the SIP task to hang up the supervisor's leg of `monitor_id`.
pub async fn stop(
    control: &mpsc::UnboundedSender<Control>,
    monitor_id: &str,
) -> Result<(), MonitorError> {
    let (reply, answer) = oneshot::channel();
    control
        .send(Control::DropMonitor {
            monitor_id: monitor_id.to_string(),
            reply,
        })
        .map_err(|_| MonitorError::ShuttingDown)?;
    answer.await.map_err(|_| MonitorError::ShuttingDown)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(level: i16) -> Frame8k {
        let mut f = Frame8k::silence();
        for (i, s) in f.samples_mut().iter_mut().enumerate() {
            *s = if i % 2 == 0 { level } else { -level };
        }
        f
    }

    fn first(f: Option<Frame8k>) -> Option<i16> {
        f.map(|f| f.samples()[0])
    }

    #[test]
    fn listening_the_supervisor_hears_caller_and_agent_and_nobody_hears_the_supervisor() {
        let (c, a, s) = (tone(100), tone(20), tone(3));
        let m = mix(MonitorMode::Listen, Some(&c), Some(&a), Some(&s));
        assert_eq!(first(m.to_supervisor), Some(120));
        assert_eq!(first(m.to_agent), Some(100));
        assert_eq!(first(m.to_caller), Some(20));
    }

    #[test]
    fn whispering_only_the_agent_hears_the_supervisor() {
        let (c, a, s) = (tone(100), tone(20), tone(3));
        let m = mix(MonitorMode::Whisper, Some(&c), Some(&a), Some(&s));
        assert_eq!(first(m.to_supervisor), Some(120));
        assert_eq!(first(m.to_agent), Some(103));
        assert_eq!(first(m.to_caller), Some(20));
    }

    #[test]
    fn barging_each_party_hears_the_other_two() {
        let (c, a, s) = (tone(100), tone(20), tone(3));
        let m = mix(MonitorMode::Barge, Some(&c), Some(&a), Some(&s));
        assert_eq!(first(m.to_supervisor), Some(120));
        assert_eq!(first(m.to_agent), Some(103));
        assert_eq!(first(m.to_caller), Some(23));
        // The negative half-waves sum too.
        assert_eq!(m.to_caller.map(|f| f.samples()[1]), Some(-23));
    }

    #[test]
    fn loud_parties_saturate_instead_of_wrapping() {
        let (c, a) = (tone(30_000), tone(30_000));
        let m = mix(MonitorMode::Listen, Some(&c), Some(&a), None);
        let heard = m.to_supervisor.unwrap();
        assert_eq!(heard.samples()[0], i16::MAX);
        assert_eq!(heard.samples()[1], i16::MIN);
    }

    #[test]
    fn a_silent_party_leaves_the_others_as_they_are_and_nobody_talking_sends_nothing() {
        let s = tone(7);
        let m = mix(MonitorMode::Barge, None, None, Some(&s));
        assert_eq!(m.to_supervisor, None);
        assert_eq!(m.to_agent, Some(s));
        assert_eq!(m.to_caller, Some(s));
        let m = mix(MonitorMode::Listen, None, None, Some(&s));
        assert_eq!(
            m,
            Mix {
                to_caller: None,
                to_agent: None,
                to_supervisor: None
            }
        );
    }

    #[test]
    fn contacts_must_be_sip_user_at_an_ip_address() {
        let (uri, peer) = phone("sip:sue@127.0.0.1:5070").unwrap();
        assert_eq!(uri.user.as_deref(), Some("sue"));
        assert_eq!(peer.addr, "127.0.0.1:5070".parse().unwrap());
        assert_eq!(peer.transport, Transport::Udp);
        let (_, peer) = phone("sip:sue@[::1]:5070;transport=tcp").unwrap();
        assert_eq!(peer.transport, Transport::Tcp);
        assert_eq!(phone("sip:sue@10.0.0.9").unwrap().1.addr.port(), 5060);
        for bad in [
            "",
            "sue",
            "sip:sue@pbx.example.com:5060",
            "sip:10.0.0.1:5060",
            "tel:+15551230000",
        ] {
            let e = phone(bad).unwrap_err();
            assert!(
                matches!(e, MonitorError::BadContact { .. })
                    && e.to_string().contains("sip:user@IP:port"),
                "{bad}: {e}"
            );
        }
    }
}
