//! What server and client sessions share once the handshake is done: the chunk
//! codec, acknowledgement accounting, ping replies and outgoing media.

use bytes::Bytes;

use super::chunk::ChunkDecoder;
use super::command::Command;
use super::media::Metadata;
use super::media_writer::{MediaWriter, MessageWriter};
use super::message::{
    Message, MessageType, UserControlEvent, csid, read_u32, set_peer_bandwidth, u32_payload,
    user_control,
};
use crate::Limits;
use crate::Transmit;
use crate::media::{Frame, Track};

/// Window acknowledgement size we announce; what ffmpeg and nginx-rtmp use.
pub(crate) const WINDOW_ACK_SIZE: u32 = 2_500_000;
/// Outgoing chunk size: large chunks mean few headers and few iovecs per frame (and
/// fewer reference counts on the shared payload per output). SRS sends 60000 to its
/// players and forward destinations; ffmpeg, nginx-rtmp and this crate's decoder
/// take it. Against 4096, relay-bench measured the same or less CPU and lower latency
/// (BENCHMARKS.md).
pub(crate) const OUT_CHUNK_SIZE: u32 = 60_000;

#[derive(Debug)]
pub(crate) struct ChunkConnection {
    pub decoder: ChunkDecoder,
    writer: MessageWriter,
    pending: Vec<Bytes>,
    bytes_received: u64,
    acked_up_to: u64,
    /// The peer's Window Acknowledgement Size: we acknowledge every this many bytes.
    peer_window: u32,
}

impl ChunkConnection {
    pub fn new(limits: &Limits) -> Self {
        Self {
            decoder: ChunkDecoder::new(limits),
            writer: MessageWriter::default(),
            pending: Vec::new(),
            bytes_received: 0,
            acked_up_to: 0,
            peer_window: 0,
        }
    }

    pub fn send(&mut self, csid: u32, ts: u32, type_id: MessageType, msid: u32, payload: &[Bytes]) {
        self.writer
            .message(csid, ts, type_id, msid, payload, &mut self.pending);
    }

    /// Queues bytes that are not chunks (the handshake), in order with messages.
    pub fn send_raw(&mut self, bytes: Bytes) {
        self.pending.push(bytes);
    }

    pub fn send_command(&mut self, msid: u32, command: &Command) {
        let body = command.encode();
        self.send(csid::COMMAND, 0, MessageType::COMMAND_AMF0, msid, &[body]);
    }

    pub fn send_control(&mut self, type_id: MessageType, payload: Bytes) {
        self.send(csid::PROTOCOL_CONTROL, 0, type_id, 0, &[payload]);
    }

    pub fn send_user_control(&mut self, event: UserControlEvent, value: u32) {
        self.send_control(MessageType::USER_CONTROL, user_control(event, value));
    }

    /// Announces our chunk size, window and bandwidth: the first messages either side sends.
    pub fn send_connection_setup(&mut self, peer_bandwidth: bool) {
        self.send_control(MessageType::WINDOW_ACK_SIZE, u32_payload(WINDOW_ACK_SIZE));
        if peer_bandwidth {
            // Limit type 2 = dynamic.
            self.send_control(
                MessageType::SET_PEER_BANDWIDTH,
                set_peer_bandwidth(WINDOW_ACK_SIZE, 2),
            );
        }
        self.send_control(MessageType::SET_CHUNK_SIZE, u32_payload(OUT_CHUNK_SIZE));
        self.writer.set_chunk_size(OUT_CHUNK_SIZE);
    }

    /// A writer of this connection's media on message stream `msid`, for a sender
    /// that writes media itself (after the set-up, which chose the chunk size).
    pub fn media_writer(&self, msid: u32, set_data_frame: bool) -> MediaWriter {
        MediaWriter::new(self.writer.chunk_size(), msid, set_data_frame)
    }

    pub fn send_metadata(&mut self, msid: u32, metadata: &Metadata, set_data_frame: bool) {
        self.writer
            .metadata(msid, metadata, set_data_frame, &mut self.pending);
    }

    pub fn send_track_config(&mut self, msid: u32, track: &Track, timestamp: u32) {
        self.writer
            .track_config(msid, track, timestamp, &mut self.pending);
    }

    pub fn send_frame(
        &mut self,
        msid: u32,
        track: &Track,
        frame: &Frame,
        timestamp: u32,
        cts: i32,
    ) {
        self.writer
            .frame(msid, track, frame, timestamp, cts, &mut self.pending);
    }

    /// Counts received bytes and queues an Acknowledgement when a window is full.
    pub fn on_received(&mut self, len: usize) {
        self.bytes_received += len as u64;
        let window = u64::from(self.peer_window);
        if window > 0 && self.bytes_received - self.acked_up_to >= window {
            self.acked_up_to = self.bytes_received;
            // The sequence number wraps at 2^32 (spec 5.4.3).
            let seq = self.bytes_received as u32;
            self.send_control(MessageType::ACKNOWLEDGEMENT, u32_payload(seq));
        }
    }

    /// Handles protocol-control and user-control messages; returns false for others.
    pub fn handle_control(&mut self, message: &Message) -> bool {
        match message.type_id {
            MessageType::SET_CHUNK_SIZE | MessageType::ABORT | MessageType::ACKNOWLEDGEMENT => true,
            MessageType::WINDOW_ACK_SIZE => {
                if let Some(size) = read_u32(&message.payload) {
                    self.peer_window = size;
                }
                true
            }
            MessageType::SET_PEER_BANDWIDTH => true,
            MessageType::USER_CONTROL => {
                let event = message
                    .payload
                    .get(..2)
                    .and_then(|b| <[u8; 2]>::try_from(b).ok())
                    .map(u16::from_be_bytes);
                if event == Some(UserControlEvent::PING_REQUEST.0) {
                    let value = message.payload.get(2..).and_then(read_u32).unwrap_or(0);
                    self.send_user_control(UserControlEvent::PING_RESPONSE, value);
                }
                true
            }
            _ => false,
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.pending.is_empty() {
            None
        } else {
            Some(Transmit {
                pieces: std::mem::take(&mut self.pending),
            })
        }
    }
}
