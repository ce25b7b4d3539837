//! Check-digit algorithms that separate real identifiers from arbitrary digit runs.
//!
//! Every function takes digits as values `0..=9` (not ASCII) so callers can feed
//! them from a stack buffer without allocating.

/// Luhn (ISO/IEC 7812) check used by every payment card number.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let d = u32::from(d);
        sum += if i % 2 == 1 {
            let x = d * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        } else {
            d
        };
    }
    sum.is_multiple_of(10)
}

/// Weights of the first 17 characters of a resident identity number (GB 11643-1999).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each value of the weighted sum modulo 11; `10` stands for `X`.
const ID_CHECK: [u8; 11] = [1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2];

/// The GB 11643 check value (0–9, or 10 for `X`) of the first 17 digits of a Chinese
/// resident identity number; `None` if `first17` is not 17 digits long.
pub(crate) fn gb11643_check(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    ID_CHECK.get((sum % 11) as usize).copied()
}

/// Whether 17 digits plus a check value (10 = `X`) form a valid resident identity number:
/// the GB 11643 checksum holds and the birth date (digits 7–14) is plausible.
pub(crate) fn chinese_id_valid(first17: &[u8], check: u8) -> bool {
    let Some(expected) = gb11643_check(first17) else {
        return false;
    };
    expected == check && first17.get(6..14).is_some_and(plausible_yyyymmdd)
}

/// Whether eight digits read as a calendar date between 1900-01-01 and 2099-12-31
/// (day checked against 31 only: this is a plausibility filter, not a calendar).
pub(crate) fn plausible_yyyymmdd(d: &[u8]) -> bool {
    let Some(&[y0, y1, y2, y3, m0, m1, d0, d1]) =
        d.get(..8).and_then(|s| <&[u8; 8]>::try_from(s).ok())
    else {
        return false;
    };
    let year = u32::from(y0) * 1000 + u32::from(y1) * 100 + u32::from(y2) * 10 + u32::from(y3);
    let month = u32::from(m0) * 10 + u32::from(m1);
    let day = u32::from(d0) * 10 + u32::from(d1);
    (1900..=2099).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// IBAN (ISO 13616) check: move the first four characters to the end, read letters as
/// 10–35, and the number must be 1 modulo 97. `chars` are ASCII alphanumerics.
pub(crate) fn iban_valid(chars: &[u8]) -> bool {
    if !(15..=34).contains(&chars.len()) {
        return false;
    }
    let (head, tail) = chars.split_at(4);
    let mut rem = 0u32;
    for &c in tail.iter().chain(head) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            b'a'..=b'z' => u32::from(c - b'a') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn digits(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    }

    /// Builds a valid resident identity number from a 6-digit region, a birth date and a
    /// 3-digit sequence by computing the GB 11643 check character.
    pub(crate) fn make_chinese_id(region: &str, birth: &str, seq: &str) -> String {
        let first17 = format!("{region}{birth}{seq}");
        let check = gb11643_check(&digits(&first17)).unwrap();
        let c = if check == 10 {
            'X'
        } else {
            char::from(b'0' + check)
        };
        format!("{first17}{c}")
    }

    #[test]
    fn luhn_accepts_published_test_cards_and_rejects_one_digit_changes() {
        for card in [
            "4111111111111111",
            "5500000000000004",
            "378282246310005",
            "6011111111111117",
        ] {
            assert!(luhn_valid(&digits(card)), "{card}");
        }
        assert!(!luhn_valid(&digits("4111111111111112")));
        assert!(!luhn_valid(&digits("5500000000000005")));
    }

    #[test]
    fn gb11643_matches_the_standard_example_with_x_check() {
        // The worked example of GB 11643-1999: 11010519491231002X.
        assert_eq!(gb11643_check(&digits("11010519491231002")), Some(10));
        assert!(chinese_id_valid(&digits("11010519491231002"), 10));
        assert!(!chinese_id_valid(&digits("11010519491231002"), 3));
    }

    #[test]
    fn chinese_id_with_impossible_birth_date_is_rejected() {
        // Month 13: checksum computed to be right, the date is not.
        let id = make_chinese_id("110105", "19491331", "002");
        let d = digits(&id[..17]);
        let check = gb11643_check(&d).unwrap();
        assert!(!chinese_id_valid(&d, check));
    }

    #[test]
    fn iban_mod97_accepts_real_examples_and_rejects_changed_digit() {
        for iban in [
            "GB82WEST12345698765432",
            "DE89370400440532013000",
            "FR1420041010050500013M02606",
        ] {
            assert!(iban_valid(iban.as_bytes()), "{iban}");
        }
        assert!(!iban_valid(b"GB82WEST12345698765433"));
        assert!(!iban_valid(b"DE89"));
    }
}
