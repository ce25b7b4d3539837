//! The part of `pocketsphinx.h`, `ps_search.h` and sphinxbase (0.8+5prealpha, as packaged by
//! Debian) the engine uses.
#![allow(unsafe_code)]

use std::os::raw::{c_char, c_double, c_int};

/// `ps_decoder_t`.
#[repr(C)]
pub struct Decoder {
    _private: [u8; 0],
}

/// `cmd_ln_t`.
#[repr(C)]
pub struct CmdLn {
    _private: [u8; 0],
}

/// `arg_t`.
#[repr(C)]
pub struct Arg {
    _private: [u8; 0],
}

/// `ps_seg_t`.
#[repr(C)]
pub struct Seg {
    _private: [u8; 0],
}

/// `logmath_t`.
#[repr(C)]
pub struct LogMath {
    _private: [u8; 0],
}

/// `FILE`.
#[repr(C)]
pub struct File {
    _private: [u8; 0],
}

#[link(name = "pocketsphinx")]
extern "C" {
    pub fn ps_args() -> *const Arg;
    pub fn ps_init(config: *mut CmdLn) -> *mut Decoder;
    pub fn ps_free(ps: *mut Decoder) -> c_int;
    pub fn ps_get_logmath(ps: *mut Decoder) -> *mut LogMath;
    pub fn ps_load_dict(
        ps: *mut Decoder,
        dictfile: *const c_char,
        fdictfile: *const c_char,
        format: *const c_char,
    ) -> c_int;
    pub fn ps_add_word(
        ps: *mut Decoder,
        word: *const c_char,
        phones: *const c_char,
        update: c_int,
    ) -> c_int;
    pub fn ps_start_stream(ps: *mut Decoder) -> c_int;
    pub fn ps_start_utt(ps: *mut Decoder) -> c_int;
    pub fn ps_process_raw(
        ps: *mut Decoder,
        data: *const i16,
        n_samples: usize,
        no_search: c_int,
        full_utt: c_int,
    ) -> c_int;
    pub fn ps_end_utt(ps: *mut Decoder) -> c_int;
    pub fn ps_get_hyp(ps: *mut Decoder, out_best_score: *mut i32) -> *const c_char;
    pub fn ps_seg_iter(ps: *mut Decoder) -> *mut Seg;
    pub fn ps_seg_next(seg: *mut Seg) -> *mut Seg;
    pub fn ps_seg_word(seg: *mut Seg) -> *const c_char;
    pub fn ps_seg_frames(seg: *mut Seg, out_sf: *mut c_int, out_ef: *mut c_int);
    pub fn ps_seg_prob(
        seg: *mut Seg,
        out_ascr: *mut i32,
        out_lscr: *mut i32,
        out_lback: *mut i32,
    ) -> i32;
    pub fn ps_seg_free(seg: *mut Seg);
    pub fn ps_set_search(ps: *mut Decoder, name: *const c_char) -> c_int;
    pub fn ps_unset_search(ps: *mut Decoder, name: *const c_char) -> c_int;
    pub fn ps_set_jsgf_string(ps: *mut Decoder, name: *const c_char, jsgf: *const c_char) -> c_int;
    pub fn ps_set_lm_file(ps: *mut Decoder, name: *const c_char, path: *const c_char) -> c_int;
}

#[link(name = "sphinxbase")]
extern "C" {
    pub fn cmd_ln_parse_r(
        inout: *mut CmdLn,
        defn: *const Arg,
        argc: i32,
        argv: *mut *mut c_char,
        strict: i32,
    ) -> *mut CmdLn;
    pub fn cmd_ln_free_r(cmdln: *mut CmdLn) -> c_int;
    pub fn err_set_logfp(stream: *mut File);
    pub fn logmath_exp(lmath: *mut LogMath, logb_p: c_int) -> c_double;
}
