//! Sequence parameter set (H.265 7.3.2.2.1): the fields up to the bit depths, which
//! is what an HEVCDecoderConfigurationRecord repeats and what the picture size needs.

use super::{H265Error, NAL_SPS, nal_type};
use crate::h264::bits::{BitReader, GolombError, OutOfBits, nal_to_rbsp};

/// profile_tier_level() (7.3.3) of the general layer; sub-layer entries are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileTierLevel {
    pub profile_space: u8,
    pub tier: bool,
    pub profile_idc: u8,
    pub compatibility_flags: u32,
    /// The 48 bits from general_progressive_source_flag to general_inbld_flag/reserved,
    /// in the low bits.
    pub constraint_flags: u64,
    pub level_idc: u8,
}

/// What an HEVCDecoderConfigurationRecord and a player need from an SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSps {
    pub vps_id: u8,
    pub sps_id: u8,
    /// sps_max_sub_layers_minus1 + 1: the record's numTemporalLayers.
    pub max_sub_layers: u8,
    pub temporal_id_nesting: bool,
    pub profile_tier_level: ProfileTierLevel,
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// Displayed width in luma samples, after the conformance window.
    pub width: u32,
    /// Displayed height in luma samples, after the conformance window.
    pub height: u32,
}

/// sps_max_sub_layers_minus1 is 0..=6.
const MAX_SUB_LAYERS_MINUS1: u8 = 6;
/// sps_seq_parameter_set_id is 0..=15.
const MAX_SPS_ID: u32 = 15;
/// bit_depth_*_minus8 is 0..=8.
const MAX_BIT_DEPTH_MINUS8: u32 = 8;

/// Parses an SPS NAL unit, its two-byte header included, without a start code or
/// length prefix. Parsing stops after the bit depths: the rest (POC, scaling lists,
/// reference picture sets, VUI) carries nothing the record needs.
pub fn parse_sps(nal: &[u8]) -> Result<HevcSps, H265Error> {
    let &header = nal.first().ok_or(TRUNCATED)?;
    let nal_type = nal_type(header);
    if nal_type != NAL_SPS {
        return Err(H265Error::NotSps(nal_type));
    }
    let rbsp = nal_to_rbsp(nal);
    let mut r = BitReader::new(&rbsp);
    r.skip(16).map_err(truncated)?;

    let vps_id = r.read_u8(4).map_err(truncated)?;
    let max_sub_layers_minus1 = r.read_u8(3).map_err(truncated)?;
    if max_sub_layers_minus1 > MAX_SUB_LAYERS_MINUS1 {
        return Err(H265Error::InvalidSpsField {
            field: "sps_max_sub_layers_minus1",
            value: max_sub_layers_minus1.into(),
        });
    }
    let temporal_id_nesting = r.read_bit().map_err(truncated)?;
    let profile_tier_level = profile_tier_level(&mut r, max_sub_layers_minus1)?;
    let sps_id = ue(&mut r, "sps_seq_parameter_set_id", MAX_SPS_ID)?;
    let chroma_format_idc = ue(&mut r, "chroma_format_idc", 3)?;
    let separate_colour_plane = chroma_format_idc == 3 && r.read_bit().map_err(truncated)?;
    let full_width = ue(&mut r, "pic_width_in_luma_samples", u32::MAX)?;
    let full_height = ue(&mut r, "pic_height_in_luma_samples", u32::MAX)?;
    let mut window = [0u32; 4];
    if r.read_bit().map_err(truncated)? {
        for offset in &mut window {
            *offset = ue(&mut r, "conf_win_offset", u32::MAX)?;
        }
    }
    let bit_depth_luma_minus8 = ue(&mut r, "bit_depth_luma_minus8", MAX_BIT_DEPTH_MINUS8)?;
    let bit_depth_chroma_minus8 = ue(&mut r, "bit_depth_chroma_minus8", MAX_BIT_DEPTH_MINUS8)?;

    // Window offsets count chroma samples (7-1, 7-2; Table 6-1).
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_width, sub_height): (u64, u64) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let [left, right, top, bottom] = window.map(u64::from);
    let crop_x = sub_width * (left + right);
    let crop_y = sub_height * (top + bottom);
    let (full_width, full_height) = (u64::from(full_width), u64::from(full_height));
    if crop_x >= full_width || crop_y >= full_height {
        return Err(H265Error::InvalidConformanceWindow);
    }
    // Smaller than the u32 they were read as.
    let width = u32::try_from(full_width - crop_x).unwrap_or(u32::MAX);
    let height = u32::try_from(full_height - crop_y).unwrap_or(u32::MAX);

    Ok(HevcSps {
        vps_id,
        sps_id: small(sps_id),
        max_sub_layers: max_sub_layers_minus1 + 1,
        temporal_id_nesting,
        profile_tier_level,
        chroma_format_idc: small(chroma_format_idc),
        bit_depth_luma: small(bit_depth_luma_minus8) + 8,
        bit_depth_chroma: small(bit_depth_chroma_minus8) + 8,
        width,
        height,
    })
}

