//! The MPEG-TS muxer: for any frames, what it writes is whole 188-byte packets,
//! each with the sync byte, only the PAT/PMT/video/audio PIDs, and a continuity
//! counter that steps by one per PID on every packet carrying payload.
//!
//! Input: records of 4 bytes — flags (bit 0: audio, bit 1: keyframe, bit 2: a
//! PAT/PMT before the frame), dts step (u8, ms), composition offset (i8, ms),
//! payload length (u8) — each followed by its payload (AVCC length-prefixed NAL
//! units for video, a raw AAC frame for audio; garbage is welcome).
//! Seeds in `fuzz/corpus/ts_mux/` are hand-written to that layout.

use bytes::Bytes;

use super::vectors::X264_AVCC_HIGH_1080P;
use crate::media::{AudioCodec, CodecConfig, Frame, FrameFlags, Track, TrackId, VideoCodec};
use crate::mpegts::{AUDIO_PID, PACKET_LEN, PMT_PID, SYNC_BYTE, TsMuxer, VIDEO_PID};

fn tracks() -> [Track; 2] {
    [
        Track {
            id: TrackId::VIDEO,
            timescale: 1000,
            config: CodecConfig::Video {
                codec: VideoCodec::H264,
                record: Bytes::from_static(&X264_AVCC_HIGH_1080P),
                width: 1920,
                height: 1080,
            },
        },
        Track {
            id: TrackId::AUDIO,
            timescale: 1000,
            config: CodecConfig::Audio {
                codec: AudioCodec::Aac,
                specific: Bytes::from_static(&[0x11, 0x90]),
                sample_rate: 48_000,
                channels: 2,
            },
        },
    ]
}

/// Fuzz entry point. Panics only when an invariant breaks, which is a bug.
pub fn ts_mux(data: &[u8]) {
    let [video, audio] = tracks();
    let Ok(mut muxer) = TsMuxer::new(&[&video, &audio]) else {
        return;
    };
    let mut out = vec![muxer.tables()];
    let mut dts = 0i64;
    let mut rest = data;
    while let Some((record, tail)) = rest.split_first_chunk::<4>() {
        let [flags, step, cts, len] = *record;
        let len = usize::from(len).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        dts += i64::from(step);
        if flags & 4 == 4 {
            out.push(muxer.tables());
        }
        let frame = Frame {
            track: if flags & 1 == 1 {
                TrackId::AUDIO
            } else {
                TrackId::VIDEO
            },
            dts,
            cts: i32::from(cts as i8),
            flags: if flags & 2 == 2 {
                FrameFlags::KEYFRAME
            } else {
                FrameFlags::NONE
            },
            data: Bytes::copy_from_slice(payload),
        };
        if let Ok(bytes) = muxer.frame(&frame) {
            out.push(bytes);
        }
    }
    let mut counters: Vec<(u16, u8)> = Vec::new();
    for bytes in &out {
        assert_eq!(bytes.len() % PACKET_LEN, 0, "whole packets only");
        for packet in bytes.chunks(PACKET_LEN) {
            let header = packet.get(..4).unwrap_or_default();
            let [sync, b1, b2, b3] = [0, 1, 2, 3].map(|i| header.get(i).copied().unwrap_or(0));
            assert_eq!(sync, SYNC_BYTE);
            let pid = u16::from(b1 & 0x1F) << 8 | u16::from(b2);
            assert!(
                [0, PMT_PID, VIDEO_PID, AUDIO_PID].contains(&pid),
                "unexpected PID {pid:#x}"
            );
            if b3 & 0x10 == 0 {
                continue; // no payload: the counter does not advance
            }
            let counter = b3 & 0x0F;
            match counters.iter_mut().find(|(p, _)| *p == pid) {
                Some((_, last)) => {
                    assert_eq!(counter, (*last + 1) & 0x0F, "continuity on PID {pid:#x}");
                    *last = counter;
                }
                None => counters.push((pid, counter)),
            }
        }
    }
}
