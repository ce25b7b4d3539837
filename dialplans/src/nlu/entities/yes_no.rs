//! Yes/no answers. Phrases are found by a longest-match scan (so "not really" and "不是" win
//! over "really" and "是"); the answer is their common polarity. Mixed polarities ("yes no",
//! "是不是", "对不起") and explicit doubt ("maybe", "not sure", "不知道") give `None`.

use super::super::normalize::normalize;

/// Phrases that make the whole answer undecided.
const EN_UNSURE: &[&str] = &[
    "maybe",
    "perhaps",
    "not sure",
    "do not know",
    "no idea",
    "not certain",
    "i guess",
    "possibly",
    "what",
];
const ZH_UNSURE: &[&str] = &[
    "不知道",
    "不确定",
    "不清楚",
    "也许",
    "可能",
    "不一定",
    "是不是",
    "对不对",
    "好不好",
    "对不起",
    "行不行",
    "可不可以",
    "吗",
];

/// English phrases and their polarity, longest first where one contains another.
const EN: &[(&str, bool)] = &[
    ("that is not right", false),
    ("that is not correct", false),
    ("i do not think so", false),
    ("not at all", false),
    ("not really", false),
    ("not correct", false),
    ("not right", false),
    ("no thanks", false),
    ("no thank you", false),
    ("of course", true),
    ("go ahead", true),
    ("uh huh", true),
    ("that is right", true),
    ("that is correct", true),
    ("i do", true),
    ("please do", true),
    ("yes", true),
    ("yeah", true),
    ("yep", true),
    ("yup", true),
    ("ya", true),
    ("yea", true),
    ("sure", true),
    ("correct", true),
    ("right", true),
    ("ok", true),
    ("okay", true),
    ("absolutely", true),
    ("definitely", true),
    ("certainly", true),
    ("affirmative", true),
    ("indeed", true),
    ("exactly", true),
    ("no", false),
    ("nope", false),
    ("nah", false),
    ("negative", false),
    ("incorrect", false),
    ("wrong", false),
    ("never", false),
    ("not", false),
];

/// Chinese phrases and their polarity, longest first where one contains another.
const ZH: &[(&str, bool)] = &[
    ("没问题", true),
    ("没错", true),
    ("不错", true),
    ("不是", false),
    ("不对", false),
    ("不要", false),
    ("不行", false),
    ("不用", false),
    ("不好", false),
    ("不可以", false),
    ("不需要", false),
    ("没有", false),
    ("是的", true),
    ("对的", true),
    ("好的", true),
    ("可以", true),
    ("确认", true),
    ("确定", true),
    ("正确", true),
    ("当然", true),
    ("需要", true),
    ("是", true),
    ("对", true),
    ("好", true),
    ("行", true),
    ("嗯", true),
    ("要", true),
    ("否", false),
    ("错", false),
    ("不", false),
    ("没", false),
];

/// `Some(true)` for yes, `Some(false)` for no, `None` when undecided.
pub fn parse(text: &str) -> Option<bool> {
    let n = normalize(text);
    let padded = format!(" {n} ");
    if EN_UNSURE.iter().any(|u| padded.contains(&format!(" {u} ")))
        || ZH_UNSURE.iter().any(|u| n.contains(u))
    {
        return None;
    }
    let mut polarity: Option<bool> = None;
    let mut record = |p: bool| -> bool {
        match polarity {
            Some(q) if q != p => false,
            _ => {
                polarity = Some(p);
                true
            }
        }
    };
    // English: longest phrase at each word position.
    let words: Vec<&str> = n.split(' ').filter(|w| !w.is_empty()).collect();
    let mut i = 0;
    while i < words.len() {
        let found = EN
            .iter()
            .filter_map(|(phrase, p)| {
                let pw: Vec<&str> = phrase.split(' ').collect();
                (words.get(i..i + pw.len()) == Some(&pw[..])).then_some((pw.len(), *p))
            })
            .max_by_key(|(len, _)| *len);
        match found {
            Some((len, p)) => {
                if !record(p) {
                    return None;
                }
                i += len;
            }
            None => i += 1,
        }
    }
    // Chinese: longest phrase at each character position.
    let chars: Vec<char> = n.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !super::super::normalize::is_han(chars[i]) {
            i += 1;
            continue;
        }
        let rest: String = chars[i..].iter().collect();
        match ZH
            .iter()
            .filter(|(p, _)| rest.starts_with(p))
            .max_by_key(|(p, _)| p.chars().count())
        {
            Some((phrase, p)) => {
                if !record(*p) {
                    return None;
                }
                i += phrase.chars().count();
            }
            None => i += 1,
        }
    }
    polarity
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn english_yes() {
        for t in [
            "yes",
            "Yeah.",
            "yep",
            "sure",
            "correct",
            "that's right",
            "yes please",
            "uh huh",
            "of course",
            "okay go ahead",
        ] {
            assert_eq!(parse(t), Some(true), "{t}");
        }
    }

    #[test]
    fn english_no() {
        for t in [
            "no",
            "nope",
            "not really",
            "no thanks",
            "that's not right",
            "wrong",
            "no, that is incorrect",
            "I don't think so",
        ] {
            assert_eq!(parse(t), Some(false), "{t}");
        }
    }

    #[test]
    fn chinese_yes_and_no() {
        for t in ["是", "是的", "对", "好的", "没错", "嗯，对", "可以"] {
            assert_eq!(parse(t), Some(true), "{t}");
        }
        for t in ["不是", "不对", "不", "不是的", "不用了", "没有"] {
            assert_eq!(parse(t), Some(false), "{t}");
        }
    }

    #[test]
    fn ambiguous_answers_are_none() {
        for t in [
            "yes no",
            "maybe",
            "I'm not sure",
            "I don't know",
            "是不是",
            "不知道",
            "对不起",
            "banana",
            "",
            "yes, no wait",
        ] {
            assert_eq!(parse(t), None, "{t}");
        }
    }
}
