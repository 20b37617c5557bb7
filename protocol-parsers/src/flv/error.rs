use super::FourCc;

/// Why a video or audio message body was rejected.
///
/// Some variants describe well-formed input this crate does not handle (another codec,
/// multitrack); [`FlvError::is_unsupported`] tells those apart from malformed input so
/// a session can drop the message instead of closing the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlvError {
    /// A zero-length body. Legacy RTMP uses an empty audio message to signal silence.
    #[error("empty message body")]
    Empty,
    #[error("{what} is truncated")]
    Truncated { what: &'static str },
    #[error("{len} bytes of unexpected data after the {what}")]
    TrailingData { what: &'static str, len: usize },
    #[error("reserved video frame type {0}")]
    ReservedFrameType(u8),
    #[error("unsupported legacy video codec id {0}")]
    UnsupportedVideoCodec(u8),
    #[error("unsupported video FourCC {0}")]
    UnsupportedVideoFourCc(FourCc),
    #[error("unknown AVC packet type {0}")]
    UnknownAvcPacketType(u8),
    #[error("unknown enhanced video packet type {0}")]
    UnknownVideoPacketType(u8),
    #[error("multitrack video (Enhanced RTMP v2) is not supported")]
    VideoMultitrack,
    #[error("unsupported sound format {0}")]
    UnsupportedSoundFormat(u8),
    #[error("unsupported audio FourCC {0}")]
    UnsupportedAudioFourCc(FourCc),
    #[error("unknown AAC packet type {0}")]
    UnknownAacPacketType(u8),
    /// Sequence end, multichannel configuration or a reserved enhanced audio packet type.
    #[error("unsupported enhanced audio packet type {0}")]
    UnsupportedAudioPacketType(u8),
    #[error("multitrack audio (Enhanced RTMP v2) is not supported")]
    AudioMultitrack,
}

impl FlvError {
    /// True when the body is well-formed but uses something this crate does not
    /// handle: dropping the message is safe, the stream itself is not corrupt.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            Self::Empty
                | Self::UnsupportedVideoCodec(_)
                | Self::UnsupportedVideoFourCc(_)
                | Self::VideoMultitrack
                | Self::UnsupportedSoundFormat(_)
                | Self::UnsupportedAudioFourCc(_)
                | Self::UnsupportedAudioPacketType(_)
                | Self::AudioMultitrack
        )
    }
}
