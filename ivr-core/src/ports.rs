//! The RTP port allocator: even ports from the configured range, each with the next odd port for
//! RTCP, handed out round-robin so a port is not reused right after a call ends (late packets of
//! the old call would land in the new one).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

/// A bound RTP/RTCP socket pair; the port returns to the pool when dropped.
pub struct RtpPorts {
    /// The RTP socket (even port).
    pub rtp: UdpSocket,
    /// The RTCP socket (RTP port + 1).
    pub rtcp: UdpSocket,
    port: u16,
    pool: Arc<Mutex<VecDeque<u16>>>,
}

impl std::fmt::Debug for RtpPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RtpPorts({})", self.port)
    }
}

impl RtpPorts {
    /// The RTP port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for RtpPorts {
    fn drop(&mut self) {
        // Only poisoned if another thread panicked while holding it; the pool is then lost anyway.
        if let Ok(mut free) = self.pool.lock() {
            free.push_back(self.port);
        }
    }
}

/// The pool of free even ports.
#[derive(Clone)]
pub struct PortPool {
    bind: IpAddr,
    free: Arc<Mutex<VecDeque<u16>>>,
}

impl PortPool {
    /// A pool over `min..=max` (rounded to even RTP ports with room for RTCP).
    pub fn new(bind: IpAddr, min: u16, max: u16) -> PortPool {
        let first = min + (min % 2);
        let free = (first..max).step_by(2).collect();
        PortPool {
            bind,
            free: Arc::new(Mutex::new(free)),
        }
    }

    /// Binds the next free pair, skipping ports another program holds. `None` when the range is
    /// exhausted.
    pub fn allocate(&self) -> Option<RtpPorts> {
        let mut free = self.free.lock().ok()?;
        for _ in 0..free.len() {
            let port = free.pop_front()?;
            let rtp = UdpSocket::bind(SocketAddr::new(self.bind, port));
            let rtcp = UdpSocket::bind(SocketAddr::new(self.bind, port + 1));
            match (rtp, rtcp) {
                (Ok(rtp), Ok(rtcp)) => {
                    if rtp.set_nonblocking(true).is_err() || rtcp.set_nonblocking(true).is_err() {
                        free.push_back(port);
                        continue;
                    }
                    return Some(RtpPorts {
                        rtp,
                        rtcp,
                        port,
                        pool: self.free.clone(),
                    });
                }
                _ => free.push_back(port),
            }
        }
        None
    }

    /// Number of free pairs.
    pub fn available(&self) -> usize {
        self.free.lock().map_or(0, |f| f.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_and_return_to_the_pool() {
        let pool = PortPool::new("127.0.0.1".parse().unwrap(), 41001, 41010);
        let n = pool.available();
        let a = pool.allocate().unwrap();
        assert_eq!(a.port() % 2, 0);
        assert_eq!(a.rtcp.local_addr().unwrap().port(), a.port() + 1);
        let b = pool.allocate().unwrap();
        assert_ne!(a.port(), b.port());
        assert_eq!(pool.available(), n - 2);
        drop(a);
        drop(b);
        assert_eq!(pool.available(), n);
    }
}
