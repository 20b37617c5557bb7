//! ADTS headers (ISO/IEC 13818-7 6.2 / 14496-3 1.A.2): TS carries AAC as a stream of
//! self-describing ADTS frames, so each raw frame gets a 7-byte header built from the
//! track's AudioSpecificConfig.

use super::TsError;
use crate::aac::{AudioObjectType, AudioSpecificConfig};
use crate::h264::bits::BitReader;

pub(super) const HEADER_LEN: usize = 7;
/// frame_length is 13 bits and counts the header.
pub(super) const MAX_PAYLOAD: usize = (1 << 13) - 1 - HEADER_LEN;

/// The three fields ADTS repeats from the AudioSpecificConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Adts {
    /// audioObjectType − 1 of the core coder (1 for AAC-LC).
    profile: u8,
    frequency_index: u8,
    channel_config: u8,
}

impl Adts {
    /// Reads the ADTS fields from an AudioSpecificConfig. Explicitly signalled HE-AAC
    /// is written as its AAC-LC core at the core rate (implicit signalling), which is
    /// how ADTS carries it.
    pub(super) fn from_asc(asc: &[u8]) -> Result<Self, TsError> {
        // Validates what the fields mean (reserved indices, channel configurations).
        AudioSpecificConfig::parse(asc)?;
        let mut r = BitReader::new(asc);
        let truncated = |_| TsError::AacConfig(crate::aac::AacError::Truncated);
        let mut object_type = object_type(&mut r).map_err(truncated)?;
        let frequency_index = r.read_u8(4).map_err(truncated)?;
        if frequency_index == 0xF {
            return Err(TsError::NotAdts("explicit sampling frequency"));
        }
        let channel_config = r.read_u8(4).map_err(truncated)?;
        if channel_config > 7 {
            return Err(TsError::NotAdts("channel configuration above 7"));
        }
        if object_type == AudioObjectType::SBR.0 || object_type == AudioObjectType::PS.0 {
            if r.read_u8(4).map_err(truncated)? == 0xF {
                r.skip(24).map_err(truncated)?;
            }
            object_type = self::object_type(&mut r).map_err(truncated)?;
        }
        if !(1..=4).contains(&object_type) {
            return Err(TsError::NotAdts(
                "object type is not AAC Main, LC, SSR or LTP",
            ));
        }
        Ok(Self {
            profile: object_type - 1,
            frequency_index,
            channel_config,
        })
    }

    /// The header for a raw frame of `payload_len` bytes: MPEG-4, no CRC, one raw
    /// data block, buffer fullness 0x7FF (variable bit rate).
    pub(super) fn header(&self, payload_len: usize) -> Result<[u8; HEADER_LEN], TsError> {
        if payload_len > MAX_PAYLOAD {
            return Err(TsError::FrameTooLarge {
                len: payload_len,
                max: MAX_PAYLOAD,
            });
        }
        let len = payload_len + HEADER_LEN;
        Ok([
            0xFF,
            0xF1, // syncword, MPEG-4, layer 0, protection_absent
            (self.profile << 6) | (self.frequency_index << 2) | (self.channel_config >> 2),
            ((self.channel_config & 0x03) << 6) | ((len >> 11) & 0x03) as u8,
            ((len >> 3) & 0xFF) as u8,
            (((len & 0x07) as u8) << 5) | 0x1F,
            0xFC,
        ])
    }
}

/// An ADTS header read off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AdtsHeader {
    pub(super) adts: Adts,
    /// 7, or 9 with a CRC.
    pub(super) header_len: usize,
    /// The whole frame, header included.
    pub(super) frame_len: usize,
    /// number_of_raw_data_blocks_in_frame: 0 for one block of 1024 samples.
    pub(super) extra_blocks: u8,
}

/// Why bytes are not an ADTS frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AdtsError {
    /// Fewer bytes than the header, or than the frame length it gives.
    Truncated,
    /// No 0xFFF syncword, or a layer other than 0.
    NoSync,
    /// frame_length smaller than the header itself.
    BadLength,
}

impl AdtsHeader {
    /// Reads the header at the start of `data` (ISO/IEC 13818-7 6.2.1) and checks that
    /// the whole frame is there.
    pub(super) fn parse(data: &[u8]) -> Result<Self, AdtsError> {
        let Some(&[b0, b1, b2, b3, b4, b5, b6]) = data.first_chunk::<HEADER_LEN>() else {
            return Err(AdtsError::Truncated);
        };
        // syncword, then ID (either), layer '00'.
        if b0 != 0xFF || b1 & 0xF6 != 0xF0 {
            return Err(AdtsError::NoSync);
        }
        let protection_absent = b1 & 1 == 1;
        let header_len = if protection_absent {
            HEADER_LEN
        } else {
            HEADER_LEN + CRC_LEN
        };
        let frame_len =
            (usize::from(b3 & 0x03) << 11) | (usize::from(b4) << 3) | usize::from(b5 >> 5);
        if frame_len <= header_len {
            return Err(AdtsError::BadLength);
        }
        if data.len() < frame_len {
            return Err(AdtsError::Truncated);
        }
        Ok(Self {
            adts: Adts {
                profile: b2 >> 6,
                frequency_index: (b2 >> 2) & 0x0F,
                channel_config: ((b2 & 0x01) << 2) | (b3 >> 6),
            },
            header_len,
            frame_len,
            extra_blocks: b6 & 0x03,
        })
    }
}

