//! Bit-level reading shared by the H.264 SPS and AAC AudioSpecificConfig parsers.
//!
//! Both formats are MSB-first bit strings; keeping one reader means one place to get
//! the bounds checks right.

/// The input ran out before a field was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfBits;

/// An exp-Golomb code had more than 31 leading zeros, so its value does not fit a `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GolombError {
    OutOfBits,
    Overflow,
}

impl From<OutOfBits> for GolombError {
    fn from(_: OutOfBits) -> Self {
        Self::OutOfBits
    }
}

/// MSB-first reader over a byte slice.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Bit position from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn read_bit(&mut self) -> Result<bool, OutOfBits> {
        let byte = self.data.get(self.pos / 8).ok_or(OutOfBits)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` bits (at most 32) as an unsigned big-endian number.
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u32, OutOfBits> {
        debug_assert!(n <= 32, "read_bits supports at most 32 bits");
        let mut value: u32 = 0;
        for _ in 0..n.min(32) {
            value = (value << 1) | u32::from(self.read_bit()?);
        }
        Ok(value)
    }

    /// Reads `n` bits (at most 8) as a byte.
    pub(crate) fn read_u8(&mut self, n: u32) -> Result<u8, OutOfBits> {
        let v = self.read_bits(n.min(8))?;
        // At most 8 bits were read, so the value fits.
        Ok(u8::try_from(v).unwrap_or(u8::MAX))
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), OutOfBits> {
        let end = self.pos.checked_add(n).ok_or(OutOfBits)?;
        if end > self.data.len().saturating_mul(8) {
            return Err(OutOfBits);
        }
        self.pos = end;
        Ok(())
    }

    /// Unsigned exp-Golomb, `ue(v)` in H.264 7.2.
    pub(crate) fn read_ue(&mut self) -> Result<u32, GolombError> {
        let mut zeros = 0u32;
        while !self.read_bit()? {
            zeros += 1;
            // 2^32 - 1 needs 32 leading zeros and does not fit once the suffix is added.
            if zeros > 31 {
                return Err(GolombError::Overflow);
            }
        }
        let suffix = self.read_bits(zeros)?;
        // (1 << zeros) - 1 + suffix, computed in u64 so zeros == 31 cannot overflow.
        let value = (1u64 << zeros) - 1 + u64::from(suffix);
        u32::try_from(value).map_err(|_| GolombError::Overflow)
    }

    /// Signed exp-Golomb, `se(v)` in H.264 7.2: 1, 2, 3, 4 map to 1, -1, 2, -2.
    pub(crate) fn read_se(&mut self) -> Result<i32, GolombError> {
        let k = i64::from(self.read_ue()?);
        let value = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(value).map_err(|_| GolombError::Overflow)
    }
}

/// Strips emulation prevention bytes: every `00 00 03` becomes `00 00`.
///
/// The SPS is tens of bytes, so the copy is cheap; the output is never longer than
/// the input, which bounds the allocation by what the peer already sent.
pub(crate) fn nal_to_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_values() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, packed MSB first.
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0000]);
        assert_eq!(r.read_ue(), Ok(0));
        assert_eq!(r.read_ue(), Ok(1));
        assert_eq!(r.read_ue(), Ok(2));
        assert_eq!(r.read_ue(), Ok(3));
    }

    #[test]
    fn signed_exp_golomb() {
        // ue 1 -> +1, ue 2 -> -1, ue 3 -> +2
        let mut r = BitReader::new(&[0b0100_1100, 0b1000_0000]);
        assert_eq!(r.read_se(), Ok(1));
        assert_eq!(r.read_se(), Ok(-1));
        assert_eq!(r.read_se(), Ok(2));
    }

    #[test]
    fn exp_golomb_limits() {
        // 31 zeros then a 1 and 31 one bits: 2^32 - 2, the largest representable.
        let mut max = vec![0u8, 0, 0, 1];
        max.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFE]);
        assert_eq!(BitReader::new(&max).read_ue(), Ok(u32::MAX - 1));
        assert_eq!(
            BitReader::new(&[0; 8]).read_ue(),
            Err(GolombError::Overflow)
        );
        assert_eq!(
            BitReader::new(&[0; 2]).read_ue(),
            Err(GolombError::OutOfBits)
        );
        assert_eq!(BitReader::new(&[]).read_bit(), Err(OutOfBits));
    }

    #[test]
    fn emulation_prevention_removed() {
        assert_eq!(
            nal_to_rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 3]
        );
    }
}
