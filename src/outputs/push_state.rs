//! An output's state and counters, shared with the admin API and metrics.

use std::sync::{Arc, Mutex};

use crate::stream::Subscriber;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputState {
    Idle,
    Connecting,
    Live,
    Retrying,
    Failed,
    Disabled,
}

impl OutputState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
            Self::Disabled => "disabled",
        }
    }
}

/// Written by the output's task, read by monitoring.
#[derive(Debug)]
pub struct OutputStats {
    pub stream: String,
    pub name: String,
    state: Mutex<(OutputState, Option<String>)>,
    pub bytes: AtomicU64,
    pub frames: AtomicU64,
    /// Frames dropped by queues of finished sessions; see `dropped_frames`.
    dropped: AtomicU64,
    pub reconnects: AtomicU64,
    /// Frame reached the stream -> its bytes written to the destination.
    pub latency: super::LatencyHistogram,
    /// The live session's queue, whose drop count is read as it happens, so a
    /// stalled output shows its drops while it is stalled.
    current: Mutex<Option<Arc<Subscriber>>>,
}

impl OutputStats {
    pub fn new(stream: &str, name: &str, state: OutputState) -> Self {
        Self {
            stream: stream.to_owned(),
            name: name.to_owned(),
            state: Mutex::new((state, None)),
            bytes: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            latency: super::LatencyHistogram::default(),
            current: Mutex::new(None),
        }
    }

    pub fn attach(&self, subscriber: &Arc<Subscriber>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(subscriber));
    }

    /// Folds the finished session's drops into the total.
    pub fn detach(&self) {
        if let Some(sub) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            self.dropped
                .fetch_add(sub.dropped_frames(), Ordering::Relaxed);
        }
    }

    /// Frames dropped because this output fell behind, over all its sessions.
    pub fn dropped_frames(&self) -> u64 {
        let live = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |s| s.dropped_frames());
        self.dropped.load(Ordering::Relaxed) + live
    }

    pub fn state(&self) -> OutputState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    pub fn last_error(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    pub fn set_state(&self, state: OutputState) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if guard.0 != state {
            tracing::info!(stream = %self.stream, output = %self.name, from = guard.0.as_str(), to = state.as_str(), "output state");
            guard.0 = state;
        }
    }

    pub fn set_error(&self, error: String) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = Some(error);
    }

    pub fn add(&self, counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }
}
