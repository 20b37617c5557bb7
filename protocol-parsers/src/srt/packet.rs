//! The SRT packet codec (draft-sharabayko-srt section 3): data packets and every
//! control packet type. Every field is a big-endian 32-bit word.

use bytes::{BufMut, Bytes, BytesMut};

use super::SeqNo;
use super::error::SrtError;
use super::handshake::Handshake;

/// Every SRT packet starts with four 32-bit words.
pub const HEADER_LEN: usize = 16;
/// The largest datagram accepted: an MSS of 1500 less the IPv4 and UDP headers, with
/// room for jumbo-frame peers. Anything larger is not SRT.
pub const MAX_DATAGRAM: usize = 9000;
/// Loss report entries accepted in one NAK (a 1500-byte packet holds at most 366).
pub const MAX_LOSS_ENTRIES: usize = 512;

/// Where a data packet sits in its message (the PP field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Middle = 0,
    Last = 1,
    First = 2,
    /// The whole message in one packet: always so in live mode.
    Solo = 3,
}

/// The KK field: which key encrypted the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    Clear = 0,
    Even = 1,
    Odd = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPacket {
    pub seq: SeqNo,
    pub position: Position,
    pub in_order: bool,
    pub key: KeyField,
    pub retransmitted: bool,
    /// 26-bit message number.
    pub message: u32,
    /// Microseconds since the sender's connection start (wraps every 71.6 minutes).
    pub timestamp: u32,
    pub dest: u32,
    pub payload: Bytes,
}

impl DataPacket {
    /// The 16-byte header; the payload travels as a second piece, uncopied.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let word1 = (self.position as u32) << 30
            | u32::from(self.in_order) << 29
            | (self.key as u32) << 27
            | u32::from(self.retransmitted) << 26
            | (self.message & 0x03FF_FFFF);
        for (i, word) in [self.seq.value(), word1, self.timestamp, self.dest]
            .into_iter()
            .enumerate()
        {
            if let Some(slot) = out.get_mut(i * 4..i * 4 + 4) {
                slot.copy_from_slice(&word.to_be_bytes());
            }
        }
        out
    }
}

/// The receiver's acknowledgement (control type 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The ACK number the sender echoes in its ACKACK; 0 for a light ACK.
    pub number: u32,
    /// The first sequence number not yet received in order.
    pub last: SeqNo,
    /// Absent in a light ACK (a bare sequence number).
    pub info: Option<AckInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckInfo {
    pub rtt_us: u32,
    pub rtt_var_us: u32,
    /// Free space in the receive buffer, in packets.
    pub buffer_packets: u32,
    pub packets_per_second: u32,
    pub capacity_packets: u32,
    pub bytes_per_second: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Handshake(Handshake),
    Keepalive,
    Ack(Ack),
    /// Lost packets as inclusive ranges (a single loss is `(n, n)`).
    Nak(Vec<(SeqNo, SeqNo)>),
    CongestionWarning,
    Shutdown,
    /// Echoes the ACK number of the ACK it answers.
    AckAck(u32),
    /// The sender gave up on message `message`, packets `first..=last`.
    DropRequest {
        message: u32,
        first: SeqNo,
        last: SeqNo,
    },
    PeerError(u32),
    /// Control type 0x7FFF: SRT extended messages (in-stream KMREQ/KMRSP, HSv4
    /// HSREQ/HSRSP), kept raw.
    User {
        subtype: u16,
        info: u32,
        payload: Bytes,
    },
    /// A control type this codec does not know, kept so it can be counted.
    Unknown {
        kind: u16,
        subtype: u16,
    },
}

mod kind {
    pub const HANDSHAKE: u16 = 0;
    pub const KEEPALIVE: u16 = 1;
    pub const ACK: u16 = 2;
    pub const NAK: u16 = 3;
    pub const CONGESTION: u16 = 4;
    pub const SHUTDOWN: u16 = 5;
    pub const ACKACK: u16 = 6;
    pub const DROP_REQUEST: u16 = 7;
    pub const PEER_ERROR: u16 = 8;
    pub const USER: u16 = 0x7FFF;
}

/// Subtypes of the user-defined control type used by SRT.
pub mod user_subtype {
    pub const KMREQ: u16 = 3;
    pub const KMRSP: u16 = 4;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket {
    pub timestamp: u32,
    pub dest: u32,
    pub control: Control,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Data(DataPacket),
    Control(ControlPacket),
}

/// The destination socket id of a datagram, read without parsing the rest: what a
/// shared UDP socket demultiplexes on.
pub fn destination(datagram: &[u8]) -> Option<u32> {
    word(datagram, 3)
}

fn word(data: &[u8], index: usize) -> Option<u32> {
    let bytes = data.get(index * 4..index * 4 + 4)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Big-endian 32-bit words of a control information field.
pub(super) struct Words<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Words<'a> {
    pub(super) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, what }
    }

    pub(super) fn next(&mut self) -> Result<u32, SrtError> {
        let value = word(self.data, 0).ok_or(SrtError::ShortField {
            what: self.what,
            need: 4,
            have: self.data.len(),
        })?;
        self.data = self.data.get(4..).unwrap_or_default();
        Ok(value)
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len()
    }

    pub(super) fn take(&mut self, len: usize) -> Result<&'a [u8], SrtError> {
        let taken = self.data.get(..len).ok_or(SrtError::ShortField {
            what: self.what,
            need: len,
            have: self.data.len(),
        })?;
        self.data = self.data.get(len..).unwrap_or_default();
        Ok(taken)
    }
}