/// The CRC that follows the header when protection_absent is 0.
const CRC_LEN: usize = 2;

impl Adts {
    /// The two-byte AudioSpecificConfig these fields describe: audioObjectType
    /// profile + 1, the same frequency index and channel configuration.
    pub(super) fn audio_specific_config(&self) -> [u8; 2] {
        let object_type = self.profile + 1;
        [
            (object_type << 3) | (self.frequency_index >> 1),
            ((self.frequency_index & 1) << 7) | (self.channel_config << 3),
        ]
    }
}

fn object_type(r: &mut BitReader<'_>) -> Result<u8, crate::h264::bits::OutOfBits> {
    let object_type = r.read_u8(5)?;
    if object_type == AudioObjectType::ESCAPE.0 {
        return Ok(32 + r.read_u8(6)?);
    }
    Ok(object_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_lc_48k_stereo() {
        // ASC 0x11 0x90: LC, index 3 (48 kHz), 2 channels.
        let adts = Adts::from_asc(&[0x11, 0x90]).unwrap();
        assert_eq!(
            adts.header(100).unwrap(),
            [0xFF, 0xF1, 0x4C, 0x80, 0x0D, 0x7F, 0xFC]
        );
        // The test clip is 48 kHz mono (ASC 0x11 0x88); `ffmpeg -i src-1080p30-5s.flv
        // -c copy -map 0:a -f adts -` (FFmpeg 5.1.9) heads its first, 453-byte, frame
        // with FF F1 4C 40 39 9F FC.
        let mono = Adts::from_asc(&[0x11, 0x88]).unwrap();
        assert_eq!(
            mono.header(453).unwrap(),
            [0xFF, 0xF1, 0x4C, 0x40, 0x39, 0x9F, 0xFC]
        );
        assert_eq!(adts.header(MAX_PAYLOAD).unwrap()[3..6], [0x83, 0xFF, 0xFF]);
        assert_eq!(
            adts.header(MAX_PAYLOAD + 1),
            Err(TsError::FrameTooLarge {
                len: 8185,
                max: 8184
            })
        );
    }

    #[test]
    fn ffmpeg_asc_with_sync_extension_and_explicit_he_aac() {
        // FFmpeg's 44.1 kHz LC with an implicit-SBR sync extension.
        let adts = Adts::from_asc(&[0x12, 0x10, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!(
            (adts.profile, adts.frequency_index, adts.channel_config),
            (1, 4, 2)
        );
        // Explicit HE-AAC: SBR at 48 kHz over an LC core at 24 kHz -> LC, index 6.
        let adts = Adts::from_asc(&[0x2B, 0x11, 0x88]).unwrap();
        assert_eq!(
            (adts.profile, adts.frequency_index, adts.channel_config),
            (1, 6, 2)
        );
    }

    #[test]
    fn headers_read_back() {
        let adts = Adts::from_asc(&[0x11, 0x88]).unwrap();
        let mut frame = adts.header(453).unwrap().to_vec();
        frame.resize(460, 0xAB);
        let header = AdtsHeader::parse(&frame).unwrap();
        assert_eq!(
            header,
            AdtsHeader {
                adts,
                header_len: 7,
                frame_len: 460,
                extra_blocks: 0
            }
        );
        assert_eq!(header.adts.audio_specific_config(), [0x11, 0x88]);
        assert_eq!(AdtsHeader::parse(&frame[..459]), Err(AdtsError::Truncated));
        // protection_absent 0: a 2-byte CRC follows the header.
        frame[1] &= !1;
        assert_eq!(AdtsHeader::parse(&frame).unwrap().header_len, 9);
        frame[1] = 0xF3; // layer 1
        assert_eq!(AdtsHeader::parse(&frame), Err(AdtsError::NoSync));
        let tiny = adts.header(0).unwrap();
        assert_eq!(AdtsHeader::parse(&tiny), Err(AdtsError::BadLength));
    }

    #[test]
    fn configurations_adts_cannot_carry() {
        assert!(matches!(Adts::from_asc(&[]), Err(TsError::AacConfig(_))));
        // Explicit 44100 Hz (index 15).
        assert_eq!(
            Adts::from_asc(&[0x17, 0x80, 0x56, 0x22, 0x10]),
            Err(TsError::NotAdts("explicit sampling frequency"))
        );
        // Object type 33 (escape) at 44.1 kHz stereo: 11111 000001 0100 0010.
        assert!(matches!(
            Adts::from_asc(&[0xF8, 0x28, 0x40]),
            Err(TsError::NotAdts(_))
        ));
    }
}
