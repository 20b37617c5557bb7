//! HLS playlist writers: the Media Playlist of each rendition (RFC 8216, with the
//! Low-Latency additions of draft-pantos-hls-rfc8216bis) and the Multivariant
//! Playlist over a ladder of renditions.
//!
//! The types are plain data the server fills from its segmenter; writing is pure
//! text formatting, with no clock (dates come in as Unix milliseconds).

mod attr;
mod codecs;
mod low_latency;
mod media_playlist;
mod multivariant;

pub use codecs::codec_string;
pub use low_latency::{Part, PreloadHint, PreloadHintType, RenditionReport, ServerControl};
pub use media_playlist::{MediaPlaylist, Segment};
pub use multivariant::{Media, MultivariantPlaylist, Variant};
