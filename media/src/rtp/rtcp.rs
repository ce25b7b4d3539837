//! RTCP (RFC 3550 §6): sender and receiver reports, SDES CNAME, BYE, compound packets,
//! NTP timestamps and round-trip time, and [`RtcpSession`], which schedules reports for one
//! call and keeps its quality figures.
//!
//! Parsing borrows from the datagram and does not allocate: [`packets`] iterates over the
//! packets of a compound datagram, and report blocks, SDES chunks and BYE sources are
//! iterators over the packet body. Writers fill a caller buffer and return the length.
//!
//! No clocks are read here: wall-clock time enters as an NTP value (see
//! [`ntp_from_system_time`]) given once to [`RtcpSession::new`], and advances with the
//! `Instant`s passed in afterwards.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::packet::RtpHeader;
use super::sender::SenderStats;
use super::stats::ReceiverStats;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of source description items.
pub const PT_SDES: u8 = 202;
/// Packet type of a goodbye.
pub const PT_BYE: u8 = 203;
/// Packet type of an application-defined packet.
pub const PT_APP: u8 = 204;

/// SDES item type of the canonical name.
const SDES_CNAME: u8 = 1;
/// Length of one report block.
const BLOCK_LEN: usize = 24;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Errors from RTCP parsing and writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Fewer bytes than a header or its length field claims.
    #[error("RTCP packet truncated")]
    Truncated,
    /// The version field is not 2.
    #[error("unsupported RTCP version {0}")]
    BadVersion(u8),
    /// The body is too short for the count of report blocks or sources it declares, or the
    /// padding is invalid.
    #[error("RTCP packet body does not match its header")]
    BadLength,
    /// The output buffer is too small.
    #[error("output buffer too small: need {needed} bytes")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// More than 31 report blocks or sources in one packet.
    #[error("too many report blocks or sources (at most 31)")]
    TooManyItems,
    /// A CNAME or BYE reason longer than 255 bytes.
    #[error("text longer than 255 bytes")]
    TextTooLong,
}

// ---------------------------------------------------------------------------------------------
// NTP time

/// The 64-bit NTP timestamp (seconds since 1900 in the high 32 bits, fraction in the low) of
/// `time`. Times before 1970 give 1970.
pub fn ntp_from_system_time(time: SystemTime) -> u64 {
    let since_unix = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    ntp_add(NTP_UNIX_OFFSET << 32, since_unix)
}

/// `ntp` advanced by `elapsed`.
pub fn ntp_add(ntp: u64, elapsed: Duration) -> u64 {
    let frac = (u64::from(elapsed.subsec_nanos()) << 32) / 1_000_000_000;
    ntp.wrapping_add(elapsed.as_secs() << 32).wrapping_add(frac)
}

/// The middle 32 bits of an NTP timestamp (16.16 fixed point), as LSR and RTT use.
pub fn ntp_middle32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in the 1/65536 s units of DLSR, saturating.
pub fn to_ntp_short(d: Duration) -> u32 {
    let units = d.as_secs_f64() * 65536.0;
    if units >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        units as u32
    }
}

/// A duration from 1/65536 s units.
pub fn from_ntp_short(units: u32) -> Duration {
    Duration::from_secs_f64(f64::from(units) / 65536.0)
}

/// Round-trip time from a report block (RFC 3550 §6.4.1): `now − LSR − DLSR`, all in the
/// middle 32 bits of NTP time. `None` if no SR was reported on (`lsr == 0`) or the figures
/// are inconsistent (negative result).
pub fn round_trip(now_ntp_middle32: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let since_sr = now_ntp_middle32.wrapping_sub(lsr);
    // A wrapped difference over half the range means `now` is before `lsr`.
    if since_sr > u32::MAX / 2 || since_sr < dlsr {
        return None;
    }
    Some(from_ntp_short(since_sr - dlsr))
}

// ---------------------------------------------------------------------------------------------
// Packet model

