//! Amounts of money: "fifty dollars and twenty cents", "$1,234.50", "€20", "ten bucks",
//! "五十元", "五十块五", "三元五角", "100美元". Without a currency, the plan language's default
//! (USD for en-US, GBP for en-GB, CNY for zh, EUR for euro-area languages).

use super::clean;
use super::number::first_number;
use super::words::{is_zh_number_char, zh_digit, zh_number};

/// The amount and ISO 4217 code in `text`.
pub fn parse(text: &str, language: &str) -> Option<(f64, &'static str)> {
    let cleaned = clean(text);
    if cleaned.chars().any(super::super::normalize::is_han) {
        if let Some(r) = parse_zh(&cleaned) {
            return r
                .0
                .is_finite()
                .then(|| (r.0, r.1.unwrap_or_else(|| default_currency(language))));
        }
    }
    let toks: Vec<&str> = cleaned.split(' ').filter(|t| !t.is_empty()).collect();
    let mut major: Option<f64> = None;
    let mut minor: Option<f64> = None;
    let mut code: Option<&'static str> = None;
    let mut i = 0;
    while i < toks.len() {
        let w = toks[i];
        if let Some(c) = symbol_code(w, language) {
            code = code.or(Some(c));
            i += 1;
            continue;
        }
        if let Some(c) = major_word(w) {
            code = code.or(Some(c));
            i += 1;
            continue;
        }
        match first_number(&toks[i..]) {
            Some((v, 0, n)) => {
                let after = toks.get(i + n).copied().unwrap_or("");
                if let Some(c) = major_word(after) {
                    code = code.or(Some(c));
                    major = major.or(Some(v));
                    i += n + 1;
                } else if is_minor_word(after) {
                    minor = minor.or(Some(v));
                    i += n + 1;
                } else {
                    if major.is_none() {
                        major = Some(v);
                    } else if minor.is_none() && v < 100.0 {
                        minor = Some(v); // "twenty dollars fifty"
                    }
                    i += n;
                }
            }
            _ => i += 1,
        }
    }
    if major.is_none() && minor.is_none() {
        return None;
    }
    let amount = major.unwrap_or(0.0) + minor.unwrap_or(0.0) / 100.0;
    if !amount.is_finite() {
        return None;
    }
    Some((amount, code.unwrap_or_else(|| default_currency(language))))
}

fn symbol_code(w: &str, language: &str) -> Option<&'static str> {
    Some(match w {
        "$" => "USD",
        "€" => "EUR",
        "£" => "GBP",
        "¥" if language.to_ascii_lowercase().starts_with("ja") => "JPY",
        "¥" => "CNY",
        _ => return None,
    })
}

fn major_word(w: &str) -> Option<&'static str> {
    Some(match w {
        "dollar" | "dollars" | "buck" | "bucks" | "usd" => "USD",
        "euro" | "euros" | "eur" => "EUR",
        "pound" | "pounds" | "quid" | "gbp" | "sterling" => "GBP",
        "yuan" | "rmb" | "renminbi" | "cny" | "kuai" => "CNY",
        "yen" | "jpy" => "JPY",
        _ => return None,
    })
}

fn is_minor_word(w: &str) -> bool {
    matches!(w, "cent" | "cents" | "penny" | "pence" | "p")
}

/// The currency of a plan language when the caller names none.
pub fn default_currency(language: &str) -> &'static str {
    let l = language.to_ascii_lowercase();
    if l.starts_with("zh") {
        "CNY"
    } else if l == "en-gb" {
        "GBP"
    } else if l.starts_with("ja") {
        "JPY"
    } else if [
        "de", "fr", "es", "it", "nl", "pt-pt", "fi", "en-ie", "el", "at",
    ]
    .iter()
    .any(|p| l.starts_with(p))
    {
        "EUR"
    } else {
        "USD"
    }
}

const ZH_CURRENCIES: &[(&str, &str)] = &[
    ("人民币", "CNY"),
    ("美元", "USD"),
    ("美金", "USD"),
    ("欧元", "EUR"),
    ("英镑", "GBP"),
    ("日元", "JPY"),
    ("港币", "HKD"),
    ("港元", "HKD"),
];

