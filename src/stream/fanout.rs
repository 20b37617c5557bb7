//! A bounded per-subscriber queue. The publisher never waits: when a subscriber
//! falls behind, its queued frames are dropped and it resumes at the next keyframe.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Instant;

use atomic_waker::AtomicWaker;
use protocol_parsers::media::{Frame, Track, TrackKind};
use protocol_parsers::rtmp::media::Metadata;

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

impl Default for QueueLimits {
    fn default() -> Self {
        // About 4 s of 1080p30 video with audio at 8 Mbit/s.
        Self {
            max_frames: 512,
            max_bytes: 4 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<StreamItem>,
    bytes: usize,
    /// Dropping until the next keyframe.
    skipping: bool,
    has_video: bool,
    ended: bool,
}

/// One subscriber's queue, shared by the publisher (push) and the subscriber (pop).
#[derive(Debug)]
pub struct Subscriber {
    state: Mutex<QueueState>,
    waker: AtomicWaker,
    limits: QueueLimits,
    dropped: AtomicU64,
}

impl Subscriber {
    pub fn new(limits: QueueLimits) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(QueueState::default()),
            waker: AtomicWaker::new(),
            limits,
            dropped: AtomicU64::new(0),
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
        let mut state = self.lock();
        if state.ended {
            return;
        }
        match &item {
            StreamItem::Frame(frame, _) => {
                if state.skipping {
                    if frame.is_keyframe() && (is_video_frame(frame, &state) || !state.has_video) {
                        state.skipping = false;
                    } else {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        return;
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
                    return;
                }
                state.bytes += frame.data.len();
            }
            StreamItem::Track(track) if track.kind() == TrackKind::Video => state.has_video = true,
            StreamItem::Ended => state.ended = true,
            _ => {}
        }
        state.items.push_back(item);
        drop(state);
        self.waker.wake();
    }

    /// Waits for items and moves all queued ones into `out`. Returns false once the
    /// stream has ended and everything was delivered.
    pub async fn next_batch(&self, out: &mut Vec<StreamItem>) -> bool {
        poll_fn(|cx| {
            let mut state = self.lock();
            if state.items.is_empty() {
                if state.ended {
                    return Poll::Ready(false);
                }
                self.waker.register(cx.waker());
                return Poll::Pending;
            }
            state.bytes = 0;
            out.extend(state.items.drain(..));
            Poll::Ready(true)
        })
        .await
    }

    /// Moves whatever is queued into `out` without waiting.
    pub fn drain_now(&self, out: &mut Vec<StreamItem>) {
        let mut state = self.lock();
        state.bytes = 0;
        out.extend(state.items.drain(..));
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
mod tests {
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
        let sub = Subscriber::new(QueueLimits {
            max_frames: 4,
            max_bytes: 1 << 20,
        });
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
}