/// One reception report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from the source (0: none).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8; BLOCK_LEN]) -> ReportBlock {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit cumulative loss.
        let lost = (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8;
        ReportBlock {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost: lost,
            extended_highest_seq: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        }
    }

    fn write(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        let lost = self
            .cumulative_lost
            .clamp(-0x80_0000, 0x7f_ffff)
            .to_be_bytes();
        b[4] = self.fraction_lost;
        b[5..8].copy_from_slice(&lost[1..4]);
        b[8..12].copy_from_slice(&self.extended_highest_seq.to_be_bytes());
        b[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        b[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        b[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// The sender information of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wall-clock time of the report (64-bit NTP).
    pub ntp: u64,
    /// The same instant in the stream's RTP timestamp units.
    pub rtp_timestamp: u32,
    /// Packets sent since the stream started (wraps).
    pub packet_count: u32,
    /// Payload octets sent since the stream started (wraps).
    pub octet_count: u32,
}

/// Report blocks of an SR or RR, read from the packet body.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;
    fn next(&mut self) -> Option<ReportBlock> {
        let (block, rest) = self.0.split_first_chunk::<BLOCK_LEN>()?;
        self.0 = rest;
        Some(ReportBlock::parse(block))
    }
}

/// One SDES chunk: a source and its CNAME, if it sent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The source described.
    pub ssrc: u32,
    /// Its canonical name.
    pub cname: Option<&'a [u8]>,
}

/// The chunks of an SDES packet; stops at the first malformed chunk.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    body: &'a [u8],
    remaining: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;
    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let (ssrc, mut rest) = self.body.split_first_chunk::<4>()?;
        let mut chunk = SdesChunk {
            ssrc: u32::from_be_bytes(*ssrc),
            cname: None,
        };
        let mut used: usize = 4;
        loop {
            match rest {
                [0, ..] => {
                    // End of items; the chunk is padded to a 32-bit boundary.
                    used += 1;
                    let padded = used.div_ceil(4) * 4;
                    self.body = self.body.get(padded..).unwrap_or_default();
                    return Some(chunk);
                }
                [kind, len, tail @ ..] => {
                    let len = usize::from(*len);
                    let Some(text) = tail.get(..len) else {
                        self.body = &[];
                        self.remaining = 0;
                        return None;
                    };
                    if *kind == SDES_CNAME {
                        chunk.cname = Some(text);
                    }
                    rest = &tail[len..];
                    used += 2 + len;
                }
                _ => {
                    self.body = &[];
                    self.remaining = 0;
                    return None;
                }
            }
        }
    }
}

/// The sources of a BYE packet.
#[derive(Debug, Clone)]
pub struct Sources<'a>(&'a [u8]);

impl Iterator for Sources<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let (ssrc, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*ssrc))
    }
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone)]
pub enum RtcpPacket<'a> {
    /// Sender report.
    SenderReport {
        /// The sender.
        ssrc: u32,
        /// Its sender information.
        info: SenderInfo,
        /// Its reception reports.
        reports: ReportBlocks<'a>,
    },
    /// Receiver report.
    ReceiverReport {
        /// The reporter.
        ssrc: u32,
        /// Its reception reports.
        reports: ReportBlocks<'a>,
    },
    /// Source description.
    SourceDescription(SdesChunks<'a>),
    /// Goodbye.
    Goodbye {
        /// The sources leaving.
        sources: Sources<'a>,
        /// The reason given, if any.
        reason: Option<&'a [u8]>,
    },
    /// Any other packet type (APP, feedback, XR), unparsed.
    Other {
        /// Its packet type.
        packet_type: u8,
        /// Its body after the 4-byte header, padding removed.
        body: &'a [u8],
    },
}

/// Iterates over the packets of a compound RTCP datagram; see [`packets`].
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    rest: &'a [u8],
}

/// The packets of a compound RTCP datagram. Iteration stops after the first error.
pub fn packets(datagram: &[u8]) -> Packets<'_> {
    Packets { rest: datagram }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = parse_one(self.rest);
        match &result {
            Ok((_, len)) => self.rest = self.rest.get(*len..).unwrap_or_default(),
            Err(_) => self.rest = &[],
        }
        Some(result.map(|(p, _)| p))
    }
}

