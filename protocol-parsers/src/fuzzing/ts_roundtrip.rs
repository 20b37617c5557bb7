//! TS out and back: frames written by `TsMuxer` and read by `TsDemuxer`, in pieces
//! of any size, come back as they went in: the same tracks (the demuxer rebuilds the
//! avcC/hvcC from the parameter sets in band), and per track the same payloads,
//! keyframe and discontinuity flags and timestamps, less the first frame's DTS, across
//! the 33-bit wrap too.
//!
//! Input: a header of 3 bytes, then records of 4 bytes each followed by its payload.
//! - header: flags (bit 0: HEVC rather than H.264; bit 1: an audio track too;
//!   bits 2-7: the chunking, as in [`ts_demux`](super::ts_demux)), then a big-endian
//!   u16 n: the first DTS is 2^33 - 100 n ticks, so small n cross the wrap.
//! - record: flags (bit 0: audio; bit 1: keyframe; bit 2: an SEI NAL unit first;
//!   bit 3: the slice in two NAL units; bit 4: a discontinuity), the DTS step (u8,
//!   hundreds of ticks), the composition offset (i8, hundreds of ticks; video only),
//!   the payload length (u8). Video payloads become NAL unit bodies, escaped as an
//!   encoder would; audio payloads are the raw AAC frame (at least one byte).
//!
//! Seeds in `fuzz/corpus/ts_roundtrip/` are hand-written to that layout.

use bytes::Bytes;

use super::ts_demux::demux_in_pieces;
use super::vectors::{
    X264_AVCC_HIGH_1080P, X265_MAIN_320X240_PPS, X265_MAIN_320X240_SPS, X265_MAIN_320X240_VPS,
    push_nal_unit,
};
use crate::h265::build_hvcc;
use crate::media::{AudioCodec, CodecConfig, Frame, FrameFlags, Track, TrackId, VideoCodec};
use crate::mpegts::{DemuxEvent, DemuxStats, PACKET_LEN, TsMuxer};

const HZ: u32 = 90_000;

/// The tracks of the round trips, all at 90 kHz: H.264 (the x264 avcC) or HEVC (an
/// hvcC of the x265 parameter sets) video, and 48 kHz stereo AAC-LC audio.
pub fn round_trip_tracks(codec: VideoCodec) -> (Track, Track) {
    let (record, width, height) = match codec {
        VideoCodec::H265 => {
            let config = build_hvcc(
                &[Bytes::from_static(&X265_MAIN_320X240_VPS)],
                &[Bytes::from_static(&X265_MAIN_320X240_SPS)],
                &[Bytes::from_static(&X265_MAIN_320X240_PPS)],
            );
            // Real parameter sets: an empty record (which the muxer would reject)
            // would be a bug in the builder.
            (config.map(|c| c.record).unwrap_or_default(), 320, 240)
        }
        _ => (Bytes::from_static(&X264_AVCC_HIGH_1080P), 1920, 1080),
    };
    let video = Track {
        id: TrackId::VIDEO,
        timescale: HZ,
        config: CodecConfig::Video {
            codec,
            record,
            width,
            height,
        },
    };
    let audio = Track {
        id: TrackId::AUDIO,
        timescale: HZ,
        config: CodecConfig::Audio {
            codec: AudioCodec::Aac,
            specific: Bytes::from_static(&[0x11, 0x90]),
            sample_rate: 48_000,
            channels: 2,
        },
    };
    (video, audio)
}

