//! SRT (Secure Reliable Transport, draft-sharabayko-srt) in live mode, sans-IO: the
//! packet codec, the listener side of the HSv5 handshake with stateless SYN cookies,
//! stream ids, key material and AES-CTR encryption (HaiCrypt-compatible), and a
//! connection that receives (ARQ, too-late drop) and sends (retransmission) MPEG-TS
//! payloads.

mod cipher;
mod connection;
mod crypto_error;
mod error;
mod handshake;
mod key_material;
mod key_schedule;
mod listener;
mod packet;
mod receiver;
mod sender;
mod seq;
mod stream_id;

pub use cipher::{Cipher, KeyIndex};
pub use connection::{
    CloseReason, Connection, ConnectionConfig, ConnectionStats, Encryption, SRT_VERSION, SrtEvent,
};
pub use crypto_error::KmError;
pub use error::SrtError;
pub use handshake::{
    CIF_LEN, Extension, Handshake, HandshakeKind, RejectReason, SRT_MAGIC, SrtOptions, ext_flag,
    peer_ip_words, srt_flag,
};
pub use key_material::{KeyFlags, KeyMaterial};
pub use key_schedule::{DEFAULT_PREANNOUNCE_PACKETS, DEFAULT_REFRESH_PACKETS, KeyRefresh};
pub use listener::{ConnectRequest, Listener, ListenerOutput};
pub use packet::{
    Ack, AckInfo, Control, ControlPacket, DataPacket, HEADER_LEN, KeyField, MAX_DATAGRAM, Packet,
    Position, destination, user_subtype,
};
pub use receiver::ReceiveStats;
pub use sender::SendStats;
pub use seq::SeqNo;
pub use stream_id::{Mode, StreamRequest, parse_stream_id};
