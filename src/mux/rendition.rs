//! What HTTP serves for one rendition: init segments, the window of segments with
//! their parts, and the timing the playlists and the MPD are written from. Written
//! by the rendition's segmenter task, read by any HTTP connection on any core.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use protocol_parsers::media::{Track, TrackKind};

use super::segmenter::{MuxEvent, SegmenterConfig};

/// One init segment; `id` changes with the codec parameters (it is in the URI, so
/// caches never mix generations).
#[derive(Debug)]
pub struct TrackMedia {
    pub id: u32,
    pub track: Arc<Track>,
    pub init: Bytes,
}

#[derive(Debug, Clone)]
pub struct PartRec {
    /// In the track's timescale.
    pub duration: i64,
    pub independent: bool,
    pub pieces: Vec<Bytes>,
}

#[derive(Debug, Clone, Default)]
pub struct TrackParts {
    pub init: Option<Arc<TrackMedia>>,
    pub start_dts: Option<i64>,
    /// The smallest presentation time of the samples so far (DASH's `t`).
    pub earliest_pts: Option<i64>,
    pub parts: Vec<PartRec>,
}

impl TrackParts {
    pub fn duration(&self) -> i64 {
        self.parts.iter().map(|p| p.duration).sum()
    }

    pub fn timescale(&self) -> u32 {
        self.init
            .as_ref()
            .map_or(1000, |m| m.track.timescale.max(1))
    }

    pub fn seconds(&self) -> f64 {
        self.duration() as f64 / f64::from(self.timescale())
    }
}

#[derive(Debug, Clone)]
pub struct SegmentRec {
    pub msn: u64,
    /// Media time of the first frame, ms.
    pub start_ms: i64,
    /// Wall clock (unix ms) of the first frame, for PROGRAM-DATE-TIME.
    pub wall_ms: i64,
    pub discontinuity: bool,
    /// The DASH period this segment belongs to: its first segment's number, wall
    /// clock and media time. Fixed when the period starts, so a period keeps its
    /// id, start and offset while its first segments leave the window.
    pub period: (u64, i64, i64),
    pub complete: bool,
    pub video: TrackParts,
    pub audio: TrackParts,
    /// The MPEG-TS variant of this segment (both tracks muxed).
    pub ts: Vec<Bytes>,
}

impl SegmentRec {
    pub fn track(&self, kind: TrackKind) -> &TrackParts {
        match kind {
            TrackKind::Video => &self.video,
            TrackKind::Audio => &self.audio,
        }
    }

    fn track_mut(&mut self, kind: TrackKind) -> &mut TrackParts {
        match kind {
            TrackKind::Video => &mut self.video,
            TrackKind::Audio => &mut self.audio,
        }
    }

    /// The segment's duration: its video's, or its audio's when it has no video.
    pub fn seconds(&self) -> f64 {
        if self.video.parts.is_empty() {
            self.audio.seconds()
        } else {
            self.video.seconds()
        }
    }
}

/// Counters of one rendition, for the admin API and metrics.
#[derive(Debug, Clone, Default)]
pub struct RenditionStats {
    pub segments_total: u64,
    pub parts_total: u64,
    pub last_segment_seconds: f64,
    pub last_part_seconds: f64,
    pub last_segment_at: Option<Instant>,
}

#[derive(Debug)]
pub struct Inner {
    pub config: SegmenterConfig,
    pub window: usize,
    pub video: Option<Arc<TrackMedia>>,
    pub audio: Option<Arc<TrackMedia>>,
    next_init_id: u32,
    pub segments: VecDeque<SegmentRec>,
    next_msn: u64,
    /// Discontinuities that left the window (EXT-X-DISCONTINUITY-SEQUENCE).
    pub discontinuity_sequence: u64,
    /// Wall clock (unix ms) and media time (ms) of one instant, to date segments.
    anchor: Option<(i64, i64)>,
    /// Unix ms of the stream's first frame (the MPD's availabilityStartTime).
    pub availability_start_ms: Option<i64>,
    pub max_segment_seconds: f64,
    pub max_part_seconds: f64,
    pub stats: RenditionStats,
    pub ended: bool,
    /// Bumped by every change, so rendered playlists can be reused until then.
    pub version: u64,
}

