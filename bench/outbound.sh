#!/usr/bin/env bash
# Outbound campaign load run (pacing accuracy, cost of concurrent outbound calls); see
# bench/outbound.py and docs/BENCHMARKS.md. Arguments go to bench/outbound.py, for example:
#   bench/outbound.sh --contacts 600 --rate 20 --concurrent 500 --hold 60
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
(cd "$ROOT" && cargo build --release -p ivr-core --bin ivr) >&2
exec python3 "$ROOT/bench/outbound.py" "$ROOT/target/release/ivr" "$@"
