//! Sequence parameter set (H.264 7.3.2.1.1): just enough to learn profile, level and
//! the displayed picture size.

use super::H264Error;
use super::bits::{BitReader, GolombError, OutOfBits, nal_to_rbsp};

/// What a muxer needs from an SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub level_idc: u8,
    /// Displayed width in luma samples, after frame cropping.
    pub width: u32,
    /// Displayed height in luma samples, after frame cropping.
    pub height: u32,
}

/// The fields an avcC record repeats for high profiles, kept out of [`SpsInfo`] because
/// only the record encoder needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpsDetail {
    pub(crate) info: SpsInfo,
    pub(crate) chroma_format_idc: u8,
    pub(crate) bit_depth_luma_minus8: u8,
    pub(crate) bit_depth_chroma_minus8: u8,
}

/// NAL unit type of a sequence parameter set.
const NAL_TYPE_SPS: u8 = 7;

/// Profiles whose SPS carries chroma format, bit depth and scaling lists (7.3.2.1.1).
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// Parses an SPS NAL unit, header byte included, without a start code or length prefix.
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, H264Error> {
    parse_sps_detail(nal).map(|d| d.info)
}

pub(crate) fn parse_sps_detail(nal: &[u8]) -> Result<SpsDetail, H264Error> {
    let (&header, _) = nal
        .split_first()
        .ok_or(H264Error::Truncated { what: "SPS" })?;
    let nal_type = header & 0x1F;
    if nal_type != NAL_TYPE_SPS {
        return Err(H264Error::NotSps(nal_type));
    }
    let rbsp = nal_to_rbsp(nal);
    let mut r = BitReader::new(&rbsp);
    r.skip(8).map_err(truncated)?;

    let profile_idc = r.read_u8(8).map_err(truncated)?;
    r.skip(8).map_err(truncated)?; // constraint_set flags and reserved_zero_2bits
    let level_idc = r.read_u8(8).map_err(truncated)?;
    let sps_id = ue(&mut r, "seq_parameter_set_id")?;
    check("seq_parameter_set_id", sps_id, 31)?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma_minus8 = 0;
    let mut bit_depth_chroma_minus8 = 0;
    if HIGH_PROFILES.contains(&profile_idc) {
        chroma_format_idc = small(&mut r, "chroma_format_idc", 3)?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.read_bit().map_err(truncated)?;
        }
        bit_depth_luma_minus8 = small(&mut r, "bit_depth_luma_minus8", 6)?;
        bit_depth_chroma_minus8 = small(&mut r, "bit_depth_chroma_minus8", 6)?;
        r.skip(1).map_err(truncated)?; // qpprime_y_zero_transform_bypass_flag
        if r.read_bit().map_err(truncated)? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.read_bit().map_err(truncated)? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }

    let log2_max_frame_num_minus4 = ue(&mut r, "log2_max_frame_num_minus4")?;
    check("log2_max_frame_num_minus4", log2_max_frame_num_minus4, 12)?;
    let poc_type = ue(&mut r, "pic_order_cnt_type")?;
    match poc_type {
        0 => {
            let lsb = ue(&mut r, "log2_max_pic_order_cnt_lsb_minus4")?;
            check("log2_max_pic_order_cnt_lsb_minus4", lsb, 12)?;
        }
        1 => {
            r.skip(1).map_err(truncated)?; // delta_pic_order_always_zero_flag
            se(&mut r, "offset_for_non_ref_pic")?;
            se(&mut r, "offset_for_top_to_bottom_field")?;
            let cycle = ue(&mut r, "num_ref_frames_in_pic_order_cnt_cycle")?;
            check("num_ref_frames_in_pic_order_cnt_cycle", cycle, 255)?;
            for _ in 0..cycle {
                se(&mut r, "offset_for_ref_frame")?;
            }
        }
        2 => {}
        other => {
            return Err(H264Error::InvalidSpsField {
                field: "pic_order_cnt_type",
                value: other,
            });
        }
    }
    ue(&mut r, "max_num_ref_frames")?;
    r.skip(1).map_err(truncated)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(ue(&mut r, "pic_width_in_mbs_minus1")?) + 1;
    let height_map_units = u64::from(ue(&mut r, "pic_height_in_map_units_minus1")?) + 1;
    let frame_mbs_only = r.read_bit().map_err(truncated)?;
    if !frame_mbs_only {
        r.skip(1).map_err(truncated)?; // mb_adaptive_frame_field_flag
    }
    r.skip(1).map_err(truncated)?; // direct_8x8_inference_flag
    let (mut crop_left, mut crop_right, mut crop_top, mut crop_bottom) = (0u64, 0u64, 0u64, 0u64);
    if r.read_bit().map_err(truncated)? {
        crop_left = ue(&mut r, "frame_crop_left_offset")?.into();
        crop_right = ue(&mut r, "frame_crop_right_offset")?.into();
        crop_top = ue(&mut r, "frame_crop_top_offset")?.into();
        crop_bottom = ue(&mut r, "frame_crop_bottom_offset")?.into();
    }
    // The VUI that follows carries nothing a muxer needs, so parsing stops here.

    // Field-coded streams count map units in field pairs (7-18).
    let frame_height_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    // Crop offsets are in chroma sample units (7-19 .. 7-22).
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (crop_unit_x, crop_unit_y) = match chroma_array_type {
        0 => (1, frame_height_factor),
        1 => (2, 2 * frame_height_factor),
        2 => (2, frame_height_factor),
        _ => (1, frame_height_factor),
    };
    let full_width = width_mbs * 16;
    let full_height = height_map_units * 16 * frame_height_factor;
    let crop_x = crop_unit_x * (crop_left + crop_right);
    let crop_y = crop_unit_y * (crop_top + crop_bottom);
    if crop_x >= full_width || crop_y >= full_height {
        return Err(H264Error::InvalidCropping);
    }
    let width = u32::try_from(full_width - crop_x).map_err(|_| H264Error::PictureTooLarge)?;
    let height = u32::try_from(full_height - crop_y).map_err(|_| H264Error::PictureTooLarge)?;

    Ok(SpsDetail {
        info: SpsInfo {
            profile_idc,
            level_idc,
            width,
            height,
        },
        chroma_format_idc,
        bit_depth_luma_minus8,
        bit_depth_chroma_minus8,
    })
}

