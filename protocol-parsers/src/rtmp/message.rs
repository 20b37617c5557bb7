//! RTMP message types and protocol-control messages (Adobe RTMP spec 5.4, 6.2, 7.1).

use bytes::Bytes;

/// Message type id. An open newtype: unknown ids round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u8);

impl MessageType {
    pub const SET_CHUNK_SIZE: Self = Self(1);
    pub const ABORT: Self = Self(2);
    pub const ACKNOWLEDGEMENT: Self = Self(3);
    pub const USER_CONTROL: Self = Self(4);
    pub const WINDOW_ACK_SIZE: Self = Self(5);
    pub const SET_PEER_BANDWIDTH: Self = Self(6);
    pub const AUDIO: Self = Self(8);
    pub const VIDEO: Self = Self(9);
    pub const DATA_AMF3: Self = Self(15);
    pub const SHARED_OBJECT_AMF3: Self = Self(16);
    pub const COMMAND_AMF3: Self = Self(17);
    pub const DATA_AMF0: Self = Self(18);
    pub const SHARED_OBJECT_AMF0: Self = Self(19);
    pub const COMMAND_AMF0: Self = Self(20);
    pub const AGGREGATE: Self = Self(22);
}

/// One complete RTMP message, reassembled from chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub chunk_stream_id: u32,
    pub timestamp: u32,
    pub type_id: MessageType,
    pub message_stream_id: u32,
    pub payload: Bytes,
}

/// User control event types (spec 7.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserControlEvent(pub u16);

impl UserControlEvent {
    pub const STREAM_BEGIN: Self = Self(0);
    pub const STREAM_EOF: Self = Self(1);
    pub const STREAM_DRY: Self = Self(2);
    pub const SET_BUFFER_LENGTH: Self = Self(3);
    pub const STREAM_IS_RECORDED: Self = Self(4);
    pub const PING_REQUEST: Self = Self(6);
    pub const PING_RESPONSE: Self = Self(7);
}

/// Well-known chunk stream ids. Any id works on the wire; these are what ffmpeg,
/// OBS and nginx-rtmp use, which keeps captures easy to read.
pub mod csid {
    pub const PROTOCOL_CONTROL: u32 = 2;
    pub const COMMAND: u32 = 3;
    pub const AUDIO: u32 = 4;
    pub const VIDEO: u32 = 6;
    pub const DATA: u32 = 5;
}

pub(crate) fn u32_payload(value: u32) -> Bytes {
    Bytes::copy_from_slice(&value.to_be_bytes())
}

pub(crate) fn user_control(event: UserControlEvent, value: u32) -> Bytes {
    let mut out = Vec::with_capacity(6);
    out.extend_from_slice(&event.0.to_be_bytes());
    out.extend_from_slice(&value.to_be_bytes());
    Bytes::from(out)
}

pub(crate) fn set_peer_bandwidth(window: u32, limit_type: u8) -> Bytes {
    let mut out = Vec::with_capacity(5);
    out.extend_from_slice(&window.to_be_bytes());
    out.push(limit_type);
    Bytes::from(out)
}

/// Reads a big-endian u32 from the start of a protocol-control payload.
pub(crate) fn read_u32(payload: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = payload.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}
