//! AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), the `record` of an FLV
//! AVC sequence header and the body of an MP4 `avcC` box.

use bytes::Bytes;

use super::H264Error;
use super::sps::parse_sps_detail;

/// Most SPSs and most PPSs accepted in one record. Real encoders send one of each;
/// the cap bounds the work a hostile record can cause.
pub const MAX_PARAMETER_SETS: usize = 32;

/// Profiles for which the record may carry the chroma/bit-depth extension (5.3.3.1.2).
const EXTENSION_PROFILES: [u8; 4] = [100, 110, 122, 144];

/// A parsed AVCDecoderConfigurationRecord. Parameter sets are zero-copy slices of the
/// record they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    pub profile: u8,
    pub compatibility: u8,
    pub level: u8,
    /// Bytes in each NAL unit length prefix of the frames: 1, 2 or 4.
    pub nal_length_size: u8,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

impl AvcDecoderConfig {
    pub fn parse(record: &Bytes) -> Result<Self, H264Error> {
        let mut r = Reader {
            data: record,
            pos: 0,
        };
        let version = r.u8()?;
        if version != 1 {
            return Err(H264Error::UnsupportedVersion(version));
        }
        let profile = r.u8()?;
        let compatibility = r.u8()?;
        let level = r.u8()?;
        // Six reserved bits precede lengthSizeMinusOne; encoders do not all set them,
        // so they are ignored.
        let nal_length_size = (r.u8()? & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(H264Error::InvalidNalLengthSize(nal_length_size));
        }
        let sps_count = usize::from(r.u8()? & 0x1F);
        let sps = r.parameter_sets(sps_count, "sequence")?;
        if sps.is_empty() {
            return Err(H264Error::NoSps);
        }
        let pps_count = usize::from(r.u8()?);
        let pps = r.parameter_sets(pps_count, "picture")?;

        // FFmpeg (since 5.1) and others append the extension for high profiles; it repeats
        // what the SPS says, so it is validated for shape and dropped.
        if r.remaining() > 0 {
            r.skip(3)?; // chroma_format, bit_depth_luma_minus8, bit_depth_chroma_minus8
            let ext_count = usize::from(r.u8()?);
            r.parameter_sets(ext_count, "sequence extension")?;
        }
        if r.remaining() > 0 {
            return Err(H264Error::TrailingData {
                what: "AVCDecoderConfigurationRecord",
                len: r.remaining(),
            });
        }
        Ok(Self {
            profile,
            compatibility,
            level,
            nal_length_size,
            sps,
            pps,
        })
    }

    /// Serialises the record.
    ///
    /// The format cannot hold more than 31 SPSs, 255 PPSs or a parameter set longer
    /// than 65535 bytes; such extras are left out rather than written corrupt (no
    /// encoder produces them). A `nal_length_size` other than 1, 2 or 4 is written as 4.
    /// For high profiles the chroma/bit-depth extension is derived from the first SPS
    /// when that SPS parses, as FFmpeg does.
    pub fn encode(&self) -> Vec<u8> {
        let fits = |p: &&Bytes| u16::try_from(p.len()).is_ok();
        let sps: Vec<&Bytes> = self.sps.iter().filter(fits).take(31).collect();
        let pps: Vec<&Bytes> = self.pps.iter().filter(fits).take(255).collect();
        let length_size_minus_one = match self.nal_length_size {
            1 => 0,
            2 => 1,
            _ => 3,
        };

        let mut out = vec![1, self.profile, self.compatibility, self.level];
        out.push(0xFC | length_size_minus_one);
        // The counts were capped above, so the conversions cannot fail.
        out.push(0xE0 | u8::try_from(sps.len()).unwrap_or(0));
        write_sets(&mut out, &sps);
        out.push(u8::try_from(pps.len()).unwrap_or(0));
        write_sets(&mut out, &pps);

        if EXTENSION_PROFILES.contains(&self.profile) {
            if let Some(detail) = sps.first().and_then(|s| parse_sps_detail(s).ok()) {
                out.push(0xFC | detail.chroma_format_idc);
                out.push(0xF8 | detail.bit_depth_luma_minus8);
                out.push(0xF8 | detail.bit_depth_chroma_minus8);
                out.push(0); // numOfSequenceParameterSetExt
            }
        }
        out
    }
}

