#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
//! The MPEG-TS muxer (`protocol_parsers::mpegts`) against FFmpeg: the test clip's FLV
//! tags are demuxed into frames, muxed into one .ts file (PAT/PMT at the start and
//! before every video keyframe, as an HLS segmenter would), and then
//! - ffprobe must read back every packet of the source, per stream in order, with the
//!   same keyframe flag, pts and dts (scaled from ms to 90 kHz), and for audio the
//!   source size plus the 7-byte ADTS header;
//! - ffprobe must see H.264 1920x1080 and AAC 48 kHz mono;
//! - ffmpeg must decode the whole file without a single message on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use protocol_parsers::media::{Frame, Track, TrackId};
use protocol_parsers::mpegts::{AUDIO_PID, PACKET_LEN, PMT_PID, TsMuxer, VIDEO_PID};

#[path = "support/flv_file.rs"]
mod flv_file;
#[path = "support/tools.rs"]
mod tools;
use flv_file::demux_flv;
use tools::{assert_decodes_cleanly, fields, probe_packets, require, run};

/// ADTS header bytes the muxer puts in front of every raw AAC frame.
const ADTS_HEADER: i64 = 7;

/// The 1080p30 H.264 High (B-frames) + AAC clip that the server's tests use, made once
/// per checkout by `tools/make-test-media.sh` in `target/test-media/`.
fn test_media(seconds: u32) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("target/test-media");
    let path = dir.join(format!("src-1080p30-{seconds}s.flv"));
    if path.is_file() {
        return path;
    }
    require("ffmpeg");
    std::fs::create_dir_all(&dir).expect("create target/test-media");
    // A unique name (tests of one process run on threads), renamed when complete:
    // concurrent tests never see half a file.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = dir.join(format!("partial-{}-{n}-{seconds}.flv", std::process::id()));
    let status = Command::new("bash")
        .arg(root.join("tools/make-test-media.sh"))
        .arg(&partial)
        .arg(seconds.to_string())
        .status()
        .expect("run tools/make-test-media.sh");
    assert!(status.success(), "make-test-media.sh failed");
    std::fs::rename(&partial, &path).expect("rename test media");
    path
}

/// Checks the file's own structure: sync bytes, and per-PID continuity counters that
/// step by one (mod 16) on every packet.
fn check_packets(ts: &[u8]) -> std::collections::HashMap<u16, usize> {
    assert_eq!(ts.len() % PACKET_LEN, 0);
    let mut last = std::collections::HashMap::<u16, u8>::new();
    let mut counts = std::collections::HashMap::new();
    for (i, p) in ts.chunks(PACKET_LEN).enumerate() {
        assert_eq!(p[0], 0x47, "sync byte of packet {i}");
        let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1FFF;
        let cc = p[3] & 0x0F;
        if let Some(prev) = last.insert(pid, cc) {
            assert_eq!(cc, (prev + 1) & 0x0F, "continuity of PID {pid:#x} at {i}");
        }
        *counts.entry(pid).or_insert(0) += 1;
    }
    counts
}