impl Inner {
    /// The newest segment's number and its number of parts so far (for waits).
    pub fn last_position(&self) -> Option<(u64, usize)> {
        self.segments
            .back()
            .map(|s| (s.msn, s.video.parts.len().max(s.audio.parts.len())))
    }

    pub fn segment(&self, msn: u64) -> Option<&SegmentRec> {
        let first = self.segments.front()?.msn;
        self.segments
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)
    }

    fn apply(&mut self, event: MuxEvent, wall_ms: i64, now: Instant) {
        match event {
            MuxEvent::Init { kind, track, init } => {
                self.next_init_id += 1;
                let media = Some(Arc::new(TrackMedia {
                    id: self.next_init_id,
                    track,
                    init,
                }));
                match kind {
                    TrackKind::Video => self.video = media,
                    TrackKind::Audio => self.audio = media,
                }
            }
            MuxEvent::SegmentStart {
                start_ms,
                discontinuity,
            } => {
                if discontinuity || self.anchor.is_none() {
                    self.anchor = Some((wall_ms, start_ms));
                }
                self.availability_start_ms.get_or_insert(wall_ms);
                let (anchor_wall, anchor_media) = self.anchor.unwrap_or((wall_ms, start_ms));
                let segment_wall = anchor_wall + (start_ms - anchor_media);
                let period = match self.segments.back() {
                    Some(previous) if !discontinuity => previous.period,
                    _ => (self.next_msn, segment_wall, start_ms),
                };
                let segment = SegmentRec {
                    msn: self.next_msn,
                    start_ms,
                    wall_ms: segment_wall,
                    discontinuity,
                    period,
                    complete: false,
                    video: TrackParts {
                        init: self.video.clone(),
                        ..TrackParts::default()
                    },
                    audio: TrackParts {
                        init: self.audio.clone(),
                        ..TrackParts::default()
                    },
                    ts: Vec::new(),
                };
                self.next_msn += 1;
                self.segments.push_back(segment);
                // Keep `window` complete segments plus the one being written.
                while self.segments.len() > self.window + 1 {
                    self.segments.pop_front();
                    if self.segments.front().is_some_and(|s| s.discontinuity) {
                        self.discontinuity_sequence += 1;
                    }
                }
            }
            MuxEvent::Part {
                kind,
                start_dts,
                earliest_pts,
                duration,
                independent,
                pieces,
            } => {
                let Some(segment) = self.segments.back_mut() else {
                    return;
                };
                let track = segment.track_mut(kind);
                track.start_dts.get_or_insert(start_dts);
                track.earliest_pts = Some(
                    track
                        .earliest_pts
                        .map_or(earliest_pts, |e| e.min(earliest_pts)),
                );
                let timescale = track.timescale();
                track.parts.push(PartRec {
                    duration,
                    independent,
                    pieces,
                });
                let seconds = duration as f64 / f64::from(timescale);
                // Audio parts end on audio frame boundaries, a little off the video
                // cuts: PART-TARGET must cover both.
                self.max_part_seconds = self.max_part_seconds.max(seconds);
                if kind == TrackKind::Video || segment.video.init.is_none() {
                    self.stats.parts_total += 1;
                    self.stats.last_part_seconds = seconds;
                }
            }
            MuxEvent::Ts(bytes) => {
                if let Some(segment) = self.segments.back_mut() {
                    segment.ts.push(bytes);
                }
            }
            MuxEvent::SegmentEnd => {
                if let Some(segment) = self.segments.back_mut() {
                    segment.complete = true;
                    let seconds = segment.seconds();
                    self.max_segment_seconds = self.max_segment_seconds.max(seconds);
                    self.stats.segments_total += 1;
                    self.stats.last_segment_seconds = seconds;
                    self.stats.last_segment_at = Some(now);
                }
            }
        }
    }
}

