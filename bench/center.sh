#!/usr/bin/env bash
# Call-center load runs of the engine on loopback. See docs/BENCHMARKS.md ("Call center").
#
#   bench/center.sh [wallboard|cpu|all]      (default: all)
#
# wallboard  one engine with [api] and [acd]; center-bench opens CENTER_STREAMS supervisor
#            Wallboard streams, logs CENTER_AGENTS agents in and toggles one agent's state
#            CENTER_TOGGLES times, every CENTER_INTERVAL_MS; it prints how long each stream took
#            to show each change (p50/p95/p99/max).
# cpu        engine CPU per call, two runs of CENTER_CALLS (M) concurrent SIPp callers streaming
#            PCMU (a looped tone) into a plan that queues them:
#              ivr      nobody logged in: every caller stays on hold (the looped hold audio,
#                       examples/prompts/welcome.wav, out; the caller's stream in);
#              bridged  M agents (center-bench agents) with M phones (SIPp UAS answering PCMA
#                       with -rtp_echo, one process and port each): every caller is bridged to
#                       a phone that echoes them, so the engine relays and transcodes both legs.
#            The engine's utime+stime over a CENTER_MEASURE s window at full load, from
#            /proc/PID/stat, divided by M (its idle CPU before the calls is reported beside).
#
# Everything is bound to 127.0.0.1, bounded in time, and every process started here is stopped
# on exit (by PID). Output in $BENCH_OUT/center/ (default bench/out/center/): engine configs and
# logs, center-bench output, summary.json.
#
# Knobs (environment):
#   CENTER_STREAMS=100 CENTER_AGENTS=20 CENTER_TOGGLES=200 CENTER_INTERVAL_MS=250
#   CENTER_CALLS=50 CENTER_RATE=10 (calls/s while ramping) CENTER_MEASURE=30 (s)
#   CENTER_PROFILE=release (or debug: no release build, for a smoke run)
#   CENTER_BUILD=0 (use the binaries already built)
#   CENTER_PERF=1 (perf record -g the engine for half of each cpu window: RUN/perf_top.txt)
#   CENTER_LOG=warn (engine RUST_LOG)   BENCH_OUT=bench/out
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
OUT=${BENCH_OUT:-$BENCH/out}/center
WHAT=${1:-all}
HZ=$(getconf CLK_TCK)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PROFILE=${CENTER_PROFILE:-release}

STREAMS=${CENTER_STREAMS:-100}
AGENTS=${CENTER_AGENTS:-20}
TOGGLES=${CENTER_TOGGLES:-200}
INTERVAL_MS=${CENTER_INTERVAL_MS:-250}
CALLS=${CENTER_CALLS:-50}
RATE=${CENTER_RATE:-10}
MEASURE=${CENTER_MEASURE:-30}
TOKEN=bench-supervisor-token-0123456789
RTP_MIN=10000
RTP_MAX=13999
PHONE_SIP_BASE=14000   # agent phones' SIP ports: 14000 + i
PHONE_MEDIA_BASE=16000 # agent phones' media ports: 16000 + 4 i (up to 19999)
CALLER_MEDIA=20000
(( CALLS <= 1000 )) || { echo "CENTER_CALLS is at most 1000" >&2; exit 2; }

log() { printf '[center %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Processes we start, stopped on exit (by PID only).
ENGINE_PID=
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    if [[ -n $ENGINE_PID ]] && kill -0 "$ENGINE_PID" 2>/dev/null; then
        kill -TERM "$ENGINE_PID" 2>/dev/null || true
        sleep 1
        kill -TERM "$ENGINE_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$ENGINE_PID" 2>/dev/null || true
    fi
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    ENGINE_PID= PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_udp_port() { # for the callers' SIP port only (SIPp binds nothing beside it)
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
user_ticks() { awk '{ sub(/^.*\) /, ""); print $12 }' "/proc/$1/stat"; }
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1] or "{}"); v=d
for k in sys.argv[2].split("."):
    v=v.get(k) if isinstance(v,dict) else None
