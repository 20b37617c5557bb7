//! The Key Material message (HaiCrypt KMmsg, draft-sharabayko-srt 3.2.2): the payload
//! of the KMREQ/KMRSP handshake extensions (types 3 and 4) and of the in-stream
//! KMREQ/KMRSP control packets (UMSG_EXT subtypes 3 and 4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |S|  V  |   PT  |             Sign              |   Resv    |KK |
//! |                             KEKI                              |
//! |    Cipher     |     Auth      |      SE       |     Resv1     |
//! |            Resv2              |    SLen/4     |    KLen/4     |
//! |                     Salt (SLen bytes)                         |
//! |        Wrapped keys (8-byte ICV, then KLen bytes per key)     |
//! ```
//!
//! libsrt writes the message byte for byte in this order: on the wire (in the handshake
//! extension and in the control packet alike) the first bytes are `12 20 29 0K`. The
//! libsrt 1.5.1 captures in `tests/data/srt/` show it.

use super::KmError;

/// Which keys a Key Material message carries (its KK field). KK = 0 carries none and
/// is rejected, so the enum covers every valid value of the two-bit field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFlags {
    /// The even key alone (KK = 0b01): the first KM of a session.
    Even,
    /// The odd key alone (KK = 0b10).
    Odd,
    /// Both (KK = 0b11), wrapped together, even key first: a key refresh announces
    /// the next key while the current one is still in use.
    Both,
}

impl KeyFlags {
    /// The KK bits.
    pub fn bits(self) -> u8 {
        match self {
            Self::Even => 0b01,
            Self::Odd => 0b10,
            Self::Both => 0b11,
        }
    }

    fn from_bits(bits: u8) -> Option<Self> {
        match bits & 0b11 {
            0b01 => Some(Self::Even),
            0b10 => Some(Self::Odd),
            0b11 => Some(Self::Both),
            _ => None,
        }
    }

    /// How many keys the message wraps.
    pub fn key_count(self) -> usize {
        match self {
            Self::Even | Self::Odd => 1,
            Self::Both => 2,
        }
    }
}

/// The Key Material message (KMREQ/KMRSP payload and the in-stream KM refresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    pub key_flags: KeyFlags,
    /// Key Encryption Key index: 0 for the passphrase-derived KEK, the only kind SRT uses.
    pub keki: u32,
    /// [`KeyMaterial::CIPHER_AES_CTR`]; [`KeyMaterial::parse`] rejects anything else.
    pub cipher: u8,
    /// 16 bytes: the IV nonce of every packet, its last 8 bytes the PBKDF2 salt.
    pub salt: Vec<u8>,
    /// Length of each key: 16, 24 or 32 bytes (AES-128, -192, -256).
    pub key_len: usize,
    /// The keys wrapped with RFC 3394: 8-byte integrity check value, then
    /// `key_flags.key_count() * key_len` bytes.
    pub wrapped: Vec<u8>,
}

impl KeyMaterial {
    pub const VERSION: u8 = 1;
    pub const PACKET_TYPE: u8 = 2;
    /// 'HAI' as a PnP vendor ID: three 5-bit letters ('H' - '@' = 8, 1, 9).
    pub const SIGNATURE: u16 = 0x2029;
    pub const CIPHER_AES_CTR: u8 = 2;
    /// libsrt 1.6 and later; rejected here.
    pub const CIPHER_AES_GCM: u8 = 4;
    pub const AUTH_NONE: u8 = 0;
    /// Stream encapsulation: SRT.
    pub const SE_SRT: u8 = 2;
    pub const SALT_LEN: usize = 16;
    /// The RFC 3394 integrity check value that precedes the wrapped keys.
    pub const ICV_LEN: usize = 8;
    const HEADER_LEN: usize = 16;

