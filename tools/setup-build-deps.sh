#!/usr/bin/env bash
# Installs what building Manifold needs on Debian 12 beyond Rust: a C compiler (ring),
# and for the transcoder (issue #5) the system FFmpeg's headers through pkg-config,
# with libclang for the bindings ffmpeg-sys-next generates. Used by tools/run.sh and
# tools/setup-test-deps.sh.
set -euo pipefail
packages=(build-essential pkg-config libclang-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing build dependencies: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
