//! A bounded per-subscriber queue. The publisher never waits: when a subscriber
//! falls behind, its queued frames are dropped and it resumes at the next keyframe.
//! A subscriber that is caught up may take items straight from the publisher's
//! thread instead (`DirectSink`): no queue, no task woken.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Instant;

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use protocol_parsers::media::{Frame, Track, TrackKind};
use protocol_parsers::rtmp::media::Metadata;

use super::burst_frames::BurstFrames;
use crate::engine::{BatchedSend, JobQueue};

/// What flows from a stream to each subscriber. Payloads are shared (`Bytes`/`Arc`),
/// never copied per subscriber.
#[derive(Debug, Clone)]
pub enum StreamItem {
    Metadata(Arc<Metadata>),
    /// A new or changed decoder configuration; comes before that track's frames.
    Track(Arc<Track>),
    /// A frame, with the instant the publisher handed it to the stream; `None` for
    /// frames replayed from the GOP cache to a late joiner (their age says nothing
    /// about relay latency).
    Frame(Frame, Option<Instant>),
    /// The publisher went away; outputs stay connected through the grace period.
    PublisherGone,
    /// The stream ended (grace period over, or server shutting down).
    Ended,
}

/// How much one subscriber may have queued before it starts dropping.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub max_frames: usize,
    pub max_bytes: usize,
}

impl QueueLimits {
    /// About 4 s of 1080p30 video with audio at 8 Mbit/s.
    pub const DEFAULT: Self = Self {
        max_frames: 512,
        max_bytes: 4 * 1024 * 1024,
    };
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Writes a subscriber's items to its connection from the publisher's thread, while
/// the subscriber is caught up (nothing queued and nothing of its own being
/// written); the subscriber's task takes over whenever it is not.
pub trait DirectSink: Send + Sync {
    /// Encodes `item` after what the sink has waiting, without writing it.
    fn encode(&self, item: &StreamItem);
    /// Writes what waits now, without blocking. True when all of it went out;
    /// false when some still waits, for the task to write.
    fn send(&self) -> bool;
    /// Locks what waits, for a send batched with other sinks' (`deliver_burst`).
    /// `None`: this sink takes no part in batches and `send` writes it alone.
    fn stage(&self) -> Option<Staged<'_>> {
        None
    }
    /// Takes a whole burst of frames at once, for the next `stage` to write, in
    /// place of an `encode` per frame: a sink that would encode them as other
    /// sinks on this thread do shares their bytes. False: this sink is offered the
    /// frames one by one.
    fn take_burst(&self, _burst: &BurstFrames<'_>) -> bool {
        false
    }
}

/// A sink's waiting bytes, locked (so unchanged) while a batch sends them. Borrowed
/// from the sink, not boxed: a batch stages every caught-up output on every read of
/// the publisher's connection.
pub struct Staged<'a> {
    pub socket: BorrowedFd<'a>,
    pub waiting: MutexGuard<'a, dyn WaitingBytes + Send>,
}

/// What a batched sink has waiting for its socket.
pub trait WaitingBytes {
    /// What waits, in order; empty when nothing does.
    fn pieces(&self) -> &[Bytes];
    /// The batch's result for `pieces`: true when nothing waits any more, false
    /// when some still does, for the task to write.
    fn finish(&mut self, result: std::io::Result<usize>) -> bool;
}

/// Sends per batch, whose subscribers' queues it holds locked meanwhile. Measured
/// in relay-bench (BENCHMARKS.md): 8 cost the least CPU while the publisher's core
/// encoded for every output (larger batches kept it waiting on held locks). Since
/// each output is served from its own worker only (`delivery`), 32 costs about 4%
/// less at N = 500 and the same at N = 100, but each output's latency is stamped
/// when its batch returns, and at N = 100 the 100th destination's own p50 read
/// 1.3-1.4 ms against 0.9-1.3 ms with 8 (from outside the two were alike). 8 keeps
/// the stamps close to the writes.
const SEND_BATCH: usize = 8;

