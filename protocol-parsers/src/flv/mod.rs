//! Bodies of RTMP video (type 9) and audio (type 8) messages, which are FLV tag bodies:
//! legacy FLV (AVC, AAC, MP3, and HEVC under codec id 12) and Enhanced RTMP FourCC
//! signalling (veovera enhanced-rtmp v1/v2: HEVC, AV1, VP9, AVC, Opus, AAC, MP3).
//!
//! Parsing hands out zero-copy slices of the body. Writing is split the same way: a
//! [`TagHeader`] of at most 8 bytes goes in front of the payload `Bytes`, which is sent
//! unchanged, so fanning a frame out to many subscribers never copies it.

mod audio;
mod error;
mod video;

use std::fmt;

use bytes::Bytes;

pub use audio::{
    AacPacketType, AudioPacketType, AudioTag, SoundFormat, audio_config_header, audio_frame_header,
    parse_audio,
};
pub use error::FlvError;
pub use video::{
    AvcPacketType, VideoCodecId, VideoFrameType, VideoPacketType, VideoTag, parse_video,
    video_config_header, video_end_of_sequence, video_frame_header,
};

/// A four-character code naming a codec in Enhanced RTMP. Open, so unknown codes can
/// be reported as they arrived.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    pub const AVC1: Self = Self(*b"avc1");
    pub const HVC1: Self = Self(*b"hvc1");
    pub const AV01: Self = Self(*b"av01");
    pub const VP09: Self = Self(*b"vp09");
    pub const VP08: Self = Self(*b"vp08");
    pub const OPUS: Self = Self(*b"Opus");
    pub const MP4A: Self = Self(*b"mp4a");
    pub const MP3: Self = Self(*b".mp3");
    pub const FLAC: Self = Self(*b"fLaC");
    pub const AC3: Self = Self(*b"ac-3");
    pub const EAC3: Self = Self(*b"ec-3");
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Peer-chosen bytes end up in logs, so anything unprintable is escaped.
        for b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc(\"{self}\")")
    }
}

/// Small fixed-size header that precedes a payload in a video/audio message body; the
/// payload `Bytes` is sent after it unchanged (zero-copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagHeader {
    buf: [u8; 8],
    len: u8,
}

impl TagHeader {
    pub fn as_bytes(&self) -> &[u8] {
        // `len` only grows through `push`, which stops at the buffer size.
        self.buf.get(..usize::from(self.len)).unwrap_or(&self.buf)
    }

    /// A copy as `Bytes`, for callers that queue pieces of a message.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }

    fn new() -> Self {
        Self {
            buf: [0; 8],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        debug_assert!(
            usize::from(self.len) < self.buf.len(),
            "tag headers are at most 8 bytes"
        );
        if let Some(slot) = self.buf.get_mut(usize::from(self.len)) {
            *slot = b;
            self.len += 1;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

    /// A composition time offset as SI24, clamped to the range it can hold.
    fn push_si24(&mut self, value: i32) {
        let [_, a, b, c] = value.clamp(SI24_MIN, SI24_MAX).to_be_bytes();
        self.extend(&[a, b, c]);
    }
}

impl AsRef<[u8]> for TagHeader {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

const SI24_MIN: i32 = -(1 << 23);
const SI24_MAX: i32 = (1 << 23) - 1;

/// Cursor over a message body that hands out zero-copy slices of it.
struct Reader<'a> {
    body: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(body: &'a Bytes) -> Self {
        Self { body, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.body.len().saturating_sub(self.pos)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, FlvError> {
        let b = *self
            .body
            .get(self.pos)
            .ok_or(FlvError::Truncated { what })?;
        self.pos += 1;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FlvError> {
        let mut out = [0u8; N];
        for slot in &mut out {
            *slot = self.u8(what)?;
        }
        Ok(out)
    }

    fn fourcc(&mut self) -> Result<FourCc, FlvError> {
        self.array("FourCC").map(FourCc)
    }

    fn si24(&mut self, what: &'static str) -> Result<i32, FlvError> {
        let [a, b, c] = self.array(what)?;
        let sign = if a & 0x80 != 0 { 0xFF } else { 0 };
        Ok(i32::from_be_bytes([sign, a, b, c]))
    }

    fn skip(&mut self, n: usize, what: &'static str) -> Result<(), FlvError> {
        if self.remaining() < n {
            return Err(FlvError::Truncated { what });
        }
        self.pos += n;
        Ok(())
    }

    /// The rest of the body, zero-copy.
    fn rest(&self) -> Bytes {
        self.body.slice(self.pos.min(self.body.len())..)
    }

    fn expect_end(&self, what: &'static str) -> Result<(), FlvError> {
        match self.remaining() {
            0 => Ok(()),
            len => Err(FlvError::TrailingData { what, len }),
        }
    }

    /// Skips Enhanced RTMP v2 ModEx blocks and returns the packet type that follows
    /// them. The only defined modifier is a sub-millisecond timestamp offset, which
    /// nothing downstream can represent, so the data is dropped.
    fn skip_mod_ex(&mut self, mut packet_type: u8, mod_ex: u8) -> Result<u8, FlvError> {
        // Every round consumes at least two bytes, so the loop ends with the body.
        while packet_type == mod_ex {
            let mut size = usize::from(self.u8("ModEx size")?) + 1;
            if size == 256 {
                let [hi, lo] = self.array("ModEx size")?;
                size = usize::from(u16::from_be_bytes([hi, lo])) + 1;
            }
            self.skip(size, "ModEx data")?;
            // High nibble: modifier type; low nibble: the next packet type.
            packet_type = self.u8("ModEx packet type")? & 0x0F;
        }
        Ok(packet_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourcc_display_escapes() {
        assert_eq!(FourCc::HVC1.to_string(), "hvc1");
        assert_eq!(
            FourCc([b'a', 0, 0xff, b'\n']).to_string(),
            "a\\x00\\xff\\x0a"
        );
    }

    #[test]
    fn si24_round_trips_and_clamps() {
        for (value, expected) in [
            (0, 0),
            (-1, -1),
            (67, 67),
            (SI24_MIN, SI24_MIN),
            (i32::MAX, SI24_MAX),
            (i32::MIN, SI24_MIN),
        ] {
            let mut h = TagHeader::new();
            h.push_si24(value);
            let bytes = h.to_bytes();
            assert_eq!(Reader::new(&bytes).si24("cts"), Ok(expected), "{value}");
        }
    }
}