print("null" if v is None else v)' "$1" "$2"; }
count_events() { grep -c "\"event\":\"$1\"" "$RUN/data/events.jsonl" 2>/dev/null || true; }
pct() { python3 -c "print(round(100 * ($2 - $1) / $HZ / $3, 2))"; }

# ---------------------------------------------------------------------------------------------
build() {
    if [[ ${CENTER_BUILD:-1} == 0 ]]; then
        :
    elif [[ $PROFILE == release ]]; then
        log "building the release binaries"
        (cd "$ROOT" && cargo build --release -p ivr-core --bin ivr -p ivr-tests --bin center-bench) >&2
    else
        (cd "$ROOT" && cargo build -p ivr-core --bin ivr -p ivr-tests --bin center-bench) >&2
    fi
    BIN="$TARGET/$PROFILE/ivr"
    TOOL="$TARGET/$PROFILE/center-bench"
    [[ -x $BIN && -x $TOOL ]] || die "no $BIN or $TOOL"
}

# start_engine NAME: an engine whose only plan queues every caller in `support`.
start_engine() {
    RUN="$OUT/$1"
    rm -rf "$RUN"; mkdir -p "$RUN/data" "$RUN/plans"
    cat >"$RUN/plans/hold.yaml" <<EOF
version: 1
name: hold
language: en-US
start: queue
nodes:
  queue:
    enqueue: support
EOF
    cat >"$RUN/ivr.toml" <<EOF
# Generated by bench/center.sh ($1)
[server]
data = "$RUN/data"
plans = "$RUN/plans"
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
max_calls = 1000
invite_rate = 100000
[recording]
enabled = false
[demo]
# The hold audio queued callers hear (looped).
prompt = "$ROOT/examples/prompts/welcome.wav"
[api]
listen = "127.0.0.1:0"
tokens = [ { token = "$TOKEN", principal = "bench", role = "supervisor" } ]
[acd]
[[acd.queues]]
name = "support"
strategy = "longest_idle"
ring_timeout = "15s"
wrap_up = "5s"
max_wait = "10m"
max_length = 1000
EOF
    RUST_LOG=${CENTER_LOG:-warn} "$BIN" serve --config "$RUN/ivr.toml" \
        >"$RUN/engine.stdout" 2>"$RUN/engine.log" &
    ENGINE_PID=$!
    for _ in $(seq 100); do
        grep -q '"event":"ready"' "$RUN/engine.stdout" 2>/dev/null && break
        kill -0 "$ENGINE_PID" 2>/dev/null || die "engine exited: $(tail -5 "$RUN/engine.log")"
        sleep 0.1
    done
    local ready
    ready=$(grep '"event":"ready"' "$RUN/engine.stdout" | head -1)
    [[ -n $ready ]] || die "engine not ready after 10 s"
    ENGINE_SIP=$(jget "$ready" sip_udp)
    GRPC="http://$(jget "$ready" grpc)"
    log "engine pid $ENGINE_PID: sip $ENGINE_SIP, grpc $GRPC"
    sleep 1
}

stop_engine() {
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ENGINE_PID" 2>/dev/null || true
    wait "$ENGINE_PID" 2>/dev/null || true
    ENGINE_PID=
}

