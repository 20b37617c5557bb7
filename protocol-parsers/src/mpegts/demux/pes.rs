//! Reading the PES packet header (ISO/IEC 13818-1 2.4.3.6, 2.4.3.7) off the front of a
//! PES that arrives one packet payload at a time, and bounding its body by
//! PES_packet_length when that is not 0.

/// Start code prefix, stream_id, PES_packet_length, two flag bytes, header_data_length.
const FIXED_LEN: usize = 9;
/// header_data_length is one byte.
const MAX_HEADER_LEN: usize = FIXED_LEN + 255;
/// PES_packet_length counts from the byte after it.
const LENGTH_FIELD_END: usize = 6;
const TIMESTAMP_LEN: usize = 5;

/// The timestamps of a PES header, raw 33-bit 90 kHz values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Timestamps {
    pub(super) pts: Option<u64>,
    pub(super) dts: Option<u64>,
}

/// Why a PES was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PesError {
    /// No 00 00 01 start code prefix, a stream_id without the optional header, or
    /// lengths that contradict each other.
    Malformed,
}

/// The header of one PES, read across as many payloads as it takes.
#[derive(Debug, Default)]
pub(super) struct PesReader {
    head: Vec<u8>,
    /// `None` while the header is incomplete; then the body bytes still allowed by
    /// PES_packet_length (`Some(None)` when it is 0, unbounded).
    body_left: Option<Option<usize>>,
}

/// What one payload contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fed<'a> {
    /// Set once, by the payload that completes the header.
    pub(super) header: Option<Timestamps>,
    /// Body bytes in this payload.
    pub(super) body: &'a [u8],
    /// PES_packet_length is reached: the PES is complete.
    pub(super) complete: bool,
}

impl PesReader {
    /// A new PES starts (payload_unit_start_indicator).
    pub(super) fn begin(&mut self) {
        self.head.clear();
        self.body_left = None;
    }

    /// Whether PES_packet_length announced a body that has not fully arrived.
    pub(super) fn is_short(&self) -> bool {
        matches!(self.body_left, Some(Some(left)) if left > 0) || self.body_left.is_none()
    }

    pub(super) fn feed<'a>(&mut self, mut data: &'a [u8]) -> Result<Fed<'a>, PesError> {
        let mut header = None;
        if self.body_left.is_none() {
            let want = self.header_len().unwrap_or(FIXED_LEN);
            let (now, rest) = data.split_at(want.saturating_sub(self.head.len()).min(data.len()));
            self.head.extend_from_slice(now);
            data = rest;
            // The first 9 bytes give the full header length; one more round reads it.
            if let Some(full) = self.header_len().filter(|&full| full > self.head.len()) {
                let (now, rest) = data.split_at((full - self.head.len()).min(data.len()));
                self.head.extend_from_slice(now);
                data = rest;
            }
            match self.header_len() {
                Some(full) if self.head.len() == full => {
                    let (timestamps, body_len) = parse(&self.head)?;
                    header = Some(timestamps);
                    self.body_left = Some(body_len);
                }
                _ => {
                    return Ok(Fed {
                        header: None,
                        body: &[],
                        complete: false,
                    });
                }
            }
        }
        let Some(left) = self.body_left else {
            return Err(PesError::Malformed);
        };
        let (body, complete) = match left {
            None => (data, false),
            Some(left) => {
                let (body, _stuffing) = data.split_at(left.min(data.len()));
                let left = left - body.len();
                self.body_left = Some(Some(left));
                (body, left == 0)
            }
        };
        Ok(Fed {
            header,
            body,
            complete,
        })
    }

    /// The full header length, once its fixed part is in.
    fn header_len(&self) -> Option<usize> {
        let &data_len = self.head.get(FIXED_LEN - 1)?;
        Some(FIXED_LEN + usize::from(data_len))
    }
}

