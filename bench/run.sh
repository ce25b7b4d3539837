#!/usr/bin/env bash
# Load runs of the engine on loopback with SIPp. See docs/BENCHMARKS.md.
#
#   bench/run.sh [concurrent|setup|soak|all]      (default: concurrent)
#
# Each run builds the release binary, starts the engine with a generated config (data in
# bench/out/MODE/), places calls with SIPp, samples the engine's CPU and RSS, and prints a
# summary (also in bench/out/MODE/summary.json). Everything is bound to 127.0.0.1, bounded in
# time, and stopped on exit.
#
# Knobs (environment):
#   BENCH_QUICK=1          ~20 s smoke versions of every mode
#   BENCH_CALLS=2000       concurrent: calls held at once
#   BENCH_RATE=200         concurrent: calls placed per second while ramping up
#   BENCH_MEASURE=60       concurrent: seconds of the measurement window at full load
#   BENCH_SETUP_RATE=1000  setup: calls per second
#   BENCH_SETUP_SECS=30    setup: seconds of calling
#   BENCH_SETUP_HOLD_MS=1000  setup: call length after ACK
#   BENCH_SOAK_RATE=90     soak: calls per second
#   BENCH_SOAK_CALLS=54000 soak: calls placed
#   BENCH_SOAK_HOLD_MS=2000   soak: call length after ACK
#   BENCH_MEDIA=stream     concurrent: caller media by SIPp rtp_stream with in-band DTMF (stream)
#                          or by play_pcap_audio with RFC 4733 digits (pcap; one raw socket per
#                          playing call in SIPp 3.6.1, so keep BENCH_CALLS small)
#   BENCH_PERF=1           concurrent: perf record -g the engine for BENCH_PERF_SECS (10) mid-window
#   BENCH_LOG=warn         engine RUST_LOG
#   BENCH_OUT=bench/out    output folder
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
OUT=${BENCH_OUT:-$BENCH/out}
MODE=${1:-concurrent}
QUICK=${BENCH_QUICK:-0}
HZ=$(getconf CLK_TCK)

if [[ $QUICK == 1 ]]; then
    D_CALLS=200 D_RATE=100 D_MEASURE=10
    D_SETUP_RATE=200 D_SETUP_SECS=10 D_SETUP_HOLD=1000
    D_SOAK_RATE=50 D_SOAK_CALLS=750 D_SOAK_HOLD=2000
else
    D_CALLS=2000 D_RATE=200 D_MEASURE=60
    D_SETUP_RATE=1000 D_SETUP_SECS=30 D_SETUP_HOLD=1000
    D_SOAK_RATE=90 D_SOAK_CALLS=54000 D_SOAK_HOLD=2000
fi
CALLS=${BENCH_CALLS:-$D_CALLS}
RATE=${BENCH_RATE:-$D_RATE}
MEASURE=${BENCH_MEASURE:-$D_MEASURE}
SETUP_RATE=${BENCH_SETUP_RATE:-$D_SETUP_RATE}
SETUP_SECS=${BENCH_SETUP_SECS:-$D_SETUP_SECS}
SETUP_HOLD=${BENCH_SETUP_HOLD_MS:-$D_SETUP_HOLD}
SOAK_RATE=${BENCH_SOAK_RATE:-$D_SOAK_RATE}
SOAK_CALLS=${BENCH_SOAK_CALLS:-$D_SOAK_CALLS}
SOAK_HOLD=${BENCH_SOAK_HOLD_MS:-$D_SOAK_HOLD}
PERF=${BENCH_PERF:-0}
MEDIA=${BENCH_MEDIA:-stream}
PERF_SECS=${BENCH_PERF_SECS:-10}

