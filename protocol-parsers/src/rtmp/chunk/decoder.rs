//! Reassembles RTMP messages from an incoming chunk stream.

use std::collections::HashMap;

use bytes::{Buf, BytesMut};

use super::header::{EXTENDED_TIMESTAMP, MessageHeader, basic_header, take, u24};
use super::{ChunkError, DEFAULT_CHUNK_SIZE};
use crate::Limits;
use crate::rtmp::message::{Message, MessageType, read_u32};

#[derive(Debug, Default)]
struct ChunkStreamState {
    header: MessageHeader,
    /// Bytes still missing from the message being received; 0 between messages.
    remaining: u32,
    partial: BytesMut,
}

/// Turns received bytes into complete messages.
///
/// Set Chunk Size and Abort are applied here, at the exact point in the byte stream
/// where they arrive, and also returned so the session can log or count them.
#[derive(Debug)]
pub struct ChunkDecoder {
    input: BytesMut,
    chunk_size: u32,
    streams: HashMap<u32, ChunkStreamState>,
    pending_bytes: usize,
    max_message_len: u32,
    max_chunk_size: u32,
    max_chunk_streams: usize,
    max_pending_bytes: usize,
}

/// A chunk header parsed but not yet applied: nothing changes until the whole chunk
/// is in the buffer, so a short read leaves the decoder untouched.
struct ParsedChunk {
    csid: u32,
    header: MessageHeader,
    header_len: usize,
    starts_message: bool,
}

impl ChunkDecoder {
    pub fn new(limits: &Limits) -> Self {
        Self {
            input: BytesMut::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            pending_bytes: 0,
            max_message_len: limits.rtmp_max_message_len,
            max_chunk_size: limits.rtmp_max_chunk_size,
            max_chunk_streams: limits.rtmp_max_chunk_streams,
            max_pending_bytes: limits.rtmp_max_pending_bytes,
        }
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    /// Bytes received but not yet decoded (a partial chunk).
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// Whether a message has begun arriving but is not yet complete (part of a
    /// chunk, or some chunks of a message that spans several).
    pub fn mid_message(&self) -> bool {
        !self.input.is_empty() || self.pending_bytes > 0
    }

    /// Decodes the next complete message: `Ok(None)` when more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<Message>, ChunkError> {
        loop {
            let Some(chunk) = self.parse_header()? else {
                return Ok(None);
            };
            let remaining = if chunk.starts_message {
                chunk.header.length
            } else {
                self.streams.get(&chunk.csid).map_or(0, |s| s.remaining)
            };
            // Reject an oversized message on its header, before waiting for (and
            // buffering) a chunk of it.
            if chunk.starts_message && chunk.header.length > self.max_message_len {
                return Err(ChunkError::MessageTooLarge {
                    len: chunk.header.length,
                    max: self.max_message_len,
                });
            }
            let body_len = remaining.min(self.chunk_size) as usize;
            if self.input.len() < chunk.header_len + body_len {
                return Ok(None);
            }
            self.input.advance(chunk.header_len);
            let body = self.input.split_to(body_len);
            if let Some(message) = self.apply_chunk(chunk, body)? {
                self.apply_control(&message)?;
                return Ok(Some(message));
            }
        }
    }

