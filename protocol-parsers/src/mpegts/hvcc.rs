//! The parameter sets of an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1),
//! which a TS stream repeats in band before every keyframe. Only what Annex B output
//! needs is read: the NAL length size and the VPS, SPS and PPS arrays.

use bytes::Bytes;

use super::TsError;
use crate::h264::MAX_PARAMETER_SETS;

/// Bytes before `numOfArrays`: profile, tier, level, format fields, lengthSizeMinusOne.
const FIXED_LEN: usize = 22;
/// Position of the byte whose low two bits are lengthSizeMinusOne.
const LENGTH_SIZE_AT: usize = 21;

pub(super) const NAL_VPS: u8 = 32;
pub(super) const NAL_SPS: u8 = 33;
pub(super) const NAL_PPS: u8 = 34;

/// The record's NAL length size and its VPS, SPS and PPS NAL units, in that order
/// (zero-copy slices of `record`). Other arrays (SEI) are skipped.
pub(super) fn parse_hvcc(record: &Bytes) -> Result<(u8, Vec<Bytes>), TsError> {
    let version = *record.first().ok_or(TRUNCATED)?;
    if version != 1 {
        return Err(TsError::HevcConfig("configurationVersion is not 1"));
    }
    let length_size = (record.get(LENGTH_SIZE_AT).ok_or(TRUNCATED)? & 0x03) + 1;
    if length_size == 3 {
        return Err(TsError::HevcConfig("NAL length size 3"));
    }
    let arrays = *record.get(FIXED_LEN).ok_or(TRUNCATED)?;
    let mut at = FIXED_LEN + 1;
    let mut sets: Vec<(u8, Bytes)> = Vec::new();
    for _ in 0..arrays {
        let nal_type = record.get(at).ok_or(TRUNCATED)? & 0x3F;
        let count = u16_at(record, at + 1)?;
        at += 3;
        for _ in 0..count {
            let len = usize::from(u16_at(record, at)?);
            at += 2;
            if len == 0 {
                return Err(TsError::HevcConfig("empty NAL unit"));
            }
            let nal = record.get(at..at + len).ok_or(TRUNCATED)?;
            if matches!(nal_type, NAL_VPS | NAL_SPS | NAL_PPS) {
                if sets.len() >= 3 * MAX_PARAMETER_SETS {
                    return Err(TsError::HevcConfig("too many parameter sets"));
                }
                sets.push((nal_type, record.slice_ref(nal)));
            }
            at += len;
        }
    }
    if at != record.len() {
        return Err(TsError::HevcConfig("trailing data"));
    }
    if !sets.iter().any(|(t, _)| *t == NAL_SPS) {
        return Err(TsError::HevcConfig("no SPS"));
    }
    // Decoders need the VPS before the SPS before the PPS; records need not list them so.
    sets.sort_by_key(|(t, _)| *t);
    Ok((length_size, sets.into_iter().map(|(_, nal)| nal).collect()))
}

const TRUNCATED: TsError = TsError::HevcConfig("truncated");

fn u16_at(data: &[u8], at: usize) -> Result<u16, TsError> {
    let hi = *data.get(at).ok_or(TRUNCATED)?;
    let lo = *data.get(at + 1).ok_or(TRUNCATED)?;
    Ok(u16::from_be_bytes([hi, lo]))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A record in the shape FFmpeg writes (8.3.3.1 field layout), with stand-in
    /// parameter set bodies, arrays deliberately listed PPS, VPS, SPS.
    pub(in crate::mpegts) fn record() -> Vec<u8> {
        let mut r = vec![1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5D];
        r.extend_from_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0x00, 0x00]);
        r.push(0x0F); // lengthSizeMinusOne 3
        r.push(3); // numOfArrays
        for (nal_type, body) in [
            (NAL_PPS, &[0x44, 0x01, 0xC1][..]),
            (NAL_VPS, &[0x40, 0x01, 0x0C][..]),
            (NAL_SPS, &[0x42, 0x01, 0x01, 0x01][..]),
        ] {
            r.push(0x80 | nal_type);
            r.extend_from_slice(&1u16.to_be_bytes());
            r.extend_from_slice(&(body.len() as u16).to_be_bytes());
            r.extend_from_slice(body);
        }
        r
    }

    #[test]
    fn parameter_sets_in_decoding_order() {
        let record = Bytes::from(record());
        assert_eq!(record.len(), 23 + 3 * 5 + 3 + 3 + 4);
        let (length_size, sets) = parse_hvcc(&record).unwrap();
        assert_eq!(length_size, 4);
        let types: Vec<u8> = sets.iter().map(|s| (s[0] >> 1) & 0x3F).collect();
        assert_eq!(types, [NAL_VPS, NAL_SPS, NAL_PPS]);
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_an_error() {
        let full = record();
        for len in 0..full.len() {
            assert!(
                parse_hvcc(&Bytes::copy_from_slice(&full[..len])).is_err(),
                "{len}"
            );
        }
        let mut long = full.clone();
        long.push(0);
        assert_eq!(
            parse_hvcc(&Bytes::from(long)),
            Err(TsError::HevcConfig("trailing data"))
        );
    }
}
