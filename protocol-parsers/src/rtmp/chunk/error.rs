#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    #[error("message of {len} bytes exceeds the limit of {max}")]
    MessageTooLarge { len: u32, max: u32 },
    #[error("invalid chunk size {size} (allowed 1..={max})")]
    InvalidChunkSize { size: u32, max: u32 },
    #[error("chunk header type {fmt} on chunk stream {csid} with no previous header")]
    MissingPreviousHeader { fmt: u8, csid: u32 },
    #[error("more than {max} chunk streams with partial messages")]
    TooManyChunkStreams { max: usize },
    #[error("{pending} bytes of partial messages exceed the limit of {max}")]
    TooMuchPending { pending: usize, max: usize },
    #[error(
        "message length changed from {expected} to {got} in the middle of a message on chunk stream {csid}"
    )]
    LengthChangedMidMessage { csid: u32, expected: u32, got: u32 },
    #[error("protocol control message too short ({len} bytes)")]
    ShortControlMessage { len: usize },
}
