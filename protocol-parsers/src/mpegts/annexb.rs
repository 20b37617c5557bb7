//! AVCC/HVCC access units (length-prefixed NAL units) to the Annex B byte stream that
//! TS carries (ITU-T H.264 / H.265 Annex B): start codes instead of lengths, an access
//! unit delimiter first, and the parameter sets in band before every keyframe.

use bytes::Bytes;

use super::TsError;
use super::hvcc::{self, parse_hvcc};
use crate::h264::AvcDecoderConfig;

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Which NAL unit header syntax the stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NalSyntax {
    H264,
    H265,
}

impl NalSyntax {
    fn nal_type(self, header: u8) -> u8 {
        match self {
            Self::H264 => header & 0x1F,
            Self::H265 => (header >> 1) & 0x3F,
        }
    }

    /// An access unit delimiter that allows any slice type.
    fn aud(self) -> &'static [u8] {
        match self {
            // nal_unit_type 9, primary_pic_type 7, stop bit.
            Self::H264 => &[0x09, 0xF0],
            // nal_unit_type 35, layer 0, temporal id 1; pic_type 2, stop bit.
            Self::H265 => &[0x46, 0x01, 0x50],
        }
    }

    fn is_aud(self, nal_type: u8) -> bool {
        nal_type
            == match self {
                Self::H264 => 9,
                Self::H265 => 35,
            }
    }

    fn is_sps(self, nal_type: u8) -> bool {
        nal_type
            == match self {
                Self::H264 => 7,
                Self::H265 => hvcc::NAL_SPS,
            }
    }
}

/// What a video track's frames need to become Annex B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VideoParams {
    pub(super) syntax: NalSyntax,
    nal_length_size: u8,
    /// SPS then PPS (H.264); VPS, SPS, PPS (HEVC).
    parameter_sets: Vec<Bytes>,
}

impl VideoParams {
    pub(super) fn from_avcc(record: &Bytes) -> Result<Self, TsError> {
        let config = AvcDecoderConfig::parse(record)?;
        let mut parameter_sets = config.sps;
        parameter_sets.extend(config.pps);
        Ok(Self {
            syntax: NalSyntax::H264,
            nal_length_size: config.nal_length_size,
            parameter_sets,
        })
    }

    pub(super) fn from_hvcc(record: &Bytes) -> Result<Self, TsError> {
        let (nal_length_size, parameter_sets) = parse_hvcc(record)?;
        Ok(Self {
            syntax: NalSyntax::H265,
            nal_length_size,
            parameter_sets,
        })
    }
}

/// One frame, checked and measured, ready to be written as Annex B.
pub(super) struct AccessUnit<'a> {
    params: &'a VideoParams,
    data: &'a [u8],
    with_parameter_sets: bool,
    len: usize,
}

impl<'a> AccessUnit<'a> {
    /// Checks every NAL length of `data` against the frame and measures the output.
    /// Parameter sets from the record go before a keyframe unless it carries its own
    /// SPS; access unit delimiters in the frame are dropped for the one written first.
    pub(super) fn new(
        params: &'a VideoParams,
        data: &'a [u8],
        keyframe: bool,
    ) -> Result<Self, TsError> {
        let mut len = START_CODE.len() + params.syntax.aud().len();
        let mut has_sps = false;
        for nal in nal_units(data, params.nal_length_size) {
            let nal = nal?;
            let Some(&header) = nal.first() else {
                continue;
            };
            let nal_type = params.syntax.nal_type(header);
            has_sps |= params.syntax.is_sps(nal_type);
            if !params.syntax.is_aud(nal_type) {
                len += START_CODE.len() + nal.len();
            }
        }
        let with_parameter_sets = keyframe && !has_sps;
        if with_parameter_sets {
            len += params
                .parameter_sets
                .iter()
                .map(|set| START_CODE.len() + set.len())
                .sum::<usize>();
        }
        Ok(Self {
            params,
            data,
            with_parameter_sets,
            len,
        })
    }

    /// Bytes [`write`](Self::write) produces.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Hands the Annex B stream to `sink` piece by piece (start codes, NAL units), so
    /// it can go straight into TS packets without an intermediate buffer.
    pub(super) fn write(&self, mut sink: impl FnMut(&[u8])) {
        let syntax = self.params.syntax;
        sink(&START_CODE);
        sink(syntax.aud());
        if self.with_parameter_sets {
            for set in &self.params.parameter_sets {
                sink(&START_CODE);
                sink(set);
            }
        }
        // `new` checked every length, so no error or short read is left here.
        for nal in nal_units(self.data, self.params.nal_length_size).flatten() {
            if let Some(&header) = nal.first() {
                if !syntax.is_aud(syntax.nal_type(header)) {
                    sink(&START_CODE);
                    sink(nal);
                }
            }
        }
    }
}

/// The NAL units of a length-prefixed access unit, in order; an error ends it.
fn nal_units(data: &[u8], length_size: u8) -> NalUnits<'_> {
    NalUnits {
        data,
        at: 0,
        length_size: usize::from(length_size),
    }
}

