//! The Annex B byte stream (H.264 Annex B: NAL units after `00 00 01` or
//! `00 00 00 01` start codes), as encoders such as libx264 and NVENC write it, turned
//! into the length-prefixed access units and the avcC record the frame model carries.

use super::{AvcDecoderConfig, H264Error};

const NAL_TYPE_SPS: u8 = 7;
const NAL_TYPE_PPS: u8 = 8;
const NAL_TYPE_AUD: u8 = 9;

/// The NAL units of an Annex B buffer, without their start codes. Bytes before the
/// first start code are skipped; trailing zero bytes of a unit (the next start code's
/// leading zero, or `trailing_zero_8bits`) are not part of it.
pub fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data.get(start_code_end(data, 0).unwrap_or(data.len())..);
    std::iter::from_fn(move || {
        let current = rest.take()?;
        let (unit, next) = match find_start_code(current) {
            Some((begin, end)) => (current.get(..begin)?, current.get(end..)),
            None => (current, None),
        };
        rest = next;
        let trimmed_len = unit.len() - unit.iter().rev().take_while(|&&b| b == 0).count();
        Some(unit.get(..trimmed_len).unwrap_or_default())
    })
    .filter(|unit| !unit.is_empty())
}

/// Where the first start code in `data` at or after `from` ends.
fn start_code_end(data: &[u8], from: usize) -> Option<usize> {
    let tail = data.get(from..)?;
    find_start_code(tail).map(|(_, end)| from + end)
}

/// The first `00 00 01` in `data`: (where it begins, where it ends).
fn find_start_code(data: &[u8]) -> Option<(usize, usize)> {
    data.windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|at| (at, at + 3))
}

/// An Annex B access unit as 4-byte length-prefixed NAL units (AVCC). Access unit
/// delimiters and in-band parameter sets are left out: the track's record carries
/// the parameter sets and every output re-inserts what its format needs.
pub fn to_length_prefixed(annex_b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(annex_b.len() + 16);
    for nal in nal_units(annex_b) {
        let kind = nal.first().map_or(0, |h| h & 0x1F);
        if matches!(kind, NAL_TYPE_SPS | NAL_TYPE_PPS | NAL_TYPE_AUD) {
            continue;
        }
        // An access unit never approaches 4 GiB; a longer one would be a bug upstream.
        let len = u32::try_from(nal.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// The avcC record for the SPS and PPS found in an Annex B buffer (an encoder's
/// global header, or a keyframe with in-band parameter sets).
pub fn record_from_annex_b(annex_b: &[u8]) -> Result<AvcDecoderConfig, H264Error> {
    let mut sps = Vec::new();
    let mut pps = Vec::new();
    for nal in nal_units(annex_b) {
        match nal.first().map(|h| h & 0x1F) {
            Some(NAL_TYPE_SPS) => sps.push(bytes::Bytes::copy_from_slice(nal)),
            Some(NAL_TYPE_PPS) => pps.push(bytes::Bytes::copy_from_slice(nal)),
            _ => {}
        }
    }
    let first = sps.first().ok_or(H264Error::NoSps)?;
    let field = |i: usize| {
        first
            .get(i)
            .copied()
            .ok_or(H264Error::Truncated { what: "SPS" })
    };
    Ok(AvcDecoderConfig {
        profile: field(1)?,
        compatibility: field(2)?,
        level: field(3)?,
        nal_length_size: 4,
        sps,
        pps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_both_start_code_lengths_and_trims_trailing_zeros() {
        let stream = [
            0xFF, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 5, 0,
        ];
        let units: Vec<&[u8]> = nal_units(&stream).collect();
        assert_eq!(
            units,
            [&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
    }

    #[test]
    fn length_prefixed_drops_parameter_sets_and_delimiters() {
        let stream = [
            0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 7, 8, 9,
        ];
        assert_eq!(to_length_prefixed(&stream), [0, 0, 0, 4, 0x65, 7, 8, 9]);
    }

    #[test]
    fn record_takes_profile_and_level_from_the_sps() {
        let stream = [0, 0, 0, 1, 0x67, 100, 0, 31, 0xAC, 0, 0, 1, 0x68, 0xEB];
        let record = record_from_annex_b(&stream).unwrap();
        assert_eq!(
            (record.profile, record.compatibility, record.level),
            (100, 0, 31)
        );
        assert_eq!(record.sps.len(), 1);
        assert_eq!(record.pps.len(), 1);
        assert_eq!(
            record_from_annex_b(&[0, 0, 1, 0x68, 1]),
            Err(H264Error::NoSps)
        );
    }

    #[test]
    fn no_start_code_means_no_units() {
        assert_eq!(nal_units(&[1, 2, 3]).count(), 0);
        assert_eq!(nal_units(&[]).count(), 0);
    }
}
