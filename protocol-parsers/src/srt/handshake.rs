//! The handshake control information field and its HSv5 extensions
//! (draft-sharabayko-srt 3.2.1), as libsrt puts them on the wire.

use bytes::{BufMut, Bytes, BytesMut};

use super::SeqNo;
use super::error::SrtError;
use super::packet::Words;

/// The fixed part of the handshake CIF.
pub const CIF_LEN: usize = 48;
/// The Extension Field of a listener's induction response.
pub const SRT_MAGIC: u16 = 0x4A17;
/// Extensions accepted in one handshake (libsrt sends at most five).
pub const MAX_EXTENSIONS: usize = 16;
/// Longest stream id (`MAX_SID_LENGTH` in libsrt).
pub const MAX_STREAM_ID: usize = 512;

/// Extension Field bits of a conclusion handshake.
pub mod ext_flag {
    pub const HSREQ: u16 = 0x1;
    pub const KMREQ: u16 = 0x2;
    pub const CONFIG: u16 = 0x4;
}

/// SRT flags of HSREQ/HSRSP.
pub mod srt_flag {
    pub const TSBPD_SND: u32 = 0x01;
    pub const TSBPD_RCV: u32 = 0x02;
    pub const CRYPT: u32 = 0x04;
    pub const TLPKTDROP: u32 = 0x08;
    pub const PERIODIC_NAK: u32 = 0x10;
    pub const REXMIT_FLAG: u32 = 0x20;
    pub const STREAM: u32 = 0x40;
    pub const FILTER_CAP: u32 = 0x80;
}

/// The Handshake Type field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    Induction,
    Conclusion,
    Waveahand,
    Agreement,
    Done,
    /// 1000 + an `SRT_REJ_*` reason or an access-control code (1400s).
    Rejection(u32),
    Other(u32),
}

impl HandshakeKind {
    pub fn from_wire(value: u32) -> Self {
        match value {
            1 => Self::Induction,
            0xFFFF_FFFF => Self::Conclusion,
            0 => Self::Waveahand,
            0xFFFF_FFFE => Self::Agreement,
            0xFFFF_FFFD => Self::Done,
            v if (1001..0x8000_0000).contains(&v) => Self::Rejection(v - 1000),
            v => Self::Other(v),
        }
    }

    pub fn to_wire(self) -> u32 {
        match self {
            Self::Induction => 1,
            Self::Conclusion => 0xFFFF_FFFF,
            Self::Waveahand => 0,
            Self::Agreement => 0xFFFF_FFFE,
            Self::Done => 0xFFFF_FFFD,
            Self::Rejection(reason) => 1000 + reason,
            Self::Other(v) => v,
        }
    }
}

/// Why a listener refuses a caller: `SRT_REJ_*` and the access-control codes of
/// libsrt's `access_control.h` (which callers report by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    Rogue,
    Resource,
    Backlog,
    Close,
    Version,
    BadSecret,
    Unsecure,
    MessageApi,
    Congestion,
    Filter,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    BadMode,
    Conflict,
}

impl RejectReason {
    /// The code carried as Handshake Type minus 1000.
    pub fn code(self) -> u32 {
        match self {
            Self::Resource => 3,
            Self::Rogue => 4,
            Self::Backlog => 5,
            Self::Close => 7,
            Self::Version => 8,
            Self::BadSecret => 10,
            Self::Unsecure => 11,
            Self::MessageApi => 12,
            Self::Congestion => 13,
            Self::Filter => 14,
            Self::BadRequest => 1400,
            Self::Unauthorized => 1401,
            Self::Forbidden => 1403,
            Self::NotFound => 1404,
            Self::BadMode => 1405,
            Self::Conflict => 1409,
        }
    }
}

/// HSREQ/HSRSP contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrtOptions {
    /// major * 0x10000 + minor * 0x100 + patch.
    pub version: u32,
    pub flags: u32,
    /// The latency the sender of this extension wants when it receives.
    pub receiver_delay_ms: u16,
    /// The latency it proposes for its peer's receiving.
    pub sender_delay_ms: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    HsReq(SrtOptions),
    HsRsp(SrtOptions),
    /// A Key Material message, bytes in their natural order.
    KmReq(Bytes),
    KmRsp(Bytes),
    /// The stream id as the caller wrote it (libsrt reverses each 32-bit word on
    /// the wire; this is the unreversed string, NUL padding removed).
    StreamId(Vec<u8>),
    Congestion(Vec<u8>),
    Filter(Vec<u8>),
    Other {
        kind: u16,
        data: Bytes,
    },
}

