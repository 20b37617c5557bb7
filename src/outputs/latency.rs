//! Relay latency per output: from the moment a frame reached the stream to the
//! moment its bytes were written to the destination's socket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: quantiles are exact to within 12.5%.
const SUB: u64 = 8;
/// Covers up to 2^27 µs (about 134 s); longer ones land in the last bucket.
const BUCKETS: usize = 200;

/// A lock-free log-linear histogram of microseconds.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

fn index(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let power = u64::from(63 - us.leading_zeros());
    let sub = (us >> (power - 3)) & (SUB - 1);
    (((power - 2) * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The largest value that lands in bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let power = i / SUB + 2;
    let sub = i % SUB;
    ((SUB + sub + 1) << (power - 3)) - 1
}

impl LatencyHistogram {
    pub fn record(&self, latency: Duration) {
        self.record_micros(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn record_micros(&self, us: u64) {
        self.buckets[index(us)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile (0..=1), rounded up to its bucket's upper edge.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(upper(i)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        for us in 0..100_000u64 {
            let i = index(us);
            assert!(us <= upper(i), "{us} above its bucket {i}");
            if i > 0 {
                assert!(us > upper(i - 1), "{us} belongs to a lower bucket");
            }
            assert!(
                upper(i) as f64 <= (us as f64) * 1.125 + 1.0,
                "bucket of {us} too wide"
            );
        }
    }

    #[test]
    fn quantiles() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for us in 1..=1000 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).unwrap().as_micros() as f64;
        let p99 = h.quantile(0.99).unwrap().as_micros() as f64;
        assert!((500.0..=563.0).contains(&p50), "{p50}");
        assert!((990.0..=1114.0).contains(&p99), "{p99}");
        assert_eq!(h.count(), 1000);
    }
}
