//! A burst (the messages of one read of the publisher's connection) that holds
//! frames only: what a caught-up subscriber's sink may take whole, as one piece of
//! work (`DirectSink::take_burst`), instead of being offered its items one by one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use protocol_parsers::media::Frame;

use super::fanout::StreamItem;

/// Numbers each burst handed out on any thread, so a sink's per-thread cache of
/// what it made of a burst can tell one burst from the next.
static NEXT_BURST: AtomicU64 = AtomicU64::new(1);

/// A burst's items, all frames.
#[derive(Debug, Clone, Copy)]
pub struct BurstFrames<'a> {
    id: u64,
    items: &'a [StreamItem],
    largest: usize,
}

impl<'a> BurstFrames<'a> {
    /// `None` unless `items` holds frames and nothing else.
    pub fn new(items: &'a [StreamItem]) -> Option<Self> {
        let mut largest = 0;
        for item in items {
            let StreamItem::Frame(frame, _) = item else {
                return None;
            };
            largest = largest.max(frame.data.len());
        }
        (!items.is_empty()).then(|| Self {
            id: NEXT_BURST.fetch_add(1, Ordering::Relaxed),
            items,
            largest,
        })
    }

    /// Differs from every other burst's.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The frames in order, each with the instant it reached the stream.
    pub fn frames(&self) -> impl Iterator<Item = (&'a Frame, Option<Instant>)> + 'a {
        self.items.iter().filter_map(|item| match item {
            StreamItem::Frame(frame, arrived) => Some((frame, *arrived)),
            _ => None,
        })
    }

    /// The payload length of the largest frame.
    pub fn largest(&self) -> usize {
        self.largest
    }
}
