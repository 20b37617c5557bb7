//! The 90 kHz system clock: converting track time to it, and the two ways TS writes it
//! (PES PTS/DTS, ISO/IEC 13818-1 2.4.3.7; the adaptation field's PCR, 2.4.3.5).

use bytes::BufMut;

/// PTS, DTS and the PCR base count 90 kHz ticks.
pub(super) const CLOCK_HZ: i128 = 90_000;
/// They are 33-bit fields and wrap.
const WRAP: i128 = 1 << 33;

/// `t` in a timescale of `timescale` ticks per second, as a 33-bit 90 kHz timestamp.
/// Rounds toward minus infinity, so conversion is monotonic; negative times wrap.
pub(super) fn to_90khz(t: i64, timescale: u32) -> u64 {
    // i128 holds i64 * 90000 exactly; a zero timescale is rejected by the muxer.
    let ticks = (i128::from(t) * CLOCK_HZ).div_euclid(i128::from(timescale.max(1)));
    // rem_euclid leaves 0..2^33, which fits a u64.
    u64::try_from(ticks.rem_euclid(WRAP)).unwrap_or(0)
}

/// PTS_DTS_flags '10' (PTS only) prefix for a lone PTS.
pub(super) const PTS_ONLY: u8 = 0b0010;
/// Prefix for the PTS when a DTS follows.
pub(super) const PTS_BEFORE_DTS: u8 = 0b0011;
/// Prefix for the DTS.
pub(super) const DTS: u8 = 0b0001;

/// A PTS or DTS: 4-bit prefix, then 3 + 15 + 15 bits each closed by a marker bit.
pub(super) fn put_timestamp(out: &mut impl BufMut, prefix: u8, ts: u64) {
    out.put_u8((prefix << 4) | (((ts >> 29) & 0x0E) as u8) | 1);
    out.put_u16((((ts >> 14) & 0xFFFE) as u16) | 1);
    out.put_u16((((ts << 1) & 0xFFFE) as u16) | 1);
}

/// A PCR: 33-bit base (90 kHz), 6 reserved bits, 9-bit extension (27 MHz remainder,
/// always 0 here: the muxer only knows time to the 90 kHz tick).
pub(super) fn put_pcr(out: &mut impl BufMut, base: u64) {
    out.put_u32((base >> 1) as u32);
    out.put_u8((((base & 1) as u8) << 7) | 0x7E);
    out.put_u8(0);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::mpegts) fn read_timestamp(b: &[u8]) -> (u8, u64) {
        assert_eq!(b[0] & 1, 1, "marker");
        assert_eq!(b[2] & 1, 1, "marker");
        assert_eq!(b[4] & 1, 1, "marker");
        let ts = (u64::from(b[0] & 0x0E) << 29)
            | (u64::from(u16::from_be_bytes([b[1], b[2]]) >> 1) << 15)
            | u64::from(u16::from_be_bytes([b[3], b[4]]) >> 1);
        (b[0] >> 4, ts)
    }

    pub(in crate::mpegts) fn read_pcr(b: &[u8]) -> (u64, u16) {
        let base =
            (u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])) << 1) | u64::from(b[4] >> 7);
        assert_eq!(b[4] & 0x7E, 0x7E, "reserved bits");
        (base, (u16::from(b[4] & 1) << 8) | u16::from(b[5]))
    }

    #[test]
    fn timestamps_round_trip_across_all_33_bits() {
        for ts in [
            0,
            1,
            0x7FFF,
            0x8000,
            0x1_2345_6789,
            (1 << 32) + 5,
            (1 << 33) - 1,
        ] {
            let mut out = Vec::new();
            put_timestamp(&mut out, PTS_BEFORE_DTS, ts);
            assert_eq!(out.len(), 5);
            assert_eq!(read_timestamp(&out), (PTS_BEFORE_DTS, ts), "{ts:#x}");
            let mut pcr = Vec::new();
            put_pcr(&mut pcr, ts);
            assert_eq!(pcr.len(), 6);
            assert_eq!(read_pcr(&pcr), (ts, 0), "{ts:#x}");
        }
    }

    #[test]
    fn known_encoding() {
        let mut out = Vec::new();
        put_timestamp(&mut out, PTS_ONLY, 90_000);
        // 90000 = 0x15F90: bits 29..15 = 2, bits 14..0 = 0x5F90.
        assert_eq!(out, [0x21, 0x00, 0x05, 0xBF, 0x21]);
    }

    #[test]
    fn conversion_scales_and_wraps() {
        assert_eq!(to_90khz(1000, 1000), 90_000);
        assert_eq!(to_90khz(33, 1000), 2970);
        assert_eq!(to_90khz(1024, 48_000), 1920);
        assert_eq!(to_90khz(1, 44_100), 2); // 2.04 ticks, floored
        assert_eq!(to_90khz(-1, 1000), (1 << 33) - 90);
        // 2^33 ticks at 90 kHz is about 26.5 hours.
        let wrap_ms = ((1i64 << 33) / 90) + 1;
        assert_eq!(to_90khz(wrap_ms, 1000), (90 * wrap_ms - (1 << 33)) as u64);
        assert_eq!(
            to_90khz(i64::MAX, 1),
            (i128::from(i64::MAX) * 90_000 % (1 << 33)) as u64
        );
    }
}
