//! The SIP user-agent core (RFC 3261 §8, §12–§17): one sans-IO [`Endpoint`] that owns every
//! transaction, dialog and registration of a process, driven by an async shell.
//!
//! The shell feeds it datagrams ([`Endpoint::handle_datagram`]) or framed TCP messages
//! ([`Endpoint::handle_message`]), calls [`Endpoint::handle_timeout`] when
//! [`Endpoint::poll_timeout`] says so, and drains [`Endpoint::poll_output`] after each call:
//! bytes to send ([`Transmit`]) and what happened ([`Event`]). Call control goes the other way
//! through methods such as [`Endpoint::answer`] and [`Endpoint::hangup`].
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Instant;
//! use ivr_media::sip::endpoint::{Endpoint, EndpointConfig, Event, Output, Peer, Transport};
//!
//! let mut ep = Endpoint::new(EndpointConfig::default());
//! let from = Peer { transport: Transport::Udp, addr: SocketAddr::from(([192, 0, 2, 7], 5060)) };
//! let now = Instant::now();
//! ep.handle_datagram(now, from, b"OPTIONS sip:ivr@192.0.2.1 SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1\r\n\
//!     From: <sip:mon@192.0.2.7>;tag=1\r\nTo: <sip:ivr@192.0.2.1>\r\n\
//!     Call-ID: k1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
//! while let Some(out) = ep.poll_output() {
//!     match out {
//!         Output::Transmit(t) => assert!(t.data.starts_with(b"SIP/2.0 200 OK")),
//!         Output::Event(_) => {}
//!     }
//! }
//! ```
//!
//! ## What it does on its own
//!
//! * Matches requests to server transactions by the top Via branch, sent-by and method (RFC
//!   3261 §17.2.3), with the RFC 2543 fallback for branches without the magic cookie, and
//!   answers retransmissions with the last response.
//! * Sends `100 Trying` to every INVITE, absorbs ACKs of non-2xx answers, retransmits 2xx until
//!   the ACK (Timer G/H of §13.3.1.4), answers CANCEL (200 + 487), OPTIONS (200), requests in
//!   unknown dialogs (481), unsupported methods (405), a second INVITE while one is pending
//!   (491), unknown `Require` extensions (420), `Max-Forwards: 0` (483) and out-of-order CSeq
//!   (500).
//! * Sends responses where RFC 3261 §18.2.2 and RFC 3581 say (`received`, `rport`); over TCP
//!   they go back on the connection the request came in on.
//!
//! In-dialog requests are sent to the [`Peer`] the dialog was formed with, not to a DNS
//! resolution of the remote target: the shell has no resolver in the loop, and trunks expect
//! requests back from where they sent theirs.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::auth::{authorization, Challenge, Credentials};
use super::dialog::{
    cseq as parse_cseq, first_name_addr, AnswerRetransmit, AnswerTimer, Dialog, DialogInfo,
};
use super::headers::{CSeq, NameAddr, Via};
use super::message::{reason_phrase, Headers, Message, Method, Request, Response};
use super::parse::{parse_datagram, Parsed};
use super::transaction::client_invite::ResponseAction;
use super::transaction::server_invite::State as ServerInviteState;
use super::transaction::{
    ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite, TimerAction, Timers,
    BRANCH_COOKIE,
};
use super::uri::Uri;

/// The methods this endpoint handles, as listed in `Allow`.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER, NOTIFY";

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Datagrams; the transaction layer retransmits.
    Udp,
    /// A stream; no retransmission timers, responses reuse the connection.
    Tcp,
}

impl Transport {
    /// Whether the transport is reliable (RFC 3261 §17: no retransmission timers).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The name used in Via (`UDP`, `TCP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// The other end of a message: transport plus address. For TCP the address names the
/// connection (the shell keeps one connection per remote address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Transport protocol.
    pub transport: Transport,
    /// Remote address (for TCP: of the connection).
    pub addr: SocketAddr,
}

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Sent as `User-Agent` on requests and `Server` on responses.
    pub user_agent: String,
    /// Timer base values.
    pub timers: Timers,
    /// Where the shell's UDP socket is bound, if any (used in Via and Contact).
    pub local_udp: Option<SocketAddr>,
    /// Where the shell's TCP listener is bound, if any (used in Via and Contact).
    pub local_tcp: Option<SocketAddr>,
    /// Host to advertise in Contact and Via instead of the bind address (public IP or name).
    pub public_host: Option<String>,
}

impl Default for EndpointConfig {
    fn default() -> EndpointConfig {
        EndpointConfig {
            user_agent: concat!("ivr/", env!("CARGO_PKG_VERSION")).to_string(),
            timers: Timers::default(),
            local_udp: None,
            local_tcp: None,
            public_host: None,
        }
    }
}

/// Handle for one call (one INVITE dialog, UAS or UAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(u64);

impl fmt::Display for CallKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// Handle for a server transaction the application must answer with [`Endpoint::respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxnKey(u64);

/// Handle for one registration binding kept alive by the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationId(u64);

/// What [`Endpoint::poll_output`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Bytes to send.
    Transmit(Transmit),
    /// Something the application should know.
    Event(Event),
}

/// Bytes to send to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination (for TCP: the connection).
    pub to: Peer,
    /// One complete SIP message.
    pub data: Vec<u8>,
}

/// Why a call ended without a BYE from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Our BYE was answered.
    ByeSent,
    /// Our BYE got no final response within 64*T1 (Timer F).
    ByeTimeout,
    /// The ACK for our 2xx never came (Timer H); a BYE was sent.
    AckTimeout,
    /// Our outgoing INVITE was cancelled by [`Endpoint::hangup`].
    Cancelled,
    /// Our answer or hangup rejected the call with this status before it was answered.
    Rejected(u16),
    /// The shell reported the transport to the peer broken.
    TransportError,
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new INVITE; `100 Trying` is already sent. Answer with [`Endpoint::ringing`],
    /// [`Endpoint::answer`] or [`Endpoint::reject`].
    IncomingCall {
        /// The new call.
        call: CallKey,
        /// Where it came from.
        from: Peer,
        /// The INVITE (SDP offer in the body).
        invite: Request,
    },
    /// The ACK for our 2xx arrived: the call is up.
    Confirmed {
        /// The call.
        call: CallKey,
    },
    /// The caller cancelled before the answer; `200` (CANCEL) and `487` (INVITE) are sent.
    Cancelled {
        /// The call, now gone.
        call: CallKey,
    },
    /// A re-INVITE in a confirmed dialog; answer it with [`Endpoint::respond`].
    ReInvite {
        /// The call.
        call: CallKey,
        /// The transaction to answer.
        txn: ServerTxnKey,
        /// The request (new offer in the body, or none for an offer-less re-INVITE).
        request: Request,
    },
    /// Another in-dialog request (INFO, UPDATE, REFER, NOTIFY); answer with
    /// [`Endpoint::respond`].
    Request {
        /// The call.
        call: CallKey,
        /// The transaction to answer.
        txn: ServerTxnKey,
        /// The request.
        request: Request,
    },
    /// The peer sent BYE; `200` is sent and the call is gone.
    Bye {
        /// The call, now gone.
        call: CallKey,
    },
    /// The answer to our REFER ([`Endpoint::refer`]): the final status, or `None` on timeout.
    Transferred {
        /// The call.
        call: CallKey,
        /// Final status of the REFER.
        status: Option<u16>,
    },
    /// The call is gone for another reason.
    Terminated {
        /// The call, now gone.
        call: CallKey,
        /// Why.
        reason: Termination,
    },
    /// A provisional response (not 100) to our INVITE.
    Progress {
        /// The call.
        call: CallKey,
        /// The response (may carry early-media SDP).
        response: Response,
    },
    /// A 2xx to our INVITE; the ACK is sent.
    Answered {
        /// The call.
        call: CallKey,
        /// The response (SDP answer in the body).
        response: Response,
    },
    /// Our INVITE failed: a final response of 300 or more (ACKed), or no answer within 64*T1
    /// (`None`). The call is gone.
    Failed {
        /// The call, now gone.
        call: CallKey,
        /// The final response, if any.
        response: Option<Response>,
    },
    /// A registration succeeded (or was refreshed).
    Registered {
        /// The registration.
        id: RegistrationId,
        /// The binding lifetime the registrar granted.
        expires: Duration,
    },
    /// A registration attempt failed; it is retried after a while.
    RegistrationFailed {
        /// The registration.
        id: RegistrationId,
        /// The final status, or `None` for a timeout.
        status: Option<u16>,
    },
}

/// Parameters of an outgoing call.
#[derive(Debug, Clone)]
pub struct InviteParams {
    /// Where to send the INVITE (next hop).
    pub to: Peer,
    /// The Request-URI.
    pub target: Uri,
    /// The From address, without tag (the endpoint adds one).
    pub from: NameAddr,
    /// The To address.
    pub to_header: NameAddr,
    /// The SDP offer.
    pub sdp: Bytes,
    /// Digest credentials for a 401/407 challenge (one authenticated retry).
    pub credentials: Option<Credentials>,
    /// Extra header lines.
    pub extra_headers: Vec<(String, String)>,
}

