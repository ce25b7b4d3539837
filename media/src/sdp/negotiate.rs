//! Offer/answer (RFC 3264) for G.711 audio with RFC 4733 telephone-events.
//!
//! * [`negotiate`] reads an offer (or the answer to our offer) and picks the first audio
//!   stream we can serve, the caller's preferred common codec, the telephone-event payload
//!   type, where to send RTP and RTCP, and the direction.
//! * [`answer`] builds our answer: one live audio stream, every other `m=` line rejected
//!   with port 0, as RFC 3264 §6 requires.
//! * [`offer`] builds an offer for outbound calls.

use std::net::{IpAddr, SocketAddr};

use super::session::{
    addr_type, Connection, Direction, MediaDescription, Origin, SessionDescription,
};

/// Payload type we offer for telephone-events.
pub const TELEPHONE_EVENT_PT: u8 = 101;
/// Packet time we ask for, in milliseconds.
pub const PTIME_MS: u32 = 20;

/// Codecs the engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl Codec {
    /// The static payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// The codec that payload type `pt` of `media` carries, if one of ours: by `a=rtpmap`
    /// when present, else by the static assignment.
    pub fn of(media: &MediaDescription, pt: u8) -> Option<Codec> {
        match media.rtpmap(pt) {
            Some(map) => {
                let mono = matches!(map.channels, None | Some(1));
                let codec = [Codec::Pcmu, Codec::Pcma]
                    .into_iter()
                    .find(|c| map.encoding.eq_ignore_ascii_case(c.name()))?;
                (map.clock_rate == 8000 && mono).then_some(codec)
            }
            None => match pt {
                0 => Some(Codec::Pcmu),
                8 => Some(Codec::Pcma),
                _ => None,
            },
        }
    }
}

/// What we bring to a negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Our RTP address.
    pub addr: IpAddr,
    /// Our RTP port (RTCP on the next one unless muxed).
    pub port: u16,
    /// Codecs we accept, in our preference order (used when we offer).
    pub codecs: Vec<Codec>,
    /// Whether we take RFC 4733 telephone-events.
    pub telephone_event: bool,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version; bump it for every new offer or answer in the dialog.
    pub session_version: u64,
}

/// The outcome of a negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec both sides use.
    pub codec: Codec,
    /// Its payload type in this session.
    pub payload_type: u8,
    /// The telephone-event payload type, if both sides take them.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP; `None` when the peer disabled it (port 0 or address 0.0.0.0).
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP (RFC 3605 `a=rtcp`, the RTP address under rtcp-mux, else the next
    /// port).
    pub remote_rtcp: Option<SocketAddr>,
    /// The peer's direction, as written in its description.
    pub direction: Direction,
    /// The peer's `a=ptime`, if any.
    pub ptime: Option<u32>,
    /// Index of the chosen `m=` line.
    pub media_index: usize,
    /// The peer offered RTCP multiplexed on the RTP port (RFC 5761); the answer accepts it.
    pub rtcp_mux: bool,
}

/// Why a description cannot be served; the shell answers 488 Not Acceptable Here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// No audio `m=` line with a non-zero port.
    #[error("no active audio stream offered")]
    NoAudio,
    /// Audio is offered only over transports we do not speak (e.g. `RTP/SAVP`).
    #[error("unsupported audio transport {0}")]
    UnsupportedTransport(String),
    /// None of the offered codecs is one of ours.
    #[error("no codec in common")]
    NoCommonCodec,
    /// The audio stream has no connection address at media or session level.
    #[error("no connection address (c=) for the audio stream")]
    MissingConnection,
}

fn plain_rtp(protocol: &str) -> bool {
    protocol.eq_ignore_ascii_case("RTP/AVP") || protocol.eq_ignore_ascii_case("RTP/AVPF")
}

