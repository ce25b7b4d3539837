//! SIP URIs (RFC 3261 §19.1) and `tel:` URIs (RFC 3966).
//!
//! A URI is parsed into its parts and written back with [`fmt::Display`]; text is kept as it
//! arrived (percent-escapes are not decoded), so `Uri::parse(s)?.to_string() == s` for any
//! URI in canonical form.
//!
//! ```
//! use ivr_media::sip::Uri;
//! let uri = Uri::parse("sip:+15551234;npdi@[2001:db8::1]:5080;transport=tcp;lr").unwrap();
//! assert_eq!(uri.user.as_deref(), Some("+15551234;npdi"));
//! assert_eq!(uri.host, "2001:db8::1");
//! assert_eq!(uri.host_port(), "[2001:db8::1]:5080");
//! assert_eq!(uri.param("TRANSPORT"), Some(Some("tcp")));
//! assert_eq!(uri.param("lr"), Some(None));
//! ```

use std::fmt;

use super::parse::ParseError;

/// A `sip:`, `sips:` or `tel:` URI.
///
/// For `tel:` URIs the telephone number is held in `host` (there is no user, port or
/// header part) and its `;` parameters in `params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// Scheme in lower case: `sip`, `sips` or `tel`.
    pub scheme: String,
    /// User part, if any (percent-escapes kept as they arrived). A `:password` suffix and
    /// telephone-style `;` parameters of the user part stay in here.
    pub user: Option<String>,
    /// Host name or IP address (IPv6 without brackets); the number for `tel:`.
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
    /// `;name=value` parameters in order (`;lr` has no value).
    pub params: Vec<(String, Option<String>)>,
    /// `?name=value` headers in order.
    pub headers: Vec<(String, String)>,
}

impl Uri {
    /// A `sip:` URI with the given user, host and port and no parameters.
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Uri {
        Uri {
            scheme: "sip".to_string(),
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Parses a `sip:`, `sips:` or `tel:` URI (scheme case-insensitive).
    ///
    /// Whitespace, control characters, non-ASCII bytes and `<`, `>`, `"` are rejected, as is
    /// any other scheme.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        if s.is_empty() || !s.chars().all(is_uri_char) {
            return Err(ParseError::BadUri);
        }
        let (scheme, rest) = s.split_once(':').ok_or(ParseError::BadUri)?;
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "sip" | "sips" => parse_sip(scheme, rest),
            "tel" => parse_tel(rest),
            _ => Err(ParseError::BadUri),
        }
    }

    /// The parameter called `name` (case-insensitive): `None` when absent, `Some(None)` when
    /// present without a value (`;lr`), `Some(Some(v))` otherwise.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// Sets (or adds) the parameter called `name`.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        set_param(&mut self.params, name, value);
    }

    /// Removes the parameter called `name`, if present.
    pub fn remove_param(&mut self, name: &str) {
        self.params.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// `host` or `host:port`, with IPv6 addresses in brackets.
    pub fn host_port(&self) -> String {
        let mut out = String::with_capacity(self.host.len() + 8);
        write_host(&mut out, &self.host);
        if let Some(port) = self.port {
            out.push(':');
            out.push_str(&port.to_string());
        }
        out
    }

    /// The `transport` parameter in lower case, if present (`udp`, `tcp`, `tls`, ...).
    pub fn transport(&self) -> Option<String> {
        self.param("transport")
            .flatten()
            .map(str::to_ascii_lowercase)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        f.write_str(":")?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            f.write_str("@")?;
        }
        if self.host.contains(':') && self.scheme != "tel" {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for (name, value) in &self.params {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{name}={value}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(s)
    }
}

fn is_uri_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"')
}

fn parse_sip(scheme: String, rest: &str) -> Result<Uri, ParseError> {
    // The user part ends at the first '@' (it cannot contain one unescaped). A '?' before the
    // '@' would start the header part of a user-less URI whose header holds an '@'.
    let at = rest.find('@');
    let q = rest.find('?');
    let (user, hostpart) = match at {
        Some(a) if q.is_none_or(|q| a < q) => {
            let user = &rest[..a];
            if user.is_empty() {
                return Err(ParseError::BadUri);
            }
            (Some(user.to_string()), &rest[a + 1..])
        }
        _ => (None, rest),
    };
    let (hostpart, headers) = match hostpart.split_once('?') {
        Some((h, hdrs)) => (h, parse_uri_headers(hdrs)?),
        None => (hostpart, Vec::new()),
    };
    let (hostport, params) = match hostpart.split_once(';') {
        Some((hp, p)) => (hp, parse_uri_params(p)?),
        None => (hostpart, Vec::new()),
    };
    let (host, port) = split_host_port(hostport)?;
    Ok(Uri {
        scheme,
        user,
        host,
        port,
        params,
        headers,
    })
}

fn parse_tel(rest: &str) -> Result<Uri, ParseError> {
    let (number, params) = match rest.split_once(';') {
        Some((n, p)) => (n, parse_uri_params(p)?),
        None => (rest, Vec::new()),
    };
    if number.is_empty() || rest.contains('?') || rest.contains('@') {
        return Err(ParseError::BadUri);
    }
    Ok(Uri {
        scheme: "tel".to_string(),
        user: None,
        host: number.to_string(),
        port: None,
        params,
        headers: Vec::new(),
    })
}

