#!/usr/bin/env python3
"""Writes the caller's media for the load runs as a pcap that SIPp replays with play_pcap_audio.

One RTP stream (one SSRC, consecutive sequence numbers, 20 ms PCMU packets at 50 packets/s) of a
quiet 440 Hz tone, with RFC 4733 telephone-events (payload type 101) for the given digits at the
given offsets. Each digit replaces the audio for its 160 ms: 8 event packets (marker on the first),
the last three with the End bit, all with the event's start timestamp, as RFC 4733 senders do.

usage: mkpcap.py OUT.pcap SECONDS [DIGITS] [FIRST_AT] [EVERY]
  DIGITS   digits to send (default "1234"; '#' would end the demo call)
  FIRST_AT seconds after the start of the first digit (default 5)
  EVERY    seconds between digits (default 5)
Prints the number of RTP packets and of digits written.
"""
import math
import struct
import sys

PT_PCMU = 0
PT_EVENT = 101
SSRC = 0x1B0CA11E
EVENTS = {str(d): d for d in range(10)} | {"*": 10, "#": 11}
for i, c in enumerate("ABCD"):
    EVENTS[c] = 12 + i


def ulaw(sample: int) -> int:
    """G.711 mu-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def main() -> None:
    out = sys.argv[1]
    seconds = float(sys.argv[2])
    digits = sys.argv[3] if len(sys.argv) > 3 else "1234"
    first_at = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    every = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0

    # One second of tone, reused (440 Hz fits 8000 samples exactly: 440 whole periods).
    tone = bytes(ulaw(int(3000 * math.sin(2 * math.pi * 440 * n / 8000))) for n in range(8000))
    packets = int(seconds * 50)
    digit_at = {}  # packet index -> digit
    for i, d in enumerate(digits):
        at = int((first_at + i * every) * 50)
        if at + 8 < packets:
            digit_at[at] = d

    frames = []  # (time_us, rtp bytes)
    seq = 0
    i = 0
    sent_digits = 0
    while i < packets:
        if i in digit_at:
            ev = EVENTS[digit_at[i]]
            start_ts = i * 160
            for k in range(8):
                end = k >= 5
                duration = min(k + 1, 6) * 160
                flags = (0x80 if end else 0) | 10  # E bit, volume -10 dBm0
                payload = struct.pack("!BBH", ev, flags, duration)
                hdr = struct.pack("!BBHII", 0x80, (0x80 if k == 0 else 0) | PT_EVENT,
                                  seq & 0xFFFF, start_ts & 0xFFFFFFFF, SSRC)
                frames.append(((i + k) * 20000, hdr + payload))
                seq += 1
            sent_digits += 1
            i += 8
            continue
        off = (i * 160) % 8000
        payload = tone[off:off + 160]
        hdr = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | PT_PCMU,
                          seq & 0xFFFF, (i * 160) & 0xFFFFFFFF, SSRC)
        frames.append((i * 20000, hdr + payload))
        seq += 1
        i += 1

    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
        for t_us, rtp in frames:
            udp_len = 8 + len(rtp)
            udp = struct.pack("!HHHH", 6000, 20000, udp_len, 0) + rtp
            ip_len = 20 + udp_len
            iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, 17, 0,
                              bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
            csum = 0
            for j in range(0, 20, 2):
                csum += (iph[j] << 8) | iph[j + 1]
            while csum >> 16:
                csum = (csum & 0xFFFF) + (csum >> 16)
            iph = iph[:10] + struct.pack("!H", ~csum & 0xFFFF) + iph[12:]
            eth = b"\x00" * 12 + b"\x08\x00"
            frame = eth + iph + udp
            f.write(struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)))
            f.write(frame)
    print(f"{len(frames)} {sent_digits}")


if __name__ == "__main__":
    main()
