//! RFC 6381 codec strings, for the CODECS attribute of HLS and the `codecs` attribute
//! of DASH, derived from the decoder configuration records.

use crate::aac::AudioSpecificConfig;
use crate::media::{AudioCodec, CodecConfig, VideoCodec};

/// The codec string of a track, or `None` when its configuration record is too short
/// or malformed to derive one (or, for VP9, when no `vpcC` is available).
///
/// - H.264: `avc1.PPCCLL` from bytes 1..4 of the AVCDecoderConfigurationRecord
///   (profile, constraint flags, level), as in RFC 6381 3.3.
/// - H.265: `hvc1.` + profile space and profile, compatibility flags (bit-reversed),
///   tier and level, constraint bytes without trailing zeros, all from the
///   HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 E.3). `hvc1` matches the sample
///   entry the CMAF writer uses.
/// - AV1: `av01.P.LLT.DD` from the AV1CodecConfigurationRecord (AV1-ISOBMFF 5).
/// - AAC: `mp4a.40.N`, N the AudioSpecificConfig's object type (2 for AAC-LC, 5 and
///   29 for explicitly signalled HE-AAC v1 and v2).
/// - MP3: `mp4a.40.34`. Opus: `opus`.
pub fn codec_string(config: &CodecConfig) -> Option<String> {
    match config {
        CodecConfig::Video { codec, record, .. } => match codec {
            VideoCodec::H264 => avc(record),
            VideoCodec::H265 => hevc(record),
            VideoCodec::Av1 => av1(record),
            VideoCodec::Vp9 => None,
        },
        CodecConfig::Audio {
            codec, specific, ..
        } => match codec {
            AudioCodec::Aac => AudioSpecificConfig::parse(specific)
                .ok()
                .map(|asc| format!("mp4a.40.{}", asc.object_type)),
            AudioCodec::Mp3 => Some("mp4a.40.34".to_owned()),
            AudioCodec::Opus => Some("opus".to_owned()),
        },
    }
}

fn avc(record: &[u8]) -> Option<String> {
    match record {
        [1, profile, compatibility, level, ..] => {
            Some(format!("avc1.{profile:02x}{compatibility:02x}{level:02x}"))
        }
        _ => None,
    }
}

/// The profile_tier_level fields at the start of an HEVCDecoderConfigurationRecord.
fn hevc(record: &[u8]) -> Option<String> {
    let [1, ptl, c0, c1, c2, c3, constraints @ .., level] = record.get(..13)? else {
        return None;
    };
    let space = match ptl >> 6 {
        0 => "",
        1 => "A",
        2 => "B",
        _ => "C",
    };
    let tier = if ptl & 0x20 != 0 { 'H' } else { 'L' };
    let profile = ptl & 0x1F;
    // general_profile_compatibility_flag[j] is bit 31 - j of the field; the string
    // lists flag 0 as its least significant bit.
    let compatibility = u32::from_be_bytes([*c0, *c1, *c2, *c3]).reverse_bits();
    let mut out = format!("hvc1.{space}{profile}.{compatibility:X}.{tier}{level}");
    let used = constraints
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |i| i + 1);
    for byte in constraints.iter().take(used) {
        out.push_str(&format!(".{byte:X}"));
    }
    Some(out)
}

