//! The RTMP chunk stream (spec 5.3): messages split into chunks on many chunk streams.

mod decoder;
mod encoder;
mod error;
mod header;

pub use decoder::ChunkDecoder;
pub use encoder::ChunkEncoder;
pub use error::ChunkError;

/// The chunk size every connection starts with (spec 5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
