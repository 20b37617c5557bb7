//! Audio message bodies: the legacy FLV AUDIODATA layout (AAC, MP3) and the Enhanced
//! RTMP ExAudioTagHeader (Opus, AAC, MP3 by FourCC).

use bytes::Bytes;

use super::{FlvError, FourCc, Reader, TagHeader};
use crate::media::AudioCodec;

/// SoundFormat, the high nibble of the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SoundFormat(pub u8);

impl SoundFormat {
    pub const LPCM_PLATFORM_ENDIAN: Self = Self(0);
    pub const ADPCM: Self = Self(1);
    pub const MP3: Self = Self(2);
    pub const LPCM_LITTLE_ENDIAN: Self = Self(3);
    pub const NELLYMOSER_16K_MONO: Self = Self(4);
    pub const NELLYMOSER_8K_MONO: Self = Self(5);
    pub const NELLYMOSER: Self = Self(6);
    pub const G711_A_LAW: Self = Self(7);
    pub const G711_MU_LAW: Self = Self(8);
    /// Enhanced RTMP: the low nibble is an AudioPacketType and a FourCC follows.
    pub const EX_HEADER: Self = Self(9);
    pub const AAC: Self = Self(10);
    pub const SPEEX: Self = Self(11);
    pub const MP3_8K: Self = Self(14);
    pub const DEVICE_SPECIFIC: Self = Self(15);
}

/// AACPacketType, the second byte of a legacy AAC body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AacPacketType(pub u8);

impl AacPacketType {
    pub const SEQUENCE_HEADER: Self = Self(0);
    pub const RAW: Self = Self(1);
}

/// Enhanced RTMP AudioPacketType, the low nibble when SoundFormat is ExHeader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioPacketType(pub u8);

impl AudioPacketType {
    pub const SEQUENCE_START: Self = Self(0);
    pub const CODED_FRAMES: Self = Self(1);
    pub const SEQUENCE_END: Self = Self(2);
    pub const MULTICHANNEL_CONFIG: Self = Self(4);
    pub const MULTITRACK: Self = Self(5);
    pub const MOD_EX: Self = Self(7);
}

/// What an audio message body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    /// The AudioSpecificConfig for AAC, the OpusHead for Opus (possibly empty, meaning
    /// plain mono/stereo), a slice of the body.
    Config { codec: AudioCodec, specific: Bytes },
    /// One or more coded frames, a slice of the body.
    Frame { codec: AudioCodec, data: Bytes },
}

/// Parses an audio message body. `specific` and `data` are zero-copy slices of `body`.
///
/// Enhanced RTMP sequence end, multichannel configuration and multitrack messages are
/// reported as unsupported ([`FlvError::is_unsupported`]).
pub fn parse_audio(body: &Bytes) -> Result<AudioTag, FlvError> {
    let mut r = Reader::new(body);
    let first = r.u8("audio tag header").map_err(|_| FlvError::Empty)?;
    match SoundFormat(first >> 4) {
        SoundFormat::AAC => {
            let packet_type = AacPacketType(r.u8("AAC packet type")?);
            let codec = AudioCodec::Aac;
            match packet_type {
                AacPacketType::SEQUENCE_HEADER => Ok(AudioTag::Config {
                    codec,
                    specific: r.rest(),
                }),
                AacPacketType::RAW => Ok(AudioTag::Frame {
                    codec,
                    data: r.rest(),
                }),
                other => Err(FlvError::UnknownAacPacketType(other.0)),
            }
        }
        SoundFormat::MP3 | SoundFormat::MP3_8K => Ok(AudioTag::Frame {
            codec: AudioCodec::Mp3,
            data: r.rest(),
        }),
        SoundFormat::EX_HEADER => parse_enhanced(r, AudioPacketType(first & 0x0F)),
        other => Err(FlvError::UnsupportedSoundFormat(other.0)),
    }
}

