//! Video message bodies: the legacy FLV VIDEODATA layout (AVC, and HEVC under codec
//! id 12) and the Enhanced RTMP ExVideoTagHeader.

use bytes::Bytes;

use super::{FlvError, FourCc, Reader, TagHeader};
use crate::media::VideoCodec;

/// The high bit of the first byte: an Enhanced RTMP ExVideoTagHeader follows.
const IS_EX_HEADER: u8 = 0x80;

/// VideoFrameType, bits 4-6 of the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoFrameType(pub u8);

impl VideoFrameType {
    pub const KEY_FRAME: Self = Self(1);
    pub const INTER_FRAME: Self = Self(2);
    pub const DISPOSABLE_INTER_FRAME: Self = Self(3);
    pub const GENERATED_KEY_FRAME: Self = Self(4);
    /// Video info / command frame: carries a seek marker, no picture.
    pub const COMMAND: Self = Self(5);

    fn is_keyframe(self) -> bool {
        self == Self::KEY_FRAME || self == Self::GENERATED_KEY_FRAME
    }

    fn is_reserved(self) -> bool {
        !(1..=5).contains(&self.0)
    }
}

/// Legacy CodecID, bits 0-3 of the first byte when IsExHeader is clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoCodecId(pub u8);

impl VideoCodecId {
    pub const SORENSON_H263: Self = Self(2);
    pub const SCREEN: Self = Self(3);
    pub const VP6: Self = Self(4);
    pub const VP6_ALPHA: Self = Self(5);
    pub const SCREEN_V2: Self = Self(6);
    pub const AVC: Self = Self(7);
    /// Not in any Adobe spec: HEVC as sent by Chinese encoders and CDNs (the
    /// "flv_extension_id 12" convention), with the AVC packet layout.
    pub const HEVC_LEGACY: Self = Self(12);
}

/// AVCPacketType, the byte after the first in legacy AVC/HEVC bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvcPacketType(pub u8);

impl AvcPacketType {
    pub const SEQUENCE_HEADER: Self = Self(0);
    pub const NALU: Self = Self(1);
    pub const END_OF_SEQUENCE: Self = Self(2);
}

/// Enhanced RTMP VideoPacketType, bits 0-3 of the first byte when IsExHeader is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoPacketType(pub u8);

impl VideoPacketType {
    pub const SEQUENCE_START: Self = Self(0);
    pub const CODED_FRAMES: Self = Self(1);
    pub const SEQUENCE_END: Self = Self(2);
    /// Coded frames with an implied composition time offset of zero.
    pub const CODED_FRAMES_X: Self = Self(3);
    /// AMF-encoded metadata such as HDR colour info.
    pub const METADATA: Self = Self(4);
    pub const MPEG2TS_SEQUENCE_START: Self = Self(5);
    pub const MULTITRACK: Self = Self(6);
    /// Modifier extension (v2): a sized block, then the real packet type.
    pub const MOD_EX: Self = Self(7);
}

/// What a video message body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    /// The decoder configuration record (avcC / hvcC / av1C / vpcC), a slice of the body.
    Config {
        codec: VideoCodec,
        record: Bytes,
    },
    /// One access unit, a slice of the body. `cts` is the composition time offset in
    /// milliseconds.
    Frame {
        codec: VideoCodec,
        keyframe: bool,
        cts: i32,
        data: Bytes,
    },
    EndOfSequence {
        codec: VideoCodec,
    },
    /// Well-formed but nothing to forward: command frames, metadata packets,
    /// MPEG2TSSequenceStart.
    Ignored,
}

/// Parses a video message body. `record` and `data` are zero-copy slices of `body`.
pub fn parse_video(body: &Bytes) -> Result<VideoTag, FlvError> {
    let mut r = Reader::new(body);
    let first = r.u8("video tag header").map_err(|_| FlvError::Empty)?;
    let frame_type = VideoFrameType((first >> 4) & 0x07);
    let low = first & 0x0F;
    if first & IS_EX_HEADER != 0 {
        parse_enhanced(r, frame_type, VideoPacketType(low))
    } else {
        parse_legacy(r, frame_type, VideoCodecId(low))
    }
}