/// Parses the packet at the start of `data`, returning it and its length.
fn parse_one(data: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    let [first, packet_type, l0, l1] = *data.first_chunk::<4>().ok_or(RtcpError::Truncated)?;
    let version = first >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion(version));
    }
    let count = first & 0x1f;
    let len = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
    let packet = data.get(..len).ok_or(RtcpError::Truncated)?;
    let mut body = &packet[4..];
    if first & 0x20 != 0 {
        let pad = usize::from(*body.last().ok_or(RtcpError::BadLength)?);
        if pad == 0 || pad > body.len() {
            return Err(RtcpError::BadLength);
        }
        body = &body[..body.len() - pad];
    }
    let word = |b: &[u8], i: usize| -> Result<u32, RtcpError> {
        b.get(i..i + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or(RtcpError::BadLength)
    };
    fn blocks(b: &[u8], at: usize, count: u8) -> Result<&[u8], RtcpError> {
        b.get(at..at + usize::from(count) * BLOCK_LEN)
            .ok_or(RtcpError::BadLength)
    }
    let parsed = match packet_type {
        PT_SR => RtcpPacket::SenderReport {
            ssrc: word(body, 0)?,
            info: SenderInfo {
                ntp: (u64::from(word(body, 4)?) << 32) | u64::from(word(body, 8)?),
                rtp_timestamp: word(body, 12)?,
                packet_count: word(body, 16)?,
                octet_count: word(body, 20)?,
            },
            reports: ReportBlocks(blocks(body, 24, count)?),
        },
        PT_RR => RtcpPacket::ReceiverReport {
            ssrc: word(body, 0)?,
            reports: ReportBlocks(blocks(body, 4, count)?),
        },
        PT_SDES => RtcpPacket::SourceDescription(SdesChunks {
            body,
            remaining: count,
        }),
        PT_BYE => {
            let n = usize::from(count) * 4;
            let sources = body.get(..n).ok_or(RtcpError::BadLength)?;
            let reason = match body.get(n..) {
                Some([len, text @ ..]) => {
                    Some(text.get(..usize::from(*len)).ok_or(RtcpError::BadLength)?)
                }
                _ => None,
            };
            RtcpPacket::Goodbye {
                sources: Sources(sources),
                reason,
            }
        }
        _ => RtcpPacket::Other { packet_type, body },
    };
    Ok((parsed, len))
}

// ---------------------------------------------------------------------------------------------
// Writers

