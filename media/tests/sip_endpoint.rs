//! Scenario tests for the SIP user-agent core on virtual time: whole calls through
//! `Endpoint`, with the wire replaced by vectors and the clock by `Instant`s we advance.
//!
//! Index:
//! * UAS: answer and ACK, 2xx retransmission, Timer H, CANCEL, BYE both ways, re-INVITE, 491,
//!   481, 405, 420, OPTIONS, retransmitted INVITE, TCP, rport/received.
//! * UAC: two endpoints talking to each other, CANCEL, failure, Timer B.
//! * Leak check: 1,000 calls leave no transaction or dialog behind.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ivr_media::sip::auth::{self, Credentials};
use ivr_media::sip::endpoint::{
    Endpoint, EndpointConfig, Event, InviteParams, Output, Peer, RegisterParams, Termination,
    Transport,
};
use ivr_media::sip::{parse_message, Message, NameAddr, Request, Response, Uri};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn caller() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "192.0.2.10:5060".parse().unwrap(),
    }
}

fn config() -> EndpointConfig {
    EndpointConfig {
        user_agent: "ivr-test".into(),
        local_udp: Some("198.51.100.1:5060".parse().unwrap()),
        local_tcp: Some("198.51.100.1:5060".parse().unwrap()),
        ..EndpointConfig::default()
    }
}

/// One endpoint plus what it sent and reported, on a virtual clock.
struct Uas {
    ep: Endpoint,
    start: Instant,
    now: Instant,
    sent: Vec<(Duration, Peer, Message)>,
    events: Vec<Event>,
}