    /// Parses a whole message: a length other than the one its header announces
    /// (trailing data included) is rejected, as libsrt does.
    pub fn parse(data: &[u8]) -> Result<Self, KmError> {
        let (header, rest) = data
            .split_first_chunk::<{ Self::HEADER_LEN }>()
            .ok_or(KmError::Truncated { len: data.len() })?;
        let [
            v_pt,
            sign_hi,
            sign_lo,
            kk,
            k0,
            k1,
            k2,
            k3,
            cipher,
            auth,
            se,
            _,
            _,
            _,
            slen4,
            klen4,
        ] = *header;
        let version = v_pt >> 4;
        if version != Self::VERSION {
            return Err(KmError::BadVersion(version));
        }
        if v_pt & 0xF != Self::PACKET_TYPE {
            return Err(KmError::BadPacketType(v_pt & 0xF));
        }
        let sign = u16::from_be_bytes([sign_hi, sign_lo]);
        if sign != Self::SIGNATURE {
            return Err(KmError::BadSignature(sign));
        }
        if se != Self::SE_SRT {
            return Err(KmError::UnsupportedEncapsulation(se));
        }
        if cipher != Self::CIPHER_AES_CTR {
            return Err(KmError::UnsupportedCipher(cipher));
        }
        if auth != Self::AUTH_NONE {
            return Err(KmError::UnsupportedAuth(auth));
        }
        let key_flags = KeyFlags::from_bits(kk).ok_or(KmError::NoKeys)?;
        let salt_len = usize::from(slen4) * 4;
        if salt_len != Self::SALT_LEN {
            return Err(KmError::UnsupportedSaltLength(salt_len));
        }
        let key_len = usize::from(klen4) * 4;
        check_key_len(key_len)?;
        let wrapped_len = Self::wrapped_len(key_flags, key_len);
        let expected = Self::HEADER_LEN + salt_len + wrapped_len;
        if data.len() != expected {
            return Err(KmError::LengthMismatch {
                len: data.len(),
                expected,
            });
        }
        let (salt, wrapped) = rest
            .split_at_checked(salt_len)
            .ok_or(KmError::LengthMismatch {
                len: data.len(),
                expected,
            })?;
        Ok(Self {
            key_flags,
            keki: u32::from_be_bytes([k0, k1, k2, k3]),
            cipher,
            salt: salt.to_vec(),
            key_len,
            wrapped: wrapped.to_vec(),
        })
    }

    /// Writes the message. The reserved fields are zero; SE is SRT, Auth none. A
    /// message from [`KeyMaterial::parse`] or [`super::Cipher::generate`] encodes to
    /// its own bytes (reserved bits aside); fields set by hand are written as they are
    /// (lengths in 4-byte units, truncated).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::HEADER_LEN + self.salt.len() + self.wrapped.len());
        out.push(Self::VERSION << 4 | Self::PACKET_TYPE);
        out.extend_from_slice(&Self::SIGNATURE.to_be_bytes());
        out.push(self.key_flags.bits());
        out.extend_from_slice(&self.keki.to_be_bytes());
        out.extend_from_slice(&[self.cipher, Self::AUTH_NONE, Self::SE_SRT, 0, 0, 0]);
        out.push(quarter(self.salt.len()));
        out.push(quarter(self.key_len));
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.wrapped);
        out
    }

    /// Length of the wrapped-keys field for these flags and key length.
    pub fn wrapped_len(key_flags: KeyFlags, key_len: usize) -> usize {
        Self::ICV_LEN + key_flags.key_count() * key_len
    }

    /// The checks [`KeyMaterial::parse`] makes, for a message built by hand.
    pub(super) fn check(&self) -> Result<(), KmError> {
        if self.cipher != Self::CIPHER_AES_CTR {
            return Err(KmError::UnsupportedCipher(self.cipher));
        }
        if self.salt.len() != Self::SALT_LEN {
            return Err(KmError::UnsupportedSaltLength(self.salt.len()));
        }
        check_key_len(self.key_len)?;
        let expected = Self::wrapped_len(self.key_flags, self.key_len);
        if self.wrapped.len() != expected {
            return Err(KmError::LengthMismatch {
                len: Self::HEADER_LEN + self.salt.len() + self.wrapped.len(),
                expected: Self::HEADER_LEN + self.salt.len() + expected,
            });
        }
        Ok(())
    }
}

pub(super) fn check_key_len(key_len: usize) -> Result<(), KmError> {
    match key_len {
        16 | 24 | 32 => Ok(()),
        other => Err(KmError::UnsupportedKeyLength(other)),
    }
}

