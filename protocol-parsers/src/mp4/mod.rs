//! ISO BMFF / CMAF writing: the initialisation segment (`ftyp` + `moov`) and media
//! fragments (`moof` + `mdat`) that HLS (fMP4) and DASH serve from one set of
//! segments. Payloads are never copied: a fragment is its header bytes followed
//! by the frames' own `Bytes`.

mod boxes;
mod error;
mod fragment;
mod init;

pub use error::Mp4Error;
pub use fragment::{Sample, TrackFragment, fragment, segment_type};
pub use init::init_segment;

/// The `track_ID` of a track in the MP4 files (ISO BMFF track ids start at 1).
pub fn track_id(id: crate::media::TrackId) -> u32 {
    u32::from(id.0) + 1
}
