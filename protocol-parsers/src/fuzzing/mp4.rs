//! The CMAF fragment writer: for any samples, the boxes it writes must be
//! self-consistent (every box's size is its children's sum, `mdat` holds exactly
//! the payload, each `trun` data offset points at its track's first payload byte).
//!
//! Input: a selector byte (low bit: one track or two), then records of 6 bytes:
//! duration (u16), composition offset (i16), flags (bit 0: keyframe, bit 1: second
//! track), payload length (u8); the payload bytes follow each record.
//! Seeds in `fuzz/corpus/mp4_fragment/` are hand-written to that layout.

use bytes::Bytes;

use crate::mp4::{Sample, TrackFragment, fragment};

fn samples(data: &[u8]) -> (Vec<Sample>, Vec<Sample>) {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut rest = data;
    while let Some((record, tail)) = rest.split_first_chunk::<6>() {
        let [d0, d1, c0, c1, flags, len] = *record;
        let len = usize::from(len).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let sample = Sample {
            duration: u32::from(u16::from_be_bytes([d0, d1])),
            cts: i32::from(i16::from_be_bytes([c0, c1])),
            keyframe: flags & 1 == 1,
            data: Bytes::copy_from_slice(payload),
        };
        if flags & 2 == 2 {
            second.push(sample);
        } else {
            first.push(sample);
        }
    }
    (first, second)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    let mut value = [0u8; 4];
    value.copy_from_slice(field);
    usize::try_from(u32::from_be_bytes(value)).ok()
}

/// Checks that the boxes in `bytes[start..end]` tile it exactly; recurses into
/// container boxes.
fn assert_tiles(bytes: &[u8], start: usize, end: usize) {
    let mut at = start;
    while at < end {
        let size = u32_at(bytes, at).unwrap_or(0);
        assert!(
            size >= 8 && at + size <= end,
            "box at {at} of size {size} overruns {end}"
        );
        let kind = bytes.get(at + 4..at + 8).unwrap_or_default();
        if kind == b"moof" || kind == b"traf" {
            assert_tiles(bytes, at + 8, at + size);
        }
        at += size;
    }
    assert_eq!(at, end, "boxes do not tile their parent");
}

/// Fuzz entry point. Panics only when an invariant breaks, which is a bug.
pub fn mp4_fragment(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (first, second) = samples(rest);
    let mut tracks = vec![TrackFragment {
        track_id: 1,
        base_decode_time: u64::from(selector) * 1000,
        samples: &first,
    }];
    if selector & 1 == 1 {
        tracks.push(TrackFragment {
            track_id: 2,
            base_decode_time: 7,
            samples: &second,
        });
    }
    let total: usize = tracks.iter().map(|t| t.samples.len()).sum();
    let Ok(pieces) = fragment(u32::from(selector), &tracks) else {
        assert_eq!(total, 0, "only an empty fragment is refused");
        return;
    };
    assert_eq!(
        pieces.len(),
        1 + total,
        "one header piece, then one per sample"
    );
    let file: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
    let header = pieces.first().map_or(0, Bytes::len);
    let moof = u32_at(&file, 0).unwrap_or(0);
    assert_eq!(file.get(4..8), Some(&b"moof"[..]));
    assert_tiles(&file, 0, moof);
    assert_eq!(file.get(moof + 4..moof + 8), Some(&b"mdat"[..]));
    let payload: usize = tracks
        .iter()
        .flat_map(|t| t.samples)
        .map(|s| s.data.len())
        .sum();
    assert_eq!(u32_at(&file, moof), Some(payload + 8), "mdat size");
    assert_eq!(header, moof + 8);
    // Each trun's data offset points at its track's first payload byte.
    let truns = children(&file, 8, moof)
        .into_iter()
        .filter(|(kind, _, _)| kind == b"traf")
        .filter_map(|(_, start, end)| {
            children(&file, start + 8, end)
                .into_iter()
                .find(|(kind, _, _)| kind == b"trun")
        })
        .map(|(_, start, _)| start)
        .collect::<Vec<_>>();
    assert_eq!(truns.len(), tracks.len(), "one trun per track");
    let mut expected = moof + 8;
    for (track, trun) in tracks.iter().zip(truns) {
        assert_eq!(u32_at(&file, trun + 16), Some(expected), "data offset");
        if let Some(first) = track.samples.iter().find(|s| !s.data.is_empty()) {
            assert_eq!(
                file.get(expected..expected + first.data.len()),
                Some(first.data.as_ref())
            );
        }
        expected += track.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
}

/// The boxes directly inside `bytes[start..end]`: (type, start, end).
fn children(bytes: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while let Some(size) = u32_at(bytes, at).filter(|s| *s >= 8 && at + s <= end) {
        let mut kind = [0u8; 4];
        kind.copy_from_slice(bytes.get(at + 4..at + 8).unwrap_or(b"????"));
        out.push((kind, at, at + size));
        at += size;
    }
    out
}
