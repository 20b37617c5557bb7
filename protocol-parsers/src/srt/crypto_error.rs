use super::KeyIndex;

/// Why a Key Material message was rejected or a key could not be used.
///
/// [`KmError::BadSecret`] is the one a listener answers with `SRT_REJ_BADSECRET` (and a
/// KMRSP carrying `SRT_KM_S_BADSECRET`); the unsupported variants describe well-formed
/// messages this implementation does not handle (libsrt 1.5 handles none of them either).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KmError {
    #[error("key material message is {len} bytes, shorter than its 16-byte header")]
    Truncated { len: usize },
    #[error("key material message is {len} bytes, its header says {expected}")]
    LengthMismatch { len: usize, expected: usize },
    /// The first nibble (the S bit and the 3-bit version) is not 1.
    #[error("key material version {0}, expected 1")]
    BadVersion(u8),
    #[error("packet type {0} is not keying material (2)")]
    BadPacketType(u8),
    #[error("signature {0:#06x} is not 'HAI' (0x2029)")]
    BadSignature(u16),
    /// KK = 0: the message carries no key.
    #[error("key material carries no key")]
    NoKeys,
    /// Stream encapsulation other than SRT (2); 1 is HaiCrypt over plain UDP.
    #[error("stream encapsulation {0} is not SRT (2)")]
    UnsupportedEncapsulation(u8),
    /// Cipher other than AES-CTR (2): AES-GCM (4) came with libsrt 1.6.
    #[error("cipher {0} is not supported (only AES-CTR, 2)")]
    UnsupportedCipher(u8),
    /// Authentication other than none (0): 1 is AES-GCM.
    #[error("authentication {0} is not supported (only none, 0)")]
    UnsupportedAuth(u8),
    #[error("salt of {0} bytes, expected 16")]
    UnsupportedSaltLength(usize),
    #[error("key length {0} is not 16, 24 or 32")]
    UnsupportedKeyLength(usize),
    /// The RFC 3394 integrity check failed: the peer used another passphrase.
    #[error("wrong passphrase (key unwrap integrity check failed)")]
    BadSecret,
    #[error("empty passphrase")]
    EmptyPassphrase,
    /// A key refresh announced keys of another length than the session's.
    #[error("key length changed from {was} to {now} bytes")]
    KeyLengthChanged { was: usize, now: usize },
    /// A data packet names a key no Key Material message has provided.
    #[error("no {0:?} key")]
    NoKey(KeyIndex),
    #[error("{len} random bytes given, {expected} needed (salt and key)")]
    RandomLength { len: usize, expected: usize },
    /// Longer than the 16-bit block counter of the HaiCrypt IV covers.
    #[error("payload of {len} bytes, at most {max} can be encrypted")]
    PayloadTooLong { len: usize, max: usize },
}
