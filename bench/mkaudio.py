#!/usr/bin/env python3
"""Writes the caller's audio for SIPp's rtp_stream as raw G.711 mu-law (8 kHz, no header).

A quiet 440 Hz tone with in-band DTMF digits (DTMF dual tones, 120 ms on) at the given offsets.
SIPp's rtp_stream sends it as 20 ms PCMU packets (160 bytes) at 50 packets/s.

usage: mkaudio.py OUT.ulaw SECONDS [DIGITS] [FIRST_AT] [EVERY]
Prints the number of 20 ms packets and of digits written.
"""
import math
import sys

from mkpcap import ulaw

LOW = {"1": 697, "2": 697, "3": 697, "A": 697, "4": 770, "5": 770, "6": 770, "B": 770,
       "7": 852, "8": 852, "9": 852, "C": 852, "*": 941, "0": 941, "#": 941, "D": 941}
HIGH = {"1": 1209, "4": 1209, "7": 1209, "*": 1209, "2": 1336, "5": 1336, "8": 1336, "0": 1336,
        "3": 1477, "6": 1477, "9": 1477, "#": 1477, "A": 1633, "B": 1633, "C": 1633, "D": 1633}
TONE_MS = 120


def main() -> None:
    out = sys.argv[1]
    seconds = float(sys.argv[2])
    digits = sys.argv[3] if len(sys.argv) > 3 else "1234"
    first_at = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    every = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0
    n = int(seconds * 50) * 160
    tone = bytes(ulaw(int(1500 * math.sin(2 * math.pi * 440 * k / 8000))) for k in range(8000))
    audio = bytearray(tone[k % 8000] for k in range(n))
    sent = 0
    for i, d in enumerate(digits):
        start = int((first_at + i * every) * 8000)
        length = TONE_MS * 8
        if start + length + 800 > n:
            continue
        lo, hi = LOW[d], HIGH[d]
        for k in range(length):
            s = 7000 * math.sin(2 * math.pi * lo * k / 8000) + 7000 * math.sin(2 * math.pi * hi * k / 8000)
            audio[start + k] = ulaw(int(s))
        # quiet gap around the digit so each one is detected once
        for k in list(range(start - 400, start)) + list(range(start + length, start + length + 400)):
            audio[k] = ulaw(0)
        sent += 1
    with open(out, "wb") as f:
        f.write(audio)
    print(f"{n // 160} {sent}")


if __name__ == "__main__":
    main()
