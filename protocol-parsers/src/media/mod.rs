//! The one interchange type: every ingest produces [`Frame`]s, every output consumes them.

mod frame;
mod track;

pub use frame::{Frame, FrameFlags};
pub use track::{AudioCodec, CodecConfig, Track, TrackId, TrackKind, VideoCodec};
