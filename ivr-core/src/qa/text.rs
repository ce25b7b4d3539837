//! Phrase matching: without case or punctuation, on word boundaries.

/// Lower case, every run of characters other than letters and digits made one space, trimmed.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else {
            space = true;
        }
    }
    out
}

/// True when `phrase` occurs in `text` (both normalized) and is not part of a longer word.
/// Scripts written without spaces (Chinese) match anywhere.
pub(crate) fn contains_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let first_word = phrase
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let last_word = phrase
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(phrase).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = text[i + m.len()..].chars().next();
        let inside_before = first_word && before.is_some_and(|c| c.is_ascii_alphanumeric());
        let inside_after = last_word && after.is_some_and(|c| c.is_ascii_alphanumeric());
        !inside_before && !inside_after
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_drops_case_and_punctuation() {
        assert_eq!(
            normalize("  Thank you, for CALLING!  "),
            "thank you for calling"
        );
        assert_eq!(normalize("您好，欢迎致电"), "您好 欢迎致电");
        assert_eq!(normalize("?!"), "");
    }

    #[test]
    fn phrases_match_whole_words_only() {
        let t = normalize("Thank you for calling Acme. Have a good day");
        assert!(contains_phrase(&t, &normalize("thank you for calling")));
        assert!(contains_phrase(&t, &normalize("good day")));
        assert!(!contains_phrase(&t, &normalize("good d")));
        assert!(!contains_phrase(&normalize("the class ended"), "ass"));
        assert!(contains_phrase(
            &normalize("您好欢迎致电"),
            &normalize("欢迎")
        ));
    }
}