fn quarter(len: usize) -> u8 {
    u8::try_from(len / 4).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn km(key_flags: KeyFlags, key_len: usize) -> KeyMaterial {
        KeyMaterial {
            key_flags,
            keki: 0,
            cipher: KeyMaterial::CIPHER_AES_CTR,
            salt: (0..16).collect(),
            key_len,
            wrapped: vec![0xA5; KeyMaterial::wrapped_len(key_flags, key_len)],
        }
    }

    #[test]
    fn layout() {
        let bytes = km(KeyFlags::Both, 16).encode();
        assert_eq!(bytes.len(), 16 + 16 + 8 + 32);
        assert_eq!(
            bytes[..16],
            [0x12, 0x20, 0x29, 0x03, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0, 4, 4]
        );
        assert_eq!(bytes[16..32], (0..16).collect::<Vec<u8>>());
    }

    #[test]
    fn round_trip_every_shape() {
        for flags in [KeyFlags::Even, KeyFlags::Odd, KeyFlags::Both] {
            for key_len in [16, 24, 32] {
                let mut m = km(flags, key_len);
                m.keki = 0x0102_0304;
                assert_eq!(KeyMaterial::parse(&m.encode()), Ok(m));
            }
        }
    }

    #[test]
    fn reserved_bits_ignored() {
        let mut bytes = km(KeyFlags::Even, 16).encode();
        bytes[3] |= 0xFC;
        bytes[11] = 0xFF;
        bytes[12] = 0xFF;
        assert_eq!(KeyMaterial::parse(&bytes), Ok(km(KeyFlags::Even, 16)));
    }

    #[test]
    fn rejections() {
        let good = km(KeyFlags::Even, 16).encode();
        let with = |i: usize, v: u8| {
            let mut b = good.clone();
            b[i] = v;
            KeyMaterial::parse(&b)
        };
        assert_eq!(with(0, 0x92), Err(KmError::BadVersion(9)));
        assert_eq!(with(0, 0x22), Err(KmError::BadVersion(2)));
        assert_eq!(with(0, 0x11), Err(KmError::BadPacketType(1)));
        assert_eq!(with(1, 0x21), Err(KmError::BadSignature(0x2129)));
        assert_eq!(with(3, 0), Err(KmError::NoKeys));
        assert_eq!(with(8, 4), Err(KmError::UnsupportedCipher(4)));
        assert_eq!(with(9, 1), Err(KmError::UnsupportedAuth(1)));
        assert_eq!(with(10, 1), Err(KmError::UnsupportedEncapsulation(1)));
        assert_eq!(with(14, 2), Err(KmError::UnsupportedSaltLength(8)));
        assert_eq!(with(15, 5), Err(KmError::UnsupportedKeyLength(20)));
        // KK = 3 needs room for a second key.
        assert_eq!(
            with(3, 3),
            Err(KmError::LengthMismatch {
                len: 56,
                expected: 72
            })
        );
    }

    #[test]
    fn length_must_match_exactly() {
        let good = km(KeyFlags::Odd, 32).encode();
        for len in 0..16 {
            assert_eq!(
                KeyMaterial::parse(&good[..len]),
                Err(KmError::Truncated { len })
            );
        }
        for len in 16..good.len() {
            assert_eq!(
                KeyMaterial::parse(&good[..len]),
                Err(KmError::LengthMismatch {
                    len,
                    expected: good.len()
                })
            );
        }
        let mut long = good.clone();
        long.extend_from_slice(&[0; 4]);
        assert_eq!(
            KeyMaterial::parse(&long),
            Err(KmError::LengthMismatch {
                len: good.len() + 4,
                expected: good.len()
            })
        );
    }

    /// libsrt 1.6 with `SRTO_CRYPTOMODE` AES-GCM: cipher 4, auth 1. A clean rejection
    /// lets the listener answer with a KMRSP instead of dropping the connection.
    #[test]
    fn gcm_rejected() {
        let mut bytes = km(KeyFlags::Even, 16).encode();
        bytes[8] = KeyMaterial::CIPHER_AES_GCM;
        bytes[9] = 1;
        assert_eq!(
            KeyMaterial::parse(&bytes),
            Err(KmError::UnsupportedCipher(4))
        );
    }
}
