//! SRT payload encryption as libsrt's HaiCrypt does it (draft-sharabayko-srt 6): AES-CTR
//! under a Stream Encrypting Key (SEK), two SEKs (even and odd) so the sender can
//! refresh keys without a gap, each SEK wrapped (RFC 3394) under a Key Encrypting Key
//! derived from the passphrase:
//!
//! - KEK = PBKDF2-HMAC-SHA1(passphrase, last 8 bytes of the salt, 2048 rounds, key length)
//!   (`hcryptCtx_GenSecret`).
//! - IV of a data packet = the first 14 salt bytes XOR the packet sequence number, big
//!   endian, at bytes 10..14; bytes 14..16 are the block counter, from 0
//!   (`hcrypt_SetCtrIV`). Only the payload is encrypted, the 16-byte header is not.
//!
//! The primitives are RustCrypto's (`aes`, `ctr`, `aes-kw`, `pbkdf2`, `sha1`).

use aes::cipher::consts::U16;
use aes::cipher::{
    BlockCipher, BlockDecrypt, BlockEncrypt, BlockEncryptMut, BlockSizeUser, InnerIvInit, KeyInit,
    StreamCipher, StreamCipherCoreWrapper,
};
use aes::{Aes128, Aes192, Aes256};
use aes_kw::Kek;
use ctr::CtrCore;
use ctr::flavors::Ctr32BE;

use super::key_material::check_key_len;
use super::{KeyFlags, KeyMaterial, KmError};

/// PBKDF2 rounds libsrt uses (`HAICRYPT_PBKDF2_ITER_CNT`).
const PBKDF2_ROUNDS: u32 = 2048;
/// The PBKDF2 salt is the last 8 bytes of the KM salt (`HAICRYPT_PBKDF2_SALT_LEN`).
const PBKDF2_SALT_LEN: usize = 8;
const MAX_KEY_LEN: usize = 32;
const BLOCK_LEN: usize = 16;
/// The IV leaves 16 bits to the block counter.
const MAX_PAYLOAD: usize = BLOCK_LEN << 16;

/// Which key a data packet is encrypted with: its KK field (bits 28..27 of header word 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyIndex {
    /// KK = 0b01.
    Even,
    /// KK = 0b10.
    Odd,
}

impl KeyIndex {
    /// The key of a data packet's KK bits; `None` for 0 (not encrypted) and for 3
    /// (invalid in a data packet).
    pub fn from_kk(kk: u8) -> Option<Self> {
        match kk {
            0b01 => Some(Self::Even),
            0b10 => Some(Self::Odd),
            _ => None,
        }
    }

    /// The KK bits.
    pub fn kk(self) -> u8 {
        match self {
            Self::Even => 0b01,
            Self::Odd => 0b10,
        }
    }
}

/// The keys of one direction of an encrypted SRT connection.
pub struct Cipher {
    key_len: usize,
    even: Option<Sek>,
    odd: Option<Sek>,
    /// The last KEK derived, with what it was derived from: a key refresh keeps the salt,
    /// so the 2048 PBKDF2 rounds run once per session.
    kek: Option<CachedKek>,
}

/// A Stream Encrypting Key, expanded, with the salt of the KM that brought it. The
/// raw key is kept too: a sender's refresh KM wraps both keys together.
#[derive(Clone)]
struct Sek {
    aes: Aes,
    key: [u8; MAX_KEY_LEN],
    salt: [u8; KeyMaterial::SALT_LEN],
}

impl Sek {
    fn new(key: &[u8], salt: [u8; KeyMaterial::SALT_LEN]) -> Result<Self, KmError> {
        let mut raw = [0; MAX_KEY_LEN];
        raw.get_mut(..key.len())
            .ok_or(KmError::UnsupportedKeyLength(key.len()))?
            .copy_from_slice(key);
        Ok(Self {
            aes: Aes::new(key)?,
            key: raw,
            salt,
        })
    }
}