#[test]
fn ffprobe_and_ffmpeg_read_back_every_frame_of_the_clip() {
    let clip = test_media(5);
    let (tracks, frames) = demux_flv(&clip);
    assert_eq!(tracks.len(), 2, "video and audio tracks");
    let refs: Vec<&Track> = tracks.iter().collect();
    let mut muxer = TsMuxer::new(&refs).expect("H.264 + AAC tracks");

    let mut ts = muxer.tables().to_vec();
    let mut tables = 1;
    let mut payload_in = 0;
    for (n, frame) in frames.iter().enumerate() {
        // Segment starts: the first frame already has tables in front.
        if n > 0 && frame.track == TrackId::VIDEO && frame.is_keyframe() {
            ts.extend_from_slice(&muxer.tables());
            tables += 1;
        }
        payload_in += frame.data.len();
        ts.extend_from_slice(&muxer.frame(frame).expect("frame muxes"));
    }
    let counts = check_packets(&ts);
    assert_eq!(counts[&0], tables);
    assert_eq!(counts[&PMT_PID], tables);
    assert_eq!(counts.len(), 4, "PAT, PMT, video and audio PIDs only");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ts_ffprobe_clip.ts");
    std::fs::write(&path, &ts).expect("write .ts");
    println!(
        "{} frames ({} video keyframes), {payload_in} payload bytes -> {} TS bytes \
         ({} packets: {} video, {} audio, {tables} PAT + {tables} PMT), overhead {:.2}%",
        frames.len(),
        tables,
        ts.len(),
        ts.len() / PACKET_LEN,
        counts[&VIDEO_PID],
        counts[&AUDIO_PID],
        (ts.len() as f64 / payload_in as f64 - 1.0) * 100.0,
    );

    // Codecs and parameters.
    let (streams, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height,sample_rate,channels",
            "-of",
            "csv=p=0:nk=0",
            path.to_str().unwrap(),
        ],
    );
    // ffprobe lists each stream twice: in the program, then on its own.
    let unique: std::collections::BTreeSet<&str> =
        streams.lines().filter(|l| !l.is_empty()).collect();
    let streams: Vec<_> = unique.into_iter().map(fields).collect();
    assert_eq!(streams.len(), 2, "{streams:?}");
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(
        (video["codec_name"], video["width"], video["height"]),
        ("h264", "1920", "1080")
    );
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(
        (audio["codec_name"], audio["sample_rate"], audio["channels"]),
        ("aac", "48000", "1")
    );

    // Every packet, per stream and in order: FLV milliseconds are 90 TS ticks.
    let (src_video, src_audio) = probe_packets(&clip);
    let (ts_video, ts_audio) = probe_packets(&path);
    assert_eq!(
        src_video.len(),
        frames.iter().filter(|f| f.track == TrackId::VIDEO).count()
    );
    assert_eq!(
        src_audio.len(),
        frames.iter().filter(|f| f.track == TrackId::AUDIO).count()
    );
    assert_eq!(ts_video.len(), src_video.len(), "video packet count");
    assert_eq!(ts_audio.len(), src_audio.len(), "audio packet count");
    for (i, (got, src)) in ts_video.iter().zip(&src_video).enumerate() {
        let want = (src.pts * 90, src.dts * 90, src.keyframe);
        assert_eq!((got.pts, got.dts, got.keyframe), want, "video packet {i}");
    }
    for (i, (got, src)) in ts_audio.iter().zip(&src_audio).enumerate() {
        let want = (
            src.pts * 90,
            src.dts * 90,
            src.keyframe,
            src.size + ADTS_HEADER,
        );
        let got = (got.pts, got.dts, got.keyframe, got.size);
        assert_eq!(got, want, "audio packet {i}");
    }
    // The video payload grows only by start codes (same size as 4-byte lengths), the
    // AUD and the in-band parameter sets of each keyframe.
    let keyframes = src_video.iter().filter(|p| p.keyframe).count();
    assert_eq!(keyframes, tables);
    for (got, src) in ts_video.iter().zip(&src_video) {
        let growth = got.size - src.size;
        assert!(
            growth == 6 || (src.keyframe && growth > 6),
            "video packet of {} bytes became {}",
            src.size,
            got.size
        );
    }

    // A clean decode of everything.
    assert_decodes_cleanly(&path);
}

#[test]
fn audio_only_stream_reads_back_with_pcr_on_audio() {
    let clip = test_media(5);
    let (tracks, frames) = demux_flv(&clip);
    let audio = tracks.iter().find(|t| t.id == TrackId::AUDIO).unwrap();
    let mut muxer = TsMuxer::new(&[audio]).expect("AAC track");
    let mut ts = muxer.tables().to_vec();
    for frame in frames.iter().filter(|f| f.track == TrackId::AUDIO) {
        ts.extend_from_slice(&muxer.frame(frame).expect("frame muxes"));
    }
    check_packets(&ts);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ts_ffprobe_audio.ts");
    std::fs::write(&path, &ts).expect("write .ts");

    let (src_video, src_audio) = probe_packets(&clip);
    assert!(!src_video.is_empty());
    let (ts_video, ts_audio) = probe_packets(&path);
    assert!(ts_video.is_empty());
    let want: Vec<(i64, i64)> = src_audio
        .iter()
        .map(|p| (p.pts * 90, p.size + ADTS_HEADER))
        .collect();
    let got: Vec<(i64, i64)> = ts_audio.iter().map(|p| (p.pts, p.size)).collect();
    assert_eq!(got, want);
    assert_decodes_cleanly(&path);
}