/// Parameters of a registration kept alive by the endpoint.
#[derive(Debug, Clone)]
pub struct RegisterParams {
    /// Where to send REGISTER (the registrar or outbound proxy).
    pub registrar: Peer,
    /// The Request-URI: the registrar's domain, e.g. `sip:example.com`.
    pub uri: Uri,
    /// The address of record (To and From).
    pub aor: NameAddr,
    /// Digest credentials for a 401/407 challenge.
    pub credentials: Option<Credentials>,
    /// Binding lifetime to ask for.
    pub expires: Duration,
}

/// Counters kept by the endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams and messages handed in.
    pub received: u64,
    /// Unparsable input dropped without an answer.
    pub malformed_dropped: u64,
    /// Malformed requests answered with 400.
    pub bad_requests_400: u64,
    /// Requests answered with 481 (unknown dialog or transaction).
    pub no_dialog_481: u64,
    /// Requests answered with 405.
    pub method_not_allowed_405: u64,
    /// Responses that matched no client transaction.
    pub stray_responses: u64,
    /// Messages sent again (timer retransmissions and answers to retransmitted requests).
    pub retransmissions_sent: u64,
    /// Transactions alive now.
    pub active_transactions: u64,
    /// Calls (dialogs) alive now.
    pub active_dialogs: u64,
}

/// How a server transaction is found again (RFC 3261 §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ServerMatch {
    /// Branch with the magic cookie, sent-by, and method (INVITE for ACK).
    Branch {
        branch: String,
        sent_by: String,
        method: Method,
    },
    /// RFC 2543 fallback: Call-ID, From tag, CSeq number, top Via and method.
    Legacy {
        call_id: String,
        from_tag: String,
        seq: u32,
        via: String,
        method: Method,
    },
}

/// A server transaction machine of either kind.
#[derive(Debug)]
enum ServerMachine {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

/// A server transaction with what is needed to answer it.
#[derive(Debug)]
struct ServerTxn {
    machine: ServerMachine,
    matcher: ServerMatch,
    /// The request (its top Via already carries `received`/`rport`).
    request: Request,
    /// Where responses go.
    reply_to: Peer,
    /// The To tag our responses carry (the dialog's, or a fresh one).
    to_tag: String,
    /// The call this request belongs to, if any.
    call: Option<CallKey>,
}

/// A client transaction machine of either kind.
#[derive(Debug)]
enum ClientMachine {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

/// Who is waiting for a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientOwner {
    /// The INVITE of a call.
    Invite(CallKey),
    /// A BYE of a call.
    Bye(CallKey),
    /// A REFER of a call (blind transfer).
    Refer(CallKey),
    /// A registration's REGISTER.
    Register(RegistrationId),
    /// Nobody (CANCEL, BYE after an ACK timeout).
    Nobody,
}

/// A client transaction.
#[derive(Debug)]
struct ClientTxn {
    machine: ClientMachine,
    /// Index key.
    branch: String,
    method: Method,
    peer: Peer,
    request: Request,
    owner: ClientOwner,
}

/// The life of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// UAS: INVITE received, no final answer yet.
    Incoming,
    /// UAS: 2xx sent, waiting for the ACK.
    Answered,
    /// UAC: INVITE sent, no final answer yet.
    Calling,
    /// The dialog is confirmed.
    Confirmed,
    /// Our BYE is in flight.
    Ending,
}

/// UAC-only call state.
#[derive(Debug)]
struct Outgoing {
    /// The INVITE as sent (for ACK, CANCEL and the authenticated retry).
    invite: Request,
    /// Its client transaction.
    txn: u64,
    /// Hang-up was requested before a provisional response allowed a CANCEL.
    cancel_wanted: bool,
    /// A CANCEL went out.
    cancelled: bool,
    /// The ACK for the 2xx (sent again for each 2xx retransmission).
    ack: Option<Bytes>,
    /// Credentials for a challenge.
    credentials: Option<Credentials>,
    /// The authenticated retry was already sent.
    auth_tried: bool,
}

/// One registration binding.
#[derive(Debug)]
struct Registration {
    params: RegisterParams,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// The REGISTER in flight, if any.
    txn: Option<u64>,
    /// The last REGISTER sent (for the authenticated retry).
    request: Option<Request>,
    auth_tried: bool,
    /// Unregistering: the next final response ends the registration.
    removing: bool,
}

/// One call.
#[derive(Debug)]
struct Call {
    state: CallState,
    dialog: Option<Dialog>,
    /// Dialog-index key: Call-ID and our tag.
    index: (String, String),
    peer: Peer,
    /// UAS: the INVITE server transaction awaiting a final answer.
    invite_txn: Option<u64>,
    /// UAS: a re-INVITE server transaction awaiting a final answer.
    reinvite_txn: Option<u64>,
    /// UAS: 2xx being retransmitted until the ACK.
    answer: Option<AnswerRetransmit>,
    /// UAS: hang-up requested while waiting for the ACK; BYE goes out once it arrives.
    bye_after_ack: bool,
    /// UAC state.
    outgoing: Option<Outgoing>,
}

/// What a scheduled deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum TimerOwner {
    Server(u64),
    Client(u64),
    Call(CallKey),
    Registration(RegistrationId),
}

/// Deadlines of every object, earliest first, with O(log n) update.
#[derive(Debug, Default)]
struct Schedule {
    queue: BTreeSet<(Instant, TimerOwner)>,
    current: HashMap<TimerOwner, Instant>,
}

impl Schedule {
    fn set(&mut self, owner: TimerOwner, at: Option<Instant>) {
        if let Some(old) = self.current.remove(&owner) {
            self.queue.remove(&(old, owner));
        }
        if let Some(at) = at {
            self.queue.insert((at, owner));
            self.current.insert(owner, at);
        }
    }

    fn next(&self) -> Option<Instant> {
        self.queue.first().map(|(at, _)| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<TimerOwner> {
        let &(at, owner) = self.queue.first()?;
        if at > now {
            return None;
        }
        self.queue.remove(&(at, owner));
        self.current.remove(&owner);
        Some(owner)
    }
}

/// The user-agent core. See the [module documentation](self).
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: StdRng,
    next_id: u64,
    outputs: VecDeque<Output>,
    stats: EndpointStats,
    schedule: Schedule,
    server_txns: HashMap<u64, ServerTxn>,
    server_index: HashMap<ServerMatch, u64>,
    client_txns: HashMap<u64, ClientTxn>,
    client_index: HashMap<(String, Method), u64>,
    calls: HashMap<CallKey, Call>,
    dialogs: HashMap<(String, String), CallKey>,
    registrations: HashMap<RegistrationId, Registration>,
}

impl Endpoint {
    /// A new endpoint with no calls.
    pub fn new(config: EndpointConfig) -> Endpoint {
        Endpoint::with_rng(config, StdRng::from_entropy())
    }

    /// A new endpoint whose tags, branches and Call-IDs come from a seeded generator
    /// (reproducible tests).
    pub fn with_seed(config: EndpointConfig, seed: u64) -> Endpoint {
        Endpoint::with_rng(config, StdRng::seed_from_u64(seed))
    }

    fn with_rng(config: EndpointConfig, rng: StdRng) -> Endpoint {
        Endpoint {
            config,
            rng,
            next_id: 1,
            outputs: VecDeque::new(),
            stats: EndpointStats::default(),
            schedule: Schedule::default(),
            server_txns: HashMap::new(),
            server_index: HashMap::new(),
            client_txns: HashMap::new(),
            client_index: HashMap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            registrations: HashMap::new(),
        }
    }
    /// Releases the capacity that tables grew to at the last peak (maps never shrink on their
    /// own). The shell calls it when the endpoint goes idle, so memory follows the load down.
    pub fn shrink(&mut self) {
        self.outputs.shrink_to_fit();
        self.schedule.current.shrink_to_fit();
        self.server_txns.shrink_to_fit();
        self.server_index.shrink_to_fit();
        self.client_txns.shrink_to_fit();
        self.client_index.shrink_to_fit();
        self.calls.shrink_to_fit();
        self.dialogs.shrink_to_fit();
    }

    /// The counters.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// The dialog state of a call, once it has one (UAS: at once; UAC: from the first tagged
    /// response).
    pub fn dialog_info(&self, call: CallKey) -> Option<&DialogInfo> {
        self.calls.get(&call)?.dialog.as_ref().map(Dialog::info)
    }

    /// The earliest deadline; call [`handle_timeout`](Self::handle_timeout) then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.schedule.next()
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Handles one UDP datagram (or any complete message as bytes). Malformed requests that
    /// can be answered get a 400 naming the problem; anything else unusable is counted and
    /// dropped.
    pub fn handle_datagram(&mut self, now: Instant, from: Peer, data: &[u8]) {
        match parse_datagram(data) {
            Parsed::Ok(msg) => self.handle_message(now, from, msg),
            Parsed::Malformed {
                reply: Some(mut reply),
                ..
            } => {
                self.stats.received += 1;
                self.stats.bad_requests_400 += 1;
                let server = self.config.user_agent.clone();
                reply.headers.push("Server", server);
                let to = top_via(&reply.headers).map_or(from, |via| reply_peer(&via, from));
                self.send(to, reply.encode().into());
            }
            Parsed::Malformed { reply: None, .. } => {
                self.stats.received += 1;
                self.stats.malformed_dropped += 1;
            }
        }
    }