# wait_pid PID MAX_SECONDS: waits, then interrupts and kills it.
wait_pid() {
    local p=$1
    for _ in $(seq $(($2 * 10))); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        log "pid $p still running after $2 s: stopping it"
        kill -INT "$p" 2>/dev/null || true; sleep 2; kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
run_wallboard() {
    start_engine wallboard
    log "wallboard: $STREAMS streams, $AGENTS agents, $TOGGLES state changes every ${INTERVAL_MS} ms"
    local e0 t0 e1 t1
    e0=$(cpu_ticks "$ENGINE_PID"); t0=$(date +%s.%N)
    timeout $((TOGGLES * INTERVAL_MS / 1000 + 90)) "$TOOL" --grpc "$GRPC" --token "$TOKEN" \
        wallboard --streams "$STREAMS" --agents "$AGENTS" --toggles "$TOGGLES" \
        --interval-ms "$INTERVAL_MS" >"$RUN/wallboard.json" 2>"$RUN/center-bench.log" \
        || die "center-bench wallboard failed: $(tail -3 "$RUN/center-bench.log")"
    e1=$(cpu_ticks "$ENGINE_PID"); t1=$(date +%s.%N)
    local cpu
    cpu=$(pct "$e0" "$e1" "$(python3 -c "print($t1 - $t0)")")
    echo "$cpu" >"$RUN/engine_cpu_pct"
    log "wallboard: $(cat "$RUN/wallboard.json") (engine CPU ${cpu}% over the run)"
    stop_engine
}

# run_calls NAME AGENTS: M callers, with AGENTS agents (0 or M) answering on echoing phones.
run_calls() {
    local name=$1 agents=$2
    start_engine "$name"
    local ramp=$(( (CALLS + RATE - 1) / RATE )) settle=6
    local hold_ms=$(( (ramp + settle + MEASURE + 4) * 1000 ))
    python3 "$BENCH/mkaudio.py" "$RUN/caller.ulaw" 10 "" 100 100 >/dev/null
    sed -e "s#@AUDIO@#$RUN/caller.ulaw#" -e "s#@HOLD_MS@#$hold_ms#" \
        "$BENCH/scenarios/center_call.xml" >"$RUN/center_call.xml"
    sed -e "s#@HOLD@#$((hold_ms + 30000))#" "$ROOT/tests/scenarios/agent_phone.xml" \
        >"$RUN/agent_phone.xml"
    # Fixed port blocks below the ephemeral range and outside the engine's RTP range: SIPp also
    # binds the ports after -mp (RTCP, video), so random free ports can collide.
    local contacts=() i port
    for ((i = 0; i < agents; i++)); do
        port=$((PHONE_SIP_BASE + i))
        (cd "$RUN" && exec sipp -nostdin -sf agent_phone.xml -i 127.0.0.1 -p "$port" \
            -mi 127.0.0.1 -mp $((PHONE_MEDIA_BASE + 4 * i)) -rtp_echo -m 1 \
            -timeout "$(( hold_ms / 1000 + 60 ))s" "$ENGINE_SIP" \
            >"$RUN/phone-$i.log" 2>&1) &
        PIDS+=($!)
        contacts+=("sip:phone$i@127.0.0.1:$port")
    done
    local agents_pid=
    if (( agents > 0 )); then
        "$TOOL" --grpc "$GRPC" --token "$TOKEN" agents \
            --contacts "$(IFS=,; echo "${contacts[*]}")" \
            --duration-s $(( hold_ms / 1000 + 30 )) >"$RUN/agents.json" 2>"$RUN/center-bench.log" &
        agents_pid=$!
        PIDS+=("$agents_pid")
        sleep 3
    fi
    local idle0 idle1 ti0 ti1
    idle0=$(cpu_ticks "$ENGINE_PID"); ti0=$(date +%s.%N)
    sleep 5
    idle1=$(cpu_ticks "$ENGINE_PID"); ti1=$(date +%s.%N)
    local idle_pct
    idle_pct=$(pct "$idle0" "$idle1" "$(python3 -c "print($ti1 - $ti0)")")

    log "$name: $CALLS callers at $RATE/s, each ${hold_ms} ms, $agents agents"
    (cd "$RUN" && exec sipp -nostdin -sf center_call.xml -i 127.0.0.1 -p "$(free_udp_port)" \
        -mi 127.0.0.1 -mp "$CALLER_MEDIA" -s hold -l "$CALLS" -m "$CALLS" -r "$RATE" \
        -trace_err -timeout "$(( hold_ms / 1000 + 60 ))s" "$ENGINE_SIP" \
        >"$RUN/sipp.stdout" 2>"$RUN/sipp.stderr") &
    local sipp_pid=$!
    PIDS+=("$sipp_pid")
    sleep $((ramp + settle))
    local answered queued connected
    answered=$(count_events answered); queued=$(count_events enqueued)
    connected=$(count_events agent_connected)
    log "$name: $answered answered, $queued queued, $connected bridged; measuring ${MEASURE} s"
    local e0 t0 e1 t1
    local u0 u1
    u0=$(user_ticks "$ENGINE_PID")
    e0=$(cpu_ticks "$ENGINE_PID"); t0=$(date +%s.%N)
    if [[ ${CENTER_PERF:-0} == 1 ]]; then
        # Inside the window: perf's own cost lands on the engine's figure, so compare
        # profiles, not CPU figures, of such runs.
        perf record -e cpu-clock -F 499 -g -p "$ENGINE_PID" -o "$RUN/perf.data" \
            -- sleep $((MEASURE / 2)) >"$RUN/perf.log" 2>&1 || true
        sleep $((MEASURE - MEASURE / 2))
        perf report -i "$RUN/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
            | grep -v '^#' | grep '%' | head -40 >"$RUN/perf_top.txt" || true
    else
        sleep "$MEASURE"
    fi
    e1=$(cpu_ticks "$ENGINE_PID"); t1=$(date +%s.%N)
    u1=$(user_ticks "$ENGINE_PID")
    local user
    user=$(pct "$u0" "$u1" "$(python3 -c "print($t1 - $t0)")")
    local ended_in_window
    ended_in_window=$(count_events ended)
    local cpu
    cpu=$(pct "$e0" "$e1" "$(python3 -c "print($t1 - $t0)")")
    wait_pid "$sipp_pid" $(( hold_ms / 1000 + 30 ))
    local sipp_ok
    sipp_ok=$(awk -F'|' '/Successful call/ { gsub(/ /, "", $3); n = $3 } END { print n + 0 }' \
        "$RUN/sipp.stdout" 2>/dev/null || echo 0)
    [[ -n $agents_pid ]] && wait_pid "$agents_pid" 40
    for p in "${PIDS[@]}"; do wait_pid "$p" 5; done
    PIDS=()
    local per
    # Not less the idle figure: that is a few clock ticks, too coarse to subtract.
    per=$(python3 -c "print(round($cpu / $CALLS, 4))")
    log "$name: engine CPU ${cpu}% (idle ${idle_pct}%) for $CALLS calls: ${per}% per call"
    python3 - "$RUN/result.json" <<EOF
import json, sys
json.dump({"calls": $CALLS, "agents": $agents, "answered": $answered, "queued": $queued,
           "bridged": $connected, "ended_by_window_end": $ended_in_window,
           "sipp_successful_calls": ${sipp_ok:-0}, "window_s": $MEASURE, "cpu_pct": $cpu,
           "user_cpu_pct": $user, "idle_cpu_pct": $idle_pct, "cpu_pct_per_call": $per}, open(sys.argv[1], "w"))
EOF
    stop_engine
}

# ---------------------------------------------------------------------------------------------
mkdir -p "$OUT"
build
case $WHAT in
    wallboard) run_wallboard ;;
    cpu) run_calls ivr 0; run_calls bridged "$CALLS" ;;
    all) run_wallboard; run_calls ivr 0; run_calls bridged "$CALLS" ;;
    *) die "unknown mode $WHAT (wallboard, cpu or all)" ;;
