//! Once a second: bitrates and frame rates over a sliding window, and the derived
//! health of every output. Reads the counters the media path keeps (each with one
//! writer); takes no lock that the media path waits on for longer than a copy.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::outputs::{OutputEntry, OutputState};
use crate::stream::StreamSnapshot;

/// Bitrates are averaged over this long.
pub const WINDOW: Duration = Duration::from_secs(5);
/// A live output below this share of its target bitrate...
const DEGRADED_SHARE: f64 = 0.8;
/// ...for this long is `degraded`.
const DEGRADED_AFTER: Duration = Duration::from_secs(10);

/// Samples of a cumulative counter, newest last, spanning about `WINDOW`.
#[derive(Debug, Default)]
struct Window {
    samples: VecDeque<(Instant, u64)>,
}

impl Window {
    fn push(&mut self, now: Instant, value: u64) {
        // A counter that went backwards belongs to a new object: start over.
        if self.samples.back().is_some_and(|&(_, last)| value < last) {
            self.samples.clear();
        }
        self.samples.push_back((now, value));
        while self
            .samples
            .get(1)
            .is_some_and(|&(t, _)| now.duration_since(t) >= WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Increase per second over the window; 0 until two samples exist.
    fn rate(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, v0)), Some(&(t1, v1))) if t1 > t0 => {
                (v1 - v0) as f64 / t1.duration_since(t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

#[derive(Debug, Default)]
struct StreamWindows {
    bytes: Window,
    video_frames: Window,
    was_live: bool,
    seen: bool,
}

#[derive(Debug, Default)]
struct OutputWindows {
    bytes: Window,
    below_since: Option<Instant>,
    seen: bool,
}

/// The derived figures of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamRates {
    pub bitrate_bps: f64,
    pub fps: f64,
}

/// The derived figures of one output.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutputRates {
    pub bitrate_bps: f64,
    pub target_bps: f64,
    pub degraded: bool,
}

#[derive(Debug, Default)]
pub struct Sampler {
    streams: HashMap<String, StreamWindows>,
    outputs: HashMap<(String, String), OutputWindows>,
    stream_rates: HashMap<String, StreamRates>,
    output_rates: HashMap<(String, String), OutputRates>,
}

/// An output whose derived health changed at this sample.
#[derive(Debug, PartialEq, Eq)]
pub struct HealthChange {
    pub stream: String,
    pub output: String,
    pub degraded: bool,
}

impl Sampler {
    pub fn stream(&self, name: &str) -> StreamRates {
        self.stream_rates.get(name).copied().unwrap_or_default()
    }

    pub fn output(&self, stream: &str, output: &str) -> OutputRates {
        self.output_rates
            .get(&(stream.to_owned(), output.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Takes one sample of every stream and output.
    pub fn sample(
        &mut self,
        now: Instant,
        streams: &[(String, StreamSnapshot)],
        outputs: &[std::sync::Arc<OutputEntry>],
        profile_bitrate: impl Fn(&str) -> Option<u64>,
    ) -> Vec<HealthChange> {
        self.streams.values_mut().for_each(|w| w.seen = false);
        for (name, snapshot) in streams {
            let windows = self.streams.entry(name.clone()).or_default();
            windows.seen = true;
            if snapshot.live && !windows.was_live {
                // A new publisher: the idle time before it says nothing about its rate.
                windows.bytes = Window::default();
                windows.video_frames = Window::default();
            }
            windows.was_live = snapshot.live;
            windows.bytes.push(now, snapshot.bytes_in);
            windows.video_frames.push(now, snapshot.video_frames_in);
            let rates = if snapshot.live {
                StreamRates {
                    bitrate_bps: windows.bytes.rate() * 8.0,
                    fps: windows.video_frames.rate(),
                }
            } else {
                StreamRates::default()
            };
            self.stream_rates.insert(name.clone(), rates);
        }
        self.streams.retain(|_, w| w.seen);
        self.stream_rates
            .retain(|name, _| self.streams.contains_key(name));

        let mut changes = Vec::new();
        self.outputs.values_mut().for_each(|w| w.seen = false);
        for entry in outputs {
            let key = (entry.stream.clone(), entry.stats.name.clone());
            let windows = self.outputs.entry(key.clone()).or_default();
            windows.seen = true;
            entry.stats.settle();
            windows.bytes.push(
                now,
                entry.stats.bytes.load(std::sync::atomic::Ordering::Relaxed),
            );
            let live = entry.stats.state() == OutputState::Live;
            let bitrate_bps = if live {
                windows.bytes.rate() * 8.0
            } else {
                0.0
            };
            // Passthrough carries what comes in; a transcoded output its profile.
            let target_bps = match &entry.config.profile {
                Some(profile) => profile_bitrate(profile).unwrap_or(0) as f64,
                None if live => self
                    .stream_rates
                    .get(&entry.stream)
                    .map_or(0.0, |r| r.bitrate_bps),
                None => 0.0,
            };
            let below = live && target_bps > 0.0 && bitrate_bps < DEGRADED_SHARE * target_bps;
            let was_degraded = windows
                .below_since
                .is_some_and(|t| now.duration_since(t) >= DEGRADED_AFTER);
            windows.below_since = if below {
                Some(windows.below_since.unwrap_or(now))
            } else {
                None
            };
            let degraded = windows
                .below_since
                .is_some_and(|t| now.duration_since(t) >= DEGRADED_AFTER);
            if degraded != was_degraded {
                changes.push(HealthChange {
                    stream: key.0.clone(),
                    output: key.1.clone(),
                    degraded,
                });
            }
            self.output_rates.insert(
                key,
                OutputRates {
                    bitrate_bps,
                    target_bps,
                    degraded,
                },
            );
        }
        self.outputs.retain(|_, w| w.seen);
        self.output_rates
            .retain(|key, _| self.outputs.contains_key(key));
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_rate_spans_about_five_seconds() {
        let start = Instant::now();
        let mut window = Window::default();
        assert_eq!(window.rate(), 0.0);
        for second in 0..=10u64 {
            // 1000 bytes/s for 5 s, then 3000 bytes/s.
            let value = if second <= 5 {
                second * 1000
            } else {
                5000 + (second - 5) * 3000
            };
            window.push(start + Duration::from_secs(second), value);
        }
        assert_eq!(window.samples.len(), 6);
        assert!((window.rate() - 3000.0).abs() < 1e-9);
        // A reset counter starts a new window instead of a negative rate.
        window.push(start + Duration::from_secs(11), 10);
        assert_eq!(window.rate(), 0.0);
    }
}
