//! Reassembling PSI sections (ISO/IEC 13818-1 2.4.4) from packet payloads: a
//! pointer_field in every packet that starts one, sections that span packets, and
//! several sections back to back in one packet.

use super::header::{Continuity, Packet, Step};

/// Largest PAT or PMT section: section_length is at most 1021 (2.4.4.4, 2.4.4.9).
pub(super) const MAX_SECTION_LEN: usize = 3 + 1021;
/// table_id, then 12 bits of section_length.
const LENGTH_FIELDS: usize = 3;
/// A table_id of 0xFF is stuffing: nothing more in this packet.
const STUFFING: u8 = 0xFF;

/// One PID's section reassembly.
#[derive(Debug, Default)]
pub(super) struct SectionReader {
    buf: Vec<u8>,
    /// A section is partly in `buf`, waiting for the rest.
    open: bool,
    continuity: Continuity,
}

/// What the reader ran into, for the stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SectionFaults {
    pub(super) continuity_errors: u64,
    /// Bad pointer fields and over-long sections.
    pub(super) malformed: u64,
}

impl SectionReader {
    /// Feeds one packet; every section it completes goes to `on_section`, whole
    /// (header to CRC) and unchecked.
    pub(super) fn push(
        &mut self,
        packet: &Packet<'_>,
        faults: &mut SectionFaults,
        on_section: &mut impl FnMut(&[u8]),
    ) {
        match self.continuity.step(packet) {
            Step::Duplicate => return,
            Step::Gap => {
                faults.continuity_errors += 1;
                self.close();
            }
            Step::Next => {}
        }
        let payload = packet.payload;
        if !packet.payload_unit_start {
            if self.open {
                // A new section can only start where a pointer_field says.
                self.append(payload, faults, on_section);
            }
            return;
        }
        let Some((&pointer, rest)) = payload.split_first() else {
            faults.malformed += 1;
            self.close();
            return;
        };
        let Some((tail, mut next)) = rest.split_at_checked(usize::from(pointer)) else {
            faults.malformed += 1;
            self.close();
            return;
        };
        if self.open {
            self.append(tail, faults, on_section);
            if self.open {
                // The pointer says the old section ended, but it is shorter than it said.
                faults.malformed += 1;
                self.close();
            }
        }
        while next.first().is_some_and(|&table_id| table_id != STUFFING) {
            self.open = true;
            next = self.append(next, faults, on_section);
            if self.open {
                break;
            }
        }
    }

    /// Adds bytes to the open section; returns what follows it if it completed.
    fn append<'a>(
        &mut self,
        data: &'a [u8],
        faults: &mut SectionFaults,
        on_section: &mut impl FnMut(&[u8]),
    ) -> &'a [u8] {
        let mut data = data;
        if self.buf.len() < LENGTH_FIELDS {
            let (now, rest) = split(data, LENGTH_FIELDS - self.buf.len());
            self.buf.extend_from_slice(now);
            data = rest;
            if self.buf.len() < LENGTH_FIELDS {
                return &[];
            }
        }
        let Some(&[_, hi, lo]) = self.buf.first_chunk::<LENGTH_FIELDS>() else {
            return &[];
        };
        let total = LENGTH_FIELDS + usize::from(u16::from_be_bytes([hi, lo]) & 0x0FFF);
        if total > MAX_SECTION_LEN {
            faults.malformed += 1;
            self.close();
            return &[];
        }
        let (now, rest) = split(data, total - self.buf.len());
        self.buf.extend_from_slice(now);
        if self.buf.len() < total {
            return &[];
        }
        on_section(&self.buf);
        self.close();
        rest
    }

    fn close(&mut self) {
        self.open = false;
        self.buf.clear();
    }
}

/// `data` split after at most `n` bytes.
fn split(data: &[u8], n: usize) -> (&[u8], &[u8]) {
    data.split_at(n.min(data.len()))
}

#[cfg(test)]
mod tests {
    use super::super::header::parse;
    use super::*;
    use crate::mpegts::PACKET_LEN;

    /// A packet on PID 0 with `payload`, padded with 0xFF.
    fn packet(start: bool, counter: u8, payload: &[u8]) -> [u8; PACKET_LEN] {
        let mut p = [0xFF; PACKET_LEN];
        p[..4].copy_from_slice(&[0x47, if start { 0x40 } else { 0 }, 0, 0x10 | counter]);
        p[4..4 + payload.len()].copy_from_slice(payload);
        p
    }

    fn section(table_id: u8, body_len: usize) -> Vec<u8> {
        let mut s = vec![table_id, 0xB0 | (body_len >> 8) as u8, body_len as u8];
        s.extend((0..body_len).map(|i| i as u8));
        s
    }

    fn feed(packets: &[[u8; PACKET_LEN]]) -> (Vec<Vec<u8>>, SectionFaults) {
        let mut reader = SectionReader::default();
        let mut faults = SectionFaults::default();
        let mut out = Vec::new();
        for p in packets {
            reader.push(&parse(p).unwrap(), &mut faults, &mut |s| {
                out.push(s.to_vec())
            });
        }
        (out, faults)
    }

    #[test]
    fn two_sections_in_one_packet() {
        let (a, b) = (section(0, 20), section(2, 30));
        let mut payload = vec![0];
        payload.extend(&a);
        payload.extend(&b);
        let (out, faults) = feed(&[packet(true, 0, &payload)]);
        assert_eq!(out, [a, b]);
        assert_eq!(faults, SectionFaults::default());
    }

    #[test]
    fn a_section_across_three_packets_then_another_after_the_pointer() {
        let long = section(2, 400);
        let short = section(0, 9);
        let mut first = vec![0];
        first.extend(&long[..183]);
        let second = long[183..367].to_vec();
        let mut third = vec![(long.len() - 367) as u8];
        third.extend(&long[367..]);
        third.extend(&short);
        let (out, faults) = feed(&[
            packet(true, 0, &first),
            packet(false, 1, &second),
            packet(false, 1, &second), // a duplicate is ignored
            packet(true, 2, &third),
        ]);
        assert_eq!(out, [long, short]);
        assert_eq!(faults, SectionFaults::default());
    }

    #[test]
    fn a_gap_drops_the_open_section() {
        let long = section(2, 300);
        let mut first = vec![0];
        first.extend(&long[..183]);
        let (out, faults) = feed(&[packet(true, 0, &first), packet(false, 2, &long[183..])]);
        assert!(out.is_empty());
        assert_eq!(faults.continuity_errors, 1);
    }

    #[test]
    fn bad_pointer_and_oversized_section() {
        let (out, faults) = feed(&[packet(true, 0, &[200])]);
        assert!(out.is_empty());
        assert_eq!(faults.malformed, 1);
        let (out, faults) = feed(&[packet(true, 0, &[0, 0x02, 0xBF, 0xFF])]);
        assert!(out.is_empty());
        assert_eq!(faults.malformed, 1);
    }
}
