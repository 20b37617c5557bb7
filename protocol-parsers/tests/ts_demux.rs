#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
//! The MPEG-TS demuxer (`protocol_parsers::mpegts::TsDemuxer`):
//! - round trips: frames -> `TsMuxer` -> `TsDemuxer` give back the same tracks and
//!   frames (payload, timestamps after the shared rebase, keyframe flags), for H.264
//!   with B-frames, HEVC and AAC, fed in pieces of 1 byte, 7 packets and random
//!   sizes, and across the 33-bit PTS wrap;
//! - FFmpeg's own TS output (libx264 with B-frames, libx265, AAC) against ffprobe:
//!   frame counts, keyframe positions and timestamps; the frames re-muxed decode
//!   cleanly; garbage between packets is resynced over without losing a frame.

use std::path::PathBuf;

use bytes::Bytes;
use protocol_parsers::fuzzing::vectors::push_nal_unit;
use protocol_parsers::fuzzing::{check_round_trip, demux_in_pieces, mux_frames, round_trip_tracks};
use protocol_parsers::media::{
    AudioCodec, CodecConfig, Frame, FrameFlags, Track, TrackId, VideoCodec,
};
use protocol_parsers::mpegts::{DemuxEvent, PACKET_LEN};

#[path = "support/tools.rs"]
mod tools;
use tools::{assert_decodes_cleanly, probe_packets, run};

/// 90 kHz: the demuxer's timescale for every track, used for the inputs too so that
/// timestamps compare exactly.
const HZ: u32 = 90_000;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

// ---------------------------------------------------------------------------------
// Driving the demuxer

/// How the input is cut (see `demux_in_pieces`): single bytes, SRT datagrams of 7
/// packets, pseudo-random pieces of up to 592 bytes.
const CHUNKINGS: [u8; 3] = [1, SRT, 37];
const SRT: u8 = 2;

/// The tracks and frames of one track id, checking that its track came first.
fn of_track(events: &[DemuxEvent], id: TrackId) -> (Vec<Track>, Vec<Frame>) {
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    for event in events {
        match event {
            DemuxEvent::Track(t) if t.id == id => tracks.push(t.clone()),
            DemuxEvent::Frame(f) if f.track == id => {
                assert!(!tracks.is_empty(), "frame of {id:?} before its track");
                frames.push(f.clone());
            }
            _ => {}
        }
    }
    (tracks, frames)
}

// ---------------------------------------------------------------------------------
// Round trips through TsMuxer

/// `len` bytes of NAL unit body, with plenty of zeros so that emulation prevention
/// and near-start-codes are common.
fn body(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            if rng.below(4) == 0 {
                0
            } else {
                rng.next() as u8
            }
        })
        .collect()
}

fn video_track(codec: VideoCodec) -> Track {
    round_trip_tracks(codec).0
}

fn audio_track() -> Track {
    round_trip_tracks(VideoCodec::H264).1
}

/// `seconds` of 30 fps video in closed GOPs of 10 with two B-frames between
/// references (decode order I P B B P B B P B B), and 48 kHz AAC, starting at `start`
/// ticks, in decode order across both tracks.
fn clip(codec: VideoCodec, start: i64, seconds: i64, rng: &mut Rng) -> Vec<Frame> {
    const FRAME: i64 = 3000;
    const GOP_ORDER: [i64; 10] = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8];
    let mut frames = Vec::new();
    for n in 0..seconds * 30 {
        let gop = n / 10;
        let display = gop * 10 + GOP_ORDER[(n % 10) as usize];
        let keyframe = n % 10 == 0;
        let reference = display >= n;
        let (slice, sei): (&[u8], &[u8]) = match (codec, keyframe, reference) {
            // IDR_W_RADL, TRAIL_R, TRAIL_N (whose header byte is 0x00).
            (VideoCodec::H265, true, _) => (&[0x26, 0x01], &[0x4E, 0x01]),
            (VideoCodec::H265, false, true) => (&[0x02, 0x01], &[0x4E, 0x01]),
            (VideoCodec::H265, false, false) => (&[0x00, 0x01], &[0x4E, 0x01]),
            // IDR, P (nal_ref_idc 2), B (nal_ref_idc 0: header byte 0x01).
            (_, true, _) => (&[0x65], &[0x06]),
            (_, false, true) => (&[0x41], &[0x06]),
            (_, false, false) => (&[0x01], &[0x06]),
        };
        let mut data = Vec::new();
        if keyframe || rng.below(3) == 0 {
            let len = 5 + rng.below(30) as usize;
            push_nal_unit(&mut data, sei, &body(rng, len));
        }
        let len = 1 + rng.below(if keyframe { 20_000 } else { 3000 }) as usize;
        push_nal_unit(&mut data, slice, &body(rng, len));
        if rng.below(4) == 0 {
            let len = 1 + rng.below(500) as usize;
            push_nal_unit(&mut data, slice, &body(rng, len));
        }
        let dts = start + n * FRAME;
        let pts = start + (display + 1) * FRAME;
        frames.push(Frame {
            track: TrackId::VIDEO,
            dts,
            cts: (pts - dts) as i32,
            flags: if keyframe {
                FrameFlags::KEYFRAME
            } else {
                FrameFlags::NONE
            },
            data: Bytes::from(data),
        });
    }
    // 1024 samples at 48 kHz are 1920 ticks.
    for n in 0..seconds * 48_000 / 1024 {
        let len = 50 + rng.below(400) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        frames.push(Frame {
            track: TrackId::AUDIO,
            dts: start + 1000 + n * 1920,
            cts: 0,
            flags: FrameFlags::KEYFRAME,
            data: Bytes::from(data),
        });
    }
    frames.sort_by_key(|f| f.dts);
    frames
}

