//! Counters of one rendition, written by its thread and read by monitoring.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct RenditionStats {
    pub source: String,
    pub profile: String,
    /// The encoder this rendition runs (`x264`, `nvenc`, ...).
    pub encoder: &'static str,
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    /// Decoded pictures this rendition could not take in time (its queue was full).
    pub dropped_frames: AtomicU64,
    /// Summed wall time of scale + encode, for the mean per frame.
    pub encode_micros: AtomicU64,
    pub queue_depth: AtomicU64,
    pub restarts: AtomicU64,
    /// Frames per second out, over the last full second.
    fps: Mutex<FpsWindow>,
    /// Source frame in -> rendition frame out, in microseconds.
    pub latency: crate::outputs::latency::LatencyHistogram,
}

#[derive(Debug)]
struct FpsWindow {
    started: Instant,
    frames_at_start: u64,
    fps: f64,
}

impl RenditionStats {
    pub fn new(source: &str, profile: &str, encoder: &'static str) -> Self {
        Self {
            source: source.to_owned(),
            profile: profile.to_owned(),
            encoder,
            frames_in: AtomicU64::new(0),
            frames_out: AtomicU64::new(0),
            dropped_frames: AtomicU64::new(0),
            encode_micros: AtomicU64::new(0),
            queue_depth: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            fps: Mutex::new(FpsWindow {
                started: Instant::now(),
                frames_at_start: 0,
                fps: 0.0,
            }),
            latency: Default::default(),
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Called by the rendition thread after each encoded frame.
    pub fn frame_out(&self, now: Instant) {
        let frames = self.frames_out.fetch_add(1, Ordering::Relaxed) + 1;
        let mut window = self.fps.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.duration_since(window.started).as_secs_f64();
        if elapsed >= 1.0 {
            window.fps = (frames - window.frames_at_start) as f64 / elapsed;
            window.started = now;
            window.frames_at_start = frames;
        }
    }

    /// Frames per second out; 0 once nothing came out for two seconds.
    pub fn fps(&self) -> f64 {
        let window = self.fps.lock().unwrap_or_else(|e| e.into_inner());
        if window.started.elapsed().as_secs_f64() > 2.0 {
            0.0
        } else {
            window.fps
        }
    }

    /// Mean scale + encode time per frame, in milliseconds.
    pub fn encode_ms_per_frame(&self) -> f64 {
        let frames = Self::get(&self.frames_in).max(1);
        Self::get(&self.encode_micros) as f64 / frames as f64 / 1000.0
    }
}
