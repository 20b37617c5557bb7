//! One stream: its publisher, its tracks, its GOP cache and its subscribers.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime};

use protocol_parsers::media::{Frame, FrameFlags, Track, TrackId, TrackKind};
use protocol_parsers::rtmp::media::Metadata;

use super::fanout::{QueueLimits, StreamItem, Subscriber};
use crate::engine::JobQueue;

/// The GOP cache never holds more than this; past it, late joiners wait for the
/// next keyframe instead (a source with a 60 s keyframe interval must not eat RAM).
const MAX_GOP_BYTES: usize = 32 * 1024 * 1024;

/// Who publishes a stream, for the admin API.
#[derive(Debug, Clone)]
pub struct Origin {
    pub protocol: &'static str,
    pub remote: SocketAddr,
    pub since: Instant,
    pub since_wall: SystemTime,
}

impl Origin {
    pub fn new(protocol: &'static str, remote: SocketAddr) -> Self {
        Self {
            protocol,
            remote,
            since: Instant::now(),
            since_wall: SystemTime::now(),
        }
    }
}

/// A consistent read of a stream's counters and configuration, for monitoring.
#[derive(Debug, Clone)]
pub struct StreamSnapshot {
    pub live: bool,
    pub origin: Option<Origin>,
    pub tracks: Vec<Arc<Track>>,
    pub frames_in: u64,
    pub video_frames_in: u64,
    pub bytes_in: u64,
    /// Pull viewers by protocol (RTMP play today).
    pub viewers: Vec<(&'static str, u32)>,
    pub subscribers: usize,
}

#[derive(Debug, Default)]
struct StreamState {
    publisher: Option<u64>,
    origin: Option<Origin>,
    /// Deleted through the admin API: the publisher is told to go.
    deleted: bool,
    /// Increments with every publish; a pending grace expiry checks it.
    generation: u64,
    tracks: Vec<Arc<Track>>,
    metadata: Option<Arc<Metadata>>,
    gop: Vec<Frame>,
    gop_bytes: usize,
    gop_overflow: bool,
    /// The first frame after a publisher returns is marked DISCONTINUITY.
    mark_discontinuity: bool,
    /// Copy-on-write, so the publisher can fan out after releasing the lock.
    subscribers: Arc<Vec<Arc<Subscriber>>>,
    /// Woken when a publisher arrives, the stream ends, or the server shuts down
    /// (`wait_live`, `wait_ended`).
    state_waiters: Vec<Waker>,
    /// The server is shutting down.
    closed: bool,
    frames_in: u64,
    video_frames_in: u64,
    bytes_in: u64,
    viewers: Vec<(&'static str, u32)>,
    publisher_gone_at: Option<Instant>,
    /// The publisher is handing over one read's worth of messages (`Burst`).
    burst: bool,
}

impl StreamState {
    fn has_ended(&self) -> bool {
        self.closed || self.publisher.is_none() && self.publisher_gone_at.is_none()
    }
}

/// A named stream. The publisher pushes; every subscriber has its own bounded queue.
///
/// The stream's lock guards its state only: no waker is ever woken while it is held.
/// (Waking a task on another core can wait for that core's wake queue to drain;
/// that core may be waiting for this lock.)
#[derive(Debug)]
pub struct Stream {
    name: String,
    state: Mutex<StreamState>,
}

/// Held by the publishing connection; the stream is released when it is dropped.
#[derive(Debug)]
pub struct PublisherGuard {
    stream: Arc<Stream>,
    id: u64,
}

impl PublisherGuard {
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }

    /// Each `push_*` returns `false` once the stream was deleted: the publisher
    /// must close its connection.
    pub fn push_track(&self, track: Track) -> bool {
        self.stream.push_track(track)
    }

    pub fn push_metadata(&self, metadata: Metadata) -> bool {
        self.stream.push_metadata(metadata)
    }

    pub fn push_frame(&self, frame: Frame) -> bool {
        self.stream.push_frame(frame)
    }

