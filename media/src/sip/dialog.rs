//! SIP dialogs (RFC 3261 §12): the peer-to-peer relationship an INVITE sets up, and the
//! UAS-side 2xx retransmission that RFC 3261 §13.3.1.4 assigns to the dialog layer.
//!
//! A [`Dialog`] is identified by Call-ID, local tag and remote tag. It remembers the remote
//! target (the peer's Contact), the route set (from Record-Route), both CSeq counters, and
//! builds in-dialog requests (BYE, re-INVITE, INFO, the ACK for a 2xx) with loose routing
//! (RFC 3261 §12.2.1.1, with the strict-routing fallback for a first route without `;lr`).
//!
//! ```text
//!   UAS: INVITE received ──> Early ── 2xx sent ──> Confirmed ── BYE ──> gone
//!                             │  (ACK arrives; 2xx resent on G until then, H gives up)
//!                             └── 3xx-6xx / CANCEL ──> gone
//!   UAC: INVITE sent ── 1xx with tag ──> Early ── 2xx ──> Confirmed (ACK sent) ── BYE ──> gone
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;

use super::endpoint::Peer;
use super::headers::{CSeq, NameAddr, Via};
use super::message::{Headers, Method, Request, Response};
use super::transaction::{Backoff, Timers};
use super::uri::Uri;

/// Why a dialog could not be formed from a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DialogError {
    /// The message has no usable `Call-ID`.
    #[error("missing Call-ID header")]
    MissingCallId,
    /// `From` is missing or unparsable.
    #[error("missing or malformed From header")]
    BadFrom,
    /// `To` is missing or unparsable.
    #[error("missing or malformed To header")]
    BadTo,
    /// `From` (UAS) or `To` (UAC) carries no tag, so the dialog has no remote tag.
    #[error("the remote party's tag is missing")]
    MissingRemoteTag,
    /// `CSeq` is missing or unparsable.
    #[error("missing or malformed CSeq header")]
    BadCSeq,
    /// `Contact` is missing or unparsable (a dialog needs a remote target).
    #[error("missing or malformed Contact header")]
    BadContact,
    /// A `Record-Route` value is unparsable.
    #[error("malformed Record-Route header")]
    BadRecordRoute,
}

/// Which side of the dialog we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We received the INVITE.
    Uas,
    /// We sent the INVITE.
    Uac,
}

/// The dialog state (RFC 3261 §12): what identifies it and what is needed to send requests in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogInfo {
    /// Which side we are.
    pub role: Role,
    /// The Call-ID.
    pub call_id: String,
    /// Our tag (To tag as UAS, From tag as UAC).
    pub local_tag: String,
    /// The peer's tag (From tag as UAS, To tag as UAC).
    pub remote_tag: String,
    /// Our address with our tag, as it appears in From of our requests.
    pub local: NameAddr,
    /// The peer's address with its tag, as it appears in To of our requests.
    pub remote: NameAddr,
    /// Where in-dialog requests go: the peer's Contact URI.
    pub remote_target: Uri,
    /// The route set in the order our requests list it in `Route`.
    pub route_set: Vec<NameAddr>,
    /// The last CSeq number we used.
    pub local_cseq: u32,
    /// The highest CSeq number the peer used, if it has sent any request.
    pub remote_cseq: Option<u32>,
    /// The transport address the dialog's messages travel over.
    pub peer: Peer,
}

/// A dialog: its [`DialogInfo`] plus request building.
#[derive(Debug, Clone)]
pub struct Dialog {
    info: DialogInfo,
}

impl Dialog {
    /// The UAS dialog an INVITE (or a request that creates a dialog) sets up, with our
    /// freshly generated `local_tag` (RFC 3261 §12.1.1).
    pub fn uas(request: &Request, local_tag: &str, peer: Peer) -> Result<Dialog, DialogError> {
        let h = &request.headers;
        let call_id = h
            .get("Call-ID")
            .filter(|c| !c.is_empty())
            .ok_or(DialogError::MissingCallId)?;
        let remote = first_name_addr(h, "From").ok_or(DialogError::BadFrom)?;
        let remote_tag = remote
            .tag()
            .ok_or(DialogError::MissingRemoteTag)?
            .to_string();
        let mut local = first_name_addr(h, "To").ok_or(DialogError::BadTo)?;
        local.set_tag(local_tag);
        let cseq = cseq(h).ok_or(DialogError::BadCSeq)?;
        let remote_target = first_name_addr(h, "Contact")
            .ok_or(DialogError::BadContact)?
            .uri;
        let route_set = record_route(h)?;
        Ok(Dialog {
            info: DialogInfo {
                role: Role::Uas,
                call_id: call_id.to_string(),
                local_tag: local_tag.to_string(),
                remote_tag,
                local,
                remote,
                remote_target,
                route_set,
                local_cseq: 0,
                remote_cseq: Some(cseq.seq),
                peer,
            },
        })
    }

