//! Frame-for-frame comparison of a received recording with its source by payload
//! hash (ffprobe `-show_data_hash`). Shared by `tests/srt_loss.rs` and
//! `tools/srt_bench`, so it uses nothing but std and ffprobe.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

/// Per-packet (video?, MD5 of the payload) of a file, in order.
pub fn payload_hashes(path: &Path) -> Vec<(bool, String)> {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-show_data_hash", "MD5", "-show_entries"])
        .args(["packet=codec_type,data_hash", "-of", "csv=p=0:nk=0"])
        .arg(path);
    let output = cmd.output().expect("run ffprobe");
    assert!(
        output.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = String::from_utf8_lossy(&output.stdout);
    // ffprobe may print a packet's hash on a line of its own after its codec_type.
    let mut packets = Vec::new();
    let mut video = None;
    for kv in out.lines().flat_map(|line| line.split(',')) {
        match kv.split_once('=') {
            Some(("codec_type", t)) => video = Some(t == "video"),
            Some(("data_hash", h)) => {
                if let Some(v) = video.take() {
                    packets.push((v, h.to_owned()));
                }
            }
            _ => {}
        }
    }
    packets
}

/// Video frames of `received` whose payload equals the source's frame at the same
/// position (the streams start together; a lost frame shifts nothing in TS or FLV
/// because frames are matched by their order among intact ones).
pub fn intact_video_frames(source: &[(bool, String)], received: &[(bool, String)]) -> usize {
    let wanted: HashSet<&String> = source.iter().filter(|(v, _)| *v).map(|(_, h)| h).collect();
    received
        .iter()
        .filter(|(v, h)| *v && wanted.contains(h))
        .count()
}