    /// Releases the stream; returns the generation for the grace-period expiry.
    pub fn release(self, now: Instant) -> u64 {
        self.stream.unpublish(self.id, now)
    }
}

/// A publisher's burst in progress (`PublisherGuard::burst`).
#[derive(Debug)]
pub struct Burst<'a> {
    stream: &'a Stream,
}

impl Drop for Burst<'_> {
    fn drop(&mut self) {
        let mut state = self.stream.lock();
        state.burst = false;
        let subscribers = Arc::clone(&state.subscribers);
        // Rotated as in `push_frame`: the sends take turns at being last.
        let first = usize::try_from(state.frames_in).unwrap_or(0) % subscribers.len().max(1);
        drop(state);
        let (before, from_first) = subscribers.split_at(first);
        let rotated = || from_first.iter().chain(before);
        let here = JobQueue::current();
        let is_here = |home: &Arc<JobQueue>| here.as_ref().is_some_and(|h| Arc::ptr_eq(h, home));
        // Subscribers served by other workers are sent there first, one job per
        // worker: their sends run while this core makes its own.
        let mut elsewhere: Vec<(Arc<JobQueue>, Vec<Arc<Subscriber>>)> = Vec::new();
        for sub in rotated() {
            let Some(home) = sub.home().filter(|home| !is_here(home)) else {
                continue;
            };
            match elsewhere
                .iter_mut()
                .find(|(queue, _)| Arc::ptr_eq(queue, home))
            {
                Some((_, subs)) => subs.push(Arc::clone(sub)),
                None => elsewhere.push((Arc::clone(home), vec![Arc::clone(sub)])),
            }
        }
        for (queue, subs) in elsewhere {
            queue.push(Box::new(move || Subscriber::send_bursts(&subs)));
        }
        Subscriber::send_bursts(rotated().filter(|sub| sub.home().is_none_or(is_here)));
    }
}

