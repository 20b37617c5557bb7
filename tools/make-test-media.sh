#!/usr/bin/env bash
# Generates the test clip the end-to-end tests and benchmarks publish: 1080p30 H.264
# High with B-frames (GOP 2 s) + AAC 48 kHz, about 4.6 Mbit/s. Usage: make-test-media.sh OUT.flv [SECONDS]
set -euo pipefail
out=${1:?output file}
seconds=${2:-10}
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=1920x1080:rate=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t "$seconds" -c:v libx264 -preset veryfast -profile:v high -bf 2 -g 60 \
  -b:v 4500k -maxrate 4500k -bufsize 9000k -pix_fmt yuv420p \
  -c:a aac -b:a 128k -shortest "$out"
