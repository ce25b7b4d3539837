//! Numbers written with digits: cards, phones, resident IDs, account numbers, IBANs.
//!
//! A number is read as digit groups joined by one space or dash, optionally with a
//! leading `+` and parenthesised groups (`+1 (555) 123-4567`). The longest prefix (at a
//! group boundary) that classifies wins, so a card followed by an expiry date
//! (`4111 1111 1111 1111 12 25`) is still found.

use super::checks::{chinese_id_valid, iban_valid, luhn_valid, plausible_yyyymmdd};
use super::{Kind, RedactConfig};

const MAX_GROUPS: usize = 24;
const MAX_DIGITS: usize = 40;

/// The digit groups of one written number, on the stack.
struct Groups {
    /// Byte offset just past each group (past its `)` if parenthesised).
    ends: [usize; MAX_GROUPS],
    /// Digits in each group.
    lens: [u8; MAX_GROUPS],
    n: usize,
    digits: [u8; MAX_DIGITS],
    nd: usize,
    plus: bool,
    paren: bool,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn digit_at(b: &[u8], j: usize, limit: usize) -> bool {
    j < limit && b.get(j).is_some_and(u8::is_ascii_digit)
}

/// Whether a number may start at `i`: not glued to a word, not the digits of a `+`
/// number (those are read from the `+`), and not the fraction or thousands part of an
/// amount (`1,234` / `3.14159265`).
pub(super) fn boundary_before(b: &[u8], i: usize) -> bool {
    let Some(p) = i.checked_sub(1).and_then(|p| b.get(p)) else {
        return true;
    };
    if is_word_byte(*p) || *p == b'+' {
        return false;
    }
    let amount_sep = matches!(p, b'.' | b',');
    !(amount_sep && i >= 2 && b.get(i - 2).is_some_and(u8::is_ascii_digit))
}

fn parse(b: &[u8], i: usize, limit: usize) -> Groups {
    let mut g = Groups {
        ends: [0; MAX_GROUPS],
        lens: [0; MAX_GROUPS],
        n: 0,
        digits: [0; MAX_DIGITS],
        nd: 0,
        plus: false,
        paren: false,
    };
    let mut j = i;
    if b.get(j) == Some(&b'+') {
        g.plus = true;
        j += 1;
    }
    while g.n < MAX_GROUPS {
        let open = b.get(j) == Some(&b'(') && digit_at(b, j + 1, limit);
        let group_start_nd = g.nd;
        let mut k = if open { j + 1 } else { j };
        let mut overflow = false;
        while digit_at(b, k, limit) {
            let Some(slot) = g.digits.get_mut(g.nd) else {
                overflow = true;
                break;
            };
            *slot = b.get(k).map_or(0, |d| d - b'0');
            g.nd += 1;
            k += 1;
        }
        if open {
            if b.get(k) == Some(&b')') && k < limit {
                k += 1;
            } else {
                overflow = true;
            }
        }
        if overflow || g.nd == group_start_nd {
            g.nd = group_start_nd;
            break;
        }
        g.paren |= open;
        g.ends[g.n] = k;
        g.lens[g.n] = (g.nd - group_start_nd) as u8;
        g.n += 1;
        j = k;
        // Continue over one separator, or straight on after a closing parenthesis.
        let next = match b.get(j) {
            Some(b' ' | b'-') if j < limit => j + 1,
            Some(d) if open && d.is_ascii_digit() => j,
            _ => break,
        };
        let more = digit_at(b, next, limit)
            || (b.get(next) == Some(&b'(') && digit_at(b, next + 1, limit));
        if !more {
            break;
        }
        j = next;
    }
    g
}

/// Tries a written number starting at `i` (a digit, `+` or `(` with a boundary before
/// it), reading no byte at or past `limit`. Returns the end and the class.
pub(super) fn number_at(
    b: &[u8],
    i: usize,
    limit: usize,
    cfg: &RedactConfig,
) -> Option<(usize, Kind)> {
    let g = parse(b, i, limit);
    let mut cum = [0usize; MAX_GROUPS];
    let mut total = 0;
    for (c, &len) in cum.iter_mut().zip(&g.lens[..g.n]) {
        total += usize::from(len);
        *c = total;
    }
    for k in (1..=g.n).rev() {
        let nd = cum[k - 1];
        let end = g.ends[k - 1];
        let d = &g.digits[..nd];
        let lens = &g.lens[..k];
        let after = b.get(end).copied();
        // A trailing X completes an 18-character resident ID.
        if k == g.n && nd == 17 && matches!(after, Some(b'X' | b'x')) && end < limit {
            let clean_end = !b.get(end + 1).copied().is_some_and(is_word_byte);
            if cfg.national_ids && !g.plus && !g.paren && clean_end && chinese_id_valid(d, 10) {
                return Some((end + 1, Kind::NationalId));
            }
            continue;
        }
        if after.is_some_and(is_word_byte) {
            continue;
        }
        let fraction =
            matches!(after, Some(b'.' | b',')) && b.get(end + 1).is_some_and(u8::is_ascii_digit);
        if fraction {
            continue;
        }
        if let Some(kind) = classify(d, lens, g.plus, g.paren, cfg) {
            return Some((end, kind));
        }
    }
    None
}

fn classify(d: &[u8], lens: &[u8], plus: bool, paren: bool, cfg: &RedactConfig) -> Option<Kind> {
    let n = d.len();
    // E.164 allows at most 15 digits; a longer `+` number is read as if the `+` were not there.
    if plus && n <= 15 {
        return (cfg.phones && n >= 8).then_some(Kind::Phone);
    }
    if !paren {
        if cfg.national_ids && n == 18 {
            if let (Some(first17), Some(&check)) = (d.get(..17), d.get(17)) {
                if chinese_id_valid(first17, check) {
                    return Some(Kind::NationalId);
                }
            }
        }
        if cfg.cards && (13..=19).contains(&n) && luhn_valid(d) {
            return Some(Kind::Card);
        }
    }
    if cfg.phones && (10..=12).contains(&n) {
        let trunk_zero = d.first() == Some(&0);
        let china_mobile = n == 11 && d.first() == Some(&1) && d.get(1).is_some_and(|&x| x >= 3);
        let nanp = lens == [3, 3, 4];
        // Groups of three or more (`0755-1234 5678`), or pairs after the area code
        // (`01 23 45 67 89`); a mix with pairs is more likely a date next to a number.
        let phone_groups = lens.iter().all(|&l| l >= 3) || lens.iter().skip(1).all(|&l| l == 2);
        if (paren || nanp || ((trunk_zero || china_mobile) && phone_groups)) && !plus {
            return Some(Kind::Phone);
        }
    }
    if cfg.account_numbers && !paren && n >= cfg.account_min_digits {
        let grouped_ok = lens.len() == 1 || lens.iter().all(|&l| l >= 3);
        let compact_date = n == 8 && plausible_yyyymmdd(d);
        // Several groups joined past the longest account number: the numbers cannot be told
        // apart, so the whole run is masked rather than split at a guess.
        let fits = n <= cfg.account_max_digits || lens.len() > 1;
        if grouped_ok && fits && !compact_date {
            return Some(Kind::AccountNumber);
        }
    }
    None
}

/// Tries an IBAN starting at `i` (a letter with a boundary before it): two letters, two
/// check digits, then alphanumerics, contiguous or in space-separated groups, 15–34 in
/// all, passing the mod-97 check. Returns the end.
pub(super) fn iban_at(b: &[u8], i: usize, limit: usize) -> Option<usize> {
    let head = b.get(i..i + 4).filter(|_| i + 4 <= limit)?;
    let shape = head.first().is_some_and(u8::is_ascii_alphabetic)
        && head.get(1).is_some_and(u8::is_ascii_alphabetic)
        && head.get(2).is_some_and(u8::is_ascii_digit)
        && head.get(3).is_some_and(u8::is_ascii_digit);
    if !shape {
        return None;
    }
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut ends = [(0usize, 0usize); 34];
    let mut groups = 0;
    let mut j = i;
    'groups: loop {
        while j < limit && b.get(j).is_some_and(u8::is_ascii_alphanumeric) {
            let Some(slot) = chars.get_mut(n) else {
                // Longer than any IBAN: only the complete groups before count.
                break 'groups;
            };
            *slot = b.get(j).copied().unwrap_or(0);
            n += 1;
            j += 1;
        }
        let group_len = n - ends[..groups].last().map_or(0, |&(_, c)| c);
        if let Some(e) = ends.get_mut(groups) {
            *e = (j, n);
            groups += 1;
        }
        // Printed IBANs come in groups of four with a shorter last group: a group of
        // another length ends the number (so `… 7654 32 and 555` stops at `32`).
        if group_len == 4
            && b.get(j) == Some(&b' ')
            && j + 1 < limit
            && b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            j += 1;
        } else {
            break;
        }
    }
    ends[..groups].iter().rev().find_map(|&(end, count)| {
        let clean = !b.get(end).copied().is_some_and(is_word_byte);
        (clean && iban_valid(&chars[..count])).then_some(end)
    })
}
