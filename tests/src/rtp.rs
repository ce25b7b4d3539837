//! The caller's media socket: records the engine's RTP and sends audio and RFC 4733 events back.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::audio::FRAME;
use crate::codec::{self, G711};

/// One RTP packet (RFC 3550 fixed header; CSRCs and extensions skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Payload (padding removed).
    pub payload: Vec<u8>,
}

impl RtpPacket {
    /// Parses a datagram; `None` when it is not RTP version 2 or is cut short.
    pub fn parse(b: &[u8]) -> Option<RtpPacket> {
        if b.len() < 12 || b[0] >> 6 != 2 {
            return None;
        }
        let cc = usize::from(b[0] & 0x0F);
        let mut start = 12 + 4 * cc;
        if b[0] & 0x10 != 0 {
            let words = usize::from(u16::from_be_bytes([*b.get(start + 2)?, *b.get(start + 3)?]));
            start += 4 + 4 * words;
        }
        let mut end = b.len();
        if b[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*b.last()?))?;
        }
        Some(RtpPacket {
            marker: b[1] & 0x80 != 0,
            pt: b[1] & 0x7F,
            seq: u16::from_be_bytes([b[2], b[3]]),
            ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            payload: b.get(start..end)?.to_vec(),
        })
    }

    /// The datagram.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(12 + self.payload.len());
        b.push(0x80);
        b.push(if self.marker { 0x80 } else { 0 } | (self.pt & 0x7F));
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.ts.to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        b.extend_from_slice(&self.payload);
        b
    }
}

/// A datagram the peer received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Who sent it.
    pub from: SocketAddr,
    /// The packet, or `None` when it was not RTP.
    pub packet: Option<RtpPacket>,
}

type Log = Arc<(Mutex<Vec<Received>>, Condvar)>;

/// A caller's RTP socket on 127.0.0.1. A thread records everything that arrives from the moment
/// it is bound until it is dropped.
pub struct RtpPeer {
    sock: UdpSocket,
    log: Log,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    started: bool,
}

