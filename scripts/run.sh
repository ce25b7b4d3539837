#!/usr/bin/env bash
# Runs the engine on its embedded defaults: SIP on 127.0.0.1:5060 (UDP and TCP), calls accepted
# from loopback, the bundled demo prompt, data in ./data. Extra arguments go to `ivr serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet -p ivr-core --bin ivr
exec target/release/ivr serve "$@"
