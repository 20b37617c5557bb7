//! One source's decode thread: subscribes to the source stream, decodes its video
//! and audio once, and hands every decoded picture and sample block to each of the
//! source's renditions (shared, never copied per rendition).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol_parsers::media::{CodecConfig, Frame, Track};

use super::cascade::Cascade;
use super::ffi::{AudioDecoder, VideoDecoder};
use super::park::{StopFlag, block_on};
use super::profile::AudioMode;
use super::rendition::{RenditionList, RenditionWorker, Work};
use crate::stream::{QueueLimits, Registry, StreamItem, Subscriber};

/// The decode thread's own queue: about 8 s of a 1080p30 stream. Past it the
/// decoder is not keeping real time and the queue drops to the next keyframe.
const SOURCE_QUEUE: QueueLimits = QueueLimits {
    max_frames: 512,
    max_bytes: 16 * 1024 * 1024,
};

/// How often a thread waiting for its source to appear looks again.
const SOURCE_POLL: Duration = Duration::from_millis(200);

pub(super) struct Source {
    pub name: String,
    registry: Arc<Registry>,
    /// Copy-on-write, so the decode thread reads it once per batch without holding
    /// a lock while it decodes.
    renditions: Mutex<RenditionList>,
    pub stop: StopFlag,
    /// The decode thread's current subscription to its source: closed to stop the
    /// thread, and read for the frames it dropped falling behind.
    subscriber: Mutex<Option<Arc<Subscriber>>>,
}

impl Source {
    pub fn start(name: &str, registry: Arc<Registry>) -> Result<Arc<Self>, String> {
        let source = Arc::new(Self {
            name: name.to_owned(),
            registry,
            renditions: Mutex::new(Arc::new(Vec::new())),
            stop: StopFlag::default(),
            subscriber: Mutex::new(None),
        });
        let thread = Arc::clone(&source);
        std::thread::Builder::new()
            .name(format!("decode-{name}"))
            .spawn(move || {
                thread.stop.bind_current_thread();
                thread.run();
            })
            .map_err(|e| format!("cannot start a decoder thread: {e}"))?;
        Ok(source)
    }

    pub fn renditions(&self) -> RenditionList {
        Arc::clone(&self.renditions.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_renditions(&self, list: Vec<Arc<RenditionWorker>>) {
        *self.renditions.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
    }

    /// Frames the decode thread dropped because it fell behind its source.
    pub fn dropped_frames(&self) -> u64 {
        self.subscriber
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |s| s.dropped_frames())
    }

    /// Ends the decode thread (its renditions are stopped by the caller).
    pub fn shutdown(&self) {
        self.stop.set();
        if let Some(subscriber) = self
            .subscriber
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            subscriber.close();
        }
    }

    fn run(&self) {
        let mut decode = DecodeState::default();
        let mut cascade = Cascade::default();
        // The rendition list the audio track was last handed to.
        let mut known: Option<RenditionList> = None;
        while !self.stop.is_set() {
            let Some(stream) = self.registry.find(crate::stream::APP, &self.name) else {
                std::thread::park_timeout(SOURCE_POLL);
                continue;
            };
            if !stream.is_live() {
                let _ = block_on(
                    async {
                        let timeout = std::pin::pin!(futures_util::future::FutureExt::fuse(
                            async_sleep(SOURCE_POLL)
                        ));
                        let live = std::pin::pin!(stream.wait_live());
                        futures_util::future::select(live, timeout).await;
                    },
                    &self.stop,
                );
                continue;
            }
            let subscriber = stream.subscribe(SOURCE_QUEUE);
            *self.subscriber.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Arc::clone(&subscriber));
            tracing::info!(source = %self.name, "transcoder decoding");
            let mut items = Vec::new();
            let mut drops = DropReport::default();
            loop {
                items.clear();
                let Some(more) = block_on(subscriber.next_batch(&mut items), &self.stop) else {
                    break;
                };
                let all = self.renditions();
                let renditions = cascade.roots(&all, decode.source_size);
                if !known.as_ref().is_some_and(|k| Arc::ptr_eq(k, &all)) {
                    // A rendition added mid-stream needs the audio track it would
                    // have seen at the start (passthrough publishes it).
                    if let Some((_, track)) = &decode.audio {
                        for rendition in &renditions {
                            rendition.offer(Work::AudioTrack(Arc::clone(track)));
                        }
                    }
                    known = Some(Arc::clone(&all));
                }
                decode.decode_audio = all
                    .iter()
                    .any(|r| r.profile.audio != AudioMode::Passthrough);
                let mut ended = !more;
                for item in items.drain(..) {
                    // Per item, not per batch: a batch behind a slow rendition can
                    // take many seconds to work through.
                    drops.check(&self.name, subscriber.dropped_frames());
                    match item {
                        StreamItem::Track(track) => decode.track(&track, &renditions),
                        StreamItem::Frame(frame, arrived) => {
                            decode.frame(&frame, arrived, &renditions)
                        }
                        StreamItem::PublisherGone => {
                            decode.drain(&renditions);
                            renditions.iter().for_each(|r| r.offer(Work::SourceGone));
                        }
                        StreamItem::Ended => ended = true,
                        StreamItem::Metadata(_) => {}
                    }
                }
                if ended {
                    decode.drain(&renditions);
                    renditions.iter().for_each(|r| r.offer(Work::SourceEnded));
                    break;
                }
            }
            stream.unsubscribe(&subscriber);
            decode = DecodeState::default();
        }
        tracing::info!(source = %self.name, "transcoder decode thread ended");
    }
}

