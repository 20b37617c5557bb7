//! FLV tag bodies: whatever parses must rebuild, through the header functions and the
//! untouched payload, into a body that parses to the same tag.
//!
//! The first input byte picks the message type by its low bit, matching RTMP's type
//! ids (8 audio, 9 video); the rest is the body.
//!
//! Seeds in `fuzz/corpus/flv_tag_roundtrip/`, selector byte first:
//! - `avc_sequence_header`, `avc_keyframe_cts` (cts 67, first 256 bytes),
//!   `avc_inter_frame` (first 128 bytes), `avc_end_of_sequence`, `aac_asc`, `aac_raw`:
//!   tags of `ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=30 -f lavfi -i
//!   sine=frequency=440:sample_rate=44100 -t 1 -c:v libx264 -profile:v high -bf 2 -c:a aac
//!   -ac 2 -f flv high1080.flv` (FFmpeg 5.1.9).
//! - `mp3_frame`: first 96 bytes of the first audio tag of the same command with
//!   `-c:a libmp3lame` and no video.
//! - `hvc1_sequence_start`, `hevc_codec_id_12_sequence_header`: the `hvcC` box of
//!   `ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -frames:v 3 -c:v libx265 -tag:v hvc1
//!   h265.mp4` behind hand-written headers (FFmpeg 5.1 cannot write HEVC into FLV).
//! - The other Enhanced RTMP seeds (CodedFrames, CodedFramesX, ModEx, av01, vp09,
//!   metadata, multitrack, Opus, mp4a), the command frame, `empty_body` and the two
//!   `garbage` files are hand-written from the enhanced-rtmp v2 spec.

use bytes::Bytes;

use crate::flv::{
    AudioTag, VideoTag, audio_config_header, audio_frame_header, parse_audio, parse_video,
    video_config_header, video_end_of_sequence, video_frame_header,
};

/// Fuzz entry point. Never panics except on a round-trip mismatch, which is a bug.
pub fn flv_tag_roundtrip(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let body = Bytes::copy_from_slice(rest);
    if selector & 1 == 1 {
        video_roundtrip(&body);
    } else {
        audio_roundtrip(&body);
    }
}

fn video_roundtrip(body: &Bytes) {
    let Ok(tag) = parse_video(body) else {
        return;
    };
    let rebuilt = match &tag {
        VideoTag::Config { codec, record } => join(video_config_header(*codec).as_bytes(), record),
        VideoTag::Frame {
            codec,
            keyframe,
            cts,
            data,
        } => join(video_frame_header(*codec, *keyframe, *cts).as_bytes(), data),
        VideoTag::EndOfSequence { codec } => video_end_of_sequence(*codec).to_bytes(),
        VideoTag::Ignored => return,
    };
    assert_eq!(
        parse_video(&rebuilt).as_ref(),
        Ok(&tag),
        "video rebuilt as {rebuilt:02x?}"
    );
}

fn audio_roundtrip(body: &Bytes) {
    let Ok(tag) = parse_audio(body) else {
        return;
    };
    // The rate and channels only shape MP3's flags byte, which parsing does not report.
    let rebuilt = match &tag {
        AudioTag::Config { codec, specific } => {
            join(audio_config_header(*codec, 44_100, 2).as_bytes(), specific)
        }
        AudioTag::Frame { codec, data } => {
            join(audio_frame_header(*codec, 44_100, 2).as_bytes(), data)
        }
    };
    assert_eq!(
        parse_audio(&rebuilt).as_ref(),
        Ok(&tag),
        "audio rebuilt as {rebuilt:02x?}"
    );
}

fn join(header: &[u8], payload: &[u8]) -> Bytes {
    Bytes::from([header, payload].concat())
}
