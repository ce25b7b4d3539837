//! Hostile bytes through `Endpoint::handle_datagram`: nothing panics, garbage is counted, and
//! whatever state the survivors create is cleaned up by the timers.

use std::time::{Duration, Instant};

use ivr_media::sip::endpoint::{Endpoint, EndpointConfig, Event, Output, Peer, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const INVITE: &str = "INVITE sip:100@198.51.100.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport\r\n\
From: sipp <sip:sipp@192.0.2.10:5060>;tag=caller1\r\n\
To: <sip:100@198.51.100.1:5060>\r\n\
Call-ID: hostile-1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:sipp@192.0.2.10:5060>\r\n\
Record-Route: <sip:p1.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

const RESPONSE: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKdeadbeef\r\n\
From: <sip:ivr@198.51.100.1>;tag=a\r\nTo: <sip:x@y>;tag=b\r\n\
Call-ID: r1\r\nCSeq: 1 INVITE\r\nContact: <sip:x@y>\r\nContent-Length: 0\r\n\r\n";

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "192.0.2.10:5060".parse().unwrap(),
    }
}

/// Feeds `data`, answers every incoming call, and drains outputs.
fn feed(ep: &mut Endpoint, now: Instant, data: &[u8]) {
    ep.handle_datagram(now, peer(), data);
    while let Some(out) = ep.poll_output() {
        if let Output::Event(Event::IncomingCall { call, .. }) = out {
            ep.answer(now, call, bytes::Bytes::from_static(b"v=0\r\n"));
        }
    }
}

fn settle(ep: &mut Endpoint, mut now: Instant) {
    for _ in 0..100_000 {
        let Some(at) = ep.poll_timeout() else { break };
        now = now.max(at);
        ep.handle_timeout(now);
        while ep.poll_output().is_some() {}
    }
    let s = ep.stats();
    assert_eq!((s.active_transactions, s.active_dialogs), (0, 0), "{s:?}");
}

#[test]
fn random_bytes_never_panic_and_are_counted() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 1);
    let now = Instant::now();
    for _ in 0..2000 {
        let len = rng.gen_range(0..600);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        feed(&mut ep, now, &data);
    }
    let s = ep.stats();
    assert_eq!(s.received, 2000);
    assert_eq!(
        s.malformed_dropped, 2000,
        "random bytes are never a SIP message"
    );
    settle(&mut ep, now);
}

#[test]
fn mutated_and_truncated_messages_never_panic() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 2);
    let mut now = Instant::now();
    let mut fed = 0u64;
    for base in [INVITE, RESPONSE] {
        let base = base.as_bytes();
        for cut in 0..base.len() {
            feed(&mut ep, now, &base[..cut]);
            fed += 1;
        }
        for i in 0..3000 {
            let mut data = base.to_vec();
            for _ in 0..rng.gen_range(1..6) {
                let at = rng.gen_range(0..data.len());
                match rng.gen_range(0..4) {
                    0 => data[at] = rng.gen(),
                    1 => data[at] = *b":;,<>\"\r\n @=".get(rng.gen_range(0..12)).unwrap_or(&b' '),
                    2 => {
                        data.remove(at);
                    }
                    _ => data.insert(at, rng.gen()),
                }
            }
            feed(&mut ep, now, &data);
            fed += 1;
            if i % 500 == 0 {
                now += Duration::from_millis(700);
                ep.handle_timeout(now);
                while ep.poll_output().is_some() {}
            }
        }
    }
    let s = ep.stats().clone();
    assert_eq!(s.received, fed);
    assert!(s.malformed_dropped > 0 && s.bad_requests_400 > 0, "{s:?}");
    settle(&mut ep, now);
}

#[test]
fn oversized_and_odd_headers_never_panic() {
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), 3);
    let now = Instant::now();
    let huge = "a".repeat(70_000);
    let cases = [
        INVITE.replace("Call-ID: hostile-1", &format!("Call-ID: {huge}")),
        INVITE.replace("z9hG4bK-1", ""),
        INVITE.replace(";tag=caller1", ""),
        INVITE.replace(
            "<sip:100@198.51.100.1:5060>",
            "<sip:100@198.51.100.1:5060>;tag=x",
        ),
        INVITE.replace("Contact: <sip:sipp@192.0.2.10:5060>\r\n", ""),
        INVITE.replace("Max-Forwards: 70", "Max-Forwards: 0"),
        INVITE.replace("Max-Forwards: 70", "Max-Forwards: 99999999999999"),
        INVITE.replace(
            "Record-Route: <sip:p1.example.com;lr>",
            "Record-Route: garbage",
        ),
        INVITE.replace("CSeq: 1 INVITE", "CSeq: 4294967295 INVITE"),
        INVITE
            .replace("INVITE sip", "ACK sip")
            .replace("1 INVITE", "1 ACK"),
        INVITE
            .replace("INVITE sip", "CANCEL sip")
            .replace("1 INVITE", "1 CANCEL"),
        INVITE.replace("192.0.2.10:5060;branch", "[::1]:0;branch"),
        INVITE.replace("rport", "rport=99999"),
        RESPONSE.replace("200 OK", "999 Huh"),
        RESPONSE.replace("200 OK", "100 Trying"),
    ];
    for case in &cases {
        feed(&mut ep, now, case.as_bytes());
        feed(&mut ep, now, case.as_bytes());
    }
    assert_eq!(ep.stats().received, 2 * cases.len() as u64);
    settle(&mut ep, now);
}
