#!/usr/bin/env bash
# The checks of the GPU path that an NVIDIA machine without NVENC (H100/H200) can
# run, for a session lent the device machine (issue #5). Prepare here, run there:
#
#   here:   cargo test --lib --no-run 2>&1 | grep -o 'target/debug/deps/manifold-[0-9a-f]*' \
#             | head -1 | xargs -I{} cp {} gpu/unit-tests
#           (cd gpu && apt-get download libavcodec59 libavfilter8 libavutil57 \
#             libswscale6 libswresample4 libavformat59 libpostproc56 ...)   # what ldd lacks there
#   there:  bash tools/gpu-check.sh gpu        (carry: ["gpu"])
#
# It unpacks any .deb files in DIR, then runs the CUDA scaler's test (upload,
# scale_cuda, download; it fails when a GPU is present and CUDA does not open) and,
# where an ffmpeg binary is there, an NVDEC decode of a generated clip.
set -uo pipefail
dir=${1:?usage: gpu-check.sh DIR (holding unit-tests and any .deb files)}
for deb in "$dir"/*.deb; do
  [ -e "$deb" ] && dpkg -x "$deb" "$dir/root"
done
if [ -d "$dir/root" ]; then
  export LD_LIBRARY_PATH="$dir/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PATH="$dir/root/usr/bin:$PATH"
fi
nvidia-smi --query-gpu=name,driver_version --format=csv || echo "no nvidia-smi"
status=0
"$dir/unit-tests" --exact transcode::ffi::cuda_scaler::tests::scales_on_the_gpu_or_says_why_not \
  --nocapture || status=1
if command -v ffmpeg >/dev/null; then
  ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=1920x1080:rate=30 \
    -t 2 -c:v libx264 -y /tmp/gpu-check.mp4 &&
    ffmpeg -hide_banner -loglevel error -hwaccel cuda -hwaccel_output_format cuda \
      -i /tmp/gpu-check.mp4 -vf scale_cuda=1280:720,hwdownload,format=yuv420p \
      -f null - && echo "NVDEC decode + scale_cuda: ok" || status=1
fi
exit $status
