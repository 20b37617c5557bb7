use bytes::{Bytes, BytesMut};

/// Small byte strings (chunk headers, FLV tag headers) cut from one growing buffer,
/// so each costs a refcount rather than an allocation of its own.
#[derive(Debug, Default)]
pub(crate) struct ScratchBytes(BytesMut);

impl ScratchBytes {
    pub fn copy(&mut self, bytes: &[u8]) -> Bytes {
        if self.0.capacity() - self.0.len() < bytes.len() {
            self.0.reserve(bytes.len().max(4096));
        }
        self.0.extend_from_slice(bytes);
        self.0.split().freeze()
    }
}
