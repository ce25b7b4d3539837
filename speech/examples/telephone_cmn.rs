//! Measures the initial cepstral mean for telephone audio ([`TELEPHONE_CMN`]): the mean the
//! library's live cepstral-mean normalisation settles on over telephone-quality speech
//! (espeak-ng through 8 kHz µ-law, four voices at two speeds, with the engine's noise floor),
//! read from the library's log. The sentences are none of the accuracy test's.
//!
//! ```text
//! cargo run -p ivr-speech --release --example telephone_cmn
//! cargo run -p ivr-speech --release --example telephone_cmn -- --no-noise-floor
//! ```

#[path = "../tests/asr_audio/mod.rs"]
mod asr_audio;

use asr_audio::{bank_grammars, frames_16k, telephone, GB_140, GB_170, US_140, US_170};
use ivr_speech::asr::Recognizer;
use ivr_speech::pocketsphinx::{PocketSphinx, PocketSphinxConfig, TELEPHONE_CMN};

const SENTENCES: &[&str] = &[
    "good morning I am calling about the letter you sent me",
    "the weather was lovely over the weekend",
    "my name is john and I live in the city",
    "could you send the form to my email address",
    "the meeting starts at three in the afternoon",
    "we bought a new kitchen table last month",
    "thank you very much for your patience",
    "the train was late again this morning",
    "she will bring the documents on friday",
    "there are seven people waiting outside",
    "I would rather pay by cheque if possible",
    "the children are playing in the garden",
];

fn main() -> Result<(), String> {
    let noise_floor = !std::env::args().any(|a| a == "--no-noise-floor");
    let log = std::env::temp_dir().join(format!("ivr-cmn-{}.log", std::process::id()));
    let engine = PocketSphinx::open(PocketSphinxConfig {
        extra_args: vec![("-logfn".into(), log.display().to_string())],
        // One decoder: its mean carries over from one utterance to the next.
        max_idle_decoders: 1,
        noise_floor_dbfs: PocketSphinxConfig::default()
            .noise_floor_dbfs
            .filter(|_| noise_floor),
        ..PocketSphinxConfig::default()
    })
    .map_err(|e| format!("cannot open PocketSphinx: {e}"))?;
    let (grammar, _) = bank_grammars();
    let mut utterances = 0;
    for voice in [US_140, US_170, GB_140, GB_170] {
        for said in SENTENCES {
            let fail = |e: ivr_speech::asr::AsrError| format!("{said:?} in {}: {e}", voice.name);
            let mut stream = engine.open(&grammar).map_err(fail)?;
            for f in frames_16k(&telephone(said, voice)) {
                stream.push(&f).map_err(fail)?;
            }
            stream.finish().map_err(fail)?;
            utterances += 1;
        }
    }
    drop(engine);
    let text = std::fs::read_to_string(&log)
        .map_err(|e| format!("cannot read the library's log {}: {e}", log.display()))?;
    let _ = std::fs::remove_file(&log);
    // "cmn_live.c(138): Update to   < 60.93 -5.76 ... >": the mean after an utterance.
    let updates: Vec<Vec<f64>> = text
        .lines()
        .filter(|l| l.contains("cmn_live") && l.contains("Update to"))
        .filter_map(|l| {
            let inside = l.split('<').nth(1)?.split('>').next()?;
            let v: Vec<f64> = inside
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 13).then_some(v)
        })
        .collect();
    if updates.is_empty() {
        return Err("no cepstral mean in the library's log".into());
    }
    // The mean over the second half: by then the estimate no longer remembers the start value.
    let settled = &updates[updates.len() / 2..];
    let mean: Vec<String> = (0..13)
        .map(|i| {
            let m = settled.iter().map(|v| v[i]).sum::<f64>() / settled.len() as f64;
            format!("{m:.2}")
        })
        .collect();
    println!(
        "{utterances} utterances, {} updates of the mean",
        updates.len()
    );
    println!("measured:  {}", mean.join(","));
    println!("in use:    {TELEPHONE_CMN}");
    Ok(())
}