/// Negotiates audio from a peer's description (an offer, or the answer to our offer).
///
/// Picks the first active audio stream over RTP/AVP(F) with a codec we take, and in it the
/// first payload type (the peer's preference) that is one of `local.codecs`.
pub fn negotiate(
    offer: &SessionDescription,
    local: &LocalMedia,
) -> Result<Negotiated, NegotiationError> {
    let audio: Vec<(usize, &MediaDescription)> = offer
        .media
        .iter()
        .enumerate()
        .filter(|(_, m)| m.kind.eq_ignore_ascii_case("audio") && m.port != 0)
        .collect();
    let Some((_, first)) = audio.first() else {
        return Err(NegotiationError::NoAudio);
    };
    let rtp: Vec<_> = audio
        .iter()
        .filter(|(_, m)| plain_rtp(&m.protocol))
        .collect();
    if rtp.is_empty() {
        return Err(NegotiationError::UnsupportedTransport(
            first.protocol.clone(),
        ));
    }
    let (media_index, media, codec, payload_type) = rtp
        .iter()
        .find_map(|&&(i, m)| {
            m.formats.iter().find_map(|&pt| {
                Codec::of(m, pt)
                    .filter(|c| local.codecs.contains(c))
                    .map(|c| (i, m, c, pt))
            })
        })
        .ok_or(NegotiationError::NoCommonCodec)?;

    let telephone_event_pt = local
        .telephone_event
        .then(|| {
            media.formats.iter().copied().find(|&pt| {
                media.rtpmap(pt).is_some_and(|m| {
                    m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == 8000
                })
            })
        })
        .flatten();

    let connection = offer
        .media_connection(media)
        .ok_or(NegotiationError::MissingConnection)?;
    let remote_rtp =
        (!connection.addr.is_unspecified()).then(|| SocketAddr::new(connection.addr, media.port));
    let rtcp_mux = media.rtcp_mux();
    let remote_rtcp = remote_rtp.and_then(|rtp| {
        if rtcp_mux {
            return Some(rtp);
        }
        match media.rtcp() {
            Some((port, addr)) => Some(SocketAddr::new(addr.unwrap_or(rtp.ip()), port)),
            None => rtp
                .port()
                .checked_add(1)
                .map(|p| SocketAddr::new(rtp.ip(), p)),
        }
    });

    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event_pt,
        remote_rtp,
        remote_rtcp,
        direction: offer.media_direction(media),
        ptime: media.ptime(),
        media_index,
        rtcp_mux,
    })
}

fn our_session(local: &LocalMedia) -> SessionDescription {
    SessionDescription {
        origin: Origin {
            username: "-".to_owned(),
            session_id: local.session_id,
            session_version: local.session_version,
            address_type: addr_type(local.addr).to_owned(),
            address: local.addr.to_string(),
        },
        session_name: "-".to_owned(),
        info: None,
        connection: Some(Connection { addr: local.addr }),
        bandwidths: Vec::new(),
        timing: vec!["0 0".to_owned()],
        attributes: Vec::new(),
        media: Vec::new(),
    }
}

fn add_telephone_event(media: &mut MediaDescription, pt: u8) {
    media.formats.push(pt);
    media.push_attribute("rtpmap", Some(format!("{pt} telephone-event/8000")));
    media.push_attribute("fmtp", Some(format!("{pt} 0-16")));
}

/// Our answer to `offer` after [`negotiate`]: the chosen stream answered with one codec (plus
/// telephone-event), ptime 20, the reverse of the offered direction; every other stream
/// rejected with port 0.
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
    negotiated: &Negotiated,
) -> SessionDescription {
    let mut sdp = our_session(local);
    for (i, offered) in offer.media.iter().enumerate() {
        if i != negotiated.media_index {
            let mut rejected =
                MediaDescription::new(&offered.kind, 0, &offered.protocol, offered.formats.clone());
            rejected.other_formats = offered.other_formats.clone();
            if rejected.formats.is_empty() && rejected.other_formats.is_empty() {
                rejected.other_formats.push("0".to_owned());
            }
            sdp.media.push(rejected);
            continue;
        }
        let pt = negotiated.payload_type;
        let mut m = MediaDescription::new("audio", local.port, &offered.protocol, vec![pt]);
        m.push_attribute(
            "rtpmap",
            Some(format!(
                "{pt} {}/{}",
                negotiated.codec.name(),
                negotiated.codec.clock_rate()
            )),
        );
        if let Some(te) = negotiated.telephone_event_pt {
            add_telephone_event(&mut m, te);
        }
        m.push_attribute("ptime", Some(PTIME_MS.to_string()));
        if negotiated.rtcp_mux {
            m.push_attribute("rtcp-mux", None);
        }
        m.push_attribute(negotiated.direction.reverse().as_str(), None);
        sdp.media.push(m);
    }
    sdp
}