fn av1(record: &[u8]) -> Option<String> {
    let [marker_version, profile_level, flags, ..] = record else {
        return None;
    };
    if *marker_version != 0x81 {
        return None;
    }
    let profile = profile_level >> 5;
    let level = profile_level & 0x1F;
    let tier = if flags & 0x80 != 0 { 'H' } else { 'M' };
    let bit_depth = match (flags & 0x40 != 0, flags & 0x20 != 0) {
        (true, true) => 12,
        (true, false) => 10,
        _ => 8,
    };
    Some(format!("av01.{profile}.{level:02}{tier}.{bit_depth:02}"))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn video(codec: VideoCodec, record: &[u8]) -> CodecConfig {
        CodecConfig::Video {
            codec,
            record: Bytes::copy_from_slice(record),
            width: 0,
            height: 0,
        }
    }

    fn audio(codec: AudioCodec, specific: &'static [u8]) -> CodecConfig {
        CodecConfig::Audio {
            codec,
            specific: Bytes::from_static(specific),
            sample_rate: 48_000,
            channels: 2,
        }
    }

    /// The avcC of `ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=30 -t 1 -c:v libx264
    /// -profile:v high -f flv` (FFmpeg 5.1.9), as in `h264::avcc`'s tests.
    const FFMPEG_AVCC_HIGH_1080P: [u8; 48] = [
        0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40,
        0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00,
        0xf0, 0x3c, 0x60, 0xc6, 0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
        0xf8, 0xf8, 0x00,
    ];

    /// The fixed 23-byte head of the hvcC of `ffmpeg -f lavfi -i
    /// testsrc2=size=1280x720:rate=30 -t 1 -c:v libx265 -tag:v hvc1 hevc.mp4` (FFmpeg
    /// 5.1, x265 3.5): Main profile, level 3.1, progressive + frame-only constraints.
    /// The parameter-set arrays that follow are not read.
    const X265_HVCC_MAIN_720P_HEAD: [u8; 23] = [
        0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0xf0, 0x00,
        0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x04,
    ];

    /// The av1C of `ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -t 0.5 -c:v
    /// libaom-av1 -cpu-used 8 av1.mp4` (FFmpeg 5.1): Main profile, level 2.1 (index
    /// 1), 8-bit 4:2:0, then the sequence header OBU.
    const AOM_AV1C_360P: [u8; 17] = [
        0x81, 0x01, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x0c, 0xc4, 0xff, 0x67, 0x36, 0xbe,
        0x40, 0x10,
    ];

    #[test]
    fn h264_from_real_avcc() {
        assert_eq!(
            codec_string(&video(VideoCodec::H264, &FFMPEG_AVCC_HIGH_1080P)).as_deref(),
            Some("avc1.640028")
        );
        // Constrained Baseline 3.1.
        assert_eq!(
            codec_string(&video(VideoCodec::H264, &[1, 0x42, 0xc0, 0x1f])).as_deref(),
            Some("avc1.42c01f")
        );
        assert_eq!(codec_string(&video(VideoCodec::H264, &[1, 0x64, 0])), None);
        assert_eq!(
            codec_string(&video(VideoCodec::H264, &[2, 0x64, 0, 0x28])),
            None
        );
    }

    #[test]
    fn h265_from_real_hvcc() {
        assert_eq!(
            codec_string(&video(VideoCodec::H265, &X265_HVCC_MAIN_720P_HEAD)).as_deref(),
            Some("hvc1.1.6.L93.90")
        );
        // Main 10, high tier, level 4 (120), profile space 1, two constraint bytes.
        let mut record = X265_HVCC_MAIN_720P_HEAD;
        record[1] = 0x40 | 0x20 | 2;
        record[2..6].copy_from_slice(&[0x20, 0, 0, 0]);
        record[6..12].copy_from_slice(&[0xB0, 0x0C, 0, 0, 0, 0]);
        record[12] = 120;
        assert_eq!(
            codec_string(&video(VideoCodec::H265, &record)).as_deref(),
            Some("hvc1.A2.4.H120.B0.C")
        );
        assert_eq!(
            codec_string(&video(VideoCodec::H265, &X265_HVCC_MAIN_720P_HEAD[..12])),
            None
        );
    }

    #[test]
    fn av1_from_real_av1c() {
        assert_eq!(
            codec_string(&video(VideoCodec::Av1, &AOM_AV1C_360P)).as_deref(),
            Some("av01.0.01M.08")
        );
        // Professional profile, level 5.1 (index 13), high tier, 12-bit.
        assert_eq!(
            codec_string(&video(VideoCodec::Av1, &[0x81, 0x4d, 0xe0, 0])).as_deref(),
            Some("av01.2.13H.12")
        );
        assert_eq!(codec_string(&video(VideoCodec::Av1, &[0x80, 0, 0])), None);
        assert_eq!(codec_string(&video(VideoCodec::Vp9, &[1, 2, 3, 4])), None);
    }

    #[test]
    fn audio_strings() {
        // AAC-LC, 48 kHz stereo.
        assert_eq!(
            codec_string(&audio(AudioCodec::Aac, &[0x11, 0x90])).as_deref(),
            Some("mp4a.40.2")
        );
        // Explicit HE-AAC: SBR at 48 kHz over an AAC-LC core.
        assert_eq!(
            codec_string(&audio(AudioCodec::Aac, &[0x2B, 0x11, 0x88])).as_deref(),
            Some("mp4a.40.5")
        );
        assert_eq!(codec_string(&audio(AudioCodec::Aac, &[])), None);
        assert_eq!(
            codec_string(&audio(AudioCodec::Opus, &[])).as_deref(),
            Some("opus")
        );
        assert_eq!(
            codec_string(&audio(AudioCodec::Mp3, &[])).as_deref(),
            Some("mp4a.40.34")
        );
    }
}
