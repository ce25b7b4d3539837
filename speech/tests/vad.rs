//! The detectors on real speech: espeak-ng renders it, sox resamples it to 8 kHz, trims and pads
//! it with silence and makes the noise and the cough-like burst; the boundaries are known from
//! the padding.
//!
//! * `endpointer` — boundaries in clean and noisy speech, nothing in silence, noise or a burst,
//!   the pre-roll holds the onset.
//! * `barge_in` — speech over a prompt fires, the prompt's own echo (10–20 dB down, 40–80 ms
//!   late, with noise) does not, speech over that echo does.

use std::path::{Path, PathBuf};
use std::process::Command;

use ivr_media::audio::Frame8k;

/// A scratch directory for this test process and thread.
fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ivr-vad-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .expect("espeak-ng and sox are installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_wav(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).unwrap();
    assert_eq!(r.spec().sample_rate, 8000);
    assert_eq!(r.spec().channels, 1);
    r.samples::<i16>().map(Result::unwrap).collect()
}

/// `text` spoken by espeak-ng with extra `args`, at 8 kHz, its own leading and trailing silence
/// trimmed by sox, then padded with `before` and `after` seconds of digital silence.
fn speech(voice: &str, args: &[&str], text: &str, before: f32, after: f32) -> Vec<i16> {
    let dir = scratch();
    let raw = dir.join("raw.wav");
    let out = dir.join("speech.wav");
    run(Command::new("espeak-ng")
        .args(["-v", voice])
        .args(args)
        .arg("-w")
        .arg(&raw)
        .arg(text));
    run(Command::new("sox")
        .arg("-D")
        .arg(&raw)
        .args(["-r", "8000", "-b", "16"])
        .arg(&out)
        .args([
            "silence",
            "1",
            "0.005",
            "-45d",
            "reverse",
            "silence",
            "1",
            "0.005",
            "-45d",
            "reverse",
            "pad",
            &before.to_string(),
            &after.to_string(),
        ]));
    let s = read_wav(&out);
    std::fs::remove_dir_all(dir).unwrap();
    s
}

/// `seconds` of white noise from sox, scaled to `dbov` RMS.
fn white_noise(seconds: f32, dbov: f64) -> Vec<i16> {
    let dir = scratch();
    let out = dir.join("noise.wav");
    run(Command::new("sox")
        .args(["-R", "-D", "-n", "-r", "8000", "-b", "16", "-c", "1"])
        .arg(&out)
        .args(["synth", &seconds.to_string(), "whitenoise", "vol", "0.3"]));
    let n = read_wav(&out);
    std::fs::remove_dir_all(dir).unwrap();
    scale_to(&n, dbov)
}

/// A 100 ms cough-like burst (pink noise with a fast attack and a decay), loud.
fn burst() -> Vec<i16> {
    let dir = scratch();
    let out = dir.join("burst.wav");
    run(Command::new("sox")
        .args(["-R", "-D", "-n", "-r", "8000", "-b", "16", "-c", "1"])
        .arg(&out)
        .args([
            "synth",
            "0.1",
            "pinknoise",
            "fade",
            "q",
            "0.005",
            "0.1",
            "0.06",
            "vol",
            "0.7",
        ]));
    let b = read_wav(&out);
    std::fs::remove_dir_all(dir).unwrap();
    b
}

fn rms_dbov(x: &[i16]) -> f64 {
    let e = x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * (e / (32768.0f64 * 32768.0)).log10()
}

fn scale_to(x: &[i16], dbov: f64) -> Vec<i16> {
    let g = 10f64.powf((dbov - rms_dbov(x)) / 20.0);
    scale(x, g)
}