esac
python3 - "$OUT" "$(nproc)" "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" <<'EOF'
import json, os, sys
out_dir = sys.argv[1]
def read(path, parse=json.loads):
    try:
        return parse(open(os.path.join(out_dir, path)).read())
    except (OSError, ValueError):
        return None
out = {
    "machine": {"nproc": int(sys.argv[2]), "cpu": sys.argv[3]},
    "wallboard": read("wallboard/wallboard.json"),
    "wallboard_engine_cpu_pct": read("wallboard/engine_cpu_pct", float),
    "ivr_only": read("ivr/result.json"),
    "bridged": read("bridged/result.json"),
    "bridged_agents": read("bridged/agents.json"),
}
ivr, bridged = out["ivr_only"], out["bridged"]
if ivr and bridged and ivr["cpu_pct_per_call"] > 0:
    out["bridged_over_ivr"] = round(bridged["cpu_pct_per_call"] / ivr["cpu_pct_per_call"], 2)
    if ivr.get("user_cpu_pct"):
        out["bridged_over_ivr_user_only"] = round(bridged["user_cpu_pct"] / ivr["user_cpu_pct"], 2)
json.dump(out, open(os.path.join(out_dir, "summary.json"), "w"), indent=1)
print(json.dumps(out, indent=1))
EOF