    /// The UAC dialog a response with a To tag (1xx early or 2xx) sets up for our `request`
    /// (RFC 3261 §12.1.2). The route set is the response's Record-Route in reverse.
    pub fn uac(request: &Request, response: &Response, peer: Peer) -> Result<Dialog, DialogError> {
        let h = &request.headers;
        let call_id = h
            .get("Call-ID")
            .filter(|c| !c.is_empty())
            .ok_or(DialogError::MissingCallId)?;
        let local = first_name_addr(h, "From").ok_or(DialogError::BadFrom)?;
        let local_tag = local.tag().ok_or(DialogError::BadFrom)?.to_string();
        let remote = first_name_addr(&response.headers, "To").ok_or(DialogError::BadTo)?;
        let remote_tag = remote
            .tag()
            .ok_or(DialogError::MissingRemoteTag)?
            .to_string();
        let cseq = cseq(h).ok_or(DialogError::BadCSeq)?;
        let remote_target = match first_name_addr(&response.headers, "Contact") {
            Some(c) => c.uri,
            // A provisional without Contact still forms an early dialog; the 2xx will bring it.
            None if response.status < 200 => request.uri.clone(),
            None => return Err(DialogError::BadContact),
        };
        let mut route_set = record_route(&response.headers)?;
        route_set.reverse();
        Ok(Dialog {
            info: DialogInfo {
                role: Role::Uac,
                call_id: call_id.to_string(),
                local_tag,
                remote_tag,
                local,
                remote,
                remote_target,
                route_set,
                local_cseq: cseq.seq,
                remote_cseq: None,
                peer,
            },
        })
    }

    /// The dialog state.
    pub fn info(&self) -> &DialogInfo {
        &self.info
    }

    /// Updates the remote target and route set from a 2xx that confirms an early UAC dialog
    /// (the route set is fixed by the 2xx, RFC 3261 §12.2.1.2, and the target by its Contact).
    pub fn confirm_uac(&mut self, response: &Response) -> Result<(), DialogError> {
        if let Some(c) = first_name_addr(&response.headers, "Contact") {
            self.info.remote_target = c.uri;
        }
        let mut route_set = record_route(&response.headers)?;
        route_set.reverse();
        self.info.route_set = route_set;
        if let Some(to) = first_name_addr(&response.headers, "To") {
            if let Some(tag) = to.tag() {
                self.info.remote_tag = tag.to_string();
            }
            self.info.remote = to;
        }
        Ok(())
    }

    /// Checks an in-dialog request's CSeq against the peer's counter (RFC 3261 §12.2.2):
    /// returns `false` for an out-of-order (lower) number, which deserves a 500. ACK and CANCEL
    /// carry the number of the request they belong to and are always accepted.
    pub fn accept_remote_cseq(&mut self, seq: u32, method: &Method) -> bool {
        if matches!(method, Method::Ack | Method::Cancel) {
            return true;
        }
        match self.info.remote_cseq {
            Some(last) if seq < last => false,
            _ => {
                self.info.remote_cseq = Some(seq);
                true
            }
        }
    }

    /// Replaces the remote target (a re-INVITE or UPDATE may carry a new Contact).
    pub fn set_remote_target(&mut self, uri: Uri) {
        self.info.remote_target = uri;
    }

    /// Builds an in-dialog request (RFC 3261 §12.2.1.1): the next CSeq (or `cseq` when given,
    /// as for the ACK of a 2xx), From/To with tags, Call-ID, Route from the route set, and the
    /// given top `via`. The caller adds Contact, Max-Forwards, User-Agent and the body.
    pub fn request(&mut self, method: Method, via: &Via, cseq: Option<u32>) -> Request {
        let seq = match cseq {
            Some(seq) => seq,
            None => {
                self.info.local_cseq = self.info.local_cseq.wrapping_add(1);
                self.info.local_cseq
            }
        };
        let mut headers = Headers::new();
        headers.push("Via", via.to_string());
        // Loose routing when the first route has `;lr` (or there is no route set); strict
        // routing otherwise: the first route becomes the Request-URI and the remote target
        // goes last.
        let strict = self
            .info
            .route_set
            .first()
            .is_some_and(|r| r.uri.param("lr").is_none());
        let uri = if strict {
            // `strict` implies a first route exists.
            let first = &self.info.route_set[0];
            let mut uri = first.uri.clone();
            uri.headers.clear();
            for r in &self.info.route_set[1..] {
                headers.push("Route", r.to_string());
            }
            headers.push("Route", format!("<{}>", self.info.remote_target));
            uri
        } else {
            for r in &self.info.route_set {
                headers.push("Route", r.to_string());
            }
            self.info.remote_target.clone()
        };
        headers.push("From", self.info.local.to_string());
        headers.push("To", self.info.remote.to_string());
        headers.push("Call-ID", self.info.call_id.clone());
        headers.push(
            "CSeq",
            CSeq {
                seq,
                method: method.clone(),
            }
            .to_string(),
        );
        Request {
            method,
            uri,
            headers,
            body: Bytes::new(),
        }
    }
}