impl Packet {
    /// Parses one datagram. Data payloads are zero-copy slices of `datagram`.
    pub fn parse(datagram: Bytes) -> Result<Self, SrtError> {
        if datagram.len() < HEADER_LEN {
            return Err(SrtError::Truncated(datagram.len()));
        }
        if datagram.len() > MAX_DATAGRAM {
            return Err(SrtError::TooLarge(datagram.len()));
        }
        let mut header = Words::new(&datagram, "header");
        let word0 = header.next()?;
        let word1 = header.next()?;
        let timestamp = header.next()?;
        let dest = header.next()?;
        if word0 & 0x8000_0000 == 0 {
            let position = match word1 >> 30 {
                0 => Position::Middle,
                1 => Position::Last,
                2 => Position::First,
                _ => Position::Solo,
            };
            let key = match (word1 >> 27) & 3 {
                0 => KeyField::Clear,
                1 => KeyField::Even,
                2 => KeyField::Odd,
                // Both bits set is only meaningful in KM messages: treat as undecryptable.
                _ => KeyField::Odd,
            };
            return Ok(Self::Data(DataPacket {
                seq: SeqNo::new(word0),
                position,
                in_order: word1 & (1 << 29) != 0,
                key,
                retransmitted: word1 & (1 << 26) != 0,
                message: word1 & 0x03FF_FFFF,
                timestamp,
                dest,
                payload: datagram.slice(HEADER_LEN..),
            }));
        }
        let control_kind = ((word0 >> 16) & 0x7FFF) as u16;
        let subtype = (word0 & 0xFFFF) as u16;
        let cif = datagram.slice(HEADER_LEN..);
        let control = match control_kind {
            kind::HANDSHAKE => Control::Handshake(Handshake::parse(&cif)?),
            kind::KEEPALIVE => Control::Keepalive,
            kind::ACK => Control::Ack(parse_ack(word1, &cif)?),
            kind::NAK => Control::Nak(parse_loss_list(&cif)?),
            kind::CONGESTION => Control::CongestionWarning,
            kind::SHUTDOWN => Control::Shutdown,
            kind::ACKACK => Control::AckAck(word1),
            kind::DROP_REQUEST => {
                let mut words = Words::new(&cif, "drop request");
                Control::DropRequest {
                    message: word1,
                    first: SeqNo::new(words.next()?),
                    last: SeqNo::new(words.next()?),
                }
            }
            kind::PEER_ERROR => Control::PeerError(word1),
            kind::USER => Control::User {
                subtype,
                info: word1,
                payload: cif,
            },
            other => Control::Unknown {
                kind: other,
                subtype,
            },
        };
        Ok(Self::Control(ControlPacket {
            timestamp,
            dest,
            control,
        }))
    }
}

fn parse_ack(number: u32, cif: &[u8]) -> Result<Ack, SrtError> {
    let mut words = Words::new(cif, "ACK");
    let last = SeqNo::new(words.next()?);
    // A light ACK is the sequence number alone; a small ACK stops after the rates.
    let info = if words.remaining() >= 12 {
        Some(AckInfo {
            rtt_us: words.next()?,
            rtt_var_us: words.next()?,
            buffer_packets: words.next()?,
            packets_per_second: words.next().unwrap_or(0),
            capacity_packets: words.next().unwrap_or(0),
            bytes_per_second: words.next().unwrap_or(0),
        })
    } else {
        None
    };
    Ok(Ack { number, last, info })
}

fn parse_loss_list(cif: &[u8]) -> Result<Vec<(SeqNo, SeqNo)>, SrtError> {
    let mut words = Words::new(cif, "loss report");
    let mut ranges = Vec::new();
    while words.remaining() >= 4 {
        if ranges.len() >= MAX_LOSS_ENTRIES {
            return Err(SrtError::TooManyLossEntries(MAX_LOSS_ENTRIES));
        }
        let first = words.next()?;
        if first & 0x8000_0000 != 0 {
            let (from, to) = (SeqNo::new(first), SeqNo::new(words.next()?));
            if to.is_before(from) {
                return Err(SrtError::BadLossRange);
            }
            ranges.push((from, to));
        } else {
            ranges.push((SeqNo::new(first), SeqNo::new(first)));
        }
    }
    Ok(ranges)
}

