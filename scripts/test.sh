#!/usr/bin/env bash
# Runs the whole test suite: formatting and lint gates, unit and property tests, socketless
# scenario tests, and end-to-end tests that drive the real `ivr` binary with SIPp.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A one-shot build gains nothing from incremental compilation, whose caches are the largest part
# of a debug target directory; a developer can still set CARGO_INCREMENTAL=1.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== build the ivr binary for the end-to-end tests"
cargo build --quiet -p ivr-core --bin ivr -p ivr-agent-client --bin agent-client
if [ -d media/fuzz ]; then
  # The fuzz targets build on stable as plain binaries; `cargo +nightly fuzz run` (see
  # media/fuzz/README.md) adds the coverage instrumentation for real fuzzing.
  echo "== fuzz targets build"
  (cd media/fuzz && cargo build --quiet --bins)
fi
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  # nextest does not run doctests; run them first so the summary below is the last word.
  cargo test --workspace --doc --quiet
  # The Whisper engine is an optional feature (it compiles whisper.cpp): its tests, with a
  # small random-weight model they generate, run here on their own.
  echo "== whisper (feature) tests"
  cargo clippy --quiet -p ivr-speech --features whisper --all-targets -- -D warnings
  cargo nextest run -p ivr-speech --features whisper --test whisper --no-fail-fast
  cargo nextest run --workspace --no-fail-fast
else
  cargo test -p ivr-speech --features whisper --test whisper
  cargo test --workspace --no-fail-fast
fi
