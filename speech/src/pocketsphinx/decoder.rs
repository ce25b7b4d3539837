//! A safe wrapper around one `ps_decoder_t`.
//!
//! A decoder is used by one thread at a time (it moves between threads with the stream that
//! holds it), and each owns its acoustic model, dictionary and searches, so nothing is shared
//! between decoders on the C side except the library's logging, silenced once per process.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Once;

use super::fast_ptm::SharedModel;
use super::ffi;
use crate::asr::AsrError;

/// One recognised segment: word (with any `(2)` variant marker), frames, acoustic and language
/// scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The word as the decoder reports it (`<sil>`, `what's(2)`, ...).
    pub word: String,
    /// First frame (10 ms frames).
    pub start_frame: i32,
    /// Last frame.
    pub end_frame: i32,
    /// Log posterior probability of the word (logmath units).
    pub prob: i32,
}

/// An initialised decoder.
pub struct Decoder {
    ps: NonNull<ffi::Decoder>,
}

// SAFETY: a ps_decoder_t holds no thread-local state and no pointers into other decoders; every
// method takes `&mut self`, so only one thread uses it at a time.
unsafe impl Send for Decoder {}

static SILENCE_LOG: Once = Once::new();

fn cstring(s: &str) -> Result<CString, AsrError> {
    CString::new(s).map_err(|_| AsrError::Engine(format!("`{s}` contains a NUL byte")))
}

fn path_cstring(p: &Path) -> Result<CString, AsrError> {
    let s = p.to_str().ok_or_else(|| AsrError::ModelInvalid {
        path: p.to_path_buf(),
        reason: "the path is not valid UTF-8".into(),
    })?;
    cstring(s)
}

impl Decoder {
    /// Creates a decoder from command-line style `args` (`["-hmm", dir, "-dict", file, ...]`),
    /// with the SIMD acoustic scorer (sharing `scoring`'s model) when given and the model allows.
    pub fn new(
        args: &[(&str, String)],
        scoring: Option<&SharedModel>,
    ) -> Result<Decoder, AsrError> {
        SILENCE_LOG.call_once(|| {
            // SAFETY: a null stream disables sphinxbase's log output; called before any other
            // library call of this process (this is the only place decoders are created).
            unsafe { ffi::err_set_logfp(std::ptr::null_mut()) };
        });
        let mut owned = Vec::with_capacity(args.len() * 2);
        for (k, v) in args {
            owned.push(cstring(k)?);
            owned.push(cstring(v)?);
        }
        let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        // SAFETY: argv points at NUL-terminated strings that outlive the call; cmd_ln_parse_r
        // copies what it keeps and does not write through the pointers. ps_args() is a static
        // table.
        let config = unsafe {
            ffi::cmd_ln_parse_r(
                std::ptr::null_mut(),
                ffi::ps_args(),
                argv.len() as i32,
                argv.as_mut_ptr(),
                1,
            )
        };
        if config.is_null() {
            return Err(AsrError::Engine(
                "PocketSphinx rejected its configuration".into(),
            ));
        }
        // SAFETY: config is a valid cmd_ln_t; ps_init takes its own reference, so ours is
        // released right after.
        let ps = unsafe {
            let ps = ffi::ps_init(config);
            ffi::cmd_ln_free_r(config);
            ps
        };
        let ps = NonNull::new(ps).ok_or_else(|| {
            AsrError::Engine(
                "PocketSphinx could not initialise a decoder (check the model files)".into(),
            )
        })?;
        if let Some(shared) = scoring {
            // SAFETY: ps is the live decoder just created, not yet shared; the engine gives
            // each of its decoders the same model directory and the same `shared`.
            unsafe { super::fast_ptm::install(ps.as_ptr(), shared) };
        }
        Ok(Decoder { ps })
    }

    /// Adds `word` with `phones` (space-separated) to the dictionary, updating the searches.
    pub fn add_word(&mut self, word: &str, phones: &str) -> Result<(), AsrError> {
        let w = cstring(word)?;
        let p = cstring(phones)?;
        // SAFETY: valid decoder and NUL-terminated strings, copied by the library.
        let r = unsafe { ffi::ps_add_word(self.ps.as_ptr(), w.as_ptr(), p.as_ptr(), 1) };
        if r < 0 {
            return Err(AsrError::Engine(format!(
                "cannot add `{word}` ({phones}) to the dictionary"
            )));
        }
        Ok(())
    }

