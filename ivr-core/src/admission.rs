//! Who may place a call: trunk allow-lists, digest authentication and a per-source INVITE rate
//! limit, checked before anything else looks at the call.
//!
//! A SIP scanner on the public internet must never reach a dial plan: an INVITE from a source
//! outside every trunk's networks gets `403`, one from a digest trunk without valid credentials
//! gets `401` with a fresh nonce, and a source sending INVITEs faster than `limits.invite_rate`
//! gets `503` until its bucket refills.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ivr_media::sip::{auth, Request};

use crate::config::{LimitsConfig, TrunkConfig};

/// What to do with an INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accept on the trunk with this index.
    Accept {
        /// Index into the configured trunks.
        trunk: usize,
    },
    /// Answer with this final response.
    Reject {
        /// Status code.
        status: u16,
        /// Short reason, for the event log.
        reason: &'static str,
        /// Extra headers (e.g. `WWW-Authenticate`, `Retry-After`).
        headers: Vec<(&'static str, String)>,
    },
}

/// How long an issued nonce stays valid.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Bound on remembered nonces and rate buckets, so a flood cannot grow memory without limit.
const MAX_ENTRIES: usize = 16_384;

/// The admission policy and its small amount of state.
pub struct Admission {
    trunks: Vec<TrunkConfig>,
    default_realm: String,
    rate: f64,
    buckets: HashMap<IpAddr, Bucket>,
    nonces: HashMap<String, Instant>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Admission {
    /// A policy for these trunks and limits; `default_realm` is used for trunks without one.
    pub fn new(
        trunks: Vec<TrunkConfig>,
        limits: &LimitsConfig,
        default_realm: String,
    ) -> Admission {
        Admission {
            trunks,
            default_realm,
            rate: f64::from(limits.invite_rate),
            buckets: HashMap::new(),
            nonces: HashMap::new(),
        }
    }

    /// The configured trunk with this index.
    pub fn trunk(&self, index: usize) -> Option<&TrunkConfig> {
        self.trunks.get(index)
    }

    /// Decides on an INVITE from `source` (new dialogs only; re-INVITEs are not checked).
    pub fn check(&mut self, now: Instant, source: IpAddr, invite: &Request) -> Verdict {
        if !self.take_token(now, source) {
            return Verdict::Reject {
                status: 503,
                reason: "rate limited",
                headers: vec![("Retry-After", "5".into())],
            };
        }
        let mut challenge_realm = None;
        for (i, trunk) in self.trunks.iter().enumerate() {
            let from_allowed = trunk.allow.iter().any(|c| c.contains(source));
            if !trunk.allow.is_empty() && !from_allowed {
                continue;
            }
            let (Some(user), Some(password)) = (&trunk.username, &trunk.password) else {
                return Verdict::Accept { trunk: i };
            };
            let realm = trunk.realm.as_deref().unwrap_or(&self.default_realm);
            if let Some(header) = invite.headers.get("Authorization") {
                let nonce_ok = param(header, "nonce")
                    .and_then(|n| self.nonces.get(n))
                    .is_some_and(|issued| now.duration_since(*issued) < NONCE_LIFETIME);
                if nonce_ok && auth::verify(header, &invite.method, realm, user, password).is_ok() {
                    return Verdict::Accept { trunk: i };
                }
            }
            challenge_realm.get_or_insert_with(|| realm.to_string());
        }
        match challenge_realm {
            Some(realm) => {
                let nonce = self.issue_nonce(now);
                Verdict::Reject {
                    status: 401,
                    reason: "authentication required",
                    headers: vec![("WWW-Authenticate", auth::challenge(&realm, &nonce))],
                }
            }
            None => Verdict::Reject {
                status: 403,
                reason: "source not allowed",
                headers: Vec::new(),
            },
        }
    }

    fn take_token(&mut self, now: Instant, source: IpAddr) -> bool {
        if self.buckets.len() >= MAX_ENTRIES && !self.buckets.contains_key(&source) {
            let rate = self.rate;
            self.buckets
                .retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < rate);
        }
        let rate = self.rate;
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: rate,
            last: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.last).as_secs_f64() * rate).min(rate);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn issue_nonce(&mut self, now: Instant) -> String {
        if self.nonces.len() >= MAX_ENTRIES {
            self.nonces
                .retain(|_, issued| now.duration_since(*issued) < NONCE_LIFETIME);
            if self.nonces.len() >= MAX_ENTRIES {
                self.nonces.clear();
            }
        }
        let nonce = format!("{:032x}", rand::random::<u128>());
        self.nonces.insert(nonce.clone(), now);
        nonce
    }
}