    /// Handles one parsed message (TCP, after framing).
    pub fn handle_message(&mut self, now: Instant, from: Peer, msg: Message) {
        self.stats.received += 1;
        match msg {
            Message::Request(req) => self.handle_request(now, from, req),
            Message::Response(resp) => self.handle_response(now, resp),
        }
        self.update_counts();
    }

    /// Fires every deadline that has passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(owner) = self.schedule.pop_due(now) {
            match owner {
                TimerOwner::Server(id) => self.server_timeout(now, id),
                TimerOwner::Client(id) => self.client_timeout(now, id),
                TimerOwner::Call(call) => self.call_timeout(now, call),
                TimerOwner::Registration(id) => self.send_register(now, id),
            }
        }
        self.update_counts();
    }

    /// The shell lost the connection to (or got an ICMP error from) `peer`: every call with
    /// that peer ends with [`Termination::TransportError`] and its transactions are dropped.
    pub fn handle_transport_error(&mut self, peer: Peer) {
        let calls: Vec<CallKey> = self
            .calls
            .iter()
            .filter(|(_, c)| c.peer == peer)
            .map(|(k, _)| *k)
            .collect();
        for call in calls {
            self.remove_call(call);
            self.event(Event::Terminated {
                call,
                reason: Termination::TransportError,
            });
        }
        let servers: Vec<u64> = self
            .server_txns
            .iter()
            .filter(|(_, t)| t.reply_to == peer)
            .map(|(k, _)| *k)
            .collect();
        for id in servers {
            self.remove_server_txn(id);
        }
        let clients: Vec<u64> = self
            .client_txns
            .iter()
            .filter(|(_, t)| t.peer == peer)
            .map(|(k, _)| *k)
            .collect();
        for id in clients {
            self.remove_client_txn(id);
        }
        self.update_counts();
    }

    // ----- UAS call control -------------------------------------------------------------

    /// Sends `180 Ringing` (with our To tag) for an incoming call not yet answered.
    pub fn ringing(&mut self, now: Instant, call: CallKey) {
        let Some(txn) = self.calls.get(&call).and_then(|c| c.invite_txn) else {
            return;
        };
        self.respond_server(now, txn, 180, &[], None);
    }

    /// Answers an incoming call with `200 OK` carrying `sdp`; the 2xx is retransmitted until
    /// the ACK arrives ([`Event::Confirmed`]) or 64*T1 passes ([`Termination::AckTimeout`]).
    pub fn answer(&mut self, now: Instant, call: CallKey, sdp: Bytes) {
        let Some(txn) = self.calls.get(&call).and_then(|c| c.invite_txn) else {
            return;
        };
        self.respond_server(now, txn, 200, &[], Some(("application/sdp", sdp)));
        self.update_counts();
    }

    /// Rejects an incoming call not yet answered with a final `status` (300–699) and extra
    /// header lines (`Retry-After`, `WWW-Authenticate`, ...). The call is gone afterwards.
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallKey,
        status: u16,
        extra_headers: &[(&str, &str)],
    ) {
        let Some(txn) = self.calls.get(&call).and_then(|c| c.invite_txn) else {
            return;
        };
        let status = if status < 300 { 500 } else { status.min(699) };
        self.respond_server(now, txn, status, extra_headers, None);
        self.update_counts();
    }

    /// Answers a server transaction handed out by [`Event::ReInvite`] or [`Event::Request`].
    /// A 2xx to a re-INVITE is retransmitted until its ACK like the first answer.
    pub fn respond(
        &mut self,
        now: Instant,
        txn: ServerTxnKey,
        status: u16,
        extra_headers: &[(&str, &str)],
        body: Option<(&str, Bytes)>,
    ) {
        let status = status.clamp(100, 699);
        self.respond_server(now, txn.0, status, extra_headers, body);
        self.update_counts();
    }

    /// Ends a call in whatever state it is: BYE in a confirmed dialog (Timer E/F, answered by
    /// [`Termination::ByeSent`] or [`Termination::ByeTimeout`]), `480` to an incoming call not
    /// yet answered, CANCEL for an outgoing call not yet answered.
    pub fn hangup(&mut self, now: Instant, call: CallKey) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match c.state {
            CallState::Incoming => {
                if let Some(txn) = c.invite_txn {
                    self.respond_server(now, txn, 480, &[], None);
                }
            }
            CallState::Answered => c.bye_after_ack = true,
            CallState::Confirmed => self.send_bye(now, call),
            CallState::Calling => self.cancel_outgoing(now, call),
            CallState::Ending => {}
        }
        self.update_counts();
    }

    /// Blind transfer (RFC 3515): sends REFER with `Refer-To: <target>` in a confirmed dialog.
    /// The answer arrives as [`Event::Transferred`] (202 = the peer accepted and will call the
    /// target; the engine then hangs up). Does nothing for a call without a confirmed dialog.
    pub fn refer(&mut self, now: Instant, call: CallKey, target: &str) {
        let via_transport = match self.calls.get(&call) {
            Some(c) if c.state == CallState::Confirmed => c.peer.transport,
            _ => return,
        };
        let via = self.new_via(via_transport);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dialog) = c.dialog.as_mut() else {
            return;
        };
        let mut refer = dialog.request(Method::Refer, &via, None);
        refer.headers.push("Refer-To", format!("<{target}>"));
        let peer = c.peer;
        let refer = self.finish_request(refer);
        self.start_client(now, peer, refer, ClientOwner::Refer(call));
    }

    // ----- UAC ---------------------------------------------------------------------------

    /// The SIP Call-ID of a call in progress.
    pub fn call_id(&self, call: CallKey) -> Option<&str> {
        self.calls.get(&call).map(|c| c.index.0.as_str())
    }

    /// Places a call: sends the INVITE and returns the call's handle. Progress arrives as
    /// [`Event::Progress`], then [`Event::Answered`] or [`Event::Failed`].
    pub fn invite(&mut self, now: Instant, params: InviteParams) -> CallKey {
        let call = CallKey(self.next_id());
        let local_tag = self.random_hex(10);
        let call_id = format!(
            "{}@{}",
            self.random_hex(20),
            self.local_host(params.to.transport)
        );
        let mut from = params.from;
        from.set_tag(&local_tag);
        let via = self.new_via(params.to.transport);
        let mut h = Headers::new();
        h.push("Via", via.to_string());
        h.push("Max-Forwards", "70");
        h.push("From", from.to_string());
        h.push("To", params.to_header.to_string());
        h.push("Call-ID", call_id.clone());
        h.push("CSeq", "1 INVITE");
        h.push("Contact", self.contact(params.to.transport));
        h.push("Allow", ALLOW);
        h.push("User-Agent", self.config.user_agent.clone());
        for (name, value) in &params.extra_headers {
            h.push(name, value.clone());
        }
        if !params.sdp.is_empty() {
            h.push("Content-Type", "application/sdp");
        }
        let invite = Request {
            method: Method::Invite,
            uri: params.target,
            headers: h,
            body: params.sdp,
        };
        let txn = self.start_client(now, params.to, invite.clone(), ClientOwner::Invite(call));
        self.dialogs
            .insert((call_id.clone(), local_tag.clone()), call);
        self.calls.insert(
            call,
            Call {
                state: CallState::Calling,
                dialog: None,
                index: (call_id, local_tag),
                peer: params.to,
                invite_txn: None,
                reinvite_txn: None,
                answer: None,
                bye_after_ack: false,
                outgoing: Some(Outgoing {
                    invite,
                    txn,
                    cancel_wanted: false,
                    cancelled: false,
                    ack: None,
                    credentials: params.credentials,
                    auth_tried: false,
                }),
            },
        );
        self.update_counts();
        call
    }

    /// Registers `params.aor` with a registrar and keeps the binding fresh: the endpoint
    /// answers digest challenges, reports [`Event::Registered`] with the granted lifetime,
    /// refreshes before expiry (30 s or a tenth of the lifetime early, whichever is less) and
    /// retries a failed attempt after 60 s ([`Event::RegistrationFailed`]).
    pub fn register(&mut self, now: Instant, params: RegisterParams) -> RegistrationId {
        let id = RegistrationId(self.next_id());
        let host = self.local_host(params.registrar.transport);
        let call_id = format!("{}@{host}", self.random_hex(20));
        let from_tag = self.random_hex(10);
        self.registrations.insert(
            id,
            Registration {
                params,
                call_id,
                from_tag,
                cseq: 0,
                txn: None,
                request: None,
                auth_tried: false,
                removing: false,
            },
        );
        self.send_register(now, id);
        self.update_counts();
        id
    }

    /// Removes a registration: sends REGISTER with `Expires: 0` and forgets it once answered.
    pub fn unregister(&mut self, now: Instant, id: RegistrationId) {
        let Some(r) = self.registrations.get_mut(&id) else {
            return;
        };
        r.removing = true;
        r.params.expires = Duration::ZERO;
        if let Some(txn) = r.txn.take() {
            self.remove_client_txn(txn);
        }
        self.send_register(now, id);
        self.update_counts();
    }

    /// Sends the next REGISTER of registration `id` (first, refresh or retry).
    fn send_register(&mut self, now: Instant, id: RegistrationId) {
        let Some(transport) = self
            .registrations
            .get(&id)
            .map(|r| r.params.registrar.transport)
        else {
            return;
        };
        let via = self.new_via(transport);
        let contact = self.contact(transport);
        let user_agent = self.config.user_agent.clone();
        let Some(r) = self.registrations.get_mut(&id) else {
            return;
        };
        if r.txn.is_some() {
            return;
        }
        r.cseq = r.cseq.wrapping_add(1);
        r.auth_tried = false;
        let mut from = r.params.aor.clone();
        from.set_tag(&r.from_tag);
        let mut h = Headers::new();
        h.push("Via", via.to_string());
        h.push("Max-Forwards", "70");
        h.push("From", from.to_string());
        h.push("To", r.params.aor.to_string());
        h.push("Call-ID", r.call_id.clone());
        h.push("CSeq", format!("{} REGISTER", r.cseq));
        h.push("Contact", contact);
        h.push("Expires", r.params.expires.as_secs().to_string());
        h.push("User-Agent", user_agent);
        let req = Request {
            method: Method::Register,
            uri: r.params.uri.clone(),
            headers: h,
            body: Bytes::new(),
        };
        r.request = Some(req.clone());
        let peer = r.params.registrar;
        self.schedule.set(TimerOwner::Registration(id), None);
        let txn = self.start_client(now, peer, req, ClientOwner::Register(id));
        if let Some(r) = self.registrations.get_mut(&id) {
            r.txn = Some(txn);
        }
    }

    /// A final response to a REGISTER.
    fn register_response(&mut self, now: Instant, id: RegistrationId, resp: &Response) {
        let cnonce = self.random_hex(16);
        let Some(r) = self.registrations.get_mut(&id) else {
            return;
        };
        r.txn = None;
        if r.removing {
            self.registrations.remove(&id);
            self.schedule.set(TimerOwner::Registration(id), None);
            return;
        }
        let status = resp.status;
        if (200..300).contains(&status) {
            let granted = granted_expires(resp, r.params.expires);
            let early = (granted / 10).min(Duration::from_secs(30));
            let at = now + granted.saturating_sub(early).max(Duration::from_secs(1));
            self.schedule.set(TimerOwner::Registration(id), Some(at));
            self.event(Event::Registered {
                id,
                expires: granted,
            });
            return;
        }
        if status == 423 {
            // Interval Too Brief: ask again with the registrar's minimum.
            let min = resp
                .headers
                .get("Min-Expires")
                .and_then(|v| v.trim().parse().ok());
            if let Some(min) = min
                .map(Duration::from_secs)
                .filter(|m| *m > r.params.expires)
            {
                r.params.expires = min;
                self.send_register(now, id);
                return;
            }
        }
        if !r.auth_tried {
            let retry = match (&r.request, &r.params.credentials) {
                (Some(req), Some(creds)) => authorized_retry(req, resp, creds, &cnonce),
                _ => None,
            };
            if let Some(mut retry) = retry {
                r.auth_tried = true;
                r.cseq = r.cseq.wrapping_add(1);
                let peer = r.params.registrar;
                let via = self.new_via(peer.transport);
                set_top_via(&mut retry.headers, &via);
                let txn = self.start_client(now, peer, retry.clone(), ClientOwner::Register(id));
                if let Some(r) = self.registrations.get_mut(&id) {
                    r.txn = Some(txn);
                    r.request = Some(retry);
                }
                return;
            }
        }
        self.register_failed(now, id, Some(status));
    }

    /// A REGISTER failed or timed out: report it and try again in 60 s.
    fn register_failed(&mut self, now: Instant, id: RegistrationId, status: Option<u16>) {
        let Some(r) = self.registrations.get_mut(&id) else {
            return;
        };
        r.txn = None;
        if r.removing {
            self.registrations.remove(&id);
            return;
        }
        let at = now + Duration::from_secs(60);
        self.schedule.set(TimerOwner::Registration(id), Some(at));
        self.event(Event::RegistrationFailed { id, status });
    }

    // ----- requests in ------------------------------------------------------------------

    fn handle_request(&mut self, now: Instant, from: Peer, mut req: Request) {
        // The parser guarantees a parsable top Via, From, To, Call-ID and CSeq; stay defensive.
        let Some(mut via) = top_via(&req.headers) else {
            self.stats.malformed_dropped += 1;
            return;
        };
        stamp_via(&mut via, from);
        set_top_via(&mut req.headers, &via);
        let reply_to = reply_peer(&via, from);
        let Some(matcher) = server_match(&req, &via) else {
            self.stats.malformed_dropped += 1;
            return;
        };

        if req.method == Method::Ack {
            self.handle_ack(now, req, matcher);
            return;
        }
        if let Some(&id) = self.server_index.get(&matcher) {
            self.request_retransmitted(id);
            return;
        }
        if req.method == Method::Cancel {
            self.handle_cancel(now, req, matcher, reply_to);
            return;
        }
        if headers_max_forwards(&req.headers) == Some(0) {
            self.answer_statelessly(now, req, matcher, reply_to, 483, &[]);
            return;
        }
        let unsupported: Vec<&str> = req.headers.values("Require").collect();
        if !unsupported.is_empty() && req.method != Method::Cancel {
            let list = unsupported.join(", ");
            self.answer_statelessly(now, req, matcher, reply_to, 420, &[("Unsupported", &list)]);
            return;
        }
        let to_tag = first_name_addr(&req.headers, "To").and_then(|t| t.tag().map(str::to_string));
        match to_tag {
            Some(tag) => self.in_dialog_request(now, req, matcher, reply_to, tag),
            None => self.out_of_dialog_request(now, from, req, matcher, reply_to),
        }
    }

    /// A retransmitted request: send the last response again.
    fn request_retransmitted(&mut self, id: u64) {
        let Some(t) = self.server_txns.get_mut(&id) else {
            return;
        };
        let to = t.reply_to;
        let again = match &mut t.machine {
            ServerMachine::Invite(m) => m.on_request().or_else(|| {
                // After a 2xx the transaction absorbs the INVITE; resend the 2xx the dialog is
                // retransmitting, so TCP peers that lost it are not left waiting.
                let call = t.call?;
                let c = self.calls.get(&call)?;
                c.answer.as_ref().map(|a| a.response().clone())
            }),
            ServerMachine::NonInvite(m) => m.on_request(),
        };
        if let Some(bytes) = again {
            self.stats.retransmissions_sent += 1;
            self.send(to, bytes);
        }
    }

    fn out_of_dialog_request(
        &mut self,
        now: Instant,
        from: Peer,
        req: Request,
        matcher: ServerMatch,
        reply_to: Peer,
    ) {
        match req.method {
            Method::Invite => self.incoming_invite(now, from, req, matcher, reply_to),
            Method::Options => self.answer_statelessly(now, req, matcher, reply_to, 200, &[]),
            Method::Bye
            | Method::Info
            | Method::Update
            | Method::Refer
            | Method::Notify
            | Method::Prack => {
                self.stats.no_dialog_481 += 1;
                self.answer_statelessly(now, req, matcher, reply_to, 481, &[]);
            }
            _ => {
                self.stats.method_not_allowed_405 += 1;
                self.answer_statelessly(now, req, matcher, reply_to, 405, &[]);
            }
        }
    }

    fn incoming_invite(
        &mut self,
        now: Instant,
        from: Peer,
        req: Request,
        matcher: ServerMatch,
        reply_to: Peer,
    ) {
        let call = CallKey(self.next_id());
        let local_tag = self.random_hex(10);
        let dialog = match Dialog::uas(&req, &local_tag, reply_to) {
            Ok(d) => d,
            Err(e) => {
                self.stats.bad_requests_400 += 1;
                let reason = format!("Bad Request ({e})");
                let id = self.new_server_txn(now, req, matcher, reply_to, local_tag, None);
                self.respond_server_with_reason(now, id, 400, Some(&reason), &[], None);
                return;
            }
        };
        let index = (dialog.info().call_id.clone(), local_tag.clone());
        let id = self.new_server_txn(now, req.clone(), matcher, reply_to, local_tag, Some(call));
        self.dialogs.insert(index.clone(), call);
        self.calls.insert(
            call,
            Call {
                state: CallState::Incoming,
                dialog: Some(dialog),
                index,
                peer: reply_to,
                invite_txn: Some(id),
                reinvite_txn: None,
                answer: None,
                bye_after_ack: false,
                outgoing: None,
            },
        );
        self.respond_server(now, id, 100, &[], None);
        self.event(Event::IncomingCall {
            call,
            from,
            invite: req,
        });
    }

    fn in_dialog_request(
        &mut self,
        now: Instant,
        req: Request,
        matcher: ServerMatch,
        reply_to: Peer,
        tag: String,
    ) {
        let call_id = req.headers.get("Call-ID").unwrap_or_default().to_string();
        let from_tag =
            first_name_addr(&req.headers, "From").and_then(|f| f.tag().map(str::to_string));
        let known = self
            .dialogs
            .get(&(call_id, tag.clone()))
            .copied()
            .filter(|k| {
                self.calls
                    .get(k)
                    .and_then(|c| c.dialog.as_ref())
                    .is_some_and(|d| Some(&d.info().remote_tag) == from_tag.as_ref())
            });
        let Some(call) = known else {
            if req.method == Method::Options {
                self.answer_statelessly(now, req, matcher, reply_to, 200, &[]);
            } else {
                self.stats.no_dialog_481 += 1;
                self.answer_statelessly(now, req, matcher, reply_to, 481, &[]);
            }
            return;
        };
        let seq = parse_cseq(&req.headers).map_or(0, |c| c.seq);
        let in_order = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.dialog.as_mut())
            .is_some_and(|d| d.accept_remote_cseq(seq, &req.method));
        if !in_order {
            self.answer_statelessly(now, req, matcher, reply_to, 500, &[]);
            return;
        }
        match req.method {
            Method::Bye => {
                let id = self.new_server_txn(now, req, matcher, reply_to, tag, None);
                self.respond_server(now, id, 200, &[], None);
                if let Some(txn) = self.calls.get(&call).and_then(|c| c.invite_txn) {
                    self.respond_server(now, txn, 487, &[], None);
                }
                self.remove_call(call);
                self.event(Event::Bye { call });
            }
            Method::Invite => {
                let busy = self.calls.get(&call).is_some_and(|c| {
                    c.state != CallState::Confirmed
                        || c.reinvite_txn.is_some()
                        || c.answer.is_some()
                });
                if busy {
                    self.answer_statelessly(now, req, matcher, reply_to, 491, &[]);
                    return;
                }
                let id = self.new_server_txn(now, req.clone(), matcher, reply_to, tag, Some(call));
                if let Some(c) = self.calls.get_mut(&call) {
                    c.reinvite_txn = Some(id);
                    if let (Some(d), Some(contact)) =
                        (c.dialog.as_mut(), first_name_addr(&req.headers, "Contact"))
                    {
                        d.set_remote_target(contact.uri);
                    }
                }
                self.respond_server(now, id, 100, &[], None);
                self.event(Event::ReInvite {
                    call,
                    txn: ServerTxnKey(id),
                    request: req,
                });
            }
            Method::Options => {
                let id = self.new_server_txn(now, req, matcher, reply_to, tag, Some(call));
                self.respond_server(now, id, 200, &[], None);
            }
            Method::Info | Method::Update | Method::Refer | Method::Notify => {
                if req.method == Method::Update {
                    if let (Some(c), Some(contact)) = (
                        self.calls.get_mut(&call),
                        first_name_addr(&req.headers, "Contact"),
                    ) {
                        if let Some(d) = c.dialog.as_mut() {
                            d.set_remote_target(contact.uri);
                        }
                    }
                }
                let id = self.new_server_txn(now, req.clone(), matcher, reply_to, tag, Some(call));
                self.event(Event::Request {
                    call,
                    txn: ServerTxnKey(id),
                    request: req,
                });
            }
            _ => {
                self.stats.method_not_allowed_405 += 1;
                self.answer_statelessly(now, req, matcher, reply_to, 405, &[]);
            }
        }
    }

    fn handle_ack(&mut self, now: Instant, req: Request, matcher: ServerMatch) {
        // ACK for a non-2xx: same branch as the INVITE, absorbed by its transaction.
        if let Some(&id) = self.server_index.get(&matcher) {
            if let Some(ServerMachine::Invite(m)) =
                self.server_txns.get_mut(&id).map(|t| &mut t.machine)
            {
                if m.on_ack(now) {
                    self.reschedule_server(id);
                    return;
                }
            }
        }
        // ACK for a 2xx: a new transaction inside the dialog.
        let call_id = req.headers.get("Call-ID").unwrap_or_default().to_string();
        let Some(tag) =
            first_name_addr(&req.headers, "To").and_then(|t| t.tag().map(str::to_string))
        else {
            return;
        };
        let Some(&call) = self.dialogs.get(&(call_id, tag)) else {
            return;
        };
        let seq = parse_cseq(&req.headers).map(|c| c.seq);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(answer) = c.answer.as_ref() else {
            return;
        };
        if Some(answer.cseq()) != seq {
            return;
        }
        c.answer = None;
        self.schedule.set(TimerOwner::Call(call), None);
        let first = c.state == CallState::Answered;
        if first {
            c.state = CallState::Confirmed;
        }
        let bye = c.bye_after_ack;
        if first {
            self.event(Event::Confirmed { call });
        }
        if bye {
            self.send_bye(now, call);
        }
    }

    fn handle_cancel(&mut self, now: Instant, req: Request, matcher: ServerMatch, reply_to: Peer) {
        let invite_match = match &matcher {
            ServerMatch::Branch {
                branch, sent_by, ..
            } => ServerMatch::Branch {
                branch: branch.clone(),
                sent_by: sent_by.clone(),
                method: Method::Invite,
            },
            ServerMatch::Legacy {
                call_id,
                from_tag,
                seq,
                via,
                ..
            } => ServerMatch::Legacy {
                call_id: call_id.clone(),
                from_tag: from_tag.clone(),
                seq: *seq,
                via: via.clone(),
                method: Method::Invite,
            },
        };
        let Some(&invite) = self.server_index.get(&invite_match) else {
            self.stats.no_dialog_481 += 1;
            self.answer_statelessly(now, req, matcher, reply_to, 481, &[]);
            return;
        };
        let (pending, call, to_tag) = match self.server_txns.get(&invite) {
            Some(t) => (
                matches!(&t.machine, ServerMachine::Invite(m)
                    if m.state() == ServerInviteState::Proceeding),
                t.call,
                t.to_tag.clone(),
            ),
            None => (false, None, String::new()),
        };
        let id = self.new_server_txn(now, req, matcher, reply_to, to_tag, None);
        self.respond_server(now, id, 200, &[], None);
        if !pending {
            return;
        }
        let initial = call.filter(|k| {
            self.calls
                .get(k)
                .is_some_and(|c| c.invite_txn == Some(invite))
        });
        // For the initial INVITE this also forgets the call.
        self.respond_server(now, invite, 487, &[], None);
        if let Some(call) = initial {
            self.event(Event::Cancelled { call });
        }
    }

    /// Answers a request in a transaction of its own, with no event for the application.
    fn answer_statelessly(
        &mut self,
        now: Instant,
        req: Request,
        matcher: ServerMatch,
        reply_to: Peer,
        status: u16,
        extra: &[(&str, &str)],
    ) {
        let tag = self.random_hex(10);
        let id = self.new_server_txn(now, req, matcher, reply_to, tag, None);
        self.respond_server(now, id, status, extra, None);
    }

    fn new_server_txn(
        &mut self,
        _now: Instant,
        request: Request,
        matcher: ServerMatch,
        reply_to: Peer,
        to_tag: String,
        call: Option<CallKey>,
    ) -> u64 {
        let id = self.next_id();
        let reliable = reply_to.transport.is_reliable();
        let machine = if request.method == Method::Invite {
            ServerMachine::Invite(ServerInvite::new(reliable, self.config.timers))
        } else {
            ServerMachine::NonInvite(ServerNonInvite::new(reliable, self.config.timers))
        };
        self.server_index.insert(matcher.clone(), id);
        self.server_txns.insert(
            id,
            ServerTxn {
                machine,
                matcher,
                request,
                reply_to,
                to_tag,
                call,
            },
        );
        id
    }

    fn respond_server(
        &mut self,
        now: Instant,
        id: u64,
        status: u16,
        extra: &[(&str, &str)],
        body: Option<(&str, Bytes)>,
    ) {
        self.respond_server_with_reason(now, id, status, None, extra, body);
    }

    /// Builds, records and sends a response on server transaction `id`, and updates the call.
    fn respond_server_with_reason(
        &mut self,
        now: Instant,
        id: u64,
        status: u16,
        reason: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<(&str, Bytes)>,
    ) {
        let Some(t) = self.server_txns.get(&id) else {
            return;
        };
        let method = t.request.method.clone();
        let reply_to = t.reply_to;
        let call = t.call;
        let mut resp = build_response(&t.request, status, &t.to_tag, &self.config.user_agent);
        if let Some(reason) = reason {
            resp.reason = reason.to_string();
        }
        let target_refresh = matches!(method, Method::Invite | Method::Update);
        if target_refresh && (101..300).contains(&status) {
            resp.headers
                .push("Contact", self.contact(reply_to.transport));
        }
        if (200..300).contains(&status) && matches!(method, Method::Invite | Method::Options)
            || status == 405
        {
            resp.headers.push("Allow", ALLOW);
        }
        if method == Method::Options && status == 200 {
            resp.headers.push("Accept", "application/sdp");
        }
        for (name, value) in extra {
            resp.headers.push(name, *value);
        }
        if let Some((content_type, bytes)) = body {
            resp.headers.push("Content-Type", content_type);
            resp.body = bytes;
        }
        let bytes: Bytes = resp.encode().into();
        let Some(t) = self.server_txns.get_mut(&id) else {
            return;
        };
        let accepted = match &mut t.machine {
            ServerMachine::Invite(m) if status < 200 => m.send_provisional(bytes.clone()),
            ServerMachine::Invite(m) => m.send_final(now, status, bytes.clone()),
            ServerMachine::NonInvite(m) => m.send_response(now, status, bytes.clone()),
        };
        if !accepted {
            return;
        }
        self.send(reply_to, bytes.clone());
        self.reschedule_server(id);
        if status < 200 || method != Method::Invite {
            return;
        }
        // A final answer to an INVITE: update the call.
        let Some(call) = call else { return };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let initial = c.invite_txn == Some(id);
        if initial {
            c.invite_txn = None;
        } else if c.reinvite_txn == Some(id) {
            c.reinvite_txn = None;
        } else {
            return;
        }
        if (200..300).contains(&status) {
            let seq = parse_cseq(&resp.headers).map_or(0, |c| c.seq);
            c.answer = Some(AnswerRetransmit::new(
                now,
                bytes,
                seq,
                reply_to.transport.is_reliable(),
                self.config.timers,
            ));
            if initial {
                c.state = CallState::Answered;
            }
            self.reschedule_call(call);
        } else if initial {
            self.remove_call(call);
        }
    }

    // ----- responses in -----------------------------------------------------------------

    fn handle_response(&mut self, now: Instant, resp: Response) {
        let branch = top_via(&resp.headers).and_then(|v| v.branch().map(str::to_string));
        let method = parse_cseq(&resp.headers).map(|c| c.method);
        let id = match (branch, method) {
            (Some(b), Some(m)) => self.client_index.get(&(b, m)).copied(),
            _ => None,
        };
        let Some(id) = id else {
            self.stats.stray_responses += 1;
            return;
        };
        let Some(t) = self.client_txns.get_mut(&id) else {
            return;
        };
        let status = resp.status;
        let peer = t.peer;
        let owner = t.owner;
        match &mut t.machine {
            ClientMachine::Invite(m) => {
                let request = &t.request;
                let user_agent = &self.config.user_agent;
                let action = m.on_response(now, status, || non_2xx_ack(request, &resp, user_agent));
                self.reschedule_client(id);
                match action {
                    ResponseAction::Absorb => {}
                    ResponseAction::Send(ack) => {
                        self.stats.retransmissions_sent += 1;
                        self.send(peer, ack);
                    }
                    ResponseAction::DeliverAndSend(ack) => {
                        self.send(peer, ack);
                        if let ClientOwner::Invite(call) = owner {
                            self.invite_response(now, call, resp);
                        }
                    }
                    ResponseAction::Deliver => {
                        if let ClientOwner::Invite(call) = owner {
                            self.invite_response(now, call, resp);
                        } else if (200..300).contains(&status) {
                            // A 2xx for a call already gone: ACK and BYE it (RFC 3261 §15).
                            self.ack_and_bye_orphan(now, peer, &resp, id);
                        }
                    }
                }
            }
            ClientMachine::NonInvite(m) => {
                let deliver = m.on_response(now, status);
                self.reschedule_client(id);
                if deliver && status >= 200 {
                    match owner {
                        ClientOwner::Bye(call) => {
                            if self.calls.contains_key(&call) {
                                self.remove_call(call);
                                self.event(Event::Terminated {
                                    call,
                                    reason: Termination::ByeSent,
                                });
                            }
                        }
                        ClientOwner::Register(reg) => self.register_response(now, reg, &resp),
                        ClientOwner::Refer(call) => self.event(Event::Transferred {
                            call,
                            status: Some(status),
                        }),
                        ClientOwner::Invite(_) | ClientOwner::Nobody => {}
                    }
                }
            }
        }
    }

    /// A response delivered by the INVITE client transaction of `call`.
    fn invite_response(&mut self, now: Instant, call: CallKey, resp: Response) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(out) = c.outgoing.as_mut() else {
            return;
        };
        let status = resp.status;
        if status < 200 {
            if status > 100
                && resp.headers.get("To").is_some_and(|t| t.contains("tag="))
                && c.dialog.is_none()
            {
                c.dialog = Dialog::uac(&out.invite, &resp, c.peer).ok();
            }
            let cancel = out.cancel_wanted && !out.cancelled;
            if cancel {
                self.send_cancel(now, call);
            }
            if status > 100 {
                self.event(Event::Progress {
                    call,
                    response: resp,
                });
            }
            return;
        }
        if status >= 300 {
            let cancelled = out.cancelled || out.cancel_wanted;
            if !cancelled && !out.auth_tried {
                let retry = out.credentials.as_ref().and_then(|creds| {
                    let cnonce = random_hex(&mut self.rng, 16);
                    authorized_retry(&out.invite, &resp, creds, &cnonce)
                });
                if let Some(mut retry) = retry {
                    out.auth_tried = true;
                    let peer = c.peer;
                    let via = self.new_via(peer.transport);
                    set_top_via(&mut retry.headers, &via);
                    let txn =
                        self.start_client(now, peer, retry.clone(), ClientOwner::Invite(call));
                    if let Some(out) = self.calls.get_mut(&call).and_then(|c| c.outgoing.as_mut()) {
                        out.invite = retry;
                        out.txn = txn;
                    }
                    return;
                }
            }
            self.remove_call(call);
            if cancelled {
                self.event(Event::Terminated {
                    call,
                    reason: Termination::Cancelled,
                });
            } else {
                self.event(Event::Failed {
                    call,
                    response: Some(resp),
                });
            }
            return;
        }
        // 2xx: ACK it (again, for a retransmission).
        if let Some(ack) = out.ack.clone() {
            self.stats.retransmissions_sent += 1;
            let peer = c.peer;
            self.send(peer, ack);
            return;
        }
        let dialog = match c.dialog.take() {
            Some(mut d) => d.confirm_uac(&resp).map(|()| d),
            None => Dialog::uac(&out.invite, &resp, c.peer),
        };
        let Ok(mut dialog) = dialog else {
            // A 2xx we cannot form a dialog from (no Contact, no tag): nothing sane to ACK.
            self.remove_call(call);
            self.event(Event::Failed {
                call,
                response: Some(resp),
            });
            return;
        };
        let seq = parse_cseq(&out.invite.headers).map_or(1, |c| c.seq);
        let transport = c.peer.transport;
        let via = self.new_via(transport);
        let mut ack = dialog.request(Method::Ack, &via, Some(seq));
        ack.headers.push("Max-Forwards", "70");
        ack.headers
            .push("User-Agent", self.config.user_agent.clone());
        let bytes: Bytes = ack.encode().into();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let peer = c.peer;
        c.dialog = Some(dialog);
        c.state = CallState::Confirmed;
        let hangup = match c.outgoing.as_mut() {
            Some(out) => {
                out.ack = Some(bytes.clone());
                out.cancelled || out.cancel_wanted
            }
            None => false,
        };
        self.send(peer, bytes);
        if hangup {
            // The CANCEL lost the race with the 2xx: end the call now.
            self.send_bye(now, call);
        } else {
            self.event(Event::Answered {
                call,
                response: resp,
            });
        }
    }

    /// ACKs and BYEs a 2xx that arrived for a call we no longer have.
    fn ack_and_bye_orphan(&mut self, now: Instant, peer: Peer, resp: &Response, txn: u64) {
        let Some(invite) = self.client_txns.get(&txn).map(|t| t.request.clone()) else {
            return;
        };
        let Ok(mut dialog) = Dialog::uac(&invite, resp, peer) else {
            return;
        };
        let seq = parse_cseq(&invite.headers).map_or(1, |c| c.seq);
        let via = self.new_via(peer.transport);
        let mut ack = dialog.request(Method::Ack, &via, Some(seq));
        ack.headers.push("Max-Forwards", "70");
        ack.headers
            .push("User-Agent", self.config.user_agent.clone());
        self.send(peer, ack.encode().into());
        let via = self.new_via(peer.transport);
        let bye = self.finish_request(dialog.request(Method::Bye, &via, None));
        self.start_client(now, peer, bye, ClientOwner::Nobody);
    }

    // ----- requests out -----------------------------------------------------------------

    fn send_bye(&mut self, now: Instant, call: CallKey) {
        let via_transport = match self.calls.get(&call) {
            Some(c) => c.peer.transport,
            None => return,
        };
        let via = self.new_via(via_transport);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dialog) = c.dialog.as_mut() else {
            return;
        };
        let bye = dialog.request(Method::Bye, &via, None);
        let peer = c.peer;
        c.state = CallState::Ending;
        let bye = self.finish_request(bye);
        self.start_client(now, peer, bye, ClientOwner::Bye(call));
    }

    /// Hang-up of an outgoing call before the final answer: CANCEL once a provisional came.
    fn cancel_outgoing(&mut self, now: Instant, call: CallKey) {
        let Some(out) = self.calls.get_mut(&call).and_then(|c| c.outgoing.as_mut()) else {
            return;
        };
        if out.cancelled {
            return;
        }
        out.cancel_wanted = true;
        let txn = out.txn;
        let provisional = self
            .client_txns
            .get(&txn)
            .is_some_and(|t| match &t.machine {
                ClientMachine::Invite(m) => m.has_provisional(),
                ClientMachine::NonInvite(_) => false,
            });
        if provisional {
            self.send_cancel(now, call);
        }
    }

    /// Sends CANCEL for the INVITE of `call` (RFC 3261 §9.1).
    fn send_cancel(&mut self, now: Instant, call: CallKey) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let peer = c.peer;
        let Some(out) = c.outgoing.as_mut() else {
            return;
        };
        out.cancelled = true;
        let invite = &out.invite;
        let mut h = Headers::new();
        if let Some(v) = invite.headers.get("Via") {
            h.push("Via", v);
        }
        for r in invite.headers.get_all("Route") {
            h.push("Route", r);
        }
        h.push("Max-Forwards", "70");
        for name in ["From", "To", "Call-ID"] {
            if let Some(v) = invite.headers.get(name) {
                h.push(name, v);
            }
        }
        let seq = parse_cseq(&invite.headers).map_or(1, |c| c.seq);
        h.push(
            "CSeq",
            CSeq {
                seq,
                method: Method::Cancel,
            }
            .to_string(),
        );
        h.push("User-Agent", self.config.user_agent.clone());
        let cancel = Request {
            method: Method::Cancel,
            uri: invite.uri.clone(),
            headers: h,
            body: Bytes::new(),
        };
        self.start_client(now, peer, cancel, ClientOwner::Nobody);
    }

    /// Adds Max-Forwards and User-Agent to a request built by a dialog.
    fn finish_request(&self, mut req: Request) -> Request {
        req.headers.push("Max-Forwards", "70");
        req.headers
            .push("User-Agent", self.config.user_agent.clone());
        req
    }

    /// Starts a client transaction for `request` (its top Via branch is the key) and sends it.
    fn start_client(
        &mut self,
        now: Instant,
        peer: Peer,
        request: Request,
        owner: ClientOwner,
    ) -> u64 {
        let id = self.next_id();
        let bytes: Bytes = request.encode().into();
        let reliable = peer.transport.is_reliable();
        let timers = self.config.timers;
        let machine = if request.method == Method::Invite {
            ClientMachine::Invite(ClientInvite::new(now, reliable, timers, bytes.clone()))
        } else {
            ClientMachine::NonInvite(ClientNonInvite::new(now, reliable, timers, bytes.clone()))
        };
        let branch = top_via(&request.headers)
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_default();
        let method = request.method.clone();
        self.client_index
            .insert((branch.clone(), method.clone()), id);
        self.client_txns.insert(
            id,
            ClientTxn {
                machine,
                branch,
                method,
                peer,
                request,
                owner,
            },
        );
        self.send(peer, bytes);
        self.reschedule_client(id);
        id
    }

    // ----- timers -----------------------------------------------------------------------

    fn server_timeout(&mut self, now: Instant, id: u64) {
        let Some(t) = self.server_txns.get_mut(&id) else {
            return;
        };
        let action = match &mut t.machine {
            ServerMachine::Invite(m) => m.handle_timeout(now),
            ServerMachine::NonInvite(m) => m.handle_timeout(now),
        };
        let to = t.reply_to;
        match action {
            Some(TimerAction::Retransmit(bytes)) => {
                self.stats.retransmissions_sent += 1;
                self.send(to, bytes);
            }
            Some(TimerAction::TimedOut | TimerAction::Terminated) | None => {}
        }
        self.reschedule_server(id);
    }

    fn client_timeout(&mut self, now: Instant, id: u64) {
        let Some(t) = self.client_txns.get_mut(&id) else {
            return;
        };
        let action = match &mut t.machine {
            ClientMachine::Invite(m) => m.handle_timeout(now),
            ClientMachine::NonInvite(m) => m.handle_timeout(now),
        };
        let (to, owner) = (t.peer, t.owner);
        match action {
            Some(TimerAction::Retransmit(bytes)) => {
                self.stats.retransmissions_sent += 1;
                self.send(to, bytes);
            }
            Some(TimerAction::TimedOut) => match owner {
                ClientOwner::Invite(call) if self.calls.contains_key(&call) => {
                    let cancelled = self
                        .calls
                        .get(&call)
                        .and_then(|c| c.outgoing.as_ref())
                        .is_some_and(|o| o.cancel_wanted);
                    self.remove_call(call);
                    if cancelled {
                        self.event(Event::Terminated {
                            call,
                            reason: Termination::Cancelled,
                        });
                    } else {
                        self.event(Event::Failed {
                            call,
                            response: None,
                        });
                    }
                }
                ClientOwner::Register(reg) => self.register_failed(now, reg, None),
                ClientOwner::Refer(call) => self.event(Event::Transferred { call, status: None }),
                ClientOwner::Bye(call) if self.calls.contains_key(&call) => {
                    self.remove_call(call);
                    self.event(Event::Terminated {
                        call,
                        reason: Termination::ByeTimeout,
                    });
                }
                _ => {}
            },
            Some(TimerAction::Terminated) | None => {}
        }
        self.reschedule_client(id);
    }

    fn call_timeout(&mut self, now: Instant, call: CallKey) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(answer) = c.answer.as_mut() else {
            return;
        };
        let peer = c.peer;
        match answer.handle_timeout(now) {
            Some(AnswerTimer::Retransmit(bytes)) => {
                self.stats.retransmissions_sent += 1;
                self.send(peer, bytes);
                self.reschedule_call(call);
            }
            Some(AnswerTimer::AckTimeout) => {
                c.answer = None;
                // RFC 3261 §13.3.1.4: no ACK means the dialog is over; say so with a BYE. This
                // holds for a re-INVITE's 2xx too: the session state is unknown.
                self.send_bye(now, call);
                self.remove_call(call);
                self.event(Event::Terminated {
                    call,
                    reason: Termination::AckTimeout,
                });
            }
            None => self.reschedule_call(call),
        }
    }

    fn reschedule_server(&mut self, id: u64) {
        let (at, done) = match self.server_txns.get(&id).map(|t| &t.machine) {
            Some(ServerMachine::Invite(m)) => (m.poll_timeout(), m.is_terminated()),
            Some(ServerMachine::NonInvite(m)) => (m.poll_timeout(), m.is_terminated()),
            None => (None, false),
        };
        if done {
            self.remove_server_txn(id);
        } else {
            self.schedule.set(TimerOwner::Server(id), at);
        }
    }

    fn reschedule_client(&mut self, id: u64) {
        let (at, done) = match self.client_txns.get(&id).map(|t| &t.machine) {
            Some(ClientMachine::Invite(m)) => (m.poll_timeout(), m.is_terminated()),
            Some(ClientMachine::NonInvite(m)) => (m.poll_timeout(), m.is_terminated()),
            None => (None, false),
        };
        if done {
            self.remove_client_txn(id);
        } else {
            self.schedule.set(TimerOwner::Client(id), at);
        }
    }

    fn reschedule_call(&mut self, call: CallKey) {
        let at = self
            .calls
            .get(&call)
            .and_then(|c| c.answer.as_ref())
            .map(AnswerRetransmit::poll_timeout);
        self.schedule.set(TimerOwner::Call(call), at);
    }

    fn remove_server_txn(&mut self, id: u64) {
        self.schedule.set(TimerOwner::Server(id), None);
        if let Some(t) = self.server_txns.remove(&id) {
            if self.server_index.get(&t.matcher) == Some(&id) {
                self.server_index.remove(&t.matcher);
            }
        }
    }

    fn remove_client_txn(&mut self, id: u64) {
        self.schedule.set(TimerOwner::Client(id), None);
        if let Some(t) = self.client_txns.remove(&id) {
            let key = (t.branch, t.method);
            if self.client_index.get(&key) == Some(&id) {
                self.client_index.remove(&key);
            }
        }
    }

    /// Forgets a call and its dialog. Its transactions finish on their own timers.
    fn remove_call(&mut self, call: CallKey) {
        self.schedule.set(TimerOwner::Call(call), None);
        if let Some(c) = self.calls.remove(&call) {
            if self.dialogs.get(&c.index) == Some(&call) {
                self.dialogs.remove(&c.index);
            }
        }
    }

    // ----- helpers ----------------------------------------------------------------------

    fn send(&mut self, to: Peer, data: Bytes) {
        self.outputs.push_back(Output::Transmit(Transmit {
            to,
            data: data.into(),
        }));
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn update_counts(&mut self) {
        self.stats.active_transactions = (self.server_txns.len() + self.client_txns.len()) as u64;
        self.stats.active_dialogs = self.calls.len() as u64;
    }

    fn random_hex(&mut self, len: usize) -> String {
        random_hex(&mut self.rng, len)
    }

    /// The bind address of a transport, if configured.
    fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Udp => self.config.local_udp,
            Transport::Tcp => self.config.local_tcp.or(self.config.local_udp),
        }
    }

    /// The host we advertise: the public host, else the bind address, else `localhost`.
    fn local_host(&self, transport: Transport) -> String {
        if let Some(h) = &self.config.public_host {
            return h.clone();
        }
        match self.local_addr(transport).map(|a| a.ip()) {
            Some(IpAddr::V6(ip)) => format!("[{ip}]"),
            Some(ip) => ip.to_string(),
            None => "localhost".to_string(),
        }
    }

    fn local_port(&self, transport: Transport) -> u16 {
        self.local_addr(transport).map_or(5060, |a| a.port())
    }

    /// Our Contact: `<sip:ivr@host:port>` plus `;transport=tcp` over TCP.
    fn contact(&self, transport: Transport) -> String {
        let host = self.local_host(transport);
        let port = self.local_port(transport);
        match transport {
            Transport::Udp => format!("<sip:ivr@{host}:{port}>"),
            Transport::Tcp => format!("<sip:ivr@{host}:{port};transport=tcp>"),
        }
    }

    /// A fresh top Via for a request we send, asking for `rport` (RFC 3581).
    fn new_via(&mut self, transport: Transport) -> Via {
        let branch = format!("{BRANCH_COOKIE}{}", self.random_hex(16));
        let host = self.local_host(transport);
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let mut via = Via::new(
            transport.as_str(),
            &host,
            Some(self.local_port(transport)),
            &branch,
        );
        via.set_param("rport", None);
        via
    }
}

