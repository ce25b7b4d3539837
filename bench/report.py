#!/usr/bin/env python3
"""Turns one load run's raw material into figures.

usage: report.py RUN_DIR
RUN_DIR holds what bench/run.sh collected: measure.json (CPU ticks, RSS, stats, parameters),
events.jsonl (the engine's call records), SIPp's *_rtt.csv (response times) and *_.csv (-trace_stat).
Prints a table and writes RUN_DIR/summary.json.
"""
import csv
import glob
import json
import os
import sys
from datetime import datetime


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def load_events(path):
    calls = {}
    if not os.path.exists(path):
        return calls
    with open(path) as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            c = calls.setdefault(ev.get("call_id"), {"digits": [], "events": []})
            name = ev.get("event")
            c["events"].append(name)
            if name == "digit":
                c["digits"].append(ev.get("digit"))
                c.setdefault("first_digit_ts", ev.get("ts"))
            elif name in ("ended", "answered", "rejected", "hangup"):
                c[name] = ev
    return calls


def ts_ms(ts):
    return datetime.strptime(ts.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000


def expected_tx(c):
    """Prompt packets the engine should have sent: 50/s from answer until the call ended or
    the first digit stopped the prompt (barge-in)."""
    e = c["ended"]
    ms = e.get("duration_ms", 0)
    if c.get("first_digit_ts") and "answered" in c:
        ms = min(ms, ts_ms(c["first_digit_ts"]) - ts_ms(c["answered"]["ts"]))
    return max(0, int(ms // 20))


def load_rtt(run):
    out = []
    for path in glob.glob(os.path.join(run, "*_rtt.csv")):
        with open(path) as f:
            for line in f:
                parts = line.strip().split(";")
                if len(parts) < 2:
                    continue
                try:
                    out.append(float(parts[1]))
                except ValueError:
                    continue
    return out


def load_sipp_stat(run):
    files = [p for p in glob.glob(os.path.join(run, "*_.csv"))]
    last = None
    for path in files:
        with open(path) as f:
            rows = list(csv.reader(f, delimiter=";"))
        if len(rows) >= 2:
            last = dict(zip(rows[0], rows[-1]))
    return last or {}


def main():
    run = sys.argv[1]
    m = json.load(open(os.path.join(run, "measure.json")))
    calls = load_events(os.path.join(run, "data", "events.jsonl"))
    rtt = load_rtt(run)
    stat = load_sipp_stat(run)
    hz = m.get("clk_tck", 100)

    ended = [c["ended"] for c in calls.values() if "ended" in c]
    answered = [c for c in calls.values() if "answered" in c]
    rejected = [c for c in calls.values() if "rejected" in c]
    rx = sum(e.get("rtp_rx", 0) for e in ended)
    lost = sum(max(0, e.get("rtp_lost", 0)) for e in ended)
    tx = sum(e.get("rtp_tx", 0) for e in ended)
    dur_ms = sum(e.get("duration_ms", 0) for e in ended)
    jit = [e.get("jitter_ms", 0.0) for e in ended if e.get("rtp_rx", 0) > 0]
    late = sum(e.get("late", 0) for e in ended)
    concealed = sum(e.get("concealed", 0) for e in ended)
    foreign = sum(e.get("dropped_foreign", 0) for e in ended)
    digits = sum(len(c["digits"]) for c in calls.values())
    per_call = m.get("digits_per_call", 0)
    media_calls = len(answered) if per_call else 0
    digits_sent = per_call * media_calls
    pkts_per_call = m.get("packets_per_call", 0)
    rx_expected = pkts_per_call * len(answered) if pkts_per_call else None

    s = {"mode": m["mode"], "calls_placed": m.get("calls"), "answered": len(answered),
         "rejected": len(rejected), "ended": len(ended)}
    win = m.get("window_s")
    if win:
        eng = (m["eng_ticks1"] - m["eng_ticks0"]) / hz / win * 100.0
        s["window_s"] = round(win, 1)
        s["concurrent_calls"] = m.get("active_at_plateau")
        s["engine_cpu_pct"] = round(eng, 1)
        conc = m.get("active_at_plateau") or 0
        if conc:
            s["engine_cpu_pct_per_call"] = round(eng / conc, 4)
        if "sipp_ticks0" in m:
            s["sipp_cpu_pct"] = round((m["sipp_ticks1"] - m["sipp_ticks0"]) / hz / win * 100.0, 1)
        if "idle_cpu_pct" in m:
            s["machine_idle_pct"] = m["idle_cpu_pct"]
    if "rss_idle_kb" in m:
        s["rss_idle_mb"] = round(m["rss_idle_kb"] / 1024, 1)
    if "rss_plateau_kb" in m:
        s["rss_plateau_mb"] = round(m["rss_plateau_kb"] / 1024, 1)
        conc = m.get("active_at_plateau") or 0
        if conc:
            s["rss_per_call_kb"] = round((m["rss_plateau_kb"] - m["rss_idle_kb"]) / conc, 1)
    if "rss_after_kb" in m:
        s["rss_after_mb"] = round(m["rss_after_kb"] / 1024, 1)
        s["rss_after_minus_idle_mb"] = round((m["rss_after_kb"] - m["rss_idle_kb"]) / 1024, 1)
    for k in ("tasks_idle", "tasks_plateau", "tasks_after", "kernel_drops_engine",
              "udp_rcvbuf_errors", "sipp_rc", "engine_alive"):
        if k in m:
            s[k] = m[k]
    if ended:
        s["rtp_rx"] = rx
        s["rtp_lost"] = lost
        s["rtp_loss_pct"] = round(100.0 * lost / max(1, rx + lost), 4)
        if rx_expected:
            s["rtp_rx_expected"] = rx_expected
            s["rtp_rx_missing_pct"] = round(100.0 * (rx_expected - rx) / rx_expected, 4)
        s["jitter_ms_p50"] = pct(jit, 50)
        s["jitter_ms_p99"] = pct(jit, 99)
        s["jitter_ms_max"] = max(jit) if jit else None
        s["late_packets"] = late
        s["concealed_frames"] = concealed
        s["dropped_foreign"] = foreign
        s["rtp_tx"] = tx
        exp = sum(expected_tx(c) for c in calls.values() if "ended" in c)
        s["rtp_tx_expected"] = exp
        s["rtp_tx_pct_of_expected"] = round(100.0 * tx / max(1, exp), 2)
    if per_call:
        s["digits_sent"] = digits_sent
        s["digits_detected"] = digits
    if rtt:
        s["setup_samples"] = len(rtt)
        s["setup_ms_p50"] = pct(rtt, 50)
        s["setup_ms_p99"] = pct(rtt, 99)
        s["setup_ms_max"] = max(rtt)
    if stat:
        for k in ("TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)", "Retransmissions(C)",
                  "FailedMaxUDPRetrans(C)", "FailedUnexpectedMessage(C)", "FailedCallRejected(C)",
                  "FailedCmdNotSent(C)", "FailedRegexpDoesntMatch(C)", "OutOfCallMsgs(C)",
                  "DeadCallMsgs(C)", "Retransmissions(C)", "CallRate(C)", "ElapsedTime(C)"):
            if k in stat:
                s["sipp_" + k] = stat[k]
        try:
            made = int(stat.get("TotalCallCreated", 0))
            failed = int(stat.get("FailedCall(C)", 0))
            if made:
                s["failure_pct"] = round(100.0 * failed / made, 4)
        except ValueError:
            pass
    json.dump(s, open(os.path.join(run, "summary.json"), "w"), indent=1)
    width = max(len(k) for k in s)
    print(f"--- {m['mode']} ({run})")
    for k, v in s.items():
        print(f"  {k:<{width}}  {v}")


if __name__ == "__main__":
    main()
