//! The video parameter sets in force, by kind and id, and the decoder configuration
//! record (avcC, hvcC) they make. A stream repeats them before every keyframe; the
//! record changes only when one of them does.

use bytes::Bytes;

use crate::h264::bits::{BitReader, nal_to_rbsp};
use crate::h264::{AvcDecoderConfig, MAX_PARAMETER_SETS, parse_sps};
use crate::h265::{self, build_hvcc};
use crate::media::{CodecConfig, VideoCodec};

const H264_SPS: u8 = 7;
const H264_PPS: u8 = 8;
/// Bytes enough to read any parameter set id; the rest of the set is not needed.
const ID_PREFIX: usize = 16;
/// All parameter sets held, in bytes: bounds the record rebuilt whenever one changes
/// (at most once per access unit).
const MAX_TOTAL_LEN: usize = 32 * 1024;

/// Parameter sets by (NAL unit type, id), sorted.
#[derive(Debug)]
pub(super) struct ParameterSets {
    codec: VideoCodec,
    sets: Vec<(u8, u32, Bytes)>,
}

/// What [`ParameterSets::update`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Update {
    pub(super) changed: bool,
    /// Sets that could not be read, or would exceed what a record may hold.
    pub(super) rejected: u64,
}

impl ParameterSets {
    pub(super) fn new(codec: VideoCodec) -> Self {
        Self {
            codec,
            sets: Vec::new(),
        }
    }

    /// Takes the parameter sets of one access unit, each replacing the one of its kind
    /// and id.
    pub(super) fn update(&mut self, sets: Vec<Bytes>) -> Update {
        let mut update = Update::default();
        for nal in sets {
            let Some((kind, id, max)) = self.identify(&nal) else {
                update.rejected += 1;
                continue;
            };
            let held: usize = self.sets.iter().map(|(_, _, set)| set.len()).sum();
            match self
                .sets
                .binary_search_by_key(&(kind, id), |(k, i, _)| (*k, *i))
            {
                Ok(at) => {
                    if let Some((_, _, old)) = self.sets.get_mut(at) {
                        if *old == nal {
                            continue;
                        }
                        if held - old.len() + nal.len() > MAX_TOTAL_LEN {
                            update.rejected += 1;
                            continue;
                        }
                        *old = nal;
                        update.changed = true;
                    }
                }
                Err(at) => {
                    let of_kind = self.sets.iter().filter(|(k, _, _)| *k == kind).count();
                    if of_kind >= max || held + nal.len() > MAX_TOTAL_LEN {
                        update.rejected += 1;
                        continue;
                    }
                    self.sets.insert(at, (kind, id, nal));
                    update.changed = true;
                }
            }
        }
        update
    }

    /// The configuration record and picture size, once every kind the codec needs is
    /// in; `None` before that or when the sets do not make a valid record.
    pub(super) fn config(&self) -> Option<CodecConfig> {
        match self.codec {
            VideoCodec::H265 => {
                let config = build_hvcc(
                    &self.of_kind(h265::NAL_VPS),
                    &self.of_kind(h265::NAL_SPS),
                    &self.of_kind(h265::NAL_PPS),
                )
                .ok()?;
                Some(CodecConfig::Video {
                    codec: VideoCodec::H265,
                    record: config.record,
                    width: config.sps.width,
                    height: config.sps.height,
                })
            }
            _ => {
                let sps = self.of_kind(H264_SPS);
                let pps = self.of_kind(H264_PPS);
                let first = sps.first()?;
                pps.first()?;
                let info = parse_sps(first).ok()?;
                let &[profile, compatibility, level] = first.get(1..4)?.first_chunk::<3>()?;
                let record = AvcDecoderConfig {
                    profile,
                    compatibility,
                    level,
                    nal_length_size: 4,
                    sps,
                    pps,
                }
                .encode();
                Some(CodecConfig::Video {
                    codec: VideoCodec::H264,
                    record: Bytes::from(record),
                    width: info.width,
                    height: info.height,
                })
            }
        }
    }