fn parse_enhanced(mut r: Reader<'_>, packet_type: AudioPacketType) -> Result<AudioTag, FlvError> {
    let packet_type = AudioPacketType(r.skip_mod_ex(packet_type.0, AudioPacketType::MOD_EX.0)?);
    if packet_type == AudioPacketType::MULTITRACK {
        return Err(FlvError::AudioMultitrack);
    }
    let fourcc = r.fourcc()?;
    let codec = match fourcc {
        FourCc::OPUS => AudioCodec::Opus,
        FourCc::MP4A => AudioCodec::Aac,
        FourCc::MP3 => AudioCodec::Mp3,
        other => return Err(FlvError::UnsupportedAudioFourCc(other)),
    };
    match packet_type {
        AudioPacketType::SEQUENCE_START => Ok(AudioTag::Config {
            codec,
            specific: r.rest(),
        }),
        AudioPacketType::CODED_FRAMES => Ok(AudioTag::Frame {
            codec,
            data: r.rest(),
        }),
        other => Err(FlvError::UnsupportedAudioPacketType(other.0)),
    }
}

/// The legacy flags byte for MP3: SoundRate can only say 5.5/11/22/44 kHz, so the
/// nearest class is used (decoders read the real rate from the MP3 frame header);
/// 8 kHz has its own SoundFormat.
fn mp3_flags(sample_rate: u32, channels: u8) -> u8 {
    let (format, rate) = match sample_rate {
        8000 => (SoundFormat::MP3_8K, 0),
        0..11_025 => (SoundFormat::MP3, 0),
        11_025..22_050 => (SoundFormat::MP3, 1),
        22_050..44_100 => (SoundFormat::MP3, 2),
        _ => (SoundFormat::MP3, 3),
    };
    let size_16_bit = 1 << 1;
    let stereo = u8::from(channels >= 2);
    (format.0 << 4) | (rate << 2) | size_16_bit | stereo
}

/// The first byte of a legacy AAC body. The FLV spec fixes the flags for AAC to
/// 44 kHz, 16 bit, stereo whatever the stream is: the AudioSpecificConfig is what counts.
const AAC_FLAGS: u8 = 0xAF;

fn enhanced_header(packet_type: AudioPacketType, fourcc: FourCc) -> TagHeader {
    let mut h = TagHeader::new();
    h.push((SoundFormat::EX_HEADER.0 << 4) | packet_type.0);
    h.extend(&fourcc.0);
    h
}

/// Header of the codec configuration: AAC `0xAF 0x00`, Opus an Enhanced RTMP
/// SequenceStart. MP3 has no configuration; an Enhanced RTMP `.mp3` SequenceStart is
/// written so the output still parses back as a configuration.
pub fn audio_config_header(codec: AudioCodec, sample_rate: u32, channels: u8) -> TagHeader {
    // Only MP3's legacy frame flags depend on these; the configuration never does.
    let _ = (sample_rate, channels);
    match codec {
        AudioCodec::Aac => {
            let mut h = TagHeader::new();
            h.extend(&[AAC_FLAGS, AacPacketType::SEQUENCE_HEADER.0]);
            h
        }
        AudioCodec::Opus => enhanced_header(AudioPacketType::SEQUENCE_START, FourCc::OPUS),
        AudioCodec::Mp3 => enhanced_header(AudioPacketType::SEQUENCE_START, FourCc::MP3),
    }
}

