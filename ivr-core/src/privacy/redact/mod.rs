//! Masking of personal data in free text: transcripts, webhook payloads, log lines.
//!
//! # What is masked and how
//!
//! | class | recognised when | written as |
//! |---|---|---|
//! | [`Kind::Card`] | 13–19 digits, contiguous or grouped by spaces/dashes, **Luhn-valid** | every digit but the last 4 becomes `*`, separators kept: `**** **** **** 1111` |
//! | [`Kind::Phone`] | `+` and 8–15 digits (E.164, any grouping); or 10–12 digits that use parentheses, are grouped 3-3-4, or start with a trunk `0` or are a Chinese mobile (`1[3-9]` + 9) grouped in threes and fours or in pairs | `+** *** **** 5678`, `(***) ***-4567` |
//! | [`Kind::NationalId`] | 18 characters (17 digits + digit or `X`) whose **GB 11643 check character** is right and whose birth date is plausible | `**************002X` |
//! | [`Kind::Email`] | `local@domain.tld` | first character of the local part, `***`, the domain: `j***@example.com` |
//! | [`Kind::Iban`] | two letters, two check digits, 11–30 alphanumerics (spaces every four allowed), **mod-97 valid** | `**** **** **** **** **30 00` |
//! | [`Kind::AccountNumber`] | any other run of 8–20 digits ([`RedactConfig::account_min_digits`]..=[`RedactConfig::account_max_digits`]), contiguous or in groups of three or more, that is not a compact date `YYYYMMDD`; also several such groups joined past 20 digits, masked whole since where one number ends cannot be told | last 4 kept |
//! | [`Kind::SpokenDigits`] | 8 or more digits said as words ("four one one one …", "double four", "四一一一…", "幺三八…"), starting with a word, optionally followed by written digits | each word but those of the last 4 digits becomes `*` |
//! | [`Kind::Sensitive`] | a value registered with [`Redactor::redact_values`] (a dial plan's `sensitive` slots), ASCII-case-insensitive, on word boundaries | every character becomes `*` |
//!
//! Masking keeps the last four digits (configurable with [`RedactConfig::keep_last`]) because
//! that is what an agent or auditor needs to tell two cards or accounts apart, and it is
//! what card-industry rules allow to be shown. Separators and the text length of ASCII numbers
//! are kept so that masked transcripts still read naturally.
//!
//! # What is left alone
//!
//! Numbers that are part of a word (`A12345678`), amounts (`$1,234.56`, `12345678.90`), times
//! (`10:30`), dates (`2024-05-12`, `20240512`), digit runs shorter than eight digits (order numbers,
//! PINs unless registered as sensitive values) and numbers whose check digit is wrong for their
//! class (an 18-digit number with a wrong GB 11643 check is not an ID; it may still be masked as
//! an account number if that class is on).
//!
//! # Cost
//!
//! One pass over the bytes; check-digit work happens only on digit runs. When nothing matches,
//! [`Redactor::redact`] returns the input borrowed, without allocating.

mod checks;
mod spoken;
mod written;

use std::borrow::Cow;

/// Which classes of personal data a [`Redactor`] masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactConfig {
    /// Payment card numbers (Luhn-valid).
    pub cards: bool,
    /// Phone numbers (E.164 and national formats).
    pub phones: bool,
    /// Chinese resident identity numbers (GB 11643 checksum-valid).
    pub national_ids: bool,
    /// E-mail addresses.
    pub emails: bool,
    /// IBANs (mod-97 valid).
    pub ibans: bool,
    /// Other long digit runs, taken as bank account numbers.
    pub account_numbers: bool,
    /// Fewest digits in a run masked as an account number (default 8).
    pub account_min_digits: usize,
    /// Most digits in a run masked as an account number (default 20).
    pub account_max_digits: usize,
    /// Digits spoken as words in transcripts.
    pub spoken_digits: bool,
    /// Fewest spoken digits in a run that is masked (default 8).
    pub spoken_min_digits: usize,
    /// How many trailing digits (or characters) stay visible (default 4).
    pub keep_last: usize,
}