/// The top Via of a message, parsed.
fn top_via(h: &Headers) -> Option<Via> {
    h.values("Via").next().and_then(|v| Via::parse(v).ok())
}

/// Replaces the first Via value (keeping any further values of that header line).
fn set_top_via(h: &mut Headers, via: &Via) {
    let vias: Vec<String> = h.values("Via").skip(1).map(str::to_string).collect();
    let mut first = via.to_string();
    for v in vias {
        first.push_str(", ");
        first.push_str(&v);
    }
    // `set` keeps the position of the first Via line and drops the rest; all values are in
    // `first` now.
    h.set("Via", first);
}

/// Adds `received` when the source address differs from sent-by (RFC 3261 §18.2.1) and fills
/// an empty `rport` with the source port (RFC 3581 §4).
fn stamp_via(via: &mut Via, from: Peer) {
    let source = from.addr.ip().to_string();
    let sent_by_ip = via.host.parse::<IpAddr>().ok();
    if sent_by_ip != Some(from.addr.ip()) || via.rport().is_some() {
        via.set_param("received", Some(source));
    }
    if via.rport().is_some() {
        via.set_param("rport", Some(from.addr.port().to_string()));
    }
}

/// Where responses to a request with top Via `via` from `from` go (RFC 3261 §18.2.2, RFC
/// 3581 §4): over TCP the same connection; over UDP the source address, at the `rport` port
/// when asked, else the sent-by port (default 5060).
fn reply_peer(via: &Via, from: Peer) -> Peer {
    if from.transport.is_reliable() {
        return from;
    }
    let port = match via.rport() {
        Some(_) => from.addr.port(),
        None => via.port.unwrap_or(5060),
    };
    Peer {
        transport: from.transport,
        addr: SocketAddr::new(from.addr.ip(), port),
    }
}