    fn parse_header(&self) -> Result<Option<ParsedChunk>, ChunkError> {
        let Some((fmt, csid, basic_len)) = basic_header(&self.input) else {
            return Ok(None);
        };
        let known = self.streams.get(&csid);
        if known.is_none() && fmt != 0 {
            return Err(ChunkError::MissingPreviousHeader { fmt, csid });
        }
        if known.is_none() && self.streams.len() >= self.max_chunk_streams {
            return Err(ChunkError::TooManyChunkStreams {
                max: self.max_chunk_streams,
            });
        }
        let previous = known.map(|s| s.header).unwrap_or_default();
        let in_message = known.is_some_and(|s| s.remaining > 0);
        let input = &self.input[..];
        let mut pos = basic_len;
        let mut header = previous;
        let field = match fmt {
            0 => {
                let Some(raw) = take::<11>(input, pos) else {
                    return Ok(None);
                };
                pos += 11;
                let [t0, t1, t2, l0, l1, l2, type_id, s0, s1, s2, s3] = raw;
                header.length = u24([l0, l1, l2]);
                header.type_id = type_id;
                header.stream_id = u32::from_le_bytes([s0, s1, s2, s3]);
                Some(u24([t0, t1, t2]))
            }
            1 => {
                let Some([t0, t1, t2, l0, l1, l2, type_id]) = take::<7>(input, pos) else {
                    return Ok(None);
                };
                pos += 7;
                header.length = u24([l0, l1, l2]);
                header.type_id = type_id;
                Some(u24([t0, t1, t2]))
            }
            2 => {
                let Some(raw) = take::<3>(input, pos) else {
                    return Ok(None);
                };
                pos += 3;
                Some(u24(raw))
            }
            _ => None,
        };
        let extended = match field {
            Some(value) => value == EXTENDED_TIMESTAMP,
            None => previous.extended,
        };
        let value = if extended {
            let Some(raw) = take::<4>(input, pos) else {
                return Ok(None);
            };
            pos += 4;
            Some(u32::from_be_bytes(raw))
        } else {
            field
        };
        header.extended = extended;
        // A type 0-2 header always begins a message; a type 3 header begins one only
        // when the previous message on this chunk stream is complete.
        let starts_message = fmt != 3 || !in_message;
        match (fmt, value) {
            (0, Some(ts)) => {
                header.timestamp = ts;
                header.delta = 0;
            }
            (1 | 2, Some(delta)) => {
                header.delta = delta;
                header.timestamp = previous.timestamp.wrapping_add(delta);
            }
            _ if starts_message => {
                header.timestamp = previous.timestamp.wrapping_add(previous.delta);
            }
            _ => {}
        }
        Ok(Some(ParsedChunk {
            csid,
            header,
            header_len: pos,
            starts_message,
        }))
    }

    fn apply_chunk(
        &mut self,
        chunk: ParsedChunk,
        body: BytesMut,
    ) -> Result<Option<Message>, ChunkError> {
        let state = self.streams.entry(chunk.csid).or_default();
        if chunk.starts_message {
            // A new header in the middle of a message abandons the partial one,
            // as ffmpeg and nginx-rtmp do.
            self.pending_bytes -= state.partial.len();
            state.partial.clear();
            state.remaining = chunk.header.length;
        }
        state.header = chunk.header;
        state.remaining -= body.len() as u32;
        let payload = if state.remaining == 0 && state.partial.is_empty() {
            // The whole message came in one chunk: hand out the received bytes as-is.
            body.freeze()
        } else {
            self.pending_bytes += body.len();
            if self.pending_bytes > self.max_pending_bytes {
                return Err(ChunkError::TooMuchPending {
                    pending: self.pending_bytes,
                    max: self.max_pending_bytes,
                });
            }
            state.partial.extend_from_slice(&body);
            if state.remaining > 0 {
                return Ok(None);
            }
            self.pending_bytes -= state.partial.len();
            state.partial.split().freeze()
        };
        Ok(Some(Message {
            chunk_stream_id: chunk.csid,
            timestamp: state.header.timestamp,
            type_id: MessageType(state.header.type_id),
            message_stream_id: state.header.stream_id,
            payload,
        }))
    }