impl Default for RedactConfig {
    fn default() -> Self {
        RedactConfig {
            cards: true,
            phones: true,
            national_ids: true,
            emails: true,
            ibans: true,
            account_numbers: true,
            account_min_digits: 8,
            account_max_digits: 20,
            spoken_digits: true,
            spoken_min_digits: 8,
            keep_last: 4,
        }
    }
}

/// The class of a masked span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A payment card number.
    Card,
    /// A phone number.
    Phone,
    /// A Chinese resident identity number.
    NationalId,
    /// An e-mail address.
    Email,
    /// An international bank account number.
    Iban,
    /// A long digit run not otherwise classified.
    AccountNumber,
    /// Digits spoken as words.
    SpokenDigits,
    /// A value registered as sensitive.
    Sensitive,
}

/// A span of personal data found in a text: byte offsets `start..end` and its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
    /// What the span is.
    pub kind: Kind,
}

/// Finds and masks personal data in text. Cheap to clone; build one per configuration and,
/// where a dial plan has `sensitive` slots, clone it per call and register the values.
/// Its `Debug` output counts the registered values without showing them.
#[derive(Clone, Default)]
pub struct Redactor {
    config: RedactConfig,
    /// Registered sensitive values, longest first.
    values: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("config", &self.config)
            .field("sensitive_values", &self.values.len())
            .finish()
    }
}

/// Shortest sensitive value that is registered; single characters would mask everything.
const MIN_VALUE_CHARS: usize = 2;

impl Redactor {
    /// A redactor for the given classes.
    pub fn new(config: RedactConfig) -> Self {
        Redactor {
            config,
            values: Vec::new(),
        }
    }

    /// The classes this redactor masks.
    pub fn config(&self) -> &RedactConfig {
        &self.config
    }

    /// Registers literal values to mask wherever they appear (ASCII-case-insensitive, on word
    /// boundaries), such as the values a caller gave for a dial plan's `sensitive` slots.
    /// Values shorter than two characters (after trimming) are ignored.
    pub fn redact_values<S: AsRef<str>>(&mut self, values: &[S]) -> &mut Self {
        for v in values {
            let v = v.as_ref().trim();
            if v.chars().count() >= MIN_VALUE_CHARS
                && !self.values.iter().any(|x| x.eq_ignore_ascii_case(v))
            {
                self.values.push(v.to_owned());
            }
        }
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self
    }

    /// Forgets the registered sensitive values (at the end of a call).
    pub fn clear_values(&mut self) {
        self.values.clear();
    }

    /// The spans of personal data in `text`, in order, not overlapping.
    pub fn find_iter<'r, 't>(&'r self, text: &'t str) -> Matches<'r, 't> {
        Matches {
            redactor: self,
            text,
            pos: 0,
            email: Cached::Unknown,
            value: Cached::Unknown,
        }
    }