struct CachedKek {
    passphrase: String,
    salt: [u8; PBKDF2_SALT_LEN],
    kek: Vec<u8>,
}

#[derive(Clone)]
enum Aes {
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
}

impl Cipher {
    /// Unwraps the SEK(s) with the KEK = PBKDF2-HMAC-SHA1(passphrase, salt's last 8 bytes,
    /// 2048 iterations, key_len).
    /// A failed RFC 3394 integrity check is [`KmError::BadSecret`] (the listener rejects
    /// with SRT_REJ_BADSECRET).
    pub fn from_key_material(km: &KeyMaterial, passphrase: &str) -> Result<Self, KmError> {
        let mut cipher = Self {
            key_len: km.key_len,
            even: None,
            odd: None,
            kek: None,
        };
        cipher.update(km, passphrase)?;
        Ok(cipher)
    }

    /// Key refresh: the keys a later KM carries replace those of the same parity; the
    /// other is kept. On error nothing changes.
    pub fn update(&mut self, km: &KeyMaterial, passphrase: &str) -> Result<(), KmError> {
        km.check()?;
        if km.key_len != self.key_len {
            return Err(KmError::KeyLengthChanged {
                was: self.key_len,
                now: km.key_len,
            });
        }
        let salt = salt_array(&km.salt)?;
        let kek = self.kek_for(passphrase, &salt, km.key_len)?;
        let mut keys = [0; 2 * MAX_KEY_LEN];
        let keys = keys
            .get_mut(..km.wrapped.len().saturating_sub(KeyMaterial::ICV_LEN))
            .ok_or(KmError::UnsupportedKeyLength(km.key_len))?;
        unwrap_keys(&kek, &km.wrapped, keys)?;
        // Both keys come wrapped together, even first (hcryptCtx_Tx_AsmKM).
        let (first, second) = keys.split_at(km.key_len.min(keys.len()));
        let sek = |key: &[u8]| Sek::new(key, salt);
        match km.key_flags {
            KeyFlags::Even => self.even = Some(sek(first)?),
            KeyFlags::Odd => self.odd = Some(sek(first)?),
            KeyFlags::Both => {
                let (even, odd) = (sek(first)?, sek(second)?);
                self.even = Some(even);
                self.odd = Some(odd);
            }
        }
        Ok(())
    }