fn profile_tier_level(
    r: &mut BitReader<'_>,
    max_sub_layers_minus1: u8,
) -> Result<ProfileTierLevel, H265Error> {
    let profile_space = r.read_u8(2).map_err(truncated)?;
    let tier = r.read_bit().map_err(truncated)?;
    let profile_idc = r.read_u8(5).map_err(truncated)?;
    let compatibility_flags = r.read_bits(32).map_err(truncated)?;
    let high = u64::from(r.read_bits(16).map_err(truncated)?);
    let low = u64::from(r.read_bits(32).map_err(truncated)?);
    let level_idc = r.read_u8(8).map_err(truncated)?;
    let mut present = [(false, false); MAX_SUB_LAYERS_MINUS1 as usize];
    for flags in present.iter_mut().take(max_sub_layers_minus1.into()) {
        *flags = (
            r.read_bit().map_err(truncated)?,
            r.read_bit().map_err(truncated)?,
        );
    }
    if max_sub_layers_minus1 > 0 {
        // reserved_zero_2bits up to eight sub-layers.
        r.skip(2 * (8 - usize::from(max_sub_layers_minus1)))
            .map_err(truncated)?;
    }
    for (profile_present, level_present) in present {
        if profile_present {
            r.skip(88).map_err(truncated)?;
        }
        if level_present {
            r.skip(8).map_err(truncated)?;
        }
    }
    Ok(ProfileTierLevel {
        profile_space,
        tier,
        profile_idc,
        compatibility_flags,
        constraint_flags: (high << 32) | low,
        level_idc,
    })
}

const TRUNCATED: H265Error = H265Error::Truncated { what: "SPS" };

fn truncated(_: OutOfBits) -> H265Error {
    TRUNCATED
}

/// A `ue(v)` no larger than `max`.
fn ue(r: &mut BitReader<'_>, field: &'static str, max: u32) -> Result<u32, H265Error> {
    match r.read_ue() {
        Ok(value) if value <= max => Ok(value),
        Ok(value) => Err(H265Error::InvalidSpsField { field, value }),
        Err(GolombError::OutOfBits) => Err(TRUNCATED),
        Err(GolombError::Overflow) => Err(H265Error::InvalidSpsField {
            field,
            value: u32::MAX,
        }),
    }
}