/// The first value of header `name`, parsed as a name-addr.
pub(crate) fn first_name_addr(h: &Headers, name: &str) -> Option<NameAddr> {
    h.values(name).next().and_then(|v| NameAddr::parse(v).ok())
}

/// The parsed `CSeq` header.
pub(crate) fn cseq(h: &Headers) -> Option<CSeq> {
    h.get("CSeq").and_then(|v| CSeq::parse(v).ok())
}

/// All Record-Route values in order.
fn record_route(h: &Headers) -> Result<Vec<NameAddr>, DialogError> {
    h.values("Record-Route")
        .map(|v| NameAddr::parse(v).map_err(|_| DialogError::BadRecordRoute))
        .collect()
}

/// UAS retransmission of a 2xx to INVITE until its ACK arrives (RFC 3261 §13.3.1.4): resend at
/// T1, 2*T1, ... capped at T2 (UDP only), give up after 64*T1 on any transport.
#[derive(Debug, Clone)]
pub struct AnswerRetransmit {
    /// The encoded 2xx.
    response: Bytes,
    /// The CSeq number of the INVITE (the ACK carries the same number).
    cseq: u32,
    backoff: Option<Backoff>,
    give_up: Instant,
    t2: Duration,
}

/// What [`AnswerRetransmit::handle_timeout`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerTimer {
    /// Send the 2xx again.
    Retransmit(Bytes),
    /// No ACK within 64*T1: the dialog should end (RFC 3261 §13.3.1.4 says with a BYE).
    AckTimeout,
}

impl AnswerRetransmit {
    /// Starts retransmitting `response` (the 2xx to the INVITE with CSeq `cseq`) sent at `now`.
    pub fn new(now: Instant, response: Bytes, cseq: u32, reliable: bool, timers: Timers) -> Self {
        AnswerRetransmit {
            response,
            cseq,
            backoff: (!reliable).then(|| Backoff::start(now, timers.t1)),
            give_up: now + timers.timeout(),
            t2: timers.t2,
        }
    }

    /// The CSeq number the ACK must carry.
    pub fn cseq(&self) -> u32 {
        self.cseq
    }