    /// Encrypts or decrypts in place (CTR is symmetric) the payload of the data packet
    /// with sequence number `packet_seq` under key `key`.
    pub fn apply(&self, key: KeyIndex, packet_seq: u32, payload: &mut [u8]) -> Result<(), KmError> {
        let sek = match key {
            KeyIndex::Even => self.even.as_ref(),
            KeyIndex::Odd => self.odd.as_ref(),
        }
        .ok_or(KmError::NoKey(key))?;
        if payload.len() > MAX_PAYLOAD {
            return Err(KmError::PayloadTooLong {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        sek.aes
            .xor_keystream(ctr_iv(&sek.salt, packet_seq), payload)
    }

    /// Length of each key in bytes: 16, 24 or 32.
    pub fn key_len(&self) -> usize {
        self.key_len
    }

    /// Whether a KM has provided this key.
    pub fn has_key(&self, key: KeyIndex) -> bool {
        match key {
            KeyIndex::Even => self.even.is_some(),
            KeyIndex::Odd => self.odd.is_some(),
        }
    }

    /// Sender side: a new random even key and the KM message announcing it, as libsrt's
    /// first KMREQ. `random` is [`Cipher::random_len`] bytes from a CSPRNG (the caller
    /// supplies them so the crate stays sans-IO): the salt, then the key. Encrypt with
    /// [`KeyIndex::Even`].
    pub fn generate(
        key_len: usize,
        passphrase: &str,
        random: &[u8],
    ) -> Result<(Self, KeyMaterial), KmError> {
        check_key_len(key_len)?;
        let expected = Self::random_len(key_len);
        let (salt, key) = random
            .split_at_checked(KeyMaterial::SALT_LEN)
            .filter(|(_, key)| key.len() == key_len)
            .ok_or(KmError::RandomLength {
                len: random.len(),
                expected,
            })?;
        let salt = salt_array(salt)?;
        let mut cipher = Self {
            key_len,
            even: Some(Sek::new(key, salt)?),
            odd: None,
            kek: None,
        };
        let km = cipher.announce(passphrase)?;
        Ok((cipher, km))
    }

    /// Sender-side key refresh, first step: `key` (fresh random bytes, the session's
    /// key length) becomes the key of parity `index`, under the current salt. Returns
    /// the KM announcing both keys, wrapped together even first, as libsrt's
    /// `hcryptCtx_Tx_Refresh` does. On error nothing changes.
    pub fn regenerate(
        &mut self,
        index: KeyIndex,
        passphrase: &str,
        key: &[u8],
    ) -> Result<KeyMaterial, KmError> {
        if key.len() != self.key_len {
            return Err(KmError::KeyLengthChanged {
                was: self.key_len,
                now: key.len(),
            });
        }
        let salt = self
            .even
            .as_ref()
            .or(self.odd.as_ref())
            .map(|sek| sek.salt)
            .ok_or(KmError::NoKey(index))?;
        let sek = Sek::new(key, salt)?;
        let previous = match index {
            KeyIndex::Even => self.even.replace(sek),
            KeyIndex::Odd => self.odd.replace(sek),
        };
        let km = self.announce(passphrase);
        if km.is_err() {
            match index {
                KeyIndex::Even => self.even = previous,
                KeyIndex::Odd => self.odd = previous,
            }
        }
        km
    }

    /// Sender-side key refresh, last step: key `index` is decommissioned. Returns the
    /// KM announcing the key that remains.
    pub fn retire(&mut self, index: KeyIndex, passphrase: &str) -> Result<KeyMaterial, KmError> {
        let other = match index {
            KeyIndex::Even => KeyIndex::Odd,
            KeyIndex::Odd => KeyIndex::Even,
        };
        if !self.has_key(other) {
            return Err(KmError::NoKey(other));
        }
        let retired = match index {
            KeyIndex::Even => self.even.take(),
            KeyIndex::Odd => self.odd.take(),
        };
        let km = self.announce(passphrase);
        if km.is_err() {
            match index {
                KeyIndex::Even => self.even = retired,
                KeyIndex::Odd => self.odd = retired,
            }
        }
        km
    }

    /// The KM carrying every key present, wrapped under the KEK of their salt.
    fn announce(&mut self, passphrase: &str) -> Result<KeyMaterial, KmError> {
        let key_len = self.key_len;
        let (key_flags, salt, keys): (_, _, Vec<u8>) = match (&self.even, &self.odd) {
            (Some(even), Some(odd)) => (
                KeyFlags::Both,
                even.salt,
                raw(even, key_len).chain(raw(odd, key_len)).collect(),
            ),
            (Some(even), None) => (KeyFlags::Even, even.salt, raw(even, key_len).collect()),
            (None, Some(odd)) => (KeyFlags::Odd, odd.salt, raw(odd, key_len).collect()),
            (None, None) => return Err(KmError::NoKeys),
        };
        let kek = self.kek_for(passphrase, &salt, key_len)?;
        Ok(KeyMaterial {
            key_flags,
            keki: 0,
            cipher: KeyMaterial::CIPHER_AES_CTR,
            salt: salt.to_vec(),
            key_len,
            wrapped: wrap_keys(&kek, &keys)?,
        })
    }

    /// How many random bytes [`Cipher::generate`] takes for this key length.
    pub fn random_len(key_len: usize) -> usize {
        KeyMaterial::SALT_LEN + key_len
    }

    fn kek_for(
        &mut self,
        passphrase: &str,
        salt: &[u8; KeyMaterial::SALT_LEN],
        key_len: usize,
    ) -> Result<Vec<u8>, KmError> {
        if passphrase.is_empty() {
            return Err(KmError::EmptyPassphrase);
        }
        let (_, pbkdf2_salt) = salt
            .split_last_chunk::<PBKDF2_SALT_LEN>()
            .ok_or(KmError::UnsupportedSaltLength(KeyMaterial::SALT_LEN))?;
        let cached = self.kek.as_ref().filter(|c| {
            c.salt == *pbkdf2_salt && c.kek.len() == key_len && c.passphrase == passphrase
        });
        if let Some(cached) = cached {
            return Ok(cached.kek.clone());
        }
        let mut kek = vec![0; key_len];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
            passphrase.as_bytes(),
            pbkdf2_salt,
            PBKDF2_ROUNDS,
            &mut kek,
        );
        self.kek = Some(CachedKek {
            passphrase: passphrase.to_owned(),
            salt: *pbkdf2_salt,
            kek: kek.clone(),
        });
        Ok(kek)
    }
}

impl std::fmt::Debug for Cipher {
    /// Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cipher")
            .field("key_len", &self.key_len)
            .field("even", &self.even.is_some())
            .field("odd", &self.odd.is_some())
            .finish_non_exhaustive()
    }
}

impl Aes {
    fn new(key: &[u8]) -> Result<Self, KmError> {
        let bad = |_| KmError::UnsupportedKeyLength(key.len());
        match key.len() {
            16 => Aes128::new_from_slice(key).map(Self::Aes128).map_err(bad),
            24 => Aes192::new_from_slice(key).map(Self::Aes192).map_err(bad),
            32 => Aes256::new_from_slice(key).map(Self::Aes256).map_err(bad),
            other => Err(KmError::UnsupportedKeyLength(other)),
        }
    }