fn scale(x: &[i16], gain: f64) -> Vec<i16> {
    x.iter()
        .map(|&s| (f64::from(s) * gain).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// `a + b`, sample by sample, as long as the longer one.
fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
    (0..a.len().max(b.len()))
        .map(|i| {
            let x = i32::from(a.get(i).copied().unwrap_or(0));
            let y = i32::from(b.get(i).copied().unwrap_or(0));
            (x + y).clamp(-32768, 32767) as i16
        })
        .collect()
}

/// `x` delayed by `ms` milliseconds and attenuated by `loss_db`: the prompt's echo.
fn echo_of(x: &[i16], ms: usize, loss_db: f64) -> Vec<i16> {
    let mut out = vec![0i16; ms * 8];
    out.extend(scale(x, 10f64.powf(-loss_db / 20.0)));
    out.truncate(x.len());
    out
}

fn frames(x: &[i16]) -> Vec<Frame8k> {
    x.chunks(160).map(Frame8k::from_slice_padded).collect()
}

/// The RMS level of the speech itself (the non-silent part).
fn active_level(x: &[i16]) -> f64 {
    let start = x.iter().position(|&s| s != 0).unwrap();
    let end = x.iter().rposition(|&s| s != 0).unwrap();
    rms_dbov(&x[start..=end])
}

mod endpointer {
    use super::*;
    use ivr_speech::vad::{EndReason, EndpointEvent, Endpointer, EndpointerConfig};

    const TEXT: &str = "I would like to check the balance of my account, please.";

    fn events(x: &[i16]) -> Vec<(u64, EndpointEvent)> {
        let mut ep = Endpointer::new(EndpointerConfig::default());
        frames(x)
            .iter()
            .enumerate()
            .filter_map(|(i, f)| ep.push(f).map(|e| (i as u64, e)))
            .collect()
    }

    /// The one utterance found in `x`: (onset frame, last speech frame), checked for shape.
    fn one_utterance(x: &[i16]) -> (u64, u64) {
        let ev = events(x);
        assert_eq!(ev.len(), 2, "{ev:?}");
        let (at_start, EndpointEvent::SpeechStart { onset_frame }) = ev[0] else {
            panic!("{ev:?}");
        };
        let (
            at_end,
            EndpointEvent::SpeechEnd {
                onset_frame: o2,
                last_speech_frame,
                reason: EndReason::Silence,
            },
        ) = ev[1]
        else {
            panic!("{ev:?}");
        };
        assert_eq!(o2, onset_frame);
        assert_eq!(at_start, onset_frame + 9, "start is reported 200 ms in");
        assert_eq!(
            at_end,
            last_speech_frame + 30,
            "end is reported 600 ms after"
        );
        (onset_frame, last_speech_frame)
    }

    /// True boundaries: the speech is padded with 1 s before and 1.5 s after.
    fn truth(x: &[i16]) -> (u64, u64) {
        let first = x.iter().position(|&s| s != 0).unwrap() as u64 / 160;
        let last = x.iter().rposition(|&s| s != 0).unwrap() as u64 / 160;
        (first, last)
    }

    #[test]
    fn finds_clean_speech_boundaries_within_two_frames() {
        let x = speech("en-us", &[], TEXT, 1.0, 1.5);
        let (on, last) = one_utterance(&x);
        let (t_on, t_last) = truth(&x);
        eprintln!("clean: found {on}..{last}, true {t_on}..{t_last}");
        assert!(on.abs_diff(t_on) <= 2, "onset {on} vs {t_on}");
        assert!(last.abs_diff(t_last) <= 2, "end {last} vs {t_last}");
    }

    #[test]
    fn finds_speech_boundaries_in_white_noise_at_20_db_snr() {
        let clean = speech("en-us", &[], TEXT, 1.0, 1.5);
        let noise = white_noise(clean.len() as f32 / 8000.0, active_level(&clean) - 20.0);
        let x = mix(&clean, &noise);
        let (on, last) = one_utterance(&x);
        let (t_on, t_last) = truth(&clean);
        eprintln!("20 dB SNR: found {on}..{last}, true {t_on}..{t_last}");
        assert!(on.abs_diff(t_on) <= 2, "onset {on} vs {t_on}");
        assert!(last.abs_diff(t_last) <= 2, "end {last} vs {t_last}");
    }

    #[test]
    fn finds_chinese_speech_boundaries() {
        let x = speech("cmn", &[], "我想查询一下我的账户余额。", 0.8, 1.2);
        let (on, last) = one_utterance(&x);
        let (t_on, t_last) = truth(&x);
        assert!(on.abs_diff(t_on) <= 2, "onset {on} vs {t_on}");
        assert!(last.abs_diff(t_last) <= 2, "end {last} vs {t_last}");
    }

    #[test]
    fn finds_nothing_in_silence_or_in_noise_alone() {
        assert!(events(&vec![0i16; 8000 * 5]).is_empty());
        let clean = speech("en-us", &[], TEXT, 0.0, 0.0);
        let noise = white_noise(8.0, active_level(&clean) - 20.0);
        assert!(events(&noise).is_empty());
    }

    #[test]
    fn a_cough_like_burst_is_not_speech() {
        // As loud as loud speech.
        let b = scale_to(&burst(), -15.0);
        let mut x = vec![0i16; 8000];
        x.extend(&b);
        x.extend(vec![0i16; 8000 * 2]);
        assert!(events(&x).is_empty(), "in silence");

        let clean = speech("en-us", &[], TEXT, 0.0, 0.0);
        let noise = white_noise(x.len() as f32 / 8000.0, active_level(&clean) - 20.0);
        assert!(events(&mix(&x, &noise)).is_empty(), "in noise");
    }

    #[test]
    fn the_pre_roll_holds_the_onset_and_what_precedes_it() {
        let x = speech("en-us", &[], TEXT, 1.0, 1.0);
        let all = frames(&x);
        let mut ep = Endpointer::new(EndpointerConfig::default());
        for (i, f) in all.iter().enumerate() {
            if let Some(EndpointEvent::SpeechStart { onset_frame }) = ep.push(f) {
                let pre: Vec<Frame8k> = ep.pre_roll().copied().collect();
                assert_eq!(pre.len(), 15);
                // Oldest first, ending with the frame just pushed.
                assert_eq!(pre[..], all[i + 1 - 15..=i]);
                let onset = onset_frame as usize;
                assert!(i + 1 - 15 < onset, "frames before the onset are kept too");
                assert!(
                    pre.iter().any(|p| *p == all[onset]),
                    "the onset frame is in the pre-roll"
                );
                assert!(pre[0].is_silent(), "the pre-roll starts in the silence");
                return;
            }
        }
        panic!("no speech start");
    }
}

mod barge_in {
    use super::*;
    use ivr_speech::vad::BargeIn;

    const PROMPT: &str = "Welcome to the bank. For your balance, press one or say balance. \
                          For a transfer, press two or say transfer.";
    const CALLER: &str = "I want to speak to an agent right now.";

    /// Pushes `caller` with `prompt` playing throughout; the frames where barge-in fired.
    fn fired(caller: &[i16], prompt: &[i16]) -> Vec<usize> {
        fired_with(&mut BargeIn::default(), caller, prompt)
    }

    fn fired_with(b: &mut BargeIn, caller: &[i16], prompt: &[i16]) -> Vec<usize> {
        let p = frames(prompt);
        frames(caller)
            .iter()
            .enumerate()
            .filter_map(|(i, c)| b.push(c, p.get(i)).then_some(i))
            .collect()
    }

    fn prompt() -> Vec<i16> {
        speech("en-us", &[], PROMPT, 0.0, 0.0)
    }

    #[test]
    fn the_prompts_own_echo_does_not_interrupt_it_and_its_path_is_learnt() {
        let p = prompt();
        for loss_db in [10.0, 15.0, 20.0] {
            for delay_ms in [40, 60, 80] {
                for noisy in [false, true] {
                    let mut echo = echo_of(&p, delay_ms, loss_db);
                    if noisy {
                        echo = mix(&echo, &white_noise(p.len() as f32 / 8000.0, -50.0));
                    }
                    let case = format!("echo {loss_db} dB down, {delay_ms} ms late, noise {noisy}");
                    let mut b = BargeIn::default();
                    assert_eq!(fired_with(&mut b, &echo, &p), Vec::<usize>::new(), "{case}");
                    let delay = b.echo_delay_frames().expect("delay learnt") as i64 * 20;
                    assert!(
                        delay.abs_diff(delay_ms as i64) <= 20,
                        "{case}: delay {delay} ms"
                    );
                    let gain = f64::from(b.echo_gain_db());
                    assert!((gain + loss_db).abs() < 3.0, "{case}: gain {gain} dB");
                }
            }
        }
    }

    /// Caller speech from 1.5 s into the prompt, at `level_db` relative to the prompt, over the
    /// echo: barge-in fires once, within 40 ms of the tenth frame of speech.
    fn fires_on_speech_over(echo_loss_db: f64, delay_ms: usize, level_db: f64, noise: bool) {
        let p = prompt();
        let onset_s = 1.5;
        let talk = speech("en-us", &[], CALLER, onset_s, 0.0);
        let talk = scale(&talk, 10f64.powf(level_db / 20.0));
        let mut caller = mix(&echo_of(&p, delay_ms, echo_loss_db), &talk);
        caller.truncate(p.len());
        if noise {
            caller = mix(&caller, &white_noise(p.len() as f32 / 8000.0, -50.0));
        }
        let onset = talk.iter().position(|&s| s != 0).unwrap() / 160;
        let got = fired(&caller, &p);
        eprintln!("speech over echo {echo_loss_db} dB/{delay_ms} ms at {level_db} dB: onset {onset}, fired {got:?}");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            (onset + 9..=onset + 11).contains(&got[0]),
            "onset {onset}, fired {got:?}"
        );
    }

    #[test]
    fn speech_over_a_prompt_without_echo_fires() {
        let p = prompt();
        let talk = speech("en-us", &[], CALLER, 1.5, 0.0);
        let onset = talk.iter().position(|&s| s != 0).unwrap() / 160;
        let got = fired(&talk, &p);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            (onset + 9..=onset + 11).contains(&got[0]),
            "onset {onset}, fired {got:?}"
        );
    }

    #[test]
    fn speech_over_the_echo_fires_double_talk() {
        fires_on_speech_over(10.0, 60, 0.0, false);
        fires_on_speech_over(15.0, 40, 0.0, true);
        fires_on_speech_over(20.0, 80, -6.0, true);
    }

    #[test]
    fn nothing_fires_once_the_prompt_has_stopped() {
        let talk = speech("en-us", &[], CALLER, 0.5, 0.0);
        let mut b = BargeIn::default();
        assert!(frames(&talk).iter().all(|c| !b.push(c, None)));
    }
}