    /// The encoded 2xx (sent again when the INVITE is retransmitted).
    pub fn response(&self) -> &Bytes {
        &self.response
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Instant {
        self.backoff
            .map_or(self.give_up, |b| b.at.min(self.give_up))
    }

    /// Fires whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<AnswerTimer> {
        if self.give_up <= now {
            return Some(AnswerTimer::AckTimeout);
        }
        let t2 = self.t2;
        let b = self.backoff.as_mut().filter(|b| b.at <= now)?;
        b.next(Some(t2));
        Some(AnswerTimer::Retransmit(self.response.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::sip::endpoint::Transport;

    fn peer() -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: SocketAddr::from(([192, 0, 2, 1], 5060)),
        }
    }

    fn invite() -> Request {
        let mut h = Headers::new();
        h.push("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc");
        h.push(
            "Record-Route",
            "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
        );
        h.push("From", "\"Alice\" <sip:alice@example.com>;tag=a1");
        h.push("To", "<sip:ivr@example.net>");
        h.push("Call-ID", "c1@192.0.2.1");
        h.push("CSeq", "10 INVITE");
        h.push("Contact", "<sip:alice@192.0.2.1:5060>");
        Request {
            method: Method::Invite,
            uri: Uri::parse("sip:ivr@example.net").unwrap(),
            headers: h,
            body: Bytes::new(),
        }
    }

    #[test]
    fn uas_dialog_takes_tags_target_and_route_set_in_order() {
        let d = Dialog::uas(&invite(), "l1", peer()).unwrap();
        let i = d.info();
        assert_eq!(i.call_id, "c1@192.0.2.1");
        assert_eq!((i.local_tag.as_str(), i.remote_tag.as_str()), ("l1", "a1"));
        assert_eq!(i.local.tag(), Some("l1"));
        assert_eq!(i.remote_target.to_string(), "sip:alice@192.0.2.1:5060");
        let routes: Vec<String> = i.route_set.iter().map(|r| r.uri.host.clone()).collect();
        assert_eq!(routes, vec!["p1.example.com", "p2.example.com"]);
        assert_eq!(i.remote_cseq, Some(10));
    }

    #[test]
    fn uas_bye_uses_remote_target_routes_and_swapped_tags() {
        let mut d = Dialog::uas(&invite(), "l1", peer()).unwrap();
        let via = Via::new("UDP", "198.51.100.1", Some(5060), "z9hG4bKx");
        let bye = d.request(Method::Bye, &via, None);
        assert_eq!(bye.uri.to_string(), "sip:alice@192.0.2.1:5060");
        let routes: Vec<&str> = bye.headers.get_all("Route").collect();
        assert_eq!(
            routes,
            vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert!(bye.headers.get("From").unwrap().contains("tag=l1"));
        assert!(bye.headers.get("To").unwrap().contains("tag=a1"));
        assert_eq!(bye.headers.get("CSeq"), Some("1 BYE"));
        let again = d.request(Method::Info, &via, None);
        assert_eq!(again.headers.get("CSeq"), Some("2 INFO"));
    }

    #[test]
    fn strict_route_becomes_request_uri_and_target_goes_last() {
        let mut req = invite();
        req.headers.set("Record-Route", "<sip:strict.example.com>");
        let mut d = Dialog::uas(&req, "l1", peer()).unwrap();
        let via = Via::new("UDP", "h", None, "z9hG4bKy");
        let bye = d.request(Method::Bye, &via, None);
        assert_eq!(bye.uri.to_string(), "sip:strict.example.com");
        let routes: Vec<&str> = bye.headers.get_all("Route").collect();
        assert_eq!(routes, vec!["<sip:alice@192.0.2.1:5060>"]);
    }

    #[test]
    fn uac_dialog_reverses_record_route_and_takes_the_to_tag() {
        let mut req = invite();
        req.headers.remove("Record-Route");
        let mut resp = Response {
            status: 200,
            reason: "OK".into(),
            headers: Headers::new(),
            body: Bytes::new(),
        };
        resp.headers.push(
            "Record-Route",
            "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>",
        );
        resp.headers.push("To", "<sip:ivr@example.net>;tag=b2");
        resp.headers.push("Contact", "<sip:bob@203.0.113.5>");
        let d = Dialog::uac(&req, &resp, peer()).unwrap();
        let i = d.info();
        assert_eq!((i.local_tag.as_str(), i.remote_tag.as_str()), ("a1", "b2"));
        let routes: Vec<String> = i.route_set.iter().map(|r| r.uri.host.clone()).collect();
        assert_eq!(routes, vec!["p1.example.com", "p2.example.com"]);
        assert_eq!(i.remote_target.host, "203.0.113.5");
        assert_eq!(i.local_cseq, 10);
    }

    #[test]
    fn lower_remote_cseq_is_refused_but_ack_is_not_checked() {
        let mut d = Dialog::uas(&invite(), "l1", peer()).unwrap();
        assert!(!d.accept_remote_cseq(9, &Method::Bye));
        assert!(d.accept_remote_cseq(10, &Method::Ack));
        assert!(d.accept_remote_cseq(11, &Method::Info));
        assert!(!d.accept_remote_cseq(10, &Method::Info));
    }

    #[test]
    fn missing_from_tag_cannot_form_a_dialog() {
        let mut req = invite();
        req.headers.set("From", "<sip:alice@example.com>");
        assert_eq!(
            Dialog::uas(&req, "l1", peer()).unwrap_err(),
            DialogError::MissingRemoteTag
        );
    }

    #[test]
    fn two_xx_is_resent_at_t1_doubling_to_t2_until_64_t1() {
        let t0 = Instant::now();
        let mut r =
            AnswerRetransmit::new(t0, Bytes::from_static(b"200"), 1, false, Timers::default());
        let mut fired = Vec::new();
        loop {
            let at = r.poll_timeout();
            match r.handle_timeout(at) {
                Some(AnswerTimer::Retransmit(_)) => fired.push((at - t0).as_millis()),
                Some(AnswerTimer::AckTimeout) => break,
                None => {}
            }
            assert!(fired.len() < 50);
        }
        assert_eq!(
            fired,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        let mut tcp =
            AnswerRetransmit::new(t0, Bytes::from_static(b"200"), 1, true, Timers::default());
        assert_eq!(tcp.poll_timeout(), t0 + Duration::from_secs(32));
        assert_eq!(
            tcp.handle_timeout(t0 + Duration::from_secs(32)),
            Some(AnswerTimer::AckTimeout)
        );
    }
}
