//! The pronunciation dictionary (CMUdict format), loaded once and shared by every decoder.
//!
//! Decoders start with an empty dictionary and are given only the words their grammars use
//! (`ps_add_word`), which makes one about ten times faster to create and five times smaller than with
//! the full 134,000-word dictionary (see the `asr` benchmark). This index keeps the
//! file's text as one string plus a sorted table of entry offsets, so looking a word up costs a
//! binary search and no per-entry allocation.

use std::path::Path;

use crate::asr::AsrError;

/// A CMUdict-format dictionary: `word PH1 PH2 ...` per line, alternative pronunciations as
/// `word(2) ...`.
#[derive(Debug)]
pub struct Dictionary {
    text: String,
    /// `(base word start, base word length, phones start, phones length)`, sorted by base word
    /// and then by position in the file (so the main pronunciation comes first).
    entries: Vec<(u32, u16, u32, u16)>,
}

impl Dictionary {
    /// Reads and indexes `path`.
    pub fn load(path: &Path) -> Result<Dictionary, AsrError> {
        let text = std::fs::read_to_string(path).map_err(|e| AsrError::ModelInvalid {
            path: path.to_path_buf(),
            reason: format!("cannot read the dictionary: {e}"),
        })?;
        Dictionary::parse(text).map_err(|reason| AsrError::ModelInvalid {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Indexes dictionary text.
    pub fn parse(text: String) -> Result<Dictionary, String> {
        if text.len() > u32::MAX as usize {
            return Err("the dictionary is larger than 4 GiB".into());
        }
        let mut entries = Vec::with_capacity(text.len() / 24);
        let mut offset = 0usize;
        for line in text.split_inclusive('\n') {
            let start = offset;
            offset += line.len();
            let trimmed = line.trim_end();
            let Some(split) = trimmed.find([' ', '\t']) else {
                continue;
            };
            let word = &trimmed[..split];
            let phones = trimmed[split..].trim_start();
            if word.is_empty() || phones.is_empty() || word.starts_with(";;;") {
                continue;
            }
            let base = match word.find('(') {
                Some(p) if word.ends_with(')') && p > 0 => &word[..p],
                _ => word,
            };
            let phones_start = start + (trimmed.len() - phones.len());
            let (Ok(base_len), Ok(phones_len)) =
                (u16::try_from(base.len()), u16::try_from(phones.len()))
            else {
                continue;
            };
            entries.push((start as u32, base_len, phones_start as u32, phones_len));
        }
        if entries.is_empty() {
            return Err("the dictionary has no entries".into());
        }
        let key = |e: &(u32, u16, u32, u16)| &text[e.0 as usize..e.0 as usize + e.1 as usize];
        entries.sort_by(|a, b| key(a).cmp(key(b)).then(a.0.cmp(&b.0)));
        Ok(Dictionary { text, entries })
    }

    /// The number of pronunciations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the dictionary is empty (never true for a loaded one).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The pronunciations of `word` (lower case), main one first.
    pub fn pronunciations<'a>(&'a self, word: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let first = self.entries.partition_point(|e| self.base(e) < word);
        self.entries[first..]
            .iter()
            .take_while(move |e| self.base(e) == word)
            .map(|e| &self.text[e.2 as usize..e.2 as usize + e.3 as usize])
    }

    /// Whether `word` has a pronunciation.
    pub fn contains(&self, word: &str) -> bool {
        self.pronunciations(word).next().is_some()
    }

    fn base(&self, e: &(u32, u16, u32, u16)) -> &str {
        &self.text[e.0 as usize..e.0 as usize + e.1 as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_pronunciation_of_a_word_main_one_first() {
        let d = Dictionary::parse(
            "a AH\na(2) EY\nab AE B\nread R IY D\nread(2) R EH D\nzoo Z UW\n".into(),
        )
        .unwrap();
        assert_eq!(d.len(), 6);
        assert_eq!(
            d.pronunciations("read").collect::<Vec<_>>(),
            ["R IY D", "R EH D"]
        );
        assert_eq!(d.pronunciations("a").collect::<Vec<_>>(), ["AH", "EY"]);
        assert!(d.contains("zoo"));
        assert!(!d.contains("re"));
        assert!(!d.contains("zzz"));
    }

    #[test]
    fn skips_malformed_lines_and_rejects_an_empty_file() {
        let d = Dictionary::parse("junk\n\n;;; comment X\nok OW K EY\n".into()).unwrap();
        assert_eq!(d.len(), 1);
        assert!(Dictionary::parse("\n\n".into()).is_err());
    }

    #[test]
    fn indexes_the_installed_cmudict() {
        let path = Path::new("/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict");
        let d = Dictionary::load(path).unwrap();
        assert!(d.len() > 100_000);
        assert_eq!(d.pronunciations("balance").next(), Some("B AE L AH N S"));
        assert!(d.contains("what's"));
    }
}
