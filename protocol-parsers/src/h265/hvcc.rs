//! Building an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) from the VPS,
//! SPS and PPS NAL units a stream carries in band (MPEG-TS, Annex B).

use bytes::Bytes;

use super::{H265Error, HevcSps, NAL_PPS, NAL_SPS, NAL_VPS, parse_sps};

/// Most parameter sets of one kind in a record: H.265 allows 16 VPSs, 16 SPSs and 64
/// PPSs to be active by id.
const MAX_SETS: [(u8, usize); 3] = [(NAL_VPS, 16), (NAL_SPS, 16), (NAL_PPS, 64)];

/// A record and what its first SPS says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    pub record: Bytes,
    pub sps: HevcSps,
}

/// The record for these parameter sets, in the order given, with 4-byte NAL lengths
/// and array_completeness set: the frames that go with it carry no parameter sets.
///
/// Fields the record takes from elsewhere than the SPS are written as "unknown":
/// min_spatial_segmentation_idc 0 (which makes parallelismType 0, as FFmpeg does),
/// avgFrameRate 0 and constantFrameRate 0.
pub fn build_hvcc(vps: &[Bytes], sps: &[Bytes], pps: &[Bytes]) -> Result<HevcConfig, H265Error> {
    let first = sps.first().ok_or(H265Error::MissingParameterSet("SPS"))?;
    let info = parse_sps(first)?;
    if vps.is_empty() {
        return Err(H265Error::MissingParameterSet("VPS"));
    }
    if pps.is_empty() {
        return Err(H265Error::MissingParameterSet("PPS"));
    }
    let arrays = [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps)];
    for ((nal_type, sets), (_, max)) in arrays.iter().zip(MAX_SETS) {
        if sets.len() > max {
            return Err(H265Error::TooManyParameterSets {
                kind: kind(*nal_type),
                count: sets.len(),
                max,
            });
        }
        if let Some(long) = sets.iter().find(|s| u16::try_from(s.len()).is_err()) {
            return Err(H265Error::ParameterSetTooLong {
                kind: kind(*nal_type),
                len: long.len(),
            });
        }
    }

    let ptl = info.profile_tier_level;
    let mut out = Vec::with_capacity(
        23 + arrays
            .iter()
            .flat_map(|(_, sets)| sets.iter().map(|s| 2 + s.len()))
            .sum::<usize>()
            + 3 * arrays.len(),
    );
    out.push(1); // configurationVersion
    out.push((ptl.profile_space << 6) | (u8::from(ptl.tier) << 5) | (ptl.profile_idc & 0x1F));
    out.extend_from_slice(&ptl.compatibility_flags.to_be_bytes());
    out.extend_from_slice(&ptl.constraint_flags.to_be_bytes()[2..]);
    out.push(ptl.level_idc);
    out.extend_from_slice(&[0xF0, 0x00]); // reserved, min_spatial_segmentation_idc 0
    out.push(0xFC); // reserved, parallelismType 0
    out.push(0xFC | info.chroma_format_idc);
    out.push(0xF8 | (info.bit_depth_luma - 8));
    out.push(0xF8 | (info.bit_depth_chroma - 8));
    out.extend_from_slice(&[0, 0]); // avgFrameRate
    // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3.
    out.push(((info.max_sub_layers & 0x07) << 3) | (u8::from(info.temporal_id_nesting) << 2) | 3);
    out.push(arrays.len() as u8);
    for (nal_type, sets) in arrays {
        out.push(0x80 | nal_type); // array_completeness 1
        // Counts and lengths were checked against MAX_SETS and u16 above.
        out.extend_from_slice(&(sets.len() as u16).to_be_bytes());
        for set in sets {
            out.extend_from_slice(&(set.len() as u16).to_be_bytes());
            out.extend_from_slice(set);
        }
    }
    Ok(HevcConfig {
        record: Bytes::from(out),
        sps: info,
    })
}

fn kind(nal_type: u8) -> &'static str {
    match nal_type {
        NAL_VPS => "video",
        NAL_SPS => "sequence",
        _ => "picture",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::vectors::{
        X265_MAIN_320X240_PPS, X265_MAIN_320X240_SPS as X265_MAIN_320X240, X265_MAIN_320X240_VPS,
    };

    /// The `hvcC` FFmpeg 5.1.9 writes for the stream of [`X265_MAIN_320X240`] with
    /// `ffmpeg -i hevc.ts -map 0:v -c copy -tag:v hvc1 -f mp4`.
    const FFMPEG_HVC1: &str = "0101600000009000000000003cf000fcfdf8f800000f03a00001001840010c01ff\
        ff01600000030090000003000003003c959809a10001002a42010101600000030090000003000003003ca0\
        0a080f165959a4932bc05a020000030002000003003c10a2000100074401c172b46240";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn matches_ffmpeg_hvc1() {
        let config = build_hvcc(
            &[Bytes::from_static(&X265_MAIN_320X240_VPS)],
            &[Bytes::from_static(&X265_MAIN_320X240)],
            &[Bytes::from_static(&X265_MAIN_320X240_PPS)],
        )
        .unwrap();
        assert_eq!(config.record.as_ref(), unhex(FFMPEG_HVC1));
        assert_eq!((config.sps.width, config.sps.height), (320, 240));
    }

    #[test]
    fn every_kind_is_required() {
        let vps = [Bytes::from_static(&X265_MAIN_320X240_VPS)];
        let sps = [Bytes::from_static(&X265_MAIN_320X240)];
        let pps = [Bytes::from_static(&X265_MAIN_320X240_PPS)];
        assert_eq!(
            build_hvcc(&[], &sps, &pps),
            Err(H265Error::MissingParameterSet("VPS"))
        );
        assert_eq!(
            build_hvcc(&vps, &[], &pps),
            Err(H265Error::MissingParameterSet("SPS"))
        );
        assert_eq!(
            build_hvcc(&vps, &sps, &[]),
            Err(H265Error::MissingParameterSet("PPS"))
        );
        let long = vec![Bytes::from(vec![0x44; 70_000])];
        assert_eq!(
            build_hvcc(&vps, &sps, &long),
            Err(H265Error::ParameterSetTooLong {
                kind: "picture",
                len: 70_000
            })
        );
    }
}
