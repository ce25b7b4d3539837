//! Fuzzy word matching for recogniser misspellings (`ballance`, `apointment`, `cart` for
//! `card`), by the symmetric-delete method: every vocabulary word is indexed under the hashes of
//! itself with up to one (words of 7+ characters: two) characters deleted; a query word looks up
//! its own delete variants, and each candidate found is checked with a bounded optimal-string-
//! alignment distance. A lookup costs a few dozen hash probes, not a scan of the vocabulary.

use super::tokenize::{Fnv, TokenKind};

/// Longest word (in characters) that takes part in fuzzy matching.
pub const MAX_FUZZY_CHARS: usize = 24;
/// Shortest word (in characters) that takes part in fuzzy matching.
pub const MIN_FUZZY_CHARS: usize = 4;

/// Edits allowed between two words, decided by the shorter one: 1 from 4 characters, 2 from 7.
pub fn allowed_edits(shorter_len: usize) -> usize {
    match shorter_len {
        0..MIN_FUZZY_CHARS => 0,
        MIN_FUZZY_CHARS..=6 => 1,
        _ => 2,
    }
}

/// Calls `f` with the hash of `word` and of every variant with up to `max_deletes` characters
/// removed (duplicates included).
pub fn for_each_delete(word: &[char], max_deletes: usize, mut f: impl FnMut(u64)) {
    f(hash_skipping(word, usize::MAX, usize::MAX));
    if max_deletes >= 1 {
        for i in 0..word.len() {
            f(hash_skipping(word, i, usize::MAX));
            if max_deletes >= 2 {
                for j in i + 1..word.len() {
                    f(hash_skipping(word, i, j));
                }
            }
        }
    }
}

fn hash_skipping(word: &[char], i: usize, j: usize) -> u64 {
    let mut h = Fnv::new(TokenKind::Word);
    for (k, &c) in word.iter().enumerate() {
        if k != i && k != j {
            h.write_char(c);
        }
    }
    h.finish()
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions) between `a` and
/// `b`, or `None` when it exceeds `max` or a word is longer than [`MAX_FUZZY_CHARS`].
pub fn osa_distance(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len() > MAX_FUZZY_CHARS || b.len() > MAX_FUZZY_CHARS || a.len().abs_diff(b.len()) > max {
        return None;
    }
    const W: usize = MAX_FUZZY_CHARS + 1;
    let mut prev2 = [0usize; W];
    let mut prev: [usize; W] = std::array::from_fn(|j| j);
    let mut cur = [0usize; W];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        prev2 = prev;
        prev = cur;
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    fn dist(a: &str, b: &str) -> Option<usize> {
        osa_distance(&chars(a), &chars(b), 2)
    }

    #[test]
    fn distance_counts_substitutions_insertions_deletions_and_transpositions() {
        assert_eq!(dist("card", "card"), Some(0));
        assert_eq!(dist("card", "cart"), Some(1));
        assert_eq!(dist("balance", "ballance"), Some(1));
        assert_eq!(dist("appointment", "apointment"), Some(1));
        assert_eq!(dist("receive", "recieve"), Some(1));
        assert_eq!(dist("appointment", "apoitment"), Some(2));
        assert_eq!(dist("schedule", "shedual"), None);
        assert_eq!(dist("banana", "balance"), None);
    }

    #[test]
    fn distance_handles_empty_and_overlong_words() {
        assert_eq!(dist("", "ab"), Some(2));
        assert_eq!(dist("", ""), Some(0));
        let long = "a".repeat(MAX_FUZZY_CHARS + 1);
        assert_eq!(dist(&long, &long), None);
    }

    #[test]
    fn words_within_the_allowed_edits_share_a_delete_variant() {
        for (a, b) in [
            ("balance", "ballance"),
            ("recieve", "receive"),
            ("card", "cart"),
            ("shedule", "schedul"),
        ] {
            let (a, b) = (chars(a), chars(b));
            let mut va = Vec::new();
            for_each_delete(&a, allowed_edits(a.len()), |h| va.push(h));
            let mut shared = false;
            for_each_delete(&b, allowed_edits(b.len()), |h| shared |= va.contains(&h));
            assert!(shared);
        }
    }

    #[test]
    fn short_words_are_never_fuzzy() {
        assert_eq!(allowed_edits(3), 0);
        assert_eq!(allowed_edits(4), 1);
        assert_eq!(allowed_edits(7), 2);
    }
}
