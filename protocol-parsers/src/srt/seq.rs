//! 31-bit packet sequence numbers, which wrap: every comparison is a signed distance.

/// A data packet sequence number (31 bits; wraps from 2^31 - 1 to 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNo(u32);

const MASK: u32 = 0x7FFF_FFFF;
const HALF: u32 = 0x4000_0000;

impl SeqNo {
    pub const MAX: u32 = MASK;

    /// The low 31 bits of `value`.
    pub const fn new(value: u32) -> Self {
        Self(value & MASK)
    }

    pub const fn value(self) -> u32 {
        self.0
    }

    #[must_use]
    pub const fn next(self) -> Self {
        self.add(1)
    }

    #[must_use]
    pub const fn add(self, n: u32) -> Self {
        Self(self.0.wrapping_add(n) & MASK)
    }

    #[must_use]
    pub const fn sub(self, n: u32) -> Self {
        Self(self.0.wrapping_sub(n) & MASK)
    }

    /// `self - other` as the shortest signed distance around the 31-bit circle.
    pub const fn distance(self, other: Self) -> i32 {
        let d = self.0.wrapping_sub(other.0) & MASK;
        if d >= HALF {
            // d - 2^31: the same bits with the sign bit set.
            (d | 0x8000_0000) as i32
        } else {
            d as i32
        }
    }

    pub const fn is_before(self, other: Self) -> bool {
        self.distance(other) < 0
    }

    pub const fn is_after(self, other: Self) -> bool {
        self.distance(other) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::SeqNo;

    #[test]
    fn distance_wraps() {
        let last = SeqNo::new(SeqNo::MAX);
        let first = SeqNo::new(0);
        assert_eq!(last.next(), first);
        assert_eq!(first.distance(last), 1);
        assert_eq!(last.distance(first), -1);
        assert!(last.is_before(first));
        assert_eq!(SeqNo::new(5).sub(10), SeqNo::new(SeqNo::MAX - 4));
        assert_eq!(SeqNo::new(100).distance(SeqNo::new(40)), 60);
    }
}