    fn xor_keystream(&self, iv: [u8; BLOCK_LEN], payload: &mut [u8]) -> Result<(), KmError> {
        match self {
            Self::Aes128(aes) => ctr_xor(aes.clone(), iv, payload),
            Self::Aes192(aes) => ctr_xor(aes.clone(), iv, payload),
            Self::Aes256(aes) => ctr_xor(aes.clone(), iv, payload),
        }
    }
}

/// The HaiCrypt CTR IV: salt[0..14] XOR (sequence number at bytes 10..14), block
/// counter (bytes 14..16) zero.
fn ctr_iv(salt: &[u8; KeyMaterial::SALT_LEN], packet_seq: u32) -> [u8; BLOCK_LEN] {
    let nonce = u128::from_be_bytes(*salt) & !0xFFFF;
    (nonce ^ u128::from(packet_seq) << 16).to_be_bytes()
}

/// AES-CTR with a 32-bit big-endian counter: for payloads up to [`MAX_PAYLOAD`] the
/// counter never carries out of the low 16 bits, so this is libsrt's 16-bit counter.
fn ctr_xor<C>(aes: C, iv: [u8; BLOCK_LEN], payload: &mut [u8]) -> Result<(), KmError>
where
    C: BlockEncryptMut + BlockCipher + BlockSizeUser<BlockSize = U16>,
{
    let core = CtrCore::<C, Ctr32BE>::inner_iv_init(aes, &iv.into());
    StreamCipherCoreWrapper::from_core(core)
        .try_apply_keystream(payload)
        .map_err(|_| KmError::PayloadTooLong {
            len: payload.len(),
            max: MAX_PAYLOAD,
        })
}

/// The first `len` bytes of a key (the rest of the array is unused).
fn raw(sek: &Sek, len: usize) -> impl Iterator<Item = u8> + '_ {
    sek.key.iter().take(len).copied()
}