fn parse_legacy(
    mut r: Reader<'_>,
    frame_type: VideoFrameType,
    codec_id: VideoCodecId,
) -> Result<VideoTag, FlvError> {
    // A command frame carries a seek marker whatever the codec id says.
    if frame_type == VideoFrameType::COMMAND {
        return Ok(VideoTag::Ignored);
    }
    if frame_type.is_reserved() {
        return Err(FlvError::ReservedFrameType(frame_type.0));
    }
    let codec = match codec_id {
        VideoCodecId::AVC => VideoCodec::H264,
        VideoCodecId::HEVC_LEGACY => VideoCodec::H265,
        other => return Err(FlvError::UnsupportedVideoCodec(other.0)),
    };
    let packet_type = AvcPacketType(r.u8("AVC packet type")?);
    // Present for every packet type, and zero outside NALU packets.
    let cts = r.si24("composition time")?;
    match packet_type {
        AvcPacketType::SEQUENCE_HEADER => Ok(VideoTag::Config {
            codec,
            record: r.rest(),
        }),
        AvcPacketType::NALU => Ok(VideoTag::Frame {
            codec,
            keyframe: frame_type.is_keyframe(),
            cts,
            data: r.rest(),
        }),
        AvcPacketType::END_OF_SEQUENCE => {
            r.expect_end("AVC end of sequence")?;
            Ok(VideoTag::EndOfSequence { codec })
        }
        other => Err(FlvError::UnknownAvcPacketType(other.0)),
    }
}

fn parse_enhanced(
    mut r: Reader<'_>,
    frame_type: VideoFrameType,
    packet_type: VideoPacketType,
) -> Result<VideoTag, FlvError> {
    let packet_type = VideoPacketType(r.skip_mod_ex(packet_type.0, VideoPacketType::MOD_EX.0)?);
    // The spec's order (ExVideoTagHeader pseudocode): a command frame has no FourCC and
    // wins over multitrack; metadata ignores the frame type.
    if packet_type != VideoPacketType::METADATA {
        if frame_type == VideoFrameType::COMMAND {
            return Ok(VideoTag::Ignored);
        }
        if frame_type.is_reserved() {
            return Err(FlvError::ReservedFrameType(frame_type.0));
        }
    }
    if packet_type == VideoPacketType::MULTITRACK {
        return Err(FlvError::VideoMultitrack);
    }
    let fourcc = r.fourcc()?;
    if packet_type == VideoPacketType::METADATA
        || packet_type == VideoPacketType::MPEG2TS_SEQUENCE_START
    {
        return Ok(VideoTag::Ignored);
    }
    let codec = codec_for_fourcc(fourcc).ok_or(FlvError::UnsupportedVideoFourCc(fourcc))?;
    let keyframe = frame_type.is_keyframe();
    match packet_type {
        VideoPacketType::SEQUENCE_START => Ok(VideoTag::Config {
            codec,
            record: r.rest(),
        }),
        VideoPacketType::CODED_FRAMES => {
            // Only the NAL-based codecs carry a composition time here.
            let cts = if has_cts(codec) {
                r.si24("composition time")?
            } else {
                0
            };
            Ok(VideoTag::Frame {
                codec,
                keyframe,
                cts,
                data: r.rest(),
            })
        }
        VideoPacketType::CODED_FRAMES_X => Ok(VideoTag::Frame {
            codec,
            keyframe,
            cts: 0,
            data: r.rest(),
        }),
        VideoPacketType::SEQUENCE_END => {
            r.expect_end("video sequence end")?;
            Ok(VideoTag::EndOfSequence { codec })
        }
        other => Err(FlvError::UnknownVideoPacketType(other.0)),
    }
}

fn codec_for_fourcc(fourcc: FourCc) -> Option<VideoCodec> {
    match fourcc {
        FourCc::AVC1 => Some(VideoCodec::H264),
        FourCc::HVC1 => Some(VideoCodec::H265),
        FourCc::AV01 => Some(VideoCodec::Av1),
        FourCc::VP09 => Some(VideoCodec::Vp9),
        _ => None,
    }
}

