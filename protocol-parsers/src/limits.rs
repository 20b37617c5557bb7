//! Every resource limit that wire input is checked against, in one place.

use std::time::Duration;

/// Resource limits checked at parse time. Defaults suit a public-facing server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest RTMP message body accepted (the 24-bit length field allows 16 MiB).
    pub rtmp_max_message_len: u32,
    /// Largest chunk size a peer may announce with Set Chunk Size.
    pub rtmp_max_chunk_size: u32,
    /// Most chunk streams with a partially received message at once.
    pub rtmp_max_chunk_streams: usize,
    /// Bytes buffered for partially received messages, across all chunk streams.
    pub rtmp_max_pending_bytes: usize,
    /// Deepest nesting of AMF0 objects, arrays and ECMA arrays.
    pub amf0_max_depth: usize,
    /// Most values (properties, array elements) in one AMF0 command.
    pub amf0_max_values: usize,
    /// Time allowed to finish the RTMP handshake and the connect/publish exchange.
    pub rtmp_handshake_timeout: Duration,
    /// A connection that sends nothing for this long is closed.
    pub rtmp_idle_timeout: Duration,
    /// Largest video PES (one access unit) an MPEG-TS demuxer assembles; a larger one
    /// is dropped.
    pub ts_max_video_pes_len: usize,
    /// Largest audio PES (a few ADTS frames) an MPEG-TS demuxer assembles.
    pub ts_max_audio_pes_len: usize,
    /// Tracks and frames an MPEG-TS demuxer holds for `poll_event`; frames past this
    /// are dropped and counted.
    pub ts_max_pending_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rtmp_max_message_len: 8 * 1024 * 1024,
            rtmp_max_chunk_size: 16 * 1024 * 1024 - 1,
            rtmp_max_chunk_streams: 64,
            rtmp_max_pending_bytes: 16 * 1024 * 1024,
            amf0_max_depth: 32,
            amf0_max_values: 4096,
            rtmp_handshake_timeout: Duration::from_secs(10),
            rtmp_idle_timeout: Duration::from_secs(30),
            ts_max_video_pes_len: 8 * 1024 * 1024,
            ts_max_audio_pes_len: 256 * 1024,
            ts_max_pending_events: 4096,
        }
    }
}
