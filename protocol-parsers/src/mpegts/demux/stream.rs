//! One elementary stream's PID: continuity, PES boundaries and timestamps, shared by
//! video and audio; what the PES bodies become is the [`Elementary`] side's business.

use super::Output;
use super::header::{Continuity, Packet, Step};
use super::pes::PesReader;
use super::timeline::Stamp;

/// What a PES body is turned into.
pub(super) trait Elementary {
    /// Body bytes of the PES being read, in order.
    fn body(&mut self, data: &[u8]);
    /// The PES ended whole.
    fn end(&mut self, pes: PesInfo, out: &mut Output);
    /// The PES was given up: forget its bytes (what arrived whole before the damage,
    /// such as parameter sets, may still be used).
    fn abandon(&mut self, out: &mut Output);
}

/// What the PES header and its first packet said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct PesInfo {
    /// `None` when the PES carried no PTS.
    pub(super) stamp: Option<Stamp>,
    /// The first packet's adaptation field set discontinuity_indicator.
    pub(super) discontinuity: bool,
}

#[derive(Debug)]
pub(super) struct PesStream<E> {
    pub(super) pid: u16,
    pub(super) es: E,
    continuity: Continuity,
    reader: PesReader,
    /// The PES being read; `None` until the next payload_unit_start after joining
    /// mid-PES or giving one up.
    current: Option<PesInfo>,
}

impl<E: Elementary> PesStream<E> {
    pub(super) fn new(pid: u16, es: E) -> Self {
        Self {
            pid,
            es,
            continuity: Continuity::default(),
            reader: PesReader::default(),
            current: None,
        }
    }

    pub(super) fn packet(&mut self, packet: &Packet<'_>, out: &mut Output) {
        match self.continuity.step(packet) {
            Step::Duplicate => return,
            Step::Gap => {
                out.stats.continuity_errors += 1;
                self.abandon(out);
            }
            Step::Next => {}
        }
        if !packet.has_payload {
            return;
        }
        if packet.payload_unit_start {
            self.end(out);
            self.reader.begin();
            self.current = Some(PesInfo {
                stamp: None,
                discontinuity: packet.discontinuity,
            });
        }
        let Some(info) = self.current.as_mut() else {
            return;
        };
        match self.reader.feed(packet.payload) {
            Err(_) => self.abandon(out),
            Ok(fed) => {
                if let Some(header) = fed.header {
                    info.stamp = header.pts.map(|pts| out.timeline.stamp(pts, header.dts));
                }
                self.es.body(fed.body);
                if fed.complete {
                    self.end(out);
                }
            }
        }
    }

    /// Ends the PES being read: whole, or dropped if its header or announced length
    /// did not all arrive.
    pub(super) fn end(&mut self, out: &mut Output) {
        let Some(info) = self.current.take() else {
            return;
        };
        if self.reader.is_short() {
            out.stats.dropped_pes += 1;
            self.es.abandon(out);
        } else {
            self.es.end(info, out);
        }
    }

    fn abandon(&mut self, out: &mut Output) {
        if self.current.take().is_some() {
            out.stats.dropped_pes += 1;
            self.es.abandon(out);
        }
    }
}
