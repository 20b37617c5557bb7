//! Program-specific information: the PAT and PMT sections (ISO/IEC 13818-1 2.4.4),
//! each written into one TS packet.

use bytes::{BufMut, BytesMut};

use super::crc::crc32_mpeg2;
use super::packet::{PACKET_LEN, SYNC_BYTE};

pub(super) const PAT_PID: u16 = 0x0000;
pub(super) const TABLE_PAT: u8 = 0x00;
pub(super) const TABLE_PMT: u8 = 0x02;
/// The one transport stream a muxer writes.
const TRANSPORT_STREAM_ID: u16 = 1;
/// version_number 0, current_next_indicator 1, reserved bits set.
const VERSION_CURRENT: u8 = 0xC1;

/// An elementary stream as the PMT lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PmtStream {
    pub(super) stream_type: StreamType,
    pub(super) pid: u16,
}

/// stream_type (ISO/IEC 13818-1 Table 2-34), open so unknown values stay writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StreamType(pub(super) u8);

impl StreamType {
    /// ISO/IEC 13818-7 ADTS AAC.
    pub(super) const AAC_ADTS: Self = Self(0x0F);
    pub(super) const H264: Self = Self(0x1B);
    pub(super) const H265: Self = Self(0x24);
}

/// The PAT packet: one program, `program_number`, whose PMT is on `pmt_pid`.
/// The continuity counter (low nibble of byte 3) is left 0 for the caller to set.
pub(super) fn pat_packet(program_number: u16, pmt_pid: u16) -> BytesMut {
    let mut section = BytesMut::with_capacity(16);
    section.put_u16(program_number);
    section.put_u16(0xE000 | pmt_pid);
    packet(PAT_PID, TABLE_PAT, TRANSPORT_STREAM_ID, &section)
}

/// The PMT packet of `program_number`, on `pmt_pid`.
pub(super) fn pmt_packet(
    program_number: u16,
    pmt_pid: u16,
    pcr_pid: u16,
    streams: &[PmtStream],
) -> BytesMut {
    let mut section = BytesMut::with_capacity(4 + 5 * streams.len());
    section.put_u16(0xE000 | pcr_pid);
    section.put_u16(0xF000); // program_info_length 0
    for stream in streams {
        section.put_u8(stream.stream_type.0);
        section.put_u16(0xE000 | stream.pid);
        section.put_u16(0xF000); // ES_info_length 0
    }
    packet(pmt_pid, TABLE_PMT, program_number, &section)
}

/// A long-form section (header, `body`, CRC) in one packet, the rest filled with 0xFF
/// as 2.4.4 allows after the last section. Bodies here are at most a few dozen bytes.
fn packet(pid: u16, table_id: u8, id: u16, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(PACKET_LEN);
    out.put_u8(SYNC_BYTE);
    out.put_u16(0x4000 | pid); // payload_unit_start_indicator
    out.put_u8(0x10); // payload only, continuity counter 0
    out.put_u8(0); // pointer_field: the section starts right here
    let start = out.len();
    // section_length counts what follows it: 5 header bytes, the body and the CRC.
    let section_length = (5 + body.len() + 4) as u16;
    out.put_u8(table_id);
    out.put_u16(0xB000 | section_length); // section_syntax_indicator, '0', reserved
    out.put_u16(id);
    out.put_u8(VERSION_CURRENT);
    out.put_u8(0); // section_number
    out.put_u8(0); // last_section_number
    out.put_slice(body);
    let crc = crc32_mpeg2(out.get(start..).unwrap_or_default());
    out.put_u32(crc);
    out.put_bytes(0xFF, PACKET_LEN.saturating_sub(out.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pat_matches_ffmpeg() {
        // `ffmpeg -f lavfi -i testsrc -t 0.1 -f mpegts -` (FFmpeg 5.1.9) writes this PAT as
        // its second packet, after the SDT: program 1, PMT on PID 0x1000.
        let pat = pat_packet(1, 0x1000);
        assert_eq!(pat.len(), PACKET_LEN);
        assert_eq!(
            &pat[..21],
            &[
                0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00,
                0x01, 0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2
            ]
        );
        assert!(pat[21..].iter().all(|&b| b == 0xFF));
    }

    #[test]
    fn pmt_lists_streams_and_checks_out() {
        let streams = [
            PmtStream {
                stream_type: StreamType::H264,
                pid: 0x100,
            },
            PmtStream {
                stream_type: StreamType::AAC_ADTS,
                pid: 0x101,
            },
        ];
        let pmt = pmt_packet(1, 0x1000, 0x100, &streams);
        assert_eq!(&pmt[..4], &[0x47, 0x50, 0x00, 0x10]);
        let section_length = usize::from(u16::from_be_bytes([pmt[6], pmt[7]]) & 0x0FFF);
        assert_eq!(section_length, 5 + 4 + 2 * 5 + 4);
        let section = &pmt[5..8 + section_length];
        assert_eq!(crc32_mpeg2(section), 0, "CRC covers the whole section");
        assert_eq!(&section[8..12], &[0xE1, 0x00, 0xF0, 0x00]);
        assert_eq!(
            &section[12..22],
            &[0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00]
        );
    }
}