#[derive(Default)]
struct QueueState {
    items: VecDeque<StreamItem>,
    bytes: usize,
    /// Dropping until the next keyframe.
    skipping: bool,
    has_video: bool,
    ended: bool,
    sink: Option<Arc<dyn DirectSink>>,
    /// Items go straight to `sink` while this holds (see `resume_direct`).
    direct: bool,
    /// A delivery left bytes in the sink: the task must write them.
    sink_waiting: bool,
    /// Items of the publisher's current burst were given to the sink and wait
    /// for the burst's end (`deliver_burst`).
    burst_unsent: bool,
}

impl QueueState {
    /// A direct send left bytes in the sink: direct delivery stops until the task,
    /// to be woken by the caller once the lock is released, has written them.
    fn leave_bytes_to_task(&mut self) {
        self.direct = false;
        self.sink_waiting = true;
    }

    /// Moves everything queued into `out` for the task, which writes from now on:
    /// direct delivery stops until `resume_direct`.
    fn hand_to_task(&mut self, out: &mut Vec<StreamItem>) {
        self.direct = false;
        self.bytes = 0;
        out.extend(self.items.drain(..));
    }
}

/// Sends what each locked queue's sink holds, batched where the sinks take part:
/// per queue, whether everything went out.
fn send_staged(queues: &[(&Arc<Subscriber>, MutexGuard<'_, QueueState>)]) -> Vec<bool> {
    let mut all_sent = vec![true; queues.len()];
    let mut staged: Vec<(usize, Staged<'_>)> = Vec::with_capacity(queues.len());
    for (index, (_, state)) in queues.iter().enumerate() {
        let Some(sink) = &state.sink else { continue };
        match sink.stage() {
            // A sink with nothing waiting has sent everything and takes no part.
            Some(held) if held.waiting.pieces().is_empty() => {}
            Some(held) => staged.push((index, held)),
            None => all_sent[index] = sink.send(),
        }
    }
    let results = {
        let sends: Vec<BatchedSend<'_>> = staged
            .iter()
            .map(|(_, held)| BatchedSend {
                socket: held.socket,
                pieces: held.waiting.pieces(),
            })
            .collect();
        crate::engine::send_batch(&sends)
    };
    // One result per send, in order.
    for ((index, held), result) in staged.iter_mut().zip(results) {
        all_sent[*index] = held.waiting.finish(result);
    }
    all_sent
}

impl std::fmt::Debug for QueueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueState")
            .field("items", &self.items.len())
            .field("bytes", &self.bytes)
            .field("skipping", &self.skipping)
            .field("ended", &self.ended)
            .field("direct", &self.direct)
            .finish_non_exhaustive()
    }
}

/// One subscriber's queue, shared by the publisher (push) and the subscriber (pop).
#[derive(Debug)]
pub struct Subscriber {
    state: Mutex<QueueState>,
    waker: AtomicWaker,
    limits: QueueLimits,
    dropped: AtomicU64,
    /// The worker that is given this subscriber's items (`delivery`); `None`: the
    /// publisher's thread gives them.
    home: Option<Arc<JobQueue>>,
}

impl Subscriber {
    /// A subscriber whose items `home`'s worker is given (`None`: the publisher's
    /// thread).
    pub fn new(limits: QueueLimits, home: Option<Arc<JobQueue>>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(QueueState::default()),
            waker: AtomicWaker::new(),
            limits,
            dropped: AtomicU64::new(0),
            home,
        })
    }

    /// Frames dropped because this subscriber fell behind.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A poisoned queue only means another thread panicked mid-push; the queue
        // itself is still consistent (every mutation is a single VecDeque call).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the publisher side. Never blocks beyond the queue's own lock.
    pub fn push(&self, item: StreamItem) {
        self.offer(Cow::Owned(item));
    }

    /// `push` for the publisher's own items, outside a burst: taken by reference,
    /// so a direct delivery encodes it without a clone of its own (whose
    /// reference counts every output's core would contend for).
    pub fn offer_from_publisher(&self, item: &StreamItem) {
        self.offer(Cow::Borrowed(item));
    }

    /// `count` frames meant for this subscriber were left out before they reached
    /// it (`delivery`): they count as dropped, and it resumes at the next keyframe.
    pub fn skip_to_keyframe(&self, count: u64) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        state.skipping = true;
        self.dropped.fetch_add(count, Ordering::Relaxed);
    }

    /// Gives each subscriber a burst's items (the messages of one read of the
    /// publisher's connection) and writes them to the caught-up ones, one send per
    /// subscriber, the sends made as batches (`engine::send_batch`: one io_uring
    /// submission each on the io_uring engine). A caught-up subscriber whose sink
    /// takes a burst of frames whole (`DirectSink::take_burst`) is given it so;
    /// the others are offered the items in order, as `push` would.
    pub fn deliver_burst<'a>(
        subscribers: impl IntoIterator<Item = &'a Arc<Subscriber>>,
        items: &[StreamItem],
    ) {
        let frames = BurstFrames::new(items);
        let mut unsent = Vec::with_capacity(SEND_BATCH);
        let mut to_wake = Vec::new();
        for sub in subscribers {
            let mut state = sub.lock();
            let taken_whole = frames
                .as_ref()
                .is_some_and(|frames| sub.take_burst_whole(&mut state, frames));
            if !taken_whole {
                let mut wake = false;
                for item in items {
                    wake |= sub.offer_locked(&mut state, Cow::Borrowed(item), true);
                }
                if wake {
                    to_wake.push(sub);
                }
            }
            if std::mem::take(&mut state.burst_unsent) && state.direct {
                unsent.push((sub, state));
            } else {
                drop(state);
            }
            // Each batch is sent once full, or at once when a task must be woken:
            // wakes wait until no queue is locked (see `send_locked`), and a task
            // that has fallen behind should not also wait for a batch to fill.
            if unsent.len() == SEND_BATCH || !to_wake.is_empty() {
                Self::send_locked(&mut unsent);
                to_wake
                    .drain(..)
                    .for_each(|sub: &Arc<Subscriber>| sub.waker.wake());
            }
        }
        Self::send_locked(&mut unsent);
    }

    /// Gives `frames` to the sink whole, when this subscriber is caught up and
    /// would take every one of them directly, and the sink takes them so.
    fn take_burst_whole(&self, state: &mut QueueState, frames: &BurstFrames<'_>) -> bool {
        let caught_up = state.direct && state.items.is_empty() && !state.skipping && !state.ended;
        // Within the limits item by item too: the queue is empty.
        let fits = frames.largest() <= self.limits.max_bytes;
        let taken = caught_up
            && fits
            && state
                .sink
                .as_ref()
                .is_some_and(|sink| sink.take_burst(frames));
        if taken {
            state.burst_unsent = true;
        }
        taken
    }

    /// Sends what the locked queues' sinks hold and unlocks them; a queue whose
    /// send was short goes to its task.
    fn send_locked(unsent: &mut Vec<(&Arc<Subscriber>, MutexGuard<'_, QueueState>)>) {
        if unsent.is_empty() {
            return;
        }
        let all_sent = send_staged(unsent);
        let mut left = Vec::new();
        for ((sub, state), all_sent) in unsent.iter_mut().zip(all_sent) {
            if !all_sent {
                state.leave_bytes_to_task();
                left.push(Arc::clone(sub));
            }
        }
        // Wakes after every queue is unlocked: a wake may wait for another core,
        // whose tasks may be waiting for one of these locks.
        unsent.clear();
        left.iter().for_each(|sub| sub.waker.wake());
    }

    fn offer(&self, item: Cow<'_, StreamItem>) {
        let mut state = self.lock();
        if self.offer_locked(&mut state, item, false) {
            drop(state);
            self.waker.wake();
        }
    }

    /// Offers `item` to the locked queue: the sink takes it directly while the
    /// subscriber is caught up (in a burst only encoded, for `deliver_burst` to
    /// send), else it is queued or dropped. Returns whether the task must be woken,
    /// which the caller does once the queue is unlocked.
    fn offer_locked(
        &self,
        state: &mut QueueState,
        item: Cow<'_, StreamItem>,
        in_burst: bool,
    ) -> bool {
        if state.ended {
            return false;
        }
        match &*item {
            StreamItem::Frame(frame, _) => {
                if state.skipping {
                    if frame.is_keyframe() && (is_video_frame(frame, state) || !state.has_video) {
                        state.skipping = false;
                    } else {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        return false;
                    }
                }
                if state.items.len() >= self.limits.max_frames
                    || state.bytes + frame.data.len() > self.limits.max_bytes
                {
                    let before = state.items.len();
                    state.items.retain(|i| !matches!(i, StreamItem::Frame(..)));
                    let dropped = before - state.items.len() + 1;
                    self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
                    state.bytes = 0;
                    state.skipping = true;
                    return false;
                }
            }
            StreamItem::Track(track) if track.kind() == TrackKind::Video => state.has_video = true,
            StreamItem::Ended => state.ended = true,
            _ => {}
        }
        // The end of the publish and of the stream are the task's to handle.
        let media = !matches!(*item, StreamItem::PublisherGone | StreamItem::Ended);
        if state.direct && media && state.items.is_empty() {
            if let Some(sink) = &state.sink {
                // Under the lock: the task cannot take over mid-write.
                sink.encode(&item);
                if in_burst {
                    state.burst_unsent = true;
                    return false;
                }
                if sink.send() {
                    return false;
                }
                // The send left bytes in the sink: direct delivery stops and the
                // task is woken to write them.
                state.leave_bytes_to_task();
                return true;
            }
        }
        if let StreamItem::Frame(frame, _) = &*item {
            state.bytes += frame.data.len();
        }
        state.items.push_back(item.into_owned());
        true
    }

    /// Waits for items and moves all queued ones into `out`. Returns false once the
    /// stream has ended and everything was delivered. Also returns (with nothing
    /// added) when a direct delivery left bytes in the sink. Either way direct
    /// delivery stops until `resume_direct`.
    pub async fn next_batch(&self, out: &mut Vec<StreamItem>) -> bool {
        poll_fn(|cx| {
            let mut state = self.lock();
            let sink_waiting = std::mem::take(&mut state.sink_waiting);
            if state.items.is_empty() && !sink_waiting {
                if state.ended {
                    return Poll::Ready(false);
                }
                self.waker.register(cx.waker());
                return Poll::Pending;
            }
            state.hand_to_task(out);
            Poll::Ready(true)
        })
        .await
    }

    /// Moves whatever is queued into `out` without waiting (direct delivery stops
    /// until `resume_direct`).
    pub fn drain_now(&self, out: &mut Vec<StreamItem>) {
        self.lock().hand_to_task(out);
    }

    /// From now on the publisher may hand items to `sink` while this subscriber is
    /// caught up; delivery starts at the first `resume_direct`. The encoding and the
    /// send run on the thread that is given this subscriber's items: its home
    /// worker, where its task runs, when it has one.
    pub fn set_direct_sink(&self, sink: Arc<dyn DirectSink>) {
        let mut state = self.lock();
        state.direct = false;
        state.sink = Some(sink);
    }

    /// The worker that is given this subscriber's items, if it has one.
    pub fn home(&self) -> Option<&Arc<JobQueue>> {
        self.home.as_ref()
    }

    /// Stops direct delivery for good and lets the sink go.
    pub fn clear_direct_sink(&self) {
        let mut state = self.lock();
        state.direct = false;
        state.sink = None;
    }

    /// Stops direct delivery until `resume_direct`: the task is about to write to
    /// the connection itself. Returns once no delivery is in progress.
    pub fn pause_direct(&self) {
        self.lock().direct = false;
    }

    /// The task has written everything it took: if nothing was queued meanwhile,
    /// the publisher delivers directly again. Returns whether it does.
    pub fn resume_direct(&self) -> bool {
        let mut state = self.lock();
        let caught_up = state.items.is_empty() && !state.sink_waiting && !state.ended;
        state.direct = caught_up && state.sink.is_some();
        state.direct
    }

    /// Marks the queue ended without waking anyone else.
    pub fn close(&self) {
        self.push(StreamItem::Ended);
    }
}

