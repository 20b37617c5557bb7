//! Transport stream packets (ISO/IEC 13818-1 2.4.3.2): cutting one PES into 188-byte
//! packets, with the adaptation field carrying PCR, random access and stuffing.

use bytes::{BufMut, BytesMut};

use super::clock::put_pcr;

pub const PACKET_LEN: usize = 188;
pub const SYNC_BYTE: u8 = 0x47;
/// Payload bytes of a packet without an adaptation field.
const PAYLOAD_MAX: usize = PACKET_LEN - 4;

const PAYLOAD_UNIT_START: u16 = 0x4000;
const PAYLOAD_ONLY: u8 = 0x10;
const ADAPTATION_AND_PAYLOAD: u8 = 0x30;

const DISCONTINUITY: u8 = 0x80;
const RANDOM_ACCESS: u8 = 0x40;
const PCR_FLAG: u8 = 0x10;
const PCR_LEN: usize = 6;

/// What the first packet of a PES signals in its adaptation field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct FirstPacket {
    /// PCR base, 90 kHz, already wrapped to 33 bits.
    pub(super) pcr: Option<u64>,
    pub(super) random_access: bool,
    /// The system time base restarts here (the source was cut).
    pub(super) discontinuity: bool,
}

impl FirstPacket {
    fn flags(self) -> u8 {
        let mut flags = 0;
        if self.discontinuity {
            flags |= DISCONTINUITY;
        }
        if self.random_access {
            flags |= RANDOM_ACCESS;
        }
        if self.pcr.is_some() {
            flags |= PCR_FLAG;
        }
        flags
    }

    /// Adaptation field bytes (length byte included) these signals need; 0 for none.
    fn adaptation_len(self) -> usize {
        match (self.flags(), self.pcr) {
            (0, _) => 0,
            (_, Some(_)) => 2 + PCR_LEN,
            (_, None) => 2,
        }
    }
}

/// Packets needed to carry a PES of `pes_len` bytes.
pub(super) fn packet_count(pes_len: usize, first: FirstPacket) -> usize {
    let first_room = PAYLOAD_MAX - first.adaptation_len();
    1 + pes_len.saturating_sub(first_room).div_ceil(PAYLOAD_MAX)
}

/// Writes one PES, announced by its length, as whole packets: the PES bytes go in
/// through [`Packetizer::put`] in pieces of any size, and packet headers are put
/// between them. The last packet is filled out with adaptation field stuffing.
pub(super) struct Packetizer<'a> {
    out: &'a mut BytesMut,
    pid: u16,
    continuity: &'a mut u8,
    /// Signals for the first packet, until it is started.
    first: Option<FirstPacket>,
    /// PES bytes not yet written.
    left: usize,
    /// Payload bytes left in the packet being written.
    room: usize,
}

impl<'a> Packetizer<'a> {
    pub(super) fn new(
        out: &'a mut BytesMut,
        pid: u16,
        continuity: &'a mut u8,
        pes_len: usize,
        first: FirstPacket,
    ) -> Self {
        Self {
            out,
            pid,
            continuity,
            first: Some(first),
            left: pes_len,
            room: 0,
        }
    }

    pub(super) fn put(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.left > 0 {
            if self.room == 0 {
                self.start_packet();
            }
            let n = self.room.min(data.len());
            let (now, rest) = data.split_at_checked(n).unwrap_or((data, &[]));
            self.out.put_slice(now);
            self.room -= now.len();
            self.left -= now.len();
            data = rest;
        }
        debug_assert!(data.is_empty(), "PES longer than announced");
    }

    /// Ends the PES. Every announced byte must have been put; if one was not (a bug),
    /// the open packet is still completed so the output stays packet-aligned.
    pub(super) fn finish(self) {
        debug_assert_eq!(self.left, 0, "PES shorter than announced");
        self.out.put_bytes(0xFF, self.room);
    }