impl RtpPeer {
    /// Binds a socket on an OS-chosen port and starts recording.
    pub fn bind() -> RtpPeer {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind an RTP socket on loopback");
        let reader = sock.try_clone().expect("clone a UDP socket");
        reader
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("set a read timeout");
        let log: Log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = reader.recv_from(&mut buf) {
                        let r = Received {
                            at: Instant::now(),
                            from,
                            packet: RtpPacket::parse(&buf[..n]),
                        };
                        let (lock, cv) = &*log;
                        lock.lock().expect("the log lock is never poisoned").push(r);
                        cv.notify_all();
                    }
                }
            })
        };
        let port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
        RtpPeer {
            sock,
            log,
            stop,
            thread: Some(thread),
            ssrc: 0x5EED_0000 | u32::from(port),
            seq: port.wrapping_mul(31),
            ts: u32::from(port) * 1000,
            started: false,
        }
    }

    /// The local port (put it in the SDP offer).
    pub fn port(&self) -> u16 {
        self.sock
            .local_addr()
            .expect("local address of a bound socket")
            .port()
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.log
            .0
            .lock()
            .expect("the log lock is never poisoned")
            .clone()
    }

    /// The RTP packets received so far (non-RTP datagrams left out).
    pub fn packets(&self) -> Vec<RtpPacket> {
        self.received()
            .into_iter()
            .filter_map(|r| r.packet)
            .collect()
    }

    /// Waits until `pred` holds for what has been received, or `timeout` passes; returns the
    /// final snapshot either way.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.log;
        let mut got = lock.lock().expect("the log lock is never poisoned");
        while !pred(&got) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            got = cv
                .wait_timeout(got, left)
                .expect("the log lock is never poisoned")
                .0;
        }
        got.clone()
    }

    /// Waits for the first packet and returns its source: where the engine's RTP comes from,
    /// which is where it expects ours (its SDP port). Panics after `timeout`.
    pub fn engine_addr(&self, timeout: Duration) -> SocketAddr {
        let got = self.wait_for(timeout, |r| !r.is_empty());
        got.first()
            .map(|r| r.from)
            .unwrap_or_else(|| panic!("no RTP from the engine within {timeout:?}"))
    }

    /// Waits until no datagram has arrived for `quiet`, up to `timeout` in all.
    pub fn wait_quiet(&self, quiet: Duration, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            let last = got.last().map(|r| r.at);
            let now = Instant::now();
            if last.is_none_or(|t| now.duration_since(t) >= quiet) || now >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends arbitrary bytes from the RTP socket (hostile-input tests).
    pub fn send_raw(&self, to: SocketAddr, bytes: &[u8]) {
        self.sock.send_to(bytes, to).expect("send on loopback");
    }

    /// Sends one packet with the next sequence number; `ts_step` advances the timestamp after.
    pub fn send(&mut self, to: SocketAddr, pt: u8, marker: bool, payload: &[u8], ts_step: u32) {
        let p = RtpPacket {
            marker,
            pt,
            seq: self.seq,
            ts: self.ts,
            ssrc: self.ssrc,
            payload: payload.to_vec(),
        };
        self.sock
            .send_to(&p.to_bytes(), to)
            .expect("send RTP on loopback");
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(ts_step);
    }

    /// Sends `samples` as G.711 in 20 ms packets paced in real time (the last frame padded with
    /// silence). Returns the number of packets sent.
    pub fn send_audio(&mut self, to: SocketAddr, codec: G711, samples: &[i16]) -> usize {
        let start = Instant::now();
        let mut n = 0;
        for chunk in samples.chunks(FRAME) {
            let mut frame = [0i16; FRAME];
            frame[..chunk.len()].copy_from_slice(chunk);
            pace(start, n);
            let marker = !self.started;
            self.started = true;
            self.send(
                to,
                codec.payload_type(),
                marker,
                &codec::encode(codec, &frame),
                FRAME as u32,
            );
            n += 1;
        }
        n
    }

    /// Sends one RFC 4733 event the way phones do: a packet every 20 ms for `frames` frames
    /// (same timestamp, growing duration, marker on the first), then the end packet three times.
    /// Returns the number of packets sent.
    pub fn send_event(&mut self, to: SocketAddr, pt: u8, event: u8, frames: u16) -> usize {
        let start = Instant::now();
        let ts0 = self.ts;
        let mut sent = 0;
        for i in 1..=frames {
            pace(start, sent);
            let duration = i * FRAME as u16;
            self.ts = ts0;
            self.send(to, pt, i == 1, &event_payload(event, false, duration), 0);
            sent += 1;
        }
        for _ in 0..3 {
            self.ts = ts0;
            self.send(
                to,
                pt,
                false,
                &event_payload(event, true, frames * FRAME as u16),
                0,
            );
            sent += 1;
        }
        self.ts = ts0.wrapping_add(u32::from(frames) * FRAME as u32);
        sent
    }
}

fn pace(start: Instant, n: usize) {
    let due = start + Duration::from_millis(20 * n as u64);
    if let Some(wait) = due.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// An RFC 4733 payload: event, E bit, volume 10, duration.
pub fn event_payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [event, if end { 0x80 } else { 0 } | 10, d[0], d[1]]
}

/// The RFC 4733 event code of a DTMF key.
pub fn event_code(digit: char) -> u8 {
    match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => 12 + (digit as u8 - b'A'),
        _ => panic!("`{digit}` is not a DTMF key"),
    }
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip() {
        let p = RtpPacket {
            marker: true,
            pt: 8,
            seq: 65535,
            ts: 7,
            ssrc: 9,
            payload: vec![1, 2, 3],
        };
        assert_eq!(RtpPacket::parse(&p.to_bytes()), Some(p));
        assert_eq!(RtpPacket::parse(&[0x80, 0]), None);
    }
}