/// Muxes and demuxes `frames`, for every chunking, and checks that what comes back is
/// what went in, with timestamps less the first frame's DTS.
fn round_trip(codec: VideoCodec, frames: &[Frame]) {
    let (video, audio) = (video_track(codec), audio_track());
    for chunking in CHUNKINGS {
        let stats = check_round_trip(&[&video, &audio], frames, chunking);
        assert_eq!(stats.unsupported_streams, 0);
    }
}

#[test]
fn h264_with_b_frames_and_aac_round_trip() {
    let frames = clip(VideoCodec::H264, 0, 3, &mut Rng(1));
    assert!(frames.iter().any(|f| f.cts == 0) && frames.iter().any(|f| f.cts > 3000));
    round_trip(VideoCodec::H264, &frames);
}

#[test]
fn hevc_and_aac_round_trip() {
    let frames = clip(VideoCodec::H265, 123_456, 3, &mut Rng(2));
    round_trip(VideoCodec::H265, &frames);
}

#[test]
fn round_trip_across_the_33_bit_wrap() {
    // One second before the wrap; the clip lasts three.
    let start = (1 << 33) - i64::from(HZ);
    let frames = clip(VideoCodec::H264, start, 3, &mut Rng(3));
    assert!(frames.last().unwrap().dts >= 1 << 33);
    round_trip(VideoCodec::H264, &frames);
    // Also a wrap that the PTS crosses before the DTS does.
    let frames = clip(VideoCodec::H265, (1 << 33) - 4000, 1, &mut Rng(4));
    round_trip(VideoCodec::H265, &frames);
}

#[test]
fn changed_parameter_sets_announce_a_new_track() {
    let video = video_track(VideoCodec::H264);
    let mut frames = clip(VideoCodec::H264, 0, 1, &mut Rng(5));
    frames.retain(|f| f.track == TrackId::VIDEO);
    // From frame 20 (a keyframe) on, the frames carry a second PPS (id 1) in band.
    let extra_pps = [0x68, 0x4E];
    assert!(frames[20].is_keyframe());
    let mut data = Vec::new();
    push_nal_unit(&mut data, &extra_pps, &[]);
    data.extend_from_slice(&frames[20].data);
    frames[20].data = Bytes::from(data);
    let ts = mux_frames(&[&video], &frames);
    let (events, _) = demux_in_pieces(&ts, SRT);
    let (tracks, got) = of_track(&events, TrackId::VIDEO);
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0], video);
    let CodecConfig::Video { record, .. } = &tracks[1].config else {
        panic!("video track");
    };
    // One more PPS: count 2, then the first and the new one.
    assert_eq!(record[35], 2);
    assert_eq!(got.len(), frames.len());
    // The new track comes right before frame 20.
    let at = events
        .iter()
        .position(|e| matches!(e, DemuxEvent::Track(t) if *t == tracks[1]))
        .unwrap();
    assert!(matches!(&events[at + 1], DemuxEvent::Frame(f) if f.dts == frames[20].dts));
    assert_eq!(
        got[20].data,
        frames[20].data.slice(6..),
        "the PPS is out of band"
    );
}