fn fourcc_for_codec(codec: VideoCodec) -> FourCc {
    match codec {
        VideoCodec::H264 => FourCc::AVC1,
        VideoCodec::H265 => FourCc::HVC1,
        VideoCodec::Av1 => FourCc::AV01,
        VideoCodec::Vp9 => FourCc::VP09,
    }
}

fn has_cts(codec: VideoCodec) -> bool {
    matches!(codec, VideoCodec::H264 | VideoCodec::H265)
}

/// The first byte of a legacy AVC body.
fn legacy_first_byte(frame_type: VideoFrameType) -> u8 {
    (frame_type.0 << 4) | VideoCodecId::AVC.0
}

/// The first byte and FourCC of an Enhanced RTMP body.
fn enhanced_header(
    frame_type: VideoFrameType,
    packet_type: VideoPacketType,
    codec: VideoCodec,
) -> TagHeader {
    let mut h = TagHeader::new();
    h.push(IS_EX_HEADER | (frame_type.0 << 4) | packet_type.0);
    h.extend(&fourcc_for_codec(codec).0);
    h
}

/// Header of a sequence start carrying a decoder configuration record. H.264 uses the
/// legacy layout every player understands; the rest use Enhanced RTMP.
pub fn video_config_header(codec: VideoCodec) -> TagHeader {
    if codec == VideoCodec::H264 {
        let mut h = TagHeader::new();
        h.push(legacy_first_byte(VideoFrameType::KEY_FRAME));
        h.push(AvcPacketType::SEQUENCE_HEADER.0);
        h.push_si24(0);
        return h;
    }
    enhanced_header(
        VideoFrameType::KEY_FRAME,
        VideoPacketType::SEQUENCE_START,
        codec,
    )
}

/// Header of one access unit. `cts` is clamped to the 24-bit signed range; AV1 and
/// VP9 have no composition time on the wire, so theirs is dropped.
pub fn video_frame_header(codec: VideoCodec, keyframe: bool, cts: i32) -> TagHeader {
    let frame_type = if keyframe {
        VideoFrameType::KEY_FRAME
    } else {
        VideoFrameType::INTER_FRAME
    };
    match codec {
        VideoCodec::H264 => {
            let mut h = TagHeader::new();
            h.push(legacy_first_byte(frame_type));
            h.push(AvcPacketType::NALU.0);
            h.push_si24(cts);
            h
        }
        // CodedFramesX saves the three bytes of a zero offset.
        VideoCodec::H265 if cts == 0 => {
            enhanced_header(frame_type, VideoPacketType::CODED_FRAMES_X, codec)
        }
        VideoCodec::H265 => {
            let mut h = enhanced_header(frame_type, VideoPacketType::CODED_FRAMES, codec);
            h.push_si24(cts);
            h
        }
        VideoCodec::Av1 | VideoCodec::Vp9 => {
            enhanced_header(frame_type, VideoPacketType::CODED_FRAMES, codec)
        }
    }
}

