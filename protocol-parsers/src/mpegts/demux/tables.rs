//! Reading the PAT and PMT sections (ISO/IEC 13818-1 2.4.4.3, 2.4.4.8) that the muxer's
//! `psi.rs` writes: which PID carries the first program's PMT, and which PIDs carry
//! its H.264/HEVC video and ADTS AAC audio.

use super::header::NULL_PID;
use crate::media::VideoCodec;
use crate::mpegts::crc::crc32_mpeg2;
use crate::mpegts::psi::{PAT_PID, StreamType, TABLE_PAT, TABLE_PMT};

/// table_id, section_length, table_id_extension, version, two section numbers.
const LONG_HEADER_LEN: usize = 8;
const CRC_LEN: usize = 4;

/// Why a section was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TableError {
    Crc,
    /// Shorter than its fields, or not in the long (section_syntax_indicator) form.
    Malformed,
}

/// The fields of a long-form section the demuxer looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Section<'a> {
    pub(super) table_id: u8,
    /// transport_stream_id in a PAT, program_number in a PMT.
    pub(super) id: u16,
    pub(super) section_number: u8,
    /// current_next_indicator: 0 announces a table not yet in force.
    pub(super) current: bool,
    /// Between the header and the CRC.
    pub(super) body: &'a [u8],
}

/// Checks the CRC and the long form of a whole section from the section reader.
pub(super) fn section(bytes: &[u8]) -> Result<Section<'_>, TableError> {
    let Some(&[table_id, b1, _, id_hi, id_lo, version, section_number, _]) =
        bytes.first_chunk::<LONG_HEADER_LEN>()
    else {
        return Err(TableError::Malformed);
    };
    if b1 & 0x80 == 0 || bytes.len() < LONG_HEADER_LEN + CRC_LEN {
        return Err(TableError::Malformed);
    }
    if crc32_mpeg2(bytes) != 0 {
        return Err(TableError::Crc);
    }
    let body = bytes
        .get(LONG_HEADER_LEN..bytes.len() - CRC_LEN)
        .unwrap_or_default();
    Ok(Section {
        table_id,
        id: u16::from_be_bytes([id_hi, id_lo]),
        section_number,
        current: version & 0x01 == 1,
        body,
    })
}

/// The first program of a PAT section other than program 0 (the network PID):
/// `(program_number, PMT PID)`.
pub(super) fn first_program(section: &Section<'_>) -> Option<(u16, u16)> {
    if section.table_id != TABLE_PAT {
        return None;
    }
    section
        .body
        .chunks_exact(4)
        .filter_map(|e| e.first_chunk::<4>())
        .map(|&[a, b, c, d]| (u16::from_be_bytes([a, b]), pid(c, d)))
        .find(|&(number, pmt_pid)| number != 0 && is_usable_pid(pmt_pid))
}

/// The streams of a program that the demuxer carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ProgramStreams {
    pub(super) video: Option<(u16, VideoCodec)>,
    pub(super) audio: Option<u16>,
    /// Streams listed but not carried: other types, a second video or audio stream.
    pub(super) unsupported: u64,
}

