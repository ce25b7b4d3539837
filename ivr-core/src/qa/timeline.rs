//! A call laid out in time, in milliseconds from the answer: who spoke when, holds, queue
//! waits.
//!
//! Turns carry only their start. The caller's speech is timed exactly when a `recognized`
//! event (with `spoken_ms` and `wait_ms`) matches the turn; otherwise, and for the IVR and
//! agents, a turn lasts as long as its words take at a conversational pace (150 words a
//! minute, 4 Chinese characters a second). A prompt the caller barged into (`barge_in` event)
//! ends there, and no turn runs past the next turn of the same speaker.

use crate::store::{CallEvent, Cdr, Speaker, Turn};

/// A stretch of speech.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Speech {
    /// Who spoke.
    pub who: Speaker,
    /// Start, ms from the answer.
    pub start: i64,
    /// End, ms from the answer (at least `start`).
    pub end: i64,
}

/// The call in time.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeline {
    /// Speech, by start.
    pub speech: Vec<Speech>,
    /// Holds as (start, end).
    pub holds: Vec<(i64, i64)>,
    /// Queue waits as (start, end).
    pub queue_waits: Vec<(i64, i64)>,
    /// The end of the call (or of the last thing known).
    pub end: i64,
}

/// How far apart a caller turn and its `recognized` event may be to be paired.
const PAIRING_MS: i64 = 1500;

impl Timeline {
    pub(crate) fn build(cdr: &Cdr, turns: &[Turn], events: &[CallEvent]) -> Timeline {
        let base = base_ms(cdr);
        let rel = |e: &CallEvent| e.at_unix_ms - base;

        let last_turn = turns.iter().map(|t| ms(t.at_ms)).max().unwrap_or(0);
        let last_event = events.iter().map(rel).max().unwrap_or(0);
        let end = match cdr.ended_at_unix_ms {
            Some(e) => e - base,
            None => last_turn.max(last_event),
        };

        // (time, speech end, speech length, used)
        let mut recognized: Vec<(i64, i64, i64, bool)> = events
            .iter()
            .filter(|e| e.name == "recognized")
            .filter_map(|e| {
                let wait = e.data.get("wait_ms")?.as_i64()?;
                let spoken = e.data.get("spoken_ms")?.as_i64()?;
                Some((rel(e), rel(e) - wait.max(0), spoken.max(0), false))
            })
            .collect();

        let mut speech: Vec<Speech> = turns
            .iter()
            .map(|t| {
                let at = ms(t.at_ms);
                let length = spoken_length_ms(&t.text);
                if t.who != Speaker::Caller {
                    return Speech {
                        who: t.who,
                        start: at,
                        end: at + length,
                    };
                }
                let pair = recognized
                    .iter_mut()
                    .filter(|r| !r.3 && (r.0 - at).abs() <= PAIRING_MS)
                    .min_by_key(|r| (r.0 - at).abs());
                match pair {
                    Some(r) => {
                        r.3 = true;
                        Speech {
                            who: t.who,
                            start: r.1 - r.2,
                            end: r.1,
                        }
                    }
                    // Stamped when the answer was taken, after it was said.
                    None => Speech {
                        who: t.who,
                        start: at - length,
                        end: at,
                    },
                }
            })
            .collect();

        for e in events.iter().filter(|e| e.name == "barge_in") {
            let t = rel(e);
            for s in speech
                .iter_mut()
                .filter(|s| s.who == Speaker::Ivr && s.start <= t && t < s.end)
            {
                s.end = t;
            }
        }
        speech.sort_by_key(|s| (s.start, s.end));
        for i in 0..speech.len() {
            let who = speech[i].who;
            let next = speech[i + 1..]
                .iter()
                .find(|s| s.who == who)
                .map(|s| s.start);
            if let Some(next) = next {
                speech[i].end = speech[i].end.min(next);
            }
            speech[i].end = speech[i].end.max(speech[i].start);
        }

        let mut holds = Vec::new();
        let mut open: Option<i64> = None;
        let mut ordered: Vec<&CallEvent> = events.iter().collect();
        ordered.sort_by_key(|e| e.at_unix_ms);
        for e in &ordered {
            match e.name.as_str() {
                "hold" if open.is_none() => open = Some(rel(e)),
                "unhold" | "resume" => {
                    if let Some(start) = open.take() {
                        holds.push((start, rel(e)));
                    }
                }
                _ => {}
            }
        }
        if let Some(start) = open {
            holds.push((start, end.max(start)));
        }

        let wait = i64::try_from(cdr.wait_ms).unwrap_or(i64::MAX);
        let queue_waits = ordered
            .iter()
            .find(|e| e.name == "enqueued")
            .filter(|_| wait > 0)
            .map(|e| (rel(e), rel(e).saturating_add(wait)))
            .into_iter()
            .collect();

        Timeline {
            speech,
            holds,
            queue_waits,
            end,
        }
    }
}

/// The instant call times count from: the answer, or the start when never answered.
pub(crate) fn base_ms(cdr: &Cdr) -> i64 {
    cdr.answered_at_unix_ms.unwrap_or(cdr.started_at_unix_ms)
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// How long saying `text` takes: 400 ms a word, 250 ms a Chinese character, at least 300 ms.
pub(crate) fn spoken_length_ms(text: &str) -> i64 {
    let mut total = 0i64;
    for word in text.split_whitespace() {
        let wide = word.chars().filter(|c| is_wide(*c)).count() as i64;
        let narrow = word.chars().any(|c| c.is_alphanumeric() && !is_wide(c));
        total += wide * 250 + if narrow { 400 } else { 0 };
    }
    total.max(300)
}

/// Characters of scripts written without spaces between words.
fn is_wide(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}')
}

/// Total length of `a` ∩ (the union of `spans`).
pub(crate) fn overlap(a: (i64, i64), spans: &[(i64, i64)]) -> i64 {
    let mut covered: Vec<(i64, i64)> = spans
        .iter()
        .map(|&(s, e)| (s.max(a.0), e.min(a.1)))
        .filter(|(s, e)| s < e)
        .collect();
    covered.sort_unstable();
    union_length(&covered)
}

/// Total length of the union of sorted-by-start spans.
pub(crate) fn union_length(sorted: &[(i64, i64)]) -> i64 {
    let mut total = 0;
    let mut cur: Option<(i64, i64)> = None;
    for &(s, e) in sorted {
        match cur {
            Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                cur = Some((s, e));
            }
            None => cur = Some((s, e)),
        }
    }
    total + cur.map_or(0, |(s, e)| e - s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_length_counts_words_and_chinese_characters() {
        assert_eq!(spoken_length_ms("thank you for calling"), 1600);
        assert_eq!(spoken_length_ms("您好欢迎"), 1000);
        assert_eq!(spoken_length_ms(""), 300);
    }

    #[test]
    fn overlap_counts_covered_time_once() {
        assert_eq!(overlap((0, 100), &[(10, 30), (20, 40), (90, 200)]), 40);
        assert_eq!(overlap((0, 100), &[]), 0);
        assert_eq!(union_length(&[(0, 10), (5, 20), (30, 40)]), 30);
    }
}