    fn start_packet(&mut self) {
        let first = self.first.take();
        let signals = first.unwrap_or_default();
        let signalled = signals.adaptation_len();
        let room = PAYLOAD_MAX - signalled;
        let payload = room.min(self.left);
        let stuffing = room - payload;
        let adaptation = signalled + stuffing;

        self.out.put_u8(SYNC_BYTE);
        let start = if first.is_some() {
            PAYLOAD_UNIT_START
        } else {
            0
        };
        self.out.put_u16(start | (self.pid & 0x1FFF));
        let control = if adaptation > 0 {
            ADAPTATION_AND_PAYLOAD
        } else {
            PAYLOAD_ONLY
        };
        self.out.put_u8(control | (*self.continuity & 0x0F));
        *self.continuity = (*self.continuity + 1) & 0x0F;

        if adaptation > 0 {
            // adaptation_field_length counts the bytes after itself; at most 183.
            self.out.put_u8((adaptation - 1) as u8);
            if adaptation > 1 {
                self.out.put_u8(signals.flags());
                let mut written = 2;
                if let Some(pcr) = signals.pcr {
                    put_pcr(self.out, pcr);
                    written += PCR_LEN;
                }
                self.out.put_bytes(0xFF, adaptation - written);
            }
        }
        self.room = payload;
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::tests::read_pcr;
    use super::*;

    fn packetize(pes_len: usize, first: FirstPacket, cc: &mut u8) -> BytesMut {
        let mut out = BytesMut::new();
        let data: Vec<u8> = (0..pes_len).map(|i| i as u8).collect();
        let mut p = Packetizer::new(&mut out, 0x100, cc, pes_len, first);
        // In uneven pieces, as the muxer does.
        for piece in data.chunks(7) {
            p.put(piece);
        }
        p.finish();
        out
    }

    /// The payload bytes of each packet, after the header and adaptation field.
    fn payloads(out: &[u8]) -> Vec<&[u8]> {
        out.chunks(PACKET_LEN)
            .map(|packet| {
                if packet[3] & 0x20 != 0 {
                    &packet[5 + usize::from(packet[4])..]
                } else {
                    &packet[4..]
                }
            })
            .collect()
    }

    #[test]
    fn sizes_around_packet_boundaries() {
        let none = FirstPacket::default();
        for (len, packets) in [
            (1, 1),
            (182, 1),
            (183, 1),
            (184, 1),
            (185, 2),
            (368, 2),
            (369, 3),
        ] {
            let mut cc = 0;
            let out = packetize(len, none, &mut cc);
            assert_eq!(out.len(), packets * PACKET_LEN, "len {len}");
            assert_eq!(packet_count(len, none), packets, "len {len}");
            let joined: Vec<u8> = payloads(&out).concat();
            assert_eq!(joined, (0..len).map(|i| i as u8).collect::<Vec<_>>());
            for (i, packet) in out.chunks(PACKET_LEN).enumerate() {
                assert_eq!(packet[0], SYNC_BYTE);
                assert_eq!(packet[1] & 0x40 != 0, i == 0, "PUSI only on the first");
                assert_eq!(packet[3] & 0x0F, i as u8, "continuity counter");
            }
            assert_eq!(usize::from(cc), packets);
        }
        // 183 bytes: a one-byte adaptation field of length 0.
        let out = packetize(183, none, &mut 0);
        assert_eq!(&out[3..6], &[0x30, 0x00, 0x00]);
        // 182 bytes: length 1, flags 0, no stuffing bytes.
        let out = packetize(182, none, &mut 0);
        assert_eq!(&out[3..7], &[0x30, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn pcr_and_random_access_in_the_first_packet_only() {
        let first = FirstPacket {
            pcr: Some(0x1_2345_6789),
            random_access: true,
            discontinuity: false,
        };
        for len in [10, 176, 177, 400] {
            let out = packetize(len, first, &mut 5);
            assert_eq!(out.len(), packet_count(len, first) * PACKET_LEN);
            assert_eq!(out[3], 0x35, "adaptation + payload, cc 5");
            assert_eq!(out[5], RANDOM_ACCESS | PCR_FLAG);
            assert_eq!(read_pcr(&out[6..12]), (0x1_2345_6789, 0));
            let joined: Vec<u8> = payloads(&out).concat();
            assert_eq!(joined.len(), len);
            for packet in out.chunks(PACKET_LEN).skip(1) {
                // Later packets carry at most stuffing: flags 0.
                if packet[3] & 0x20 != 0 && packet[4] > 0 {
                    assert_eq!(packet[5], 0);
                }
            }
        }
        assert_eq!(packet_count(176, first), 1);
        assert_eq!(packet_count(177, first), 2);
    }

    #[test]
    fn counter_wraps_at_16() {
        let mut cc = 14;
        let out = packetize(184 * 3, FirstPacket::default(), &mut cc);
        let counters: Vec<u8> = out.chunks(PACKET_LEN).map(|p| p[3] & 0x0F).collect();
        assert_eq!(counters, [14, 15, 0]);
        assert_eq!(cc, 1);
    }
}
