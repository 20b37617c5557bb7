//! Entry points shared by the `fuzz/` targets and the corpus replay test, so each
//! fuzz target stays a few lines and its corpus is replayed by `cargo test`.
//!
//! Every function here must accept any input without panicking; round-trip
//! functions assert `decode(encode(x)) == x`.

mod amf0;
mod annexb;
mod chunk;
mod flv;
mod handshake;
mod http;
mod mp4;
mod server_session;
mod srt;
mod srt_km;
mod ts;
mod ts_demux;
mod ts_roundtrip;
pub mod vectors;

pub use amf0::amf0_roundtrip;
pub use annexb::h264_annexb;
pub use chunk::chunk_decoder;
pub use flv::flv_tag_roundtrip;
pub use handshake::handshake;
pub use http::http_request_head;
pub use mp4::mp4_fragment;
pub use server_session::rtmp_server_session;
pub use srt::{srt_connection, srt_packet};
pub use srt_km::srt_key_material;
pub use ts::ts_mux;
pub use ts_demux::{demux_in_pieces, ts_demux};
pub use ts_roundtrip::{check_round_trip, mux_frames, round_trip_tracks, ts_roundtrip};
