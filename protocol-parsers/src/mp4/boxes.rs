//! Writing boxes: a header whose size is patched when the box is closed.

use bytes::{BufMut, BytesMut};

use super::Mp4Error;

/// An open box: where its header starts.
#[must_use]
pub(super) struct Open(usize);

pub(super) fn begin(out: &mut BytesMut, kind: &[u8; 4]) -> Open {
    let start = out.len();
    out.put_u32(0);
    out.put_slice(kind);
    Open(start)
}

/// A full box: header plus version and flags.
pub(super) fn begin_full(out: &mut BytesMut, kind: &[u8; 4], version: u8, flags: u32) -> Open {
    let open = begin(out, kind);
    out.put_u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
    open
}

pub(super) fn end(out: &mut BytesMut, open: Open) -> Result<(), Mp4Error> {
    let size = out.len() - open.0;
    let size = u32::try_from(size).map_err(|_| Mp4Error::TooLarge {
        what: "box size",
        value: size as u64,
    })?;
    if let Some(field) = out.get_mut(open.0..open.0 + 4) {
        field.copy_from_slice(&size.to_be_bytes());
    }
    Ok(())
}

/// The identity matrix of `mvhd` and `tkhd`.
pub(super) fn put_matrix(out: &mut BytesMut) {
    for value in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        out.put_u32(value);
    }
}
