//! Number words shared by the entity parsers: English cardinals and digit words, Chinese
//! numerals.

/// Value of an English word for 0–19 (`oh` and `o` are zero, as in phone numbers).
pub fn en_unit(w: &str) -> Option<u32> {
    Some(match w {
        "zero" | "oh" | "o" | "nought" => 0,
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

/// Value of an English tens word (`twenty` → 20).
pub fn en_tens(w: &str) -> Option<u32> {
    Some(match w {
        "twenty" => 20,
        "thirty" => 30,
        "forty" | "fourty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    })
}

/// Value of an English scale word.
pub fn en_scale(w: &str) -> Option<f64> {
    Some(match w {
        "hundred" => 100.0,
        "thousand" => 1e3,
        "million" => 1e6,
        "billion" => 1e9,
        _ => return None,
    })
}

/// Value of an English ordinal word for 1–31 parts (`third` → 3, `twentieth` → 20).
pub fn en_ordinal(w: &str) -> Option<u32> {
    Some(match w {
        "first" => 1,
        "second" => 2,
        "third" => 3,
        "fourth" => 4,
        "fifth" => 5,
        "sixth" => 6,
        "seventh" => 7,
        "eighth" => 8,
        "ninth" => 9,
        "tenth" => 10,
        "eleventh" => 11,
        "twelfth" => 12,
        "thirteenth" => 13,
        "fourteenth" => 14,
        "fifteenth" => 15,
        "sixteenth" => 16,
        "seventeenth" => 17,
        "eighteenth" => 18,
        "nineteenth" => 19,
        "twentieth" => 20,
        "thirtieth" => 30,
        _ => return None,
    })
}

/// True when `w` is a figure (`42`, `3.5`).
pub fn is_figure(w: &str) -> bool {
    !w.is_empty()
        && w.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && w.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// True when `w` is an English number word of any kind.
pub fn is_en_number_word(w: &str) -> bool {
    en_unit(w).is_some() || en_tens(w).is_some() || en_scale(w).is_some()
}

/// A cardinal number read from the start of `toks` ("one thousand two hundred and five",
/// "twenty one", "a hundred", "3.5", "5 thousand", "two point five"), with the number of tokens
/// used. Stops before a second plain unit ("four two" reads as 4 and leaves "two"), so digit
/// strings are not run together.
pub fn en_cardinal(toks: &[&str]) -> Option<(f64, usize)> {
    let mut total = 0.0f64;
    let mut current = 0.0f64;
    let mut seen = false;
    let mut last: Option<Last> = None;
    let mut i = 0;
    #[derive(PartialEq, Clone, Copy)]
    enum Last {
        Unit,
        Tens,
        Scale,
        Figure,
    }
    while let Some(&w) = toks.get(i) {
        if is_figure(w) {
            if seen {
                break;
            }
            current = w.parse().ok()?;
            seen = true;
            last = Some(Last::Figure);
        } else if let Some(u) = en_unit(w) {
            if matches!(last, Some(Last::Unit) | Some(Last::Figure)) {
                break;
            }
            if last == Some(Last::Tens) && u >= 10 {
                break;
            }
            if (w == "o" || w == "oh") && !seen {
                // "oh" only counts as zero inside digit strings.
                break;
            }
            current += f64::from(u);
            seen = true;
            last = Some(Last::Unit);
        } else if let Some(t) = en_tens(w) {
            if matches!(
                last,
                Some(Last::Unit) | Some(Last::Tens) | Some(Last::Figure)
            ) {
                break;
            }
            current += f64::from(t);
            seen = true;
            last = Some(Last::Tens);
        } else if let Some(s) = en_scale(w) {
            if !seen {
                break;
            }
            if s == 100.0 {
                current = if current == 0.0 {
                    100.0
                } else {
                    current * 100.0
                };
            } else {
                total += if current == 0.0 { s } else { current * s };
                current = 0.0;
            }
            last = Some(Last::Scale);
        } else if (w == "a" || w == "an")
            && !seen
            && toks.get(i + 1).is_some_and(|n| en_scale(n).is_some())
        {
            current = 1.0;
            seen = true;
            last = Some(Last::Unit);
            // Let the scale multiply the "one".
            if let Some(s) = toks.get(i + 1).and_then(|n| en_scale(n)) {
                if s == 100.0 {
                    current = 100.0;
                } else {
                    total += s;
                    current = 0.0;
                }
                last = Some(Last::Scale);
                i += 1;
            }
        } else if w == "and"
            && seen
            && last == Some(Last::Scale)
            && toks.get(i + 1).is_some_and(|n| is_en_number_word(n))
        {
            // "two hundred and five"
        } else if w == "point" && seen {
            let mut frac = String::new();
            let mut j = i + 1;
            while let Some(&n) = toks.get(j) {
                if let Some(u) = en_unit(n).filter(|u| *u < 10) {
                    frac.push(char::from_digit(u, 10).unwrap_or('0'));
                } else if frac.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                {
                    frac.push_str(n);
                } else {
                    break;
                }
                j += 1;
            }
            if frac.is_empty() {
                break;
            }
            let f: f64 = format!("0.{frac}").parse().ok()?;
            return Some((total + current + f, j));
        } else {
            break;
        }
        i += 1;
    }
    seen.then_some((total + current, i))
}

/// Value of a Chinese numeral character used as a digit (`幺` is 1, `两` 2, `〇` 0).
pub fn zh_digit(c: char) -> Option<u32> {
    Some(match c {
        '零' | '〇' | '0' => 0,
        '一' | '幺' | '壹' | '1' => 1,
        '二' | '两' | '贰' | '2' => 2,
        '三' | '叁' | '3' => 3,
        '四' | '肆' | '4' => 4,
        '五' | '伍' | '5' => 5,
        '六' | '陆' | '6' => 6,
        '七' | '柒' | '7' => 7,
        '八' | '捌' | '8' => 8,
        '九' | '玖' | '9' => 9,
        _ => return None,
    })
}

/// Value of a Chinese unit character.
pub fn zh_unit(c: char) -> Option<f64> {
    Some(match c {
        '十' | '拾' => 10.0,
        '百' | '佰' => 100.0,
        '千' | '仟' => 1e3,
        '万' => 1e4,
        '亿' => 1e8,
        _ => return None,
    })
}

/// True for characters that can be part of a Chinese number.
pub fn is_zh_number_char(c: char) -> bool {
    (zh_digit(c).is_some() && !c.is_ascii_digit()) || zh_unit(c).is_some() || c == '点' || c == '负'
}

/// A Chinese number: "四百二十七", "一千零五", "两万", "两万五" (25,000), "三点五", "十二", and
/// plain digit strings "四二七" (427).
pub fn zh_number(s: &str) -> Option<f64> {
    let (neg, s) = match s.strip_prefix('负') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int_part, frac_part) = match s.split_once('点') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let mut value = if int_part.is_empty() && frac_part.is_some() {
        0.0
    } else {
        zh_integer(int_part)?
    };
    if let Some(frac) = frac_part {
        let mut scale = 0.1;
        let mut any = false;
        for c in frac.chars() {
            value += f64::from(zh_digit(c)?) * scale;
            scale /= 10.0;
            any = true;
        }
        if !any {
            return None;
        }
    }
    Some(if neg { -value } else { value })
}

fn zh_integer(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    if s.chars().all(|c| zh_digit(c).is_some()) {
        // A digit string ("四二七", "二〇二六").
        let mut v = 0.0;
        for c in s.chars() {
            v = v * 10.0 + f64::from(zh_digit(c)?);
        }
        return Some(v);
    }
    let mut total = 0.0f64;
    let mut section = 0.0f64;
    let mut digit: Option<u32> = None;
    let mut last_unit = 1.0f64;
    let mut after_zero = false;
    for c in s.chars() {
        if let Some(d) = zh_digit(c) {
            if d == 0 {
                after_zero = true;
                digit = None;
                continue;
            }
            if digit.is_some() {
                return None;
            }
            digit = Some(d);
        } else if let Some(u) = zh_unit(c) {
            let d = f64::from(digit.take().unwrap_or(if u == 10.0 { 1 } else { 0 }));
            if u >= 1e4 {
                section += d;
                if section == 0.0 && total == 0.0 {
                    section = 1.0;
                }
                if u == 1e8 {
                    total = (total + section) * u;
                } else {
                    total += section * u;
                }
                section = 0.0;
            } else {
                if d == 0.0 && u != 10.0 {
                    return None;
                }
                section += d * u;
            }
            last_unit = u;
            after_zero = false;
        } else {
            return None;
        }
    }
    if let Some(d) = digit {
        // "两万五" = 25,000, "一百五" = 150; after 零 or 十 the digit is a plain unit.
        let scale = if !after_zero && last_unit >= 100.0 {
            last_unit / 10.0
        } else {
            1.0
        };
        section += f64::from(d) * scale;
    }
    Some(total + section)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> Option<(f64, usize)> {
        let toks: Vec<&str> = s.split(' ').collect();
        en_cardinal(&toks)
    }

    #[test]
    fn english_cardinals() {
        assert_eq!(card("one thousand two hundred and five"), Some((1205.0, 6)));
        assert_eq!(card("twenty one"), Some((21.0, 2)));
        assert_eq!(card("a hundred"), Some((100.0, 2)));
        assert_eq!(card("four hundred twenty seven"), Some((427.0, 4)));
        assert_eq!(card("two point five"), Some((2.5, 3)));
        assert_eq!(card("5 thousand"), Some((5000.0, 2)));
        assert_eq!(card("four two"), Some((4.0, 1)));
        assert_eq!(
            card("two million three hundred thousand"),
            Some((2_300_000.0, 5))
        );
        assert_eq!(card("dollars"), None);
    }

    #[test]
    fn chinese_numbers() {
        assert_eq!(zh_number("四百二十七"), Some(427.0));
        assert_eq!(zh_number("一千零五"), Some(1005.0));
        assert_eq!(zh_number("两万"), Some(20000.0));
        assert_eq!(zh_number("两万五"), Some(25000.0));
        assert_eq!(zh_number("一百五"), Some(150.0));
        assert_eq!(zh_number("十二"), Some(12.0));
        assert_eq!(zh_number("二十"), Some(20.0));
        assert_eq!(zh_number("四二七"), Some(427.0));
        assert_eq!(zh_number("一亿两千万"), Some(120_000_000.0));
        assert_eq!(zh_number("负五"), Some(-5.0));
        assert!((zh_number("三点五").unwrap() - 3.5).abs() < 1e-9);
        assert_eq!(zh_number("你好"), None);
    }
}
