//! The caller's script: the steps given on the command line, in order, and their audio.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ivr_media::audio::Prompt;
use ivr_speech::tts::{CachedSynthesizer, EspeakSynthesizer, SpeakRequest};

use super::CallError;

/// One thing the caller does when its turn comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Speak this text (synthesised with espeak-ng).
    Say(String),
    /// Press these keys.
    Dtmf(String),
    /// Play this WAV file.
    Wav(PathBuf),
    /// Stay silent this long, listening.
    Wait(Duration),
}

/// A step with its audio ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// 8 kHz samples to send.
    Audio(Vec<i16>),
    /// Keys to press.
    Digits(String),
    /// Silence.
    Wait(Duration),
}

impl Step {
    /// `say`, `dtmf`, `wav` or `wait`.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Say(_) => "say",
            Step::Dtmf(_) => "dtmf",
            Step::Wav(_) => "wav",
            Step::Wait(_) => "wait",
        }
    }

    /// The argument as given.
    pub fn value(&self) -> String {
        match self {
            Step::Say(t) => t.clone(),
            Step::Dtmf(d) => d.clone(),
            Step::Wav(p) => p.display().to_string(),
            Step::Wait(d) => format!("{:.1} s", d.as_secs_f64()),
        }
    }
}

/// Parses `--dtmf` keys: `0`-`9`, `*`, `#`, `A`-`D` (lower case accepted).
pub fn parse_digits(s: &str) -> Result<String, String> {
    let keys: String = s.chars().map(|c| c.to_ascii_uppercase()).collect();
    if keys.is_empty() {
        return Err("give at least one key (0-9, *, #, A-D)".into());
    }
    match keys.chars().find(|c| !ivr_media::dtmf::is_digit(*c)) {
        Some(bad) => Err(format!(
            "`{bad}` is not a telephone key; keys are 0-9, *, #, A-D"
        )),
        None => Ok(keys),
    }
}

/// Parses a duration: seconds (`5`, `1.5`) or with a unit (`500ms`, `2s`, `1m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if (0.0..=86_400.0).contains(&secs) {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("{s}: give seconds between 0 and 86400"));
    }
    humantime::parse_duration(s).map_err(|e| format!("{s}: {e} (write e.g. 5, 1.5, 500ms or 2s)"))
}

/// Renders the `say` steps and loads the `wav` files, before the call is placed.
pub async fn prepare(
    steps: &[Step],
    language: &str,
    voice: Option<&str>,
) -> Result<Vec<Action>, CallError> {
    let needs_tts = steps.iter().any(|s| matches!(s, Step::Say(_)));
    let tts = if needs_tts {
        let engine = EspeakSynthesizer::start(4).map_err(|e| CallError::Tts(e.to_string()))?;
        Some(CachedSynthesizer::new(engine, None))
    } else {
        None
    };
    let mut actions = Vec::with_capacity(steps.len());
    for step in steps {
        actions.push(match step {
            Step::Say(text) => {
                let Some(tts) = &tts else {
                    return Err(CallError::Tts("no synthesizer".into()));
                };
                let req = SpeakRequest {
                    text: text.clone(),
                    language: language.to_string(),
                    voice: voice.map(str::to_string),
                    rate: None,
                };
                let speech = tts
                    .speak(&req)
                    .await
                    .map_err(|e| CallError::Tts(e.to_string()))?;
                Action::Audio(speech.prompt.samples().to_vec())
            }
            Step::Wav(path) => Action::Audio(load_wav(path)?),
            Step::Dtmf(d) => Action::Digits(d.clone()),
            Step::Wait(d) => Action::Wait(*d),
        });
    }
    Ok(actions)
}

fn load_wav(path: &Path) -> Result<Vec<i16>, CallError> {
    Prompt::load(path)
        .map(|p| p.samples().to_vec())
        .map_err(|e| CallError::Wav(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_upper_cased() {
        assert_eq!(parse_digits("12*#a").as_deref(), Ok("12*#A"));
        assert!(parse_digits("12x").unwrap_err().contains("`X`"));
        assert!(parse_digits("").is_err());
    }

    #[test]
    fn durations_take_plain_seconds_or_units() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn a_wav_file_that_does_not_exist_names_its_path() {
        let e = load_wav(Path::new("/nonexistent/greeting.wav")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/greeting.wav"), "{e}");
    }
}
