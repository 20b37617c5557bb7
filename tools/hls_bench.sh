#!/usr/bin/env bash
# HLS serving throughput (issue #3): Manifold serving a playlist and a ~1.2 MB
# segment from memory vs nginx serving the same bytes from disk with sendfile,
# one worker each, side by side in one run. wrk: 100 connections, 2 threads.
#
#   cargo build --release && tools/hls_bench.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
. tools/lib/bench.sh
bench_setup wrk nginx ffmpeg curl
rtmp=$(port); http=$(port); admin=$(port); static=$(port)

cat > "$work/manifold.toml" <<TOML
[server]
workers = 1
[rtmp]
listen = "127.0.0.1:$rtmp"
[http]
listen = "127.0.0.1:$http"
[admin]
listen = "127.0.0.1:$admin"
[ingest]
allow_undeclared = true
[hls]
window = 30
TOML
RUST_LOG=warn target/release/manifold --config "$work/manifold.toml" >/dev/null 2>&1 &
pids+=($!)
manifold_pid=$!
sleep 1
ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$clip" \
  -c copy -f flv "rtmp://127.0.0.1:$rtmp/live/bench" &
pids+=($!)
base="http://127.0.0.1:$http/live/bench/source"
for _ in $(seq 1 60); do
  [ "$(curl -s "$base/video.m3u8" | grep -c '^#EXTINF' || true)" -ge 2 ] && break
  sleep 0.5
done
segment=$(curl -s "$base/video.m3u8" | grep '^seg-v-' | tail -1)
[ -n "$segment" ] || { echo "no segment appeared" >&2; exit 1; }
mkdir -p "$work/www"
curl -sf "$base/$segment" -o "$work/www/segment.m4s"
curl -sf "$base/video.m3u8" -o "$work/www/video.m3u8"

cat > "$work/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
error_log $work/error.log warn;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { application/vnd.apple.mpegurl m3u8; video/mp4 m4s; }
  server { listen 127.0.0.1:$static; root $work/www; }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
nginx_pid=$!
sleep 1

rate() { wrk -t2 -c100 -d"${seconds}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # name pid url
  local before after r
  before=$(ticks "$2"); r=$(rate "$3"); after=$(ticks "$2")
  echo "$r $(( after - before ))"
}
size=$(stat -c %s "$work/www/segment.m4s")
echo "| what | server | req/s | CPU s (server) | req per CPU s | ratio Manifold/nginx (req per CPU s) |"
echo "|---|---|---|---|---|---|"
for what in playlist segment; do
  if [ "$what" = playlist ]; then m="$base/video.m3u8"; n="http://127.0.0.1:$static/video.m3u8"; label="media playlist"
  else m="$base/$segment"; n="http://127.0.0.1:$static/segment.m4s"; label="segment ($((size / 1024)) KiB)"; fi
  read -r mr mt < <(run manifold "$manifold_pid" "$m")
  read -r nr nt < <(run nginx "$nginx_pid" "$n")
  mcpu=$(awk "BEGIN {print $mt / 100}"); ncpu=$(awk "BEGIN {print $nt / 100}")
  mper=$(awk "BEGIN {printf \"%.0f\", $mr * $seconds / ($mcpu > 0 ? $mcpu : 0.01)}")
  nper=$(awk "BEGIN {printf \"%.0f\", $nr * $seconds / ($ncpu > 0 ? $ncpu : 0.01)}")
  ratio=$(awk "BEGIN {printf \"%.2f\", $mper / $nper}")
  echo "| $label | Manifold (memory) | $mr | $mcpu | $mper | $ratio |"
  echo "| $label | nginx (sendfile) | $nr | $ncpu | $nper | |"
done