    fn apply_control(&mut self, message: &Message) -> Result<(), ChunkError> {
        match message.type_id {
            MessageType::SET_CHUNK_SIZE => {
                let size = read_u32(&message.payload).ok_or(ChunkError::ShortControlMessage {
                    len: message.payload.len(),
                })?;
                // The top bit must be zero (spec 5.4.1).
                if size == 0 || size > self.max_chunk_size {
                    return Err(ChunkError::InvalidChunkSize {
                        size,
                        max: self.max_chunk_size,
                    });
                }
                self.chunk_size = size;
            }
            MessageType::ABORT => {
                let csid = read_u32(&message.payload).ok_or(ChunkError::ShortControlMessage {
                    len: message.payload.len(),
                })?;
                if let Some(state) = self.streams.get_mut(&csid) {
                    self.pending_bytes -= state.partial.len();
                    state.partial.clear();
                    state.remaining = 0;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
fn decode_all(decoder: &mut ChunkDecoder) -> Result<Vec<Message>, ChunkError> {
    let mut out = Vec::new();
    while let Some(message) = decoder.decode()? {
        out.push(message);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::rtmp::chunk::ChunkEncoder;

    fn encode(enc: &mut ChunkEncoder, csid: u32, ts: u32, ty: u8, payload: &[u8]) -> Vec<u8> {
        let mut pieces = Vec::new();
        enc.write_message(
            csid,
            ts,
            MessageType(ty),
            1,
            &[Bytes::copy_from_slice(payload)],
            &mut pieces,
        );
        pieces.concat()
    }

    #[test]
    fn single_chunk_message_is_zero_copy_slice() {
        let mut enc = ChunkEncoder::new();
        let wire = encode(&mut enc, 3, 1000, 20, b"hello");
        let mut dec = ChunkDecoder::new(&Limits::default());
        dec.push(&wire);
        let msg = dec.decode().unwrap().unwrap();
        assert_eq!(msg.timestamp, 1000);
        assert_eq!(msg.type_id, MessageType::COMMAND_AMF0);
        assert_eq!(msg.message_stream_id, 1);
        assert_eq!(&msg.payload[..], b"hello");
        assert!(dec.decode().unwrap().is_none());
    }

    /// Mid-message from the first byte of a message until its last, and between
    /// messages not.
    #[test]
    fn mid_message_holds_from_a_messages_first_byte_to_its_last() {
        let mut enc = ChunkEncoder::new();
        let payload = vec![9u8; 1000];
        let mut wire = encode(&mut enc, 6, 40, 9, &payload);
        let first_len = wire.len();
        wire.extend(encode(&mut enc, 4, 41, 8, b"audio"));
        let mut dec = ChunkDecoder::new(&Limits::default());
        assert!(!dec.mid_message(), "nothing received yet");
        let mut messages = 0;
        for (index, byte) in wire.iter().enumerate() {
            dec.push(&[*byte]);
            messages += decode_all(&mut dec).unwrap().len();
            let message_ends = index + 1 == first_len || index + 1 == wire.len();
            assert_eq!(dec.mid_message(), !message_ends, "after byte {index}");
        }
        assert_eq!(messages, 2);
    }

    #[test]
    fn multi_chunk_message_byte_by_byte() {
        let mut enc = ChunkEncoder::new();
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let wire = encode(&mut enc, 6, 0x0100_0000, 9, &payload);
        let mut dec = ChunkDecoder::new(&Limits::default());
        let mut got = Vec::new();
        for byte in wire {
            dec.push(&[byte]);
            got.extend(decode_all(&mut dec).unwrap());
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timestamp, 0x0100_0000, "extended timestamp");
        assert_eq!(&got[0].payload[..], &payload[..]);
    }

    #[test]
    fn set_chunk_size_applies_to_following_chunks() {
        let mut enc = ChunkEncoder::new();
        let mut wire = encode(&mut enc, 2, 0, 1, &4096u32.to_be_bytes());
        enc.set_chunk_size(4096);
        let payload = vec![7u8; 3000];
        wire.extend(encode(&mut enc, 6, 40, 9, &payload));
        let mut dec = ChunkDecoder::new(&Limits::default());
        dec.push(&wire);
        let msgs = decode_all(&mut dec).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(dec.chunk_size(), 4096);
        assert_eq!(msgs[1].payload.len(), 3000);
    }

    #[test]
    fn type_1_2_3_headers_use_deltas() {
        // Spec 5.3.2.1 example: type 0 at 1000, type 2 delta 20, then type 3 twice.
        let mut wire = vec![
            0x03, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x02, 0x08, 1, 0, 0, 0, 0xAA, 0xBB,
        ];
        wire.extend([0xC3, 0xAA, 0xBB]); // type 3 after type 0: delta 0
        wire.extend([0x83, 0x00, 0x00, 0x14, 0xAA, 0xBB]); // type 2: delta 20
        wire.extend([0xC3, 0xAA, 0xBB]); // type 3: +20
        let mut dec = ChunkDecoder::new(&Limits::default());
        dec.push(&wire);
        let ts: Vec<u32> = decode_all(&mut dec)
            .unwrap()
            .iter()
            .map(|m| m.timestamp)
            .collect();
        assert_eq!(ts, [1000, 1000, 1020, 1040]);
    }

    #[test]
    fn rejects_bad_chunk_sizes() {
        for size in [0u32, 0x7FFF_FFFF] {
            let mut enc = ChunkEncoder::new();
            let wire = encode(&mut enc, 2, 0, 1, &size.to_be_bytes());
            let mut dec = ChunkDecoder::new(&Limits::default());
            dec.push(&wire);
            assert!(matches!(
                dec.decode(),
                Err(ChunkError::InvalidChunkSize { .. })
            ));
        }
    }

    #[test]
    fn rejects_oversized_message_before_buffering_it() {
        // The header alone, no body byte yet: the decoder must refuse the message
        // without first waiting for (and buffering) a chunk of it.
        let wire = [0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x09, 1, 0, 0, 0];
        let mut dec = ChunkDecoder::new(&Limits::default());
        dec.push(&wire);
        assert!(matches!(
            dec.decode(),
            Err(ChunkError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn first_header_on_a_chunk_stream_must_be_type_0() {
        let mut dec = ChunkDecoder::new(&Limits::default());
        dec.push(&[0xC5, 1, 2, 3]);
        assert!(matches!(
            dec.decode(),
            Err(ChunkError::MissingPreviousHeader { .. })
        ));
    }

    #[test]
    fn abort_drops_partial_message() {
        let mut enc = ChunkEncoder::new();
        let big = encode(&mut enc, 6, 0, 9, &[1u8; 300]);
        let mut wire = big[..12 + 128].to_vec(); // first chunk only
        wire.extend(encode(&mut enc, 2, 0, 2, &6u32.to_be_bytes()));
        wire.extend(encode(&mut enc, 6, 0, 9, b"next"));
        let mut dec = ChunkDecoder::new(&Limits::default());
        dec.push(&wire);
        let msgs = decode_all(&mut dec).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(&msgs[1].payload[..], b"next");
    }

    /// An Abort, or a new message header on the same chunk stream, ends the partial
    /// message: nothing is in progress any more.
    #[test]
    fn an_aborted_or_abandoned_message_is_no_longer_in_progress() {
        let big = encode(&mut ChunkEncoder::new(), 6, 0, 9, &[1u8; 300]);
        let first_chunk = &big[..12 + 128];
        let endings = [
            (
                "aborted",
                encode(&mut ChunkEncoder::new(), 2, 0, 2, &6u32.to_be_bytes()),
            ),
            (
                "abandoned",
                encode(&mut ChunkEncoder::new(), 6, 0, 9, b"next"),
            ),
        ];
        for (how, ending) in endings {
            let mut dec = ChunkDecoder::new(&Limits::default());
            dec.push(first_chunk);
            assert!(decode_all(&mut dec).unwrap().is_empty());
            assert!(dec.mid_message(), "{how}: the first chunk begins a message");
            dec.push(&ending);
            assert_eq!(decode_all(&mut dec).unwrap().len(), 1, "{how}");
            assert!(!dec.mid_message(), "{how}");
        }
    }

    #[test]
    fn too_many_chunk_streams() {
        let limits = Limits {
            rtmp_max_chunk_streams: 4,
            ..Limits::default()
        };
        let mut enc = ChunkEncoder::new();
        let mut dec = ChunkDecoder::new(&limits);
        for csid in 3..8 {
            dec.push(&encode(&mut enc, csid, 0, 9, b"x"));
        }
        assert!(matches!(
            decode_all(&mut dec),
            Err(ChunkError::TooManyChunkStreams { .. })
        ));
    }
}