fn is_video_frame(frame: &Frame, state: &QueueState) -> bool {
    state.has_video && frame.track == protocol_parsers::media::TrackId::VIDEO
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::atomic::AtomicBool;

    use bytes::Bytes;
    use protocol_parsers::media::{CodecConfig, FrameFlags, TrackId, VideoCodec};

    use super::*;

    fn video(key: bool, dts: i64) -> StreamItem {
        StreamItem::Frame(
            Frame {
                track: TrackId::VIDEO,
                dts,
                cts: 0,
                flags: if key {
                    FrameFlags::KEYFRAME
                } else {
                    FrameFlags::NONE
                },
                data: Bytes::from_static(&[0; 100]),
            },
            None,
        )
    }

    fn video_track() -> StreamItem {
        StreamItem::Track(Arc::new(Track {
            id: TrackId::VIDEO,
            timescale: 1000,
            config: CodecConfig::Video {
                codec: VideoCodec::H264,
                record: Bytes::new(),
                width: 0,
                height: 0,
            },
        }))
    }

    #[test]
    fn overflow_drops_to_next_keyframe_and_counts() {
        let sub = Subscriber::new(
            QueueLimits {
                max_frames: 4,
                max_bytes: 1 << 20,
            },
            None,
        );
        sub.push(video_track());
        sub.push(video(true, 0));
        for dts in 1..=3 {
            sub.push(video(false, dts));
        }
        // Queue is full (4 frames): this one overflows, the queue is flushed.
        sub.push(video(false, 4));
        sub.push(video(false, 5));
        sub.push(video(true, 6));
        let state = sub.lock();
        let dts: Vec<i64> = state
            .items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Frame(f, _) => Some(f.dts),
                _ => None,
            })
            .collect();
        assert_eq!(dts, [6], "resumes at the keyframe");
        assert!(
            matches!(state.items[0], StreamItem::Track(_)),
            "track configs survive"
        );
        drop(state);
        assert_eq!(sub.dropped_frames(), 6);
    }

    /// Counts what the publisher hands it; its sends take everything unless
    /// `refuses` holds.
    #[derive(Default)]
    pub(in crate::stream) struct CountingSink {
        pub(in crate::stream) encoded: AtomicU64,
        pub(in crate::stream) sends: AtomicU64,
        refuses: AtomicBool,
        /// Takes bursts of frames whole.
        takes_bursts: AtomicBool,
        bursts: AtomicU64,
    }

    impl DirectSink for CountingSink {
        fn encode(&self, _item: &StreamItem) {
            self.encoded.fetch_add(1, Ordering::Relaxed);
        }
        fn send(&self) -> bool {
            self.sends.fetch_add(1, Ordering::Relaxed);
            !self.refuses.load(Ordering::Relaxed)
        }
        fn take_burst(&self, _burst: &BurstFrames<'_>) -> bool {
            let takes = self.takes_bursts.load(Ordering::Relaxed);
            if takes {
                self.bursts.fetch_add(1, Ordering::Relaxed);
            }
            takes
        }
    }

    fn with_sink() -> (Arc<Subscriber>, Arc<CountingSink>) {
        let sub = Subscriber::new(QueueLimits::default(), None);
        let sink = Arc::new(CountingSink::default());
        sub.set_direct_sink(Arc::clone(&sink) as Arc<dyn DirectSink>);
        (sub, sink)
    }

    fn queued(sub: &Subscriber) -> usize {
        sub.lock().items.len()
    }

    #[test]
    fn a_caught_up_subscriber_takes_frames_directly_and_queues_nothing() {
        let (sub, sink) = with_sink();
        sub.push(video_track());
        assert_eq!(
            queued(&sub),
            1,
            "nothing goes direct before the task resumes it"
        );
        assert!(
            !sub.resume_direct(),
            "a queued item keeps the task in charge"
        );
        let mut out = Vec::new();
        sub.drain_now(&mut out);
        assert!(sub.resume_direct());
        sub.push(video(true, 0));
        sub.push(video(false, 1));
        assert_eq!(queued(&sub), 0);
        assert_eq!(sink.encoded.load(Ordering::Relaxed), 2);
        assert_eq!(sink.sends.load(Ordering::Relaxed), 2);
        // The end of the stream is the task's to see.
        sub.push(StreamItem::Ended);
        assert_eq!(queued(&sub), 1);
    }

    #[test]
    fn a_short_direct_send_hands_over_to_the_task_until_it_has_caught_up() {
        let (sub, sink) = with_sink();
        assert!(sub.resume_direct());
        sink.refuses.store(true, Ordering::Relaxed);
        sub.push(video(true, 0));
        // From here on frames queue behind the bytes the sink still holds.
        sub.push(video(false, 1));
        assert_eq!(queued(&sub), 1);
        assert_eq!(sink.sends.load(Ordering::Relaxed), 1);
        let mut out = Vec::new();
        let next = futures_util::FutureExt::now_or_never(sub.next_batch(&mut out));
        assert_eq!(next, Some(true), "the task is told to write what waits");
        assert_eq!(out.len(), 1);
        sub.push(video(false, 2));
        assert!(!sub.resume_direct(), "a frame queued while the task wrote");
        out.clear();
        sub.drain_now(&mut out);
        sink.refuses.store(false, Ordering::Relaxed);
        assert!(sub.resume_direct());
        sub.push(video(false, 3));
        assert_eq!(queued(&sub), 0);
    }

    #[test]
    fn a_burst_reaches_a_caught_up_subscriber_in_one_send() {
        let (sub, sink) = with_sink();
        assert!(sub.resume_direct());
        let burst: Vec<StreamItem> = (0..3).map(|dts| video(dts == 0, dts)).collect();
        Subscriber::deliver_burst([&sub], &burst);
        assert_eq!(sink.encoded.load(Ordering::Relaxed), 3, "item by item");
        assert_eq!(sink.sends.load(Ordering::Relaxed), 1);
        assert_eq!(queued(&sub), 0);
        // Nothing left to send: an empty burst sends nothing.
        Subscriber::deliver_burst([&sub], &[]);
        assert_eq!(sink.sends.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_sink_takes_a_burst_of_frames_whole_only_while_caught_up() {
        let (sub, sink) = with_sink();
        sink.takes_bursts.store(true, Ordering::Relaxed);
        let frames: Vec<StreamItem> = (0..3).map(|dts| video(dts == 0, dts)).collect();
        // Not yet resumed: the frames queue for the task.
        Subscriber::deliver_burst([&sub], &frames);
        assert_eq!(queued(&sub), 3);
        assert_eq!(sink.bursts.load(Ordering::Relaxed), 0);
        let mut out = Vec::new();
        sub.drain_now(&mut out);
        assert!(sub.resume_direct());

        Subscriber::deliver_burst([&sub], &frames);
        assert_eq!(sink.bursts.load(Ordering::Relaxed), 1);
        assert_eq!(sink.encoded.load(Ordering::Relaxed), 0, "taken whole");
        assert_eq!(sink.sends.load(Ordering::Relaxed), 1);

        // A burst with a config in it goes item by item, still in one send.
        let mut with_config = vec![video_track()];
        with_config.extend(frames.iter().cloned());
        Subscriber::deliver_burst([&sub], &with_config);
        assert_eq!(sink.bursts.load(Ordering::Relaxed), 1);
        assert_eq!(sink.encoded.load(Ordering::Relaxed), 4);
        assert_eq!(sink.sends.load(Ordering::Relaxed), 2);

        // A subscriber dropping to a keyframe is not caught up: item by item, and
        // the inter frames are dropped.
        sub.skip_to_keyframe(1);
        let inter: Vec<StreamItem> = (4..6).map(|dts| video(false, dts)).collect();
        Subscriber::deliver_burst([&sub], &inter);
        assert_eq!(sink.bursts.load(Ordering::Relaxed), 1);
        assert_eq!(sink.encoded.load(Ordering::Relaxed), 4);
        assert_eq!(sub.dropped_frames(), 3);
    }

    #[test]
    fn a_short_send_of_a_burst_hands_over_to_the_task() {
        let (sub, sink) = with_sink();
        let other = Subscriber::new(QueueLimits::default(), None);
        assert!(sub.resume_direct());
        sink.refuses.store(true, Ordering::Relaxed);
        let frames: Vec<StreamItem> = (0..2).map(|dts| video(dts == 0, dts)).collect();
        Subscriber::deliver_burst([&sub, &other], &frames);
        assert_eq!(queued(&other), 2, "a subscriber without a sink queues");
        let mut out = Vec::new();
        let next = futures_util::FutureExt::now_or_never(sub.next_batch(&mut out));
        assert_eq!(next, Some(true), "the task is told to write what waits");
        assert!(out.is_empty());
        // Direct delivery stopped: the next burst queues.
        Subscriber::deliver_burst([&sub], &frames);
        assert_eq!(queued(&sub), 2);
    }
}