    fn of_kind(&self, kind: u8) -> Vec<Bytes> {
        self.sets
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, _, nal)| nal.clone())
            .collect()
    }

    /// (kind, id, most of that kind) of a parameter set NAL unit, if it reads.
    fn identify(&self, nal: &[u8]) -> Option<(u8, u32, usize)> {
        let &header = nal.first()?;
        let prefix = nal_to_rbsp(nal.get(..ID_PREFIX.min(nal.len()))?);
        let mut r = BitReader::new(&prefix);
        match self.codec {
            VideoCodec::H265 => {
                let kind = h265::nal_type(header);
                r.skip(16).ok()?;
                match kind {
                    h265::NAL_VPS => Some((kind, r.read_bits(4).ok()?, 16)),
                    h265::NAL_SPS => {
                        let sps = h265::parse_sps(nal).ok()?;
                        Some((kind, sps.sps_id.into(), 16))
                    }
                    h265::NAL_PPS => Some((kind, r.read_ue().ok().filter(|&id| id < 64)?, 64)),
                    _ => None,
                }
            }
            _ => {
                let kind = header & 0x1F;
                match kind {
                    H264_SPS => {
                        parse_sps(nal).ok()?;
                        // profile_idc, constraint flags, level_idc, then the id.
                        r.skip(32).ok()?;
                        // The record's count field has 5 bits.
                        Some((kind, r.read_ue().ok().filter(|&id| id < 32)?, 31))
                    }
                    H264_PPS => {
                        r.skip(8).ok()?;
                        let id = r.read_ue().ok().filter(|&id| id < 256)?;
                        Some((kind, id, MAX_PARAMETER_SETS))
                    }
                    _ => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::vectors::{
        X264_AVCC_HIGH_1080P, X265_MAIN_320X240_PPS, X265_MAIN_320X240_SPS as X265_MAIN_320X240,
        X265_MAIN_320X240_VPS,
    };

    /// The SPS and PPS of that avcC.
    const SPS: &[u8] = X264_AVCC_HIGH_1080P.split_at(8).1.split_at(27).0;
    const PPS: &[u8] = X264_AVCC_HIGH_1080P.split_at(38).1.split_at(6).0;
    const AVCC: [u8; 48] = X264_AVCC_HIGH_1080P;

    fn bytes(b: &[u8]) -> Bytes {
        Bytes::copy_from_slice(b)
    }

    #[test]
    fn h264_record_as_ffmpeg_writes_it() {
        let mut sets = ParameterSets::new(VideoCodec::H264);
        let update = sets.update(vec![bytes(SPS)]);
        assert_eq!(
            update,
            Update {
                changed: true,
                rejected: 0
            }
        );
        assert_eq!(sets.config(), None, "no PPS yet");
        assert!(sets.update(vec![bytes(PPS)]).changed);
        let Some(CodecConfig::Video {
            record,
            width,
            height,
            ..
        }) = sets.config()
        else {
            panic!("no config");
        };
        assert_eq!(record.as_ref(), AVCC);
        assert_eq!((width, height), (1920, 1080));
        // The same sets again change nothing; a second PPS id does.
        assert!(!sets.update(vec![bytes(SPS), bytes(PPS)]).changed);
        // pps_id 1 (ue '010'), sps_id 0 ('1'), then stop bits.
        assert!(sets.update(vec![bytes(&[0x68, 0x4E])]).changed);
        assert_eq!(sets.of_kind(H264_PPS).len(), 2);
    }

    #[test]
    fn hevc_record_needs_all_three() {
        let mut sets = ParameterSets::new(VideoCodec::H265);
        sets.update(vec![
            bytes(&X265_MAIN_320X240),
            bytes(&X265_MAIN_320X240_PPS),
        ]);
        assert_eq!(sets.config(), None);
        sets.update(vec![bytes(&X265_MAIN_320X240_VPS)]);
        let Some(CodecConfig::Video { width, height, .. }) = sets.config() else {
            panic!("no config");
        };
        assert_eq!((width, height), (320, 240));
    }

    #[test]
    fn unreadable_sets_are_rejected() {
        let mut sets = ParameterSets::new(VideoCodec::H264);
        let update = sets.update(vec![bytes(&[0x67]), bytes(&[0x68]), bytes(&[0x65, 1])]);
        assert_eq!(
            update,
            Update {
                changed: false,
                rejected: 3
            }
        );
        let mut many = Vec::new();
        for id in 0..40u32 {
            // ue(id) then ue(0) and a stop bit, packed after the header.
            let mut bits = String::new();
            let x = id + 1;
            let len = 32 - x.leading_zeros();
            bits.push_str(&"0".repeat(len as usize - 1));
            bits.push_str(&format!("{x:b}"));
            bits.push_str("11");
            while bits.len() % 8 != 0 {
                bits.push('0');
            }
            let mut nal = vec![0x68];
            nal.extend(
                bits.as_bytes()
                    .chunks(8)
                    .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap()),
            );
            many.push(Bytes::from(nal));
        }
        let update = sets.update(many);
        assert_eq!(update.rejected, 40 - MAX_PARAMETER_SETS as u64);
    }
}
