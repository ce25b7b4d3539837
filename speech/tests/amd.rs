//! Answering-machine detection on real audio: espeak-ng greetings and sox beeps, noise and
//! coughs, through 8 kHz µ-law (see `amd_audio`).
//!
//! * `the_evaluation_set_…` — the 65-call set: accuracy, verdict time, beeps.
//! * the rules on real speech: a cough is not a word, greetings from the very first frame, the
//!   beep's end after a machine verdict, a silent noisy line.
//! * no allocation per frame.
//!
//! Prints the figures: `cargo test -p ivr-speech --test amd -- --nocapture` (and the example
//! `amd_accuracy` for the confusion matrix and the cost per frame).

mod amd_audio;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use amd_audio::{
    active_rms, add_noise, burst, evaluation_set, frames, speak, telephone, Scratch, Truth,
};
use ivr_speech::amd::{Amd, AmdConfig, Reason, ToneEvent, Verdict, VerdictKind};

/// Counts the allocations of the current thread, so that a test can prove a loop allocates
/// nothing while other tests run in parallel.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the counter is a thread-local
// `Cell` that does not allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// The verdict on `samples` with the default tuning.
fn verdict(samples: &[i16]) -> Verdict {
    let mut amd = Amd::new(AmdConfig::default());
    frames(samples)
        .iter()
        .find_map(|f| amd.push(f))
        .expect("the analysis window always ends with a verdict")
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * 8]
}

#[test]
fn the_evaluation_set_is_classified_95_percent_right_with_a_median_verdict_within_2_5_s() {
    let set = evaluation_set();
    assert!(set.len() >= 60, "{} calls", set.len());
    let mut right = 0;
    let mut times = Vec::new();
    let mut misses = Vec::new();
    for sample in &set {
        let mut amd = Amd::new(AmdConfig::default());
        let mut verdict = None;
        for f in sample.frames() {
            if let Some(v) = amd.push(&f) {
                verdict = Some(v);
            }
        }
        let v = verdict.expect("a verdict within the analysis window");
        let expected = match sample.truth {
            Truth::Human => VerdictKind::Human,
            Truth::Machine => VerdictKind::Machine,
        };
        if v.kind == expected {
            right += 1;
        } else {
            misses.push(format!("{:?}/{:?}: {}", v.kind, v.reason, sample.name));
        }
        times.push(v.after);
        // Every machine's beep is heard; no human greeting sounds like one.
        assert_eq!(
            amd.beep_detected(),
            sample.beep_at.is_some(),
            "beep: {}",
            sample.name
        );
    }
    times.sort();
    let median = times[times.len() / 2];
    let accuracy = right as f64 / set.len() as f64;
    println!(
        "{right}/{} right ({:.1} %), median verdict {} ms; misses: {misses:#?}",
        set.len(),
        accuracy * 100.0,
        median.as_millis()
    );
    assert!(accuracy >= 0.95, "accuracy {accuracy:.3}: {misses:#?}");
    assert!(median <= Duration::from_millis(2500), "median {median:?}");
}

#[test]
fn a_cough_is_not_a_word_and_does_not_hide_the_greeting_after_it() {
    let dir = Scratch::new("cough");
    // Noise bursts of every colour and length, with a fast attack and a decay: none is a word.
    for colour in ["pinknoise", "brownnoise", "whitenoise"] {
        for seconds in [0.15, 0.25, 0.4] {
            let mut line = silence(300);
            line.extend(burst(&dir, colour, seconds));
            line.extend(silence(3000));
            let mut amd = Amd::new(AmdConfig::default());
            for f in frames(&telephone(&dir, &line)) {
                amd.push(&f);
            }
            assert_eq!(amd.words(), 0, "{colour} for {seconds} s");
        }
    }
    let cough = burst(&dir, "pinknoise", 0.25);
    // A cough alone: nobody spoke.
    let mut line = silence(300);
    line.extend(&cough);
    line.extend(silence(4000));
    let v = verdict(&telephone(&dir, &line));
    assert_eq!(
        (v.kind, v.reason),
        (VerdictKind::Unknown, Reason::InitialSilence)
    );

    // A cough, half a second, then "Hello?": a person, and the cough does not lengthen the
    // greeting into a machine's.
    let hello = speak(&dir, "en-us", 160, "Hello?");
    let mut line = silence(200);
    line.extend(&cough);
    line.extend(silence(500));
    line.extend(&hello);
    line.extend(silence(3000));
    let v = verdict(&telephone(&dir, &line));
    assert_eq!(
        (v.kind, v.reason),
        (VerdictKind::Human, Reason::ShortGreetingThenSilence)
    );
    let hello_end = Duration::from_millis(200 + 250 + 500) + ms(hello.len());
    assert!(v.after <= hello_end + Duration::from_millis(900), "{v:?}");
}