/// A value already checked to be at most 15.
fn small(value: u32) -> u8 {
    u8::try_from(value).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::vectors::{
        X265_MAIN_320X240_SPS as X265_MAIN_320X240, X265_MAIN_320X240_VPS,
    };

    /// `ffmpeg -f lavfi -i testsrc2=size=642x362:rate=30 -frames:v 1 -pix_fmt yuv422p10le
    /// -c:v libx265 -f hevc`: Main 4:2:2 10 (RExt), coded 648x368 with a conformance
    /// window down to 642x362.
    const X265_422_10_642X362: [u8; 43] = [
        0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9d, 0x08, 0x00, 0x00, 0x03, 0x00,
        0x00, 0x3f, 0xb0, 0x05, 0x12, 0x01, 0x71, 0xc9, 0x3b, 0x65, 0x95, 0x9a, 0x49, 0x32, 0xbc,
        0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0xc1,
    ];

    #[test]
    fn x265_main() {
        let sps = parse_sps(&X265_MAIN_320X240).unwrap();
        assert_eq!(
            sps,
            HevcSps {
                vps_id: 0,
                sps_id: 0,
                max_sub_layers: 1,
                temporal_id_nesting: true,
                profile_tier_level: ProfileTierLevel {
                    profile_space: 0,
                    tier: false,
                    profile_idc: 1,
                    compatibility_flags: 0x6000_0000,
                    constraint_flags: 0x9000_0000_0000,
                    level_idc: 60,
                },
                chroma_format_idc: 1,
                bit_depth_luma: 8,
                bit_depth_chroma: 8,
                width: 320,
                height: 240,
            }
        );
    }

    #[test]
    fn x265_422_10_bit_with_conformance_window() {
        let sps = parse_sps(&X265_422_10_642X362).unwrap();
        assert_eq!(sps.profile_tier_level.profile_idc, 4);
        assert_eq!(sps.chroma_format_idc, 2);
        assert_eq!((sps.bit_depth_luma, sps.bit_depth_chroma), (10, 10));
        assert_eq!((sps.width, sps.height), (642, 362));
    }

    #[test]
    fn truncation_and_other_nal_types() {
        // Parsing stops after the bit depths: a prefix holding them may parse, and
        // must then agree with the whole SPS.
        let full = parse_sps(&X265_MAIN_320X240).unwrap();
        for len in 0..X265_MAIN_320X240.len() {
            match parse_sps(&X265_MAIN_320X240[..len]) {
                Ok(sps) => assert_eq!(sps, full, "{len}"),
                Err(e) => assert!(len < 24, "{len}: {e}"),
            }
        }
        assert_eq!(
            parse_sps(&X265_MAIN_320X240_VPS),
            Err(H265Error::NotSps(32))
        );
        assert_eq!(parse_sps(&[]), Err(TRUNCATED));
    }

    #[test]
    fn sub_layers_are_skipped() {
        // max_sub_layers_minus1 = 1 with both sub-layer flags set: the general fields,
        // then 2 flags + 14 reserved bits, 88 + 8 sub-layer bits, then the SPS fields.
        let mut bits: Vec<bool> = Vec::new();
        let mut put = |n: u32, v: u64| (0..n).rev().for_each(|i| bits.push((v >> i) & 1 == 1));
        put(16, 0x4201);
        put(4, 0); // vps id
        put(3, 1); // max_sub_layers_minus1
        put(1, 1);
        put(8, 0x01); // space 0, tier 0, profile 1
        put(32, 0x6000_0000);
        put(48, 0);
        put(8, 93);
        put(2, 0b11);
        put(14, 0);
        put(44, 0);
        put(44, 0);
        put(8, 90);
        // ue: sps id 0, chroma 1, width 64, height 32, no window, depths 0 0.
        for (n, v) in [(1, 1), (3, 2), (13, 65), (11, 33), (1, 0), (1, 1), (1, 1)] {
            put(n, v);
        }
        put(8, 0x80);
        let bytes: Vec<u8> = bits
            .chunks(8)
            .map(|c| c.iter().fold(0, |b, &bit| (b << 1) | u8::from(bit)) << (8 - c.len()))
            .collect();
        let sps = parse_sps(&bytes).unwrap();
        assert_eq!(sps.max_sub_layers, 2);
        assert_eq!(sps.profile_tier_level.level_idc, 93);
        assert_eq!((sps.width, sps.height), (64, 32));
    }
}
