//! AAC structures a muxer needs: the AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1)
//! carried in FLV AAC sequence headers and MP4 `esds` boxes.

mod asc;

pub use asc::{AudioObjectType, AudioSpecificConfig};

/// Why an AAC structure was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AacError {
    #[error("AudioSpecificConfig is truncated")]
    Truncated,
    #[error("reserved sampling frequency index {0}")]
    ReservedFrequencyIndex(u8),
    #[error("explicit sampling frequency of 0 Hz")]
    ZeroSampleRate,
    #[error("reserved channel configuration {0}")]
    ReservedChannelConfiguration(u8),
}