impl Stream {
    /// Starts a burst, for the publisher: what it pushes until the returned guard
    /// drops (one read of its connection) reaches each caught-up output in one write.
    pub fn burst(&self) -> Burst<'_> {
        self.lock().burst = true;
        Burst { stream: self }
    }

    pub fn new(name: &str) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            state: Mutex::new(StreamState::default()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_live(&self) -> bool {
        self.lock().publisher.is_some()
    }

    /// Shut down or deleted: nothing should wait on this stream any more.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// No publisher and no grace period running, or closed (what `wait_ended`
    /// waits for).
    pub fn has_ended(&self) -> bool {
        self.lock().has_ended()
    }

    /// Frames received from publishers since start.
    pub fn frames_in(&self) -> u64 {
        self.lock().frames_in
    }

    pub fn subscriber_count(&self) -> usize {
        self.lock().subscribers.len()
    }

    pub fn snapshot(&self) -> StreamSnapshot {
        let state = self.lock();
        StreamSnapshot {
            live: state.publisher.is_some(),
            origin: state.origin.clone(),
            tracks: state.tracks.clone(),
            frames_in: state.frames_in,
            video_frames_in: state.video_frames_in,
            bytes_in: state.bytes_in,
            viewers: state.viewers.clone(),
            subscribers: state.subscribers.len(),
        }
    }

    /// Counts a pull viewer until the guard is dropped.
    pub fn add_viewer(self: &Arc<Self>, protocol: &'static str) -> ViewerGuard {
        let mut state = self.lock();
        match state.viewers.iter_mut().find(|(p, _)| *p == protocol) {
            Some((_, n)) => *n += 1,
            None => state.viewers.push((protocol, 1)),
        }
        ViewerGuard {
            stream: Arc::clone(self),
            protocol,
        }
    }

    /// Claims the stream for a publisher; `None` when another one holds it or the
    /// stream was deleted.
    pub(super) fn try_publish(self: &Arc<Self>, id: u64, origin: Origin) -> Option<PublisherGuard> {
        let mut state = self.lock();
        if state.publisher.is_some() || state.deleted {
            return None;
        }
        state.publisher = Some(id);
        state.origin = Some(origin);
        state.generation += 1;
        state.mark_discontinuity = state.generation > 1 && state.publisher_gone_at.is_some();
        state.publisher_gone_at = None;
        state.gop.clear();
        state.gop_bytes = 0;
        state.gop_overflow = false;
        let waiters = std::mem::take(&mut state.state_waiters);
        drop(state);
        waiters.into_iter().for_each(Waker::wake);
        Some(PublisherGuard {
            stream: Arc::clone(self),
            id,
        })
    }

    fn unpublish(&self, id: u64, now: Instant) -> u64 {
        let mut state = self.lock();
        if state.publisher != Some(id) {
            return state.generation;
        }
        state.publisher = None;
        state.origin = None;
        state.publisher_gone_at = Some(now);
        let (subscribers, generation) = (Arc::clone(&state.subscribers), state.generation);
        drop(state);
        for sub in subscribers.iter() {
            sub.push(StreamItem::PublisherGone);
        }
        generation
    }

    /// Ends the stream if no publisher came back since `generation`: subscribers get
    /// `Ended`, caches are cleared. Returns whether it ended.
    pub fn expire(&self, generation: u64) -> bool {
        let mut state = self.lock();
        if state.publisher.is_some() || state.generation != generation {
            return false;
        }
        let subscribers = std::mem::take(&mut state.subscribers);
        let waiters = std::mem::take(&mut state.state_waiters);
        state.tracks.clear();
        state.metadata = None;
        state.gop.clear();
        state.gop_bytes = 0;
        state.publisher_gone_at = None;
        drop(state);
        subscribers.iter().for_each(|sub| sub.close());
        waiters.into_iter().for_each(Waker::wake);
        true
    }

    fn push_track(&self, track: Track) -> bool {
        let track = Arc::new(track);
        let mut state = self.lock();
        if state.deleted {
            return false;
        }
        match state.tracks.iter_mut().find(|t| t.id == track.id) {
            Some(existing) => *existing = Arc::clone(&track),
            None => state.tracks.push(Arc::clone(&track)),
        }
        let (subscribers, burst) = (Arc::clone(&state.subscribers), state.burst);
        drop(state);
        let item = StreamItem::Track(track);
        for sub in subscribers.iter() {
            sub.offer_from_publisher(&item, burst);
        }
        true
    }

    fn push_metadata(&self, metadata: Metadata) -> bool {
        let metadata = Arc::new(metadata);
        let mut state = self.lock();
        if state.deleted {
            return false;
        }
        state.metadata = Some(Arc::clone(&metadata));
        let (subscribers, burst) = (Arc::clone(&state.subscribers), state.burst);
        drop(state);
        let item = StreamItem::Metadata(metadata);
        for sub in subscribers.iter() {
            sub.offer_from_publisher(&item, burst);
        }
        true
    }

    fn push_frame(&self, mut frame: Frame) -> bool {
        let mut state = self.lock();
        if state.deleted {
            return false;
        }
        if state.mark_discontinuity {
            state.mark_discontinuity = false;
            frame.flags = frame.flags.with(FrameFlags::DISCONTINUITY);
        }
        state.frames_in += 1;
        state.bytes_in += frame.data.len() as u64;
        if frame.track == TrackId::VIDEO {
            state.video_frames_in += 1;
        }
        let has_video = state.tracks.iter().any(|t| t.kind() == TrackKind::Video);
        if has_video {
            if frame.track == TrackId::VIDEO && frame.is_keyframe() {
                state.gop.clear();
                state.gop_bytes = 0;
                state.gop_overflow = false;
            }
            if !state.gop_overflow
                && (!state.gop.is_empty() || frame.is_keyframe() && frame.track == TrackId::VIDEO)
            {
                state.gop_bytes += frame.data.len();
                if state.gop_bytes > MAX_GOP_BYTES {
                    state.gop.clear();
                    state.gop_bytes = 0;
                    state.gop_overflow = true;
                } else {
                    state.gop.push(frame.clone());
                }
            }
        }
        let (subscribers, burst) = (Arc::clone(&state.subscribers), state.burst);
        // Each frame starts the fan-out one subscriber further on. Outputs on a
        // core write in the order they were woken, each send taking tens of
        // microseconds; a fixed order would make the last subscriber wait for
        // all the others on every frame, a rotating one spreads that wait evenly.
        let first = usize::try_from(state.frames_in).unwrap_or(0) % subscribers.len().max(1);
        drop(state);
        let item = StreamItem::Frame(frame, Some(Instant::now()));
        let (before, from_first) = subscribers.split_at(first);
        for sub in from_first.iter().chain(before) {
            sub.offer_from_publisher(&item, burst);
        }
        true
    }

    /// Adds a subscriber. It first receives metadata, track configs and the frames
    /// since the last keyframe, so a late joiner starts at once.
    pub fn subscribe(&self, limits: QueueLimits) -> Arc<Subscriber> {
        let sub = Subscriber::new(limits);
        let mut state = self.lock();
        if let Some(metadata) = &state.metadata {
            sub.push(StreamItem::Metadata(Arc::clone(metadata)));
        }
        for track in &state.tracks {
            sub.push(StreamItem::Track(Arc::clone(track)));
        }
        for frame in &state.gop {
            sub.push(StreamItem::Frame(frame.clone(), None));
        }
        if state.publisher.is_none() && state.publisher_gone_at.is_some() {
            sub.push(StreamItem::PublisherGone);
        }
        let mut list = Vec::with_capacity(state.subscribers.len() + 1);
        list.extend(state.subscribers.iter().cloned());
        list.push(Arc::clone(&sub));
        state.subscribers = Arc::new(list);
        sub
    }

    pub fn unsubscribe(&self, sub: &Arc<Subscriber>) {
        let mut state = self.lock();
        let list: Vec<_> = state
            .subscribers
            .iter()
            .filter(|s| !Arc::ptr_eq(s, sub))
            .cloned()
            .collect();
        state.subscribers = Arc::new(list);
    }

    /// Resolves once a publisher holds the stream.
    pub async fn wait_live(&self) {
        self.wait_state(|state| state.publisher.is_some()).await;
    }

    /// Resolves once the stream has ended: no publisher and no grace period
    /// running (also when the server shuts down). An output still setting up its
    /// connection gives up then, instead of at its handshake timeout.
    pub async fn wait_ended(&self) {
        self.wait_state(StreamState::has_ended).await;
    }

    /// Resolves once `ready` holds; checked under the lock that also registers
    /// the waker, which publish, expiry and shutdown wake.
    async fn wait_state(&self, ready: fn(&StreamState) -> bool) {
        poll_fn(|cx| {
            let mut state = self.lock();
            if ready(&state) {
                Poll::Ready(())
            } else {
                if !state.state_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    state.state_waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await;
    }

    /// Deleted through the admin API: subscribers end, the publisher is refused
    /// its next frame, and nobody can publish to this stream object again.
    pub fn delete(&self) {
        self.lock().deleted = true;
        self.shutdown();
    }

    /// Ends every subscriber (server shutdown).
    pub fn shutdown(&self) {
        let mut state = self.lock();
        state.closed = true;
        let subscribers = std::mem::take(&mut state.subscribers);
        let waiters = std::mem::take(&mut state.state_waiters);
        drop(state);
        subscribers.iter().for_each(|sub| sub.close());
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// A pull viewer counted on a stream; uncounted when dropped.
#[derive(Debug)]
pub struct ViewerGuard {
    stream: Arc<Stream>,
    protocol: &'static str,
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        let mut state = self.stream.lock();
        if let Some((_, n)) = state.viewers.iter_mut().find(|(p, _)| *p == self.protocol) {
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;
    use std::task::{Context, Wake, Waker};

    use bytes::Bytes;
    use protocol_parsers::media::{FrameFlags, TrackId};

    use super::*;

    /// A waker that logs which subscriber it belongs to when it fires.
    struct WakeLog {
        index: usize,
        log: Arc<StdMutex<Vec<usize>>>,
    }

    impl Wake for WakeLog {
        fn wake(self: Arc<Self>) {
            self.log.lock().expect("log").push(self.index);
        }
    }

    /// Empties every queue and parks a logging waker on it.
    fn park(subscribers: &[Arc<Subscriber>], log: &Arc<StdMutex<Vec<usize>>>) {
        for (index, sub) in subscribers.iter().enumerate() {
            let mut items = Vec::new();
            sub.drain_now(&mut items);
            let waker = Waker::from(Arc::new(WakeLog {
                index,
                log: Arc::clone(log),
            }));
            let mut batch = std::pin::pin!(sub.next_batch(&mut items));
            assert!(
                batch
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
        }
    }

    fn audio_frame(dts: i64) -> Frame {
        Frame {
            track: TrackId::AUDIO,
            dts,
            cts: 0,
            flags: FrameFlags::KEYFRAME,
            data: Bytes::from_static(&[0; 10]),
        }
    }

    #[test]
    fn fan_out_starts_one_subscriber_further_on_each_frame() {
        let stream = Stream::new("rotation");
        let publisher = stream
            .try_publish(1, Origin::new("rtmp", "127.0.0.1:1".parse().expect("addr")))
            .expect("publish");
        let subscribers: Vec<_> = (0..3)
            .map(|_| stream.subscribe(QueueLimits::default()))
            .collect();
        let log = Arc::new(StdMutex::new(Vec::new()));
        let mut orders = Vec::new();
        for dts in 0..4 {
            park(&subscribers, &log);
            assert!(publisher.push_frame(audio_frame(dts)));
            orders.push(std::mem::take(&mut *log.lock().expect("log")));
        }
        assert_eq!(
            orders,
            [[1, 2, 0], [2, 0, 1], [0, 1, 2], [1, 2, 0]],
            "every subscriber is woken once per frame, the first one moving on by one"
        );
    }

    /// Logs the thread each send runs on.
    #[derive(Default)]
    struct ThreadLog {
        sends: StdMutex<Vec<std::thread::ThreadId>>,
    }

    impl super::super::DirectSink for ThreadLog {
        fn encode(&self, _item: &StreamItem) {}
        fn send(&self) -> bool {
            self.sends
                .lock()
                .expect("log")
                .push(std::thread::current().id());
            true
        }
    }

    /// A burst's send for a subscriber of another worker runs there, as a job; one
    /// without a worker is sent by the publisher at the burst's end.
    #[test]
    fn a_bursts_sends_run_on_the_workers_of_their_subscribers() {
        let stream = Stream::new("burst");
        let publisher = stream
            .try_publish(1, Origin::new("rtmp", "127.0.0.1:1".parse().expect("addr")))
            .expect("publish");
        let elsewhere = Arc::new(JobQueue::default());
        let (remote, local) = (
            Arc::new(ThreadLog::default()),
            Arc::new(ThreadLog::default()),
        );
        for (sink, home) in [(&remote, Some(Arc::clone(&elsewhere))), (&local, None)] {
            let sub = stream.subscribe(QueueLimits::default());
            sub.set_direct_sink(Arc::clone(sink) as Arc<dyn super::super::DirectSink>, home);
            assert!(sub.resume_direct());
        }
        let burst = stream.burst();
        assert!(publisher.push_frame(audio_frame(0)));
        drop(burst);
        let publisher_thread = std::thread::current().id();
        assert_eq!(*local.sends.lock().expect("log"), [publisher_thread]);
        assert!(
            remote.sends.lock().expect("log").is_empty(),
            "left to its worker"
        );
        let worker = std::thread::spawn(move || {
            // One turn of the worker's job loop runs what is queued, then waits.
            let run = std::pin::pin!(elsewhere.run());
            assert!(futures_util::FutureExt::now_or_never(run).is_none());
            std::thread::current().id()
        })
        .join()
        .expect("worker");
        assert_eq!(*remote.sends.lock().expect("log"), [worker]);
    }
}