struct NalUnits<'a> {
    data: &'a [u8],
    at: usize,
    length_size: usize,
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = Result<&'a [u8], TsError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.at..).filter(|r| !r.is_empty())?;
        let at = self.at;
        // Ends iteration after this item whatever it is; set again on success.
        self.at = self.data.len();
        let Some(prefix) = rest.get(..self.length_size) else {
            return Some(Err(TsError::BadNalLength {
                at,
                len: self.length_size,
                left: rest.len(),
            }));
        };
        let len = prefix
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        let body = rest.get(self.length_size..);
        let Some(nal) = body.and_then(|b| b.get(..len)) else {
            return Some(Err(TsError::BadNalLength {
                at,
                len,
                left: rest.len() - self.length_size,
            }));
        };
        self.at = at + self.length_size + len;
        Some(Ok(nal))
    }
}

#[cfg(test)]
mod tests {
    use super::super::hvcc;
    use super::*;

    /// The AVC record of FFmpeg 5.1.9's libx264 High 1080p output, as in the
    /// `h264::avcc` tests: SPS at 8..35, PPS at 38..44.
    const FFMPEG_AVCC_HIGH_1080P: [u8; 48] = [
        0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40,
        0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00,
        0xf0, 0x3c, 0x60, 0xc6, 0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
        0xf8, 0xf8, 0x00,
    ];

    fn convert(params: &VideoParams, data: &[u8], keyframe: bool) -> Vec<u8> {
        let au = AccessUnit::new(params, data, keyframe).unwrap();
        let mut out = Vec::new();
        au.write(|piece| out.extend_from_slice(piece));
        assert_eq!(out.len(), au.len(), "measured length matches");
        out
    }

    fn avc() -> VideoParams {
        VideoParams::from_avcc(&Bytes::from_static(&FFMPEG_AVCC_HIGH_1080P)).unwrap()
    }

    #[test]
    fn h264_non_keyframe() {
        // An AUD already in the frame, then two slices.
        let data = [
            0, 0, 0, 2, 0x09, 0x10, 0, 0, 0, 3, 0x41, 0x9A, 0x01, 0, 0, 0, 1, 0x01,
        ];
        assert_eq!(
            convert(&avc(), &data, false),
            [
                0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x41, 0x9A, 0x01, 0, 0, 0, 1, 0x01
            ]
        );
    }

    #[test]
    fn h264_keyframe_gets_sps_and_pps_from_the_record() {
        let params = avc();
        let out = convert(&params, &[0, 0, 0, 2, 0x65, 0x88], true);
        let sps = &FFMPEG_AVCC_HIGH_1080P[8..8 + 27];
        let pps = &FFMPEG_AVCC_HIGH_1080P[38..44];
        let mut want = vec![0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1];
        want.extend_from_slice(sps);
        want.extend_from_slice(&[0, 0, 0, 1]);
        want.extend_from_slice(pps);
        want.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
        assert_eq!(out, want);
        // A keyframe that carries its own SPS gets no second copy.
        let mut in_band = vec![0, 0, 0, 27];
        in_band.extend_from_slice(sps);
        in_band.extend_from_slice(&[0, 0, 0, 2, 0x65, 0x88]);
        let out = convert(&params, &in_band, true);
        assert_eq!(out.len(), 6 + 4 + 27 + 4 + 2);
    }

    #[test]
    fn short_length_prefixes() {
        let mut params = avc();
        params.nal_length_size = 2;
        assert_eq!(
            convert(&params, &[0, 1, 0x01, 0, 2, 0x01, 0x02], false),
            [
                0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x01, 0, 0, 0, 1, 0x01, 0x02
            ]
        );
        params.nal_length_size = 1;
        assert_eq!(
            convert(&params, &[1, 0x01, 0], false),
            [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x01],
            "an empty NAL unit is dropped"
        );
    }

    #[test]
    fn hevc_keyframe_gets_aud_vps_sps_pps() {
        let params = VideoParams::from_hvcc(&Bytes::from(hvcc::tests::record())).unwrap();
        // IDR_W_RADL (type 19): header 0x26 0x01.
        let out = convert(&params, &[0, 0, 0, 3, 0x26, 0x01, 0xAF], true);
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0x46, 0x01, 0x50, // AUD
                0, 0, 0, 1, 0x40, 0x01, 0x0C, // VPS
                0, 0, 0, 1, 0x42, 0x01, 0x01, 0x01, // SPS
                0, 0, 0, 1, 0x44, 0x01, 0xC1, // PPS
                0, 0, 0, 1, 0x26, 0x01, 0xAF,
            ]
        );
        // TRAIL_R (type 1), not a keyframe: AUD and the slice only.
        let out = convert(&params, &[0, 0, 0, 2, 0x02, 0x01], false);
        assert_eq!(out, [0, 0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 0, 1, 0x02, 0x01]);
    }

    #[test]
    fn lengths_past_the_end_are_errors() {
        let params = avc();
        for (data, at, len, left) in [
            (&[0, 0, 0, 5, 0x65][..], 0, 5, 1),
            (&[0, 0, 0, 1, 0x65, 0, 0][..], 5, 4, 2),
            (&[0xFF, 0xFF, 0xFF, 0xFF][..], 0, 0xFFFF_FFFF, 0),
        ] {
            assert_eq!(
                AccessUnit::new(&params, data, false).err(),
                Some(TsError::BadNalLength { at, len, left }),
                "{data:?}"
            );
        }
    }
}
