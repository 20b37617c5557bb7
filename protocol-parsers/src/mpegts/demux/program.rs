//! Following the first program: the PAT names its PMT PID, the PMT its streams. Both
//! are re-sent every few hundred milliseconds; only a section that differs from the
//! last one applied (a new version, another program) changes anything.

use super::DemuxStats;
use super::header::Packet;
use super::section::{SectionFaults, SectionReader};
use super::tables::{ProgramStreams, TableError, first_program, program_streams, section};

#[derive(Debug, Default)]
pub(super) struct Program {
    pat: SectionReader,
    pmt: SectionReader,
    /// (program_number, PMT PID) of the first program of the PAT.
    selected: Option<(u16, u16)>,
    last_pat: Vec<u8>,
    last_pmt: Vec<u8>,
}

impl Program {
    pub(super) fn pmt_pid(&self) -> Option<u16> {
        self.selected.map(|(_, pid)| pid)
    }

    /// A packet on PID 0.
    pub(super) fn pat_packet(&mut self, packet: &Packet<'_>, stats: &mut DemuxStats) {
        let mut faults = SectionFaults::default();
        let mut errors = 0;
        let Self {
            pat,
            pmt,
            selected,
            last_pat,
            last_pmt,
        } = self;
        pat.push(packet, &mut faults, &mut |bytes| {
            if bytes == last_pat.as_slice() {
                return;
            }
            let table = match section(bytes) {
                Ok(table) if table.current => table,
                Ok(_) => return,
                Err(_) => {
                    errors += 1;
                    return;
                }
            };
            last_pat.clear();
            last_pat.extend_from_slice(bytes);
            // Later sections of a multi-section PAT only name a program when the
            // first named none.
            if table.section_number != 0 && selected.is_some() {
                return;
            }
            if let Some(program) = first_program(&table) {
                if *selected != Some(program) {
                    *selected = Some(program);
                    *pmt = SectionReader::default();
                    last_pmt.clear();
                }
            }
        });
        count(stats, faults, errors);
    }

    /// A packet on the PMT PID; the program's streams when its PMT changed.
    pub(super) fn pmt_packet(
        &mut self,
        packet: &Packet<'_>,
        stats: &mut DemuxStats,
    ) -> Option<ProgramStreams> {
        let (number, pmt_pid) = self.selected?;
        let mut faults = SectionFaults::default();
        let mut errors = 0;
        let mut update = None;
        let last_pmt = &mut self.last_pmt;
        self.pmt.push(packet, &mut faults, &mut |bytes| {
            if bytes == last_pmt.as_slice() {
                return;
            }
            let streams = match section(bytes) {
                Ok(table) if table.current => program_streams(&table, number, pmt_pid),
                Ok(_) => return,
                Err(e) => Err(e),
            };
            match streams {
                Ok(Some(streams)) => {
                    last_pmt.clear();
                    last_pmt.extend_from_slice(bytes);
                    update = Some(streams);
                }
                Ok(None) => {}
                Err(TableError::Crc | TableError::Malformed) => errors += 1,
            }
        });
        count(stats, faults, errors);
        update
    }
}

fn count(stats: &mut DemuxStats, faults: SectionFaults, errors: u64) {
    stats.continuity_errors += faults.continuity_errors;
    stats.psi_errors += faults.malformed + errors;
}
