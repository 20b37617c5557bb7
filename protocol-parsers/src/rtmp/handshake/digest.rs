//! The digest ("complex") handshake that Flash Player, ffmpeg and most encoders use
//! on top of the plain exchange of RTMP spec §5.2.
//!
//! A 1536-byte C1/S1 carries an HMAC-SHA256 of itself (with the digest bytes left out)
//! at a position derived from four bytes of the packet. Two layouts ("schemes")
//! exist; which one a client picked is only learnt by trying both. The keys are
//! public constants, so none of this authenticates anyone: clients check it to tell
//! a Flash Media Server compatible peer from a bare one, and some players refuse a
//! server whose S1/S2 fail the check.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::HANDSHAKE_SIZE;

/// Length of an HMAC-SHA256 digest.
pub(super) const DIGEST_LEN: usize = 32;

/// Key clients sign C1 with: the text part of the Flash Player key.
pub(super) const PLAYER_KEY_PARTIAL: &[u8; 30] = b"Genuine Adobe Flash Player 001";

/// Key servers sign S1 with: the text part of the Flash Media Server key.
pub(super) const SERVER_KEY_PARTIAL: &[u8; 36] = b"Genuine Adobe Flash Media Server 001";

/// The whole Flash Media Server key (text plus 32 fixed bytes), which keys S2.
pub(super) const SERVER_KEY: &[u8; 68] = b"Genuine Adobe Flash Media Server 001\
    \xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
    \x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";

/// Each scheme splits the 1528 random bytes into two 764-byte blocks; the digest
/// block holds a 4-byte offset field, then the 32-byte digest somewhere in the
/// remaining 760 bytes, so the offset wraps at 760 - 32 = 728.
const OFFSET_MODULUS: usize = 728;

/// Where a C1/S1 digest lives. The names follow SRS and ffmpeg's `encrypted` flag:
/// scheme 0 is what ffmpeg and OBS send, scheme 1 what Flash Player sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    /// Offset field at bytes 8..12, digest within bytes 12..772.
    Zero,
    /// Offset field at bytes 772..776, digest within bytes 776..1536.
    One,
}

impl Scheme {
    /// Tried in this order: a digest that happens to validate under both is
    /// vanishingly unlikely, so the order only matters for speed.
    const ALL: [Self; 2] = [Self::Zero, Self::One];

    /// First byte of the 4-byte field whose sum picks the digest position.
    fn offset_field(self) -> usize {
        match self {
            Self::Zero => 8,
            Self::One => 772,
        }
    }

    /// Start of the digest in `packet`. Always leaves room for the whole digest:
    /// the largest result is 1503 for scheme 1, and 1503 + 32 = 1535 < 1536.
    fn digest_offset(self, packet: &[u8; HANDSHAKE_SIZE]) -> usize {
        let field = self.offset_field();
        let sum: usize = packet
            .iter()
            .skip(field)
            .take(4)
            .map(|&b| usize::from(b))
            .sum();
        sum % OFFSET_MODULUS + field + 4
    }
}

/// A digest found in a peer's C1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FoundDigest {
    pub(super) scheme: Scheme,
    pub(super) digest: [u8; DIGEST_LEN],
}

/// HMAC-SHA256 of the concatenation of `parts`.
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    #[expect(clippy::expect_used, reason = "HMAC is defined for keys of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .expect("hmac 0.12 accepts keys of any length (long ones are hashed first)");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The digest `packet` should carry under `scheme`, and where it goes.
fn expected_digest(
    packet: &[u8; HANDSHAKE_SIZE],
    scheme: Scheme,
    key: &[u8],
) -> Option<(usize, [u8; DIGEST_LEN])> {
    let offset = scheme.digest_offset(packet);
    let before = packet.get(..offset)?;
    let after = packet.get(offset.checked_add(DIGEST_LEN)?..)?;
    Some((offset, hmac(key, &[before, after])))
}

/// Looks for a digest signed with `key` under either scheme.
pub(super) fn find_digest(packet: &[u8; HANDSHAKE_SIZE], key: &[u8]) -> Option<FoundDigest> {
    Scheme::ALL.into_iter().find_map(|scheme| {
        let (offset, expected) = expected_digest(packet, scheme, key)?;
        // The keys are public, so a timing side channel reveals nothing secret.
        let stored = packet.get(offset..offset.checked_add(DIGEST_LEN)?)?;
        (stored == expected).then_some(FoundDigest {
            scheme,
            digest: expected,
        })
    })
}

/// Finds the client digest in C1. A zero version field means the client never
/// heard of digests (the plain handshake of the spec), so it is not searched.
pub(super) fn find_client_digest(c1: &[u8; HANDSHAKE_SIZE]) -> Option<FoundDigest> {
    let version = c1.get(4..8)?;
    if version.iter().all(|&b| b == 0) {
        return None;
    }
    find_digest(c1, PLAYER_KEY_PARTIAL)
}