/// Walks a scaling_list() (7.3.2.1.1.1); the values themselves are not needed.
fn skip_scaling_list(r: &mut BitReader<'_>, size: u32) -> Result<(), H264Error> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = se(r, "delta_scale")?;
            if !(-128..=127).contains(&delta) {
                return Err(H264Error::InvalidSpsField {
                    field: "delta_scale",
                    value: delta.unsigned_abs(),
                });
            }
            next_scale = (last_scale + delta + 256).rem_euclid(256);
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

fn truncated(_: OutOfBits) -> H264Error {
    H264Error::Truncated { what: "SPS" }
}

fn golomb(field: &'static str) -> impl Fn(GolombError) -> H264Error {
    move |e| match e {
        GolombError::OutOfBits => H264Error::Truncated { what: "SPS" },
        GolombError::Overflow => H264Error::InvalidSpsField {
            field,
            value: u32::MAX,
        },
    }
}

fn ue(r: &mut BitReader<'_>, field: &'static str) -> Result<u32, H264Error> {
    r.read_ue().map_err(golomb(field))
}

fn se(r: &mut BitReader<'_>, field: &'static str) -> Result<i32, H264Error> {
    r.read_se().map_err(golomb(field))
}

fn check(field: &'static str, value: u32, max: u32) -> Result<(), H264Error> {
    if value > max {
        return Err(H264Error::InvalidSpsField { field, value });
    }
    Ok(())
}

/// Reads a `ue(v)` whose legal range fits a byte.
fn small(r: &mut BitReader<'_>, field: &'static str, max: u8) -> Result<u8, H264Error> {
    let value = ue(r, field)?;
    match u8::try_from(value) {
        Ok(v) if v <= max => Ok(v),
        _ => Err(H264Error::InvalidSpsField { field, value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=30 -t 1 -c:v libx264 -profile:v high
    /// -bsf:v h264_mp4toannexb -f h264 out.h264` (FFmpeg 5.1.9, x264 core 164), first NAL.
    pub(crate) const X264_HIGH_1080P: [u8; 27] = [
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
    ];

    /// `ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -t 1 -c:v libx264 -profile:v baseline
    /// -bsf:v h264_mp4toannexb -f h264 base720.h264` (FFmpeg 5.1.9), first NAL.
    const X264_BASELINE_720P: [u8; 25] = [
        0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x24, 0x80,
    ];

    /// `ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=30 -frames:v 1 -c:v libx264 -profile:v high
    /// -x264-params interlaced=1 -bsf:v h264_mp4toannexb -f h264 int1080.h264`: frame_mbs_only = 0.
    const X264_INTERLACED_1080: [u8; 26] = [
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x04, 0x4f, 0xde, 0x02, 0x20, 0x00, 0x00,
        0x03, 0x00, 0x20, 0x00, 0x00, 0x07, 0x83, 0xe2, 0xc5, 0xb2, 0xc0,
    ];

    /// `ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -frames:v 1 -pix_fmt yuv444p -c:v libx264
    /// -profile:v high444 -bsf:v h264_mp4toannexb -f h264 h444.h264`: chroma_format_idc = 3.
    const X264_HIGH444_720P: [u8; 26] = [
        0x67, 0xf4, 0x00, 0x1f, 0x91, 0x9b, 0x28, 0x0a, 0x00, 0xb7, 0x60, 0x22, 0x00, 0x00, 0x03,
        0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x78, 0x1e, 0x30, 0x63, 0x2c,
    ];

    /// `ffmpeg -f lavfi -i testsrc2=size=642x362:rate=30 -frames:v 1 -pix_fmt yuv422p10le
    /// -c:v libx264 -profile:v high422 -bsf:v h264_mp4toannexb -f h264 h422.h264`: 4:2:2,
    /// 10 bit, cropped on both axes.
    const X264_HIGH422_642X362: [u8; 27] = [
        0x67, 0x7a, 0x00, 0x1e, 0xb6, 0xcd, 0x94, 0x0a, 0x42, 0xfe, 0x22, 0x7c, 0x04, 0x40, 0x00,
        0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0f, 0x03, 0xc5, 0x8b, 0x65, 0x80,
    ];

    #[test]
    fn x264_high_1080p() {
        let info = parse_sps(&X264_HIGH_1080P).unwrap();
        assert_eq!(
            info,
            SpsInfo {
                profile_idc: 100,
                level_idc: 40,
                width: 1920,
                height: 1080
            }
        );
    }

    #[test]
    fn x264_baseline_720p() {
        let info = parse_sps(&X264_BASELINE_720P).unwrap();
        assert_eq!(
            info,
            SpsInfo {
                profile_idc: 66,
                level_idc: 31,
                width: 1280,
                height: 720
            }
        );
    }

    #[test]
    fn interlaced_counts_field_pairs() {
        let info = parse_sps(&X264_INTERLACED_1080).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
    }

    #[test]
    fn high_444_and_422() {
        let d = parse_sps_detail(&X264_HIGH444_720P).unwrap();
        assert_eq!(
            (d.info.profile_idc, d.info.width, d.info.height),
            (244, 1280, 720)
        );
        assert_eq!(d.chroma_format_idc, 3);
        let d = parse_sps_detail(&X264_HIGH422_642X362).unwrap();
        assert_eq!(
            (d.info.profile_idc, d.info.width, d.info.height),
            (122, 642, 362)
        );
        assert_eq!((d.chroma_format_idc, d.bit_depth_luma_minus8), (2, 2));
    }

    /// MSB-first bit writer for hand-built SPSs.
    struct BitWriter {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        fn new() -> Self {
            Self {
                bytes: Vec::new(),
                bits: 0,
            }
        }
        fn bit(&mut self, b: bool) {
            if self.bits % 8 == 0 {
                self.bytes.push(0);
            }
            if b {
                *self.bytes.last_mut().unwrap() |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
        }
        fn bits(&mut self, n: u32, v: u32) {
            for i in (0..n).rev() {
                self.bit((v >> i) & 1 == 1);
            }
        }
        fn ue(&mut self, v: u32) {
            let x = u64::from(v) + 1;
            let len = 64 - x.leading_zeros();
            self.bits(len - 1, 0);
            for i in (0..len).rev() {
                self.bit((x >> i) & 1 == 1);
            }
        }
        fn se(&mut self, v: i32) {
            let k = if v > 0 { 2 * v - 1 } else { -2 * v };
            self.ue(k as u32);
        }
        /// Adds the stop bit and escapes `00 00 0x` (x <= 3) as the NAL syntax requires.
        fn into_nal(mut self) -> Vec<u8> {
            self.bit(true);
            let mut out = vec![0x67];
            let mut zeros = 0;
            for b in self.bytes {
                if zeros >= 2 && b <= 3 {
                    out.push(3);
                    zeros = 0;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                out.push(b);
            }
            out
        }
    }

    /// A High profile SPS with explicit scaling lists, interlaced, with 4:2:0 cropping.
    fn scaling_list_sps() -> Vec<u8> {
        let mut w = BitWriter::new();
        w.bits(8, 100); // profile_idc
        w.bits(8, 0);
        w.bits(8, 41); // level_idc
        w.ue(0); // sps id
        w.ue(1); // chroma_format_idc
        w.ue(0);
        w.ue(0);
        w.bit(false);
        w.bit(true); // seq_scaling_matrix_present_flag
        for i in 0..8 {
            let present = i % 3 != 2;
            w.bit(present);
            if present {
                let size = if i < 6 { 16 } else { 64 };
                for j in 0..size {
                    // Alternating deltas keep next_scale away from 0 so every entry is coded.
                    w.se(if j % 2 == 0 { 5 } else { -3 });
                }
            }
        }
        w.ue(0); // log2_max_frame_num_minus4
        w.ue(1); // pic_order_cnt_type 1
        w.bit(false);
        w.se(-2);
        w.se(1);
        w.ue(3);
        for v in [1, -1, 7] {
            w.se(v);
        }
        w.ue(4); // max_num_ref_frames
        w.bit(false);
        w.ue(119); // 1920 / 16 - 1
        w.ue(33); // 34 field-pair map units = 1088 lines
        w.bit(false); // frame_mbs_only_flag
        w.bit(true);
        w.bit(true);
        w.bit(true); // frame_cropping_flag
        w.ue(0);
        w.ue(0);
        w.ue(0);
        w.ue(2); // 2 * CropUnitY (4) = 8 lines
        w.bit(false); // vui_parameters_present_flag
        w.into_nal()
    }

    #[test]
    fn explicit_scaling_lists_and_poc_type_1() {
        let info = parse_sps(&scaling_list_sps()).unwrap();
        assert_eq!(
            info,
            SpsInfo {
                profile_idc: 100,
                level_idc: 41,
                width: 1920,
                height: 1080
            }
        );
    }

    #[test]
    fn truncation_fails_or_agrees() {
        for sps in [
            X264_HIGH_1080P.to_vec(),
            X264_BASELINE_720P.to_vec(),
            scaling_list_sps(),
        ] {
            let full = parse_sps(&sps).unwrap();
            // Parsing stops before the VUI, so a prefix that keeps every field up to the
            // cropping offsets may succeed, but then it must agree with the whole SPS.
            for len in 0..sps.len() {
                if let Ok(info) = parse_sps(&sps[..len]) {
                    assert_eq!(info, full, "prefix {len} of {sps:02x?}");
                }
            }
            for len in 0..8 {
                assert!(parse_sps(&sps[..len]).is_err(), "prefix {len}");
            }
        }
    }

    #[test]
    fn rejects_other_nal_types_and_bad_fields() {
        assert_eq!(parse_sps(&[0x68, 0xeb]), Err(H264Error::NotSps(8)));
        assert_eq!(parse_sps(&[]), Err(H264Error::Truncated { what: "SPS" }));
        // Cropping everything away.
        let mut w = BitWriter::new();
        w.bits(8, 66);
        w.bits(8, 0);
        w.bits(8, 30);
        w.ue(0);
        w.ue(0);
        w.ue(2);
        w.ue(1);
        w.bit(false);
        w.ue(0); // 16 wide
        w.ue(0); // 16 high
        w.bit(true);
        w.bit(true);
        w.bit(true);
        w.ue(4); // 8 samples left
        w.ue(4); // 8 samples right
        w.ue(0);
        w.ue(0);
        assert_eq!(parse_sps(&w.into_nal()), Err(H264Error::InvalidCropping));
    }

    #[test]
    fn huge_dimensions_do_not_overflow() {
        let mut w = BitWriter::new();
        w.bits(8, 66);
        w.bits(8, 0);
        w.bits(8, 30);
        w.ue(0);
        w.ue(0);
        w.ue(2);
        w.ue(1);
        w.bit(false);
        w.ue(u32::MAX - 1);
        w.ue(u32::MAX - 1);
        w.bit(false);
        w.bit(false);
        w.bit(true);
        w.bit(false);
        assert_eq!(parse_sps(&w.into_nal()), Err(H264Error::PictureTooLarge));
    }
}
