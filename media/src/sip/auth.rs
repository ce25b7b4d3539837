//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616) with MD5 and
//! MD5-sess, `qop=auth` or no qop.
//!
//! Client side: parse the `WWW-Authenticate` / `Proxy-Authenticate` value into a [`Challenge`],
//! then build the `Authorization` / `Proxy-Authorization` value with [`authorization`]. Server
//! side: send [`challenge`] in a 401, and check the answer with [`verify`] (the caller keeps
//! track of which nonces it issued and how fresh they are; [`DigestResponse::parse`] exposes
//! the nonce for that).
//!
//! ```
//! use ivr_media::sip::auth::{authorization, challenge, verify, Challenge, Credentials};
//! use ivr_media::sip::Method;
//!
//! let www = challenge("ivr.example.com", "5f1d2e3c");
//! let ch = Challenge::parse(&www).unwrap();
//! let creds = Credentials { username: "1001".into(), password: "s3cret".into() };
//! let auth = authorization(&ch, &creds, &Method::Register, "sip:ivr.example.com", "0a4f113b", 1);
//! assert_eq!(verify(&auth, &Method::Register, "ivr.example.com", "1001", "s3cret"), Ok(()));
//! assert!(verify(&auth, &Method::Register, "ivr.example.com", "1001", "wrong").is_err());
//! ```

use std::fmt;

use md5::{Digest, Md5};

use super::message::Method;

/// Why a challenge or a digest response is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header uses another scheme than `Digest` (e.g. `Basic`).
    #[error("not a Digest header")]
    NotDigest,
    /// The parameter list does not parse (unterminated quote, missing `=`, ...).
    #[error("malformed Digest parameters")]
    Syntax,
    /// A required parameter is absent.
    #[error("Digest parameter {0} is missing")]
    MissingParam(&'static str),
    /// The algorithm is neither MD5 nor MD5-sess.
    #[error("unsupported Digest algorithm")]
    UnsupportedAlgorithm,
    /// The qop is neither `auth` nor absent.
    #[error("unsupported Digest qop")]
    UnsupportedQop,
    /// The response names another user.
    #[error("unknown user")]
    WrongUser,
    /// The response names another realm.
    #[error("wrong realm")]
    WrongRealm,
    /// The response hash does not match: wrong password, or a tampered message.
    #[error("Digest response does not match")]
    Mismatch,
}

/// A `WWW-Authenticate` or `Proxy-Authenticate` Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space, shown to users and part of the hash.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value to echo back.
    pub opaque: Option<String>,
    /// Hash algorithm as sent (`MD5` when absent).
    pub algorithm: String,
    /// Offered qop values as sent (`auth`, `auth,auth-int`), `None` for RFC 2069 style.
    pub qop: Option<String>,
    /// Whether the previous response failed only because its nonce was stale (retry without
    /// asking the user again).
    pub stale: bool,
}

impl Challenge {
    /// Parses `Digest realm="...", nonce="...", ...`.
    pub fn parse(value: &str) -> Result<Challenge, AuthError> {
        let params = parse_digest(value)?;
        let get = |name: &str| find(&params, name);
        Ok(Challenge {
            realm: get("realm")
                .ok_or(AuthError::MissingParam("realm"))?
                .to_string(),
            nonce: get("nonce")
                .ok_or(AuthError::MissingParam("nonce"))?
                .to_string(),
            opaque: get("opaque").map(str::to_string),
            algorithm: get("algorithm").unwrap_or("MD5").to_string(),
            qop: get("qop").map(str::to_string),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Whether [`authorization`] can answer this challenge (MD5 or MD5-sess).
    pub fn is_supported(&self) -> bool {
        algorithm(&self.algorithm).is_some()
    }

    /// Whether the qop list offers `auth`.
    fn offers_auth(&self) -> bool {
        self.qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|v| v.trim().eq_ignore_ascii_case("auth")))
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}",
            Quoted(&self.realm),
            Quoted(&self.nonce)
        )?;
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", Quoted(opaque))?;
        }
        if self.stale {
            f.write_str(", stale=TRUE")?;
        }
        write!(f, ", algorithm={}", self.algorithm)?;
        if let Some(qop) = &self.qop {
            write!(f, ", qop={}", Quoted(qop))?;
        }
        Ok(())
    }
}

