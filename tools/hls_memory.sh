#!/usr/bin/env bash
# Memory per live stream with HLS/DASH (issue #3): Manifold's resident memory with
# no stream, then with N streams of the 1080p30 ~4.6 Mbit/s test clip published in
# a loop, once every stream's window (hls.window segments, default 6) is full.
# Reports MiB per stream. Each stream holds its window as CMAF (the frames' own
# buffers) plus the MPEG-TS variant, the GOP cache and its queues. Also prints the
# first stream's keyframe-to-servable latency (a keyframe reaching the stream ->
# the LL-HLS part starting with it in the window) from the admin API.
#
#   cargo build --release && tools/hls_memory.sh [streams, default 4] [window, default 6]
set -euo pipefail
cd "$(dirname "$0")/.."
streams=${1:-4}
window=${2:-6}
. tools/lib/bench.sh
bench_setup ffmpeg curl
rtmp=$(port); http=$(port); admin=$(port); srt=$(port)
cat > "$work/manifold.toml" <<TOML
[server]
workers = 2
[rtmp]
listen = "127.0.0.1:$rtmp"
[http]
listen = "127.0.0.1:$http"
[srt]
listen = "127.0.0.1:$srt"
[admin]
listen = "127.0.0.1:$admin"
token = "hls-memory-bench"
[ingest]
allow_undeclared = true
[hls]
window = $window
TOML
RUST_LOG=warn target/release/manifold --config "$work/manifold.toml" >/dev/null 2>&1 &
manifold_pid=$!
pids+=("$manifold_pid")
rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$manifold_pid/status"; }
sleep 2
idle=$(rss_mib)
for i in $(seq 1 "$streams"); do
  ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$clip" -c copy \
    -f flv "rtmp://127.0.0.1:$rtmp/live/s$i" &
  pids+=($!)
done
# A full window takes window x 2 s; wait that plus two segments, bounded.
settle=$(( window * 2 + 6 ))
for _ in $(seq 1 "$settle"); do sleep 1; done
full=$(rss_mib)
sleep 4
again=$(rss_mib)
echo "idle: $idle MiB; $streams streams, window $window: $full MiB, 4 s later $again MiB"
awk -v a="$idle" -v b="$again" -v n="$streams" 'BEGIN { printf "per stream: %.1f MiB\n", (b - a) / n }'
curl -s -H "Authorization: Bearer hls-memory-bench" "http://127.0.0.1:$admin/api/v1/streams/s1" |
  python3 -c 'import json,sys; h=json.load(sys.stdin)["hls"]; print("keyframe to servable: p50 %s ms, p99 %s ms" % (h["keyframe_to_servable_p50_ms"], h["keyframe_to_servable_p99_ms"]))'
