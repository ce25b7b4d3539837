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