/// A user name and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The `Authorization` / `Proxy-Authorization` value answering `challenge` for a request with
/// `method` and Request-URI `uri`. `cnonce` is a fresh client nonce and `nc` counts the uses of
/// this server nonce (from 1); both are used only when the challenge offers `qop=auth`,
/// otherwise the RFC 2069 form without qop is produced. An algorithm other than MD5-sess is
/// hashed as MD5; check [`Challenge::is_supported`] first.
pub fn authorization(
    challenge: &Challenge,
    creds: &Credentials,
    method: &Method,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> String {
    let qop = challenge.offers_auth();
    let nc = format!("{nc:08x}");
    let response = digest_response(&DigestInput {
        username: &creds.username,
        realm: &challenge.realm,
        password: &creds.password,
        nonce: &challenge.nonce,
        sess: algorithm(&challenge.algorithm) == Some(Algorithm::Md5Sess),
        cnonce,
        qop_nc: qop.then_some(nc.as_str()),
        method: method.as_str(),
        uri,
    });
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
        Quoted(&creds.username),
        Quoted(&challenge.realm),
        Quoted(&challenge.nonce),
        Quoted(uri),
        Quoted(&response),
        challenge.algorithm,
    );
    if qop {
        out.push_str(&format!(", cnonce={}, qop=auth, nc={nc}", Quoted(cnonce)));
    }
    if let Some(opaque) = &challenge.opaque {
        out.push_str(&format!(", opaque={}", Quoted(opaque)));
    }
    out
}

/// A `WWW-Authenticate` value challenging for `realm` with `nonce`, offering MD5 and
/// `qop="auth"`.
pub fn challenge(realm: &str, nonce: &str) -> String {
    Challenge {
        realm: realm.to_string(),
        nonce: nonce.to_string(),
        opaque: None,
        algorithm: "MD5".to_string(),
        qop: Some("auth".to_string()),
        stale: false,
    }
    .to_string()
}

/// Checks an `Authorization` value against the expected user, realm and password. The nonce
/// is not judged here: parse it with [`DigestResponse::parse`] and check it was issued and is
/// fresh.
pub fn verify(
    authorization_header: &str,
    method: &Method,
    realm: &str,
    username: &str,
    password: &str,
) -> Result<(), AuthError> {
    let r = DigestResponse::parse(authorization_header)?;
    if r.username != username {
        return Err(AuthError::WrongUser);
    }
    if r.realm != realm {
        return Err(AuthError::WrongRealm);
    }
    let sess = match algorithm(&r.algorithm) {
        Some(a) => a == Algorithm::Md5Sess,
        None => return Err(AuthError::UnsupportedAlgorithm),
    };
    let qop_nc = match r.qop.as_deref() {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            Some(r.nc.as_deref().ok_or(AuthError::MissingParam("nc"))?)
        }
        Some(_) => return Err(AuthError::UnsupportedQop),
    };
    let cnonce = r.cnonce.as_deref().unwrap_or_default();
    if (qop_nc.is_some() || sess) && r.cnonce.is_none() {
        return Err(AuthError::MissingParam("cnonce"));
    }
    let expected = digest_response(&DigestInput {
        username,
        realm,
        password,
        nonce: &r.nonce,
        sess,
        cnonce,
        qop_nc,
        method: method.as_str(),
        uri: &r.uri,
    });
    if constant_time_eq_ignore_case(expected.as_bytes(), r.response.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// The parameters of an `Authorization` / `Proxy-Authorization` Digest value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    /// User name.
    pub username: String,
    /// Realm.
    pub realm: String,
    /// The server nonce being answered.
    pub nonce: String,
    /// The digest-uri (normally the Request-URI).
    pub uri: String,
    /// The 32-hex-digit response hash.
    pub response: String,
    /// Algorithm as sent (`MD5` when absent).
    pub algorithm: String,
    /// Client nonce.
    pub cnonce: Option<String>,
    /// Nonce count, eight hex digits as sent.
    pub nc: Option<String>,
    /// Chosen qop.
    pub qop: Option<String>,
    /// Echoed opaque value.
    pub opaque: Option<String>,
}

