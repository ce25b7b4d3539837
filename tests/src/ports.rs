//! Loopback ports for engines and peers running side by side.
//!
//! Tests run in parallel, each with its own engine, so every engine gets its own RTP port block.
//! Blocks come from `20000..32000`, below Linux's ephemeral range (32768+) where port-0 binds land,
//! starting at an offset derived from the process id so two test runs at once rarely meet; each
//! block is probed before use.

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

const FIRST: u32 = 20_000;
const LAST: u32 = 32_000;
const BLOCK: u32 = 40;
const BLOCKS: u32 = (LAST - FIRST) / BLOCK;

static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

/// A block of `BLOCK` (40) consecutive UDP ports on 127.0.0.1, all free when probed:
/// `(first, last)` inclusive, `first` even.
pub fn rtp_block() -> (u16, u16) {
    // The first call seeds the counter from the pid; later calls continue from there.
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(7919)) % BLOCKS,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..BLOCKS {
        let index = NEXT.fetch_add(1, Ordering::SeqCst) % BLOCKS;
        let first = FIRST + index * BLOCK;
        let last = first + BLOCK - 1;
        let free = (first..=last).all(|p| UdpSocket::bind(("127.0.0.1", p as u16)).is_ok());
        if free {
            // `last` < 32_000 fits a u16.
            return (first as u16, last as u16);
        }
    }
    panic!("no free block of {BLOCK} UDP ports between {FIRST} and {LAST} on 127.0.0.1");
}

/// A port that is free for both UDP and TCP on `ip` right now (the OS picks it).
pub fn free_sip_port(ip: &str) -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind((ip, 0)).expect("bind a UDP socket on loopback");
        let port = udp
            .local_addr()
            .expect("local address of a bound socket")
            .port();
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on {ip}");
}