    /// Replaces the dictionary with the file at `path`.
    pub fn load_dict(&mut self, path: &Path) -> Result<(), AsrError> {
        let p = path_cstring(path)?;
        // SAFETY: valid decoder and path; null filler dictionary and format keep the defaults.
        let r = unsafe {
            ffi::ps_load_dict(
                self.ps.as_ptr(),
                p.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if r < 0 {
            return Err(AsrError::ModelInvalid {
                path: path.to_path_buf(),
                reason: "PocketSphinx could not load the dictionary".into(),
            });
        }
        Ok(())
    }

    /// Adds a JSGF search called `name`.
    pub fn set_jsgf(&mut self, name: &str, jsgf: &str) -> Result<(), AsrError> {
        let n = cstring(name)?;
        let g = cstring(jsgf)?;
        // SAFETY: valid decoder and strings; the library parses the grammar before returning.
        let r = unsafe { ffi::ps_set_jsgf_string(self.ps.as_ptr(), n.as_ptr(), g.as_ptr()) };
        if r < 0 {
            return Err(AsrError::Engine("PocketSphinx rejected the grammar".into()));
        }
        Ok(())
    }

    /// Adds an n-gram language model search called `name` from the file at `path`.
    pub fn set_lm_file(&mut self, name: &str, path: &Path) -> Result<(), AsrError> {
        let n = cstring(name)?;
        let p = path_cstring(path)?;
        // SAFETY: valid decoder and strings.
        let r = unsafe { ffi::ps_set_lm_file(self.ps.as_ptr(), n.as_ptr(), p.as_ptr()) };
        if r < 0 {
            return Err(AsrError::ModelInvalid {
                path: path.to_path_buf(),
                reason: "PocketSphinx could not load the language model".into(),
            });
        }
        Ok(())
    }

    /// Makes the search `name` the active one.
    pub fn set_search(&mut self, name: &str) -> Result<(), AsrError> {
        let n = cstring(name)?;
        // SAFETY: valid decoder and string.
        let r = unsafe { ffi::ps_set_search(self.ps.as_ptr(), n.as_ptr()) };
        if r < 0 {
            return Err(AsrError::Engine(format!(
                "no search `{name}` in the decoder"
            )));
        }
        Ok(())
    }

    /// Removes the search `name` (not the active one).
    pub fn unset_search(&mut self, name: &str) {
        if let Ok(n) = cstring(name) {
            // SAFETY: valid decoder and string; an unknown name is reported, not fatal.
            unsafe { ffi::ps_unset_search(self.ps.as_ptr(), n.as_ptr()) };
        }
    }

    /// Starts a new audio stream (a new caller: noise estimate and segment times start
    /// afresh) and an utterance in it.
    pub fn start_utt(&mut self) -> Result<(), AsrError> {
        // SAFETY: valid decoder, not inside an utterance (every stream ends its utterance).
        if unsafe { ffi::ps_start_stream(self.ps.as_ptr()) } < 0
            || unsafe { ffi::ps_start_utt(self.ps.as_ptr()) } < 0
        {
            return Err(AsrError::Engine("cannot start an utterance".into()));
        }
        Ok(())
    }

    /// Decodes 16-bit samples at the configured rate.
    pub fn process(&mut self, samples: &[i16]) -> Result<(), AsrError> {
        // SAFETY: valid decoder; `samples` is readable for its length during the call.
        let r =
            unsafe { ffi::ps_process_raw(self.ps.as_ptr(), samples.as_ptr(), samples.len(), 0, 0) };
        if r < 0 {
            return Err(AsrError::Engine("decoding failed".into()));
        }
        Ok(())
    }

    /// Ends the utterance.
    pub fn end_utt(&mut self) -> Result<(), AsrError> {
        // SAFETY: valid decoder.
        if unsafe { ffi::ps_end_utt(self.ps.as_ptr()) } < 0 {
            return Err(AsrError::Engine("cannot end the utterance".into()));
        }
        Ok(())
    }

    /// The best hypothesis and its path score, if any.
    pub fn hyp(&mut self) -> Option<(String, i32)> {
        let mut score: i32 = 0;
        // SAFETY: valid decoder; the returned string belongs to the decoder and stays valid
        // until the next decoder call, so it is copied at once.
        unsafe {
            let p = ffi::ps_get_hyp(self.ps.as_ptr(), &mut score);
            if p.is_null() {
                return None;
            }
            Some((CStr::from_ptr(p).to_string_lossy().into_owned(), score))
        }
    }

    /// Converts a log probability in the decoder's base to a probability.
    pub fn exp(&mut self, logp: i32) -> f64 {
        // SAFETY: valid decoder; the logmath object belongs to it and lives as long.
        unsafe {
            let lmath = ffi::ps_get_logmath(self.ps.as_ptr());
            if lmath.is_null() {
                return 0.0;
            }
            ffi::logmath_exp(lmath, logp as c_int)
        }
    }

    /// The segments of the best hypothesis.
    pub fn segments(&mut self) -> Vec<Segment> {
        let mut out = Vec::new();
        // SAFETY: valid decoder; the iterator is advanced until null (ps_seg_next frees it at
        // the end) or freed explicitly; word strings are copied before the next call.
        unsafe {
            let mut seg = ffi::ps_seg_iter(self.ps.as_ptr());
            while !seg.is_null() {
                let w = ffi::ps_seg_word(seg);
                let (mut sf, mut ef) = (0, 0);
                ffi::ps_seg_frames(seg, &mut sf, &mut ef);
                let (mut a, mut l, mut b) = (0, 0, 0);
                let prob = ffi::ps_seg_prob(seg, &mut a, &mut l, &mut b);
                if !w.is_null() {
                    out.push(Segment {
                        word: CStr::from_ptr(w).to_string_lossy().into_owned(),
                        start_frame: sf,
                        end_frame: ef,
                        prob,
                    });
                }
                seg = ffi::ps_seg_next(seg);
                if out.len() > 10_000 {
                    if !seg.is_null() {
                        ffi::ps_seg_free(seg);
                    }
                    break;
                }
            }
        }
        out
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the decoder was created by ps_init and is released once, here.
        unsafe { ffi::ps_free(self.ps.as_ptr()) };
    }
}
