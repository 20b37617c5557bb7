//! One stream: its publisher, its tracks, its GOP cache and its subscribers.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime};

use protocol_parsers::media::{Frame, FrameFlags, Track, TrackId, TrackKind};
use protocol_parsers::rtmp::media::Metadata;

use super::delivery::Subscribers;
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
    subscribers: Arc<Subscribers>,
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
    burst: Option<BurstInProgress>,
}

/// What a burst holds back until its end.
#[derive(Debug)]
struct BurstInProgress {
    /// The publisher's worker (`None`: not a worker's thread).
    here: Option<Arc<JobQueue>>,
    /// The subscribers `held` is for.
    subscribers: Arc<Subscribers>,
    /// The burst's items, given to every subscriber together at the burst's end.
    held: Vec<StreamItem>,
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

/// A publisher's burst in progress (`Stream::burst`).
/// It owns its stream so that a publisher can keep it open across reads.
#[derive(Debug)]
pub struct Burst {
    stream: Arc<Stream>,
    /// False for a burst begun inside another: the outer one holds the items and
    /// ends the burst.
    outermost: bool,
}

impl Drop for Burst {
    fn drop(&mut self) {
        if !self.outermost {
            return;
        }
        let mut state = self.stream.lock();
        let Some(burst) = state.burst.take() else {
            return;
        };
        let turn = usize::try_from(state.frames_in).unwrap_or(0);
        drop(state);
        burst
            .subscribers
            .deliver_burst(burst.held, burst.here.as_ref(), turn);
    }
}

impl Stream {
    /// Starts a burst, for the publisher: what it pushes until the returned guard
    /// drops (one read of its connection, or the few that finish a message begun:
    /// `HeldBurst`) reaches each caught-up output in one write.
    pub fn burst(self: &Arc<Self>) -> Burst {
        let here = JobQueue::current();
        let mut state = self.lock();
        let outermost = state.burst.is_none();
        if outermost {
            state.burst = Some(BurstInProgress {
                here,
                subscribers: Arc::clone(&state.subscribers),
                held: Vec::new(),
            });
        }
        Burst {
            stream: Arc::clone(self),
            outermost,
        }
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
        let generation = state.generation;
        // Delivered as the frames were, so it comes after them everywhere.
        Self::deliver(state, StreamItem::PublisherGone);
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
        subscribers.all().iter().for_each(|sub| sub.close());
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
        Self::deliver(state, StreamItem::Track(track));
        true
    }

    fn push_metadata(&self, metadata: Metadata) -> bool {
        let metadata = Arc::new(metadata);
        let mut state = self.lock();
        if state.deleted {
            return false;
        }
        state.metadata = Some(Arc::clone(&metadata));
        Self::deliver(state, StreamItem::Metadata(metadata));
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
        Self::deliver(state, StreamItem::Frame(frame, Some(Instant::now())));
        true
    }

    /// Gives `item` to every subscriber: now to those this thread serves, and
    /// through their workers' job queues to the others (`delivery`); during a
    /// burst, to all of them at its end. Releases the stream's lock before it
    /// offers or wakes anything.
    fn deliver(mut state: MutexGuard<'_, StreamState>, item: StreamItem) {
        let subscribers = Arc::clone(&state.subscribers);
        let turn = usize::try_from(state.frames_in).unwrap_or(0);
        if let Some(burst) = &mut state.burst {
            let mut held_for_before = None;
            if !Arc::ptr_eq(&burst.subscribers, &subscribers) {
                // Someone joined or left mid-burst: what is held so far is for the
                // subscribers of before, and goes to them now.
                let before = std::mem::replace(&mut burst.subscribers, subscribers);
                held_for_before = Some((before, std::mem::take(&mut burst.held)));
            }
            burst.held.push(item);
            let here = burst.here.clone();
            drop(state);
            if let Some((before, held)) = held_for_before {
                before.deliver_burst(held, here.as_ref(), turn);
            }
            return;
        }
        drop(state);
        let here = JobQueue::current();
        let here = here.as_ref();
        if subscribers.any_elsewhere(here) {
            // Handed over first: the other workers start while this one offers.
            let items: Arc<[StreamItem]> = Arc::new([item]);
            subscribers.hand_to_homes(Arc::clone(&items), here, turn);
            subscribers.offer_here(&items[0], here, turn);
        } else {
            // No list to share with anyone: not allocated.
            subscribers.offer_here(&item, here, turn);
        }
    }

