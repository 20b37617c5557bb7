//! What a push output's direct sends have counted and not yet added to the output's
//! shared counters. It is kept beside the output's waiting bytes, under the lock each
//! direct send holds anyway. It is added to the shared counters in bulk: at least
//! every `REPORT_INTERVAL` while frames flow, whenever `HELD_LATENCIES` latencies
//! are waiting, whenever the output's task takes over, and whenever the counters
//! are read (`OutputStats::settle`), so readers never see them behind.
//!
//! Why: the shared counters (`OutputStats`: the byte and frame counters, the latency
//! histogram's buckets) sit on cache lines of their own. A direct send runs once per
//! output per read of the publisher's connection. Between two reads, the kernel's work
//! for the sends and the destinations' receives evicts those lines, so every send
//! missed the cache on each of them. Counting here instead cost about 10% less of
//! the relay's CPU at 100 outputs (BENCHMARKS.md).

use std::time::{Duration, Instant};

use super::OutputStats;

/// The longest the shared counters lag behind the output's sends while frames flow.
pub const REPORT_INTERVAL: Duration = Duration::from_millis(100);
/// Latencies held before they are reported, whatever the time: one cache line.
const HELD_LATENCIES: usize = 16;

pub struct UnreportedStats {
    bytes: u64,
    frames: u64,
    /// Microseconds from a frame reaching the stream to its bytes being written.
    latencies_us: [u32; HELD_LATENCIES],
    held: usize,
    reported_at: Instant,
}

impl UnreportedStats {
    pub fn new(now: Instant) -> Self {
        Self {
            bytes: 0,
            frames: 0,
            latencies_us: [0; HELD_LATENCIES],
            held: 0,
            reported_at: now,
        }
    }

    /// Counts bytes a send wrote.
    pub fn count_bytes(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    /// Counts `frames` whose bytes were all written at `written_at`, each of the
    /// `arrivals` with its latency; reports everything when it is due.
    pub fn count_frames(
        &mut self,
        frames: u64,
        arrivals: impl Iterator<Item = Instant>,
        written_at: Instant,
        stats: &OutputStats,
    ) {
        self.frames += frames;
        for arrived in arrivals {
            if self.held == HELD_LATENCIES {
                self.report(stats, written_at);
            }
            let us = written_at.saturating_duration_since(arrived).as_micros();
            self.latencies_us[self.held] = u32::try_from(us).unwrap_or(u32::MAX);
            self.held += 1;
        }
        if written_at.saturating_duration_since(self.reported_at) >= REPORT_INTERVAL {
            self.report(stats, written_at);
        }
    }

    /// Adds everything counted to the shared counters.
    pub fn report(&mut self, stats: &OutputStats, now: Instant) {
        if self.bytes > 0 {
            stats.add(&stats.bytes, std::mem::take(&mut self.bytes));
        }
        if self.frames > 0 {
            stats.add(&stats.frames, std::mem::take(&mut self.frames));
        }
        for &us in &self.latencies_us[..self.held] {
            stats.latency.record_micros(u64::from(us));
        }
        self.held = 0;
        self.reported_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBus;
    use crate::outputs::OutputState;
    use std::sync::atomic::Ordering::Relaxed;

    fn stats() -> OutputStats {
        OutputStats::new("s", "o", OutputState::Live, EventBus::new())
    }

    #[test]
    fn counts_reach_the_shared_counters_once_due_and_not_before() {
        let stats = stats();
        let start = Instant::now();
        let mut unreported = UnreportedStats::new(start);
        let soon = start + Duration::from_millis(1);
        unreported.count_bytes(1000);
        unreported.count_frames(2, [start, start].into_iter(), soon, &stats);
        assert_eq!(stats.bytes.load(Relaxed), 0, "reported before it was due");
        assert_eq!(stats.latency.count(), 0);

        let later = start + REPORT_INTERVAL;
        unreported.count_bytes(500);
        unreported.count_frames(1, [later].into_iter(), later, &stats);
        assert_eq!(stats.bytes.load(Relaxed), 1500);
        assert_eq!(stats.frames.load(Relaxed), 3);
        assert_eq!(stats.latency.count(), 3);
        let p99 = stats.latency.quantile(0.99).unwrap();
        assert!(p99 >= Duration::from_millis(1) && p99 < Duration::from_millis(2));
    }

    #[test]
    fn a_full_hold_of_latencies_is_reported_at_once() {
        let stats = stats();
        let start = Instant::now();
        let mut unreported = UnreportedStats::new(start);
        let arrivals = std::iter::repeat_n(start, HELD_LATENCIES + 1);
        unreported.count_frames(HELD_LATENCIES as u64 + 1, arrivals, start, &stats);
        assert_eq!(stats.latency.count(), HELD_LATENCIES as u64);
        unreported.report(&stats, start);
        assert_eq!(stats.latency.count(), HELD_LATENCIES as u64 + 1);
        assert_eq!(stats.frames.load(Relaxed), HELD_LATENCIES as u64 + 1);
    }
}
