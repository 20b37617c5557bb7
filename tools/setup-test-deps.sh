#!/usr/bin/env bash
# Installs what the test suite runs against on Debian 12: real peers this project
# did not write (ffmpeg/ffprobe, nginx with libnginx-mod-rtmp, srt-live-transmit
# from srt-tools, promtool, openssl,
# Chromium with hls.js and shaka-player through playwright-core).
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"
packages=(ffmpeg nginx libnginx-mod-rtmp srt-tools prometheus openssl python3 curl chromium)
# Node may come from elsewhere (e.g. NodeSource, whose nodejs bundles npm and
# conflicts with Debian's npm): only install Debian's when there is no npm at all.
command -v npm >/dev/null || packages+=(nodejs npm)
if install_missing "" "${packages[@]}"; then
  # The packaged nginx and prometheus services are not used by the tests (they start
  # their own nginx on loopback ports and only run promtool); stop them so they do
  # not hold ports 80 and 9090.
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo systemctl disable --now nginx prometheus >/dev/null 2>&1 || true
fi
bash "$(dirname "$0")/setup-build-deps.sh"
bash "$(dirname "$0")/setup-player.sh"
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup, stable >= 1.85)" >&2; exit 1; }
