//! Property tests: generated URIs, typed headers and whole messages survive
//! encode → parse unchanged, and the parsers never panic on arbitrary input.

use bytes::Bytes;
use proptest::prelude::*;

use super::framing::frame;
use super::headers::{CSeq, NameAddr, Via};
use super::message::{canonical_name, Headers, Message, Method, Request, Response};
use super::parse::{parse_datagram, parse_message};
use super::uri::Uri;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,10}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,5}){0,2}",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        "[0-9a-f]{1,4}(:[0-9a-f]{1,4}){0,3}::[0-9a-f]{0,4}",
    ]
}

fn param_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9.:_+-]{1,8}"
}

fn params() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    prop::collection::vec((token(), prop::option::of(param_value())), 0..3)
}

fn uri() -> impl Strategy<Value = Uri> {
    let sip = (
        prop_oneof![Just("sip"), Just("sips")],
        // No '?' in the user: see `Uri::parse` on how the user part ends.
        prop::option::of("[a-zA-Z0-9+][a-zA-Z0-9_.!~*'()&=+$,;:/%-]{0,10}"),
        host(),
        prop::option::of(any::<u16>()),
        params(),
        prop::collection::vec((token(), "[a-zA-Z0-9%._-]{0,8}"), 0..2),
    )
        .prop_map(|(scheme, user, host, port, params, headers)| Uri {
            scheme: scheme.to_string(),
            user,
            host,
            port,
            params,
            headers,
        });
    let tel = ("\\+?[0-9][0-9-]{0,12}", params()).prop_map(|(number, params)| Uri {
        scheme: "tel".into(),
        user: None,
        host: number,
        port: None,
        params,
        headers: Vec::new(),
    });
    prop_oneof![4 => sip, 1 => tel]
}

fn via() -> impl Strategy<Value = Via> {
    (
        prop_oneof![Just("UDP"), Just("TCP"), Just("TLS"), Just("WS")],
        host(),
        prop::option::of(any::<u16>()),
        "z9hG4bK[a-zA-Z0-9.-]{1,12}",
        params(),
    )
        .prop_map(|(transport, host, port, branch, more)| {
            let mut v = Via::new(transport, &host, port, &branch);
            v.params.extend(more);
            v
        })
}

fn name_addr() -> impl Strategy<Value = NameAddr> {
    (prop::option::of("\\PC{0,12}"), uri(), params()).prop_map(|(display, uri, params)| NameAddr {
        display,
        uri,
        params,
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Cancel),
        Just(Method::Options),
        Just(Method::Info),
        Just(Method::Register),
        "[A-Z][A-Z-]{1,9}".prop_map(|m| Method::from_token(&m)),
    ]
}

/// Extra header lines that do not collide with the ones the parser checks.
fn extra_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let line = (token(), "\\PC{0,24}").prop_filter_map("reserved name", |(name, value)| {
        let reserved = [
            "Via",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Max-Forwards",
            "Content-Length",
        ];
        match canonical_name(&name) {
            Some(c) if reserved.contains(&c) => None,
            _ => Some((name, value.trim().to_string())),
        }
    });
    prop::collection::vec(line, 0..6)
}

#[derive(Debug, Clone)]
struct Core {
    vias: Vec<Via>,
    from: NameAddr,
    to: NameAddr,
    call_id: String,
    cseq: CSeq,
}

fn core(method: Method) -> impl Strategy<Value = Core> {
    (
        prop::collection::vec(via(), 1..4),
        name_addr(),
        name_addr(),
        "[a-zA-Z0-9.-]{1,16}(@[a-z0-9.]{1,10})?",
        any::<u32>(),
    )
        .prop_map(move |(vias, from, to, call_id, seq)| Core {
            vias,
            from,
            to,
            call_id,
            cseq: CSeq {
                seq,
                method: method.clone(),
            },
        })
}

fn headers(core: &Core, extra: &[(String, String)], body_len: usize) -> Headers {
    let mut h = Headers::new();
    for v in &core.vias {
        h.push("Via", v.to_string());
    }
    h.push("From", core.from.to_string());
    h.push("To", core.to.to_string());
    h.push("Call-ID", core.call_id.clone());
    h.push("CSeq", core.cseq.to_string());
    for (name, value) in extra {
        h.push(name, value.clone());
    }
    h.push("Content-Length", body_len.to_string());
    h
}

fn request() -> impl Strategy<Value = (Request, Core)> {
    method().prop_flat_map(|m| {
        (
            uri(),
            core(m.clone()),
            extra_headers(),
            prop::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(move |(uri, core, extra, body)| {
                let headers = headers(&core, &extra, body.len());
                (
                    Request {
                        method: m.clone(),
                        uri,
                        headers,
                        body: Bytes::from(body),
                    },
                    core,
                )
            })
    })
}

fn response() -> impl Strategy<Value = (Response, Core)> {
    (
        100u16..700,
        "\\PC{0,16}",
        method().prop_flat_map(core),
        extra_headers(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(status, reason, core, extra, body)| {
            let headers = headers(&core, &extra, body.len());
            let reason = reason.trim().to_string();
            (
                Response {
                    status,
                    reason,
                    headers,
                    body: Bytes::from(body),
                },
                core,
            )
        })
}

fn check_typed(m: &Message, core: &Core) -> Result<(), TestCaseError> {
    prop_assert_eq!(m.top_via(), Ok(core.vias[0].clone()));
    prop_assert_eq!(m.from(), Ok(core.from.clone()));
    prop_assert_eq!(m.to(), Ok(core.to.clone()));
    prop_assert_eq!(m.cseq(), Ok(core.cseq.clone()));
    prop_assert_eq!(m.call_id(), Some(core.call_id.as_str()));
    let vias: Vec<_> = m.headers().values("Via").map(Via::parse).collect();
    let expected: Vec<_> = core.vias.iter().cloned().map(Ok).collect();
    prop_assert_eq!(vias, expected);
    Ok(())
}

proptest! {
    #[test]
    fn uri_display_parse_round_trip(u in uri()) {
        prop_assert_eq!(Uri::parse(&u.to_string()), Ok(u));
    }

    #[test]
    fn via_display_parse_round_trip(v in via()) {
        prop_assert_eq!(Via::parse(&v.to_string()), Ok(v));
    }

    #[test]
    fn name_addr_display_parse_round_trip(n in name_addr()) {
        prop_assert_eq!(NameAddr::parse(&n.to_string()), Ok(n));
    }

    #[test]
    fn request_encode_parse_round_trip((req, core) in request()) {
        let bytes = req.encode();
        prop_assert_eq!(frame(&bytes), Ok(Some(bytes.len())));
        let back = parse_message(&bytes);
        prop_assert_eq!(back.as_ref(), Ok(&Message::Request(req)));
        check_typed(&back.unwrap(), &core)?;
    }

    #[test]
    fn response_encode_parse_round_trip((resp, core) in response()) {
        let bytes = resp.encode();
        prop_assert_eq!(frame(&bytes), Ok(Some(bytes.len())));
        let back = parse_message(&bytes);
        prop_assert_eq!(back.as_ref(), Ok(&Message::Response(resp)));
        check_typed(&back.unwrap(), &core)?;
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_datagram(&data);
        let _ = frame(&data);
    }

    #[test]
    fn header_parsers_never_panic_on_arbitrary_text(s in "\\PC{0,64}") {
        let _ = Uri::parse(&s);
        let _ = Via::parse(&s);
        let _ = NameAddr::parse(&s);
        let _ = CSeq::parse(&s);
        let _ = super::auth::Challenge::parse(&s);
        let _ = super::auth::DigestResponse::parse(&s);
    }
}
