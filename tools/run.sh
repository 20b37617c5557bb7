#!/usr/bin/env bash
# Builds Manifold in release mode and runs it on its embedded default config:
# publish to rtmp://HOST:1935/live/NAME, watch rtmp://HOST:1935/live/NAME.
# Extra arguments go to `manifold` (e.g. `--config manifold.toml`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup, stable >= 1.85)" >&2; exit 1; }
bash tools/setup-build-deps.sh
# The player page's libraries (hls.js, shaka-player) come from npm; without npm
# Manifold still runs, and the page says what is missing.
bash tools/setup-player.sh || echo "warning: player libraries not installed (needs npm); HLS/DASH still work" >&2
cargo build --release --locked
exec ./target/release/manifold "$@"