fn salt_array(salt: &[u8]) -> Result<[u8; KeyMaterial::SALT_LEN], KmError> {
    salt.try_into()
        .map_err(|_| KmError::UnsupportedSaltLength(salt.len()))
}

/// RFC 3394 unwrap of `wrapped` into `out` (8 bytes shorter). An integrity check
/// failure is [`KmError::BadSecret`], and leaves `out` zeroed.
fn unwrap_keys(kek: &[u8], wrapped: &[u8], out: &mut [u8]) -> Result<(), KmError> {
    let result = match kek.len() {
        16 => kw_unwrap::<Aes128>(kek, wrapped, out),
        24 => kw_unwrap::<Aes192>(kek, wrapped, out),
        32 => kw_unwrap::<Aes256>(kek, wrapped, out),
        other => return Err(KmError::UnsupportedKeyLength(other)),
    };
    result.map_err(|error| {
        out.fill(0);
        match error {
            aes_kw::Error::IntegrityCheckFailed => KmError::BadSecret,
            _ => KmError::LengthMismatch {
                len: wrapped.len(),
                expected: out.len() + KeyMaterial::ICV_LEN,
            },
        }
    })
}

/// RFC 3394 wrap of `keys` (a multiple of 8 bytes).
fn wrap_keys(kek: &[u8], keys: &[u8]) -> Result<Vec<u8>, KmError> {
    let mut out = vec![0; keys.len() + KeyMaterial::ICV_LEN];
    let result = match kek.len() {
        16 => kw_wrap::<Aes128>(kek, keys, &mut out),
        24 => kw_wrap::<Aes192>(kek, keys, &mut out),
        32 => kw_wrap::<Aes256>(kek, keys, &mut out),
        other => return Err(KmError::UnsupportedKeyLength(other)),
    };
    result
        .map(|()| out)
        .map_err(|_| KmError::UnsupportedKeyLength(keys.len()))
}

fn kw_unwrap<A>(kek: &[u8], wrapped: &[u8], out: &mut [u8]) -> Result<(), aes_kw::Error>
where
    A: KeyInit + BlockCipher + BlockSizeUser<BlockSize = U16> + BlockEncrypt + BlockDecrypt,
{
    Kek::<A>::try_from(kek)?.unwrap(wrapped, out)
}

