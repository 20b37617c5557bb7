//! Which thread hands a stream's items to each subscriber. A subscriber that lives
//! on a worker of its own (a push output) is given the publisher's items on that
//! worker, as a job: its queue, its sink's encoder and its socket are then touched
//! from its own core only, and the publisher's core hands each other worker one
//! shared list of items per burst instead of encoding, reference-counting and
//! writing state for every output there (BENCHMARKS.md, "Each output's items on
//! its own worker"). The others are given them on the publisher's thread.
//!
//! Order: a subscriber is in one group for its whole life, and its group is always
//! served by the same thread (the publisher's, or its home worker's job queue,
//! which runs jobs in the order they were pushed), so it sees items in publishing
//! order.
//!
//! Bounded: what a stream has handed to a worker and that worker has not yet
//! offered is limited like a subscriber's queue (`InFlight`). A worker that stalls
//! (a saturated core) then holds a few seconds of each stream's frames at most; the
//! frames beyond are left out and its subscribers resume at the next keyframe,
//! counting them as dropped, as a subscriber's own queue does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::fanout::{QueueLimits, StreamItem, Subscriber};
use crate::engine::JobQueue;

/// The most a stream may have handed to one worker and not yet offered there:
/// what one subscriber may queue.
const IN_FLIGHT_LIMITS: QueueLimits = QueueLimits::DEFAULT;

/// A stream's subscribers, grouped by the worker that delivers to them. Replaced,
/// never changed, when one joins or leaves (copy-on-write), so a publisher can
/// deliver without the stream's lock.
#[derive(Debug, Default)]
pub(super) struct Subscribers {
    all: Vec<Arc<Subscriber>>,
    groups: Vec<HomeGroup>,
}

#[derive(Debug)]
struct HomeGroup {
    /// `None`: subscribers without a worker of their own, served by the publisher.
    home: Option<Arc<JobQueue>>,
    members: Arc<[Arc<Subscriber>]>,
    /// What this stream has handed to `home` and `home` has not yet offered; the
    /// same for every version of the subscriber list, as the jobs outlive them.
    in_flight: Arc<InFlight>,
}

/// A stream's frames handed to one worker's job queue and not yet offered there.
#[derive(Debug, Default)]
struct InFlight {
    frames: AtomicUsize,
    bytes: AtomicUsize,
    /// Frames left out since the last job: that job's subscribers drop to the next
    /// keyframe and count them.
    left_out: AtomicU64,
}