/// HEVC end to end: libx265 output (Annex B, an AUD before every access unit, no
/// B-frames, an IDR every 15 frames) is turned into what an HEVC ingest delivers:
/// length-prefixed access units without AUDs or parameter sets, and an
/// HEVCDecoderConfigurationRecord holding the VPS, SPS and PPS. The muxer must put
/// the AUD and the parameter sets back so that FFmpeg decodes every frame.
#[test]
fn hevc_reads_back_with_parameter_sets_from_the_record() {
    require("ffmpeg");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let raw = dir.join("ts_ffprobe_src.hevc");
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-t",
            "2",
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:aud=1:bframes=0:keyint=15:min-keyint=15:no-open-gop=1:scenecut=0",
            "-f",
            "hevc",
            raw.to_str().unwrap(),
        ],
    );
    let stream = std::fs::read(&raw).expect("read .hevc");
    let nal_type = |nal: &[u8]| (nal[0] >> 1) & 0x3F;

    // Split the Annex B stream at start codes, then into access units at each AUD.
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(stream.len(), |next| next - 3);
        // A 4-byte start code leaves its leading zero on the previous NAL unit.
        while end > start && stream[end - 1] == 0 {
            end -= 1;
        }
        nals.push(&stream[start..end]);
    }
    let mut sets: Vec<Vec<&[u8]>> = vec![Vec::new(); 3];
    let mut units: Vec<(bool, Vec<u8>)> = Vec::new();
    for nal in nals {
        match nal_type(nal) {
            35 => units.push((false, Vec::new())),
            32..=34 => {
                let kind = &mut sets[usize::from(nal_type(nal) - 32)];
                if !kind.contains(&nal) {
                    kind.push(nal);
                }
            }
            t => {
                let unit = units.last_mut().expect("an AUD starts every access unit");
                unit.0 |= (16..=23).contains(&t);
                unit.1.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                unit.1.extend_from_slice(nal);
            }
        }
    }
    assert_eq!(units.len(), 60);
    assert!(sets.iter().all(|s| s.len() == 1), "one VPS, SPS and PPS");

    // The record: 8.3.3.1 fixed fields (only lengthSizeMinusOne matters to the
    // muxer), then one array each of VPS, SPS and PPS.
    let mut record = vec![1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5D];
    record.extend_from_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0x00, 0x00, 0x0F]);
    record.push(3);
    for (kind, set) in sets.iter().enumerate() {
        record.push(0x80 | (32 + kind as u8));
        record.extend_from_slice(&1u16.to_be_bytes());
        record.extend_from_slice(&(set[0].len() as u16).to_be_bytes());
        record.extend_from_slice(set[0]);
    }
    let track = Track {
        id: TrackId::VIDEO,
        timescale: 30,
        config: protocol_parsers::media::CodecConfig::Video {
            codec: protocol_parsers::media::VideoCodec::H265,
            record: Bytes::from(record),
            width: 640,
            height: 360,
        },
    };
    let mut muxer = TsMuxer::new(&[&track]).expect("HEVC track");
    let mut ts = Vec::new();
    for (n, (keyframe, data)) in units.iter().enumerate() {
        if *keyframe {
            ts.extend_from_slice(&muxer.tables());
        }
        let frame = Frame {
            track: TrackId::VIDEO,
            dts: n as i64,
            cts: 0,
            flags: if *keyframe {
                protocol_parsers::media::FrameFlags::KEYFRAME
            } else {
                protocol_parsers::media::FrameFlags::NONE
            },
            data: Bytes::from(data.clone()),
        };
        ts.extend_from_slice(&muxer.frame(&frame).expect("frame muxes"));
    }
    check_packets(&ts);
    let path = dir.join("ts_ffprobe_hevc.ts");
    std::fs::write(&path, &ts).expect("write .ts");

    let (streams, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0:nk=0",
            path.to_str().unwrap(),
        ],
    );
    assert!(
        streams
            .lines()
            .any(|l| l == "codec_name=hevc,width=640,height=360"),
        "{streams}"
    );
    let (video, _) = probe_packets(&path);
    let got: Vec<(i64, i64, bool)> = video.iter().map(|p| (p.pts, p.dts, p.keyframe)).collect();
    let want: Vec<(i64, i64, bool)> = units
        .iter()
        .enumerate()
        .map(|(n, (key, _))| (n as i64 * 3000, n as i64 * 3000, *key))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        want.iter().filter(|w| w.2).count(),
        4,
        "an IDR every 15 frames"
    );
    let (out, stderr) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-nostdin",
            "-i",
            path.to_str().unwrap(),
            "-f",
            "framecrc",
            "-",
        ],
    );
    assert_eq!(stderr, "", "ffmpeg decode reported problems");
    let decoded = out.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(decoded, 60, "every frame decodes");
}
