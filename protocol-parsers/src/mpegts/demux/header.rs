//! The transport packet header and adaptation field (ISO/IEC 13818-1 2.4.3.2, 2.4.3.4),
//! read rather than written: what the demuxer needs to route and check a packet.

use crate::mpegts::PACKET_LEN;

/// The null packet PID: stuffing, never carries anything.
pub(super) const NULL_PID: u16 = 0x1FFF;

/// A packet's header fields and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Packet<'a> {
    pub(super) pid: u16,
    pub(super) transport_error: bool,
    pub(super) payload_unit_start: bool,
    /// transport_scrambling_control is not '00'.
    pub(super) scrambled: bool,
    pub(super) continuity: u8,
    /// The adaptation field's discontinuity_indicator: the continuity counter and the
    /// time base may jump here.
    pub(super) discontinuity: bool,
    /// Empty when adaptation_field_control says there is none.
    pub(super) payload: &'a [u8],
    pub(super) has_payload: bool,
}

/// The adaptation field claims more bytes than the packet has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadAdaptationField;

/// Parses a packet whose first byte the framer already checked to be the sync byte.
pub(super) fn parse(packet: &[u8; PACKET_LEN]) -> Result<Packet<'_>, BadAdaptationField> {
    let [_, b1, b2, b3, rest @ ..] = packet;
    let control = (b3 >> 4) & 0x03;
    let has_adaptation = control & 0x02 != 0;
    let has_payload = control & 0x01 != 0;
    let mut discontinuity = false;
    let mut payload: &[u8] = rest;
    if has_adaptation {
        let (&len, after) = rest.split_first().ok_or(BadAdaptationField)?;
        let (field, tail) = after
            .split_at_checked(usize::from(len))
            .ok_or(BadAdaptationField)?;
        if let Some(&flags) = field.first() {
            discontinuity = flags & 0x80 != 0;
        }
        payload = tail;
    }
    Ok(Packet {
        pid: (u16::from(b1 & 0x1F) << 8) | u16::from(*b2),
        transport_error: b1 & 0x80 != 0,
        payload_unit_start: b1 & 0x40 != 0,
        scrambled: b3 & 0xC0 != 0,
        continuity: b3 & 0x0F,
        discontinuity,
        payload: if has_payload { payload } else { &[] },
        has_payload,
    })
}

/// The continuity counter of one PID (2.4.3.3): it steps by one on every packet with
/// payload; a packet may be sent twice in a row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Continuity {
    last: Option<u8>,
}

/// What a packet's counter says about the packets before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Next,
    /// The same counter again: a duplicate, to be dropped.
    Duplicate,
    /// Packets were lost (or the counter was reset without a discontinuity_indicator).
    Gap,
}

impl Continuity {
    pub(super) fn step(&mut self, packet: &Packet<'_>) -> Step {
        if !packet.has_payload {
            return Step::Next;
        }
        let last = self.last.replace(packet.continuity);
        match last {
            _ if packet.discontinuity => Step::Next,
            None => Step::Next,
            Some(last) if last == packet.continuity => Step::Duplicate,
            Some(last) if (last + 1) & 0x0F == packet.continuity => Step::Next,
            Some(_) => Step::Gap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(header: [u8; 4], adaptation: &[u8]) -> [u8; PACKET_LEN] {
        let mut p = [0xEE; PACKET_LEN];
        p[..4].copy_from_slice(&header);
        p[4..4 + adaptation.len()].copy_from_slice(adaptation);
        p
    }

    #[test]
    fn fields_and_payload() {
        let p = packet([0x47, 0x41, 0x00, 0x17], &[]);
        let parsed = parse(&p).unwrap();
        assert_eq!(parsed.pid, 0x100);
        assert!(parsed.payload_unit_start && !parsed.transport_error && !parsed.scrambled);
        assert_eq!(parsed.continuity, 7);
        assert_eq!(parsed.payload.len(), 184);

        // Adaptation field of 7 bytes (discontinuity + PCR), then payload.
        let p = packet([0x47, 0x01, 0x01, 0x35], &[7, 0x90, 1, 2, 3, 4, 5, 6]);
        let parsed = parse(&p).unwrap();
        assert!(parsed.discontinuity);
        assert_eq!(parsed.payload.len(), 184 - 8);
        assert_eq!(parsed.pid, 0x101);

        // Adaptation only: no payload.
        let p = packet([0x47, 0x81, 0x00, 0x20], &[183]);
        let parsed = parse(&p).unwrap();
        assert!(parsed.transport_error && !parsed.has_payload);
        assert!(parsed.payload.is_empty());

        let p = packet([0x47, 0x01, 0x00, 0x30], &[184]);
        assert_eq!(parse(&p), Err(BadAdaptationField));
    }

    #[test]
    fn continuity_steps_duplicates_and_gaps() {
        let mut cc = Continuity::default();
        let mut at = |counter: u8, af: &[u8]| {
            let control = if af.is_empty() { 0x10 } else { 0x30 };
            let p = packet([0x47, 0x01, 0x00, control | counter], af);
            cc.step(&parse(&p).unwrap())
        };
        assert_eq!(at(14, &[]), Step::Next);
        assert_eq!(at(15, &[]), Step::Next);
        assert_eq!(at(15, &[]), Step::Duplicate);
        assert_eq!(at(0, &[]), Step::Next);
        assert_eq!(at(2, &[]), Step::Gap);
        assert_eq!(at(3, &[]), Step::Next);
        // A signalled discontinuity is no gap.
        assert_eq!(at(9, &[1, 0x80]), Step::Next);
        assert_eq!(at(10, &[]), Step::Next);
    }
}