mod ext_kind {
    pub const HSREQ: u16 = 1;
    pub const HSRSP: u16 = 2;
    pub const KMREQ: u16 = 3;
    pub const KMRSP: u16 = 4;
    pub const SID: u16 = 5;
    pub const CONGESTION: u16 = 6;
    pub const FILTER: u16 = 7;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub version: u32,
    /// Advertised key length: 0 none, 2/3/4 for AES-128/192/256.
    pub encryption: u16,
    pub extension_field: u16,
    pub isn: SeqNo,
    pub mss: u32,
    pub flow_window: u32,
    pub kind: HandshakeKind,
    pub socket_id: u32,
    pub cookie: u32,
    /// Four words as on the wire; see [`peer_ip_words`].
    pub peer_ip: [u32; 4],
    pub extensions: Vec<Extension>,
}

/// Encodes an address the way libsrt does: each 4-byte group of the network-order
/// address read as a little-endian word.
pub fn peer_ip_words(ip: std::net::IpAddr) -> [u32; 4] {
    let mut words = [0u32; 4];
    let bytes: Vec<u8> = match ip {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    for (slot, chunk) in words.iter_mut().zip(bytes.chunks(4)) {
        let mut four = [0u8; 4];
        four.copy_from_slice(chunk.get(..4).unwrap_or(&[0; 4]));
        *slot = u32::from_le_bytes(four);
    }
    words
}

impl Handshake {
    pub fn parse(cif: &[u8]) -> Result<Self, SrtError> {
        let mut words = Words::new(cif, "handshake");
        if cif.len() < CIF_LEN {
            return Err(SrtError::ShortField {
                what: "handshake",
                need: CIF_LEN,
                have: cif.len(),
            });
        }
        let version = words.next()?;
        let type_word = words.next()?;
        let isn = SeqNo::new(words.next()?);
        let mss = words.next()?;
        let flow_window = words.next()?;
        let kind = HandshakeKind::from_wire(words.next()?);
        let socket_id = words.next()?;
        let cookie = words.next()?;
        let peer_ip = [words.next()?, words.next()?, words.next()?, words.next()?];
        let mut extensions = Vec::new();
        while words.remaining() >= 4 {
            if extensions.len() >= MAX_EXTENSIONS {
                return Err(SrtError::TooManyExtensions(MAX_EXTENSIONS));
            }
            let header = words.next()?;
            let ext = (header >> 16) as u16;
            let len_words = (header & 0xFFFF) as u16;
            let len = usize::from(len_words) * 4;
            if len > words.remaining() {
                return Err(SrtError::BadExtension {
                    kind: ext,
                    words: len_words,
                    left: words.remaining(),
                });
            }
            let content = words.take(len)?;
            extensions.push(parse_extension(ext, content)?);
        }
        Ok(Self {
            version,
            encryption: (type_word >> 16) as u16,
            extension_field: (type_word & 0xFFFF) as u16,
            isn,
            mss,
            flow_window,
            kind,
            socket_id,
            cookie,
            peer_ip,
            extensions,
        })
    }

    pub fn encode_into(&self, out: &mut BytesMut) {
        out.put_u32(self.version);
        out.put_u32(u32::from(self.encryption) << 16 | u32::from(self.extension_field));
        out.put_u32(self.isn.value());
        out.put_u32(self.mss);
        out.put_u32(self.flow_window);
        out.put_u32(self.kind.to_wire());
        out.put_u32(self.socket_id);
        out.put_u32(self.cookie);
        for w in self.peer_ip {
            out.put_u32(w);
        }
        for ext in &self.extensions {
            encode_extension(ext, out);
        }
    }

    pub fn options(&self) -> Option<SrtOptions> {
        self.extensions.iter().find_map(|e| match e {
            Extension::HsReq(o) | Extension::HsRsp(o) => Some(*o),
            _ => None,
        })
    }

    pub fn stream_id(&self) -> Option<&[u8]> {
        self.extensions.iter().find_map(|e| match e {
            Extension::StreamId(s) => Some(s.as_slice()),
            _ => None,
        })
    }

    pub fn key_material(&self) -> Option<&Bytes> {
        self.extensions.iter().find_map(|e| match e {
            Extension::KmReq(km) | Extension::KmRsp(km) => Some(km),
            _ => None,
        })
    }
}

fn parse_extension(kind: u16, content: &[u8]) -> Result<Extension, SrtError> {
    Ok(match kind {
        ext_kind::HSREQ | ext_kind::HSRSP => {
            let mut words = Words::new(content, "HSREQ");
            let version = words.next()?;
            let flags = words.next()?;
            let delays = words.next()?;
            let options = SrtOptions {
                version,
                flags,
                receiver_delay_ms: (delays >> 16) as u16,
                sender_delay_ms: (delays & 0xFFFF) as u16,
            };
            if kind == ext_kind::HSREQ {
                Extension::HsReq(options)
            } else {
                Extension::HsRsp(options)
            }
        }
        ext_kind::KMREQ => Extension::KmReq(Bytes::copy_from_slice(content)),
        ext_kind::KMRSP => Extension::KmRsp(Bytes::copy_from_slice(content)),
        ext_kind::SID => {
            let sid = unreverse_string(content);
            if sid.is_empty() || sid.len() > MAX_STREAM_ID {
                return Err(SrtError::BadStreamIdLength(sid.len()));
            }
            Extension::StreamId(sid)
        }
        ext_kind::CONGESTION => Extension::Congestion(unreverse_string(content)),
        ext_kind::FILTER => Extension::Filter(unreverse_string(content)),
        other => Extension::Other {
            kind: other,
            data: Bytes::copy_from_slice(content),
        },
    })
}

/// libsrt stores string extensions as little-endian words, then sends every word
/// big-endian: each group of four bytes arrives reversed.
fn unreverse_string(content: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = content
        .chunks(4)
        .flat_map(|c| c.iter().rev().copied())
        .collect();
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

fn reverse_string(value: &[u8], out: &mut BytesMut) {
    for chunk in value.chunks(4) {
        let mut four = [0u8; 4];
        for (slot, byte) in four.iter_mut().zip(chunk) {
            *slot = *byte;
        }
        four.reverse();
        out.put_slice(&four);
    }
}

fn encode_extension(ext: &Extension, out: &mut BytesMut) {
    let header = |out: &mut BytesMut, kind: u16, len: usize| {
        out.put_u16(kind);
        out.put_u16(len.div_ceil(4) as u16);
    };
    match ext {
        Extension::HsReq(o) | Extension::HsRsp(o) => {
            let kind = if matches!(ext, Extension::HsReq(_)) {
                ext_kind::HSREQ
            } else {
                ext_kind::HSRSP
            };
            header(out, kind, 12);
            out.put_u32(o.version);
            out.put_u32(o.flags);
            out.put_u16(o.receiver_delay_ms);
            out.put_u16(o.sender_delay_ms);
        }
        Extension::KmReq(km) | Extension::KmRsp(km) => {
            let kind = if matches!(ext, Extension::KmReq(_)) {
                ext_kind::KMREQ
            } else {
                ext_kind::KMRSP
            };
            header(out, kind, km.len());
            out.put_slice(km);
            out.put_bytes(0, km.len().next_multiple_of(4) - km.len());
        }
        Extension::StreamId(s) | Extension::Congestion(s) | Extension::Filter(s) => {
            let kind = match ext {
                Extension::StreamId(_) => ext_kind::SID,
                Extension::Congestion(_) => ext_kind::CONGESTION,
                _ => ext_kind::FILTER,
            };
            header(out, kind, s.len());
            reverse_string(s, out);
        }
        Extension::Other { kind, data } => {
            header(out, *kind, data.len());
            out.put_slice(data);
            out.put_bytes(0, data.len().next_multiple_of(4) - data.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_words_are_reversed_on_the_wire() {
        let mut out = BytesMut::new();
        encode_extension(&Extension::StreamId(b"abcdefg".to_vec()), &mut out);
        assert_eq!(
            &out[..],
            &[0, 5, 0, 2, b'd', b'c', b'b', b'a', 0, b'g', b'f', b'e']
        );
        assert_eq!(
            parse_extension(5, &out[4..]),
            Ok(Extension::StreamId(b"abcdefg".to_vec()))
        );
    }

    #[test]
    fn handshake_round_trips() {
        let hs = Handshake {
            version: 5,
            encryption: 2,
            extension_field: ext_flag::HSREQ | ext_flag::KMREQ | ext_flag::CONFIG,
            isn: SeqNo::new(12345),
            mss: 1500,
            flow_window: 8192,
            kind: HandshakeKind::Conclusion,
            socket_id: 0x1234_5678,
            cookie: 0xABCD,
            peer_ip: peer_ip_words("192.168.1.10".parse().expect("ip")),
            extensions: vec![
                Extension::HsReq(SrtOptions {
                    version: 0x010501,
                    flags: 0xBF,
                    receiver_delay_ms: 120,
                    sender_delay_ms: 0,
                }),
                Extension::StreamId(b"#!::r=live/K,m=publish".to_vec()),
                Extension::KmReq(Bytes::from_static(&[0x12, 0x20, 0x29, 0x01, 0, 0, 0, 0])),
            ],
        };
        assert_eq!(hs.peer_ip[0], 0x0A01_A8C0);
        let mut out = BytesMut::new();
        hs.encode_into(&mut out);
        assert_eq!(Handshake::parse(&out), Ok(hs));
    }

    #[test]
    fn rejection_codes_are_offset_by_1000() {
        assert_eq!(
            HandshakeKind::Rejection(RejectReason::BadSecret.code()).to_wire(),
            1010
        );
        assert_eq!(
            HandshakeKind::from_wire(2403),
            HandshakeKind::Rejection(1403)
        );
    }
}