impl DigestResponse {
    /// Parses `Digest username="...", realm="...", ...`.
    pub fn parse(value: &str) -> Result<DigestResponse, AuthError> {
        let params = parse_digest(value)?;
        let get = |name: &str| find(&params, name).map(str::to_string);
        let need = |name: &'static str| get(name).ok_or(AuthError::MissingParam(name));
        Ok(DigestResponse {
            username: need("username")?,
            realm: need("realm")?,
            nonce: need("nonce")?,
            uri: need("uri")?,
            response: need("response")?,
            algorithm: get("algorithm").unwrap_or_else(|| "MD5".to_string()),
            cnonce: get("cnonce"),
            nc: get("nc"),
            qop: get("qop"),
            opaque: get("opaque"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Md5,
    Md5Sess,
}

fn algorithm(name: &str) -> Option<Algorithm> {
    if name.eq_ignore_ascii_case("MD5") {
        Some(Algorithm::Md5)
    } else if name.eq_ignore_ascii_case("MD5-sess") {
        Some(Algorithm::Md5Sess)
    } else {
        None
    }
}

struct DigestInput<'a> {
    username: &'a str,
    realm: &'a str,
    password: &'a str,
    nonce: &'a str,
    sess: bool,
    cnonce: &'a str,
    /// `Some(nc)` for qop=auth.
    qop_nc: Option<&'a str>,
    method: &'a str,
    uri: &'a str,
}

/// The request-digest of RFC 2617 §3.2.2.1.
fn digest_response(i: &DigestInput<'_>) -> String {
    let mut ha1 = md5_hex(&[i.username, ":", i.realm, ":", i.password]);
    if i.sess {
        ha1 = md5_hex(&[&ha1, ":", i.nonce, ":", i.cnonce]);
    }
    let ha2 = md5_hex(&[i.method, ":", i.uri]);
    match i.qop_nc {
        Some(nc) => md5_hex(&[&ha1, ":", i.nonce, ":", nc, ":", i.cnonce, ":auth:", &ha2]),
        None => md5_hex(&[&ha1, ":", i.nonce, ":", &ha2]),
    }
}

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn constant_time_eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| {
        acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
    }) == 0
}

fn find<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Splits `Digest a=b, c="d, e"` into unquoted `(name, value)` pairs.
fn parse_digest(value: &str) -> Result<Vec<(String, String)>, AuthError> {
    let value = value.trim_start();
    let scheme_end = value
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case("Digest") {
        return Err(AuthError::NotDigest);
    }
    let mut rest = &value[scheme_end..];
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
        if rest.is_empty() {
            return Ok(params);
        }
        let name_end = rest
            .find(|c: char| c == '=' || c.is_ascii_whitespace())
            .ok_or(AuthError::Syntax)?;
        let name = &rest[..name_end];
        rest = rest[name_end..]
            .trim_start()
            .strip_prefix('=')
            .ok_or(AuthError::Syntax)?
            .trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let (v, after) = super::headers::unquote(quoted).ok_or(AuthError::Syntax)?;
            rest = after;
            v
        } else {
            let end = rest
                .find(|c: char| c == ',' || c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            let v = rest[..end].to_string();
            rest = &rest[end..];
            v
        };
        if name.is_empty() || !super::headers::is_token(name) {
            return Err(AuthError::Syntax);
        }
        params.push((name.to_string(), value));
    }
}