#[test]
fn frames_before_the_parameter_sets_are_dropped_and_counted() {
    let video = video_track(VideoCodec::H264);
    let audio = audio_track();
    let mut frames = clip(VideoCodec::H264, 0, 2, &mut Rng(6));
    // Unflagged, the first keyframe goes out without the parameter sets in front, as
    // when a receiver joins after them: its GOP has no decoder configuration.
    frames[0].flags = FrameFlags::NONE;
    let ts = mux_frames(&[&video, &audio], &frames);
    let (events, stats) = demux_in_pieces(&ts, SRT);
    let (_, got) = of_track(&events, TrackId::VIDEO);
    assert_eq!(stats.frames_before_config, 10, "{stats:?}");
    assert!(
        got[0].is_keyframe(),
        "the first frame out is the next keyframe"
    );
    assert_eq!(got[0].dts, 10 * 3000);
    let (_, audio_frames) = of_track(&events, TrackId::AUDIO);
    let audio_in = frames.iter().filter(|f| f.track == TrackId::AUDIO).count();
    assert_eq!(
        audio_frames.len(),
        audio_in,
        "audio needs no parameter sets"
    );
}

/// The first keyframe loses a packet after the one that carried its parameter sets
/// (AUD, SPS, PPS lead every IDR): the keyframe goes, but the configuration it
/// brought whole is kept, so the rest of the GOP comes out as a relay would pass it.
#[test]
fn a_damaged_first_keyframe_still_configures_the_track() {
    let video = video_track(VideoCodec::H264);
    let audio = audio_track();
    let mut rng = Rng(12);
    let mut frames = clip(VideoCodec::H264, 0, 1, &mut rng);
    // A first keyframe of several packets.
    frames[0].data = {
        let mut data = Vec::new();
        push_nal_unit(&mut data, &[0x65], &body(&mut rng, 2000));
        Bytes::from(data)
    };
    let ts = mux_frames(&[&video, &audio], &frames);
    // The packet starting a PES whose stream id is video (0xE0).
    let starts_video_pes = |p: &[u8]| {
        let payload = if p[3] & 0x20 != 0 {
            5 + p[4] as usize
        } else {
            4
        };
        p[1] & 0x40 != 0 && p.get(payload..payload + 4) == Some(&[0, 0, 1, 0xE0][..])
    };
    let packets: Vec<&[u8]> = ts.chunks(PACKET_LEN).collect();
    let first_video = packets
        .iter()
        .position(|p| starts_video_pes(p))
        .expect("a video PES");
    let damaged: Vec<u8> = packets
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != first_video + 1)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    let (events, stats) = demux_in_pieces(&damaged, SRT);
    assert_eq!(stats.continuity_errors, 1, "{stats:?}");
    assert_eq!(stats.frames_before_config, 0, "{stats:?}");
    let (tracks, got) = of_track(&events, TrackId::VIDEO);
    assert_eq!(tracks, [video]);
    let sent: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.track == TrackId::VIDEO)
        .collect();
    assert_eq!(got.len(), sent.len() - 1, "all but the damaged keyframe");
    assert_eq!(got[0].dts, sent[1].dts);
}

#[test]
fn damage_is_counted_and_survived() {
    let video = video_track(VideoCodec::H264);
    let audio = audio_track();
    let frames = clip(VideoCodec::H264, 0, 2, &mut Rng(8));
    let ts = mux_frames(&[&video, &audio], &frames);
    let (clean, _) = demux_in_pieces(&ts, SRT);
    let (_, clean_video) = of_track(&clean, TrackId::VIDEO);

    // A lost packet in the middle: one PES goes, the rest comes out.
    let packets = ts.len() / PACKET_LEN;
    let lost = packets / 2;
    let mut damaged = ts[..lost * PACKET_LEN].to_vec();
    damaged.extend_from_slice(&ts[(lost + 1) * PACKET_LEN..]);
    let (events, stats) = demux_in_pieces(&damaged, 11);
    assert_eq!(stats.continuity_errors, 1, "{stats:?}");
    assert!(stats.dropped_pes <= 1);
    // The PES the packet was in goes; so does the one before if the packet started a
    // PES (with no length, the one before cannot be known to be complete).
    let got = events
        .iter()
        .filter(|e| matches!(e, DemuxEvent::Frame(_)))
        .count();
    assert!((frames.len() - 2..frames.len()).contains(&got), "{got}");

    // Part of a packet cut out: a resync, and the last GOP is intact.
    let mut cut = ts.clone();
    cut.drain(lost * PACKET_LEN + 50..lost * PACKET_LEN + 150);
    let (events, stats) = demux_in_pieces(&cut, 1);
    assert_eq!(stats.resyncs, 1, "{stats:?}");
    let (_, got) = of_track(&events, TrackId::VIDEO);
    assert_eq!(got[got.len() - 10..], clean_video[clean_video.len() - 10..]);

    // Transport errors and scrambled packets are dropped and counted.
    let mut flagged = ts.clone();
    flagged[lost * PACKET_LEN + 1] |= 0x80;
    flagged[(lost + 3) * PACKET_LEN + 3] |= 0x80;
    let (_, stats) = demux_in_pieces(&flagged, SRT);
    assert_eq!((stats.transport_errors, stats.scrambled_packets), (1, 1));
}

