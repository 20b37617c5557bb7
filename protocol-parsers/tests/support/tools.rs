#![allow(clippy::panic, clippy::expect_used, dead_code)]
//! Running the FFmpeg tools from the tests that hold Manifold's output against them
//! (`ts_ffprobe.rs`, `ts_demux.rs`). A missing tool fails the test, never skips it.

use std::path::Path;
use std::process::Command;

/// Fails (never skips) when an FFmpeg tool is missing.
pub fn require(tool: &str) {
    let found = Command::new(tool).arg("-version").output();
    if !found.is_ok_and(|out| out.status.success()) {
        panic!(
            "{tool} is not installed: this test needs it \
             (apt-get install ffmpeg, or run tools/setup-test-deps.sh)"
        );
    }
}

/// `(stdout, stderr)` of a tool that must exit 0.
pub fn run(tool: &str, args: &[&str]) -> (String, String) {
    require(tool);
    let out = Command::new(tool).args(args).output().expect(tool);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{tool} {args:?} failed: {stderr}");
    (stdout, stderr)
}

/// FFmpeg decodes the whole file without a single message on stderr.
pub fn assert_decodes_cleanly(path: &Path) {
    let path = path.to_str().expect("UTF-8 path");
    let args = ["-v", "error", "-nostdin", "-i", path, "-f", "null", "-"];
    let (_, stderr) = run("ffmpeg", &args);
    assert_eq!(stderr, "", "ffmpeg decode of {path} reported problems");
}