fn header(out: &mut [u8], count: usize, packet_type: u8, len: usize) {
    out[0] = 0x80 | (count as u8 & 0x1f);
    out[1] = packet_type;
    out[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
}

fn room(out: &mut [u8], needed: usize) -> Result<&mut [u8], RtcpError> {
    out.get_mut(..needed)
        .ok_or(RtcpError::BufferTooSmall { needed })
}

/// Writes a sender report; returns its length.
pub fn write_sr(
    out: &mut [u8],
    ssrc: u32,
    info: &SenderInfo,
    reports: &[ReportBlock],
) -> Result<usize, RtcpError> {
    if reports.len() > 31 {
        return Err(RtcpError::TooManyItems);
    }
    let len = 28 + BLOCK_LEN * reports.len();
    let out = room(out, len)?;
    header(out, reports.len(), PT_SR, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8..16].copy_from_slice(&info.ntp.to_be_bytes());
    out[16..20].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
    out[20..24].copy_from_slice(&info.packet_count.to_be_bytes());
    out[24..28].copy_from_slice(&info.octet_count.to_be_bytes());
    for (block, b) in reports.iter().zip(out[28..].chunks_exact_mut(BLOCK_LEN)) {
        block.write(b);
    }
    Ok(len)
}

/// Writes a receiver report; returns its length.
pub fn write_rr(out: &mut [u8], ssrc: u32, reports: &[ReportBlock]) -> Result<usize, RtcpError> {
    if reports.len() > 31 {
        return Err(RtcpError::TooManyItems);
    }
    let len = 8 + BLOCK_LEN * reports.len();
    let out = room(out, len)?;
    header(out, reports.len(), PT_RR, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    for (block, b) in reports.iter().zip(out[8..].chunks_exact_mut(BLOCK_LEN)) {
        block.write(b);
    }
    Ok(len)
}

/// Writes an SDES packet with one chunk carrying `cname`; returns its length.
pub fn write_sdes_cname(out: &mut [u8], ssrc: u32, cname: &str) -> Result<usize, RtcpError> {
    let text = cname.as_bytes();
    let text_len = u8::try_from(text.len()).map_err(|_| RtcpError::TextTooLong)?;
    // header, ssrc, item type + length + text, then at least one zero byte to a word boundary.
    let len = (4 + 4 + 2 + text.len() + 1).div_ceil(4) * 4;
    let out = room(out, len)?;
    header(out, 1, PT_SDES, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8] = SDES_CNAME;
    out[9] = text_len;
    out[10..10 + text.len()].copy_from_slice(text);
    out[10 + text.len()..].fill(0);
    Ok(len)
}

/// Writes a BYE for `sources` with an optional reason; returns its length.
pub fn write_bye(
    out: &mut [u8],
    sources: &[u32],
    reason: Option<&str>,
) -> Result<usize, RtcpError> {
    if sources.len() > 31 {
        return Err(RtcpError::TooManyItems);
    }
    let reason = reason.map(str::as_bytes);
    let reason_len = match reason {
        Some(r) => 1 + usize::from(u8::try_from(r.len()).map_err(|_| RtcpError::TextTooLong)?),
        None => 0,
    };
    let len = (4 + 4 * sources.len() + reason_len).div_ceil(4) * 4;
    let out = room(out, len)?;
    header(out, sources.len(), PT_BYE, len);
    for (ssrc, b) in sources.iter().zip(out[4..].chunks_exact_mut(4)) {
        b.copy_from_slice(&ssrc.to_be_bytes());
    }
    let at = 4 + 4 * sources.len();
    out[at..].fill(0);
    if let Some(r) = reason {
        out[at] = r.len() as u8; // checked above
        out[at + 1..at + 1 + r.len()].copy_from_slice(r);
    }
    Ok(len)
}

// ---------------------------------------------------------------------------------------------
// Session

/// Settings for an [`RtcpSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpConfig {
    /// SSRC of our outgoing RTP stream.
    pub ssrc: u32,
    /// Our canonical name (`user@host`), sent in every report.
    pub cname: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Mean report interval (RFC 3550 minimum: 5 s); each is randomised to 0.5–1.5 times it.
    pub interval: Duration,
    /// Seed for the interval randomisation.
    pub seed: u64,
}

impl RtcpConfig {
    /// Settings with a 5 s interval for an 8 kHz stream.
    pub fn new(ssrc: u32, cname: impl Into<String>) -> Self {
        RtcpConfig {
            ssrc,
            cname: cname.into(),
            clock_rate: 8000,
            interval: Duration::from_secs(5),
            seed: u64::from(ssrc) | 1,
        }
    }
}

/// What the remote side last reported about our stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteReport {
    /// Fraction of our packets lost in their last interval (0.0–1.0).
    pub fraction_lost: f64,
    /// Cumulative packets of ours they lost.
    pub packets_lost: i32,
    /// Jitter they measured on our stream, in milliseconds.
    pub jitter_ms: f64,
}

/// Quality figures for one call's media, for CDRs, metrics and supervisors.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CallMediaStats {
    /// RTP packets we sent.
    pub packets_sent: u64,
    /// Payload octets we sent.
    pub octets_sent: u64,
    /// RTP packets we received.
    pub packets_received: u64,
    /// Packets we expected but did not receive (cumulative).
    pub packets_lost: i64,
    /// Fraction lost in the last report interval (0.0–1.0).
    pub fraction_lost: f64,
    /// Interarrival jitter of the incoming stream, in milliseconds.
    pub jitter_ms: f64,
    /// Round-trip time from the last report block about our stream, if any.
    pub rtt: Option<Duration>,
    /// The remote's view of our stream, from its last report.
    pub remote: Option<RemoteReport>,
}

/// Largest report [`RtcpSession::poll_report`] writes: SR with one block, SDES with a
/// 255-byte CNAME, BYE.
pub const MAX_REPORT_LEN: usize = 28 + BLOCK_LEN + 268 + 8;

/// RTCP for one call (one outgoing, one incoming stream), sans-IO.
///
/// Feed it the RTP sent and received and the RTCP received; call
/// [`RtcpSession::poll_report`] when [`RtcpSession::poll_timeout`] is reached, and send what
/// it writes. Reports are an SR while we send, an RR otherwise, always with an SDES CNAME.
#[derive(Debug, Clone)]
pub struct RtcpSession {
    config: RtcpConfig,
    epoch: Instant,
    epoch_ntp: u64,
    receiver: ReceiverStats,
    sent: SenderStats,
    last_sent: Option<(Instant, u32)>,
    /// Middle 32 bits of the remote's last SR and when it arrived.
    remote_sr: Option<(u32, Instant)>,
    rtt: Option<Duration>,
    remote: Option<RemoteReport>,
    last_fraction_lost: u8,
    remote_bye: bool,
    next_report: Instant,
    rng: u64,
}