/// The server-transaction key of a request (RFC 3261 §17.2.3); ACK keys to its INVITE.
fn server_match(req: &Request, via: &Via) -> Option<ServerMatch> {
    let method = if req.method == Method::Ack {
        Method::Invite
    } else {
        req.method.clone()
    };
    match via.branch() {
        Some(b) if b.starts_with(BRANCH_COOKIE) => Some(ServerMatch::Branch {
            branch: b.to_string(),
            sent_by: via.sent_by().to_ascii_lowercase(),
            method,
        }),
        _ => {
            let from_tag = first_name_addr(&req.headers, "From")?
                .tag()
                .unwrap_or_default()
                .to_string();
            let mut via = via.clone();
            via.params.retain(|(n, _)| {
                !n.eq_ignore_ascii_case("received") && !n.eq_ignore_ascii_case("rport")
            });
            Some(ServerMatch::Legacy {
                call_id: req.headers.get("Call-ID")?.to_string(),
                from_tag,
                seq: parse_cseq(&req.headers)?.seq,
                via: via.to_string(),
                method,
            })
        }
    }
}

/// The Max-Forwards value, if present and numeric.
fn headers_max_forwards(h: &Headers) -> Option<u32> {
    h.get("Max-Forwards").and_then(|v| v.trim().parse().ok())
}