/// The whole body of an end-of-sequence message; no payload follows.
pub fn video_end_of_sequence(codec: VideoCodec) -> TagHeader {
    if codec == VideoCodec::H264 {
        let mut h = TagHeader::new();
        h.push(legacy_first_byte(VideoFrameType::KEY_FRAME));
        h.push(AvcPacketType::END_OF_SEQUENCE.0);
        h.push_si24(0);
        return h;
    }
    enhanced_header(
        VideoFrameType::KEY_FRAME,
        VideoPacketType::SEQUENCE_END,
        codec,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [VideoCodec; 4] = [
        VideoCodec::H264,
        VideoCodec::H265,
        VideoCodec::Av1,
        VideoCodec::Vp9,
    ];

    fn body(parts: &[&[u8]]) -> Bytes {
        Bytes::from(parts.concat())
    }

    /// First video tag of `ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=30 -f lavfi
    /// -i sine=frequency=440:sample_rate=44100 -t 1 -c:v libx264 -profile:v high -bf 2
    /// -c:a aac -ac 2 -f flv high1080.flv` (FFmpeg 5.1.9): AVC sequence header.
    const FFMPEG_AVC_SEQUENCE_HEADER: [u8; 53] = [
        0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0x64,
        0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00,
        0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58, 0x01, 0x00, 0x06, 0x68, 0xeb,
        0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
    ];

    /// Start of the first keyframe of the same file: cts 67 ms (B-frames), then the
    /// first NAL length; the payload is cut short here, which FLV cannot tell.
    const FFMPEG_AVC_KEYFRAME_HEAD: [u8; 12] = [
        0x17, 0x01, 0x00, 0x00, 0x43, 0x00, 0x00, 0x02, 0xae, 0x06, 0x05, 0xff,
    ];

    #[test]
    fn ffmpeg_avc_sequence_header() {
        let b = Bytes::from_static(&FFMPEG_AVC_SEQUENCE_HEADER);
        let VideoTag::Config { codec, record } = parse_video(&b).unwrap() else {
            panic!("not a config");
        };
        assert_eq!(codec, VideoCodec::H264);
        assert_eq!(
            record.as_ptr(),
            b[5..].as_ptr(),
            "record must borrow the body"
        );
        crate::h264::AvcDecoderConfig::parse(&record).unwrap();
    }

    #[test]
    fn ffmpeg_avc_keyframe_with_cts() {
        let b = Bytes::from_static(&FFMPEG_AVC_KEYFRAME_HEAD);
        assert_eq!(
            parse_video(&b).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::H264,
                keyframe: true,
                cts: 67,
                data: b.slice(5..),
            }
        );
    }

    #[test]
    fn legacy_kinds() {
        let inter = body(&[&[0x27, 0x01, 0xff, 0xff, 0xfe], b"nal"]);
        assert_eq!(
            parse_video(&inter).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::H264,
                keyframe: false,
                cts: -2,
                data: Bytes::from_static(b"nal")
            }
        );
        let eos = Bytes::from_static(&[0x17, 0x02, 0, 0, 0]);
        assert_eq!(
            parse_video(&eos).unwrap(),
            VideoTag::EndOfSequence {
                codec: VideoCodec::H264
            }
        );
        // Codec id 12: HEVC with the AVC layout.
        let hevc = body(&[&[0x1c, 0x00, 0, 0, 0], b"hvcC"]);
        assert_eq!(
            parse_video(&hevc).unwrap(),
            VideoTag::Config {
                codec: VideoCodec::H265,
                record: Bytes::from_static(b"hvcC")
            }
        );
        // Command frames, whatever the codec id.
        assert_eq!(
            parse_video(&Bytes::from_static(&[0x57, 0x00])).unwrap(),
            VideoTag::Ignored
        );
        assert_eq!(
            parse_video(&Bytes::from_static(&[0x52, 0x01])).unwrap(),
            VideoTag::Ignored
        );
    }

    #[test]
    fn legacy_errors() {
        let p = |b: &'static [u8]| parse_video(&Bytes::from_static(b));
        assert_eq!(p(&[]), Err(FlvError::Empty));
        assert_eq!(p(&[0x12, 0, 0]), Err(FlvError::UnsupportedVideoCodec(2)));
        assert_eq!(
            p(&[0x07, 0x01, 0, 0, 0]),
            Err(FlvError::ReservedFrameType(0))
        );
        assert_eq!(
            p(&[0x67, 0x01, 0, 0, 0]),
            Err(FlvError::ReservedFrameType(6))
        );
        assert_eq!(
            p(&[0x17, 0x03, 0, 0, 0]),
            Err(FlvError::UnknownAvcPacketType(3))
        );
        assert_eq!(
            p(&[0x17, 0x02, 0, 0, 0, 9]),
            Err(FlvError::TrailingData {
                what: "AVC end of sequence",
                len: 1
            })
        );
    }

    #[test]
    fn enhanced_kinds() {
        // hvc1 SequenceStart, keyframe.
        let start = body(&[&[0x90], b"hvc1", b"hvcC"]);
        assert_eq!(
            parse_video(&start).unwrap(),
            VideoTag::Config {
                codec: VideoCodec::H265,
                record: Bytes::from_static(b"hvcC")
            }
        );
        // hvc1 CodedFrames, inter, cts -33.
        let coded = body(&[&[0xa1], b"hvc1", &[0xff, 0xff, 0xdf], b"nal"]);
        assert_eq!(
            parse_video(&coded).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::H265,
                keyframe: false,
                cts: -33,
                data: Bytes::from_static(b"nal")
            }
        );
        // hvc1 CodedFramesX, keyframe.
        let x = body(&[&[0x93], b"hvc1", b"nal"]);
        assert_eq!(
            parse_video(&x).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::H265,
                keyframe: true,
                cts: 0,
                data: Bytes::from_static(b"nal")
            }
        );
        // av01 CodedFrames has no cts field.
        let av1 = body(&[&[0x91], b"av01", b"obu"]);
        assert_eq!(
            parse_video(&av1).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::Av1,
                keyframe: true,
                cts: 0,
                data: Bytes::from_static(b"obu")
            }
        );
        // avc1 CodedFrames (v2) has one.
        let avc = body(&[&[0xa1], b"avc1", &[0, 0, 5], b"nal"]);
        assert!(matches!(
            parse_video(&avc).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::H264,
                cts: 5,
                ..
            }
        ));
        let end = body(&[&[0x92], b"vp09"]);
        assert_eq!(
            parse_video(&end).unwrap(),
            VideoTag::EndOfSequence {
                codec: VideoCodec::Vp9
            }
        );
        // Metadata ignores the frame type; MPEG2TSSequenceStart ignores the FourCC.
        assert_eq!(
            parse_video(&body(&[&[0x84], b"hvc1", &[2, 0]])).unwrap(),
            VideoTag::Ignored
        );
        assert_eq!(
            parse_video(&body(&[&[0x95], b"zzzz"])).unwrap(),
            VideoTag::Ignored
        );
        // Command frames carry no FourCC.
        assert_eq!(
            parse_video(&Bytes::from_static(&[0xd0, 0x00])).unwrap(),
            VideoTag::Ignored
        );
    }

    #[test]
    fn enhanced_mod_ex_is_skipped() {
        // ModEx, 3 bytes of TimestampOffsetNano, then type 0 | CodedFrames.
        let b = body(&[
            &[0x97, 0x02, 0x00, 0x01, 0x02, 0x01],
            b"hvc1",
            &[0, 0, 7],
            b"nal",
        ]);
        assert!(matches!(
            parse_video(&b).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::H265,
                cts: 7,
                keyframe: true,
                ..
            }
        ));
        // A 16-bit size: 0xff then UI16 + 1 = 300 bytes.
        let mut long = vec![0x97, 0xff, 0x01, 0x2b];
        long.extend_from_slice(&[0u8; 300]);
        long.push(0x03);
        long.extend_from_slice(b"av01obu");
        assert!(matches!(
            parse_video(&Bytes::from(long)).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::Av1,
                ..
            }
        ));
        assert_eq!(
            parse_video(&Bytes::from_static(&[0x97, 0x05, 0, 0])),
            Err(FlvError::Truncated { what: "ModEx data" })
        );
    }

    #[test]
    fn enhanced_errors() {
        let p = |b: Bytes| parse_video(&b);
        assert_eq!(
            p(body(&[&[0x96, 0x00], b"hvc1"])),
            Err(FlvError::VideoMultitrack)
        );
        assert_eq!(
            p(body(&[&[0x90], b"vp08", b"x"])),
            Err(FlvError::UnsupportedVideoFourCc(FourCc::VP08))
        );
        assert_eq!(
            p(body(&[&[0x98], b"hvc1"])),
            Err(FlvError::UnknownVideoPacketType(8))
        );
        assert_eq!(
            p(body(&[&[0x80], b"hvc1"])),
            Err(FlvError::ReservedFrameType(0))
        );
        assert_eq!(
            p(body(&[&[0x90], b"hv"])),
            Err(FlvError::Truncated { what: "FourCC" })
        );
        assert!(FlvError::VideoMultitrack.is_unsupported());
        assert!(!FlvError::Truncated { what: "FourCC" }.is_unsupported());
    }

    fn rebuild(tag: &VideoTag) -> Bytes {
        match tag {
            VideoTag::Config { codec, record } => {
                body(&[video_config_header(*codec).as_bytes(), record])
            }
            VideoTag::Frame {
                codec,
                keyframe,
                cts,
                data,
            } => body(&[video_frame_header(*codec, *keyframe, *cts).as_bytes(), data]),
            VideoTag::EndOfSequence { codec } => video_end_of_sequence(*codec).to_bytes(),
            VideoTag::Ignored => Bytes::new(),
        }
    }

    fn all_tags() -> Vec<VideoTag> {
        let mut tags = Vec::new();
        for codec in CODECS {
            tags.push(VideoTag::Config {
                codec,
                record: Bytes::from_static(b"\x01record"),
            });
            tags.push(VideoTag::EndOfSequence { codec });
            for keyframe in [true, false] {
                let ctss: &[i32] = if has_cts(codec) {
                    &[0, 1, -1, 67, -8_388_608, 8_388_607]
                } else {
                    &[0]
                };
                for &cts in ctss {
                    tags.push(VideoTag::Frame {
                        codec,
                        keyframe,
                        cts,
                        data: Bytes::from_static(b"\x00\x00\x00\x01\x65"),
                    });
                }
            }
        }
        tags
    }

    #[test]
    fn round_trips_including_negative_cts() {
        for tag in all_tags() {
            assert_eq!(parse_video(&rebuild(&tag)).unwrap(), tag);
        }
    }

    #[test]
    fn header_bytes() {
        assert_eq!(
            video_config_header(VideoCodec::H264).as_bytes(),
            &[0x17, 0, 0, 0, 0]
        );
        assert_eq!(
            video_config_header(VideoCodec::H265).as_bytes(),
            b"\x90hvc1"
        );
        assert_eq!(
            video_frame_header(VideoCodec::H264, false, -1).as_bytes(),
            &[0x27, 1, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            video_frame_header(VideoCodec::H265, true, 0).as_bytes(),
            b"\x93hvc1"
        );
        assert_eq!(
            video_frame_header(VideoCodec::H265, true, 2).as_bytes(),
            b"\x91hvc1\x00\x00\x02"
        );
        assert_eq!(
            video_frame_header(VideoCodec::Vp9, false, 40).as_bytes(),
            b"\xa1vp09"
        );
        assert_eq!(
            video_end_of_sequence(VideoCodec::H264).as_bytes(),
            &[0x17, 2, 0, 0, 0]
        );
        assert_eq!(
            video_end_of_sequence(VideoCodec::Av1).as_bytes(),
            b"\x92av01"
        );
    }

    #[test]
    fn every_truncated_header_is_an_error() {
        let mut bodies: Vec<Bytes> = all_tags().iter().map(rebuild).collect();
        bodies.push(Bytes::from_static(&FFMPEG_AVC_SEQUENCE_HEADER));
        for b in bodies {
            // The payload has no length of its own, so only cuts inside the header can
            // be detected; end-of-sequence bodies are all header.
            let header_len = match parse_video(&b).unwrap() {
                VideoTag::Config { record, .. } => b.len() - record.len(),
                VideoTag::Frame { data, .. } => b.len() - data.len(),
                VideoTag::EndOfSequence { .. } | VideoTag::Ignored => b.len(),
            };
            for len in 0..header_len {
                assert!(
                    parse_video(&b.slice(..len)).is_err(),
                    "prefix {len} of {b:02x?}"
                );
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Every first byte with short tails exercises each branch's bounds checks.
        for first in 0..=u8::MAX {
            for tail in [
                &b""[..],
                b"\x00",
                b"\x01\x02",
                b"hvc1",
                b"\x07\xff\xff",
                b"av01\x00\x00",
            ] {
                let _ = parse_video(&body(&[&[first], tail]));
            }
        }
    }
}
