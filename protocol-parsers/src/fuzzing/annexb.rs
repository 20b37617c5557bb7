//! The Annex B reader the transcoder runs on encoder output, given any bytes:
//! splitting never panics, the length-prefixed form holds exactly the units found
//! (parameter sets and delimiters left out), and a record is built or refused.

use crate::h264::annexb;

pub fn h264_annexb(data: &[u8]) {
    let expected: Vec<&[u8]> = annexb::nal_units(data)
        .filter(|unit| !matches!(unit.first().map(|h| h & 0x1F), Some(7..=9)))
        .collect();
    let avcc = annexb::to_length_prefixed(data);
    let mut written = Vec::new();
    let mut rest = avcc.as_slice();
    while let Some((length, tail)) = rest.split_first_chunk::<4>() {
        let length = u32::from_be_bytes(*length) as usize;
        let split = tail.split_at_checked(length);
        assert!(
            split.is_some(),
            "length {length} runs past the {} bytes written",
            tail.len()
        );
        let Some((unit, tail)) = split else {
            return;
        };
        written.push(unit);
        rest = tail;
    }
    assert!(
        rest.is_empty(),
        "{} stray bytes after the last unit",
        rest.len()
    );
    assert_eq!(written, expected, "units written differ from units found");
    if let Ok(record) = annexb::record_from_annex_b(data) {
        assert!(
            !record.sps.is_empty(),
            "a record without an SPS was accepted"
        );
        let _ = record.encode();
    }
}