fn kw_wrap<A>(kek: &[u8], keys: &[u8], out: &mut [u8]) -> Result<(), aes_kw::Error>
where
    A: KeyInit + BlockCipher + BlockSizeUser<BlockSize = U16> + BlockEncrypt + BlockDecrypt,
{
    Kek::<A>::try_from(kek)?.wrap(keys, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3394 section 4, all six vectors, through the unwrap path the KM uses (and
    /// the wrap path `generate` uses).
    #[test]
    fn rfc3394_vectors() {
        let kek256 = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
        let data256 = "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F";
        let cases = [
            (32, 32, "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"),
            (48, 32, "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"),
            (64, 32, "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7"),
            (
                48,
                48,
                "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2",
            ),
            (
                64,
                48,
                "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1",
            ),
            (
                64,
                64,
                "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
            ),
        ];
        for (kek_hex, data_hex, wrapped) in cases {
            let (kek, data, wrapped) = (
                hex(&kek256[..kek_hex]),
                hex(&data256[..data_hex]),
                hex(wrapped),
            );
            let mut out = vec![0; data.len()];
            unwrap_keys(&kek, &wrapped, &mut out).unwrap();
            assert_eq!(out, data);
            assert_eq!(wrap_keys(&kek, &data).unwrap(), wrapped);

            let mut tampered = wrapped.clone();
            tampered[0] ^= 1;
            assert_eq!(
                unwrap_keys(&kek, &tampered, &mut out),
                Err(KmError::BadSecret)
            );
            assert!(out.iter().all(|&b| b == 0), "no unverified key left behind");
        }
    }

    /// RFC 6070 PBKDF2-HMAC-SHA1 vectors (but the 16,777,216-round one) through the
    /// same `pbkdf2` + `sha1` instantiation `kek_for` uses.
    #[test]
    fn rfc6070_vectors() {
        let cases: [(&[u8], &[u8], u32, &str); 5] = [
            (
                b"password",
                b"salt",
                1,
                "0c60c80f961f0e71f3a9b524af6012062fe037a6",
            ),
            (
                b"password",
                b"salt",
                2,
                "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957",
            ),
            (
                b"password",
                b"salt",
                4096,
                "4b007901b765489abead49d926f721d065a429c1",
            ),
            (
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038",
            ),
            (
                b"pass\0word",
                b"sa\0lt",
                4096,
                "56fa6aa75548099dcc37d7f03425e0c3",
            ),
        ];
        for (password, salt, rounds, expected) in cases {
            let expected = hex(expected);
            let mut out = vec![0; expected.len()];
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, rounds, &mut out);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn iv_layout() {
        let salt: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            ctr_iv(&salt, 0x0102_0304),
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0B, 0x09, 0x0F, 0x09, 0, 0]
        );
    }

    /// The keystream is AES-ECB of IV, IV + 1, ... counting in bytes 14..16, checked
    /// against the block cipher itself rather than the `ctr` crate.
    #[test]
    fn keystream_counts_in_the_last_two_bytes() {
        use aes::cipher::BlockEncrypt;
        let key = [7u8; 16];
        let salt = [0xA5u8; 16];
        let (cipher, _) = Cipher::generate(16, "passphrase", &[salt, key].concat()).unwrap();
        let mut payload = [0u8; 40];
        cipher
            .apply(KeyIndex::Even, 0x7FFF_FFFF, &mut payload)
            .unwrap();

        let aes = Aes128::new_from_slice(&key).unwrap();
        let iv = ctr_iv(&salt, 0x7FFF_FFFF);
        assert_eq!(&iv[14..], &[0, 0]);
        for (n, chunk) in payload.chunks(16).enumerate() {
            let mut block = iv;
            block[15] = n as u8;
            let mut block = block.into();
            aes.encrypt_block(&mut block);
            assert_eq!(chunk, &block[..chunk.len()]);
        }
    }

    fn random(key_len: usize, seed: u8) -> Vec<u8> {
        (0..Cipher::random_len(key_len))
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn generate_then_receive() {
        for key_len in [16, 24, 32] {
            let (tx, km) =
                Cipher::generate(key_len, "a good passphrase", &random(key_len, 1)).unwrap();
            assert_eq!(km.key_flags, KeyFlags::Even);
            assert_eq!(km.salt, random(key_len, 1)[..16]);
            let rx = Cipher::from_key_material(
                &KeyMaterial::parse(&km.encode()).unwrap(),
                "a good passphrase",
            )
            .unwrap();
            assert_eq!(rx.key_len(), key_len);

            let plain: Vec<u8> = (0..1316u32).map(|i| (i * 7) as u8).collect();
            let mut packet = plain.clone();
            tx.apply(KeyIndex::Even, 12345, &mut packet).unwrap();
            assert_ne!(packet, plain);
            rx.apply(KeyIndex::Even, 12345, &mut packet).unwrap();
            assert_eq!(packet, plain);

            // Another sequence number is another IV.
            tx.apply(KeyIndex::Even, 12346, &mut packet).unwrap();
            rx.apply(KeyIndex::Even, 12345, &mut packet).unwrap();
            assert_ne!(packet, plain);

            assert_eq!(
                rx.apply(KeyIndex::Odd, 1, &mut packet),
                Err(KmError::NoKey(KeyIndex::Odd))
            );
            assert_eq!(
                Cipher::from_key_material(&km, "another passphrase").unwrap_err(),
                KmError::BadSecret
            );
        }
    }

    /// The sending side of a refresh: a new odd key announced with both keys, then
    /// the even key retired with a KM of the odd key alone; a receiver following
    /// the KMs decrypts under each key.
    #[test]
    fn sender_regenerates_and_retires_keys() {
        let pass = "a good passphrase";
        let (mut tx, km) = Cipher::generate(24, pass, &random(24, 3)).unwrap();
        let mut rx = Cipher::from_key_material(&km, pass).unwrap();
        let both = tx.regenerate(KeyIndex::Odd, pass, &[7; 24]).unwrap();
        assert_eq!(both.key_flags, KeyFlags::Both);
        assert_eq!(both.salt, km.salt);
        rx.update(&both, pass).unwrap();
        for key in [KeyIndex::Even, KeyIndex::Odd] {
            let mut payload = *b"a payload of some length";
            tx.apply(key, 7, &mut payload).unwrap();
            rx.apply(key, 7, &mut payload).unwrap();
            assert_eq!(&payload, b"a payload of some length", "{key:?}");
        }
        let odd = tx.retire(KeyIndex::Even, pass).unwrap();
        assert_eq!(odd.key_flags, KeyFlags::Odd);
        assert!(!tx.has_key(KeyIndex::Even));
        rx.update(&odd, pass).unwrap();
        // The last key cannot be retired; a key of another length is refused.
        assert_eq!(
            tx.retire(KeyIndex::Odd, pass),
            Err(KmError::NoKey(KeyIndex::Even))
        );
        assert!(tx.regenerate(KeyIndex::Even, pass, &[1; 16]).is_err());
        assert!(!tx.has_key(KeyIndex::Even));
    }

    /// A refresh KM with both keys wrapped together, even first, as libsrt's
    /// `hcryptCtx_Tx_AsmKM` builds it; then one with the odd key alone.
    #[test]
    fn key_refresh() {
        let pass = "a good passphrase";
        let (tx_even, km) = Cipher::generate(16, pass, &random(16, 1)).unwrap();
        let mut rx = Cipher::from_key_material(&km, pass).unwrap();
        let salt = salt_array(&km.salt).unwrap();
        let kek = rx.kek_for(pass, &salt, 16).unwrap();
        let odd_key = [0x42u8; 16];
        let even_key = &random(16, 1)[16..];

        let both = KeyMaterial {
            key_flags: KeyFlags::Both,
            wrapped: wrap_keys(&kek, &[even_key, &odd_key].concat()).unwrap(),
            ..km.clone()
        };
        rx.update(&both, pass).unwrap();
        let (tx_odd, _) = Cipher::generate(16, pass, &[&km.salt[..], &odd_key].concat()).unwrap();
        for (tx, key) in [(&tx_even, KeyIndex::Even), (&tx_odd, KeyIndex::Odd)] {
            let mut payload = *b"sixteen bytes!!!and some more";
            tx.apply(KeyIndex::Even, 99, &mut payload).unwrap();
            rx.apply(key, 99, &mut payload).unwrap();
            assert_eq!(&payload, b"sixteen bytes!!!and some more");
        }

        // A failed refresh changes nothing.
        let wrong = KeyMaterial {
            key_flags: KeyFlags::Odd,
            wrapped: wrap_keys(&[9; 16], &[0; 16]).unwrap(),
            ..km.clone()
        };
        assert_eq!(rx.update(&wrong, pass), Err(KmError::BadSecret));
        assert_eq!(
            rx.update(&km, "another passphrase"),
            Err(KmError::BadSecret)
        );
        let mut payload = *b"odd key survives";
        tx_odd.apply(KeyIndex::Even, 5, &mut payload).unwrap();
        rx.apply(KeyIndex::Odd, 5, &mut payload).unwrap();
        assert_eq!(&payload, b"odd key survives");

        let (_, km32) = Cipher::generate(32, pass, &random(32, 2)).unwrap();
        assert_eq!(
            rx.update(&km32, pass),
            Err(KmError::KeyLengthChanged { was: 16, now: 32 })
        );
    }

    #[test]
    fn rejections() {
        let pass = "a good passphrase";
        assert_eq!(
            Cipher::generate(16, pass, &random(16, 0)[1..]).unwrap_err(),
            KmError::RandomLength {
                len: 31,
                expected: 32
            }
        );
        assert_eq!(
            Cipher::generate(20, pass, &[0; 36]).unwrap_err(),
            KmError::UnsupportedKeyLength(20)
        );
        assert_eq!(
            Cipher::generate(16, "", &random(16, 0)).unwrap_err(),
            KmError::EmptyPassphrase
        );
        let (tx, km) = Cipher::generate(16, pass, &random(16, 0)).unwrap();
        assert_eq!(
            Cipher::from_key_material(&km, "").unwrap_err(),
            KmError::EmptyPassphrase
        );
        let gcm = KeyMaterial {
            cipher: KeyMaterial::CIPHER_AES_GCM,
            ..km.clone()
        };
        assert_eq!(
            Cipher::from_key_material(&gcm, pass).unwrap_err(),
            KmError::UnsupportedCipher(4)
        );
        let short = KeyMaterial {
            wrapped: km.wrapped[..16].to_vec(),
            ..km
        };
        assert_eq!(
            Cipher::from_key_material(&short, pass).unwrap_err(),
            KmError::LengthMismatch {
                len: 48,
                expected: 56
            }
        );
        let mut big = vec![0; MAX_PAYLOAD + 1];
        assert_eq!(
            tx.apply(KeyIndex::Even, 0, &mut big),
            Err(KmError::PayloadTooLong {
                len: MAX_PAYLOAD + 1,
                max: MAX_PAYLOAD
            })
        );
        tx.apply(KeyIndex::Even, 0, &mut big[..MAX_PAYLOAD])
            .unwrap();
    }

    /// `generate` given libsrt's own salt and key writes libsrt's KM byte for byte:
    /// the KEK derivation, the wrap and the layout of the sending side match. (The key
    /// comes from unwrapping the captured KM; `tests/srt_libsrt_capture.rs` proves the
    /// receiving side against libsrt's data packets.)
    #[test]
    fn generate_reproduces_libsrt_km() {
        let captures: [&[u8]; 3] = [
            include_bytes!("../../tests/data/srt/aes128/kmreq.bin"),
            include_bytes!("../../tests/data/srt/aes192/kmreq.bin"),
            include_bytes!("../../tests/data/srt/aes256/kmreq.bin"),
        ];
        let pass = "manifold-srt-capture";
        for captured in captures {
            let km = KeyMaterial::parse(captured).unwrap();
            let mut rx = Cipher::from_key_material(&km, pass).unwrap();
            let kek = rx
                .kek_for(pass, &salt_array(&km.salt).unwrap(), km.key_len)
                .unwrap();
            let mut sek = vec![0; km.key_len];
            unwrap_keys(&kek, &km.wrapped, &mut sek).unwrap();

            let random = [&km.salt[..], &sek].concat();
            let (_, ours) = Cipher::generate(km.key_len, pass, &random).unwrap();
            assert_eq!(ours.encode(), captured);
        }
    }

    #[test]
    fn key_index_bits() {
        assert_eq!(KeyIndex::from_kk(0), None);
        assert_eq!(KeyIndex::from_kk(1), Some(KeyIndex::Even));
        assert_eq!(KeyIndex::from_kk(2), Some(KeyIndex::Odd));
        assert_eq!(KeyIndex::from_kk(3), None);
        assert_eq!(KeyIndex::Odd.kk(), 2);
    }

    #[test]
    fn debug_hides_keys() {
        let (tx, _) = Cipher::generate(16, "passphrase", &random(16, 0)).unwrap();
        assert_eq!(
            format!("{tx:?}"),
            "Cipher { key_len: 16, even: true, odd: false, .. }"
        );
    }
}