impl InFlight {
    /// What of `items` may go to the worker: all of them while within the limits,
    /// else all but the frames, which are counted as left out. Returns the items and
    /// the frames and bytes they hold.
    fn admit(&self, items: &Arc<[StreamItem]>) -> (Arc<[StreamItem]>, usize, usize) {
        let (frames, bytes) = frames_and_bytes(items);
        if frames == 0 {
            return (Arc::clone(items), 0, 0);
        }
        let within = self.frames.load(Ordering::Relaxed) + frames <= IN_FLIGHT_LIMITS.max_frames
            && self.bytes.load(Ordering::Relaxed) + bytes <= IN_FLIGHT_LIMITS.max_bytes;
        if within {
            self.frames.fetch_add(frames, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            return (Arc::clone(items), frames, bytes);
        }
        self.left_out.fetch_add(frames as u64, Ordering::Relaxed);
        let rest: Arc<[StreamItem]> = items
            .iter()
            .filter(|item| !matches!(item, StreamItem::Frame(..)))
            .cloned()
            .collect();
        (rest, 0, 0)
    }

    /// A job has offered its items.
    fn release(&self, frames: usize, bytes: usize) {
        self.frames.fetch_sub(frames, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

fn frames_and_bytes(items: &[StreamItem]) -> (usize, usize) {
    items
        .iter()
        .fold((0, 0), |(frames, bytes), item| match item {
            StreamItem::Frame(frame, _) => (frames + 1, bytes + frame.data.len()),
            _ => (frames, bytes),
        })
}

impl HomeGroup {
    /// Whether the thread of worker `here` (`None`: not a worker) serves this group.
    fn is_served_by(&self, here: Option<&Arc<JobQueue>>) -> bool {
        self.home
            .as_ref()
            .is_none_or(|home| here.is_some_and(|here| Arc::ptr_eq(here, home)))
    }
}

/// `members`, starting one further on each turn (a frame). Outputs on a core write
/// in turn, each send taking microseconds; a fixed order would make the last
/// subscriber wait for all the others on every frame, a rotating one spreads that
/// wait evenly.
fn rotated(members: &[Arc<Subscriber>], turn: usize) -> impl Iterator<Item = &Arc<Subscriber>> {
    let (before, from_first) = members.split_at(turn % members.len().max(1));
    from_first.iter().chain(before)
}

fn same_home(a: Option<&Arc<JobQueue>>, b: Option<&Arc<JobQueue>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl Subscribers {
    /// Groups `all` by home, each group keeping the in-flight count of its home in
    /// `before`.
    fn from_list(all: Vec<Arc<Subscriber>>, before: &[HomeGroup]) -> Self {
        let mut groups: Vec<HomeGroup> = Vec::new();
        for sub in &all {
            if groups
                .iter()
                .any(|g| same_home(g.home.as_ref(), sub.home()))
            {
                continue;
            }
            let home = sub.home().cloned();
            let members = all
                .iter()
                .filter(|s| same_home(s.home(), home.as_ref()))
                .cloned()
                .collect();
            let in_flight = before
                .iter()
                .find(|g| same_home(g.home.as_ref(), home.as_ref()))
                .map_or_else(Arc::default, |g| Arc::clone(&g.in_flight));
            groups.push(HomeGroup {
                home,
                members,
                in_flight,
            });
        }
        Self { all, groups }
    }

    pub fn all(&self) -> &[Arc<Subscriber>] {
        &self.all
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// These subscribers and `sub`.
    pub fn with(&self, sub: Arc<Subscriber>) -> Self {
        let mut all = Vec::with_capacity(self.all.len() + 1);
        all.extend(self.all.iter().cloned());
        all.push(sub);
        Self::from_list(all, &self.groups)
    }

    /// These subscribers without `sub`.
    pub fn without(&self, sub: &Arc<Subscriber>) -> Self {
        let all = self
            .all
            .iter()
            .filter(|s| !Arc::ptr_eq(s, sub))
            .cloned()
            .collect();
        Self::from_list(all, &self.groups)
    }

    /// Whether some subscribers are served by a worker other than `here`.
    pub fn any_elsewhere(&self, here: Option<&Arc<JobQueue>>) -> bool {
        self.groups.iter().any(|group| !group.is_served_by(here))
    }

    /// Offers `item` to the subscribers that the thread of worker `here` serves.
    pub fn offer_here(&self, item: &StreamItem, here: Option<&Arc<JobQueue>>, turn: usize) {
        for group in self.groups.iter().filter(|g| g.is_served_by(here)) {
            for sub in rotated(&group.members, turn) {
                sub.offer_from_publisher(item);
            }
        }
    }

    /// Gives a burst's `items` to the subscribers that the thread of worker `here`
    /// serves, and writes them (`Subscriber::deliver_burst`).
    pub fn deliver_burst_here(
        &self,
        items: &[StreamItem],
        here: Option<&Arc<JobQueue>>,
        turn: usize,
    ) {
        if items.is_empty() {
            return;
        }
        Subscriber::deliver_burst(
            self.groups
                .iter()
                .filter(|g| g.is_served_by(here))
                .flat_map(|group| rotated(&group.members, turn)),
            items,
        );
    }

    /// Gives a burst's `items` to every subscriber: to other workers' first, as
    /// jobs, so they encode and send on their cores while this one does its own.
    pub fn deliver_burst(
        &self,
        items: impl Into<Arc<[StreamItem]>>,
        here: Option<&Arc<JobQueue>>,
        turn: usize,
    ) {
        let items: Arc<[StreamItem]> = items.into();
        self.hand_to_homes(Arc::clone(&items), here, turn);
        self.deliver_burst_here(&items, here, turn);
    }

    /// Hands `items` to the subscribers of every worker other than `here`, as one
    /// job per worker, which gives them to its subscribers as a burst
    /// (`Subscriber::deliver_burst`). The job holds the one shared list; nothing is
    /// counted or written per subscriber on this thread. No items, no jobs. Frames
    /// beyond what a worker may have in flight are left out (`InFlight`).
    pub fn hand_to_homes(
        &self,
        items: impl Into<Arc<[StreamItem]>>,
        here: Option<&Arc<JobQueue>>,
        turn: usize,
    ) {
        let items: Arc<[StreamItem]> = items.into();
        if items.is_empty() {
            return;
        }
        for group in self.groups.iter().filter(|g| !g.is_served_by(here)) {
            let Some(home) = &group.home else { continue };
            let in_flight = Arc::clone(&group.in_flight);
            let (items, frames, bytes) = in_flight.admit(&items);
            if items.is_empty() {
                // All left out: the next job tells the subscribers.
                continue;
            }
            let left_out = in_flight.left_out.swap(0, Ordering::Relaxed);
            let members = Arc::clone(&group.members);
            home.push(Box::new(move || {
                if left_out > 0 {
                    for sub in rotated(&members, turn) {
                        sub.skip_to_keyframe(left_out);
                    }
                }
                Subscriber::deliver_burst(rotated(&members, turn), &items);
                in_flight.release(frames, bytes);
            }));
        }
    }
}