/// Chinese amounts: number runs followed by 元/块 (major), 角/毛 (tenths), 分 (hundredths); a
/// bare digit after a unit is the next smaller unit ("五十块五" = 50.5).
fn parse_zh(cleaned: &str) -> Option<(f64, Option<&'static str>)> {
    let s: String = cleaned.chars().filter(|c| *c != ' ').collect();
    let chars: Vec<char> = s.chars().collect();
    let mut code: Option<&'static str> = None;
    let mut amount = 0.0;
    let mut any = false;
    let mut last_unit: Option<f64> = None; // value of the last unit used
    let mut run = String::new();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..].iter().collect();
        if let Some((name, c)) = ZH_CURRENCIES.iter().find(|(n, _)| rest.starts_with(n)) {
            code = code.or(Some(c));
            if !run.is_empty() {
                amount += mixed_number(&run)?;
                any = true;
                run.clear();
                last_unit = Some(1.0);
            }
            i += name.chars().count();
            continue;
        }
        let c = chars[i];
        i += 1;
        if is_zh_number_char(c) || c.is_ascii_digit() || c == '.' {
            run.push(c);
            continue;
        }
        if let Some(c2) = match c {
            '$' => Some("USD"),
            '€' => Some("EUR"),
            '£' => Some("GBP"),
            '¥' => Some("CNY"),
            _ => None,
        } {
            code = code.or(Some(c2));
            continue;
        }
        let unit = match c {
            '元' | '块' | '圆' => Some(1.0),
            '角' | '毛' => Some(0.1),
            '分' => Some(0.01),
            _ => None,
        };
        if !run.is_empty() {
            let v = mixed_number(&run)?;
            run.clear();
            if let Some(u) = unit {
                amount += v * u;
                any = true;
                last_unit = Some(u);
                if u == 1.0 {
                    code = code.or(Some("CNY"));
                }
            } else if !any {
                amount += v;
                any = true;
                last_unit = Some(1.0);
            }
        }
    }
    if !run.is_empty() {
        let v = mixed_number(&run)?;
        let scale = match last_unit {
            None => 1.0,
            Some(u) if run.chars().count() == 1 && zh_digit(run.chars().next()?).is_some() => {
                u / 10.0
            }
            Some(_) => return None,
        };
        amount += v * scale;
        any = true;
    }
    any.then_some((amount, code))
}

fn mixed_number(run: &str) -> Option<f64> {
    if run.chars().all(|c| c.is_ascii_digit() || c == '.') {
        run.parse().ok()
    } else {
        zh_number(run)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn p(s: &str) -> Option<(f64, &'static str)> {
        parse(s, "en-US").map(|(a, c)| ((a * 100.0).round() / 100.0, c))
    }

    fn zh(s: &str) -> Option<(f64, &'static str)> {
        parse(s, "zh-CN").map(|(a, c)| ((a * 100.0).round() / 100.0, c))
    }

    #[test]
    fn english_spoken_amounts() {
        assert_eq!(p("fifty dollars and twenty cents"), Some((50.2, "USD")));
        assert_eq!(p("twenty dollars fifty"), Some((20.5, "USD")));
        assert_eq!(p("ten bucks"), Some((10.0, "USD")));
        assert_eq!(p("fifty cents"), Some((0.5, "USD")));
        assert_eq!(p("one hundred and fifty euros"), Some((150.0, "EUR")));
        assert_eq!(p("five pounds"), Some((5.0, "GBP")));
        assert_eq!(p("a thousand yen"), Some((1000.0, "JPY")));
    }

    #[test]
    fn symbols_and_figures() {
        assert_eq!(p("$1,234.50"), Some((1234.5, "USD")));
        assert_eq!(p("€20"), Some((20.0, "EUR")));
        assert_eq!(p("£7.99"), Some((7.99, "GBP")));
        assert_eq!(p("pay 300 please"), Some((300.0, "USD")));
        assert_eq!(parse("12", "en-GB"), Some((12.0, "GBP")));
    }

    #[test]
    fn chinese_amounts() {
        assert_eq!(zh("五十元"), Some((50.0, "CNY")));
        assert_eq!(zh("五十块"), Some((50.0, "CNY")));
        assert_eq!(zh("五十块五"), Some((50.5, "CNY")));
        assert_eq!(zh("三元五角"), Some((3.5, "CNY")));
        assert_eq!(zh("一百二十块五毛三分"), Some((120.53, "CNY")));
        assert_eq!(zh("100美元"), Some((100.0, "USD")));
        assert_eq!(zh("人民币两千"), Some((2000.0, "CNY")));
        assert_eq!(zh("二十欧元"), Some((20.0, "EUR")));
        assert_eq!(zh("￥50"), Some((50.0, "CNY")));
        assert_eq!(zh("五十"), Some((50.0, "CNY")));
    }

    #[test]
    fn no_amount_is_none() {
        assert_eq!(p("dollars"), None);
        assert_eq!(p(""), None);
        assert_eq!(zh("不知道"), None);
    }
}