/// An offer for an outbound call: our codecs in preference order, telephone-event on
/// payload type 101, ptime 20, sendrecv.
pub fn offer(local: &LocalMedia) -> SessionDescription {
    let mut sdp = our_session(local);
    let formats = local.codecs.iter().map(|c| c.payload_type()).collect();
    let mut m = MediaDescription::new("audio", local.port, "RTP/AVP", formats);
    for codec in &local.codecs {
        m.push_attribute(
            "rtpmap",
            Some(format!(
                "{} {}/{}",
                codec.payload_type(),
                codec.name(),
                codec.clock_rate()
            )),
        );
    }
    if local.telephone_event {
        add_telephone_event(&mut m, TELEPHONE_EVENT_PT);
    }
    m.push_attribute("ptime", Some(PTIME_MS.to_string()));
    m.push_attribute(Direction::SendRecv.as_str(), None);
    sdp.media.push(m);
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn local() -> LocalMedia {
        LocalMedia {
            addr: IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)),
            port: 20000,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            session_id: 42,
            session_version: 1,
        }
    }

    fn parse(text: &str) -> SessionDescription {
        SessionDescription::parse(text).unwrap()
    }

    fn sock(ip: [u8; 4], port: u16) -> Option<SocketAddr> {
        Some(SocketAddr::new(IpAddr::from(ip), port))
    }

    const SIPP_UAC: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    const ASTERISK: &str = "v=0\r\no=- 1179376395 1179376395 IN IP4 10.0.0.5\r\ns=Asterisk\r\n\
        c=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 17832 RTP/AVP 8 0 3 101\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:3 GSM/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
        a=maxptime:150\r\na=sendrecv\r\n";

    const BARESIP: &str = "v=0\r\no=- 1876283937 3123412498 IN IP4 192.168.1.10\r\ns=-\r\n\
        c=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 10062 RTP/AVP 96 97 9 0 8 100\r\n\
        a=rtpmap:96 opus/48000/2\r\na=rtpmap:97 L16/16000\r\na=rtpmap:9 G722/8000\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:100 telephone-event/8000\r\n\
        a=fmtp:100 0-15\r\na=rtcp-mux\r\na=sendrecv\r\n\
        m=video 10064 RTP/AVP 102\r\na=rtpmap:102 H264/90000\r\n";

    const CARRIER: &str =
        "v=0\r\no=Sonus_UAC 20304 11102 IN IP4 203.0.113.9\r\ns=SIP Media Capabilities\r\n\
        c=IN IP4 203.0.113.9\r\nt=0 0\r\nm=audio 31000 RTP/AVP 0 8 18 101\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n\
        a=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
        a=sendrecv\r\na=maxptime:20\r\n";

    #[test]
    fn sipp_default_offer_gets_pcmu_without_telephone_event() {
        let n = negotiate(&parse(SIPP_UAC), &local()).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt),
            (Codec::Pcmu, 0, None)
        );
        assert_eq!(n.remote_rtp, sock([127, 0, 0, 1], 6000));
        assert_eq!(n.remote_rtcp, sock([127, 0, 0, 1], 6001));
        assert_eq!(n.direction, Direction::SendRecv);
    }

    #[test]
    fn callers_preference_wins_over_ours() {
        let n = negotiate(&parse(ASTERISK), &local()).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
        assert_eq!(n.telephone_event_pt, Some(101));
        assert_eq!(n.ptime, Some(20));
    }

    #[test]
    fn baresip_offer_skips_unknown_codecs_and_keeps_its_event_pt_and_mux() {
        let offer = parse(BARESIP);
        let n = negotiate(&offer, &local()).unwrap();
        assert_eq!((n.codec, n.telephone_event_pt), (Codec::Pcmu, Some(100)));
        assert!(n.rtcp_mux);
        assert_eq!(n.remote_rtcp, n.remote_rtp);
        let a = answer(&offer, &local(), &n);
        let text = a.to_string();
        assert!(text.contains("m=audio 20000 RTP/AVP 0 100\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:100 telephone-event/8000\r\na=fmtp:100 0-16\r\n"));
        assert!(text.contains("a=rtcp-mux\r\n"));
        assert!(text.contains("m=video 0 RTP/AVP 102\r\n"));
        assert_eq!(a.media.len(), 2);
    }

    #[test]
    fn carrier_offer_answers_pcmu_with_events_0_to_16() {
        let offer = parse(CARRIER);
        let n = negotiate(&offer, &local()).unwrap();
        assert_eq!((n.codec, n.telephone_event_pt), (Codec::Pcmu, Some(101)));
        let text = answer(&offer, &local(), &n).to_string();
        assert_eq!(
            text,
            "v=0\r\no=- 42 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
             m=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
             a=sendrecv\r\n"
        );
    }

    #[test]
    fn only_pcma_locally_picks_pcma_from_a_pcmu_first_offer() {
        let mut l = local();
        l.codecs = vec![Codec::Pcma];
        let n = negotiate(&parse(CARRIER), &l).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
    }

    #[test]
    fn no_common_codec_is_an_error() {
        let offer = CARRIER.replace("RTP/AVP 0 8 18 101", "RTP/AVP 18 101");
        assert_eq!(
            negotiate(&parse(&offer), &local()),
            Err(NegotiationError::NoCommonCodec)
        );
    }

    #[test]
    fn video_only_or_rejected_audio_is_no_audio() {
        let video = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\n\
                     m=video 5000 RTP/AVP 96\r\nm=audio 0 RTP/AVP 0\r\n";
        assert_eq!(
            negotiate(&parse(video), &local()),
            Err(NegotiationError::NoAudio)
        );
    }

    #[test]
    fn srtp_only_is_an_unsupported_transport() {
        let offer = SIPP_UAC.replace("RTP/AVP", "RTP/SAVP");
        assert_eq!(
            negotiate(&parse(&offer), &local()),
            Err(NegotiationError::UnsupportedTransport("RTP/SAVP".into()))
        );
    }

    #[test]
    fn missing_connection_is_an_error() {
        let offer = SIPP_UAC.replace("c=IN IP4 127.0.0.1\r\n", "");
        assert_eq!(
            negotiate(&parse(&offer), &local()),
            Err(NegotiationError::MissingConnection)
        );
    }

    #[test]
    fn old_style_hold_has_no_remote_address() {
        let offer = ASTERISK.replace("c=IN IP4 10.0.0.5", "c=IN IP4 0.0.0.0");
        let n = negotiate(&parse(&offer), &local()).unwrap();
        assert_eq!((n.remote_rtp, n.remote_rtcp), (None, None));
    }

    #[test]
    fn sendonly_at_session_or_media_level_is_answered_recvonly() {
        let session = SIPP_UAC.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
        let media = format!("{SIPP_UAC}a=sendonly\r\n");
        for text in [session, media] {
            let offer = parse(&text);
            let n = negotiate(&offer, &local()).unwrap();
            assert_eq!(n.direction, Direction::SendOnly);
            let a = answer(&offer, &local(), &n);
            assert_eq!(a.media[0].direction(), Some(Direction::RecvOnly));
        }
        let inactive = format!("{SIPP_UAC}a=inactive\r\n");
        let offer = parse(&inactive);
        let n = negotiate(&offer, &local()).unwrap();
        assert_eq!(
            answer(&offer, &local(), &n).media[0].direction(),
            Some(Direction::Inactive)
        );
    }

    #[test]
    fn ipv6_offer_and_rtcp_attribute() {
        let offer = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
                     m=audio 7078 RTP/AVP 8\r\na=rtcp:9000\r\n";
        let n = negotiate(&parse(offer), &local()).unwrap();
        let ip = IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(n.remote_rtp, Some(SocketAddr::new(ip, 7078)));
        assert_eq!(n.remote_rtcp, Some(SocketAddr::new(ip, 9000)));
    }

    #[test]
    fn dynamic_payload_type_for_pcmu_is_honoured() {
        let offer = SIPP_UAC
            .replace("RTP/AVP 0", "RTP/AVP 110")
            .replace("rtpmap:0 PCMU", "rtpmap:110 pcmu");
        let n = negotiate(&parse(&offer), &local()).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 110));
    }

    #[test]
    fn our_offer_negotiates_with_ourselves_both_ways() {
        let caller = local();
        let mut callee = local();
        callee.codecs = vec![Codec::Pcma, Codec::Pcmu];
        callee.addr = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let o = parse(&offer(&caller).to_string());
        assert_eq!(o.media[0].formats, vec![0, 8, 101]);
        let n = negotiate(&o, &callee).unwrap();
        assert_eq!((n.codec, n.telephone_event_pt), (Codec::Pcmu, Some(101)));
        let a = parse(&answer(&o, &callee, &n).to_string());
        let back = negotiate(&a, &caller).unwrap();
        assert_eq!(
            (back.codec, back.telephone_event_pt),
            (Codec::Pcmu, Some(101))
        );
        assert_eq!(back.remote_rtp, Some(SocketAddr::new(callee.addr, 20000)));
        assert_eq!(back.direction, Direction::SendRecv);
    }
}
