//! SIP messages as real user agents and proxies send them (SIPp, baresip, Asterisk,
//! Kamailio, the RFC 4475 torture tests, RFC 5118 IPv6 examples), parsed and re-encoded.

use ivr_media::sip::headers::{content_length, max_forwards, name_addrs};
use ivr_media::sip::{parse_datagram, parse_message, Message, Method, Parsed, Request, Response};

/// Joins lines with CRLF, ends the head and appends `body` with a matching Content-Length.
fn msg(head: &[&str], body: &str) -> Vec<u8> {
    let mut out = head.join("\r\n");
    out.push_str(&format!("\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

fn request(data: &[u8]) -> Request {
    match parse_message(data) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn response(data: &[u8]) -> Response {
    match parse_message(data) {
        Ok(Message::Response(r)) => r,
        other => panic!("{other:?}"),
    }
}

/// Encoding then parsing again gives the same message.
fn assert_reencodes(m: &Message) {
    let again = parse_message(&m.encode()).unwrap();
    assert_eq!(&again, m);
}

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.1.1\r\ns=-\r\n\
    c=IN IP4 127.0.1.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

#[test]
fn sipp_uac_invite() {
    let data = msg(
        &[
            "INVITE sip:service@127.0.0.1:5060 SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-31854-1-0",
            "From: sipp <sip:sipp@127.0.1.1:5061>;tag=31854SIPpTag001",
            "To: service <sip:service@127.0.0.1:5060>",
            "Call-ID: 1-31854@127.0.1.1",
            "CSeq: 1 INVITE",
            "Contact: sip:sipp@127.0.1.1:5061",
            "Max-Forwards: 70",
            "Subject: Performance Test",
            "Content-Type: application/sdp",
        ],
        SDP,
    );
    let r = request(&data);
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.uri.host_port(), "127.0.0.1:5060");
    assert_eq!(r.top_via().unwrap().branch(), Some("z9hG4bK-31854-1-0"));
    assert_eq!(r.from().unwrap().tag(), Some("31854SIPpTag001"));
    assert_eq!(r.from().unwrap().display.as_deref(), Some("sipp"));
    assert_eq!(r.to().unwrap().tag(), None);
    let contact = name_addrs(&r.headers, "Contact").unwrap();
    assert_eq!(contact[0].uri.to_string(), "sip:sipp@127.0.1.1:5061");
    assert_eq!(r.cseq().unwrap().seq, 1);
    assert_eq!(max_forwards(&r.headers), Ok(Some(70)));
    assert_eq!(&r.body[..], SDP.as_bytes());
    assert_reencodes(&Message::Request(r));
}

#[test]
fn baresip_invite_with_rport() {
    let data = msg(
        &[
            "INVITE sip:1000@192.168.1.10 SIP/2.0",
            "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK8e0a5b6d2e8f4b1c;rport",
            "Contact: <sip:alice-0x55d0c8a0@192.168.1.20:5060;transport=udp>",
            "Max-Forwards: 70",
            "To: <sip:1000@192.168.1.10>",
            "From: \"Alice\" <sip:alice@192.168.1.10>;tag=a2b8f0c1d3e4f5a6",
            "Call-ID: 5c3b0e9f7a1d2c4e",
            "CSeq: 12345 INVITE",
            "User-Agent: baresip v3.10.1 (x86_64/Linux)",
            "Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER",
            "Supported: replaces,norefersub",
            "Content-Type: application/sdp",
        ],
        SDP,
    );
    let r = request(&data);
    let via = r.top_via().unwrap();
    assert_eq!(via.rport(), Some(None));
    assert_eq!(r.from().unwrap().display.as_deref(), Some("Alice"));
    let contact = name_addrs(&r.headers, "Contact").unwrap();
    assert_eq!(contact[0].uri.transport().as_deref(), Some("udp"));
    assert_eq!(r.headers.values("Allow").count(), 11);
    assert_reencodes(&Message::Request(r));
}

#[test]
fn asterisk_pjsip_200_ok_with_session_timer() {
    let data = msg(
        &[
            "SIP/2.0 200 OK",
            "Via: SIP/2.0/UDP 192.168.1.20:5060;rport=5060;received=192.168.1.20;branch=z9hG4bK8e0a5b6d2e8f4b1c",
            "Call-ID: 5c3b0e9f7a1d2c4e",
            "From: \"Alice\" <sip:alice@192.168.1.10>;tag=a2b8f0c1d3e4f5a6",
            "To: <sip:1000@192.168.1.10>;tag=c9d0e8f1-2a3b-4c5d-8e9f-0a1b2c3d4e5f",
            "CSeq: 12345 INVITE",
            "Server: Asterisk PBX 20.5.0",
            "Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, INFO, MESSAGE, REFER",
            "Contact: <sip:192.168.1.10:5060>",
            "Supported: 100rel, timer, replaces, norefersub",
            "Session-Expires: 1800;refresher=uac",
            "Require: timer",
            "Content-Type: application/sdp",
        ],
        SDP,
    );
    let r = response(&data);
    assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
    let via = r.top_via().unwrap();
    assert_eq!(via.rport(), Some(Some(5060)));
    assert_eq!(via.received(), Some("192.168.1.20"));
    assert_eq!(
        r.to().unwrap().tag(),
        Some("c9d0e8f1-2a3b-4c5d-8e9f-0a1b2c3d4e5f")
    );
    assert_eq!(r.headers.get("x"), Some("1800;refresher=uac"));
    assert_reencodes(&Message::Response(r));
}

#[test]
fn asterisk_chan_sip_options_keepalive() {
    let data = msg(
        &[
            "OPTIONS sip:192.168.1.30:5060 SIP/2.0",
            "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK2a3b4c5d;rport",
            "Max-Forwards: 70",
            "From: \"asterisk\" <sip:asterisk@192.168.1.10>;tag=as6e9c2a1b",
            "To: <sip:192.168.1.30:5060>",
            "Contact: <sip:asterisk@192.168.1.10:5060>",
            "Call-ID: 3f1e0c2d4b5a69780123456789abcdef@192.168.1.10:5060",
            "CSeq: 102 OPTIONS",
            "User-Agent: Asterisk PBX 13.38.3",
            "Date: Tue, 05 Mar 2024 10:15:42 GMT",
            "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE",
            "Supported: replaces, timer",
        ],
        "",
    );
    let r = request(&data);
    assert_eq!(r.method, Method::Options);
    assert_eq!(r.uri.user, None);
    assert_eq!(content_length(&r.headers), Ok(Some(0)));
    let resp = r.response(200);
    assert_eq!(resp.cseq().unwrap().method, Method::Options);
    assert_reencodes(&Message::Request(r));
}

#[test]
fn kamailio_forwarded_invite_with_record_route_and_two_vias() {
    let data = msg(
        &[
            "INVITE sip:bob@10.0.0.20:5060;transport=udp SIP/2.0",
            "Record-Route: <sip:203.0.113.10;lr=on;ftag=as1234abcd;did=4c1.b2e1>",
            "Via: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bK1d2c.5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b.0",
            "Via: SIP/2.0/UDP 198.51.100.7:5060;received=198.51.100.7;rport=5060;branch=z9hG4bK3f2a1b",
            "Max-Forwards: 69",
            "From: \"+14155550100\" <sip:+14155550100@carrier.example.net;user=phone>;tag=as1234abcd",
            "To: <sip:+14155550123@203.0.113.10;user=phone>",
            "Call-ID: 7b2a5f1e3c4d@198.51.100.7",
            "CSeq: 102 INVITE",
            "Contact: <sip:+14155550100@198.51.100.7:5060>",
            "P-Asserted-Identity: <sip:+14155550100@carrier.example.net;user=phone>",
            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS",
            "Content-Type: application/sdp",
        ],
        SDP,
    );
    let r = request(&data);
    let vias: Vec<_> = r.headers.values("Via").collect();
    assert_eq!(vias.len(), 2);
    assert_eq!(r.top_via().unwrap().host, "203.0.113.10");
    let rr = name_addrs(&r.headers, "Record-Route").unwrap();
    assert_eq!(rr[0].uri.param("lr"), Some(Some("on")));
    assert_eq!(rr[0].uri.param("ftag"), Some(Some("as1234abcd")));
    assert_eq!(r.from().unwrap().uri.param("user"), Some(Some("phone")));
    assert_eq!(r.response(180).headers.values("Via").count(), 2);
    assert_reencodes(&Message::Request(r));
}

/// RFC 4475 §3.1.1.1 "wsinv": compact forms, odd case, folding and whitespace everywhere.
#[test]
fn rfc4475_short_tortuous_invite() {
    let body = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 192.0.2.4\r\n\
        t=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n";
    assert_eq!(body.len(), 150);
    let head = "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n\
TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n\
from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n\
MaX-fOrWaRdS: 0068\r\n\
Call-ID: wsinv.ndaksdj@192.0.2.1\r\n\
Content-Length   : 150\r\n\
cseq: 0009\r\n  INVITE\r\n\
Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\n\
s :\r\n\
NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n\
UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n\
Content-Type: application/sdp\r\n\
Route:\r\n <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n\
v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n \
SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239\r\n\
m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n  \
secondparam ; q = 0.33\r\n\r\n";
    let data = format!("{head}{body}");
    let r = request(data.as_bytes());
    assert_eq!(r.to().unwrap().tag(), Some("1918181833n"));
    let from = r.from().unwrap();
    assert_eq!(from.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(max_forwards(&r.headers), Ok(Some(68)));
    assert_eq!(r.cseq().unwrap().seq, 9);
    assert_eq!(r.headers.get("Subject"), Some(""));
    assert_eq!(
        r.headers.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    let vias: Vec<_> = r.headers.values("Via").collect();
    assert_eq!(vias.len(), 3);
    let last = ivr_media::sip::Via::parse(vias[2]).unwrap();
    assert_eq!(
        (last.transport.as_str(), last.branch()),
        ("UDP", Some("z9hG4bK30239"))
    );
    let contact = &name_addrs(&r.headers, "Contact").unwrap()[0];
    assert_eq!(contact.display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(contact.param("q"), Some(Some("0.33")));
    assert_eq!(contact.param("secondparam"), Some(None));
    assert_eq!(r.body.len(), 150);
    assert_reencodes(&Message::Request(r));
}

/// RFC 5118 §4.1: a REGISTER with IPv6 addresses in the Request-URI, Via and Contact.
#[test]
fn rfc5118_ipv6_register() {
    let data = msg(
        &[
            "REGISTER sip:[2001:db8::10] SIP/2.0",
            "To: sip:user@example.com",
            "From: sip:user@example.com;tag=81x2",
            "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111",
            "Call-ID: SSG9559905523997077@hlau_4100",
            "Max-Forwards: 70",
            "Contact: \"Caller\" <sip:caller@[2001:db8::1]>",
            "CSeq: 98176 REGISTER",
        ],
        "",
    );
    let r = request(&data);
    assert_eq!(r.uri.host, "2001:db8::10");
    assert_eq!(r.top_via().unwrap().sent_by(), "[2001:db8::9:1]");
    assert_eq!(r.from().unwrap().tag(), Some("81x2"));
    assert_eq!(
        name_addrs(&r.headers, "m").unwrap()[0].uri.host_port(),
        "[2001:db8::1]"
    );
    assert_reencodes(&Message::Request(r));
}

#[test]
fn compact_form_bye_with_lf_only_line_endings() {
    let data = "\r\n\r\nBYE sip:alice@192.0.2.1:5060 SIP/2.0\n\
v: SIP/2.0/TCP 192.0.2.2:5060;branch=z9hG4bKnashds7\n\
f: <sip:bob@example.com>;tag=8321234356\n\
t: <sip:alice@example.com>;tag=9fxced76sl\n\
i: 3848276298220188511@atlanta.example.com\n\
CSeq: 231 BYE\n\
l: 0\n\n";
    match parse_datagram(data.as_bytes()) {
        Parsed::Ok(Message::Request(r)) => {
            assert_eq!(r.method, Method::Bye);
            assert_eq!(r.top_via().unwrap().transport, "TCP");
            assert_eq!(r.call_id(), Some("3848276298220188511@atlanta.example.com"));
            let text = String::from_utf8(r.encode()).unwrap();
            assert!(text.contains("\r\nCall-ID: 3848276298220188511@atlanta.example.com\r\n"));
            assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        }
        other => panic!("{other:?}"),
    }
}
