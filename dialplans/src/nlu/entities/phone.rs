//! Telephone numbers: 7–15 digits with an optional leading `+`, spoken ("plus one five five
//! five ...", "加八六...") or keyed.

use super::clean;
use super::digits;

/// The phone number in `text`, as `+` (if said or typed first) and digits.
pub fn parse(text: &str) -> Option<String> {
    let cleaned = clean(text);
    let digits = digits::parse(text)?;
    if !(7..=15).contains(&digits.len()) {
        return None;
    }
    // A plus before the first digit: "+", "plus", or "加" at the start of a Chinese number.
    let first_digit_word = cleaned
        .split(' ')
        .position(|w| w.bytes().any(|b| b.is_ascii_digit()) || digits::parse(w).is_some());
    let words: Vec<&str> = cleaned.split(' ').collect();
    let before = &words[..first_digit_word.unwrap_or(0)];
    let plus = before.iter().any(|w| *w == "+" || *w == "plus")
        || words
            .get(first_digit_word.unwrap_or(0))
            .is_some_and(|w| w.starts_with('加'))
        || before.last().is_some_and(|w| w.ends_with('加'));
    Some(if plus { format!("+{digits}") } else { digits })
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn p(s: &str) -> Option<String> {
        parse(s)
    }

    #[test]
    fn keyed_and_written_numbers() {
        assert_eq!(p("5550100").as_deref(), Some("5550100"));
        assert_eq!(p("+15550100").as_deref(), Some("+15550100"));
        assert_eq!(p("(555) 123-4567").as_deref(), Some("5551234567"));
        assert_eq!(p("+86 138 0013 8000").as_deref(), Some("+8613800138000"));
    }

    #[test]
    fn spoken_numbers() {
        assert_eq!(
            p("plus one five five five zero one zero zero").as_deref(),
            Some("+15550100")
        );
        assert_eq!(
            p("five five five oh one hundred").as_deref(),
            Some("5550100")
        );
        assert_eq!(
            p("my number is double five five, one two three four").as_deref(),
            Some("5551234")
        );
        assert_eq!(p("幺三八零零幺三八零零零").as_deref(), Some("13800138000"));
        assert_eq!(
            p("加八六幺三八零零幺三八零零零").as_deref(),
            Some("+8613800138000")
        );
        assert_eq!(
            p("我的电话是一三八零零一三八零零零").as_deref(),
            Some("13800138000")
        );
    }

    #[test]
    fn too_short_or_too_long_is_none() {
        assert_eq!(p("123456"), None);
        assert_eq!(p("1234567890123456"), None);
        assert_eq!(p("no"), None);
    }
}
