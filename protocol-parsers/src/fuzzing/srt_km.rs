//! SRT Key Material messages: any input parses or fails without panicking, and a
//! message that parses encodes back to its own bytes, but for the reserved bits that
//! parsing ignores, and parses again to the same value.
//!
//! Seeds in `fuzz/corpus/srt_key_material/` are the KMs of libsrt 1.5.1 sessions
//! (AES-128/192/256: the handshake KMREQ with the even key and the in-stream refreshes
//! with both), recorded by `tools/srt_crypto_capture.py`.

use crate::srt::KeyMaterial;

/// Reserved bits of the 16-byte header: byte 3 but KK, Resv1 (byte 11), Resv2 (12..14).
const RESERVED: [(usize, u8); 4] = [(3, 0xFC), (11, 0xFF), (12, 0xFF), (13, 0xFF)];

/// Fuzz entry point. Panics only when an invariant breaks, which is a bug.
pub fn srt_key_material(data: &[u8]) {
    let Ok(km) = KeyMaterial::parse(data) else {
        return;
    };
    let encoded = km.encode();
    let mut expected = data.to_vec();
    for (at, mask) in RESERVED {
        if let Some(byte) = expected.get_mut(at) {
            *byte &= !mask;
        }
    }
    assert_eq!(encoded, expected);
    assert_eq!(KeyMaterial::parse(&encoded), Ok(km));
}
