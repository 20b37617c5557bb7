#!/usr/bin/env bash
# Installs the player libraries Manifold serves at /player/ (hls.js, shaka-player)
# and the headless-browser test driver (playwright-core) from npm into
# player/node_modules, at the versions player/package-lock.json pins.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "npm not found: apt-get install nodejs npm" >&2; exit 1; }
if [ ! -f player/node_modules/.package-lock.json ] || ! cmp -s player/package-lock.json player/node_modules/.package-lock.json 2>/dev/null; then
  npm ci --prefix player --no-audit --no-fund --loglevel=error
fi
