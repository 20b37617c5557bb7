//! Basic and message headers of a chunk (spec 5.3.1).

/// The header fields a chunk stream remembers, so later chunks can omit them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct MessageHeader {
    pub timestamp: u32,
    pub delta: u32,
    pub length: u32,
    pub type_id: u8,
    pub stream_id: u32,
    /// Whether the last header on this chunk stream carried an extended timestamp;
    /// type-3 chunks then carry one too.
    pub extended: bool,
}

pub(super) const EXTENDED_TIMESTAMP: u32 = 0x00FF_FFFF;

/// Reads `N` bytes at `pos`, or `None` when the input is too short.
pub(super) fn take<const N: usize>(input: &[u8], pos: usize) -> Option<[u8; N]> {
    input.get(pos..pos.checked_add(N)?)?.try_into().ok()
}

pub(super) fn u24(bytes: [u8; 3]) -> u32 {
    u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]])
}

/// Parses the basic header: (fmt, chunk stream id, header length).
pub(super) fn basic_header(input: &[u8]) -> Option<(u8, u32, usize)> {
    let [first] = take::<1>(input, 0)?;
    let fmt = first >> 6;
    match first & 0x3F {
        0 => {
            let [b1] = take::<1>(input, 1)?;
            Some((fmt, 64 + u32::from(b1), 2))
        }
        1 => {
            let [b1, b2] = take::<2>(input, 1)?;
            Some((fmt, 64 + u32::from(b1) + 256 * u32::from(b2), 3))
        }
        id => Some((fmt, u32::from(id), 1)),
    }
}

/// Writes a basic header for `csid` with header type `fmt`.
pub(super) fn write_basic_header(out: &mut Vec<u8>, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    match csid {
        2..=63 => out.push(fmt | csid as u8),
        64..=319 => out.extend_from_slice(&[fmt, (csid - 64) as u8]),
        _ => {
            let rest = csid.saturating_sub(64).min(65535);
            out.extend_from_slice(&[fmt | 1, (rest & 0xFF) as u8, (rest >> 8) as u8]);
        }
    }
}
