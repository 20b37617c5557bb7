//! The server's event feed: state changes and per-second bitrates, as JSON lines for
//! `GET /api/v1/events`. A bounded ring: a reader that falls behind skips ahead and
//! is told how many events it missed; writers never wait for readers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Events kept for readers that are a little behind.
const RING: usize = 1024;

#[derive(Debug, Default)]
struct Ring {
    /// Sequence number of the next event.
    next: u64,
    events: VecDeque<(u64, Arc<str>, Arc<str>)>,
    waiting: Vec<Waker>,
}

#[derive(Debug, Default)]
pub struct EventBus {
    ring: Mutex<Ring>,
    readers: AtomicUsize,
}

/// Counts a reader of the bus while it exists, so producers of costly periodic
/// events can skip them when nobody listens.
#[derive(Debug)]
pub struct ReaderGuard(Arc<EventBus>);

impl ReaderGuard {
    pub fn bus(&self) -> &Arc<EventBus> {
        &self.0
    }
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        self.0.readers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a reader gets next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Event {
        kind: Arc<str>,
        json: Arc<str>,
    },
    /// The reader was too slow; this many events are gone.
    Missed(u64),
}

impl EventBus {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Registers a reader (see `ReaderGuard`).
    pub fn reader(self: &Arc<Self>) -> ReaderGuard {
        self.readers.fetch_add(1, Ordering::Relaxed);
        ReaderGuard(Arc::clone(self))
    }

    pub fn has_readers(&self) -> bool {
        self.readers.load(Ordering::Relaxed) > 0
    }

    /// Publishes one event; `json` is a complete JSON object.
    pub fn publish(&self, kind: &str, json: String) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let seq = ring.next;
        ring.next += 1;
        if ring.events.len() == RING {
            ring.events.pop_front();
        }
        ring.events.push_back((seq, kind.into(), json.into()));
        let waiting = std::mem::take(&mut ring.waiting);
        drop(ring);
        waiting.into_iter().for_each(Waker::wake);
    }

    /// The sequence number a new reader starts from (only events after it).
    pub fn cursor(&self) -> u64 {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).next
    }

    /// The event at `cursor`, advancing it; pending until one is published.
    pub fn poll_next(&self, cursor: &mut u64, cx: &mut Context<'_>) -> Poll<Next> {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = ring.events.front().map_or(ring.next, |e| e.0);
        if *cursor < oldest {
            let missed = oldest - *cursor;
            *cursor = oldest;
            return Poll::Ready(Next::Missed(missed));
        }
        let index = usize::try_from(*cursor - oldest).unwrap_or(usize::MAX);
        if let Some((_, kind, json)) = ring.events.get(index) {
            *cursor += 1;
            return Poll::Ready(Next::Event {
                kind: Arc::clone(kind),
                json: Arc::clone(json),
            });
        }
        if !ring.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            ring.waiting.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn next(bus: &EventBus, cursor: &mut u64) -> Poll<Next> {
        bus.poll_next(cursor, &mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn readers_see_events_in_order_and_learn_what_they_missed() {
        let bus = EventBus::new();
        let mut cursor = bus.cursor();
        assert!(next(&bus, &mut cursor).is_pending());
        bus.publish("state", "{\"a\":1}".into());
        bus.publish("state", "{\"a\":2}".into());
        let Poll::Ready(Next::Event { json, .. }) = next(&bus, &mut cursor) else {
            panic!("expected an event")
        };
        assert_eq!(&*json, "{\"a\":1}");
        assert!(matches!(
            next(&bus, &mut cursor),
            Poll::Ready(Next::Event { .. })
        ));
        for i in 0..RING + 5 {
            bus.publish("bitrate", format!("{{\"i\":{i}}}"));
        }
        assert_eq!(next(&bus, &mut cursor), Poll::Ready(Next::Missed(5)));
        let Poll::Ready(Next::Event { json, .. }) = next(&bus, &mut cursor) else {
            panic!("expected an event")
        };
        assert_eq!(&*json, "{\"i\":5}");
    }
}
