//! H.264 structures a muxer needs: the AVCDecoderConfigurationRecord carried in FLV
//! sequence headers and MP4 `avcC` boxes, the picture size from an SPS, and the
//! Annex B byte stream that encoders write.

pub mod annexb;
mod avcc;
pub(crate) mod bits;
mod sps;

pub use avcc::{AvcDecoderConfig, MAX_PARAMETER_SETS};
pub use sps::{SpsInfo, parse_sps};

/// Why an H.264 structure was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum H264Error {
    #[error("{what} is truncated")]
    Truncated { what: &'static str },
    #[error("unsupported AVCDecoderConfigurationRecord version {0}")]
    UnsupportedVersion(u8),
    #[error("NAL length size {0} is not 1, 2 or 4")]
    InvalidNalLengthSize(u8),
    #[error("{count} {kind} parameter sets exceed the limit of {max}")]
    TooManyParameterSets {
        kind: &'static str,
        count: usize,
        max: usize,
    },
    #[error("empty {kind} parameter set")]
    EmptyParameterSet { kind: &'static str },
    #[error("AVCDecoderConfigurationRecord carries no SPS")]
    NoSps,
    #[error("{len} bytes of trailing data after the {what}")]
    TrailingData { what: &'static str, len: usize },
    #[error("NAL unit type {0} is not an SPS")]
    NotSps(u8),
    #[error("SPS field {field} has invalid value {value}")]
    InvalidSpsField { field: &'static str, value: u32 },
    #[error("SPS frame cropping removes the whole picture")]
    InvalidCropping,
    #[error("SPS picture size does not fit in 32 bits")]
    PictureTooLarge,
}