RTP_MIN=10000
RTP_MAX=19999

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Processes we start, stopped on exit (by PID only).
ENGINE_PID=
SIPP_PID=
PERF_PID=
cleanup() {
    local p
    for p in $PERF_PID $SIPP_PID; do
        kill -INT "$p" 2>/dev/null || true
    done
    if [[ -n $ENGINE_PID ]] && kill -0 "$ENGINE_PID" 2>/dev/null; then
        kill -TERM "$ENGINE_PID" 2>/dev/null || true
        sleep 1
        kill -TERM "$ENGINE_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$ENGINE_PID" 2>/dev/null || true
    fi
    for p in $PERF_PID $SIPP_PID; do
        kill -KILL "$p" 2>/dev/null || true
    done
    ENGINE_PID= SIPP_PID= PERF_PID=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_udp_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cpu_ticks() { # utime + stime of a process, in clock ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
sleep_until() { # sleep_until T0 SECONDS: until SECONDS after the epoch time T0
    local left
    left=$(python3 -c "import time; print(max(0.0, $1 + $2 - time.time()))")
    sleep "$left"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
machine_idle() { awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

# SIGUSR1 makes the engine print a stats line; only send it when the engine handles it (the
# default action of SIGUSR1 is to terminate).
handles_usr1() {
    local mask
    mask=$(awk '/^SigCgt:/ { print $2 }' "/proc/$ENGINE_PID/status")
    (( (16#$mask >> 9) & 1 ))
}
STATS_SEEN=0
engine_stats() { # prints the engine's stats JSON line, or {} if unavailable
    if ! handles_usr1; then echo '{}'; return; fi
    kill -USR1 "$ENGINE_PID"
    for _ in $(seq 50); do
        local n
        n=$(grep -c '"event":"stats"' "$RUN/engine.stdout" || true)
        if (( n > STATS_SEEN )); then
            STATS_SEEN=$n
            grep '"event":"stats"' "$RUN/engine.stdout" | tail -1
            return
        fi
        sleep 0.1
    done
    echo '{}'
}
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1] or "{}"); v=d
for k in sys.argv[2].split("."):
    v=v.get(k) if isinstance(v,dict) else None
print("null" if v is None else v)' "$1" "$2"; }

# Calls the engine has answered but not yet ended (from the event log; works without SIGUSR1).
active_calls() {
    local f="$RUN/data/events.jsonl"
    [[ -f $f ]] || { echo 0; return; }
    local a e
    a=$(grep -c '"event":"answered"' "$f" || true)
    e=$(grep -c '"event":"ended"' "$f" || true)
    echo $((a - e))
}

# Sum of the kernel's per-socket receive drops on the engine's RTP ports.
kernel_drops_engine() {
    python3 - "$RTP_MIN" "$RTP_MAX" <<'PY'
import sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
drops = 0
for line in open("/proc/net/udp").readlines()[1:]:
    f = line.split()
    port = int(f[1].split(":")[1], 16)
    if lo <= port <= hi:
        drops += int(f[-1])
print(drops)
PY
}
udp_rcvbuf_errors() { awk '/^Udp:/ { n++; if (n == 2) print $6 }' /proc/net/snmp; }

M=() # key=value pairs for measure.json
put() { M+=("$1=$2"); }
write_measure() {
    python3 - "$RUN/measure.json" "${M[@]}" <<'PY'
import json, sys
out = {}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try:
        out[k] = json.loads(v)
    except ValueError:
        out[k] = v
json.dump(out, open(sys.argv[1], "w"), indent=1)
PY
}

# ---------------------------------------------------------------------------------------------
build() {
    log "building the release binary"
    (cd "$ROOT" && cargo build --release -p ivr-core --bin ivr) >&2
    BIN="$ROOT/target/release/ivr"
    [[ -x $BIN ]] || die "no $BIN"
}

# start_engine TIMEOUT_S MAX_CALLS
start_engine() {
    local timeout=$1 max_calls=$2
    rm -rf "$RUN"; mkdir -p "$RUN/data"
    cat >"$RUN/ivr.toml" <<EOF
# Generated by bench/run.sh ($MODE)
[server]
data = "$RUN/data"
drain_timeout = "5s"
[sip]
listen = "127.0.0.1:0"
tcp = false
[rtp]
bind = "127.0.0.1"
port_min = $RTP_MIN
port_max = $RTP_MAX
symmetric = true
[[trunks]]
name = "bench"
allow = ["127.0.0.0/8"]
[limits]
max_calls = 4500
invite_rate = 100000
[demo]
prompt = "$ROOT/examples/prompts/welcome.wav"
repeat = true
timeout = "${timeout}s"
[recording]
enabled = false
EOF
    RUST_LOG=${BENCH_LOG:-warn} "$BIN" serve --config "$RUN/ivr.toml" \
        >"$RUN/engine.stdout" 2>"$RUN/engine.log" &
    ENGINE_PID=$!
    STATS_SEEN=0
    for _ in $(seq 100); do
        grep -q '"event":"ready"' "$RUN/engine.stdout" 2>/dev/null && break
        kill -0 "$ENGINE_PID" 2>/dev/null || die "engine exited: $(tail -5 "$RUN/engine.log")"
        sleep 0.1
    done
    local ready
    ready=$(grep '"event":"ready"' "$RUN/engine.stdout" | head -1)
    [[ -n $ready ]] || die "engine not ready after 10 s"
    ENGINE_SIP=$(jget "$ready" sip_udp)
    log "engine pid $ENGINE_PID on $ENGINE_SIP (max_calls $max_calls, demo.timeout ${timeout}s)"
    handles_usr1 || log "note: the engine does not handle SIGUSR1; task counts unavailable"
    sleep 1
}

# run_sipp SCENARIO ARGS... (in the background; SIPP_PID)
run_sipp() {
    local scen=$1; shift
    SIPP_PORT=$(free_udp_port)
    MEDIA_PORT=$(free_udp_port)
    (cd "$RUN" && exec sipp -nostdin -sf "$scen" -i 127.0.0.1 -p "$SIPP_PORT" \
        -mi 127.0.0.1 -mp "$MEDIA_PORT" -s bench \
        -trace_rtt -rtt_freq 1 -trace_stat -fd 5 -trace_err -max_recv_loops 10000 \
        "$@" "$ENGINE_SIP" >"$RUN/sipp.stdout" 2>"$RUN/sipp.stderr") &
    SIPP_PID=$!
    log "sipp pid $SIPP_PID: $*"
}

wait_sipp() { # wait_sipp MAX_SECONDS; records sipp_rc
    local max=$1 rc=0
    for _ in $(seq $((max * 10))); do
        kill -0 "$SIPP_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SIPP_PID" 2>/dev/null; then
        log "sipp still running after ${max}s: stopping it"
        kill -INT "$SIPP_PID" 2>/dev/null || true
        sleep 2
        kill -KILL "$SIPP_PID" 2>/dev/null || true
    fi
    wait "$SIPP_PID" 2>/dev/null || rc=$?
    put sipp_rc "$rc"
    SIPP_PID=
}

wait_calls_ended() { # wait_calls_ended MAX_SECONDS
    for _ in $(seq $(($1 * 10))); do
        (( $(active_calls) <= 0 )) && return 0
        sleep 0.1
    done
    log "calls still active after $1 s: $(active_calls)"
}

finish_engine() {
    put engine_alive "$(kill -0 "$ENGINE_PID" 2>/dev/null && echo true || echo false)"
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$ENGINE_PID" 2>/dev/null || true
    ENGINE_PID=
}

common_measure() {
    put mode "\"$MODE\""
    put clk_tck "$HZ"
}

# ---------------------------------------------------------------------------------------------
run_concurrent() {
    MODE=concurrent RUN="$OUT/concurrent"
    local ramp=$(( (CALLS + RATE - 1) / RATE ))
    local settle=4
    # A digit ends the demo prompt's repetition (barge-in), so the digits come after the
    # measurement window: every call sends its 7 digits in the last 12 s of its media.
    local timeout=$((ramp + settle + MEASURE + 14)) # engine hangs up this long after answer
    local pcap_secs=$((timeout - 2))                # the caller's media ends before the BYE
    start_engine "$timeout" 4500
    M=(); common_measure
    local made scen
    if [[ $MEDIA == pcap ]]; then
        made=$(python3 "$BENCH/mkpcap.py" "$RUN/caller.pcap" "$pcap_secs" 1234567 $((pcap_secs - 12)) 1.5)
        sed -e "s#@PCAP@#$RUN/caller.pcap#" -e "s#@BYE_TIMEOUT@#$(( (timeout + 30) * 1000 ))#" \
            "$BENCH/scenarios/media_call.xml" >"$RUN/media_call.xml"
        scen="$RUN/media_call.xml"
    else
        made=$(python3 "$BENCH/mkaudio.py" "$RUN/caller.ulaw" "$pcap_secs" 1234567 $((pcap_secs - 12)) 1.5)
        sed -e "s#@AUDIO@#$RUN/caller.ulaw#" -e "s#@BYE_TIMEOUT@#$(( (timeout + 30) * 1000 ))#" \
            "$BENCH/scenarios/stream_call.xml" >"$RUN/stream_call.xml"
        scen="$RUN/stream_call.xml"
    fi
    put media "\"$MEDIA\""
    put packets_per_call "${made% *}"
    put digits_per_call "${made#* }"
    put calls "$CALLS"

    put rss_idle_kb "$(rss_kb "$ENGINE_PID")"
    local st
    st=$(engine_stats); put tasks_idle "$(jget "$st" tasks)"
    local drops0 rcvbuf0
    rcvbuf0=$(udp_rcvbuf_errors)

    log "concurrent: $CALLS calls at $RATE/s, ${MEASURE}s window, calls last ${timeout}s"
    run_sipp "$scen" -l "$CALLS" -r "$RATE" -m "$CALLS" \
        -timeout "$((timeout + 90))s"
    sleep $((ramp + settle))
    log "ramp done: $(active_calls) calls active"
    drops0=$(kernel_drops_engine)
    local e0 s0 i0 t0
    e0=$(cpu_ticks "$ENGINE_PID"); s0=$(cpu_ticks "$SIPP_PID"); i0=$(machine_idle)
    t0=$(date +%s.%N)
    local half=$((MEASURE / 2))
    if [[ $PERF == 1 ]]; then
        sleep_until "$t0" $(( half > PERF_SECS / 2 ? half - PERF_SECS / 2 : 0 ))
        log "perf record -g for ${PERF_SECS}s"
        perf record -e cpu-clock -F 499 -g -p "$ENGINE_PID" -o "$RUN/perf.data" \
            -- sleep "$PERF_SECS" >"$RUN/perf.log" 2>&1 &
        PERF_PID=$!
    fi
    # Plateau samples at mid-window.
    sleep_until "$t0" "$half"
    put rss_plateau_kb "$(rss_kb "$ENGINE_PID")"
    put active_at_plateau "$(active_calls)"
    st=$(engine_stats); put tasks_plateau "$(jget "$st" tasks)"
    [[ $st != '{}' ]] && echo "$st" >"$RUN/stats_plateau.json"
    if [[ -n $PERF_PID ]]; then wait "$PERF_PID" || true; PERF_PID=; fi
    sleep_until "$t0" "$MEASURE"
    local e1 s1 i1 t1
    e1=$(cpu_ticks "$ENGINE_PID"); s1=$(cpu_ticks "$SIPP_PID"); i1=$(machine_idle)
    t1=$(date +%s.%N)
    put kernel_drops_engine "$(( $(kernel_drops_engine) - drops0 ))"
    put eng_ticks0 "$e0"; put eng_ticks1 "$e1"; put sipp_ticks0 "$s0"; put sipp_ticks1 "$s1"
    put window_s "$(python3 -c "print($t1 - $t0)")"
    put idle_cpu_pct "$(python3 -c "
a=[float(x) for x in '$i0'.split()]; b=[float(x) for x in '$i1'.split()]
print(round(100*(b[0]-a[0])/max(1,b[1]-a[1]),1))")"
    log "window done: $(active_calls) calls active; waiting for the calls to end"
    wait_sipp $((timeout + 120))
    wait_calls_ended 30
    sleep 2
    put rss_after_kb "$(rss_kb "$ENGINE_PID")"
    st=$(engine_stats); put tasks_after "$(jget "$st" tasks)"
    put udp_rcvbuf_errors "$(( $(udp_rcvbuf_errors) - rcvbuf0 ))"
    finish_engine
    write_measure
    python3 "$BENCH/report.py" "$RUN"
    if [[ -f $RUN/perf.data ]]; then
        perf report -i "$RUN/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
            | grep -v '^#' | grep '%' | head -40 >"$RUN/perf_top.txt" || true
        perf report -i "$RUN/perf.data" --no-children --sort dso --stdio 2>/dev/null \
            | grep -v '^#' | grep '%' | head -15 >"$RUN/perf_dso.txt" || true
        log "perf top symbols: $RUN/perf_top.txt"
    fi
}

run_setup() {
    MODE=setup RUN="$OUT/setup"
    local calls=$((SETUP_RATE * SETUP_SECS))
    start_engine 600 4500
    M=(); common_measure
    put calls "$calls"
    sed -e "s#@PLAY@##" -e "s#@HOLD_MS@#$SETUP_HOLD#" \
        "$BENCH/scenarios/short_call.xml" >"$RUN/short_call.xml"
    put rss_idle_kb "$(rss_kb "$ENGINE_PID")"
    local st; st=$(engine_stats); put tasks_idle "$(jget "$st" tasks)"
    log "setup: $calls calls at $SETUP_RATE/s, each ${SETUP_HOLD} ms"
    local e0 s0 t0 i0
    run_sipp "$RUN/short_call.xml" -l 20000 -r "$SETUP_RATE" -m "$calls" \
        -timeout "$((SETUP_SECS + 60))s"
    sleep 2 # past the first second of ramp
    e0=$(cpu_ticks "$ENGINE_PID"); s0=$(cpu_ticks "$SIPP_PID"); i0=$(machine_idle)
    t0=$(date +%s.%N)
    sleep $((SETUP_SECS - 4))
    local e1 s1 i1 t1
    e1=$(cpu_ticks "$ENGINE_PID"); s1=$(cpu_ticks "$SIPP_PID"); i1=$(machine_idle)
    t1=$(date +%s.%N)
    put active_at_plateau "$(active_calls)"
    put rss_plateau_kb "$(rss_kb "$ENGINE_PID")"
    put eng_ticks0 "$e0"; put eng_ticks1 "$e1"; put sipp_ticks0 "$s0"; put sipp_ticks1 "$s1"
    put window_s "$(python3 -c "print($t1 - $t0)")"
    put idle_cpu_pct "$(python3 -c "
a=[float(x) for x in '$i0'.split()]; b=[float(x) for x in '$i1'.split()]
print(round(100*(b[0]-a[0])/max(1,b[1]-a[1]),1))")"
    wait_sipp 120
    wait_calls_ended 30
    sleep 2
    put rss_after_kb "$(rss_kb "$ENGINE_PID")"
    st=$(engine_stats); put tasks_after "$(jget "$st" tasks)"
    finish_engine
    write_measure
    python3 "$BENCH/report.py" "$RUN"
}

run_soak() {
    MODE=soak RUN="$OUT/soak"
    start_engine 600 4500
    M=(); common_measure
    put calls "$SOAK_CALLS"
    local made
    # Caller media: SIPp rtp_stream (one UDP socket per call) with one in-band digit; PCMU only.
    made=$(python3 "$BENCH/mkaudio.py" "$RUN/caller.ulaw" "$(python3 -c "print(max(0.8, $SOAK_HOLD/1000 - 0.3))")" 5 0.3 1)
    put packets_per_call "${made% *}"
    put digits_per_call "${made#* }"
    sed -e "s#@PLAY@#<nop><action><exec rtp_stream=\"$RUN/caller.ulaw,1,0\"/></action></nop>#" \
        -e "s#@HOLD_MS@#$SOAK_HOLD#" \
        -e "s#\[media_port\] RTP/AVP 0 101#[rtpstream_audio_port] RTP/AVP 0#" \
        -e "/telephone-event/d" -e "/a=fmtp:101/d" \
        "$BENCH/scenarios/short_call.xml" >"$RUN/short_call.xml"
    sleep 2
    put rss_idle_kb "$(rss_kb "$ENGINE_PID")"
    local st; st=$(engine_stats); put tasks_idle "$(jget "$st" tasks)"
    [[ $st != '{}' ]] && echo "$st" >"$RUN/stats_idle.json"
    local secs=$(( SOAK_CALLS / SOAK_RATE + 1 ))
    log "soak: $SOAK_CALLS calls at $SOAK_RATE/s (~${secs}s), each ${SOAK_HOLD} ms"
    local e0 t0
    e0=$(cpu_ticks "$ENGINE_PID"); t0=$(date +%s.%N)
    run_sipp "$RUN/short_call.xml" -l 5000 -r "$SOAK_RATE" -m "$SOAK_CALLS" \
        -timeout "$((secs + 120))s"
    echo "elapsed_s,rss_kb,active_calls" >"$RUN/rss_timeline.csv"
    local start=$SECONDS
    while kill -0 "$SIPP_PID" 2>/dev/null; do
        echo "$((SECONDS - start)),$(rss_kb "$ENGINE_PID"),$(active_calls)" >>"$RUN/rss_timeline.csv"
        sleep 10
    done
    wait_sipp 1
    local e1 t1
    e1=$(cpu_ticks "$ENGINE_PID"); t1=$(date +%s.%N)
    put eng_ticks0 "$e0"; put eng_ticks1 "$e1"
    put window_s "$(python3 -c "print($t1 - $t0)")"
    wait_calls_ended 60
    # Completed SIP transactions are kept for 64*T1 = 32 s (RFC 3261 Timers J and L) to absorb
    # retransmissions; "back to idle" is measured after they are gone.
    sleep 35
    put rss_after_kb "$(rss_kb "$ENGINE_PID")"
    st=$(engine_stats); put tasks_after "$(jget "$st" tasks)"
    [[ $st != '{}' ]] && echo "$st" >"$RUN/stats_after.json"
    finish_engine
    write_measure
    python3 "$BENCH/report.py" "$RUN"
}

# ---------------------------------------------------------------------------------------------
command -v sipp >/dev/null || die "sipp not found (apt-get install sip-tester)"
mkdir -p "$OUT"
build
case $MODE in
    concurrent) run_concurrent ;;
    setup) run_setup ;;
    soak) run_soak ;;
    all) run_setup; run_concurrent; run_soak ;;
    *) die "usage: $0 [concurrent|setup|soak|all]" ;;
esac