/// Writes a string as a quoted-string, escaping `"` and `\` and dropping line breaks.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' | '\\' => write!(f, "\\{c}")?,
                '\r' | '\n' => {}
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mufasa() -> Credentials {
        Credentials {
            username: "Mufasa".into(),
            password: "Circle Of Life".into(),
        }
    }

    const RFC2617_CHALLENGE: &str = r#"Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    #[test]
    fn rfc2617_section_3_5_example_response() {
        let ch = Challenge::parse(RFC2617_CHALLENGE).unwrap();
        assert_eq!(ch.realm, "testrealm@host.com");
        assert_eq!(ch.qop.as_deref(), Some("auth,auth-int"));
        assert_eq!(ch.algorithm, "MD5");
        let get = Method::Other("GET".into());
        let auth = authorization(&ch, &mufasa(), &get, "/dir/index.html", "0a4f113b", 1);
        assert_eq!(
            auth,
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", \
             qop=auth, nc=00000001, opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
        );
        assert_eq!(
            verify(
                &auth,
                &get,
                "testrealm@host.com",
                "Mufasa",
                "Circle Of Life"
            ),
            Ok(())
        );
    }

    #[test]
    fn rfc2617_example_authorization_as_sent_verifies() {
        let sent = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let get = Method::Other("GET".into());
        assert_eq!(
            verify(sent, &get, "testrealm@host.com", "Mufasa", "Circle Of Life"),
            Ok(())
        );
        assert_eq!(
            verify(sent, &get, "testrealm@host.com", "Mufasa", "circle of life"),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify(
                sent,
                &Method::Invite,
                "testrealm@host.com",
                "Mufasa",
                "Circle Of Life"
            ),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify(sent, &get, "other", "Mufasa", "Circle Of Life"),
            Err(AuthError::WrongRealm)
        );
        assert_eq!(
            verify(sent, &get, "testrealm@host.com", "Simba", "x"),
            Err(AuthError::WrongUser)
        );
    }

    #[test]
    fn challenge_without_qop_gets_rfc2069_response() {
        let ch = Challenge::parse(r#"Digest realm="asterisk",nonce="4c8d2a1b""#).unwrap();
        let creds = Credentials {
            username: "6001".into(),
            password: "unsecurepassword".into(),
        };
        let auth = authorization(
            &ch,
            &creds,
            &Method::Register,
            "sip:192.168.1.10",
            "ignored",
            1,
        );
        assert!(!auth.contains("qop"));
        assert!(!auth.contains("cnonce"));
        // HA1 = md5("6001:asterisk:unsecurepassword"), HA2 = md5("REGISTER:sip:192.168.1.10").
        let ha1 = md5_hex(&["6001:asterisk:unsecurepassword"]);
        let ha2 = md5_hex(&["REGISTER:sip:192.168.1.10"]);
        let expected = md5_hex(&[&ha1, ":4c8d2a1b:", &ha2]);
        assert!(auth.contains(&format!("response=\"{expected}\"")));
        assert_eq!(
            verify(
                &auth,
                &Method::Register,
                "asterisk",
                "6001",
                "unsecurepassword"
            ),
            Ok(())
        );
    }

    #[test]
    fn md5_sess_round_trips() {
        let mut ch = Challenge::parse(&challenge("r", "n")).unwrap();
        ch.algorithm = "MD5-sess".into();
        let auth = authorization(&ch, &mufasa(), &Method::Invite, "sip:x", "cn", 7);
        assert!(auth.contains("nc=00000007"));
        assert_eq!(
            verify(&auth, &Method::Invite, "r", "Mufasa", "Circle Of Life"),
            Ok(())
        );
    }

    #[test]
    fn challenge_display_round_trips_and_parses_stale() {
        let ch = Challenge::parse(
            r#"Digest realm="sip.example.com", nonce="abc\"d", opaque="o", stale=TRUE, algorithm=MD5, qop="auth""#,
        )
        .unwrap();
        assert!(ch.stale);
        assert_eq!(ch.nonce, "abc\"d");
        assert_eq!(Challenge::parse(&ch.to_string()).unwrap(), ch);
        assert_eq!(
            challenge("ivr", "n1"),
            r#"Digest realm="ivr", nonce="n1", algorithm=MD5, qop="auth""#
        );
    }

    #[test]
    fn rejects_other_schemes_bad_syntax_and_unsupported_parameters() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(AuthError::NotDigest)
        );
        assert_eq!(Challenge::parse("Digest realm=\"x"), Err(AuthError::Syntax));
        assert_eq!(Challenge::parse("Digest realm"), Err(AuthError::Syntax));
        assert_eq!(
            Challenge::parse("Digest nonce=1"),
            Err(AuthError::MissingParam("realm"))
        );
        assert!(
            !Challenge::parse("Digest realm=a, nonce=b, algorithm=SHA-256")
                .unwrap()
                .is_supported()
        );
        let base = r#"Digest username="u", realm="r", nonce="n", uri="sip:x", response="00""#;
        assert_eq!(
            verify(
                &format!("{base}, algorithm=SHA-256"),
                &Method::Invite,
                "r",
                "u",
                "p"
            ),
            Err(AuthError::UnsupportedAlgorithm)
        );
        assert_eq!(
            verify(
                &format!("{base}, qop=auth-int"),
                &Method::Invite,
                "r",
                "u",
                "p"
            ),
            Err(AuthError::UnsupportedQop)
        );
        assert_eq!(
            verify(
                &format!("{base}, qop=auth, cnonce=\"c\""),
                &Method::Invite,
                "r",
                "u",
                "p"
            ),
            Err(AuthError::MissingParam("nc"))
        );
        assert_eq!(
            verify(
                &format!("{base}, qop=auth, nc=00000001"),
                &Method::Invite,
                "r",
                "u",
                "p"
            ),
            Err(AuthError::MissingParam("cnonce"))
        );
        assert_eq!(
            verify(base, &Method::Invite, "r", "u", "p"),
            Err(AuthError::Mismatch)
        );
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        assert!(!format!("{:?}", mufasa()).contains("Circle"));
    }
}