/// A response to `req` (RFC 3261 §8.2.6): Via, From, To (with `to_tag` unless 100 or already
/// tagged), Call-ID, CSeq, Record-Route for dialog-forming INVITE responses, and Server.
fn build_response(req: &Request, status: u16, to_tag: &str, server: &str) -> Response {
    let mut h = Headers::new();
    for v in req.headers.get_all("Via") {
        h.push("Via", v);
    }
    if req.method == Method::Invite && (101..300).contains(&status) {
        for v in req.headers.get_all("Record-Route") {
            h.push("Record-Route", v);
        }
    }
    if let Some(v) = req.headers.get("From") {
        h.push("From", v);
    }
    if let Some(v) = req.headers.get("To") {
        let tagged = NameAddr::parse(v).ok().is_some_and(|t| t.tag().is_some());
        if status == 100 || tagged || to_tag.is_empty() {
            h.push("To", v);
        } else {
            h.push("To", format!("{v};tag={to_tag}"));
        }
    }
    for name in ["Call-ID", "CSeq"] {
        if let Some(v) = req.headers.get(name) {
            h.push(name, v);
        }
    }
    if status == 100 {
        if let Some(ts) = req.headers.get("Timestamp") {
            h.push("Timestamp", ts);
        }
    }
    h.push("Server", server);
    Response {
        status,
        reason: reason_phrase(status).to_string(),
        headers: h,
        body: Bytes::new(),
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3).
fn non_2xx_ack(invite: &Request, resp: &Response, user_agent: &str) -> Bytes {
    let mut h = Headers::new();
    if let Some(v) = invite.headers.values("Via").next() {
        h.push("Via", v);
    }
    for r in invite.headers.get_all("Route") {
        h.push("Route", r);
    }
    h.push("Max-Forwards", "70");
    if let Some(v) = invite.headers.get("From") {
        h.push("From", v);
    }
    if let Some(v) = resp.headers.get("To") {
        h.push("To", v);
    }
    if let Some(v) = invite.headers.get("Call-ID") {
        h.push("Call-ID", v);
    }
    let seq = parse_cseq(&invite.headers).map_or(1, |c| c.seq);
    h.push(
        "CSeq",
        CSeq {
            seq,
            method: Method::Ack,
        }
        .to_string(),
    );
    h.push("User-Agent", user_agent);
    let ack = Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        headers: h,
        body: Bytes::new(),
    };
    ack.encode().into()
}