/// Header of coded frames: AAC `0xAF 0x01`, MP3 the legacy flags byte from
/// `sample_rate`/`channels`, Opus an Enhanced RTMP CodedFrames.
pub fn audio_frame_header(codec: AudioCodec, sample_rate: u32, channels: u8) -> TagHeader {
    let mut h = TagHeader::new();
    match codec {
        AudioCodec::Aac => h.extend(&[AAC_FLAGS, AacPacketType::RAW.0]),
        AudioCodec::Mp3 => h.push(mp3_flags(sample_rate, channels)),
        AudioCodec::Opus => return enhanced_header(AudioPacketType::CODED_FRAMES, FourCc::OPUS),
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [AudioCodec; 3] = [AudioCodec::Aac, AudioCodec::Opus, AudioCodec::Mp3];

    fn body(parts: &[&[u8]]) -> Bytes {
        Bytes::from(parts.concat())
    }

    /// First audio tag of `ffmpeg -f lavfi -i sine=frequency=440:sample_rate=48000 -t 1
    /// -ac 2 -c:a aac -f flv aac48.flv` (FFmpeg 5.1.9).
    const FFMPEG_AAC_SEQUENCE_HEADER: [u8; 7] = [0xaf, 0x00, 0x11, 0x90, 0x56, 0xe5, 0x00];

    /// Start of the first MP3 tag of `ffmpeg -f lavfi -i sine=frequency=440:sample_rate=44100
    /// -t 1 -ac 2 -c:a libmp3lame -f flv mp3.flv` (FFmpeg 5.1.9).
    const FFMPEG_MP3_HEAD: [u8; 5] = [0x2f, 0xff, 0xfb, 0x90, 0x64];

    #[test]
    fn ffmpeg_aac_sequence_header() {
        let b = Bytes::from_static(&FFMPEG_AAC_SEQUENCE_HEADER);
        let AudioTag::Config { codec, specific } = parse_audio(&b).unwrap() else {
            panic!("not a config");
        };
        assert_eq!(codec, AudioCodec::Aac);
        assert_eq!(
            specific.as_ptr(),
            b[2..].as_ptr(),
            "ASC must borrow the body"
        );
        let asc = crate::aac::AudioSpecificConfig::parse(&specific).unwrap();
        assert_eq!((asc.sample_rate, asc.channels), (48000, 2));
    }

    #[test]
    fn legacy_kinds() {
        let raw = body(&[&[0xaf, 0x01], b"aac"]);
        assert_eq!(
            parse_audio(&raw).unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Aac,
                data: Bytes::from_static(b"aac")
            }
        );
        let mp3 = Bytes::from_static(&FFMPEG_MP3_HEAD);
        assert_eq!(
            parse_audio(&mp3).unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Mp3,
                data: mp3.slice(1..)
            }
        );
        let mp3_8k = Bytes::from_static(&[0xe2, 0xff]);
        assert!(matches!(
            parse_audio(&mp3_8k).unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Mp3,
                ..
            }
        ));
    }

    #[test]
    fn enhanced_kinds() {
        let head = body(&[&[0x90], b"Opus", b"OpusHead"]);
        assert_eq!(
            parse_audio(&head).unwrap(),
            AudioTag::Config {
                codec: AudioCodec::Opus,
                specific: Bytes::from_static(b"OpusHead")
            }
        );
        let empty_head = body(&[&[0x90], b"Opus"]);
        assert_eq!(
            parse_audio(&empty_head).unwrap(),
            AudioTag::Config {
                codec: AudioCodec::Opus,
                specific: Bytes::new()
            }
        );
        let opus = body(&[&[0x91], b"Opus", b"pkt"]);
        assert_eq!(
            parse_audio(&opus).unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Opus,
                data: Bytes::from_static(b"pkt")
            }
        );
        let mp4a = body(&[&[0x90], b"mp4a", &[0x12, 0x10]]);
        assert_eq!(
            parse_audio(&mp4a).unwrap(),
            AudioTag::Config {
                codec: AudioCodec::Aac,
                specific: Bytes::from_static(&[0x12, 0x10])
            }
        );
        // ModEx (3 bytes) before CodedFrames.
        let mod_ex = body(&[&[0x97, 0x02, 1, 2, 3, 0x01], b"Opus", b"pkt"]);
        assert!(matches!(
            parse_audio(&mod_ex).unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Opus,
                ..
            }
        ));
    }

    #[test]
    fn errors() {
        let p = |b: Bytes| parse_audio(&b);
        assert_eq!(p(Bytes::new()), Err(FlvError::Empty));
        assert_eq!(
            p(Bytes::from_static(&[0xaf])),
            Err(FlvError::Truncated {
                what: "AAC packet type"
            })
        );
        assert_eq!(
            p(Bytes::from_static(&[0xaf, 2])),
            Err(FlvError::UnknownAacPacketType(2))
        );
        assert_eq!(
            p(Bytes::from_static(&[0xb6, 0])),
            Err(FlvError::UnsupportedSoundFormat(11))
        );
        assert_eq!(
            p(body(&[&[0x95, 0x00], b"Opus"])),
            Err(FlvError::AudioMultitrack)
        );
        assert_eq!(
            p(body(&[&[0x91], b"fLaC"])),
            Err(FlvError::UnsupportedAudioFourCc(FourCc::FLAC))
        );
        assert_eq!(
            p(body(&[&[0x92], b"Opus"])),
            Err(FlvError::UnsupportedAudioPacketType(2))
        );
        assert_eq!(
            p(body(&[&[0x94], b"Opus", &[1, 2]])),
            Err(FlvError::UnsupportedAudioPacketType(4))
        );
        assert!(FlvError::UnsupportedAudioPacketType(2).is_unsupported());
        assert!(FlvError::Empty.is_unsupported());
    }

    fn rebuild(tag: &AudioTag, sample_rate: u32, channels: u8) -> Bytes {
        match tag {
            AudioTag::Config { codec, specific } => body(&[
                audio_config_header(*codec, sample_rate, channels).as_bytes(),
                specific,
            ]),
            AudioTag::Frame { codec, data } => body(&[
                audio_frame_header(*codec, sample_rate, channels).as_bytes(),
                data,
            ]),
        }
    }

    fn all_tags() -> Vec<AudioTag> {
        let mut tags = Vec::new();
        for codec in CODECS {
            tags.push(AudioTag::Config {
                codec,
                specific: Bytes::from_static(&[0x12, 0x10]),
            });
            tags.push(AudioTag::Frame {
                codec,
                data: Bytes::from_static(b"\x21\x00frame"),
            });
        }
        tags
    }

    #[test]
    fn round_trips() {
        for tag in all_tags() {
            for (rate, channels) in [
                (44_100, 2),
                (48_000, 1),
                (8_000, 1),
                (22_050, 2),
                (11_025, 1),
            ] {
                assert_eq!(parse_audio(&rebuild(&tag, rate, channels)).unwrap(), tag);
            }
        }
    }

    #[test]
    fn header_bytes() {
        assert_eq!(
            audio_config_header(AudioCodec::Aac, 48_000, 2).as_bytes(),
            &[0xaf, 0x00]
        );
        assert_eq!(
            audio_frame_header(AudioCodec::Aac, 48_000, 2).as_bytes(),
            &[0xaf, 0x01]
        );
        assert_eq!(
            audio_frame_header(AudioCodec::Mp3, 44_100, 2).as_bytes(),
            &[0x2f]
        );
        assert_eq!(
            audio_frame_header(AudioCodec::Mp3, 22_050, 1).as_bytes(),
            &[0x2a]
        );
        assert_eq!(
            audio_frame_header(AudioCodec::Mp3, 8_000, 1).as_bytes(),
            &[0xe2]
        );
        assert_eq!(
            audio_config_header(AudioCodec::Opus, 48_000, 2).as_bytes(),
            b"\x90Opus"
        );
        assert_eq!(
            audio_frame_header(AudioCodec::Opus, 48_000, 2).as_bytes(),
            b"\x91Opus"
        );
    }

    #[test]
    fn every_truncated_header_is_an_error() {
        for tag in all_tags() {
            let b = rebuild(&tag, 44_100, 2);
            let payload_len = match &tag {
                AudioTag::Config { specific, .. } => specific.len(),
                AudioTag::Frame { data, .. } => data.len(),
            };
            for len in 0..b.len() - payload_len {
                assert!(
                    parse_audio(&b.slice(..len)).is_err(),
                    "prefix {len} of {b:02x?}"
                );
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for first in 0..=u8::MAX {
            for tail in [
                &b""[..],
                b"\x00",
                b"\x01\x02",
                b"Opus",
                b"\xff\xff\xff",
                b"mp4a\x00",
            ] {
                let _ = parse_audio(&body(&[&[first], tail]));
            }
        }
    }
}