fn ms(samples: usize) -> Duration {
    Duration::from_millis(samples as u64 / 8)
}

#[test]
fn greetings_that_start_on_the_first_frame_are_judged_all_the_same() {
    let dir = Scratch::new("first");
    let mut machine = speak(
        &dir,
        "en-us",
        170,
        "Hi, you've reached the voicemail of John Smith. Please leave a message after the tone.",
    );
    machine.extend(silence(1000));
    let v = verdict(&telephone(&dir, &machine));
    assert_eq!(
        (v.kind, v.reason),
        (VerdictKind::Machine, Reason::LongGreeting)
    );
    assert!(v.after <= Duration::from_millis(1800), "{v:?}");

    let mut human = speak(&dir, "en-gb", 160, "Hello?");
    let spoken = ms(human.len());
    human.extend(silence(3000));
    let v = verdict(&telephone(&dir, &human));
    assert_eq!(v.kind, VerdictKind::Human, "{v:?}");
    assert!(v.after <= spoken + Duration::from_millis(900), "{v:?}");
}

#[test]
fn after_a_machine_verdict_the_end_of_the_beep_is_reported_within_a_frame() {
    let set = evaluation_set();
    for sample in set.iter().filter(|s| s.truth == Truth::Machine).take(6) {
        let beep_at = sample.beep_at.expect("machines beep");
        let beep_end = ms(beep_at + 4000);
        let mut amd = Amd::new(AmdConfig::default());
        let frames = sample.frames();
        let mut rest = frames.iter();
        let v = rest.by_ref().find_map(|f| amd.push(f)).expect("a verdict");
        assert_eq!(v.kind, VerdictKind::Machine, "{}", sample.name);
        let mut beep = amd.into_beep_detector();
        let end = rest
            .find_map(|f| match beep.push(f) {
                Some(ToneEvent::End { at, duration, .. }) => Some((at, duration)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no beep end: {}", sample.name));
        let late = end.0.abs_diff(beep_end);
        assert!(late <= Duration::from_millis(40), "{end:?} vs {beep_end:?}");
        assert!(end.1 >= Duration::from_millis(440), "{end:?}");
        assert!(beep.beep_ended());
    }
}

#[test]
fn a_silent_answer_on_a_noisy_line_is_unknown() {
    let dir = Scratch::new("noisy");
    let reference = speak(&dir, "en-us", 160, "Hello?");
    let mut line = silence(5000);
    add_noise(&mut line, active_rms(&reference) / 10.0, 42);
    let v = verdict(&telephone(&dir, &line));
    assert_eq!(
        (v.kind, v.reason),
        (VerdictKind::Unknown, Reason::InitialSilence)
    );
    assert_eq!(v.after, Duration::from_millis(2500));
}

#[test]
fn pushing_frames_allocates_nothing() {
    let dir = Scratch::new("alloc");
    let mut line = silence(300);
    line.extend(speak(
        &dir,
        "en-us",
        160,
        "Hello, this is the voicemail of Sarah.",
    ));
    line.extend(silence(1000));
    let mut noisy = line.clone();
    add_noise(&mut noisy, 300.0, 1);
    // The counter sees this thread's allocations.
    let probe = allocations();
    std::hint::black_box(vec![0u8; 64]);
    assert!(allocations() > probe);
    for samples in [line, noisy] {
        let frames = frames(&samples);
        let mut amd = Amd::new(AmdConfig::default());
        let before = allocations();
        let mut verdicts = 0;
        for f in &frames {
            verdicts += usize::from(amd.push(f).is_some());
        }
        assert_eq!(allocations(), before, "allocations while pushing frames");
        assert_eq!(verdicts, 1);
    }
}
