#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
//! SRT encryption against libsrt 1.5.1: sessions between two `srt-live-transmit`
//! processes, recorded by `tools/srt_crypto_capture.py` (provenance in
//! `tests/data/srt/README.md`), replayed as a receiver would see them:
//! - the KMREQ is taken out of the caller's conclusion handshake, parses, re-encodes to
//!   the same bytes, and is what the listener echoed in its KMRSP;
//! - the passphrase unwraps its key, another passphrase fails with `BadSecret`;
//! - every recorded data packet decrypts to the chunk of the known plaintext that
//!   libsrt sent in it, across the sender's key refreshes (in-stream KMREQs with both
//!   keys, switches even -> odd -> even -> odd -> even).

use std::path::PathBuf;

use protocol_parsers::srt::{Cipher, KeyFlags, KeyIndex, KeyMaterial, KmError};

const PASSPHRASE: &str = "manifold-srt-capture";
/// `srt-live-transmit -chunk 188`: data packet k carries plaintext bytes 188k..188(k+1).
const CHUNK: usize = 188;
const HEADER_LEN: usize = 16;
const CIF_LEN: usize = 48;
const EXT_KMREQ: u16 = 3;
const EXT_KMRSP: u16 = 4;
/// Control packet of type 0x7FFF (UMSG_EXT), subtype 3 (SRT_CMD_KMREQ).
const KMREQ_CONTROL: u32 = 0xFFFF_0003;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/srt")
}

fn read(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// The content of handshake extension `ext_type`: extensions follow the 48-byte CIF as
/// (type u16, length in 32-bit words u16, content).
fn extension(handshake: &[u8], ext_type: u16) -> &[u8] {
    assert_eq!(
        u32_at(handshake, 0),
        0x8000_0000,
        "a handshake control packet"
    );
    let mut at = HEADER_LEN + CIF_LEN;
    while at + 4 <= handshake.len() {
        let (t, words) = (
            u16_at(handshake, at),
            usize::from(u16_at(handshake, at + 2)),
        );
        let content = &handshake[at + 4..at + 4 + 4 * words];
        if t == ext_type {
            return content;
        }
        at += 4 + 4 * words;
    }
    panic!("no extension {ext_type}");
}

/// The records of a fixture file: big-endian u16 length, then the UDP payload.
fn records(mut b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let len = usize::from(u16_at(b, 0));
        out.push(&b[2..2 + len]);
        b = &b[2 + len..];
    }
    out
}

fn replay(folder: &str, key_len: usize) {
    let plaintext = read("plaintext.bin");
    let request = read(&format!("{folder}/hs_conclusion_req.bin"));
    let response = read(&format!("{folder}/hs_conclusion_rsp.bin"));
    let kmreq = read(&format!("{folder}/kmreq.bin"));

    // CIF: version, encryption field (2/3/4 = AES-128/192/256), extension field, ISN.
    let cif = &request[HEADER_LEN..];
    assert_eq!(usize::from(u16_at(cif, 4)), key_len / 8);
    let isn = u32_at(cif, 8);

    // libsrt puts the KM message into the extension byte for byte (no per-word swap):
    // it starts 0x12 (version 1, PT 2), 0x2029 ('HAI'), then KK.
    assert_eq!(extension(&request, EXT_KMREQ), kmreq);
    assert_eq!(kmreq[..4], [0x12, 0x20, 0x29, 0x01]);
    assert_eq!(
        extension(&response, EXT_KMRSP),
        kmreq,
        "KMRSP echoes the KM"
    );

    let km = KeyMaterial::parse(&kmreq).unwrap();
    assert_eq!(km.key_flags, KeyFlags::Even);
    assert_eq!(km.key_len, key_len);
    assert_eq!(km.keki, 0);
    assert_eq!(km.encode(), kmreq);
    assert_eq!(
        Cipher::from_key_material(&km, "manifold-srt-captur3").unwrap_err(),
        KmError::BadSecret
    );
    let mut cipher = Cipher::from_key_material(&km, PASSPHRASE).unwrap();
    assert_eq!(cipher.key_len(), key_len);

    let stream = read(&format!("{folder}/stream.bin"));
    let (mut refreshes, mut keys_used) = (0, Vec::new());
    for packet in records(&stream) {
        if u32_at(packet, 0) == KMREQ_CONTROL {
            let bytes = &packet[HEADER_LEN..];
            let refresh = KeyMaterial::parse(bytes).unwrap();
            assert_eq!(refresh.encode(), bytes);
            assert_eq!(
                refresh.key_flags,
                KeyFlags::Both,
                "libsrt refreshes with both keys"
            );
            assert_eq!(refresh.salt, km.salt, "a refresh keeps the salt");
            cipher.update(&refresh, PASSPHRASE).unwrap();
            refreshes += 1;
            continue;
        }
        assert_eq!(packet[0] & 0x80, 0, "a data packet");
        let seq = u32_at(packet, 0) & 0x7FFF_FFFF;
        let key = KeyIndex::from_kk(((u32_at(packet, 4) >> 27) & 0b11) as u8).unwrap();
        let offset = (seq.wrapping_sub(isn) as usize) * CHUNK;
        let expected = &plaintext[offset..offset + CHUNK];
        let mut payload = packet[HEADER_LEN..].to_vec();
        assert_ne!(payload, expected, "seq {seq} is encrypted");
        cipher.apply(key, seq, &mut payload).unwrap();
        assert_eq!(
            payload,
            expected,
            "seq {seq} (packet {}) under {key:?}",
            seq - isn
        );
        if keys_used.last() != Some(&key) {
            keys_used.push(key);
        }
    }
    assert!(refreshes >= 2, "{refreshes} refreshes");
    use KeyIndex::{Even, Odd};
    assert_eq!(
        keys_used[..3],
        [Even, Odd, Even],
        "the capture covers two key switches"
    );
}

#[test]
fn libsrt_aes128() {
    replay("aes128", 16);
}

#[test]
fn libsrt_aes192() {
    replay("aes192", 24);
}

#[test]
fn libsrt_aes256() {
    replay("aes256", 32);
}
