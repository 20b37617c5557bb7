//! The PES packet header (ISO/IEC 13818-1 2.4.3.6) in front of each access unit.

use bytes::BufMut;

use super::clock::{DTS, PTS_BEFORE_DTS, PTS_ONLY, put_timestamp};

/// stream_id of the first MPEG video stream (H.264 and HEVC use it too).
pub(super) const STREAM_ID_VIDEO: u8 = 0xE0;
/// stream_id of the first MPEG audio stream (AAC uses it too).
pub(super) const STREAM_ID_AUDIO: u8 = 0xC0;

/// Start code, stream_id, PES_packet_length, two flag bytes, header_data_length.
const FIXED_LEN: usize = 9;
const TIMESTAMP_LEN: usize = 5;
const MAX_LEN: usize = FIXED_LEN + 2 * TIMESTAMP_LEN;

/// '10' marker bits, data_alignment_indicator: every PES starts an access unit.
const FLAGS_ALIGNED: u8 = 0x84;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PesHeader {
    pub(super) stream_id: u8,
    /// 90 kHz, 33 bits.
    pub(super) pts: u64,
    /// Written only when it differs from the PTS.
    pub(super) dts: Option<u64>,
    /// Bytes of payload after the header, or `None` to leave PES_packet_length 0
    /// ("unbounded", allowed for video only), as FFmpeg does for all video.
    pub(super) payload_len: Option<usize>,
}

/// An encoded header, on the stack.
pub(super) struct Encoded {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Encoded {
    pub(super) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl PesHeader {
    fn dts(&self) -> Option<u64> {
        self.dts.filter(|dts| *dts != self.pts)
    }

    fn data_len(&self) -> usize {
        TIMESTAMP_LEN * if self.dts().is_some() { 2 } else { 1 }
    }

    pub(super) fn len(&self) -> usize {
        FIXED_LEN + self.data_len()
    }

    pub(super) fn encode(&self) -> Encoded {
        let mut bytes = [0u8; MAX_LEN];
        let mut out = bytes.as_mut_slice();
        out.put_slice(&[0, 0, 1, self.stream_id]);
        // PES_packet_length counts from the byte after it; one that does not fit is
        // written as 0, which only video may use (and audio frames never reach).
        let packet_len = self
            .payload_len
            .map(|payload| 3 + self.data_len() + payload)
            .and_then(|len| u16::try_from(len).ok())
            .unwrap_or(0);
        out.put_u16(packet_len);
        out.put_u8(FLAGS_ALIGNED);
        match self.dts() {
            Some(dts) => {
                out.put_u8(0xC0); // PTS_DTS_flags '11'
                out.put_u8((2 * TIMESTAMP_LEN) as u8);
                put_timestamp(&mut out, PTS_BEFORE_DTS, self.pts);
                put_timestamp(&mut out, DTS, dts);
            }
            None => {
                out.put_u8(0x80); // PTS_DTS_flags '10'
                out.put_u8(TIMESTAMP_LEN as u8);
                put_timestamp(&mut out, PTS_ONLY, self.pts);
            }
        }
        Encoded {
            bytes,
            len: self.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::tests::read_timestamp;
    use super::*;

    #[test]
    fn video_header_with_pts_and_dts() {
        let header = PesHeader {
            stream_id: STREAM_ID_VIDEO,
            pts: 9000,
            dts: Some(6000),
            payload_len: None,
        };
        let bytes = header.encode();
        let b = bytes.as_slice();
        assert_eq!(b.len(), 19);
        assert_eq!(&b[..9], &[0, 0, 1, 0xE0, 0, 0, 0x84, 0xC0, 10]);
        assert_eq!(read_timestamp(&b[9..14]), (0b0011, 9000));
        assert_eq!(read_timestamp(&b[14..19]), (0b0001, 6000));
    }

    #[test]
    fn equal_dts_is_left_out_and_audio_length_is_set() {
        let header = PesHeader {
            stream_id: STREAM_ID_AUDIO,
            pts: 1 << 32,
            dts: Some(1 << 32),
            payload_len: Some(371),
        };
        let bytes = header.encode();
        let b = bytes.as_slice();
        assert_eq!(b.len(), 14);
        assert_eq!(header.len(), 14);
        // 3 flag/length bytes + 5 PTS + 371 payload.
        assert_eq!(u16::from_be_bytes([b[4], b[5]]), 379);
        assert_eq!(&b[6..9], &[0x84, 0x80, 5]);
        assert_eq!(read_timestamp(&b[9..14]), (0b0010, 1 << 32));
    }
}