impl Uas {
    fn new() -> Uas {
        let now = Instant::now();
        Uas {
            ep: Endpoint::with_seed(config(), 7),
            start: now,
            now,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.ep.poll_output() {
            match out {
                Output::Transmit(t) => {
                    let msg = parse_message(&t.data).expect("endpoint sends parsable messages");
                    self.sent.push((self.now - self.start, t.to, msg));
                }
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    fn recv(&mut self, from: Peer, text: &str) {
        self.ep.handle_datagram(self.now, from, text.as_bytes());
        self.drain();
    }

    /// Advances virtual time deadline by deadline up to `until` (relative to the start).
    fn run_until(&mut self, until: Duration) {
        let end = self.start + until;
        let mut steps = 0;
        while let Some(at) = self.ep.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.ep.handle_timeout(self.now);
            self.drain();
            steps += 1;
            assert!(steps < 10_000, "livelock");
        }
        self.now = self.now.max(end);
    }

    /// Runs every timer to completion.
    fn run_all(&mut self) {
        self.run_until(Duration::from_secs(3600));
    }

    fn take_sent(&mut self) -> Vec<(Duration, Peer, Message)> {
        std::mem::take(&mut self.sent)
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn incoming_call(&mut self) -> ivr_media::sip::endpoint::CallKey {
        let events = self.take_events();
        match events.as_slice() {
            [Event::IncomingCall { call, .. }] => *call,
            other => panic!("expected one IncomingCall, got {other:?}"),
        }
    }
}

fn response(m: &Message) -> &Response {
    match m {
        Message::Response(r) => r,
        Message::Request(r) => panic!("expected a response, got {} request", r.method),
    }
}

fn request(m: &Message) -> &Request {
    match m {
        Message::Request(r) => r,
        Message::Response(r) => panic!("expected a request, got {} response", r.status),
    }
}

fn statuses(sent: &[(Duration, Peer, Message)]) -> Vec<u16> {
    sent.iter()
        .filter_map(|(_, _, m)| match m {
            Message::Response(r) => Some(r.status),
            Message::Request(_) => None,
        })
        .collect()
}

fn invite(branch: &str, call_id: &str) -> String {
    format!(
        "INVITE sip:100@198.51.100.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
         From: sipp <sip:sipp@192.0.2.10:5060>;tag=caller1\r\n\
         To: <sip:100@198.51.100.1:5060>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:sipp@192.0.2.10:5060>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

fn ack(branch: &str, call_id: &str, to_tag: &str, seq: u32) -> String {
    format!(
        "ACK sip:ivr@198.51.100.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
         From: sipp <sip:sipp@192.0.2.10:5060>;tag=caller1\r\n\
         To: <sip:100@198.51.100.1:5060>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {seq} ACK\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn in_dialog(method: &str, branch: &str, call_id: &str, to_tag: &str, seq: u32) -> String {
    format!(
        "{method} sip:ivr@198.51.100.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
         From: sipp <sip:sipp@192.0.2.10:5060>;tag=caller1\r\n\
         To: <sip:100@198.51.100.1:5060>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {seq} {method}\r\n\
         Contact: <sip:sipp@192.0.2.10:5060>\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn to_tag(r: &Response) -> String {
    NameAddr::parse(r.headers.get("To").unwrap())
        .unwrap()
        .tag()
        .unwrap()
        .to_string()
}

/// INVITE, answer; returns the call, the To tag of the 200 and clears outputs.
fn answered_call(u: &mut Uas, call_id: &str) -> (ivr_media::sip::endpoint::CallKey, String) {
    u.recv(caller(), &invite("z9hG4bK-inv1", call_id));
    let call = u.incoming_call();
    u.ep.answer(u.now, call, Bytes::from_static(SDP.as_bytes()));
    u.drain();
    let sent = u.take_sent();
    let ok = response(&sent.last().unwrap().2);
    assert_eq!(ok.status, 200);
    (call, to_tag(ok))
}

#[test]
fn uas_call_sends_100_then_180_and_200_with_tag_contact_and_sdp() {
    let mut u = Uas::new();
    u.recv(caller(), &invite("z9hG4bK-a", "c1"));
    let call = u.incoming_call();
    u.ep.ringing(u.now, call);
    u.ep.answer(u.now, call, Bytes::from_static(SDP.as_bytes()));
    u.drain();
    let sent = u.take_sent();
    assert_eq!(statuses(&sent), vec![100, 180, 200]);
    let trying = response(&sent[0].2);
    assert!(NameAddr::parse(trying.headers.get("To").unwrap())
        .unwrap()
        .tag()
        .is_none());
    let ringing = response(&sent[1].2);
    let ok = response(&sent[2].2);
    assert_eq!(to_tag(ringing), to_tag(ok), "one To tag for the dialog");
    assert!(to_tag(ok).len() >= 8);
    assert_eq!(
        ok.headers.get("Contact"),
        Some("<sip:ivr@198.51.100.1:5060>")
    );
    assert_eq!(ok.headers.get("Content-Type"), Some("application/sdp"));
    assert!(ok.headers.get("Allow").unwrap().contains("INVITE"));
    assert_eq!(ok.headers.get("Server"), Some("ivr-test"));
    assert_eq!(ok.body, SDP.as_bytes());
    assert!(sent.iter().all(|(_, to, _)| *to == caller()));
    let info = u.ep.dialog_info(call).unwrap();
    assert_eq!(info.call_id, "c1");
    assert_eq!(info.remote_tag, "caller1");
    assert_eq!(info.remote_target.to_string(), "sip:sipp@192.0.2.10:5060");
}

#[test]
fn uas_200_is_retransmitted_at_t1_doubling_until_ack_then_confirmed() {
    let mut u = Uas::new();
    let (call, tag) = answered_call(&mut u, "c2");
    u.run_until(Duration::from_millis(4000));
    let at: Vec<u128> = u
        .take_sent()
        .iter()
        .map(|(t, _, m)| {
            assert_eq!(response(m).status, 200);
            t.as_millis()
        })
        .collect();
    assert_eq!(at, vec![500, 1500, 3500]);
    u.recv(caller(), &ack("z9hG4bK-ack1", "c2", &tag, 1));
    assert_eq!(u.take_events(), vec![Event::Confirmed { call }]);
    u.run_until(Duration::from_secs(40));
    assert!(u.take_sent().is_empty(), "no retransmission after the ACK");
    assert!(u.take_events().is_empty());
    assert_eq!(u.ep.stats().active_dialogs, 1);
    assert_eq!(u.ep.stats().retransmissions_sent, 3);
}

#[test]
fn uas_timer_h_without_ack_ends_the_call_with_ack_timeout_and_a_bye() {
    let mut u = Uas::new();
    let (call, _) = answered_call(&mut u, "c3");
    u.run_until(Duration::from_secs(32));
    let sent = u.take_sent();
    let retransmits: Vec<u128> = sent
        .iter()
        .filter(|(_, _, m)| matches!(m, Message::Response(_)))
        .map(|(t, _, _)| t.as_millis())
        .collect();
    assert_eq!(
        retransmits,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    let bye = request(&sent.last().unwrap().2);
    assert_eq!(bye.method.as_str(), "BYE");
    assert_eq!(bye.uri.to_string(), "sip:sipp@192.0.2.10:5060");
    assert_eq!(
        u.take_events(),
        vec![Event::Terminated {
            call,
            reason: Termination::AckTimeout
        }]
    );
    assert_eq!(u.ep.stats().active_dialogs, 0);
    u.run_all();
    assert_eq!(u.ep.stats().active_transactions, 0);
}

#[test]
fn cancel_before_answer_gets_200_and_487_and_the_ack_is_absorbed() {
    let mut u = Uas::new();
    u.recv(caller(), &invite("z9hG4bK-c", "c4"));
    let call = u.incoming_call();
    u.ep.ringing(u.now, call);
    u.drain();
    u.take_sent();
    u.recv(
        caller(),
        "CANCEL sip:100@198.51.100.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c\r\n\
         From: sipp <sip:sipp@192.0.2.10:5060>;tag=caller1\r\n\
         To: <sip:100@198.51.100.1:5060>\r\nCall-ID: c4\r\nCSeq: 1 CANCEL\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    );
    let sent = u.take_sent();
    assert_eq!(statuses(&sent), vec![200, 487]);
    assert_eq!(response(&sent[0].2).headers.get("CSeq"), Some("1 CANCEL"));
    let terminated = response(&sent[1].2);
    assert_eq!(terminated.headers.get("CSeq"), Some("1 INVITE"));
    assert_eq!(u.take_events(), vec![Event::Cancelled { call }]);
    // The 487 is retransmitted until the ACK, which the transaction absorbs.
    u.run_until(Duration::from_millis(600));
    assert_eq!(statuses(&u.take_sent()), vec![487]);
    let tag = to_tag(terminated);
    u.recv(caller(), &ack("z9hG4bK-c", "c4", &tag, 1));
    assert!(u.take_sent().is_empty());
    assert!(u.take_events().is_empty());
    u.run_all();
    assert!(u.take_sent().is_empty(), "no retransmission after the ACK");
    assert_eq!(u.ep.stats().active_transactions, 0);
    assert_eq!(u.ep.stats().active_dialogs, 0);
}

#[test]
fn cancel_for_unknown_transaction_gets_481() {
    let mut u = Uas::new();
    u.recv(
        caller(),
        "CANCEL sip:100@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKnope\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 CANCEL\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(statuses(&u.take_sent()), vec![481]);
    assert_eq!(u.ep.stats().no_dialog_481, 1);
}

#[test]
fn bye_from_the_caller_is_answered_and_ends_the_call() {
    let mut u = Uas::new();
    let (call, tag) = answered_call(&mut u, "c5");
    u.recv(caller(), &ack("z9hG4bK-ack", "c5", &tag, 1));
    u.take_events();
    u.recv(caller(), &in_dialog("BYE", "z9hG4bK-bye", "c5", &tag, 2));
    assert_eq!(statuses(&u.take_sent()), vec![200]);
    assert_eq!(u.take_events(), vec![Event::Bye { call }]);
    assert!(u.ep.dialog_info(call).is_none());
    // A retransmitted BYE gets the same 200 again, without a second event.
    u.recv(caller(), &in_dialog("BYE", "z9hG4bK-bye", "c5", &tag, 2));
    assert_eq!(statuses(&u.take_sent()), vec![200]);
    assert!(u.take_events().is_empty());
    u.run_all();
    assert_eq!(u.ep.stats().active_transactions, 0);
    assert_eq!(u.ep.stats().active_dialogs, 0);
}

#[test]
fn our_bye_is_retransmitted_on_udp_and_times_out_on_timer_f() {
    let mut u = Uas::new();
    let (call, tag) = answered_call(&mut u, "c6");
    u.recv(caller(), &ack("z9hG4bK-ack", "c6", &tag, 1));
    u.take_events();
    u.ep.hangup(u.now, call);
    u.drain();
    let first = u.take_sent();
    let bye = request(&first[0].2);
    assert_eq!(bye.method.as_str(), "BYE");
    assert_eq!(bye.headers.get("CSeq"), Some("1 BYE"));
    assert!(bye
        .headers
        .get("From")
        .unwrap()
        .contains(&format!("tag={tag}")));
    assert!(bye.headers.get("To").unwrap().contains("tag=caller1"));
    assert_eq!(bye.headers.get("Max-Forwards"), Some("70"));
    assert_eq!(bye.headers.get("User-Agent"), Some("ivr-test"));
    u.run_until(Duration::from_secs(40));
    let at: Vec<u128> = u
        .take_sent()
        .iter()
        .map(|(t, _, _)| t.as_millis())
        .collect();
    assert_eq!(
        at,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(
        u.take_events(),
        vec![Event::Terminated {
            call,
            reason: Termination::ByeTimeout
        }]
    );
    assert_eq!(u.ep.stats().active_transactions, 0);
    assert_eq!(u.ep.stats().active_dialogs, 0);
}

#[test]
fn our_bye_answered_ends_the_call_with_bye_sent() {
    let mut u = Uas::new();
    let (call, tag) = answered_call(&mut u, "c7");
    u.recv(caller(), &ack("z9hG4bK-ack", "c7", &tag, 1));
    u.take_events();
    u.ep.hangup(u.now, call);
    u.drain();
    let sent = u.take_sent();
    let bye = request(&sent[0].2);
    let mut ok = "SIP/2.0 200 OK\r\n".to_string();
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        ok.push_str(&format!("{name}: {}\r\n", bye.headers.get(name).unwrap()));
    }
    ok.push_str("Content-Length: 0\r\n\r\n");
    u.recv(caller(), &ok);
    assert_eq!(
        u.take_events(),
        vec![Event::Terminated {
            call,
            reason: Termination::ByeSent
        }]
    );
    u.run_all();
    assert_eq!(u.ep.stats().active_transactions, 0);
}

#[test]
fn hangup_before_ack_waits_for_the_ack_then_sends_bye() {
    let mut u = Uas::new();
    let (call, tag) = answered_call(&mut u, "c7b");
    u.ep.hangup(u.now, call);
    u.drain();
    assert!(
        u.take_sent().is_empty(),
        "no BYE before the ACK (RFC 3261 §15)"
    );
    u.recv(caller(), &ack("z9hG4bK-ack", "c7b", &tag, 1));
    let sent = u.take_sent();
    assert_eq!(request(&sent[0].2).method.as_str(), "BYE");
}

#[test]
fn hangup_of_an_unanswered_incoming_call_rejects_it() {
    let mut u = Uas::new();
    u.recv(caller(), &invite("z9hG4bK-h", "c7c"));
    let call = u.incoming_call();
    u.take_sent();
    u.ep.hangup(u.now, call);
    u.drain();
    assert_eq!(statuses(&u.take_sent()), vec![480]);
    assert_eq!(u.ep.stats().active_dialogs, 0);
}

#[test]
fn reject_sends_the_status_and_extra_headers_and_retransmits_until_ack() {
    let mut u = Uas::new();
    u.recv(caller(), &invite("z9hG4bK-r", "c8"));
    let call = u.incoming_call();
    u.take_sent();
    u.ep.reject(u.now, call, 503, &[("Retry-After", "30")]);
    u.drain();
    let sent = u.take_sent();
    let r = response(&sent[0].2);
    assert_eq!(r.status, 503);
    assert_eq!(r.headers.get("Retry-After"), Some("30"));
    assert!(r.headers.get("Contact").is_none());
    u.run_until(Duration::from_secs(32));
    assert_eq!(
        statuses(&u.take_sent()).len(),
        10,
        "Timer G retransmissions until Timer H"
    );
    assert!(
        u.take_events().is_empty(),
        "a rejected call is already gone"
    );
    assert_eq!(u.ep.stats().active_transactions, 0);
}

#[test]
fn re_invite_is_handed_to_the_app_and_its_200_retransmitted_until_ack() {
    let mut u = Uas::new();
    let (call, tag) = answered_call(&mut u, "c9");
    u.recv(caller(), &ack("z9hG4bK-ack", "c9", &tag, 1));
    u.take_events();
    let mut reinvite = in_dialog("INVITE", "z9hG4bK-re", "c9", &tag, 2);
    reinvite = reinvite.replace(
        "Contact: <sip:sipp@192.0.2.10:5060>",
        "Contact: <sip:sipp@192.0.2.10:5070>",
    );
    u.recv(caller(), &reinvite);
    assert_eq!(statuses(&u.take_sent()), vec![100]);
    let txn = match u.take_events().as_slice() {
        [Event::ReInvite { call: c, txn, .. }] if *c == call => *txn,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        u.ep.dialog_info(call).unwrap().remote_target.port,
        Some(5070),
        "target refresh"
    );
    // A second INVITE while this one is pending: 491.
    u.recv(caller(), &in_dialog("INVITE", "z9hG4bK-re2", "c9", &tag, 3));
    assert_eq!(statuses(&u.take_sent()), vec![491]);
    u.recv(caller(), &ack("z9hG4bK-re2", "c9", &tag, 3));
    assert!(u.take_events().is_empty(), "the ACK of the 491 is absorbed");
    u.ep.respond(
        u.now,
        txn,
        200,
        &[],
        Some(("application/sdp", Bytes::from_static(SDP.as_bytes()))),
    );
    u.drain();
    let sent = u.take_sent();
    let ok = response(&sent[0].2);
    assert_eq!((ok.status, ok.headers.get("CSeq")), (200, Some("2 INVITE")));
    assert_eq!(to_tag(ok), tag);
    assert!(ok.headers.get("Contact").is_some());
    u.run_until(Duration::from_millis(1000));
    assert_eq!(statuses(&u.take_sent()), vec![200]);
    u.recv(caller(), &ack("z9hG4bK-ack2", "c9", &tag, 2));
    assert!(
        u.take_events().is_empty(),
        "only the first ACK confirms the call"
    );
    u.run_until(Duration::from_secs(60));
    assert!(u.take_sent().is_empty());
    assert_eq!(u.ep.stats().active_dialogs, 1);
}

#[test]
fn in_dialog_info_goes_to_the_app_and_is_answered_by_respond() {
    let mut u = Uas::new();
    let (call, tag) = answered_call(&mut u, "c10");
    u.recv(caller(), &ack("z9hG4bK-ack", "c10", &tag, 1));
    u.take_events();
    u.recv(caller(), &in_dialog("INFO", "z9hG4bK-info", "c10", &tag, 2));
    let txn = match u.take_events().as_slice() {
        [Event::Request {
            call: c,
            txn,
            request,
        }] if *c == call && request.method.as_str() == "INFO" => *txn,
        other => panic!("{other:?}"),
    };
    u.ep.respond(u.now, txn, 200, &[], None);
    u.drain();
    assert_eq!(statuses(&u.take_sent()), vec![200]);
    // Out of order CSeq: 500.
    u.recv(
        caller(),
        &in_dialog("INFO", "z9hG4bK-info0", "c10", &tag, 1),
    );
    assert_eq!(statuses(&u.take_sent()), vec![500]);
}

#[test]
fn requests_in_unknown_dialogs_get_481() {
    let mut u = Uas::new();
    u.recv(
        caller(),
        &in_dialog("BYE", "z9hG4bK-x", "nope", "unknown", 2),
    );
    u.recv(
        caller(),
        &in_dialog("INFO", "z9hG4bK-y", "nope", "unknown", 3),
    );
    let bye = in_dialog("BYE", "z9hG4bK-z", "nope", "unknown", 4).replace(";tag=unknown", "");
    u.recv(caller(), &bye);
    assert_eq!(statuses(&u.take_sent()), vec![481, 481, 481]);
    assert_eq!(u.ep.stats().no_dialog_481, 3);
}

#[test]
fn unsupported_methods_get_405_with_allow() {
    let mut u = Uas::new();
    let register = in_dialog("REGISTER", "z9hG4bK-reg", "r1", "x", 1).replace(";tag=x", "");
    u.recv(caller(), &register);
    let sent = u.take_sent();
    let r = response(&sent[0].2);
    assert_eq!(r.status, 405);
    assert_eq!(
        r.headers.get("Allow"),
        Some(ivr_media::sip::endpoint::ALLOW)
    );
    assert_eq!(u.ep.stats().method_not_allowed_405, 1);
}

#[test]
fn options_gets_200_with_allow_and_accept() {
    let mut u = Uas::new();
    let options = in_dialog("OPTIONS", "z9hG4bK-o", "o1", "x", 1).replace(";tag=x", "");
    u.recv(caller(), &options);
    let sent = u.take_sent();
    let r = response(&sent[0].2);
    assert_eq!(r.status, 200);
    assert!(r.headers.get("Allow").is_some());
    assert_eq!(r.headers.get("Accept"), Some("application/sdp"));
    assert!(r.headers.get("To").unwrap().contains("tag="));
    assert!(u.take_events().is_empty());
}

#[test]
fn unknown_require_extension_gets_420() {
    let mut u = Uas::new();
    let inv = invite("z9hG4bK-req", "q1").replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel\r\n",
    );
    u.recv(caller(), &inv);
    let sent = u.take_sent();
    let r = response(&sent[0].2);
    assert_eq!(r.status, 420);
    assert_eq!(r.headers.get("Unsupported"), Some("100rel"));
    assert!(u.take_events().is_empty());
}

#[test]
fn retransmitted_invite_gets_the_last_response_without_a_second_call() {
    let mut u = Uas::new();
    u.recv(caller(), &invite("z9hG4bK-rt", "c11"));
    let call = u.incoming_call();
    u.recv(caller(), &invite("z9hG4bK-rt", "c11"));
    assert_eq!(statuses(&u.take_sent()), vec![100, 100]);
    u.ep.ringing(u.now, call);
    u.drain();
    u.recv(caller(), &invite("z9hG4bK-rt", "c11"));
    assert_eq!(statuses(&u.take_sent()), vec![180, 180]);
    u.ep.answer(u.now, call, Bytes::from_static(SDP.as_bytes()));
    u.drain();
    u.recv(caller(), &invite("z9hG4bK-rt", "c11"));
    assert_eq!(statuses(&u.take_sent()), vec![200, 200]);
    assert!(u.take_events().is_empty(), "one IncomingCall only");
}

#[test]
fn tcp_has_no_retransmissions_but_timer_h_still_ends_the_call() {
    let mut u = Uas::new();
    let peer = Peer {
        transport: Transport::Tcp,
        addr: "192.0.2.10:40000".parse().unwrap(),
    };
    let inv = invite("z9hG4bK-tcp", "t1").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    u.recv(peer, &inv);
    let call = u.incoming_call();
    u.ep.answer(u.now, call, Bytes::from_static(SDP.as_bytes()));
    u.drain();
    let sent = u.take_sent();
    assert!(
        sent.iter().all(|(_, to, _)| *to == peer),
        "responses reuse the connection"
    );
    assert_eq!(
        response(&sent[1].2).headers.get("Contact"),
        Some("<sip:ivr@198.51.100.1:5060;transport=tcp>")
    );
    u.run_until(Duration::from_secs(31));
    assert!(u.take_sent().is_empty(), "no Timer G on TCP");
    u.run_until(Duration::from_secs(32));
    assert_eq!(
        u.take_events(),
        vec![Event::Terminated {
            call,
            reason: Termination::AckTimeout
        }]
    );
}

#[test]
fn responses_follow_rport_and_received_through_nat() {
    let mut u = Uas::new();
    let nat = Peer {
        transport: Transport::Udp,
        addr: "203.0.113.9:31000".parse().unwrap(),
    };
    let inv = invite("z9hG4bK-nat", "n1").replace(
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-nat",
        "Via: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK-nat",
    );
    u.recv(nat, &inv);
    let sent = u.take_sent();
    assert_eq!(sent[0].1, nat);
    let via = response(&sent[0].2).headers.get("Via").unwrap().to_string();
    assert!(via.contains("received=203.0.113.9"), "{via}");
    assert!(via.contains("rport=31000"), "{via}");
    // Without rport the response goes to the source IP at the sent-by port.
    let inv =
        invite("z9hG4bK-nat2", "n2").replace("192.0.2.10:5060;branch", "10.0.0.5:5070;branch");
    u.recv(nat, &inv);
    let sent = u.take_sent();
    assert_eq!(
        sent[0].1.addr,
        "203.0.113.9:5070".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn malformed_request_gets_400_and_garbage_is_counted_and_dropped() {
    let mut u = Uas::new();
    u.recv(
        caller(),
        "INVITE sip:100@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKm\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: m1\r\nCSeq: 1 BYE\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(statuses(&u.take_sent()), vec![400]);
    u.recv(caller(), "\r\n\r\n");
    u.recv(caller(), "hello");
    assert!(u.take_sent().is_empty());
    let s = u.ep.stats();
    assert_eq!(
        (s.bad_requests_400, s.malformed_dropped, s.received),
        (1, 2, 3)
    );
}

#[test]
fn ack_for_unknown_dialog_is_silently_absorbed() {
    let mut u = Uas::new();
    u.recv(caller(), &ack("z9hG4bK-lost", "zz", "qq", 1));
    assert!(u.take_sent().is_empty());
    assert!(u.take_events().is_empty());
}

#[test]
fn a_thousand_calls_leave_no_transactions_or_dialogs_behind() {
    let mut u = Uas::new();
    for i in 0..1000 {
        let call_id = format!("leak{i}");
        u.recv(caller(), &invite(&format!("z9hG4bK-l{i}"), &call_id));
        let call = u.incoming_call();
        match i % 4 {
            0 => {
                u.ep.answer(u.now, call, Bytes::from_static(SDP.as_bytes()));
                u.drain();
                let tag = to_tag(response(&u.sent.last().unwrap().2));
                u.recv(caller(), &ack(&format!("z9hG4bK-a{i}"), &call_id, &tag, 1));
                u.recv(
                    caller(),
                    &in_dialog("BYE", &format!("z9hG4bK-b{i}"), &call_id, &tag, 2),
                );
            }
            1 => {
                u.ep.reject(u.now, call, 486, &[]);
                u.drain();
                let tag = to_tag(response(&u.sent.last().unwrap().2));
                u.recv(caller(), &ack(&format!("z9hG4bK-l{i}"), &call_id, &tag, 1));
            }
            2 => {
                u.ep.answer(u.now, call, Bytes::from_static(SDP.as_bytes()));
                u.drain();
                let tag = to_tag(response(&u.sent.last().unwrap().2));
                u.recv(caller(), &ack(&format!("z9hG4bK-a{i}"), &call_id, &tag, 1));
                u.ep.hangup(u.now, call);
                u.drain();
            }
            _ => {
                let cancel = invite(&format!("z9hG4bK-l{i}"), &call_id)
                    .replacen("INVITE", "CANCEL", 1)
                    .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
                u.recv(caller(), &cancel);
            }
        }
        u.take_sent();
        u.take_events();
        u.now += Duration::from_millis(10);
    }
    assert!(u.ep.stats().active_transactions > 0);
    u.run_all();
    u.take_events();
    let s = u.ep.stats();
    assert_eq!((s.active_transactions, s.active_dialogs), (0, 0), "{s:?}");
    assert_eq!(u.ep.poll_timeout(), None);
}

// ----- two endpoints ----------------------------------------------------------------------

/// Two endpoints wired back to back: `a` at 198.51.100.1, `b` at 198.51.100.2.
struct Pair {
    a: Endpoint,
    b: Endpoint,
    now: Instant,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
    /// Drop every message from `a` to `b` while set.
    drop_a_to_b: bool,
    /// Credentials `a` uses for its INVITEs.
    credentials: Option<Credentials>,
}

fn addr_a() -> SocketAddr {
    "198.51.100.1:5060".parse().unwrap()
}

fn addr_b() -> SocketAddr {
    "198.51.100.2:5060".parse().unwrap()
}

impl Pair {
    fn new() -> Pair {
        let mut cb = config();
        cb.local_udp = Some(addr_b());
        Pair {
            a: Endpoint::with_seed(config(), 1),
            b: Endpoint::with_seed(cb, 2),
            now: Instant::now(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            drop_a_to_b: false,
            credentials: None,
        }
    }

    /// Moves messages until both are quiet.
    fn step(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(out) = self.a.poll_output() {
                moved = true;
                match out {
                    Output::Transmit(t) => {
                        assert_eq!(t.to.addr, addr_b());
                        if !self.drop_a_to_b {
                            let from = Peer {
                                transport: t.to.transport,
                                addr: addr_a(),
                            };
                            self.b.handle_datagram(self.now, from, &t.data);
                        }
                    }
                    Output::Event(e) => self.a_events.push(e),
                }
            }
            while let Some(out) = self.b.poll_output() {
                moved = true;
                match out {
                    Output::Transmit(t) => {
                        assert_eq!(t.to.addr, addr_a());
                        let from = Peer {
                            transport: t.to.transport,
                            addr: addr_b(),
                        };
                        self.a.handle_datagram(self.now, from, &t.data);
                    }
                    Output::Event(e) => self.b_events.push(e),
                }
            }
            if !moved {
                return;
            }
        }
        panic!("livelock");
    }

    /// Jumps to the next deadline of either side (quinn's `drive` idea); false when none.
    fn advance(&mut self) -> bool {
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = next else { return false };
        self.now = self.now.max(at);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.step();
        true
    }

    fn drive(&mut self) {
        for _ in 0..10_000 {
            if !self.advance() {
                return;
            }
        }
        panic!("timers never settle");
    }

    fn invite(&mut self) -> ivr_media::sip::endpoint::CallKey {
        let params = InviteParams {
            to: Peer {
                transport: Transport::Udp,
                addr: addr_b(),
            },
            target: Uri::parse("sip:100@198.51.100.2").unwrap(),
            from: NameAddr::parse("\"IVR\" <sip:ivr@198.51.100.1>").unwrap(),
            to_header: NameAddr::parse("<sip:100@198.51.100.2>").unwrap(),
            sdp: Bytes::from_static(SDP.as_bytes()),
            credentials: self.credentials.clone(),
            extra_headers: vec![("X-Campaign".into(), "42".into())],
        };
        let call = self.a.invite(self.now, params);
        self.step();
        call
    }
}

fn b_incoming(p: &mut Pair) -> ivr_media::sip::endpoint::CallKey {
    match std::mem::take(&mut p.b_events).as_slice() {
        [Event::IncomingCall { call, invite, .. }] => {
            assert_eq!(invite.headers.get("X-Campaign"), Some("42"));
            assert_eq!(invite.headers.get("Max-Forwards"), Some("70"));
            *call
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn two_endpoints_complete_a_call_and_hang_up() {
    let mut p = Pair::new();
    let a_call = p.invite();
    let b_call = b_incoming(&mut p);
    p.b.ringing(p.now, b_call);
    p.step();
    match std::mem::take(&mut p.a_events).as_slice() {
        [Event::Progress { call, response }] => {
            assert_eq!((*call, response.status), (a_call, 180));
        }
        other => panic!("{other:?}"),
    }
    p.b.answer(p.now, b_call, Bytes::from_static(SDP.as_bytes()));
    p.step();
    assert!(matches!(
        std::mem::take(&mut p.a_events).as_slice(),
        [Event::Answered { call, response }] if *call == a_call && response.status == 200
    ));
    assert_eq!(
        std::mem::take(&mut p.b_events),
        vec![Event::Confirmed { call: b_call }]
    );
    let (ai, bi) = (
        p.a.dialog_info(a_call).unwrap(),
        p.b.dialog_info(b_call).unwrap(),
    );
    assert_eq!(ai.call_id, bi.call_id);
    assert_eq!(
        (&ai.local_tag, &ai.remote_tag),
        (&bi.remote_tag, &bi.local_tag)
    );
    p.a.hangup(p.now, a_call);
    p.step();
    assert_eq!(
        std::mem::take(&mut p.b_events),
        vec![Event::Bye { call: b_call }]
    );
    assert_eq!(
        std::mem::take(&mut p.a_events),
        vec![Event::Terminated {
            call: a_call,
            reason: Termination::ByeSent
        }]
    );
    p.drive();
    for ep in [&p.a, &p.b] {
        assert_eq!(
            (ep.stats().active_transactions, ep.stats().active_dialogs),
            (0, 0)
        );
        assert_eq!(ep.stats().retransmissions_sent, 0);
    }
}

#[test]
fn uac_hangup_while_ringing_sends_cancel() {
    let mut p = Pair::new();
    let a_call = p.invite();
    let b_call = b_incoming(&mut p);
    p.b.ringing(p.now, b_call);
    p.step();
    p.a_events.clear();
    p.a.hangup(p.now, a_call);
    p.step();
    assert_eq!(
        std::mem::take(&mut p.b_events),
        vec![Event::Cancelled { call: b_call }]
    );
    assert_eq!(
        std::mem::take(&mut p.a_events),
        vec![Event::Terminated {
            call: a_call,
            reason: Termination::Cancelled
        }]
    );
    p.drive();
    for ep in [&p.a, &p.b] {
        assert_eq!(
            (ep.stats().active_transactions, ep.stats().active_dialogs),
            (0, 0)
        );
    }
}

#[test]
fn uac_rejection_is_acked_and_reported_as_failed() {
    let mut p = Pair::new();
    let a_call = p.invite();
    let b_call = b_incoming(&mut p);
    p.b.reject(p.now, b_call, 486, &[]);
    p.step();
    assert!(matches!(
        std::mem::take(&mut p.a_events).as_slice(),
        [Event::Failed { call, response: Some(r) }] if *call == a_call && r.status == 486
    ));
    p.drive();
    assert_eq!(
        p.b.stats().retransmissions_sent,
        0,
        "the ACK stopped Timer G"
    );
    for ep in [&p.a, &p.b] {
        assert_eq!(
            (ep.stats().active_transactions, ep.stats().active_dialogs),
            (0, 0)
        );
    }
}

#[test]
fn uac_timer_b_fails_the_call_after_retransmissions() {
    let mut p = Pair::new();
    p.drop_a_to_b = true;
    let a_call = p.invite();
    p.drive();
    assert_eq!(
        p.a_events,
        vec![Event::Failed {
            call: a_call,
            response: None
        }]
    );
    assert_eq!(
        p.a.stats().retransmissions_sent,
        6,
        "Timer A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s"
    );
    assert_eq!(p.a.stats().active_transactions, 0);
}

#[test]
fn uac_answers_a_401_challenge_once_and_the_call_goes_through() {
    let mut p = Pair::new();
    p.credentials = Some(Credentials {
        username: "trunk".into(),
        password: "s3cret".into(),
    });
    let a_call = p.invite();
    let first = b_incoming(&mut p);
    let challenge = auth::challenge("ivr", "n0nce");
    p.b.reject(p.now, first, 401, &[("WWW-Authenticate", &challenge)]);
    p.step();
    assert!(
        p.a_events.is_empty(),
        "the challenge is handled inside the endpoint"
    );
    let (second, invite) = match std::mem::take(&mut p.b_events).as_slice() {
        [Event::IncomingCall { call, invite, .. }] => (*call, invite.clone()),
        other => panic!("{other:?}"),
    };
    let authorization = invite
        .headers
        .get("Authorization")
        .expect("authorized retry");
    auth::verify(authorization, &invite.method, "ivr", "trunk", "s3cret").unwrap();
    assert_eq!(invite.headers.get("CSeq"), Some("2 INVITE"));
    p.b.answer(p.now, second, Bytes::from_static(SDP.as_bytes()));
    p.step();
    assert!(matches!(
        std::mem::take(&mut p.a_events).as_slice(),
        [Event::Answered { call, .. }] if *call == a_call
    ));
    assert_eq!(
        std::mem::take(&mut p.b_events),
        vec![Event::Confirmed { call: second }]
    );
    assert_eq!(p.a.dialog_info(a_call).unwrap().local_cseq, 2);
}

#[test]
fn uac_gives_up_after_a_second_challenge() {
    let mut p = Pair::new();
    p.credentials = Some(Credentials {
        username: "trunk".into(),
        password: "wrong".into(),
    });
    let a_call = p.invite();
    let challenge = auth::challenge("ivr", "n0nce");
    for _ in 0..2 {
        let call = b_incoming(&mut p);
        p.b.reject(p.now, call, 401, &[("WWW-Authenticate", &challenge)]);
        p.step();
    }
    assert!(matches!(
        std::mem::take(&mut p.a_events).as_slice(),
        [Event::Failed { call, response: Some(r) }] if *call == a_call && r.status == 401
    ));
    p.drive();
    assert_eq!(p.a.stats().active_transactions, 0);
}

/// A registrar played by hand: parse what the endpoint sent and answer it.
fn reply_to(req: &Request, status: u16, extra: &[(&str, &str)]) -> String {
    let mut out = format!("SIP/2.0 {status} Whatever\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        let mut v = req.headers.get(name).unwrap().to_string();
        if name == "To" {
            v.push_str(";tag=reg1");
        }
        out.push_str(&format!("{name}: {v}\r\n"));
    }
    for (n, v) in extra {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

#[test]
fn register_answers_the_challenge_and_refreshes_before_expiry() {
    let mut u = Uas::new();
    let registrar = Peer {
        transport: Transport::Udp,
        addr: "203.0.113.50:5060".parse().unwrap(),
    };
    let id = u.ep.register(
        u.now,
        RegisterParams {
            registrar,
            uri: Uri::parse("sip:example.com").unwrap(),
            aor: NameAddr::parse("<sip:ivr@example.com>").unwrap(),
            credentials: Some(Credentials {
                username: "ivr".into(),
                password: "pw".into(),
            }),
            expires: Duration::from_secs(600),
        },
    );
    u.drain();
    let sent = u.take_sent();
    let reg = request(&sent[0].2).clone();
    assert_eq!(sent[0].1, registrar);
    assert_eq!(reg.headers.get("Expires"), Some("600"));
    assert_eq!(
        reg.headers.get("Contact"),
        Some("<sip:ivr@198.51.100.1:5060>")
    );
    let challenge = auth::challenge("example.com", "abc");
    u.recv(
        registrar,
        &reply_to(&reg, 401, &[("WWW-Authenticate", &challenge)]),
    );
    let sent = u.take_sent();
    let retry = request(&sent[0].2).clone();
    assert_eq!(retry.headers.get("CSeq"), Some("2 REGISTER"));
    assert_eq!(retry.headers.get("Call-ID"), reg.headers.get("Call-ID"));
    let authorization = retry.headers.get("Authorization").unwrap();
    auth::verify(authorization, &retry.method, "example.com", "ivr", "pw").unwrap();
    u.recv(
        registrar,
        &reply_to(
            &retry,
            200,
            &[("Contact", "<sip:ivr@198.51.100.1:5060>;expires=300")],
        ),
    );
    assert_eq!(
        u.take_events(),
        vec![Event::Registered {
            id,
            expires: Duration::from_secs(300)
        }]
    );
    // Refresh 30 s before the 300 s expire.
    u.run_until(Duration::from_secs(269));
    assert!(u
        .take_sent()
        .iter()
        .all(|(_, _, m)| !matches!(m, Message::Request(_))));
    u.run_until(Duration::from_secs(270));
    let sent = u.take_sent();
    let refresh = sent.iter().find_map(|(_, _, m)| match m {
        Message::Request(r) => Some(r.clone()),
        Message::Response(_) => None,
    });
    assert_eq!(refresh.unwrap().headers.get("CSeq"), Some("3 REGISTER"));
}

#[test]
fn register_failure_is_reported_and_retried() {
    let mut u = Uas::new();
    let registrar = Peer {
        transport: Transport::Udp,
        addr: "203.0.113.50:5060".parse().unwrap(),
    };
    let id = u.ep.register(
        u.now,
        RegisterParams {
            registrar,
            uri: Uri::parse("sip:example.com").unwrap(),
            aor: NameAddr::parse("<sip:ivr@example.com>").unwrap(),
            credentials: None,
            expires: Duration::from_secs(600),
        },
    );
    u.drain();
    let sent = u.take_sent();
    let reg = request(&sent[0].2).clone();
    u.recv(registrar, &reply_to(&reg, 403, &[]));
    assert_eq!(
        u.take_events(),
        vec![Event::RegistrationFailed {
            id,
            status: Some(403)
        }]
    );
    u.run_until(Duration::from_secs(60));
    let again = u
        .take_sent()
        .into_iter()
        .filter(|(_, _, m)| matches!(m, Message::Request(_)))
        .count();
    assert_eq!(again, 1, "retried after 60 s");
}

#[test]
fn refer_in_a_confirmed_dialog_reaches_the_peer_and_reports_its_answer() {
    let mut p = Pair::new();
    let a_call = p.invite();
    let b_call = b_incoming(&mut p);
    p.b.answer(p.now, b_call, Bytes::from_static(SDP.as_bytes()));
    p.step();
    p.a_events.clear();
    p.b_events.clear();
    // The answering side (the IVR) transfers the caller.
    p.b.refer(p.now, b_call, "sip:1001@pbx.example.com");
    p.step();
    let (txn, refer) = match std::mem::take(&mut p.a_events).as_slice() {
        [Event::Request { call, txn, request }] if *call == a_call => (*txn, request.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(refer.method, ivr_media::sip::Method::Refer);
    assert_eq!(
        refer.headers.get("Refer-To"),
        Some("<sip:1001@pbx.example.com>")
    );
    p.a.respond(p.now, txn, 202, &[], None);
    p.step();
    assert_eq!(
        std::mem::take(&mut p.b_events),
        vec![Event::Transferred {
            call: b_call,
            status: Some(202)
        }]
    );
    // No REFER outside a confirmed dialog.
    p.b.hangup(p.now, b_call);
    p.step();
    p.b.refer(p.now, b_call, "sip:x@y");
    p.drive();
    assert!(!std::mem::take(&mut p.b_events)
        .iter()
        .any(|e| matches!(e, Event::Transferred { .. })));
}