/// Splits `host[:port]` or `[v6][:port]`, validating the host characters.
pub(crate) fn split_host_port(s: &str) -> Result<(String, Option<u16>), ParseError> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or(ParseError::BadUri)?;
        let valid = addr.contains(':')
            && addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
        if !valid {
            return Err(ParseError::BadUri);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(ParseError::BadUri)?),
        };
        (addr, port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid {
            return Err(ParseError::BadUri);
        }
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p).ok_or(ParseError::BadUri)?),
    };
    Ok((host.to_string(), port))
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

fn parse_uri_params(s: &str) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let mut params = Vec::new();
    for p in s.split(';') {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (p, None),
        };
        if name.is_empty() {
            return Err(ParseError::BadUri);
        }
        params.push((name.to_string(), value));
    }
    Ok(params)
}

fn parse_uri_headers(s: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut headers = Vec::new();
    for h in s.split('&') {
        let (name, value) = h.split_once('=').unwrap_or((h, ""));
        if name.is_empty() {
            return Err(ParseError::BadUri);
        }
        headers.push((name.to_string(), value.to_string()));
    }
    Ok(headers)
}

pub(crate) fn write_host(out: &mut String, host: &str) {
    if host.contains(':') {
        out.push('[');
        out.push_str(host);
        out.push(']');
    } else {
        out.push_str(host);
    }
}

/// Looks up `name` (case-insensitive) in a parameter list.
pub(crate) fn find_param<'a>(
    params: &'a [(String, Option<String>)],
    name: &str,
) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref())
}

/// Replaces the value of `name` (case-insensitive) in a parameter list, or appends it.
pub(crate) fn set_param(
    params: &mut Vec<(String, Option<String>)>,
    name: &str,
    value: Option<String>,
) {
    match params
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some(slot) => slot.1 = value,
        None => params.push((name.to_string(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> Uri {
        let uri = Uri::parse(s).unwrap();
        assert_eq!(uri.to_string(), s, "round trip of {s}");
        uri
    }

    #[test]
    fn parses_user_host_port_params_and_headers() {
        let u = round_trip(
            "sip:alice@atlanta.example.com:5061;transport=tcp;lr?Subject=hi&Priority=urgent",
        );
        assert_eq!(u.scheme, "sip");
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.host, "atlanta.example.com");
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.param("transport"), Some(Some("tcp")));
        assert_eq!(u.param("Lr"), Some(None));
        assert_eq!(u.param("maddr"), None);
        assert_eq!(
            u.headers,
            vec![
                ("Subject".into(), "hi".into()),
                ("Priority".into(), "urgent".into())
            ]
        );
        assert_eq!(u.transport().as_deref(), Some("tcp"));
    }

    #[test]
    fn host_only_and_ipv4() {
        let u = round_trip("sip:10.0.0.1");
        assert_eq!((u.user, u.host.as_str(), u.port), (None, "10.0.0.1", None));
        assert_eq!(round_trip("sips:example.com:5061").port, Some(5061));
    }

    #[test]
    fn ipv6_host_is_stored_without_brackets_and_written_with_them() {
        let u = round_trip("sip:[::1]:5060");
        assert_eq!(u.host, "::1");
        assert_eq!(u.host_port(), "[::1]:5060");
        let u = round_trip("sip:bob@[2001:db8::10]");
        assert_eq!(u.host_port(), "[2001:db8::10]");
    }

    #[test]
    fn telephone_style_user_keeps_its_semicolon_parameters() {
        let u = round_trip("sip:+15551234567;npdi;rn=+15550000000@gw.example.net;user=phone");
        assert_eq!(u.user.as_deref(), Some("+15551234567;npdi;rn=+15550000000"));
        assert_eq!(u.host, "gw.example.net");
        assert_eq!(u.param("user"), Some(Some("phone")));
    }

    #[test]
    fn user_with_password_is_kept_in_user() {
        let u = round_trip("sip:alice:secret@example.com");
        assert_eq!(u.user.as_deref(), Some("alice:secret"));
    }

    #[test]
    fn header_part_may_hold_an_at_sign_when_there_is_no_user() {
        let u = round_trip("sip:example.com?Replaces=abc@host");
        assert_eq!(u.user, None);
        assert_eq!(u.headers, vec![("Replaces".into(), "abc@host".into())]);
    }

    #[test]
    fn tel_uri_keeps_number_in_host() {
        let u = round_trip("tel:+1-201-555-0123;phone-context=example.com");
        assert_eq!(u.scheme, "tel");
        assert_eq!(u.host, "+1-201-555-0123");
        assert_eq!(u.param("phone-context"), Some(Some("example.com")));
    }

    #[test]
    fn scheme_is_lowercased() {
        let u = Uri::parse("SIP:Bob@Example.COM").unwrap();
        assert_eq!(u.scheme, "sip");
        assert_eq!(u.to_string(), "sip:Bob@Example.COM");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "sip:",
            "sip:@host",
            "http://example.com",
            "sip:bob@",
            "sip:bob@host:",
            "sip:bob@host:99999",
            "sip:bob@host:5x",
            "sip:bob@[::1",
            "sip:bob@[zz]",
            "sip:bob@[::1]x",
            "sip:bob @host",
            "sip:<bob>@host",
            "sip:host;;lr",
            "sip:host?&a=b",
            "sip:hö.st",
            "tel:",
            "nocolon",
        ] {
            assert!(Uri::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn set_param_replaces_case_insensitively_or_appends() {
        let mut u = Uri::parse("sip:h;Transport=udp").unwrap();
        u.set_param("transport", Some("tcp".into()));
        u.set_param("lr", None);
        assert_eq!(u.to_string(), "sip:h;Transport=tcp;lr");
        u.remove_param("LR");
        assert_eq!(u.to_string(), "sip:h;Transport=tcp");
    }
}