/// The streams of a PMT section for `program`, or `None` if it is for another one.
pub(super) fn program_streams(
    section: &Section<'_>,
    program: u16,
    pmt_pid: u16,
) -> Result<Option<ProgramStreams>, TableError> {
    if section.table_id != TABLE_PMT || section.id != program {
        return Ok(None);
    }
    // PCR_PID, then program_info_length and the program descriptors.
    let Some(&[_, _, info_hi, info_lo]) = section.body.first_chunk::<4>() else {
        return Err(TableError::Malformed);
    };
    let info_len = usize::from(u16::from_be_bytes([info_hi, info_lo]) & 0x0FFF);
    let mut rest = section
        .body
        .get(4 + info_len..)
        .ok_or(TableError::Malformed)?;
    let mut streams = ProgramStreams::default();
    while !rest.is_empty() {
        let Some(&[stream_type, pid_hi, pid_lo, es_hi, es_lo]) = rest.first_chunk::<5>() else {
            return Err(TableError::Malformed);
        };
        let es_info_len = usize::from(u16::from_be_bytes([es_hi, es_lo]) & 0x0FFF);
        rest = rest.get(5 + es_info_len..).ok_or(TableError::Malformed)?;
        let pid = pid(pid_hi, pid_lo);
        let taken = streams.video.map(|(p, _)| p) == Some(pid) || streams.audio == Some(pid);
        if !is_usable_pid(pid) || pid == pmt_pid || taken {
            streams.unsupported += 1;
            continue;
        }
        let video = match StreamType(stream_type) {
            StreamType::H264 => Some(VideoCodec::H264),
            StreamType::H265 => Some(VideoCodec::H265),
            _ => None,
        };
        match (video, StreamType(stream_type)) {
            (Some(codec), _) if streams.video.is_none() => streams.video = Some((pid, codec)),
            (None, StreamType::AAC_ADTS) if streams.audio.is_none() => streams.audio = Some(pid),
            _ => streams.unsupported += 1,
        }
    }
    Ok(Some(streams))
}

fn pid(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo]) & 0x1FFF
}

/// PIDs 0x0000-0x000F are reserved for tables; 0x1FFF is the null packet.
fn is_usable_pid(pid: u16) -> bool {
    pid > 0x000F && pid != NULL_PID && pid != PAT_PID
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mpegts::psi::{PmtStream, pat_packet, pmt_packet};

    /// The section of a packet the muxer wrote (pointer_field 0).
    fn section_of(packet: &[u8]) -> Vec<u8> {
        let len = usize::from(u16::from_be_bytes([packet[6], packet[7]]) & 0x0FFF);
        packet[5..8 + len].to_vec()
    }

    #[test]
    fn muxer_tables_read_back() {
        let pat = section_of(&pat_packet(1, 0x1000));
        let pat = section(&pat).unwrap();
        assert_eq!((pat.table_id, pat.id, pat.current), (0, 1, true));
        assert_eq!(first_program(&pat), Some((1, 0x1000)));

        let streams = [
            PmtStream {
                stream_type: StreamType::H265,
                pid: 0x100,
            },
            PmtStream {
                stream_type: StreamType(0x06),
                pid: 0x102,
            },
            PmtStream {
                stream_type: StreamType::AAC_ADTS,
                pid: 0x101,
            },
            PmtStream {
                stream_type: StreamType::H264,
                pid: 0x103,
            },
        ];
        let pmt = section_of(&pmt_packet(1, 0x1000, 0x100, &streams));
        let pmt = section(&pmt).unwrap();
        assert_eq!(
            program_streams(&pmt, 1, 0x1000),
            Ok(Some(ProgramStreams {
                video: Some((0x100, VideoCodec::H265)),
                audio: Some(0x101),
                unsupported: 2,
            }))
        );
        assert_eq!(program_streams(&pmt, 2, 0x1000), Ok(None));
    }

    #[test]
    fn crc_and_truncation() {
        let mut pat = section_of(&pat_packet(1, 0x1000));
        for len in 0..pat.len() {
            assert!(section(&pat[..len]).is_err(), "{len}");
        }
        let last = pat.len() - 1;
        pat[last] ^= 1;
        assert_eq!(section(&pat), Err(TableError::Crc));
    }

    #[test]
    fn network_pid_and_bad_program_info_length() {
        // Program 0 (network PID 0x10) first, then program 7 on 0x20.
        let body = [0, 0, 0xE0, 0x10, 0, 7, 0xE0, 0x20];
        let pat = Section {
            table_id: TABLE_PAT,
            id: 1,
            section_number: 0,
            current: true,
            body: &body,
        };
        assert_eq!(first_program(&pat), Some((7, 0x20)));
        let pmt = Section {
            table_id: TABLE_PMT,
            id: 7,
            section_number: 0,
            current: true,
            body: &[0xE1, 0x00, 0xF0, 0x09, 1, 2],
        };
        assert_eq!(program_streams(&pmt, 7, 0x20), Err(TableError::Malformed));
    }
}