/// Writes the digest of `packet` under `scheme` into `packet`.
pub(super) fn imprint(packet: &mut [u8; HANDSHAKE_SIZE], scheme: Scheme, key: &[u8]) {
    // `digest_offset` always leaves room for the digest, so both lookups succeed.
    let Some((offset, digest)) = expected_digest(packet, scheme, key) else {
        return;
    };
    if let Some(slot) = packet.get_mut(offset..offset.saturating_add(DIGEST_LEN)) {
        slot.copy_from_slice(&digest);
    }
}

/// S2 of the digest handshake: 1504 bytes of `filler` followed by an HMAC over them
/// whose key is derived from the client's digest, which proves the server read this
/// C1. Filler beyond 1504 bytes is ignored.
pub(super) fn digest_s2(client_digest: &[u8; DIGEST_LEN], filler: &[u8]) -> [u8; HANDSHAKE_SIZE] {
    let mut s2 = [0; HANDSHAKE_SIZE];
    if let Some((head, tail)) = s2.split_last_chunk_mut::<DIGEST_LEN>() {
        for (dst, src) in head.iter_mut().zip(filler) {
            *dst = *src;
        }
        *tail = s2_signature(client_digest, head);
    }
    s2
}

/// The trailing 32 bytes of a digest S2 whose first 1504 bytes are `head`.
pub(super) fn s2_signature(client_digest: &[u8; DIGEST_LEN], head: &[u8]) -> [u8; DIGEST_LEN] {
    let key = hmac(SERVER_KEY, &[client_digest]);
    hmac(&key, &[head])
}

/// A C1 as a digest-aware client (ffmpeg, OBS, Flash Player) builds it.
#[cfg(test)]
pub(super) fn client_c1(scheme: Scheme, fill: u8) -> [u8; HANDSHAKE_SIZE] {
    let mut c1 = [fill; HANDSHAKE_SIZE];
    // time 0, then the Flash version ffmpeg announces (9.0.124.2).
    c1[..8].copy_from_slice(&[0, 0, 0, 0, 9, 0, 124, 2]);
    imprint(&mut c1, scheme, PLAYER_KEY_PARTIAL);
    c1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_published_constants() {
        assert!(SERVER_KEY.starts_with(SERVER_KEY_PARTIAL));
        assert_eq!(
            SERVER_KEY[36..],
            [
                0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E,
                0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36,
                0xCF, 0xEB, 0x31, 0xAE,
            ]
        );
    }

    #[test]
    fn digest_offsets_stay_in_bounds() {
        for scheme in Scheme::ALL {
            let field = scheme.offset_field();
            let mut packet = [0; HANDSHAKE_SIZE];
            let mut largest = 0;
            // Every sum the four offset bytes can make (0..=1020).
            for sum in 0..=4 * 255usize {
                for (i, b) in packet[field..field + 4].iter_mut().enumerate() {
                    *b = sum.saturating_sub(i * 255).min(255) as u8;
                }
                let offset = scheme.digest_offset(&packet);
                assert!(offset >= field + 4);
                assert!(offset + DIGEST_LEN <= HANDSHAKE_SIZE);
                largest = largest.max(offset);
            }
            assert_eq!(largest, field + 4 + OFFSET_MODULUS - 1);
        }
    }

    #[test]
    fn imprinted_digest_is_found_under_its_scheme() {
        for scheme in Scheme::ALL {
            let c1 = client_c1(scheme, 0x41);
            let found = find_client_digest(&c1).expect("digest");
            assert_eq!(found.scheme, scheme);
            let offset = scheme.digest_offset(&c1);
            assert_eq!(found.digest[..], c1[offset..offset + DIGEST_LEN]);
            // Signed with the player key, so the server key must not validate it.
            assert_eq!(find_digest(&c1, SERVER_KEY_PARTIAL), None);
        }
    }

    #[test]
    fn damaged_or_versionless_c1_has_no_digest() {
        let mut c1 = client_c1(Scheme::Zero, 0x41);
        let offset = Scheme::Zero.digest_offset(&c1);
        c1[offset] ^= 1;
        assert_eq!(find_client_digest(&c1), None);

        let mut c1 = client_c1(Scheme::One, 0x41);
        c1[4..8].fill(0);
        assert_eq!(find_client_digest(&c1), None);
    }

    #[test]
    fn s2_signature_covers_the_filler() {
        let digest = [7; DIGEST_LEN];
        let s2 = digest_s2(&digest, &[9; HANDSHAKE_SIZE - DIGEST_LEN]);
        let (head, tail) = s2.split_at(HANDSHAKE_SIZE - DIGEST_LEN);
        assert!(head.iter().all(|&b| b == 9));
        assert_eq!(tail, s2_signature(&digest, head));
        assert_ne!(tail, s2_signature(&[8; DIGEST_LEN], head));
    }
}
