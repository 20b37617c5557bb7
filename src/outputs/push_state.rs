//! An output's state and counters, shared with the admin API and metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::direct_push::PushMedia;
use crate::events::EventBus;
use crate::stream::Subscriber;

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
    pub const ALL: [Self; 6] = [
        Self::Idle,
        Self::Connecting,
        Self::Live,
        Self::Retrying,
        Self::Failed,
        Self::Disabled,
    ];

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

#[derive(Debug)]
struct StateCell {
    state: OutputState,
    last_error: Option<String>,
    /// Which task may change the state: bumped when the output is disabled,
    /// re-enabled or removed, so a task that is being stopped cannot overwrite
    /// the state its successor (or the operator) set.
    generation: u64,
}

/// Written by the output's task, read by monitoring. Every counter has exactly one
/// writer (the task on the output's core); readers only load them.
#[derive(Debug)]
pub struct OutputStats {
    pub stream: String,
    pub name: String,
    state: Mutex<StateCell>,
    events: Arc<EventBus>,
    /// Shared with the live session's pump, which counts bytes as they are written.
    pub bytes: Arc<AtomicU64>,
    pub frames: AtomicU64,
    /// Frames dropped by queues of finished sessions; see `dropped_frames`.
    dropped: AtomicU64,
    pub reconnects: AtomicU64,
    /// Frame reached the stream -> its bytes written to the destination.
    pub latency: super::LatencyHistogram,
    /// The live session's queue, whose drop count is read as it happens, so a
    /// stalled output shows its drops while it is stalled.
    current: Mutex<Option<Arc<Subscriber>>>,
    /// The live session's direct sends, which count beside their bytes and report
    /// here in bulk (`unreported_stats`); `settle` has them report now.
    unreported: Mutex<Option<Weak<PushMedia>>>,
}

impl OutputStats {
    pub fn new(stream: &str, name: &str, state: OutputState, events: Arc<EventBus>) -> Self {
        Self {
            stream: stream.to_owned(),
            name: name.to_owned(),
            state: Mutex::new(StateCell {
                state,
                last_error: None,
                generation: 0,
            }),
            events,
            bytes: Arc::default(),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            latency: super::LatencyHistogram::default(),
            current: Mutex::new(None),
            unreported: Mutex::new(None),
        }
    }

    pub fn attach(&self, subscriber: &Arc<Subscriber>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(subscriber));
    }

    /// Has `media`'s direct sends report to these counters whenever they are read.
    pub fn count_direct_sends_of(&self, media: &Arc<PushMedia>) {
        *self.unreported.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(media));
    }

    /// Adds what the live session's direct sends have counted and not yet reported:
    /// readers call it first, so the counters they read are exact, however long
    /// ago the last frame was.
    pub fn settle(&self) {
        let media = self
            .unreported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(Weak::upgrade);
        if let Some(media) = media {
            media.report_unreported();
        }
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

    fn cell(&self) -> std::sync::MutexGuard<'_, StateCell> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> OutputState {
        self.cell().state
    }

    pub fn last_error(&self) -> Option<String> {
        self.cell().last_error.clone()
    }

    /// The generation a newly started task for this output runs under.
    pub fn generation(&self) -> u64 {
        self.cell().generation
    }

    /// Sets the state on behalf of the task of `generation`; a stale task's
    /// update is ignored.
    pub fn set_state(&self, generation: u64, state: OutputState) {
        let mut cell = self.cell();
        if cell.generation == generation {
            let event = self.change(&mut cell, state);
            drop(cell);
            self.publish(event);
        }
    }

    /// Takes the output away from its current task and sets `state`; returns the
    /// generation a replacement task must use.
    pub fn take_over(&self, state: OutputState) -> u64 {
        let mut cell = self.cell();
        cell.generation += 1;
        let generation = cell.generation;
        let event = self.change(&mut cell, state);
        drop(cell);
        self.publish(event);
        generation
    }

    /// Never called with the state lock held: publishing wakes event readers on
    /// the admin thread, which may be waiting for that lock.
    fn publish(&self, event: Option<String>) {
        if let Some(event) = event {
            self.events.publish("output_state", event);
        }
    }

    fn change(&self, cell: &mut StateCell, state: OutputState) -> Option<String> {
        if cell.state == state {
            return None;
        }
        tracing::info!(stream = %self.stream, output = %self.name, from = cell.state.as_str(), to = state.as_str(), "output state");
        let event = serde_json::json!({
            "stream": self.stream,
            "output": self.name,
            "from": cell.state.as_str(),
            "state": state.as_str(),
            "last_error": cell.last_error,
        });
        cell.state = state;
        Some(event.to_string())
    }

    pub fn set_error(&self, error: String) {
        self.cell().last_error = Some(error);
    }

    pub fn add(&self, counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }
}