/// The frames the input describes, in the order they are muxed.
fn frames(hevc: bool, with_audio: bool, start: i64, mut rest: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut dts = start;
    let mut first_video = true;
    while let Some((record, tail)) = rest.split_first_chunk::<4>() {
        let [flags, step, cts, len] = *record;
        let (payload, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        dts += i64::from(step) * 100;
        if flags & 1 == 1 {
            if with_audio {
                frames.push(Frame {
                    track: TrackId::AUDIO,
                    dts,
                    cts: 0,
                    flags: FrameFlags::KEYFRAME,
                    data: Bytes::copy_from_slice(if payload.is_empty() { &[0] } else { payload }),
                });
            }
            continue;
        }
        // The first video frame carries the parameter sets: it must be a keyframe.
        let keyframe = flags & 2 == 2 || std::mem::take(&mut first_video);
        let (slice, sei): (&[u8], &[u8]) = match (hevc, keyframe) {
            (true, true) => (&[0x26, 0x01], &[0x4E, 0x01]),
            (true, false) if cts & 1 == 0 => (&[0x02, 0x01], &[0x4E, 0x01]),
            (true, false) => (&[0x00, 0x01], &[0x4E, 0x01]),
            (false, true) => (&[0x65], &[0x06]),
            (false, false) if cts & 1 == 0 => (&[0x41], &[0x06]),
            (false, false) => (&[0x01], &[0x06]),
        };
        let mut data = Vec::new();
        if flags & 4 == 4 {
            push_nal_unit(&mut data, sei, &[0x05, 0x01, 0x80]);
        }
        let (a, b) = payload.split_at(payload.len() / 2);
        if flags & 8 == 8 {
            push_nal_unit(&mut data, slice, a);
            push_nal_unit(&mut data, slice, b);
        } else {
            push_nal_unit(&mut data, slice, payload);
        }
        let mut frame_flags = FrameFlags::NONE;
        if keyframe {
            frame_flags = frame_flags.with(FrameFlags::KEYFRAME);
        }
        if flags & 16 == 16 {
            frame_flags = frame_flags.with(FrameFlags::DISCONTINUITY);
        }
        frames.push(Frame {
            track: TrackId::VIDEO,
            dts,
            cts: i32::from(cts as i8) * 100,
            flags: frame_flags,
            data: Bytes::from(data),
        });
    }
    frames
}

/// Fuzz entry point. Panics only when an invariant breaks, which is a bug.
pub fn ts_roundtrip(data: &[u8]) {
    let Some((&[flags, n0, n1], rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let (hevc, with_audio, chunking) = (flags & 1 == 1, flags & 2 == 2, flags >> 2);
    let codec = if hevc {
        VideoCodec::H265
    } else {
        VideoCodec::H264
    };
    let (video, audio) = round_trip_tracks(codec);
    let start = (1i64 << 33) - 100 * i64::from(u16::from_be_bytes([n0, n1]));
    let frames = frames(hevc, with_audio, start, rest);
    let tracks: &[&Track] = if with_audio {
        &[&video, &audio]
    } else {
        &[&video]
    };
    check_round_trip(tracks, &frames, chunking);
}

/// `frames` as `TsMuxer` writes them for `tracks`, with the PAT and PMT first and
/// before every video keyframe, as an HLS segmenter or an SRT sender would.
pub fn mux_frames(tracks: &[&Track], frames: &[Frame]) -> Vec<u8> {
    let muxer = TsMuxer::new(tracks);
    assert!(muxer.is_ok(), "{:?}", muxer.err());
    let Ok(mut muxer) = muxer else {
        return Vec::new();
    };
    let mut ts = muxer.tables().to_vec();
    for (n, frame) in frames.iter().enumerate() {
        if n > 0 && frame.track == TrackId::VIDEO && frame.is_keyframe() {
            ts.extend_from_slice(&muxer.tables());
        }
        let packets = muxer.frame(frame);
        assert!(packets.is_ok(), "{frame:?}: {:?}", packets.err());
        ts.extend_from_slice(&packets.unwrap_or_default());
    }
    ts
}

/// Muxes `frames` (see [`mux_frames`]), demuxes them in pieces as `chunking` says
/// (see [`demux_in_pieces`]) and checks that every track that has frames is announced
/// once, as it went in, and that its frames come back as they went in, with the
/// first frame's DTS as time 0. The first video frame must carry an IDR/IRAP, every
/// keyframe flag must match its NAL units, audio frames must have no composition
/// offset (ADTS has no DTS of its own), and no two consecutive DTS may be 2^32 ticks
/// or more apart. Returns the demuxer's stats.
pub fn check_round_trip(tracks: &[&Track], frames: &[Frame], chunking: u8) -> DemuxStats {
    let ts = mux_frames(tracks, frames);
    let (events, stats) = demux_in_pieces(&ts, chunking);
    let base = frames.first().map_or(0, |f| f.dts);
    for track in tracks {
        let announced: Vec<&Track> = events
            .iter()
            .filter_map(|e| match e {
                DemuxEvent::Track(t) if t.id == track.id => Some(t),
                _ => None,
            })
            .collect();
        let got: Vec<&Frame> = events
            .iter()
            .filter_map(|e| match e {
                DemuxEvent::Frame(f) if f.track == track.id => Some(f),
                _ => None,
            })
            .collect();
        let want: Vec<Frame> = frames
            .iter()
            .filter(|f| f.track == track.id)
            .map(|f| Frame {
                dts: f.dts - base,
                ..f.clone()
            })
            .collect();
        // A track is announced before its first frame, so not at all without frames.
        let want_tracks: &[&Track] = if want.is_empty() { &[] } else { &[*track] };
        assert_eq!(announced, want_tracks, "tracks; {stats:?}");
        assert_eq!(
            got.len(),
            want.len(),
            "{:?} frame count; {stats:?}",
            track.id
        );
        for (i, (got, want)) in got.iter().zip(&want).enumerate() {
            assert_eq!(*got, want, "{:?} frame {i}, chunking {chunking}", track.id);
        }
    }
    assert_eq!(
        (
            stats.resyncs,
            stats.continuity_errors,
            stats.dropped_pes,
            stats.psi_errors,
            stats.frames_before_config,
        ),
        (0, 0, 0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.frames, frames.len() as u64);
    assert_eq!(stats.packets, (ts.len() / PACKET_LEN) as u64);
    stats
}