impl RtcpSession {
    /// A session starting at `now`, when the wall clock read `now_ntp` (see
    /// [`ntp_from_system_time`]). The first report is due after about half an interval.
    pub fn new(config: RtcpConfig, now: Instant, now_ntp: u64) -> Self {
        let mut session = RtcpSession {
            receiver: ReceiverStats::new(config.clock_rate),
            epoch: now,
            epoch_ntp: now_ntp,
            sent: SenderStats::default(),
            last_sent: None,
            remote_sr: None,
            rtt: None,
            remote: None,
            last_fraction_lost: 0,
            remote_bye: false,
            next_report: now,
            rng: config.seed | 1,
            config,
        };
        session.next_report = now + session.random_interval() / 2;
        session
    }

    /// Wall-clock NTP time at `now`.
    pub fn ntp(&self, now: Instant) -> u64 {
        ntp_add(self.epoch_ntp, now.saturating_duration_since(self.epoch))
    }

    fn random_interval(&mut self) -> Duration {
        // xorshift64: plenty for spreading report times.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        self.config.interval.mul_f64(0.5 + unit)
    }

    /// Accounts for an RTP packet we received.
    pub fn on_rtp_received(&mut self, now: Instant, header: &RtpHeader) {
        self.receiver.update(now, header);
    }

    /// Accounts for an RTP packet we sent with `payload_len` payload bytes.
    pub fn on_rtp_sent(&mut self, now: Instant, header: &RtpHeader, payload_len: usize) {
        self.sent.packets += 1;
        self.sent.octets += payload_len as u64;
        self.last_sent = Some((now, header.timestamp));
    }

