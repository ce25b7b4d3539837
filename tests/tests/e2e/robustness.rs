//! Hostile input on the public SIP port leaves the engine alive and serving.

use std::io::Write;
use std::net::TcpStream;

use ivr_tests::sip::{invite_text, RawSip};
use ivr_tests::{Engine, EngineOptions, Sipp};

use crate::{ms, secs};

/// A small deterministic generator (xorshift64*), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// About a hundred datagrams no SIP stack should choke on.
fn hostile_datagrams(invite: &str) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x1CE_CAFE);
    let mut out: Vec<Vec<u8>> = Vec::new();
    let b = invite.as_bytes();
    // Truncations at 40 lengths spread over the message, and at every header boundary.
    for i in 0..40 {
        out.push(b[..b.len() * i / 40].to_vec());
    }
    for (i, _) in invite.match_indices("\r\n") {
        out.push(b[..i].to_vec());
    }
    // Random bytes, short and long.
    for n in [1, 2, 7, 13, 64, 512, 1400, 4000] {
        out.push(rng.bytes(n));
    }
    // Random bytes after a valid start line.
    for _ in 0..5 {
        let mut m = b"INVITE sip:x@127.0.0.1 SIP/2.0\r\n".to_vec();
        m.extend(rng.bytes(300));
        out.push(m);
    }
    // A huge header and very many headers.
    out.push(
        invite
            .replacen(
                "Max-Forwards: 70",
                &format!("X-Huge: {}", "a".repeat(60_000)),
                1,
            )
            .into_bytes(),
    );
    out.push(
        invite
            .replacen("Max-Forwards: 70", &"X-H: 1\r\n".repeat(3000), 1)
            .into_bytes(),
    );
    // Lying Content-Length values.
    for cl in [
        "999999",
        "-1",
        "abc",
        "18446744073709551616",
        "0",
        "1",
        " 5 5",
    ] {
        let body_len = invite.split("\r\n\r\n").nth(1).unwrap_or("").len();
        out.push(
            invite
                .replacen(
                    &format!("Content-Length: {body_len}"),
                    &format!("Content-Length: {cl}"),
                    1,
                )
                .into_bytes(),
        );
    }
    // NUL bytes and invalid UTF-8 in the start line, a header name, a header value and the body.
    for at in [3, 20, 120, b.len() - 10] {
        let mut m = b.to_vec();
        m[at] = 0;
        out.push(m);
        let mut m = b.to_vec();
        m[at] = 0xFF;
        out.push(m);
    }
    // Odd shapes.
    for s in [
        "",
        "\r\n\r\n",
        "SIP/2.0 200 OK\r\n\r\n",
        "SIP/2.0 999999 Big\r\nCSeq: 1 INVITE\r\nCall-ID: x\r\nVia: SIP/2.0/UDP 127.0.0.9:9;branch=z9hG4bKx\r\n\r\n",
        "INVITE SIP/2.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "INVITE sip:x SIP/3.0\r\nVia: SIP/2.0/UDP 127.0.0.9:9\r\n\r\n",
        "ACK sip:x SIP/2.0\r\nCall-ID: nothing\r\nCSeq: 1 ACK\r\n\r\n",
        "CANCEL sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9:9;branch=z9hG4bKnone\r\nCall-ID: none\r\nCSeq: 1 CANCEL\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n\r\n",
        "BYE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP [::1\r\nCall-ID: y\r\nCSeq: 4294967296 BYE\r\n\r\n",
    ] {
        out.push(s.as_bytes().to_vec());
    }
    out
}

#[test]
fn hostile_datagrams_and_streams_leave_the_engine_serving() {
    let mut engine = Engine::start(EngineOptions::default());
    // From another loopback address, so the per-source INVITE rate limit cannot touch SIPp's call.
    let sock = RawSip::bind("127.0.0.9");
    let invite = invite_text(sock.local_addr(), engine.sip_udp, "hostile-1", 40_000);
    let datagrams = hostile_datagrams(&invite);
    assert!(datagrams.len() >= 100, "only {} datagrams", datagrams.len());
    for d in &datagrams {
        sock.send(engine.sip_udp, d);
    }
    // Hostile TCP streams: garbage, a lying Content-Length then close, a start line without end.
    for s in [
        &b"\x00\x01\x02garbage\r\n\r\n"[..],
        b"INVITE sip:x SIP/2.0\r\nContent-Length: 100000\r\n\r\nabc",
        b"OPTIONS sip:x SIP/2.0",
    ] {
        if let Ok(mut c) = TcpStream::connect(engine.sip_tcp) {
            let _ = c.write_all(s);
        }
    }
    // Whatever came back (400s and the like) is fine; give the engine a moment to chew.
    sock.drain(ms(300));
    assert!(
        engine.is_running(),
        "the engine died:\n{}",
        engine.diagnostics()
    );

    let run = Sipp::new("call_bye", engine.sip_udp).pause(ms(200)).run();
    run.assert_success();
    assert!(engine.is_running(), "the engine died after the call");
    engine.wait_event("ended", secs(5), |_| true);
    assert!(
        !engine.stderr().contains("panicked"),
        "a task panicked:\n{}",
        engine.diagnostics()
    );
}

