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