    /// Adds a subscriber. It first receives metadata, track configs and the frames
    /// since the last keyframe, so a late joiner starts at once. It is given its
    /// items on the calling thread's worker, where its task runs (`delivery`); off
    /// the workers (the transcoder's threads), on the publisher's thread.
    pub fn subscribe(&self, limits: QueueLimits) -> Arc<Subscriber> {
        self.subscribe_homed(limits, JobQueue::current())
    }

    /// A subscriber given its items on `home`'s worker (`delivery`); `None`: on the
    /// publisher's thread.
    fn subscribe_homed(&self, limits: QueueLimits, home: Option<Arc<JobQueue>>) -> Arc<Subscriber> {
        let sub = Subscriber::new(limits, home);
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
        state.subscribers = Arc::new(state.subscribers.with(Arc::clone(&sub)));
        sub
    }

    pub fn unsubscribe(&self, sub: &Arc<Subscriber>) {
        let mut state = self.lock();
        state.subscribers = Arc::new(state.subscribers.without(sub));
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
        subscribers.all().iter().for_each(|sub| sub.close());
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
pub(super) mod tests {
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

    fn video_track() -> Track {
        Track {
            id: TrackId::VIDEO,
            timescale: 1000,
            config: protocol_parsers::media::CodecConfig::Video {
                codec: protocol_parsers::media::VideoCodec::H264,
                record: Bytes::new(),
                width: 0,
                height: 0,
            },
        }
    }

    fn video_frame(dts: i64, key: bool) -> Frame {
        Frame {
            track: TrackId::VIDEO,
            dts,
            cts: 0,
            flags: if key {
                FrameFlags::KEYFRAME
            } else {
                FrameFlags::NONE
            },
            data: Bytes::from_static(&[0; 10]),
        }
    }

    pub(in crate::stream) fn audio_frame(dts: i64) -> Frame {
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

    /// Logs the thread each encode and each send runs on, and what was encoded.
    #[derive(Default)]
    struct ThreadLog {
        encodes: StdMutex<Vec<(std::thread::ThreadId, String)>>,
        sends: StdMutex<Vec<std::thread::ThreadId>>,
    }

    impl ThreadLog {
        fn encoded(&self) -> Vec<String> {
            let encodes = self.encodes.lock().expect("log");
            encodes.iter().map(|(_, what)| what.clone()).collect()
        }

        fn encode_threads(&self) -> Vec<std::thread::ThreadId> {
            let encodes = self.encodes.lock().expect("log");
            encodes.iter().map(|(thread, _)| *thread).collect()
        }
    }

    impl super::super::DirectSink for ThreadLog {
        fn encode(&self, item: &StreamItem) {
            let what = match item {
                StreamItem::Frame(frame, _) => format!("frame {}", frame.dts),
                other => format!("{other:?}"),
            };
            self.encodes
                .lock()
                .expect("log")
                .push((std::thread::current().id(), what));
        }
        fn send(&self) -> bool {
            self.sends
                .lock()
                .expect("log")
                .push(std::thread::current().id());
            true
        }
    }

    fn publish(stream: &Arc<Stream>) -> PublisherGuard {
        stream
            .try_publish(1, Origin::new("rtmp", "127.0.0.1:1".parse().expect("addr")))
            .expect("publish")
    }

    /// A subscriber whose items its own worker (`home`) is given, writing to `sink`.
    fn homed(
        stream: &Stream,
        sink: &Arc<ThreadLog>,
        home: Option<&Arc<JobQueue>>,
    ) -> Arc<Subscriber> {
        let sub = stream.subscribe_homed(QueueLimits::default(), home.cloned());
        sub.set_direct_sink(Arc::clone(sink) as Arc<dyn super::super::DirectSink>);
        // What the stream had (its tracks) is the task's to write first.
        sub.drain_now(&mut Vec::new());
        assert!(sub.resume_direct());
        sub
    }

    /// A published stream with one subscriber whose items another worker is given.
    struct OneElsewhere {
        stream: Arc<Stream>,
        publisher: PublisherGuard,
        worker: Arc<JobQueue>,
        sink: Arc<ThreadLog>,
        sub: Arc<Subscriber>,
    }

    impl OneElsewhere {
        fn new(name: &str) -> Self {
            let stream = Stream::new(name);
            let publisher = publish(&stream);
            let worker = Arc::new(JobQueue::default());
            let sink = Arc::new(ThreadLog::default());
            let sub = homed(&stream, &sink, Some(&worker));
            Self {
                stream,
                publisher,
                worker,
                sink,
                sub,
            }
        }
    }

    /// Runs what `worker`'s job queue holds on a thread of its own, as the worker
    /// would; returns that thread's id.
    fn run_jobs(worker: &Arc<JobQueue>) -> std::thread::ThreadId {
        let worker = Arc::clone(worker);
        std::thread::spawn(move || {
            // One turn of the worker's job loop runs what is queued, then waits.
            let run = std::pin::pin!(worker.run());
            assert!(futures_util::FutureExt::now_or_never(run).is_none());
            std::thread::current().id()
        })
        .join()
        .expect("worker")
    }

    /// A burst's items for a subscriber of another worker are encoded and sent
    /// there, as a job at the burst's end; one without a worker is served by the
    /// publisher's thread.
    #[test]
    fn a_bursts_items_are_encoded_and_sent_on_the_workers_of_their_subscribers() {
        let stream = Stream::new("burst");
        let publisher = publish(&stream);
        let elsewhere = Arc::new(JobQueue::default());
        let (remote, local) = (
            Arc::new(ThreadLog::default()),
            Arc::new(ThreadLog::default()),
        );
        let _remote_sub = homed(&stream, &remote, Some(&elsewhere));
        let _local_sub = homed(&stream, &local, None);
        let burst = stream.burst();
        assert!(publisher.push_frame(audio_frame(0)));
        assert!(publisher.push_frame(audio_frame(1)));
        drop(burst);
        let publisher_thread = std::thread::current().id();
        assert_eq!(local.encoded(), ["frame 0", "frame 1"]);
        assert_eq!(local.encode_threads(), [publisher_thread; 2]);
        assert_eq!(
            *local.sends.lock().expect("log"),
            [publisher_thread],
            "one send per burst"
        );
        assert!(remote.encoded().is_empty(), "left to its worker");
        assert!(
            remote.sends.lock().expect("log").is_empty(),
            "left to its worker"
        );
        let worker = run_jobs(&elsewhere);
        assert_eq!(remote.encoded(), ["frame 0", "frame 1"]);
        assert_eq!(remote.encode_threads(), [worker; 2]);
        assert_eq!(
            *remote.sends.lock().expect("log"),
            [worker],
            "one send per burst"
        );
    }

    /// A burst begun inside another neither ends it nor drops what it holds.
    #[test]
    fn a_burst_inside_a_burst_leaves_the_outer_one_whole() {
        let OneElsewhere {
            stream,
            publisher,
            worker: elsewhere,
            sink,
            ..
        } = OneElsewhere::new("nested");
        let outer = stream.burst();
        assert!(publisher.push_frame(audio_frame(0)));
        drop(stream.burst());
        assert!(publisher.push_frame(audio_frame(1)));
        run_jobs(&elsewhere);
        assert!(sink.encoded().is_empty(), "held until the outer burst ends");
        drop(outer);
        run_jobs(&elsewhere);
        assert_eq!(sink.encoded(), ["frame 0", "frame 1"]);
        assert_eq!(
            sink.sends.lock().expect("log").len(),
            1,
            "one send per burst"
        );
    }

    /// What follows a burst outside any burst (here the publisher leaving) reaches
    /// another worker's subscriber after the burst's items, not before them.
    #[test]
    fn another_workers_subscriber_gets_a_burst_and_what_follows_it_in_order() {
        let OneElsewhere {
            stream,
            publisher,
            worker: elsewhere,
            sink,
            sub,
        } = OneElsewhere::new("order");
        let burst = stream.burst();
        assert!(publisher.push_frame(audio_frame(0)));
        drop(burst);
        assert!(publisher.push_frame(audio_frame(1)), "outside a burst");
        publisher.release(Instant::now());
        assert!(sink.encoded().is_empty(), "all of it left to the worker");
        run_jobs(&elsewhere);
        assert_eq!(sink.encoded(), ["frame 0", "frame 1"]);
        let mut queued = Vec::new();
        sub.drain_now(&mut queued);
        assert!(
            matches!(queued[..], [StreamItem::PublisherGone]),
            "the end of the publish is the task's, after the frames: {queued:?}"
        );
    }

    /// A worker that does not run its jobs (a stalled core) is handed at most one
    /// subscriber queue's worth of a stream's frames; the rest are left out, and
    /// when it runs again its subscribers count them as dropped and resume at the
    /// next keyframe.
    #[test]
    fn a_stalled_worker_is_handed_a_bounded_backlog_then_resumes_at_a_keyframe() {
        let OneElsewhere {
            publisher,
            worker: stalled,
            sink,
            sub,
            ..
        } = OneElsewhere::new("stalled");
        let limit = QueueLimits::DEFAULT.max_frames;
        let sent = 1000;
        for dts in 0..sent {
            assert!(publisher.push_frame(video_frame(dts, dts == 0)));
        }
        run_jobs(&stalled);
        let expected: Vec<String> = (0..limit).map(|dts| format!("frame {dts}")).collect();
        assert_eq!(
            sink.encoded(),
            expected,
            "the first {limit} frames, in order"
        );
        assert_eq!(
            sub.dropped_frames(),
            0,
            "counted when the worker hears of it"
        );
        assert!(publisher.push_frame(video_frame(sent, false)));
        assert!(publisher.push_frame(video_frame(sent + 1, true)));
        assert!(publisher.push_frame(video_frame(sent + 2, false)));
        run_jobs(&stalled);
        let encoded = sink.encoded();
        assert_eq!(
            encoded[limit..],
            [format!("frame {}", sent + 1), format!("frame {}", sent + 2)],
            "resumed at the keyframe"
        );
        let left_out = u64::try_from(sent).expect("count") - limit as u64;
        assert_eq!(sub.dropped_frames(), left_out + 1, "left out, then skipped");
    }

    /// A subscriber that joins mid-burst has the burst's earlier frames from the
    /// GOP cache: it must not be given them a second time at the burst's end, while
    /// the subscribers of before get every frame once.
    #[test]
    fn joining_mid_burst_gets_each_frame_once() {
        let stream = Stream::new("join");
        let publisher = publish(&stream);
        assert!(publisher.push_track(video_track()));
        let elsewhere = Arc::new(JobQueue::default());
        let early_sink = Arc::new(ThreadLog::default());
        let _early = homed(&stream, &early_sink, Some(&elsewhere));
        let burst = stream.burst();
        assert!(publisher.push_frame(video_frame(0, true)));
        let late = stream.subscribe_homed(QueueLimits::default(), Some(Arc::clone(&elsewhere)));
        assert!(publisher.push_frame(video_frame(1, false)));
        drop(burst);
        run_jobs(&elsewhere);
        assert_eq!(early_sink.encoded(), ["frame 0", "frame 1"]);
        let mut queued = Vec::new();
        late.drain_now(&mut queued);
        let frames: Vec<i64> = queued
            .iter()
            .filter_map(|item| match item {
                StreamItem::Frame(frame, _) => Some(frame.dts),
                _ => None,
            })
            .collect();
        assert_eq!(frames, [0, 1], "the GOP's frame, then the burst's next one");
    }
}
