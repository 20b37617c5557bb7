#!/usr/bin/env bash
# Installs what building Manifold needs on Debian 12 beyond Rust: a C compiler (ring),
# and for the transcoder (issue #5) the system FFmpeg's headers through pkg-config,
# with libclang for the bindings ffmpeg-sys-next generates. Used by tools/run.sh and
# tools/setup-test-deps.sh.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"
install_missing "build dependencies" build-essential pkg-config libclang-dev \
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev \
  libavfilter-dev || true