impl ControlPacket {
    /// The whole datagram.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(HEADER_LEN + 64);
        let (control_kind, subtype, info) = match &self.control {
            Control::Handshake(_) => (kind::HANDSHAKE, 0, 0),
            Control::Keepalive => (kind::KEEPALIVE, 0, 0),
            Control::Ack(ack) => (kind::ACK, 0, ack.number),
            Control::Nak(_) => (kind::NAK, 0, 0),
            Control::CongestionWarning => (kind::CONGESTION, 0, 0),
            Control::Shutdown => (kind::SHUTDOWN, 0, 0),
            Control::AckAck(number) => (kind::ACKACK, 0, *number),
            Control::DropRequest { message, .. } => (kind::DROP_REQUEST, 0, *message),
            Control::PeerError(code) => (kind::PEER_ERROR, 0, *code),
            Control::User { subtype, info, .. } => (kind::USER, *subtype, *info),
            Control::Unknown { kind, subtype } => (*kind, *subtype, 0),
        };
        out.put_u32(0x8000_0000 | u32::from(control_kind) << 16 | u32::from(subtype));
        out.put_u32(info);
        out.put_u32(self.timestamp);
        out.put_u32(self.dest);
        match &self.control {
            Control::Handshake(hs) => hs.encode_into(&mut out),
            Control::Ack(ack) => {
                out.put_u32(ack.last.value());
                if let Some(i) = ack.info {
                    for w in [
                        i.rtt_us,
                        i.rtt_var_us,
                        i.buffer_packets,
                        i.packets_per_second,
                        i.capacity_packets,
                        i.bytes_per_second,
                    ] {
                        out.put_u32(w);
                    }
                }
            }
            Control::Nak(ranges) => {
                for (from, to) in ranges {
                    if from == to {
                        out.put_u32(from.value());
                    } else {
                        out.put_u32(from.value() | 0x8000_0000);
                        out.put_u32(to.value());
                    }
                }
            }
            Control::DropRequest { first, last, .. } => {
                out.put_u32(first.value());
                out.put_u32(last.value());
            }
            Control::User { payload, .. } => out.put_slice(payload),
            // libsrt sends one zero word with keepalive, shutdown and ACKACK.
            Control::Keepalive | Control::Shutdown | Control::AckAck(_) => out.put_u32(0),
            Control::CongestionWarning | Control::PeerError(_) | Control::Unknown { .. } => {}
        }
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(control: Control) {
        let packet = ControlPacket {
            timestamp: 123_456,
            dest: 0xDEAD_BEEF,
            control,
        };
        let parsed = Packet::parse(packet.encode()).expect("parses");
        assert_eq!(parsed, Packet::Control(packet));
    }

    #[test]
    fn control_packets_round_trip() {
        roundtrip(Control::Keepalive);
        roundtrip(Control::Shutdown);
        roundtrip(Control::AckAck(77));
        roundtrip(Control::PeerError(4000));
        roundtrip(Control::Ack(Ack {
            number: 9,
            last: SeqNo::new(1000),
            info: Some(AckInfo {
                rtt_us: 100_000,
                rtt_var_us: 50_000,
                buffer_packets: 8000,
                packets_per_second: 400,
                capacity_packets: 10_000,
                bytes_per_second: 500_000,
            }),
        }));
        roundtrip(Control::Ack(Ack {
            number: 0,
            last: SeqNo::new(5),
            info: None,
        }));
        roundtrip(Control::Nak(vec![
            (SeqNo::new(3), SeqNo::new(3)),
            (SeqNo::new(10), SeqNo::new(20)),
            (SeqNo::new(SeqNo::MAX), SeqNo::new(2)),
        ]));
        roundtrip(Control::DropRequest {
            message: 5,
            first: SeqNo::new(1),
            last: SeqNo::new(4),
        });
    }

    #[test]
    fn data_packet_header_round_trips_and_payload_is_not_copied() {
        let data = DataPacket {
            seq: SeqNo::new(0x7FFF_FFF0),
            position: Position::Solo,
            in_order: false,
            key: KeyField::Even,
            retransmitted: true,
            message: 0x03FF_FFFF,
            timestamp: 42,
            dest: 7,
            payload: Bytes::from_static(&[0x47; 1316]),
        };
        let mut wire = data.header().to_vec();
        wire.extend_from_slice(&data.payload);
        let wire = Bytes::from(wire);
        let Ok(Packet::Data(parsed)) = Packet::parse(wire.clone()) else {
            panic!("not data");
        };
        assert_eq!(parsed, data);
        assert_eq!(parsed.payload.as_ptr(), wire[HEADER_LEN..].as_ptr());
    }

    #[test]
    fn malformed_datagrams_are_errors() {
        assert_eq!(
            Packet::parse(Bytes::from_static(&[0x80; 8])),
            Err(SrtError::Truncated(8))
        );
        // A NAK range that runs backwards.
        let mut nak = vec![0x80, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        nak.extend_from_slice(&[0x80, 0, 0, 10, 0, 0, 0, 5]);
        assert_eq!(Packet::parse(Bytes::from(nak)), Err(SrtError::BadLossRange));
    }
}