/// Says in the log when the decode thread's queue skipped frames (it fell behind
/// its source): at most every `DROP_REPORT_EVERY`, with the count since the last.
#[derive(Default)]
struct DropReport {
    reported: u64,
    last: Option<Instant>,
}

const DROP_REPORT_EVERY: Duration = Duration::from_secs(5);

impl DropReport {
    fn check(&mut self, source: &str, dropped: u64) {
        if dropped <= self.reported
            || self
                .last
                .is_some_and(|last| last.elapsed() < DROP_REPORT_EVERY)
        {
            return;
        }
        tracing::warn!(
            source,
            dropped = dropped - self.reported,
            total = dropped,
            "transcoder is not keeping real time: its source queue skipped to the next keyframe"
        );
        self.reported = dropped;
        self.last = Some(Instant::now());
    }
}

/// A sleep for a thread without an async runtime: a timer thread is overkill for a
/// 200 ms poll, so this future is ready once its deadline passed (`block_on` polls
/// at least every 100 ms).
async fn async_sleep(duration: Duration) {
    let deadline = Instant::now() + duration;
    std::future::poll_fn(|_| {
        if Instant::now() >= deadline {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

#[derive(Default)]
struct DecodeState {
    video: Option<(VideoDecoder, Arc<Track>)>,
    audio: Option<(AudioDecoder, Arc<Track>)>,
    /// The first few gaps between video dts, for the source's frame rate.
    dts_gaps: Vec<i64>,
    last_video_dts: Option<i64>,
    /// Arrival instants by pts, matched to decoded pictures for latency.
    arrivals: VecDeque<(i64, Option<Instant>, bool)>,
    /// The pts of the newest source keyframe: every rendition counts its
    /// keyframe grid from it, so one started later still lands on the ladder's.
    gop_anchor: Option<i64>,
    warned: bool,
    /// The decoded pictures' size, once known (it decides the cascade).
    source_size: Option<(u32, u32)>,
    /// Some rendition encodes audio (else the audio is not decoded at all).
    decode_audio: bool,
}

impl DecodeState {
    fn track(&mut self, track: &Arc<Track>, renditions: &[Arc<RenditionWorker>]) {
        match &track.config {
            CodecConfig::Video {
                codec,
                record,
                width,
                height,
            } => {
                if self.video.as_ref().is_some_and(|(_, t)| t == track) {
                    return;
                }
                self.drain_video(renditions);
                // Each frame thread delays a picture by a frame; one thread decodes
                // 1080p H.264 several times faster than real time, so only larger
                // pictures get more.
                let threads = if u64::from(*width) * u64::from(*height) <= 1920 * 1088 {
                    1
                } else {
                    std::thread::available_parallelism()
                        .map_or(1, |n| n.get())
                        .min(4)
                };
                match VideoDecoder::open(*codec, record, track.timescale, threads) {
                    Ok(decoder) => self.video = Some((decoder, Arc::clone(track))),
                    Err(e) => {
                        tracing::warn!(error = %e, "transcoder cannot decode this source's video");
                        self.video = None;
                    }
                }
            }
            CodecConfig::Audio {
                codec, specific, ..
            } => {
                renditions
                    .iter()
                    .for_each(|r| r.offer(Work::AudioTrack(Arc::clone(track))));
                if self.audio.as_ref().is_some_and(|(_, t)| t == track) {
                    return;
                }
                match AudioDecoder::open(*codec, specific, track.timescale) {
                    Ok(decoder) => self.audio = Some((decoder, Arc::clone(track))),
                    Err(e) => {
                        tracing::warn!(error = %e, "transcoder cannot decode this source's audio");
                        self.audio = None;
                    }
                }
            }
            _ => {}
        }
    }

    fn frame(
        &mut self,
        frame: &Frame,
        arrived: Option<Instant>,
        renditions: &[Arc<RenditionWorker>],
    ) {
        let is_video = self
            .video
            .as_ref()
            .is_some_and(|(_, t)| t.id == frame.track);
        let is_audio = self
            .audio
            .as_ref()
            .is_some_and(|(_, t)| t.id == frame.track)
            || (!is_video && frame.track != protocol_parsers::media::TrackId::VIDEO);
        if is_video {
            if let Some(last) = self.last_video_dts {
                let gap = frame.dts - last;
                if gap > 0 && self.dts_gaps.len() < 31 {
                    self.dts_gaps.push(gap);
                }
            }
            self.last_video_dts = Some(frame.dts);
            if self.arrivals.len() >= 256 {
                self.arrivals.pop_front();
            }
            self.arrivals
                .push_back((frame.pts(), arrived, frame.is_keyframe()));
            let Some((decoder, _)) = self.video.as_mut() else {
                return;
            };
            if let Err(e) = decoder.send(frame) {
                if !self.warned {
                    tracing::warn!(error = %e, "transcoder: source video frame not decoded");
                    self.warned = true;
                }
            }
            self.take_pictures(renditions);
        } else if is_audio {
            // Roots pass audio on to their children whatever they do with it.
            for rendition in renditions {
                rendition.offer(Work::AudioFrame(frame.clone()));
            }
            // Decoded once, and only when some rendition encodes audio.
            if !self.decode_audio {
                return;
            }
            let Some((decoder, track)) = self.audio.as_mut() else {
                return;
            };
            let timescale = track.timescale;
            if decoder.send(frame).is_err() {
                return;
            }
            while let Some(samples) = decoder.receive() {
                let pts = samples.pts().unwrap_or(frame.pts());
                let samples = Arc::new(samples);
                for rendition in renditions {
                    rendition.offer(Work::Audio {
                        samples: Arc::clone(&samples),
                        pts,
                        timescale,
                    });
                }
            }
        }
    }

    /// The source's frame rate from the mean gap between its first frames (30
    /// until known): a mean, since millisecond timestamps of 30 fps alternate
    /// gaps of 33 and 34.
    fn fps(&self, timescale: u32) -> u32 {
        let total: i64 = self.dts_gaps.iter().sum();
        if total <= 0 {
            return 30;
        }
        let rate = f64::from(timescale) * self.dts_gaps.len() as f64 / total as f64;
        (rate.round() as u32).clamp(1, 240)
    }

    fn take_pictures(&mut self, renditions: &[Arc<RenditionWorker>]) {
        let Some((decoder, track)) = self.video.as_mut() else {
            return;
        };
        let timescale = track.timescale;
        let mut pictures = Vec::new();
        while let Some(picture) = decoder.receive() {
            pictures.push(picture);
        }
        let fps = self.fps(timescale);
        for picture in pictures {
            self.dispatch(picture, timescale, fps, renditions);
        }
    }

    fn dispatch(
        &mut self,
        picture: super::ffi::VideoFrame,
        timescale: u32,
        fps: u32,
        renditions: &[Arc<RenditionWorker>],
    ) {
        self.source_size = Some((picture.width(), picture.height()));
        let pts = picture.pts();
        let (arrived, source_key) = match self.arrivals.iter().position(|(p, _, _)| Some(*p) == pts)
        {
            Some(index) => {
                let (_, arrived, key) = self.arrivals.remove(index).unwrap_or((0, None, false));
                (arrived, key)
            }
            None => (None, picture.is_key()),
        };
        if source_key || self.gop_anchor.is_none() {
            self.gop_anchor = pts;
        }
        let gop_anchor = self.gop_anchor.unwrap_or(0);
        let picture = Arc::new(picture);
        for rendition in renditions {
            rendition.offer(Work::Video {
                picture: Arc::clone(&picture),
                source_size: (picture.width(), picture.height()),
                source_key,
                gop_anchor,
                timescale,
                fps,
                arrived,
            });
        }
    }

    fn drain_video(&mut self, renditions: &[Arc<RenditionWorker>]) {
        let Some((mut decoder, track)) = self.video.take() else {
            return;
        };
        let mut pictures = Vec::new();
        decoder.drain(|p| pictures.push(p));
        let fps = self.fps(track.timescale);
        for picture in pictures {
            self.dispatch(picture, track.timescale, fps, renditions);
        }
        self.video = Some((decoder, track));
    }

    /// The publisher left: hand out every picture still inside the decoder.
    fn drain(&mut self, renditions: &[Arc<RenditionWorker>]) {
        self.drain_video(renditions);
        self.arrivals.clear();
        self.last_video_dts = None;
        self.gop_anchor = None;
    }
}
