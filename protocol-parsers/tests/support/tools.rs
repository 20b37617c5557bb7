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

/// `key=value` fields of one line of `-of csv=p=0:nk=0` output.
pub fn fields(line: &str) -> std::collections::HashMap<&str, &str> {
    line.split(',')
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// One packet as ffprobe sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probed {
    pub pts: i64,
    pub dts: i64,
    pub size: i64,
    /// Byte offset of the packet its PES starts in; `None` where ffprobe has none
    /// (the later frames of an audio PES).
    pub pos: Option<i64>,
    pub keyframe: bool,
}

/// ffprobe's video and audio packets of a file, each in file order.
pub fn probe_packets(path: &Path) -> (Vec<Probed>, Vec<Probed>) {
    let path = path.to_str().expect("UTF-8 path");
    let entries = "packet=codec_type,pts,dts,size,pos,flags";
    let args = [
        "-v",
        "error",
        "-show_entries",
        entries,
        "-of",
        "csv=p=0:nk=0",
        path,
    ];
    let (out, _) = run("ffprobe", &args);
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let f: std::collections::HashMap<&str, &str> = line
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let number = |key: &str| f.get(key).and_then(|v| v.parse::<i64>().ok());
        let needed = |key: &str| number(key).unwrap_or_else(|| panic!("no {key}: {line}"));
        let packet = Probed {
            pts: needed("pts"),
            dts: needed("dts"),
            size: needed("size"),
            pos: number("pos"),
            keyframe: f.get("flags").is_some_and(|v| v.starts_with('K')),
        };
        match f.get("codec_type").copied() {
            Some("video") => video.push(packet),
            Some("audio") => audio.push(packet),
            other => panic!("unexpected stream {other:?}"),
        }
    }
    (video, audio)
}