// ---------------------------------------------------------------------------------
// FFmpeg's output against ffprobe

/// A few seconds of testsrc2 + sine as MPEG-TS, made by ffmpeg with `video_args`.
fn ffmpeg_ts(name: &str, sample_rate: u32, video_args: &[&str]) -> (PathBuf, Vec<u8>) {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ts_demux_{name}.ts"));
    let sine = format!("sine=frequency=440:sample_rate={sample_rate}");
    let mut args = vec![
        "-v",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        &sine,
        "-t",
        "4",
    ];
    args.extend_from_slice(video_args);
    args.extend_from_slice(&["-c:a", "aac", "-f", "mpegts"]);
    let path_str = path.to_str().unwrap().to_owned();
    args.push(&path_str);
    run("ffmpeg", &args);
    let ts = std::fs::read(&path).unwrap();
    (path, ts)
}

/// Demuxes an FFmpeg file and holds it against ffprobe's view of the same file.
fn against_ffprobe(path: &std::path::Path, ts: &[u8], codec: VideoCodec, sample_rate: u32) {
    let (probed_video, probed_audio) = probe_packets(path);
    let (events, stats) = demux_in_pieces(ts, SRT);
    let (video_tracks, video) = of_track(&events, TrackId::VIDEO);
    let (audio_tracks, audio) = of_track(&events, TrackId::AUDIO);
    println!(
        "{}: {} video, {} audio frames; {stats:?}",
        path.display(),
        video.len(),
        audio.len()
    );
    assert_eq!(video_tracks.len(), 1);
    let CodecConfig::Video {
        codec: got_codec,
        width,
        height,
        ..
    } = video_tracks[0].config
    else {
        panic!("video config");
    };
    assert_eq!((got_codec, width, height), (codec, 320, 240));
    assert_eq!(
        audio_tracks,
        [Track {
            id: TrackId::AUDIO,
            timescale: HZ,
            config: CodecConfig::Audio {
                codec: AudioCodec::Aac,
                // AAC-LC, the rate's index, one channel.
                specific: Bytes::copy_from_slice(&match sample_rate {
                    48_000 => [0x11, 0x88],
                    _ => [0x12, 0x08],
                }),
                sample_rate,
                channels: 1,
            },
        }]
    );
    assert_eq!(
        (
            stats.resyncs,
            stats.continuity_errors,
            stats.dropped_pes,
            stats.psi_errors,
            stats.frames_before_config,
            stats.dropped_frames
        ),
        (0, 0, 0, 0, 0, 0),
        "{stats:?}"
    );

    // The shared base is the DTS of the PES that starts first in the file.
    let first = probed_video
        .iter()
        .chain(&probed_audio)
        .filter(|p| p.pos.is_some())
        .min_by_key(|p| p.pos)
        .unwrap();
    let base = first.dts;
    assert_eq!(video.len(), probed_video.len(), "video frame count");
    assert!(video.iter().any(|f| f.cts > 0), "B-frames reorder");
    for (i, (got, probed)) in video.iter().zip(&probed_video).enumerate() {
        assert_eq!(
            (got.pts(), got.dts, got.is_keyframe()),
            (probed.pts - base, probed.dts - base, probed.keyframe),
            "video frame {i}"
        );
    }
    let keyframes = video.iter().filter(|f| f.is_keyframe()).count();
    assert!(keyframes >= 3, "{keyframes} keyframes");

    assert_eq!(audio.len(), probed_audio.len(), "audio frame count");
    for (i, (got, probed)) in audio.iter().zip(&probed_audio).enumerate() {
        // FFmpeg includes the ADTS header in the packet.
        assert_eq!(
            got.data.len() as i64 + 7,
            probed.size,
            "audio frame {i} size"
        );
        assert!(got.is_keyframe() && probed.keyframe);
        // The first frame of a PES has its PTS; FFmpeg times later ones on a grid
        // from time 0, which can differ from PTS + n * 1024 samples by a tick.
        let tolerance = if probed.pos.is_some() { 0 } else { 1 };
        assert!(
            (got.dts - (probed.pts - base)).abs() <= tolerance,
            "audio frame {i}: {} vs {}",
            got.dts,
            probed.pts - base
        );
    }

    // What came out is whole: muxed again, FFmpeg decodes all of it without a word.
    let video_track = video_tracks[0].clone();
    let audio_track = audio_tracks[0].clone();
    let mut frames: Vec<Frame> = video.iter().chain(&audio).cloned().collect();
    frames.sort_by_key(|f| f.dts);
    let remuxed = mux_frames(&[&video_track, &audio_track], &frames);
    let again = path.with_extension("remux.ts");
    std::fs::write(&again, remuxed).unwrap();
    assert_decodes_cleanly(&again);
    let (revideo, reaudio) = probe_packets(&again);
    assert_eq!((revideo.len(), reaudio.len()), (video.len(), audio.len()));
}

