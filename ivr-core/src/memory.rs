//! Giving memory back after a burst of calls.
//!
//! A call's buffers (jitter buffer slots, SIP transactions kept 32 s for retransmissions) are
//! freed when it ends, but glibc keeps freed heap pages in its per-thread arenas, so the process
//! would stay at its peak size long after the peak. When the engine goes quiet the SIP task calls
//! [`release_free_memory`], which asks glibc to return free pages to the OS.
#![allow(unsafe_code)]

/// Returns free heap pages to the operating system (glibc `malloc_trim`); a no-op elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks; it takes no pointers
    // from us and is documented as safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
