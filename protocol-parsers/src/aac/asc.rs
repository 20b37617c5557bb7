//! AudioSpecificConfig: object type, sampling rate and channel count.

use super::AacError;
use crate::h264::bits::{BitReader, OutOfBits};

/// MPEG-4 audio object types (ISO/IEC 14496-3 Table 1.1), as an open set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioObjectType(pub u8);

impl AudioObjectType {
    pub const AAC_MAIN: Self = Self(1);
    pub const AAC_LC: Self = Self(2);
    /// Spectral band replication: HE-AAC v1 when signalled explicitly.
    pub const SBR: Self = Self(5);
    /// Parametric stereo: HE-AAC v2 when signalled explicitly.
    pub const PS: Self = Self(29);
    /// Object types above 30 are coded as this escape plus six more bits.
    pub const ESCAPE: Self = Self(31);
}

/// Sampling frequencies by samplingFrequencyIndex; 13 and 14 are reserved, 15 means
/// the frequency follows explicitly.
const FREQUENCIES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];
const EXPLICIT_FREQUENCY: u8 = 0xF;

/// The fields of an AudioSpecificConfig a muxer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// The audioObjectType as signalled: 2 for AAC-LC, 5 or 29 for explicitly
    /// signalled HE-AAC (whose core is usually AAC-LC).
    pub object_type: u8,
    /// The output sampling rate: for explicit HE-AAC, the SBR extension rate, which is
    /// what a player's clock runs at.
    pub sample_rate: u32,
    /// Channels from channelConfiguration; 0 means a program_config_element defines
    /// them, which this parser does not read.
    pub channels: u8,
}

impl AudioSpecificConfig {
    /// Parses the start of an AudioSpecificConfig. What follows the fields above
    /// (GASpecificConfig, sync extensions) is legal and ignored.
    pub fn parse(data: &[u8]) -> Result<Self, AacError> {
        let mut r = BitReader::new(data);
        let object_type = read_object_type(&mut r)?;
        let mut sample_rate = read_frequency(&mut r)?;
        let channel_config = r.read_u8(4).map_err(truncated)?;
        let channels = match channel_config {
            0..=6 => channel_config,
            7 | 12 | 14 => 8,
            11 => 7,
            13 => 24,
            other => return Err(AacError::ReservedChannelConfiguration(other)),
        };
        if object_type == AudioObjectType::SBR.0 || object_type == AudioObjectType::PS.0 {
            // Explicit hierarchical signalling (1.6.2.1): the extension rate is the
            // output rate, then the core object type follows.
            sample_rate = read_frequency(&mut r)?;
            read_object_type(&mut r)?;
        }
        Ok(Self {
            object_type,
            sample_rate,
            channels,
        })
    }
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, AacError> {
    let object_type = r.read_u8(5).map_err(truncated)?;
    if object_type == AudioObjectType::ESCAPE.0 {
        // 32 + a six-bit value is at most 95.
        return Ok(32 + r.read_u8(6).map_err(truncated)?);
    }
    Ok(object_type)
}

fn read_frequency(r: &mut BitReader<'_>) -> Result<u32, AacError> {
    let index = r.read_u8(4).map_err(truncated)?;
    if index == EXPLICIT_FREQUENCY {
        let rate = r.read_bits(24).map_err(truncated)?;
        if rate == 0 {
            return Err(AacError::ZeroSampleRate);
        }
        return Ok(rate);
    }
    FREQUENCIES
        .get(usize::from(index))
        .copied()
        .ok_or(AacError::ReservedFrequencyIndex(index))
}

fn truncated(_: OutOfBits) -> AacError {
    AacError::Truncated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_lc_44100_stereo() {
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(
            asc,
            AudioSpecificConfig {
                object_type: 2,
                sample_rate: 44100,
                channels: 2
            }
        );
    }

    #[test]
    fn aac_lc_48000_stereo() {
        let asc = AudioSpecificConfig::parse(&[0x11, 0x90]).unwrap();
        assert_eq!(
            asc,
            AudioSpecificConfig {
                object_type: 2,
                sample_rate: 48000,
                channels: 2
            }
        );
    }

    /// The ASC FFmpeg 5.1.9's `aac` encoder writes for 44.1 kHz stereo (`-c:a aac -ac 2
    /// -f flv`): LC plus an implicit-SBR sync extension that must be tolerated.
    #[test]
    fn ffmpeg_asc_with_sync_extension() {
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!(
            asc,
            AudioSpecificConfig {
                object_type: 2,
                sample_rate: 44100,
                channels: 2
            }
        );
    }

    #[test]
    fn escape_object_type_and_explicit_frequency() {
        // 11111 000001 (object type 33) 1111 (explicit) 24-bit 0x00AC44 (44100) 0010 (2 ch)
        // bits: 11111000 00111110 00000001 01011000 10000010 0....
        let data = [0xF8, 0x3E, 0x01, 0x58, 0x88, 0x40];
        let asc = AudioSpecificConfig::parse(&data).unwrap();
        assert_eq!(
            asc,
            AudioSpecificConfig {
                object_type: 33,
                sample_rate: 44100,
                channels: 2
            }
        );
    }

    #[test]
    fn explicit_he_aac_reports_output_rate() {
        // 00101 (SBR) 0110 (24000) 0010 (2 ch) 0011 (48000) 00010 (LC core)
        // bits: 00101011 00010001 10001000 (+ padding)
        let asc = AudioSpecificConfig::parse(&[0x2B, 0x11, 0x88]).unwrap();
        assert_eq!(
            asc,
            AudioSpecificConfig {
                object_type: 5,
                sample_rate: 48000,
                channels: 2
            }
        );
    }

    #[test]
    fn errors() {
        assert_eq!(AudioSpecificConfig::parse(&[]), Err(AacError::Truncated));
        assert_eq!(
            AudioSpecificConfig::parse(&[0x12]),
            Err(AacError::Truncated)
        );
        // index 13 reserved: 00010 1101 ...
        assert_eq!(
            AudioSpecificConfig::parse(&[0x16, 0x90]),
            Err(AacError::ReservedFrequencyIndex(13))
        );
        // channel configuration 8: 00010 0100 1000 -> 0x12 0x40
        assert_eq!(
            AudioSpecificConfig::parse(&[0x12, 0x40]),
            Err(AacError::ReservedChannelConfiguration(8))
        );
        // explicit 0 Hz
        assert_eq!(
            AudioSpecificConfig::parse(&[0x17, 0x80, 0x00, 0x00, 0x10]),
            Err(AacError::ZeroSampleRate)
        );
    }
}
