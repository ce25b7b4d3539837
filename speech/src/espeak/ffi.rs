//! The part of `speak_lib.h` (espeak-ng 1.51) the engine uses.
#![allow(unsafe_code)]

use std::os::raw::{c_char, c_int, c_short, c_uint, c_void};

/// `AUDIO_OUTPUT_SYNCHRONOUS`: synthesis returns when done, audio goes to the callback.
pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakINITIALIZE_DONT_EXIT`: report errors instead of exiting the process.
pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
/// `POS_CHARACTER`.
pub const POS_CHARACTER: c_int = 1;
/// `espeakCHARS_UTF8`.
pub const CHARS_UTF8: c_uint = 1;
/// `espeakENDPAUSE`: a sentence pause after the text, as the espeak-ng command adds.
pub const END_PAUSE: c_uint = 0x1000;
/// `espeakRATE` (words per minute).
pub const PARAM_RATE: c_int = 1;
/// `espeakPITCH` (0–100, 50 normal).
pub const PARAM_PITCH: c_int = 3;
/// `EE_OK`.
pub const EE_OK: c_int = 0;

/// `t_espeak_callback`: samples, count, events; return 0 to continue.
pub type SynthCallback = extern "C" fn(*mut c_short, c_int, *mut c_void) -> c_int;

#[link(name = "espeak-ng")]
extern "C" {
    pub fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    pub fn espeak_SetSynthCallback(callback: SynthCallback);
    pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    pub fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
    pub fn espeak_Synth(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> c_int;
    pub fn espeak_Synchronize() -> c_int;
}