/// The timestamps and the body length (`None`: unbounded) of a whole header.
fn parse(head: &[u8]) -> Result<(Timestamps, Option<usize>), PesError> {
    let Some(&[0, 0, 1, stream_id, len_hi, len_lo, flags, pts_dts, data_len]) =
        head.first_chunk::<FIXED_LEN>()
    else {
        return Err(PesError::Malformed);
    };
    debug_assert!(head.len() <= MAX_HEADER_LEN);
    // Streams without the optional header (Table 2-22): program stream map, padding,
    // private stream 2, ECM, EMM, DSMCC, H.222.1 type E, directory. The '10' bits
    // mark the optional header of every other stream.
    if matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    ) || flags & 0xC0 != 0x80
    {
        return Err(PesError::Malformed);
    }
    let packet_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let header_len = FIXED_LEN + usize::from(data_len);
    let body_len = match packet_len {
        0 => None,
        len => Some(
            (LENGTH_FIELD_END + len)
                .checked_sub(header_len)
                .ok_or(PesError::Malformed)?,
        ),
    };
    let fields = head.get(FIXED_LEN..).unwrap_or_default();
    let timestamp = |at: usize| {
        fields
            .get(at..at + TIMESTAMP_LEN)
            .and_then(|b| b.first_chunk::<TIMESTAMP_LEN>())
            .map(|&b| read_timestamp(b))
            .ok_or(PesError::Malformed)
    };
    let timestamps = match pts_dts >> 6 {
        0b10 => Timestamps {
            pts: Some(timestamp(0)?),
            dts: None,
        },
        0b11 => Timestamps {
            pts: Some(timestamp(0)?),
            dts: Some(timestamp(TIMESTAMP_LEN)?),
        },
        // '01' is forbidden; either way there is no usable time.
        _ => Timestamps::default(),
    };
    Ok((timestamps, body_len))
}

/// A PTS or DTS field: 3 + 15 + 15 bits between marker bits, which are not checked
/// (some muxers get them wrong and the value is still right).
fn read_timestamp(b: [u8; TIMESTAMP_LEN]) -> u64 {
    let [b0, b1, b2, b3, b4] = b.map(u64::from);
    (((b0 >> 1) & 0x07) << 30) | (b1 << 22) | ((b2 >> 1) << 15) | (b3 << 7) | (b4 >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mpegts::clock::{DTS, PTS_BEFORE_DTS, put_timestamp};

    fn header(packet_len: u16, pts: u64, dts: Option<u64>) -> Vec<u8> {
        let mut h = vec![0, 0, 1, 0xE0];
        h.extend(packet_len.to_be_bytes());
        h.push(0x84);
        match dts {
            Some(dts) => {
                h.extend([0xC0, 10]);
                put_timestamp(&mut h, PTS_BEFORE_DTS, pts);
                put_timestamp(&mut h, DTS, dts);
            }
            None => {
                h.extend([0x80, 5]);
                put_timestamp(&mut h, 0b0010, pts);
            }
        }
        h
    }

    #[test]
    fn header_split_anywhere_and_bounded_body() {
        let mut pes = header(3 + 10 + 6, (1 << 33) - 1, Some(12345));
        pes.extend([1, 2, 3, 4, 5, 6, 0xFF, 0xFF]); // body, then stuffing
        for cut in 0..pes.len() {
            let mut reader = PesReader::default();
            reader.begin();
            let a = reader.feed(&pes[..cut]).unwrap();
            let b = reader.feed(&pes[cut..]).unwrap();
            let header = a.header.or(b.header).unwrap();
            assert_eq!(header.pts, Some((1 << 33) - 1));
            assert_eq!(header.dts, Some(12345));
            assert_eq!([a.body, b.body].concat(), [1, 2, 3, 4, 5, 6], "cut {cut}");
            assert!(b.complete && !reader.is_short());
        }
    }

    #[test]
    fn unbounded_video_body() {
        let mut reader = PesReader::default();
        reader.begin();
        let pes = [header(0, 9000, None), vec![7; 100]].concat();
        let fed = reader.feed(&pes).unwrap();
        assert_eq!(fed.header.unwrap().pts, Some(9000));
        assert_eq!(fed.body.len(), 100);
        assert!(!fed.complete && !reader.is_short());
        assert_eq!(reader.feed(&[1, 2]).unwrap().body, [1, 2]);
    }

    #[test]
    fn malformed_headers() {
        let mut reader = PesReader::default();
        for bad in [
            vec![0, 0, 2, 0xE0, 0, 0, 0x84, 0x80, 5, 0, 0, 0, 0, 0],
            vec![0, 0, 1, 0xBE, 0, 0, 0x84, 0x80, 0],
            vec![0, 0, 1, 0xE0, 0, 0, 0x04, 0x80, 0],
            // PES_packet_length smaller than the header it contains.
            vec![0, 0, 1, 0xE0, 0, 2, 0x84, 0x00, 0],
            // PTS flagged but header_data_length too short for it.
            vec![0, 0, 1, 0xE0, 0, 0, 0x84, 0x80, 2, 0x21, 0],
        ] {
            reader.begin();
            assert_eq!(reader.feed(&bad), Err(PesError::Malformed), "{bad:02x?}");
        }
        reader.begin();
        let fed = reader.feed(&[0, 0, 1, 0xE0, 0, 0, 0x84]).unwrap();
        assert!(fed.header.is_none() && reader.is_short());
    }
}
