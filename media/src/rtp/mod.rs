//! RTP and RTCP (RFC 3550): packets, sender state, jitter buffer, statistics and reports.
