//! CRC-32/MPEG-2 (ISO/IEC 13818-1 Annex B), which closes every PSI section: polynomial
//! 0x04C11DB7, initial value 0xFFFFFFFF, no bit reflection, no final XOR.

const POLY: u32 = 0x04C1_1DB7;

/// One entry per leading byte, built at compile time, where an index out of bounds
/// is a compile error rather than a panic (and `get_mut` is not const).
#[allow(clippy::indexing_slicing)]
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

pub(super) fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &byte| {
        let index = ((crc >> 24) ^ u32::from(byte)) & 0xFF;
        // `index` is masked to 0..=255, the table's length.
        let entry = TABLE.get(index as usize).copied().unwrap_or(0);
        (crc << 8) ^ entry
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The catalogued check value of CRC-32/MPEG-2 (reveng catalogue).
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
        assert_eq!(crc32_mpeg2(&[]), 0xFFFF_FFFF);
    }

    #[test]
    fn crc_of_a_known_pat() {
        // nginx-rtmp's fixed PAT (ngx_rtmp_mpegts.c): program 1 on PMT PID 0x1001,
        // followed in that file by its CRC 2e 70 19 05.
        let section = [
            0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x01,
        ];
        assert_eq!(crc32_mpeg2(&section), 0x2e70_1905);
        // A section followed by its own CRC leaves a zero remainder.
        let mut whole = section.to_vec();
        whole.extend_from_slice(&0x2e70_1905u32.to_be_bytes());
        assert_eq!(crc32_mpeg2(&whole), 0);
    }
}
