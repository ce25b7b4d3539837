//! SIP URIs (RFC 3261 §19.1).

/// A `sip:`, `sips:` or `tel:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// Scheme in lower case: `sip`, `sips` or `tel`.
    pub scheme: String,
    /// User part, if any (percent-escapes kept as they arrived).
    pub user: Option<String>,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
    /// `;name=value` parameters in order (`;lr` has no value).
    pub params: Vec<(String, Option<String>)>,
    /// `?name=value` headers in order.
    pub headers: Vec<(String, String)>,
}