/// `len` random lower-case hex digits.
fn random_hex(rng: &mut StdRng, len: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..len)
        .map(|_| char::from(HEX[rng.gen_range(0..16)]))
        .collect()
}

/// The request to send again after a 401/407 `resp`: CSeq plus one and an Authorization (or
/// Proxy-Authorization) answering the challenge (RFC 3261 §22.2). `None` when there is no
/// challenge we can answer. The caller puts a fresh branch in the top Via.
fn authorized_retry(
    req: &Request,
    resp: &Response,
    creds: &Credentials,
    cnonce: &str,
) -> Option<Request> {
    let (challenge_header, answer_header) = match resp.status {
        401 => ("WWW-Authenticate", "Authorization"),
        407 => ("Proxy-Authenticate", "Proxy-Authorization"),
        _ => return None,
    };
    let challenge = resp
        .headers
        .get_all(challenge_header)
        .filter_map(|v| Challenge::parse(v).ok())
        .find(Challenge::is_supported)?;
    let seq = parse_cseq(&req.headers)?.seq.checked_add(1)?;
    let mut retry = req.clone();
    retry.headers.set(
        "CSeq",
        CSeq {
            seq,
            method: req.method.clone(),
        }
        .to_string(),
    );
    let uri = req.uri.to_string();
    let value = authorization(&challenge, creds, &req.method, &uri, cnonce, 1);
    retry.headers.set(answer_header, value);
    Some(retry)
}

/// The binding lifetime a 2xx to REGISTER grants: the `expires` parameter of a Contact, else
/// the `Expires` header, else what was asked.
fn granted_expires(resp: &Response, asked: Duration) -> Duration {
    let from_contact = resp
        .headers
        .values("Contact")
        .filter_map(|v| NameAddr::parse(v).ok())
        .find_map(|c| {
            c.param("expires")
                .flatten()
                .and_then(|e| e.parse::<u64>().ok())
        });
    let from_header = resp
        .headers
        .get("Expires")
        .and_then(|v| v.trim().parse::<u64>().ok());
    from_contact
        .or(from_header)
        .map_or(asked, Duration::from_secs)
}
