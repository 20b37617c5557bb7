use super::chunk::ChunkError;
use super::command::CommandError;
use super::handshake::HandshakeError;
use crate::flv::FlvError;

/// Why an RTMP session must close. Every variant names the offending input.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtmpError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("command: {0}")]
    Command(#[from] CommandError),
    #[error("media: {0}")]
    Flv(#[from] FlvError),
    #[error("media message on stream {stream_id}, which is not publishing")]
    MediaWithoutPublish { stream_id: u32 },
    #[error("{command} before connect")]
    NotConnected { command: String },
    #[error("peer refused: {0}")]
    Refused(String),
    #[error("session already closed")]
    Closed,
}
