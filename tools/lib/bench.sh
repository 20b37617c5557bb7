# Sourced by the whole-system benchmark scripts (tools/hls_bench.sh,
# tools/hls_memory.sh), from the repository root: checks the tools and the release
# build, makes the 40 s test clip once ($clip), a scratch folder ($work) removed at
# exit with every process listed in $pids stopped, and free loopback ports (port).
#
#   bench_setup TOOL...
bench_setup() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$tool missing (apt-get install $tool)" >&2; exit 1; }
  done
  [ -x target/release/manifold ] || { echo "cargo build --release first" >&2; exit 1; }
  clip=target/test-media/src-1080p30-40s.flv
  [ -f "$clip" ] || { mkdir -p target/test-media && bash tools/make-test-media.sh "$clip" 40; }
  work=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