    /// `text` with personal data masked; borrowed (no allocation) when nothing matched.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut it = self.find_iter(text);
        let Some(first) = it.next() else {
            return Cow::Borrowed(text);
        };
        let mut out = String::with_capacity(text.len() + 16);
        let mut copied = 0;
        for m in std::iter::once(first).chain(it) {
            out.push_str(text.get(copied..m.start).unwrap_or(""));
            self.write_mask(text.get(m.start..m.end).unwrap_or(""), m.kind, &mut out);
            copied = m.end;
        }
        out.push_str(text.get(copied..).unwrap_or(""));
        Cow::Owned(out)
    }

    /// Appends `text`, masked, to `out` (reusing its allocation); returns whether anything
    /// was masked.
    pub fn redact_into(&self, text: &str, out: &mut String) -> bool {
        let mut copied = 0;
        for m in self.find_iter(text) {
            out.push_str(text.get(copied..m.start).unwrap_or(""));
            self.write_mask(text.get(m.start..m.end).unwrap_or(""), m.kind, out);
            copied = m.end;
        }
        out.push_str(text.get(copied..).unwrap_or(""));
        copied > 0
    }

    fn write_mask(&self, span: &str, kind: Kind, out: &mut String) {
        match kind {
            Kind::Email => {
                let (local, domain) = span.split_once('@').unwrap_or((span, ""));
                out.extend(local.chars().next());
                out.push_str("***@");
                out.push_str(domain);
            }
            Kind::Sensitive => out.extend(span.chars().map(|_| '*')),
            Kind::SpokenDigits => spoken::mask(span, self.config.keep_last, out),
            _ => {
                let units = span.bytes().filter(u8::is_ascii_alphanumeric).count();
                let mut to_mask = units.saturating_sub(self.config.keep_last);
                for c in span.chars() {
                    if c.is_ascii_alphanumeric() && to_mask > 0 {
                        out.push('*');
                        to_mask -= 1;
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }

    /// The first built-in match starting in `pos..limit`, reading no byte at or past `limit`.
    fn scan(&self, b: &[u8], pos: usize, limit: usize) -> Option<Match> {
        let cfg = &self.config;
        let numbers = cfg.cards || cfg.phones || cfg.national_ids || cfg.account_numbers;
        let mut i = pos;
        while i < limit {
            let Some(&c) = b.get(i) else { break };
            match c {
                b'0'..=b'9' | b'+' | b'(' => {
                    if written::boundary_before(b, i) {
                        // Spoken runs start with a word, never here.
                        let w = numbers
                            .then(|| written::number_at(b, i, limit, cfg))
                            .flatten();
                        if let Some((end, kind)) = w {
                            return Some(Match {
                                start: i,
                                end,
                                kind,
                            });
                        }
                    }
                    i = if c.is_ascii_digit() {
                        skip_word(b, i, limit)
                    } else {
                        i + 1
                    };
                }
                b'A'..=b'Z' | b'a'..=b'z' => {
                    if written::boundary_before(b, i) {
                        let w = cfg
                            .ibans
                            .then(|| written::iban_at(b, i, limit))
                            .flatten()
                            .map(|e| (e, Kind::Iban));
                        let s = (cfg.spoken_digits && spoken::may_start_word(c))
                            .then(|| spoken::spoken_at(b, i, limit, cfg.spoken_min_digits))
                            .flatten();
                        if let Some(m) = longer(i, w, s) {
                            return Some(m);
                        }
                    }
                    i = skip_word(b, i, limit);
                }
                _ if cfg.spoken_digits && spoken::may_start_han_digit(c) => {
                    if let Some(end) = spoken::spoken_at(b, i, limit, cfg.spoken_min_digits) {
                        return Some(Match {
                            start: i,
                            end,
                            kind: Kind::SpokenDigits,
                        });
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        None
    }

    /// The first sensitive value occurring at or after `from`.
    fn next_value(&self, text: &str, from: usize) -> Option<Match> {
        let b = text.as_bytes();
        let mut best: Option<Match> = None;
        for v in &self.values {
            let limit = best.map_or(b.len(), |m| m.start + v.len());
            if let Some(start) = find_value(b, from, limit, v.as_bytes()) {
                if best.is_none_or(|m| start < m.start) {
                    best = Some(Match {
                        start,
                        end: start + v.len(),
                        kind: Kind::Sensitive,
                    });
                }
            }
        }
        best
    }
}

fn longer(start: usize, written: Option<(usize, Kind)>, spoken: Option<usize>) -> Option<Match> {
    match (written, spoken) {
        (Some((we, kind)), Some(se)) if we >= se => Some(Match {
            start,
            end: we,
            kind,
        }),
        (_, Some(end)) => Some(Match {
            start,
            end,
            kind: Kind::SpokenDigits,
        }),
        (Some((end, kind)), None) => Some(Match { start, end, kind }),
        (None, None) => None,
    }
}

/// Skips the run of ASCII alphanumerics starting at `i` (at least one byte).
fn skip_word(b: &[u8], i: usize, limit: usize) -> usize {
    let mut j = i + 1;
    while j < limit
        && b.get(j)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        j += 1;
    }
    j
}

/// Finds `needle` in `hay[from..limit]`, ASCII-case-insensitively, with word boundaries at
/// whichever end of the needle is alphanumeric.
fn find_value(hay: &[u8], from: usize, limit: usize, needle: &[u8]) -> Option<usize> {
    let &first = needle.first()?;
    let last = needle.last().copied().unwrap_or(first);
    let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    let mut i = from;
    while i + needle.len() <= hay.len().min(limit) {
        let off = hay
            .get(i..)?
            .iter()
            .position(|c| c.eq_ignore_ascii_case(&first))?;
        let s = i + off;
        let e = s + needle.len();
        if e > hay.len().min(limit) {
            return None;
        }
        let same = hay
            .get(s..e)
            .is_some_and(|h| h.eq_ignore_ascii_case(needle));
        let clean_start = !word(&first) || s == 0 || !hay.get(s - 1).is_some_and(word);
        let clean_end = !word(&last) || !hay.get(e).is_some_and(word);
        if same && clean_start && clean_end {
            return Some(s);
        }
        i = s + 1;
    }
    None
}

/// The first e-mail address whose `@` is at or after `from` and whose local part starts at
/// or after `from`.
fn next_email(text: &str, from: usize) -> Option<Match> {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
    let domain = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-');
    let mut search = from;
    while let Some(off) = text.get(search..)?.find('@') {
        let at = search + off;
        search = at + 1;
        let mut s = at;
        while s > from && b.get(s - 1).is_some_and(|&c| local(c)) {
            s -= 1;
        }
        while s < at && b.get(s) == Some(&b'.') {
            s += 1;
        }
        let mut e = at + 1;
        while b.get(e).is_some_and(|&c| domain(c)) {
            e += 1;
        }
        // Cut back to the longest valid domain: `x@y.cn-4111` and `x@y.cn.4111` are `x@y.cn`.
        let valid_domain = |e: usize| {
            let Some(dom) = text.get(at + 1..e) else {
                return false;
            };
            let labels_ok = dom.split('.').all(|l| !l.is_empty());
            let tld_ok = dom.rsplit_once('.').is_some_and(|(_, tld)| {
                tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
            });
            labels_ok && tld_ok
        };
        loop {
            while e > at + 1 && matches!(b.get(e - 1), Some(b'.' | b'-')) {
                e -= 1;
            }
            if valid_domain(e) {
                break;
            }
            match b
                .get(at + 1..e)
                .and_then(|d| d.iter().rposition(|&c| c == b'.' || c == b'-'))
            {
                Some(k) => e = at + 1 + k,
                None => break,
            }
        }
        // `a@b.cn@c.cn` is not two addresses nor one: leave such runs alone.
        let glued =
            s.checked_sub(1).and_then(|p| b.get(p)) == Some(&b'@') || b.get(e) == Some(&b'@');
        if s < at && valid_domain(e) && !glued {
            return Some(Match {
                start: s,
                end: e,
                kind: Kind::Email,
            });
        }
    }
    None
}

#[derive(Debug, Clone, Copy)]
enum Cached {
    Unknown,
    Known(Option<Match>),
}

/// Iterator over the personal data in a text; see [`Redactor::find_iter`].
#[derive(Debug)]
pub struct Matches<'r, 't> {
    redactor: &'r Redactor,
    text: &'t str,
    pos: usize,
    email: Cached,
    value: Cached,
}

impl Matches<'_, '_> {
    fn refresh(&mut self) -> Option<Match> {
        let pos = self.pos;
        let stale = |c: Cached| match c {
            Cached::Unknown => true,
            Cached::Known(m) => m.is_some_and(|m| m.start < pos),
        };
        if stale(self.email) {
            let found = self
                .redactor
                .config
                .emails
                .then(|| next_email(self.text, pos))
                .flatten();
            self.email = Cached::Known(found);
        }
        if stale(self.value) {
            let found = self.redactor.next_value(self.text, pos);
            self.value = Cached::Known(found);
        }
        let (Cached::Known(e), Cached::Known(v)) = (self.email, self.value) else {
            return None;
        };
        match (e, v) {
            (Some(e), Some(v)) if v.start < e.start || (v.start == e.start && v.end > e.end) => {
                Some(v)
            }
            (Some(e), _) => Some(e),
            (None, v) => v,
        }
    }
}

impl Iterator for Matches<'_, '_> {
    type Item = Match;

    fn next(&mut self) -> Option<Match> {
        let b = self.text.as_bytes();
        if self.pos >= b.len() {
            return None;
        }
        let external = self.refresh();
        let limit = external.map_or(b.len(), |m| m.start);
        let found = self.redactor.scan(b, self.pos, limit).or(external)?;
        self.pos = found.end;
        Some(found)
    }
}

#[cfg(test)]
mod tests;
