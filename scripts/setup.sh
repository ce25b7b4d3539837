#!/usr/bin/env bash
# Installs the system packages the engine and its tests need, if they are missing.
# Idempotent: does nothing when everything is present. Needs root (or sudo) only to install.
set -euo pipefail

packages=(
  sip-tester      # sipp: real SIP peers in tests and benchmarks
  sox             # audio conversion in tests
  espeak-ng       # speech synthesis (prompts, test callers)
  libespeak-ng-dev  # links the embedded TTS engine
  tshark          # SIP/RTP traces when debugging tests
  baresip-core    # a second real SIP client in end-to-end tests
  libpocketsphinx-dev  # links the embedded speech recogniser
  pocketsphinx-en-us   # its US English acoustic model, dictionary and language model
  cmake           # builds whisper.cpp for the optional `whisper` feature of ivr-speech
  g++             # compiles whisper.cpp (same feature)
  libclang-dev    # bindgen, for whisper.cpp's bindings (same feature)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections 2>/dev/null || true
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not installed; install Rust from your distribution or rustup" >&2
  exit 2
fi