    /// Reads a received RTCP datagram: SRs for round-trip time, report blocks about our
    /// stream, BYE. Packets before an error are still used.
    pub fn on_rtcp(&mut self, now: Instant, datagram: &[u8]) -> Result<(), RtcpError> {
        let now_mid = ntp_middle32(self.ntp(now));
        for packet in packets(datagram) {
            let reports = match packet? {
                RtcpPacket::SenderReport {
                    ssrc,
                    info,
                    reports,
                } => {
                    if ssrc != self.config.ssrc {
                        self.remote_sr = Some((ntp_middle32(info.ntp), now));
                    }
                    reports
                }
                RtcpPacket::ReceiverReport { reports, .. } => reports,
                RtcpPacket::Goodbye { mut sources, .. } => {
                    if sources.any(|s| Some(s) == self.receiver.ssrc()) {
                        self.remote_bye = true;
                    }
                    continue;
                }
                _ => continue,
            };
            for block in reports.filter(|b| b.ssrc == self.config.ssrc) {
                if let Some(rtt) = round_trip(now_mid, block.last_sr, block.delay_since_last_sr) {
                    self.rtt = Some(rtt);
                }
                self.remote = Some(RemoteReport {
                    fraction_lost: f64::from(block.fraction_lost) / 256.0,
                    packets_lost: block.cumulative_lost,
                    jitter_ms: f64::from(block.jitter) * 1000.0 / f64::from(self.config.clock_rate),
                });
            }
        }
        Ok(())
    }

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_report
    }

    /// If a report is due at `now`, writes it (SR or RR, then SDES) into `out` and returns
    /// its length. `out` should hold [`MAX_REPORT_LEN`] bytes; if it is too small the report
    /// is skipped.
    pub fn poll_report(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        if now < self.next_report {
            return None;
        }
        self.next_report = now + self.random_interval();
        self.write_report(now, out).ok()
    }

    /// Writes a final report and a BYE for our SSRC, for the end of the call.
    pub fn write_bye(&mut self, now: Instant, out: &mut [u8]) -> Result<usize, RtcpError> {
        let n = self.write_report(now, out)?;
        let rest = out.get_mut(n..).unwrap_or_default();
        Ok(n + write_bye(rest, &[self.config.ssrc], None)?)
    }

    fn write_report(&mut self, now: Instant, out: &mut [u8]) -> Result<usize, RtcpError> {
        let mut blocks = [ReportBlock::default(); 1];
        let count = match self.receiver.take_report() {
            Some(r) => {
                self.last_fraction_lost = r.fraction_lost;
                let (last_sr, delay_since_last_sr) = match self.remote_sr {
                    Some((lsr, at)) => (lsr, to_ntp_short(now.saturating_duration_since(at))),
                    None => (0, 0),
                };
                blocks[0] = ReportBlock {
                    ssrc: r.ssrc,
                    fraction_lost: r.fraction_lost,
                    cumulative_lost: r.cumulative_lost,
                    extended_highest_seq: r.extended_highest_seq,
                    jitter: r.jitter,
                    last_sr,
                    delay_since_last_sr,
                };
                1
            }
            None => 0,
        };
        let blocks = &blocks[..count];
        let sending = self
            .last_sent
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.config.interval * 2);
        let n = match sending {
            Some((at, ts)) => {
                let since = now.saturating_duration_since(at);
                let advance = (since.as_secs_f64() * f64::from(self.config.clock_rate)) as u32;
                let info = SenderInfo {
                    ntp: self.ntp(now),
                    rtp_timestamp: ts.wrapping_add(advance),
                    packet_count: self.sent.packets as u32,
                    octet_count: self.sent.octets as u32,
                };
                write_sr(out, self.config.ssrc, &info, blocks)?
            }
            None => write_rr(out, self.config.ssrc, blocks)?,
        };
        let rest = out.get_mut(n..).unwrap_or_default();
        Ok(n + write_sdes_cname(rest, self.config.ssrc, &self.config.cname)?)
    }

    /// True once the remote sent a BYE for the stream we receive.
    pub fn remote_bye(&self) -> bool {
        self.remote_bye
    }

    /// Receive statistics of the incoming stream.
    pub fn receiver(&self) -> &ReceiverStats {
        &self.receiver
    }

    /// The call's media quality figures so far.
    pub fn stats(&self) -> CallMediaStats {
        CallMediaStats {
            packets_sent: self.sent.packets,
            octets_sent: self.sent.octets,
            packets_received: self.receiver.packets_received(),
            packets_lost: self.receiver.packets_lost(),
            fraction_lost: f64::from(self.last_fraction_lost) / 256.0,
            jitter_ms: self.receiver.jitter_ms(),
            rtt: self.rtt,
            remote: self.remote,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 0x0102_0304,
            fraction_lost: 25,
            cumulative_lost: -3,
            extended_highest_seq: 0x0001_0005,
            jitter: 77,
            last_sr: 0xb705_2000,
            delay_since_last_sr: 0x0005_4000,
        }
    }

    #[test]
    fn round_trip_matches_rfc3550_worked_example() {
        // RFC 3550 §6.4.1, figure 2: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000.
        let rtt = round_trip(0xb710_8000, 0xb705_2000, 0x0005_4000).unwrap();
        assert_eq!(rtt, Duration::from_millis(6125));
        assert_eq!(round_trip(0xb710_8000, 0, 0x0005_4000), None);
        assert_eq!(round_trip(0xb705_2000, 0xb710_8000, 0), None);
        assert_eq!(round_trip(0xb706_0000, 0xb705_2000, 0x0005_4000), None);
    }

    #[test]
    fn ntp_from_system_time_counts_from_1900() {
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        let ntp = ntp_from_system_time(t);
        assert_eq!(ntp >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp as u32, 1 << 31);
        assert_eq!(
            ntp_middle32(ntp),
            (((NTP_UNIX_OFFSET + 1) as u32) << 16) | 0x8000
        );
    }

    #[test]
    fn compound_sr_sdes_bye_round_trips() {
        let mut buf = [0u8; 256];
        let info = SenderInfo {
            ntp: 0x1122_3344_5566_7788,
            rtp_timestamp: 160,
            packet_count: 10,
            octet_count: 1600,
        };
        let mut n = write_sr(&mut buf, 9, &info, &[block(), block()]).unwrap();
        assert_eq!(n, 28 + 48);
        n += write_sdes_cname(&mut buf[n..], 9, "ivr@example.org").unwrap();
        n += write_bye(&mut buf[n..], &[9], Some("hangup")).unwrap();
        assert_eq!(n % 4, 0);

        let mut it = packets(&buf[..n]);
        match it.next().unwrap().unwrap() {
            RtcpPacket::SenderReport {
                ssrc,
                info: i,
                reports,
            } => {
                assert_eq!((ssrc, i), (9, info));
                assert_eq!(reports.collect::<Vec<_>>(), vec![block(), block()]);
            }
            other => panic!("{other:?}"),
        }
        match it.next().unwrap().unwrap() {
            RtcpPacket::SourceDescription(chunks) => {
                let chunks: Vec<_> = chunks.collect();
                assert_eq!(chunks.len(), 1);
                assert_eq!(chunks[0].ssrc, 9);
                assert_eq!(chunks[0].cname, Some(&b"ivr@example.org"[..]));
            }
            other => panic!("{other:?}"),
        }
        match it.next().unwrap().unwrap() {
            RtcpPacket::Goodbye { sources, reason } => {
                assert_eq!(sources.collect::<Vec<_>>(), vec![9]);
                assert_eq!(reason, Some(&b"hangup"[..]));
            }
            other => panic!("{other:?}"),
        }
        assert!(it.next().is_none());
    }

    #[test]
    fn rr_round_trips_with_negative_cumulative_loss() {
        let mut buf = [0u8; 64];
        let n = write_rr(&mut buf, 5, &[block()]).unwrap();
        let Some(Ok(RtcpPacket::ReceiverReport { ssrc, reports })) = packets(&buf[..n]).next()
        else {
            panic!("not an RR");
        };
        assert_eq!(ssrc, 5);
        assert_eq!(reports.collect::<Vec<_>>(), vec![block()]);
    }

    #[test]
    fn sdes_chunk_length_is_padded_with_at_least_one_zero() {
        let mut buf = [0u8; 64];
        // 2 + 2-byte text = 4 bytes of item: needs a whole extra word for the terminator.
        assert_eq!(write_sdes_cname(&mut buf, 1, "ab").unwrap(), 16);
        assert_eq!(write_sdes_cname(&mut buf, 1, "a").unwrap(), 12);
    }

    #[test]
    fn malformed_datagrams_are_errors() {
        let first_err = |b: &[u8]| packets(b).next().and_then(Result::err);
        assert_eq!(first_err(&[0x80, 201]), Some(RtcpError::Truncated));
        assert_eq!(
            first_err(&[0x40, 201, 0, 1, 0, 0, 0, 0]),
            Some(RtcpError::BadVersion(1))
        );
        // RR claiming one block with none present.
        assert_eq!(
            first_err(&[0x81, 201, 0, 1, 0, 0, 0, 0]),
            Some(RtcpError::BadLength)
        );
        // Length word pointing past the end.
        assert_eq!(
            first_err(&[0x80, 201, 0, 9, 0, 0, 0, 0]),
            Some(RtcpError::Truncated)
        );
        // Padding count larger than the body.
        assert_eq!(
            first_err(&[0xa0, 201, 0, 1, 0, 0, 0, 9]),
            Some(RtcpError::BadLength)
        );
    }

    #[test]
    fn writers_refuse_small_buffers_and_long_text() {
        let mut buf = [0u8; 16];
        assert_eq!(
            write_sr(&mut buf, 1, &SenderInfo::default(), &[]),
            Err(RtcpError::BufferTooSmall { needed: 28 })
        );
        let long = "x".repeat(256);
        assert_eq!(
            write_sdes_cname(&mut [0; 400], 1, &long),
            Err(RtcpError::TextTooLong)
        );
    }

    fn header(seq: u16, ts: u32, ssrc: u32) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
    }

    /// Two sessions exchange RTP and reports over a link with 40 ms one-way delay; each
    /// measures an 80 ms round trip.
    #[test]
    fn two_sessions_measure_round_trip_and_loss() {
        let t0 = Instant::now();
        let ntp0 = ntp_from_system_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let mut a = RtcpSession::new(RtcpConfig::new(0xaaaa, "a@test"), t0, ntp0);
        // B's wall clock is 3 s off; RTT must not care.
        let mut b = RtcpSession::new(
            RtcpConfig::new(0xbbbb, "b@test"),
            t0,
            ntp_add(ntp0, Duration::from_secs(3)),
        );
        let link = Duration::from_millis(40);
        let mut buf = [0u8; MAX_REPORT_LEN];
        let mut in_flight: Vec<(Instant, bool, Vec<u8>)> = Vec::new(); // (arrival, to_b, bytes)
        for k in 0..1500u32 {
            let now = t0 + Duration::from_millis(u64::from(k) * 20);
            let h_a = header(k as u16, k * 160, 0xaaaa);
            a.on_rtp_sent(now, &h_a, 160);
            if k % 10 != 0 {
                // A's stream loses one packet in ten.
                b.on_rtp_received(now + link, &h_a);
            }
            let h_b = header(k as u16, k * 160, 0xbbbb);
            b.on_rtp_sent(now, &h_b, 160);
            a.on_rtp_received(now + link, &h_b);
            if let Some(n) = a.poll_report(now, &mut buf) {
                in_flight.push((now + link, true, buf[..n].to_vec()));
            }
            if let Some(n) = b.poll_report(now, &mut buf) {
                in_flight.push((now + link, false, buf[..n].to_vec()));
            }
            in_flight.retain(|(at, to_b, bytes)| {
                if *at > now {
                    return true;
                }
                let target = if *to_b { &mut b } else { &mut a };
                target.on_rtcp(*at, bytes).unwrap();
                false
            });
        }
        let sa = a.stats();
        let sb = b.stats();
        let rtt = sa.rtt.expect("A has an RTT");
        assert!(
            rtt.abs_diff(Duration::from_millis(80)) < Duration::from_millis(2),
            "{rtt:?}"
        );
        assert!(sb.rtt.unwrap().abs_diff(Duration::from_millis(80)) < Duration::from_millis(2));
        let remote = sa.remote.expect("B reported on A's stream");
        assert!((remote.fraction_lost - 0.1).abs() < 0.03, "{remote:?}");
        assert!(remote.packets_lost > 100);
        assert_eq!(sa.packets_sent, 1500);
        assert_eq!(sa.packets_lost, 0);
        assert!(sb.packets_lost >= 140);
    }

    #[test]
    fn report_intervals_are_randomised_around_five_seconds() {
        let t0 = Instant::now();
        let mut s = RtcpSession::new(RtcpConfig::new(1, "x"), t0, 0);
        let mut buf = [0u8; MAX_REPORT_LEN];
        let mut last = None;
        let mut intervals = Vec::new();
        for ms in (0..200_000u64).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            if s.poll_report(now, &mut buf).is_some() {
                if let Some(prev) = last {
                    intervals.push(now - prev);
                }
                last = Some(now);
                // No RTP sent or received: an RR without blocks, plus SDES.
                assert!(matches!(
                    packets(&buf).next(),
                    Some(Ok(RtcpPacket::ReceiverReport { .. }))
                ));
            }
        }
        assert!(intervals.len() > 30);
        assert!(intervals.iter().all(|d| *d >= Duration::from_millis(2500)));
        assert!(intervals.iter().all(|d| *d <= Duration::from_millis(7510)));
        let distinct: std::collections::HashSet<_> = intervals.iter().collect();
        assert!(distinct.len() > 10);
    }

    #[test]
    fn bye_from_remote_is_noticed() {
        let t0 = Instant::now();
        let mut a = RtcpSession::new(RtcpConfig::new(1, "a"), t0, 0);
        let mut b = RtcpSession::new(RtcpConfig::new(2, "b"), t0, 0);
        a.on_rtp_received(t0, &header(0, 0, 2));
        let mut buf = [0u8; MAX_REPORT_LEN];
        let n = b.write_bye(t0, &mut buf).unwrap();
        a.on_rtcp(t0, &buf[..n]).unwrap();
        assert!(a.remote_bye());
    }

    proptest! {
        #[test]
        fn report_block_round_trips(ssrc: u32, fraction_lost: u8, lost in -0x80_0000i32..0x80_0000,
                                    ehs: u32, jitter: u32, lsr: u32, dlsr: u32) {
            let b = ReportBlock { ssrc, fraction_lost, cumulative_lost: lost, extended_highest_seq: ehs,
                                  jitter, last_sr: lsr, delay_since_last_sr: dlsr };
            let mut buf = [0u8; BLOCK_LEN];
            b.write(&mut buf);
            prop_assert_eq!(ReportBlock::parse(&buf), b);
        }

        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            for p in packets(&bytes) {
                if let Ok(RtcpPacket::SourceDescription(chunks)) = p {
                    chunks.for_each(drop);
                }
            }
        }
    }
}