/// The value of `name=` (quoted or not) in a digest header.
fn param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let rest = header.split_once(' ').map_or(header, |(_, r)| r);
    rest.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivr_media::sip::parse::parse_message;
    use ivr_media::sip::Message;

    fn invite(auth_header: Option<&str>) -> Request {
        let mut text = String::from(
            "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n",
        );
        if let Some(h) = auth_header {
            text.push_str(&format!("Authorization: {h}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        match parse_message(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    fn trunk(allow: &[&str], creds: Option<(&str, &str)>) -> TrunkConfig {
        TrunkConfig {
            name: "t".into(),
            allow: allow.iter().map(|a| a.parse().unwrap()).collect(),
            username: creds.map(|c| c.0.into()),
            password: creds.map(|c| c.1.into()),
            realm: Some("ivr".into()),
            outbound: None,
        }
    }

    #[test]
    fn sources_outside_every_trunk_are_forbidden() {
        let mut a = Admission::new(
            vec![trunk(&["127.0.0.2/32"], None)],
            &LimitsConfig::default(),
            "ivr".into(),
        );
        let now = Instant::now();
        assert_eq!(
            a.check(now, "127.0.0.2".parse().unwrap(), &invite(None)),
            Verdict::Accept { trunk: 0 }
        );
        assert!(matches!(
            a.check(now, "127.0.0.1".parse().unwrap(), &invite(None)),
            Verdict::Reject { status: 403, .. }
        ));
    }

    #[test]
    fn digest_trunks_challenge_then_accept_valid_credentials() {
        let mut a = Admission::new(
            vec![trunk(&[], Some(("carrier", "s3cret")))],
            &LimitsConfig::default(),
            "ivr".into(),
        );
        let now = Instant::now();
        let src = "192.0.2.7".parse().unwrap();
        let Verdict::Reject {
            status: 401,
            headers,
            ..
        } = a.check(now, src, &invite(None))
        else {
            panic!("expected a challenge")
        };
        let challenge = auth::Challenge::parse(&headers[0].1).unwrap();
        let creds = auth::Credentials {
            username: "carrier".into(),
            password: "s3cret".into(),
        };
        let good = auth::authorization(
            &challenge,
            &creds,
            &ivr_media::sip::Method::Invite,
            "sip:100@127.0.0.1",
            "abc",
            1,
        );
        assert_eq!(
            a.check(now, src, &invite(Some(&good))),
            Verdict::Accept { trunk: 0 }
        );
        let wrong = auth::Credentials {
            username: "carrier".into(),
            password: "guess".into(),
        };
        let bad = auth::authorization(
            &challenge,
            &wrong,
            &ivr_media::sip::Method::Invite,
            "sip:100@127.0.0.1",
            "abc",
            1,
        );
        assert!(matches!(
            a.check(now, src, &invite(Some(&bad))),
            Verdict::Reject { status: 401, .. }
        ));
    }

    #[test]
    fn a_flood_from_one_source_is_limited_and_others_pass() {
        let limits = LimitsConfig {
            invite_rate: 10,
            ..LimitsConfig::default()
        };
        let mut a = Admission::new(vec![trunk(&["0.0.0.0/0"], None)], &limits, "ivr".into());
        let now = Instant::now();
        let flood: IpAddr = "198.51.100.1".parse().unwrap();
        let accepted = (0..50)
            .filter(|_| matches!(a.check(now, flood, &invite(None)), Verdict::Accept { .. }))
            .count();
        assert_eq!(accepted, 10);
        assert!(matches!(
            a.check(now, "198.51.100.2".parse().unwrap(), &invite(None)),
            Verdict::Accept { .. }
        ));
        let later = now + Duration::from_millis(500);
        let refilled = (0..50)
            .filter(|_| matches!(a.check(later, flood, &invite(None)), Verdict::Accept { .. }))
            .count();
        assert_eq!(refilled, 5);
    }
}
