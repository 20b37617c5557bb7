//! Reading what a destination received, with ffprobe.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{require, run_output};

#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub video: bool,
    pub pts: i64,
    pub dts: i64,
    pub keyframe: bool,
    pub size: u64,
}

#[derive(Debug, Clone, Default)]
pub struct StreamInfo {
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub width: u32,
    pub height: u32,
}

/// Codecs and dimensions of a file or URL.
pub fn streams(input: &str) -> StreamInfo {
    try_streams(input).unwrap_or_else(|err| panic!("ffprobe {input} failed: {err}"))
}

/// `streams`, or ffprobe's error when it finds nothing (a live URL with nothing on
/// it yet); a read that stalls gives up after 10 s.
pub fn try_streams(input: &str) -> Result<StreamInfo, String> {
    require("ffprobe");
    let mut cmd = Command::new("ffprobe");
    cmd.args([
        "-v",
        "error",
        "-rw_timeout",
        "10000000",
        "-show_entries",
        "stream=codec_type,codec_name,width,height",
        "-of",
        "csv=p=0:nk=0",
        input,
    ]);
    let (status, out, err) = run_output(cmd, "ffprobe -show_streams", Duration::from_secs(30));
    if !status.success() {
        return Err(err);
    }
    let mut info = StreamInfo::default();
    for line in out.lines() {
        let fields: std::collections::HashMap<&str, &str> = line
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        match fields.get("codec_type") {
            Some(&"video") => {
                info.video_codec = fields.get("codec_name").map(|s| s.to_string());
                info.width = fields
                    .get("width")
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0);
                info.height = fields
                    .get("height")
                    .and_then(|h| h.parse().ok())
                    .unwrap_or(0);
            }
            Some(&"audio") => info.audio_codec = fields.get("codec_name").map(|s| s.to_string()),
            _ => {}
        }
    }
    Ok(info)
}

/// Every packet of a file (or the first `read_seconds` of a live URL), in file order.
pub fn packets(input: &str, read_seconds: Option<u32>) -> Vec<Packet> {
    require("ffprobe");
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error"]);
    if let Some(seconds) = read_seconds {
        cmd.args(["-read_intervals", &format!("%+{seconds}")]);
    }
    cmd.args([
        "-show_entries",
        "packet=codec_type,pts,dts,flags,size",
        "-of",
        "csv=p=0:nk=0",
        input,
    ]);
    let (status, out, err) = run_output(cmd, "ffprobe -show_packets", Duration::from_secs(60));
    assert!(status.success(), "ffprobe {input} failed: {err}");
    out.lines()
        .filter_map(|line| {
            let fields: std::collections::HashMap<&str, &str> = line
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            Some(Packet {
                video: *fields.get("codec_type")? == "video",
                pts: fields.get("pts")?.parse().ok()?,
                dts: fields.get("dts")?.parse().ok()?,
                keyframe: fields.get("flags")?.starts_with('K'),
                size: fields.get("size")?.parse().ok()?,
            })
        })
        .collect()
}

pub fn file_packets(path: &Path) -> Vec<Packet> {
    packets(&path.display().to_string(), None)
}

/// The video packets, in order.
pub fn video(packets: &[Packet]) -> Vec<&Packet> {
    packets.iter().filter(|p| p.video).collect()
}

/// Decode timestamps never go back, per track.
pub fn assert_monotonic(what: &str, packets: &[Packet]) {
    for kind in [true, false] {
        let dts: Vec<i64> = packets
            .iter()
            .filter(|p| p.video == kind)
            .map(|p| p.dts)
            .collect();
        if let Some(w) = dts.windows(2).find(|w| w[0] > w[1]) {
            panic!(
                "{what}: {} timestamps go backwards: {} then {}",
                if kind { "video" } else { "audio" },
                w[0],
                w[1]
            );
        }
    }
}

/// Frames per GOP of the test clip (2 s at 30 fps).
pub const GOP: usize = 60;

/// Checks one destination's recording against the source: codecs, size, frame
/// counts within a GOP, monotonic timestamps, identical composition offsets.
pub fn assert_relayed(what: &str, recording: &Path, source: &[Packet]) {
    let info = streams(&recording.display().to_string());
    assert_eq!(
        info.video_codec.as_deref(),
        Some("h264"),
        "{what}: video codec"
    );
    assert_eq!(
        info.audio_codec.as_deref(),
        Some("aac"),
        "{what}: audio codec"
    );
    assert_eq!(
        (info.width, info.height),
        (1920, 1080),
        "{what}: dimensions"
    );

    let received = file_packets(recording);
    let (src_v, got_v) = (video(source), video(&received));
    let src_a = source.len() - src_v.len();
    let got_a = received.len() - got_v.len();
    assert!(
        got_v.len() + GOP >= src_v.len() && got_v.len() <= src_v.len(),
        "{what}: {} video frames received of {} sent",
        got_v.len(),
        src_v.len()
    );
    assert!(
        got_a + GOP * 2 >= src_a && got_a <= src_a,
        "{what}: {got_a} audio frames received of {src_a} sent"
    );
    assert!(
        got_v.first().is_some_and(|p| p.keyframe),
        "{what}: first video frame is not a keyframe"
    );

    assert_monotonic(what, &received);

    // Align on the source frame the destination started at (sizes identify frames),
    // then every composition offset (pts - dts, B-frame reordering) must match.
    let start = src_v
        .iter()
        .position(|p| p.size == got_v[0].size && p.keyframe)
        .unwrap_or_else(|| panic!("{what}: first received frame not found in the source"));
    let src_cts: Vec<i64> = src_v[start..]
        .iter()
        .take(got_v.len())
        .map(|p| p.pts - p.dts)
        .collect();
    let got_cts: Vec<i64> = got_v.iter().map(|p| p.pts - p.dts).collect();
    assert!(
        got_cts.iter().any(|c| *c > 0),
        "{what}: no composition offsets at all (B-frames lost?)"
    );
    assert_eq!(
        got_cts, src_cts,
        "{what}: composition offsets differ from the source"
    );
    let got_sizes: Vec<u64> = got_v.iter().map(|p| p.size).collect();
    let src_sizes: Vec<u64> = src_v[start..]
        .iter()
        .take(got_v.len())
        .map(|p| p.size)
        .collect();
    assert_eq!(
        got_sizes, src_sizes,
        "{what}: frame payloads differ from the source"
    );
}