mod prosody {
    use super::*;
    use ivr_speech::sentiment::{score, Polarity, Prosody, ProsodyTracker};

    fn prosody_of(x: &[i16]) -> Prosody {
        let mut t = ProsodyTracker::new();
        for f in frames(x) {
            t.push(&f);
        }
        t.prosody()
    }

    const CALM: &[&str] = &["-a", "60", "-s", "140", "-p", "40"];
    const AGITATED: &[&str] = &["-a", "200", "-s", "220", "-p", "80"];

    #[test]
    fn espeak_pitch_and_rate_are_plausible() {
        let p = prosody_of(&speech(
            "en-us",
            CALM,
            "I would like to check the balance of my account, please.",
            0.2,
            0.2,
        ));
        eprintln!("calm: {p:?} arousal {}", p.arousal());
        assert!((70.0..200.0).contains(&p.pitch_mean_hz), "{p:?}");
        assert!(p.voiced_frames * 2 > p.active_frames, "{p:?}");
        assert!((2.0..7.0).contains(&p.speaking_rate), "{p:?}");
    }

    #[test]
    fn a_loud_fast_voice_makes_the_same_complaint_more_negative() {
        for (voice, text, lang, min_gain) in [
            ("en-us", "I am not happy with this service.", "en", 0.05),
            (
                "en-us",
                "This is ridiculous, your service is completely useless.",
                "en",
                0.0,
            ),
            ("cmn", "我对这个服务不太满意。", "zh", 0.05),
            ("cmn", "我要投诉，你们的服务太差了，简直是垃圾。", "zh", 0.0),
        ] {
            let calm = prosody_of(&speech(voice, CALM, text, 0.2, 0.2));
            let loud = prosody_of(&speech(voice, AGITATED, text, 0.2, 0.2));
            let case = format!("{voice} {text}: calm {calm:?}, loud {loud:?}");
            assert!(
                loud.energy_mean_dbov > calm.energy_mean_dbov + 6.0,
                "{case}"
            );
            assert!(loud.pitch_mean_hz > calm.pitch_mean_hz + 20.0, "{case}");
            assert!(loud.speaking_rate > calm.speaking_rate, "{case}");
            assert!(loud.arousal() > calm.arousal() + 0.2, "{case}");
            let s_calm = score(text, lang, Some(&calm));
            let s_loud = score(text, lang, Some(&loud));
            eprintln!("{text}: calm {s_calm:?} loud {s_loud:?}");
            assert_eq!(s_calm.polarity(), Polarity::Negative, "{case}");
            assert!(
                s_loud.score < s_calm.score - min_gain,
                "{s_calm:?} {s_loud:?}"
            );
        }
    }
}
