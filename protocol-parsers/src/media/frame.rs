use bytes::Bytes;

use super::TrackId;

/// Per-frame flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FrameFlags(u8);

impl FrameFlags {
    pub const NONE: Self = Self(0);
    /// A frame a decoder can start from (IDR / IRAP; every audio frame is one).
    pub const KEYFRAME: Self = Self(1);
    /// Timestamps jump here: the publisher reconnected or the source was cut.
    pub const DISCONTINUITY: Self = Self(2);

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }
}

/// One access unit of one track.
///
/// Video payloads are AVCC/HVCC length-prefixed NAL units; audio payloads are raw AAC
/// or Opus frames. The payload is shared, never copied, as it fans out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub track: TrackId,
    /// Decode timestamp in the track's timescale.
    pub dts: i64,
    /// Composition offset: pts = dts + cts.
    pub cts: i32,
    pub flags: FrameFlags,
    pub data: Bytes,
}

impl Frame {
    pub fn pts(&self) -> i64 {
        self.dts + i64::from(self.cts)
    }

    pub fn is_keyframe(&self) -> bool {
        self.flags.contains(FrameFlags::KEYFRAME)
    }
}