/// One rendition's segments, shared between its segmenter and HTTP.
#[derive(Debug)]
pub struct Rendition {
    pub stream: String,
    pub name: String,
    /// In every segment URI: a rendition that restarts (its stream ended and was
    /// published again) numbers segments from 0 again, and caches must not mix them.
    pub generation: u64,
    /// Bits per second to announce before a segment was measured (a transcoded
    /// rendition's profile rates); players pick variants by it from the start.
    pub nominal_bandwidth: Option<u64>,
    /// A video keyframe reaching the stream -> the part (or, without low latency,
    /// the segment) that starts with it being servable.
    pub keyframe_to_servable: crate::outputs::latency::LatencyHistogram,
    inner: Mutex<Inner>,
    waiting: Mutex<Vec<Waker>>,
    /// Playlists and the MPD as last rendered: (which, version, text).
    rendered: Mutex<Vec<(&'static str, u64, Option<Bytes>)>>,
}

impl Rendition {
    pub fn new(
        stream: &str,
        name: &str,
        config: SegmenterConfig,
        window: usize,
        nominal_bandwidth: Option<u64>,
    ) -> Arc<Self> {
        Arc::new(Self {
            stream: stream.to_owned(),
            name: name.to_owned(),
            generation: u64::from(fastrand::u32(..)),
            nominal_bandwidth,
            keyframe_to_servable: Default::default(),
            inner: Mutex::new(Inner {
                config,
                window: window.max(2),
                video: None,
                audio: None,
                next_init_id: 0,
                segments: VecDeque::new(),
                next_msn: 0,
                discontinuity_sequence: 0,
                anchor: None,
                availability_start_ms: None,
                max_segment_seconds: 0.0,
                max_part_seconds: 0.0,
                stats: RenditionStats::default(),
                ended: false,
                version: 0,
            }),
            waiting: Mutex::new(Vec::new()),
            rendered: Mutex::new(Vec::new()),
        })
    }

    /// The name of the stream this rendition segments: the source's own name, or
    /// `SOURCE/PROFILE` for a transcoded rendition.
    pub fn key(&self) -> String {
        super::key(&self.stream, &self.name)
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the segmenter's events and wakes blocked playlist requests.
    pub fn apply(&self, events: Vec<MuxEvent>, wall_ms: i64) {
        if events.is_empty() {
            return;
        }
        let now = Instant::now();
        {
            let mut inner = self.lock();
            for event in events {
                inner.apply(event, wall_ms, now);
            }
            inner.version += 1;
        }
        self.wake();
    }

    pub fn set_ended(&self, ended: bool) {
        {
            let mut inner = self.lock();
            inner.ended = ended;
            inner.version += 1;
        }
        self.wake();
    }

    /// `which` rendered by `render`, reused while the rendition has not changed
    /// (players poll playlists far more often than parts are cut).
    pub fn rendered(
        &self,
        which: &'static str,
        render: impl FnOnce() -> Option<String>,
    ) -> Option<Bytes> {
        let version = self.lock().version;
        let mut cache = self.rendered.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, text)) = cache.iter().find(|(w, v, _)| *w == which && *v == version) {
            return text.clone();
        }
        // Rendering takes the rendition lock again; the cache lock only orders
        // renders of the same rendition, never the segmenter.
        let text = render().map(Bytes::from);
        cache.retain(|(w, _, _)| *w != which);
        cache.push((which, version, text.clone()));
        text
    }

    fn wake(&self) {
        let waiting = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        waiting.into_iter().for_each(Waker::wake);
    }

    /// Resolves once `ready` holds (checked after every change).
    pub async fn wait_until(&self, ready: impl Fn(&Inner) -> bool) {
        std::future::poll_fn(|cx: &mut Context<'_>| {
            // Register first, so a change between the check and the registration
            // still wakes this task.
            self.waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(cx.waker().clone());
            if ready(&self.lock()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}