/// libx264 with two B-frames between references and a keyframe every second.
const X264_B_FRAMES: [&str; 8] = [
    "-c:v", "libx264", "-bf", "2", "-g", "30", "-pix_fmt", "yuv420p",
];

#[test]
fn ffmpeg_h264_with_b_frames_and_aac() {
    let (path, ts) = ffmpeg_ts("h264", 48_000, &X264_B_FRAMES);
    against_ffprobe(&path, &ts, VideoCodec::H264, 48_000);
}

#[test]
fn ffmpeg_hevc_and_aac() {
    let (encoders, _) = run("ffmpeg", &["-hide_banner", "-encoders"]);
    if !encoders.contains("libx265") {
        // An FFmpeg build option, unlike FFmpeg itself, whose absence fails the tests.
        eprintln!("this ffmpeg has no libx265: HEVC is covered by the round trips only");
        return;
    }
    let (path, ts) = ffmpeg_ts(
        "hevc",
        44_100,
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    against_ffprobe(&path, &ts, VideoCodec::H265, 44_100);
}

#[test]
fn ffmpeg_output_with_garbage_between_packets() {
    let (_, ts) = ffmpeg_ts("h264_garbage", 48_000, &X264_B_FRAMES);
    let (clean, clean_stats) = demux_in_pieces(&ts, SRT);
    assert_eq!(clean_stats.resyncs, 0);

    // After every 40th packet, 1 to 500 bytes of noise. Every third insertion is
    // shorter than a packet and starts with a sync byte where the next packet is due.
    // Two kinds of noise are left out, because no framer can tell them from a packet:
    // noise longer than a packet that starts with a sync byte where a packet is due
    // (it reads as a packet followed by noise), and a sync byte exactly one packet
    // before the stream resumes (it reads as a packet in step with the ones after it).
    // Either would be passed on as a packet, for the PID and continuity checks to
    // catch.
    let mut rng = Rng(99);
    let mut dirty = Vec::new();
    let mut insertions = 0;
    for (i, packet) in ts.chunks(PACKET_LEN).enumerate() {
        dirty.extend_from_slice(packet);
        if i % 40 == 39 {
            let fake = insertions % 3 == 0;
            let len = 1 + rng.below(if fake { PACKET_LEN as u64 - 1 } else { 500 }) as usize;
            let start = dirty.len();
            dirty.extend((0..len).map(|_| rng.next() as u8));
            if fake {
                dirty[start] = 0x47;
            } else if dirty[start] == 0x47 {
                dirty[start] = 0;
            }
            if len >= PACKET_LEN && dirty[start + len - PACKET_LEN] == 0x47 {
                dirty[start + len - PACKET_LEN] = 0;
            }
            insertions += 1;
        }
    }
    for chunking in CHUNKINGS {
        let (events, stats) = demux_in_pieces(&dirty, chunking);
        assert_eq!(stats.resyncs, insertions, "{chunking:?}: {stats:?}");
        assert_eq!(
            stats.skipped_bytes,
            (dirty.len() - ts.len()) as u64,
            "{chunking:?}"
        );
        assert_eq!(stats.continuity_errors, 0, "{chunking:?}");
        assert_eq!(events, clean, "{chunking:?}: every frame still comes out");
    }
}
