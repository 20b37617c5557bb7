#![allow(dead_code)]
//! xorshift64*: deterministic sizes, payloads and losses for tests, the same run
//! every time, without an RNG dependency.

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `percent` times in a hundred (to a tenth of a percent).
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(1000) < percent * 10
    }
}
