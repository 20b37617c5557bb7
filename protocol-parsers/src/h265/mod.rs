//! H.265/HEVC structures: the sequence parameter set fields an
//! HEVCDecoderConfigurationRecord repeats, and building that record from the
//! parameter sets a transport stream carries in band.

mod hvcc;
mod sps;

pub use hvcc::{HevcConfig, build_hvcc};
pub use sps::{HevcSps, ProfileTierLevel, parse_sps};

/// nal_unit_type of a video parameter set (H.265 Table 7-1).
pub const NAL_VPS: u8 = 32;
/// nal_unit_type of a sequence parameter set.
pub const NAL_SPS: u8 = 33;
/// nal_unit_type of a picture parameter set.
pub const NAL_PPS: u8 = 34;
/// nal_unit_type of an access unit delimiter.
pub const NAL_AUD: u8 = 35;

/// The nal_unit_type of a NAL unit whose two-byte header starts with `first_byte`.
pub const fn nal_type(first_byte: u8) -> u8 {
    (first_byte >> 1) & 0x3F
}

/// Intra random access point pictures (BLA, IDR, CRA and the reserved IRAP types,
/// 16..=23): a decoder can start at one.
pub const fn is_irap(nal_type: u8) -> bool {
    matches!(nal_type, 16..=23)
}

/// Why an H.265 structure was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum H265Error {
    #[error("{what} is truncated")]
    Truncated { what: &'static str },
    #[error("NAL unit type {0} is not an SPS")]
    NotSps(u8),
    #[error("SPS field {field} has invalid value {value}")]
    InvalidSpsField { field: &'static str, value: u32 },
    #[error("SPS conformance window removes the whole picture")]
    InvalidConformanceWindow,
    #[error("no {0} to build an HEVCDecoderConfigurationRecord from")]
    MissingParameterSet(&'static str),
    #[error("{kind} parameter set of {len} bytes does not fit a 16-bit length")]
    ParameterSetTooLong { kind: &'static str, len: usize },
    #[error("{count} {kind} parameter sets exceed the limit of {max}")]
    TooManyParameterSets {
        kind: &'static str,
        count: usize,
        max: usize,
    },
}