fn write_sets(out: &mut Vec<u8>, sets: &[&Bytes]) {
    for set in sets {
        let len = u16::try_from(set.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(set);
    }
}

/// Cursor over the record that hands out zero-copy slices.
struct Reader<'a> {
    data: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn u8(&mut self) -> Result<u8, H264Error> {
        let b = *self.data.get(self.pos).ok_or(TRUNCATED)?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> Result<(), H264Error> {
        if self.remaining() < n {
            return Err(TRUNCATED);
        }
        self.pos += n;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<Bytes, H264Error> {
        if self.remaining() < n {
            return Err(TRUNCATED);
        }
        let slice = self.data.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(slice)
    }

    /// Reads `count` length-prefixed parameter sets, pushing one at a time so a large
    /// count costs nothing until the bytes are actually there.
    fn parameter_sets(
        &mut self,
        count: usize,
        kind: &'static str,
    ) -> Result<Vec<Bytes>, H264Error> {
        if count > MAX_PARAMETER_SETS {
            return Err(H264Error::TooManyParameterSets {
                kind,
                count,
                max: MAX_PARAMETER_SETS,
            });
        }
        let mut sets = Vec::new();
        for _ in 0..count {
            let len = u16::from_be_bytes([self.u8()?, self.u8()?]);
            if len == 0 {
                return Err(H264Error::EmptyParameterSet { kind });
            }
            sets.push(self.take(usize::from(len))?);
        }
        Ok(sets)
    }
}

const TRUNCATED: H264Error = H264Error::Truncated {
    what: "AVCDecoderConfigurationRecord",
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Body of the first video tag of `ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=30
    /// -f lavfi -i sine=frequency=440:sample_rate=44100 -t 1 -c:v libx264 -profile:v high
    /// -bf 2 -c:a aac -ac 2 -f flv high1080.flv` (FFmpeg 5.1.9), after its 5-byte
    /// AVC tag header. Ends with the high-profile extension `fd f8 f8 00`.
    pub(crate) const FFMPEG_AVCC_HIGH_1080P: [u8; 48] = [
        0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40,
        0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00,
        0xf0, 0x3c, 0x60, 0xc6, 0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
        0xf8, 0xf8, 0x00,
    ];

    #[test]
    fn parses_ffmpeg_record_zero_copy() {
        let record = Bytes::from_static(&FFMPEG_AVCC_HIGH_1080P);
        let cfg = AvcDecoderConfig::parse(&record).unwrap();
        assert_eq!((cfg.profile, cfg.compatibility, cfg.level), (100, 0, 40));
        assert_eq!(cfg.nal_length_size, 4);
        assert_eq!(cfg.sps.len(), 1);
        assert_eq!(
            cfg.pps,
            vec![Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0])]
        );
        let sps = cfg.sps.first().unwrap();
        assert_eq!(
            sps.as_ptr(),
            record[8..].as_ptr(),
            "SPS must borrow the record"
        );
        let info = super::super::parse_sps(sps).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
    }

    #[test]
    fn encode_reproduces_ffmpeg_byte_for_byte() {
        let record = Bytes::from_static(&FFMPEG_AVCC_HIGH_1080P);
        let cfg = AvcDecoderConfig::parse(&record).unwrap();
        assert_eq!(cfg.encode(), FFMPEG_AVCC_HIGH_1080P.to_vec());
    }

    #[test]
    fn round_trip_without_extension() {
        let cfg = AvcDecoderConfig {
            profile: 66,
            compatibility: 0xc0,
            level: 31,
            nal_length_size: 2,
            sps: vec![
                Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1f]),
                Bytes::from_static(&[0x67]),
            ],
            pps: vec![Bytes::from_static(&[0x68, 0xcb, 0x83, 0xcb, 0x20])],
        };
        let encoded = Bytes::from(cfg.encode());
        assert_eq!(AvcDecoderConfig::parse(&encoded).unwrap(), cfg);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let record = FFMPEG_AVCC_HIGH_1080P;
        // Cutting exactly before the extension leaves a complete record without it.
        let complete_without_ext = 44;
        for len in 0..record.len() {
            let r = AvcDecoderConfig::parse(&Bytes::copy_from_slice(&record[..len]));
            assert_eq!(
                r.is_ok(),
                len == complete_without_ext,
                "prefix {len}: {r:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_records() {
        let parse = |b: &[u8]| AvcDecoderConfig::parse(&Bytes::copy_from_slice(b));
        assert_eq!(
            parse(&[2, 0x64, 0, 0x28]),
            Err(H264Error::UnsupportedVersion(2))
        );
        assert_eq!(
            parse(&[1, 0x64, 0, 0x28, 0xfe]),
            Err(H264Error::InvalidNalLengthSize(3))
        );
        assert_eq!(
            parse(&[1, 0x64, 0, 0x28, 0xff, 0xe0, 0]),
            Err(H264Error::NoSps)
        );
        assert_eq!(
            parse(&[1, 0x64, 0, 0x28, 0xff, 0xe1, 0, 0]),
            Err(H264Error::EmptyParameterSet { kind: "sequence" })
        );
        // 255 PPSs announced with no bytes behind them: rejected before any allocation.
        assert_eq!(
            parse(&[1, 0x64, 0, 0x28, 0xff, 0xe1, 0, 1, 0x67, 0xff]),
            Err(H264Error::TooManyParameterSets {
                kind: "picture",
                count: 255,
                max: 32
            })
        );
        let mut trailing = FFMPEG_AVCC_HIGH_1080P.to_vec();
        trailing.push(0);
        assert_eq!(
            parse(&trailing),
            Err(H264Error::TrailingData {
                what: "AVCDecoderConfigurationRecord",
                len: 1
            })
        );
    }
}
