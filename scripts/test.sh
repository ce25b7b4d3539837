#!/usr/bin/env bash
# Runs the whole test suite: formatting and lint gates, unit and property tests, socketless
# scenario tests, and end-to-end tests that drive the real `ivr` binary with SIPp.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== build the ivr binary for the end-to-end tests"
cargo build --quiet -p ivr-core --bin ivr
if [ -d media/fuzz ]; then
  echo "== fuzz targets type-check"
  (cd media/fuzz && cargo check --quiet --bins)
fi
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  # nextest does not run doctests
  cargo test --workspace --doc --quiet
else
  cargo test --workspace --no-fail-fast
fi
