//! Media fragments: `moof` (one `traf` per track) + `mdat`, the samples' payloads
//! chained after the header without being copied.

use bytes::{BufMut, Bytes, BytesMut};

use super::Mp4Error;
use super::boxes::{begin, begin_full, end};

/// One sample (frame) of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// In the track's timescale: the next sample's dts minus this one's.
    pub duration: u32,
    /// Composition offset: pts − dts.
    pub cts: i32,
    /// A sync sample (video keyframe; every audio frame).
    pub keyframe: bool,
    pub data: Bytes,
}

/// One track's run of samples in a fragment.
#[derive(Debug, Clone, Copy)]
pub struct TrackFragment<'a> {
    pub track_id: u32,
    /// dts of the first sample, in the track's timescale (`tfdt`).
    pub base_decode_time: u64,
    pub samples: &'a [Sample],
}

/// tfhd: sample data offsets are relative to the start of the `moof`.
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// trun: data offset, and per sample: duration, size, flags, composition offset.
const TRUN_FLAGS: u32 = 0x001 | 0x100 | 0x200 | 0x400 | 0x800;
/// Sample flags (ISO 14496-12 8.8.3.1): depends on nothing, a sync sample.
const SYNC_SAMPLE: u32 = 0x0200_0000;
/// Depends on others, and is not a sync sample.
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// `styp` for the start of a media segment (CMAF: `msdh`, `msix` brands).
pub fn segment_type() -> Bytes {
    let mut out = BytesMut::with_capacity(24);
    let styp = begin(&mut out, b"styp");
    out.put_slice(b"msdh");
    out.put_u32(0);
    out.put_slice(b"msdh");
    out.put_slice(b"msix");
    // The box is 24 bytes; its size cannot overflow.
    let _ = end(&mut out, styp);
    out.freeze()
}

/// Writes fragment number `sequence` (from 1, increasing) holding `tracks`.
/// Returns the `moof` and `mdat` header as the first piece, then every sample's
/// payload in order: write them out back to back.
pub fn fragment(sequence: u32, tracks: &[TrackFragment<'_>]) -> Result<Vec<Bytes>, Mp4Error> {
    let samples: usize = tracks.iter().map(|t| t.samples.len()).sum();
    if samples == 0 {
        return Err(Mp4Error::EmptyFragment);
    }
    let mut out = BytesMut::with_capacity(64 + tracks.len() * 64 + samples * 16);
    let moof = begin(&mut out, b"moof");
    let mfhd = begin_full(&mut out, b"mfhd", 0, 0);
    out.put_u32(sequence);
    end(&mut out, mfhd)?;
    // Where each trun's data_offset field is, to patch once the moof size is known.
    let mut offsets = Vec::with_capacity(tracks.len());
    for track in tracks {
        let traf = begin(&mut out, b"traf");
        let tfhd = begin_full(&mut out, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
        out.put_u32(track.track_id);
        end(&mut out, tfhd)?;
        let tfdt = begin_full(&mut out, b"tfdt", 1, 0);
        out.put_u64(track.base_decode_time);
        end(&mut out, tfdt)?;
        // Version 1: signed composition offsets (B-frames before their reference).
        let trun = begin_full(&mut out, b"trun", 1, TRUN_FLAGS);
        out.put_u32(
            u32::try_from(track.samples.len()).map_err(|_| Mp4Error::TooLarge {
                what: "sample count",
                value: track.samples.len() as u64,
            })?,
        );
        offsets.push(out.len());
        out.put_i32(0);
        for sample in track.samples {
            out.put_u32(sample.duration);
            out.put_u32(
                u32::try_from(sample.data.len()).map_err(|_| Mp4Error::TooLarge {
                    what: "sample size",
                    value: sample.data.len() as u64,
                })?,
            );
            out.put_u32(if sample.keyframe {
                SYNC_SAMPLE
            } else {
                NON_SYNC_SAMPLE
            });
            out.put_i32(sample.cts);
        }
        end(&mut out, trun)?;
        end(&mut out, traf)?;
    }
    end(&mut out, moof)?;
    let moof_size = out.len();

    let payload: u64 = tracks
        .iter()
        .flat_map(|t| t.samples)
        .map(|s| s.data.len() as u64)
        .sum();
    let mdat_header = if payload + 8 > u64::from(u32::MAX) {
        out.put_u32(1);
        out.put_slice(b"mdat");
        out.put_u64(payload + 16);
        16
    } else {
        out.put_u32((payload + 8) as u32);
        out.put_slice(b"mdat");
        8
    };
    let mut data_start = (moof_size + mdat_header) as u64;
    for (track, at) in tracks.iter().zip(offsets) {
        let offset = i32::try_from(data_start).map_err(|_| Mp4Error::TooLarge {
            what: "data offset",
            value: data_start,
        })?;
        if let Some(field) = out.get_mut(at..at + 4) {
            field.copy_from_slice(&offset.to_be_bytes());
        }
        data_start += track
            .samples
            .iter()
            .map(|s| s.data.len() as u64)
            .sum::<u64>();
    }
    let mut pieces = Vec::with_capacity(1 + samples);
    pieces.push(out.freeze());
    pieces.extend(
        tracks
            .iter()
            .flat_map(|t| t.samples)
            .map(|s| s.data.clone()),
    );
    Ok(pieces)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn data_offsets_point_at_each_tracks_payload() {
        let video = [
            Sample {
                duration: 33,
                cts: 66,
                keyframe: true,
                data: Bytes::from_static(b"KEYFRAME"),
            },
            Sample {
                duration: 33,
                cts: -33,
                keyframe: false,
                data: Bytes::from_static(b"B"),
            },
        ];
        let audio = [Sample {
            duration: 21,
            cts: 0,
            keyframe: true,
            data: Bytes::from_static(b"aac!"),
        }];
        let pieces = fragment(
            7,
            &[
                TrackFragment {
                    track_id: 1,
                    base_decode_time: 1000,
                    samples: &video,
                },
                TrackFragment {
                    track_id: 2,
                    base_decode_time: 990,
                    samples: &audio,
                },
            ],
        )
        .unwrap();
        assert_eq!(pieces.len(), 4);
        let header = &pieces[0];
        let moof_size = u32_at(header, 0) as usize;
        assert_eq!(&header[4..8], b"moof");
        assert_eq!(&header[moof_size + 4..moof_size + 8], b"mdat");
        assert_eq!(u32_at(header, moof_size) as usize, 8 + 8 + 1 + 4);
        assert_eq!(header.len(), moof_size + 8);
        // The file as written: header, then the payloads back to back.
        let file: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
        let truns: Vec<usize> = (0..header.len() - 4)
            .filter(|&i| &header[i..i + 4] == b"trun")
            .collect();
        assert_eq!(truns.len(), 2);
        let offset = |trun: usize| u32_at(header, trun + 4 + 4 + 4) as usize;
        assert_eq!(&file[offset(truns[0])..offset(truns[0]) + 8], b"KEYFRAME");
        assert_eq!(&file[offset(truns[1])..offset(truns[1]) + 4], b"aac!");
        // A signed composition offset survives (version 1 trun).
        let second_cts = truns[0] + 4 + 4 + 4 + 4 + 16 + 12;
        assert_eq!(
            i32::from_be_bytes(header[second_cts..second_cts + 4].try_into().unwrap()),
            -33
        );
        assert_eq!(fragment(1, &[]), Err(Mp4Error::EmptyFragment));
    }
}
