//! Splits outgoing messages into chunks without copying their payloads.

use bytes::Bytes;

use super::DEFAULT_CHUNK_SIZE;
use super::header::{EXTENDED_TIMESTAMP, write_basic_header};
use crate::rtmp::message::MessageType;
use crate::rtmp::scratch::ScratchBytes;

/// Writes messages as chunks: a type-0 header, then type-3 headers every
/// `chunk_size` bytes. Payload pieces are sliced, never copied.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    headers: ScratchBytes,
    /// The message header and the continuation header being built, kept between
    /// messages so that writing one allocates nothing.
    header: Vec<u8>,
    continuation: Vec<u8>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            headers: ScratchBytes::default(),
            header: Vec::with_capacity(16),
            continuation: Vec::with_capacity(8),
        }
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Takes effect for the next message; the caller sends Set Chunk Size first.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.max(1);
    }

    /// Appends the chunks of one message to `out`. `payload` is the message body as
    /// pieces (e.g. a 5-byte FLV tag header and the frame's shared data).
    pub fn write_message(
        &mut self,
        csid: u32,
        timestamp: u32,
        type_id: MessageType,
        stream_id: u32,
        payload: &[Bytes],
        out: &mut Vec<Bytes>,
    ) {
        let length: usize = payload.iter().map(Bytes::len).sum();
        let extended = timestamp >= EXTENDED_TIMESTAMP;
        let field = if extended {
            EXTENDED_TIMESTAMP
        } else {
            timestamp
        };
        let mut header = std::mem::take(&mut self.header);
        header.clear();
        write_basic_header(&mut header, 0, csid);
        header.extend_from_slice(&field.to_be_bytes()[1..]);
        header.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
        header.push(type_id.0);
        header.extend_from_slice(&stream_id.to_le_bytes());
        if extended {
            header.extend_from_slice(&timestamp.to_be_bytes());
        }
        self.push_header(&header, out);
        self.header = header;

        let chunk_size = self.chunk_size as usize;
        let mut in_chunk = 0usize;
        let mut continuation = std::mem::take(&mut self.continuation);
        continuation.clear();
        write_basic_header(&mut continuation, 3, csid);
        if extended {
            continuation.extend_from_slice(&timestamp.to_be_bytes());
        }
        for piece in payload {
            let mut rest = piece.clone();
            while !rest.is_empty() {
                if in_chunk == chunk_size {
                    self.push_header(&continuation, out);
                    in_chunk = 0;
                }
                let take = rest.len().min(chunk_size - in_chunk);
                out.push(rest.split_to(take));
                in_chunk += take;
            }
        }
        self.continuation = continuation;
    }

    fn push_header(&mut self, header: &[u8], out: &mut Vec<Bytes>) {
        out.push(self.headers.copy(header));
    }
}