#[test]
fn bad_rtp_is_counted_and_dropped_while_the_call_goes_on() {
    use ivr_tests::codec::G711;
    use ivr_tests::{Offer, RtpPeer};

    let engine = Engine::start(EngineOptions {
        prompt_frames: 100,
        ..EngineOptions::default()
    });
    let mut peer = RtpPeer::bind();
    let sipp = Sipp::new("call_bye", engine.sip_udp)
        .offer(&Offer::new(peer.port()))
        .pause(ms(3000))
        .spawn();
    let engine_rtp = peer.engine_addr(secs(5));
    let tone: Vec<i16> = (0..160 * 10)
        .map(|i| ((i % 20) as i16 - 10) * 500)
        .collect();
    // The caller's first packets latch the engine to this socket.
    assert_eq!(peer.send_audio(engine_rtp, G711::Pcmu, &tone), 10);
    // An injector elsewhere on the host: valid RTP from a foreign address.
    let intruder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut forged = vec![0x80, 0x00, 0x12, 0x34, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
    forged.extend([0xffu8; 160]);
    for _ in 0..5 {
        intruder.send_to(&forged, engine_rtp).unwrap();
    }
    // From the caller's own address: truncated headers, a wrong version, and a payload type
    // nobody negotiated (G.729).
    for bad in [
        &[0x80u8, 0x00, 0x01][..],
        &[0x80, 0x00, 0x00, 0x01, 0, 0, 0],
        &[0x40; 172],
    ] {
        peer.send_raw(engine_rtp, bad);
    }
    for _ in 0..4 {
        peer.send(engine_rtp, 18, false, &[0u8; 20], 160);
    }
    // The call goes on: more good audio is still counted.
    assert_eq!(peer.send_audio(engine_rtp, G711::Pcmu, &tone), 10);
    sipp.wait().assert_success();

    let ended = engine.wait_event("ended", secs(10), |_| true);
    let count = |k: &str| {
        ended
            .u64(k)
            .unwrap_or_else(|| panic!("{k} missing: {}", engine.events_text()))
    };
    assert_eq!(count("dropped_foreign"), 5, "{}", engine.events_text());
    assert_eq!(count("dropped_malformed"), 3, "{}", engine.events_text());
    assert_eq!(count("dropped_unknown_pt"), 4, "{}", engine.events_text());
    assert_eq!(count("rtp_rx"), 20, "only the caller's good audio counts");
    // And the prompt still reached the caller, and nowhere else.
    let got = peer.wait_quiet(ms(300), secs(5));
    assert!(got.iter().all(|r| r.from == engine_rtp));
    assert_eq!(got.len(), 100, "the whole prompt, once");
    assert!(!engine.stderr().contains("panicked"));
}

#[test]
fn an_invite_flood_from_one_source_gets_503_while_other_sources_get_through() {
    let engine = Engine::start(EngineOptions {
        invite_rate: Some(5),
        ..EngineOptions::default()
    });
    let flood = RawSip::bind("127.0.0.1");
    for i in 0..40 {
        let text = invite_text(
            flood.local_addr(),
            engine.sip_udp,
            &format!("flood-{i}"),
            40_000 + 2 * i,
        );
        flood.send(engine.sip_udp, text.as_bytes());
    }
    let replies = flood.drain(secs(2));
    let finals = |status: u16| {
        replies
            .iter()
            .filter(|m| m.status() == Some(status))
            .map(|m| m.header("Call-ID").unwrap_or_default().to_string())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    let (ok, busy) = (finals(200), finals(503));
    assert!(
        (5..=6).contains(&ok),
        "{ok} calls answered from the flooding source (limit 5/s)"
    );
    assert_eq!(
        ok + busy,
        40,
        "every INVITE gets an answer: {ok} answered, {busy} refused"
    );
    assert!(replies
        .iter()
        .filter(|m| m.status() == Some(503))
        .all(|m| m.header("Retry-After").is_some()));
    // Another source is not punished for the flood.
    let other = RawSip::bind("127.0.0.2");
    let text = invite_text(other.local_addr(), engine.sip_udp, "other-source", 41_000);
    other.send(engine.sip_udp, text.as_bytes());
    let got = other.until_final(secs(5));
    assert_eq!(got.last().and_then(|m| m.status()), Some(200));
}
