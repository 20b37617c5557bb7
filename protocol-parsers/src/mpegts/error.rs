use crate::aac::AacError;
use crate::h264::H264Error;
use crate::media::TrackId;

/// Why a track or frame cannot be written as MPEG-TS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TsError {
    #[error("codec {0} cannot be carried in MPEG-TS by this muxer")]
    UnsupportedCodec(&'static str),
    #[error("a transport stream needs at least one track")]
    NoTracks,
    #[error("more than one {0} track; the muxer writes one video and one audio track")]
    DuplicateTrack(&'static str),
    #[error("track {0:?} has a timescale of 0")]
    ZeroTimescale(TrackId),
    #[error("AVC decoder configuration: {0}")]
    AvcConfig(#[from] H264Error),
    #[error("HEVC decoder configuration record: {0}")]
    HevcConfig(&'static str),
    #[error("AudioSpecificConfig: {0}")]
    AacConfig(#[from] AacError),
    #[error("AAC configuration cannot be written as ADTS: {0}")]
    NotAdts(&'static str),
    #[error("frame for track {0:?}, which the muxer was not given")]
    UnknownTrack(TrackId),
    #[error("frame has no payload")]
    EmptyFrame,
    #[error("NAL unit at byte {at} claims {len} bytes but {left} remain")]
    BadNalLength { at: usize, len: usize, left: usize },
    #[error("frame of {len} bytes exceeds the {max} bytes its container field allows")]
    FrameTooLarge { len: usize, max: usize },
}
