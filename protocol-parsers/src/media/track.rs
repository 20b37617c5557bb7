use bytes::Bytes;

/// Identifies a track within one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub u8);

impl TrackId {
    /// The conventional video track of an RTMP-style stream.
    pub const VIDEO: Self = Self(0);
    /// The conventional audio track of an RTMP-style stream.
    pub const AUDIO: Self = Self(1);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Video,
    Audio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VideoCodec {
    H264,
    H265,
    Av1,
    Vp9,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AudioCodec {
    Aac,
    Opus,
    Mp3,
}

/// Out-of-band decoder configuration: what a decoder needs before the first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecConfig {
    /// `record` is the AVCDecoderConfigurationRecord / HEVCDecoderConfigurationRecord
    /// / AV1CodecConfigurationRecord as carried in FLV and MP4.
    Video {
        codec: VideoCodec,
        record: Bytes,
        width: u32,
        height: u32,
    },
    /// `specific` is the AudioSpecificConfig for AAC, the OpusHead for Opus.
    Audio {
        codec: AudioCodec,
        specific: Bytes,
        sample_rate: u32,
        channels: u8,
    },
}

/// A track of a stream: its identity, its timescale and its decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub id: TrackId,
    /// Ticks per second of the frames' `dts`/`cts`.
    pub timescale: u32,
    pub config: CodecConfig,
}

impl Track {
    pub fn kind(&self) -> TrackKind {
        match self.config {
            CodecConfig::Video { .. } => TrackKind::Video,
            CodecConfig::Audio { .. } => TrackKind::Audio,
        }
    }
}
