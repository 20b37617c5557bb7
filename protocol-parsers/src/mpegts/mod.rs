//! MPEG-2 transport stream (ISO/IEC 13818-1) writing and reading: [`TsMuxer`] turns
//! [`Frame`]s into 188-byte TS packets for HLS MPEG-TS segments (legacy players) and
//! SRT; [`TsDemuxer`] turns a TS (from SRT ingest) back into tracks and frames.
//!
//! One program (number 1, PMT on PID 0x1000) with H.264 or HEVC video on PID 0x100
//! and AAC (ADTS) audio on PID 0x101. Unlike CMAF, TS interleaves payload with packet
//! headers every 184 bytes, so each frame is copied once into its packets; the output
//! of one muxer is shared by every viewer of a rendition.
//!
//! [`Frame`]: crate::media::Frame

mod adts;
mod annexb;
mod clock;
mod crc;
mod demux;
mod error;
mod hvcc;
mod muxer;
mod packet;
mod pes;
mod psi;

pub use demux::{DemuxEvent, DemuxStats, TsDemuxer};
pub use error::TsError;
pub use muxer::{AUDIO_PID, PMT_PID, PROGRAM_NUMBER, TsMuxer, VIDEO_PID};
pub use packet::{PACKET_LEN, SYNC_BYTE};
