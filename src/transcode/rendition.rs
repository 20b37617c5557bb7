//! One rendition on its own thread: scales the shared decoded pictures, encodes
//! them, encodes or passes through the audio, and publishes the result as the
//! ordinary stream `SOURCE/PROFILE`, so every output treats it like any stream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use protocol_parsers::media::{Frame, FrameFlags, Track, TrackId};

use super::ffi::{
    self, AudioEncoder, AudioFrame, CudaScaler, GPU_UPLOAD_FORMAT, Scaler, VideoEncoder,
    VideoEncoderSettings, VideoFrame,
};
use super::profile::{AudioMode, EncoderKind, Profile};
use super::stats::RenditionStats;
use crate::stream::{PublisherGuard, Registry, Stream};

/// Decoded pictures and audio waiting for one rendition: about half a second at
/// 30 fps with audio.
const QUEUE_ITEMS: usize = 48;

/// How long the decode thread waits for a full rendition queue. Waiting keeps the
/// renditions of a ladder in lockstep (same pictures, same keyframes), and when
/// transcoding as a whole falls behind, the decoder's own queue drops to the next
/// source keyframe, for every rendition alike. Past this wait one rendition alone
/// is stuck (a failing encoder): it loses pictures, counted, and restarts on a
/// keyframe, so it cannot stall the others.
const BACKPRESSURE: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a publisher-gone or end-of-stream notice waits for a full queue.
const CONTROL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn send_within(
    sender: &SyncSender<Work>,
    mut work: Work,
    limit: std::time::Duration,
) -> Result<(), TrySendError<Work>> {
    let deadline = Instant::now() + limit;
    loop {
        match sender.try_send(work) {
            Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                work = back;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            result => return result,
        }
    }
}

/// What the source thread hands each rendition.
#[derive(Clone)]
pub(super) enum Work {
    Video {
        picture: Arc<VideoFrame>,
        /// The decoded source's size: a cascaded rendition's output is sized from
        /// it, not from the larger rendition's picture it scales.
        source_size: (u32, u32),
        source_key: bool,
        /// The pts of the source's newest keyframe, where the keyframe grid starts.
        gop_anchor: i64,
        timescale: u32,
        fps: u32,
        arrived: Option<Instant>,
    },
    Audio {
        samples: Arc<AudioFrame>,
        pts: i64,
        timescale: u32,
    },
    /// The source's audio track, for passthrough renditions.
    AudioTrack(Arc<Track>),
    AudioFrame(Frame),
    /// The source's publisher left; the rendition's publisher leaves too.
    SourceGone,
    /// The source ended (grace period over).
    SourceEnded,
}

/// The source thread's handle on one rendition thread.
pub(super) struct RenditionWorker {
    pub profile: Arc<Profile>,
    /// The rendition's stream (`SOURCE/PROFILE`).
    pub stream: Arc<Stream>,
    pub stats: Arc<RenditionStats>,
    sender: Mutex<Option<SyncSender<Work>>>,
    need_keyframe: Arc<AtomicBool>,
    /// Made the decoder wait out `BACKPRESSURE`; not waited for until it drains.
    lagging: AtomicBool,
    /// Renditions that scale from this one's picture (see `cascade`).
    children: Children,
    /// Scales on the GPU from the decoded picture (NVENC with scale_cuda), so it
    /// takes part in no cascade.
    pub gpu_scaling: bool,
}

/// A source's renditions as the decode thread reads them: replaced, never changed.
pub(super) type RenditionList = Arc<Vec<Arc<RenditionWorker>>>;

type Children = Arc<Mutex<RenditionList>>;

impl RenditionWorker {
    /// Starts the rendition's thread, publishing to `stream`.
    pub fn start(
        profile: Arc<Profile>,
        kind: EncoderKind,
        stream: Arc<Stream>,
        registry: Arc<Registry>,
        on_publish: super::OnPublish,
    ) -> Result<Arc<Self>, String> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE_ITEMS);
        let stats = Arc::new(RenditionStats::new(
            stream.name().split('/').next().unwrap_or_default(),
            &profile.name,
            kind.name(),
        ));
        let need_keyframe = Arc::new(AtomicBool::new(false));
        let children: Children = Arc::default();
        let gpu_scaling = kind == EncoderKind::Nvenc && CudaScaler::available().is_ok();
        let mut thread = RenditionThread {
            gpu_scaling,
            children: Arc::clone(&children),
            profile: Arc::clone(&profile),
            kind,
            stream: Arc::clone(&stream),
            registry,
            on_publish,
            stats: Arc::clone(&stats),
            need_keyframe: Arc::clone(&need_keyframe),
            video: None,
            audio: None,
            guard: None,
            generation: None,
            video_track: None,
            audio_track: None,
            last_pts: None,
            last_key: None,
            next_allowed_pts: 0.0,
            pending_source_key: false,
            arrivals: VecDeque::new(),
            keyframe_sent: false,
            pending_audio: VecDeque::new(),
            video_published_us: None,
        };
        std::thread::Builder::new()
            .name(format!("transcode-{}", profile.name))
            .spawn(move || thread.run(receiver))
            .map_err(|e| format!("cannot start a transcoder thread: {e}"))?;
        Ok(Arc::new(Self {
            profile,
            stream,
            stats,
            sender: Mutex::new(Some(sender)),
            need_keyframe,
            lagging: AtomicBool::new(false),
            children,
            gpu_scaling,
        }))
    }

    /// Offers work without waiting. Video that does not fit is dropped and the
    /// next picture taken is forced to a keyframe (so its segment stays decodable).
    pub fn offer(&self, work: Work) {
        // The sender is cloned out, so `stop` never waits behind a full queue.
        let Some(sender) = self
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return;
        };
        let is_video = matches!(work, Work::Video { .. });
        let control = matches!(
            work,
            Work::SourceGone | Work::SourceEnded | Work::AudioTrack(_)
        );
        // A rendition that already made the decoder wait a whole second is not
        // waited for again until its queue has drained by half: one stuck encoder
        // must not slow every other rung to a picture a second.
        let lagging = self.lagging.load(Ordering::Relaxed);
        if lagging && RenditionStats::get(&self.stats.queue_depth) < (QUEUE_ITEMS / 2) as u64 {
            self.lagging.store(false, Ordering::Relaxed);
        }
        let limit = match (control, lagging) {
            // Rare and small: worth a longer wait (the queue drains at encode speed).
            (true, _) => CONTROL_WAIT,
            (false, true) => std::time::Duration::ZERO,
            (false, false) => BACKPRESSURE,
        };
        match send_within(&sender, work, limit) {
            Ok(()) => {
                RenditionStats::add(&self.stats.queue_depth, 1);
            }
            Err(TrySendError::Full(_)) => {
                if limit > std::time::Duration::ZERO {
                    self.lagging.store(true, Ordering::Relaxed);
                }
                if is_video {
                    RenditionStats::add(&self.stats.dropped_frames, 1);
                    if !self.need_keyframe.swap(true, Ordering::Relaxed) {
                        tracing::warn!(source = %self.stats.source, rendition = %self.profile.name, "transcoder is not keeping real time: dropping pictures");
                    }
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    pub fn set_children(&self, list: Vec<Arc<RenditionWorker>>) {
        *self.children.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
    }

    /// Ends the thread: it publishes what its encoder still holds and leaves. Its
    /// children are fed by the decoder again (re-planned), not by its backlog.
    pub fn stop(&self) {
        self.set_children(Vec::new());
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

struct RenditionThread {
    children: Children,
    profile: Arc<Profile>,
    kind: EncoderKind,
    /// NVENC with scale_cuda: pictures go to the encoder at the decoded size.
    gpu_scaling: bool,
    stream: Arc<Stream>,
    registry: Arc<Registry>,
    on_publish: super::OnPublish,
    stats: Arc<RenditionStats>,
    need_keyframe: Arc<AtomicBool>,
    video: Option<VideoState>,
    audio: Option<AudioEncoder>,
    guard: Option<PublisherGuard>,
    /// The generation of this rendition's last publish, for ending it.
    generation: Option<u64>,
    video_track: Option<Track>,
    audio_track: Option<Track>,
    last_pts: Option<i64>,
    /// The last keyframe's place on the grid: its GOP anchor and the number of
    /// whole keyframe intervals from that anchor.
    last_key: Option<(i64, i64)>,
    next_allowed_pts: f64,
    /// A source keyframe fell on a picture the frame-rate cap skipped.
    pending_source_key: bool,
    /// Source arrival instants by pts, for the latency the transcoder adds.
    arrivals: VecDeque<(i64, Instant)>,
    /// Nothing is published before the first keyframe.
    keyframe_sent: bool,
    /// Audio waits here until the video (delayed by its encoder) has caught up to
    /// it, so the rendition leaves interleaved and starts with both tracks together.
    pending_audio: VecDeque<Frame>,
    /// Presentation time of the newest published video frame, in microseconds.
    video_published_us: Option<i64>,
}

/// Audio held back for the video encoder's delay is released past this much even
/// when no video comes (an audio-only stretch of the source).
const MAX_AUDIO_AHEAD_US: i64 = 2_000_000;

/// A picture's companions, and the renditions it goes on to once scaled.
struct PassedOn<'a> {
    children: &'a [Arc<RenditionWorker>],
    source_size: (u32, u32),
    source_key: bool,
    gop_anchor: i64,
    fps: u32,
    arrived: Option<Instant>,
}

struct VideoState {
    encoder: VideoEncoder,
    scaler: Scaler,
    /// The picture size this encoder puts out. Its input may change size without
    /// changing this (a cascaded rendition switching between the decoded picture
    /// and a larger rendition's): the scaler adapts, the encoder goes on.
    output_size: (u32, u32),
    /// With GPU scaling, the picture size the encoder's GPU scaler was built for
    /// (a new size reopens it); `None` on the CPU path.
    gpu_input: Option<(u32, u32)>,
    timescale: u32,
}

impl RenditionThread {
    fn run(&mut self, receiver: Receiver<Work>) {
        tracing::info!(
            stream = self.stream.name(),
            encoder = self.kind.name(),
            "rendition started"
        );
        while let Ok(work) = receiver.recv() {
            let _ =
                self.stats
                    .queue_depth
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                        Some(d.saturating_sub(1))
                    });
            let children = Arc::clone(&self.children.lock().unwrap_or_else(|e| e.into_inner()));
            if !matches!(work, Work::Video { .. }) {
                // Everything but pictures goes on as it came; pictures go on
                // scaled, from `video`.
                children.iter().for_each(|c| c.offer(work.clone()));
            }
            let result = match work {
                Work::Video {
                    picture,
                    source_size,
                    source_key,
                    gop_anchor,
                    timescale,
                    fps,
                    arrived,
                } => {
                    let passed = PassedOn {
                        children: &children,
                        source_size,
                        source_key,
                        gop_anchor,
                        fps,
                        arrived,
                    };
                    self.video(&picture, timescale, passed)
                }
                Work::Audio {
                    samples,
                    pts,
                    timescale,
                } => self.audio(&samples, pts, timescale),
                Work::AudioTrack(track) => {
                    if self.profile.audio == AudioMode::Passthrough {
                        self.set_track(Track::clone(&track));
                    }
                    Ok(())
                }
                Work::AudioFrame(frame) => {
                    if self.profile.audio == AudioMode::Passthrough {
                        self.queue_audio(frame);
                    }
                    Ok(())
                }
                Work::SourceGone => {
                    self.finish_session();
                    Ok(())
                }
                Work::SourceEnded => {
                    self.finish_session();
                    self.end_stream();
                    Ok(())
                }
            };
            if let Err(e) = result {
                // An encoder error restarts this rendition's encoders only.
                tracing::warn!(stream = self.stream.name(), error = %e, "rendition encoder failed; restarting it at the next picture");
                RenditionStats::add(&self.stats.restarts, 1);
                self.video = None;
                self.audio = None;
                self.need_keyframe.store(true, Ordering::Relaxed);
            }
        }
        self.finish_session();
        self.end_stream();
        tracing::info!(
            stream = self.stream.name(),
            frames = RenditionStats::get(&self.stats.frames_out),
            dropped = RenditionStats::get(&self.stats.dropped_frames),
            "rendition stopped"
        );
    }

    fn video(
        &mut self,
        picture: &VideoFrame,
        timescale: u32,
        passed: PassedOn<'_>,
    ) -> Result<(), String> {
        let PassedOn {
            source_size,
            source_key,
            gop_anchor,
            fps,
            arrived,
            ..
        } = passed;
        let Some(pts) = picture.pts() else {
            return Ok(());
        };
        if self.last_pts.is_some_and(|last| pts <= last) {
            return Ok(());
        }
        // A frame-rate cap keeps pictures on the profile's grid (a quarter step of
        // slack for millisecond rounding). A source keyframe on a skipped picture
        // moves to the next picture kept, so the ladder stays aligned.
        let mut source_key = source_key;
        if self.profile.fps > 0 && fps > self.profile.fps {
            let step = f64::from(timescale) / f64::from(self.profile.fps);
            let at = pts as f64;
            if at < self.next_allowed_pts - step / 4.0 {
                self.pending_source_key |= source_key;
                return Ok(());
            }
            self.next_allowed_pts = if at > self.next_allowed_pts + step {
                at + step
            } else {
                self.next_allowed_pts + step
            };
            source_key |= std::mem::take(&mut self.pending_source_key);
        }
        RenditionStats::add(&self.stats.frames_in, 1);
        let started = Instant::now();
        let output = self.profile.output_size(source_size.0, source_size.1);
        let gpu_input = self
            .gpu_scaling
            .then(|| (picture.width(), picture.height()));
        if self.video.as_ref().is_none_or(|v| {
            v.output_size != output || v.timescale != timescale || v.gpu_input != gpu_input
        }) {
            self.drain_video();
            self.open_video(output, gpu_input, timescale, fps)?;
        }
        // Keyframes fall on source keyframes and on a grid of keyframe_seconds
        // counted from the newest source keyframe. Every rendition of the source
        // sees the same anchors and pictures, so all pick the same pictures, even
        // one that started mid-GOP (its first, forced keyframe is off the grid;
        // the next one is on it).
        let keyint = (self.profile.keyframe_ms as i64 * i64::from(timescale) / 1000).max(1);
        let grid_index = (pts - gop_anchor).div_euclid(keyint);
        let keyframe = source_key
            || self.need_keyframe.swap(false, Ordering::Relaxed)
            || self
                .last_key
                .is_none_or(|(anchor, index)| anchor != gop_anchor || grid_index > index);
        if keyframe {
            self.last_key = Some((gop_anchor, grid_index));
        }
        self.last_pts = Some(pts);
        if let Some(arrived) = arrived {
            if self.arrivals.len() >= 256 {
                self.arrivals.pop_front();
            }
            self.arrivals.push_back((pts, arrived));
        }
        let video = self.video.as_mut().ok_or("video encoder missing")?;
        let scaled = video.scaler.scale(picture)?;
        for child in passed.children.iter() {
            child.offer(Work::Video {
                picture: Arc::new(ffi::reference(&scaled)?),
                source_size,
                source_key,
                gop_anchor,
                timescale,
                fps,
                arrived,
            });
        }
        video.encoder.send(scaled, keyframe)?;
        self.take_video_packets();
        RenditionStats::add(
            &self.stats.encode_micros,
            started.elapsed().as_micros() as u64,
        );
        Ok(())
    }

    fn open_video(
        &mut self,
        output: (u32, u32),
        gpu_input: Option<(u32, u32)>,
        timescale: u32,
        fps: u32,
    ) -> Result<(), String> {
        let (width, height) = output;
        let fps = match self.profile.fps {
            0 => fps,
            cap => fps.min(cap),
        }
        .max(1);
        let threads = self.profile.encoder_threads(width, height);
        let settings = VideoEncoderSettings {
            kind: self.kind,
            width,
            height,
            timescale,
            fps,
            bitrate: self.profile.video_bitrate,
            rate_control: self.profile.rate_control,
            bframes: self.profile.bframes,
            keyint: (self.profile.keyframe_ms * u64::from(fps) / 1000).max(1) as u32 * 2,
            profile: self.profile.h264_profile.clone(),
            level: self.profile.h264_level.clone(),
            preset: self.profile.preset.clone(),
            threads,
            lookahead: self.profile.encoder_lookahead(threads),
            gpu: self.profile.gpu,
            vaapi_device: self.profile.vaapi_device.clone(),
            gpu_scale_from: gpu_input,
        };
        let encoder = VideoEncoder::open(&settings)?;
        self.set_track(Track {
            id: TrackId::VIDEO,
            timescale,
            config: encoder.config().clone(),
        });
        tracing::info!(
            stream = self.stream.name(),
            width,
            height,
            fps,
            bitrate = self.profile.video_bitrate,
            encoder = self.kind.name(),
            gpu_scaling = gpu_input.is_some(),
            "rendition video encoder opened"
        );
        // On the GPU path the CPU scaler only converts a picture to the upload
        // format when the decoder gave another (a reference, usually).
        let scaler = match gpu_input {
            Some((w, h)) => Scaler::new(w, h, GPU_UPLOAD_FORMAT),
            None => Scaler::new(width, height, VideoEncoder::input_format(self.kind)),
        };
        self.video = Some(VideoState {
            encoder,
            scaler,
            output_size: (width, height),
            gpu_input,
            timescale,
        });
        self.last_key = None;
        Ok(())
    }

    /// Publishes whatever the video encoder has ready.
    fn take_video_packets(&mut self) {
        while let Some(packet) = self.video.as_mut().and_then(|v| v.encoder.receive()) {
            if !self.keyframe_sent && !packet.keyframe {
                continue;
            }
            let now = Instant::now();
            // Packets leave in decode order (B-frames after the picture they
            // follow), so the arrival is looked up, not popped in order.
            if let Some(index) = self.arrivals.iter().position(|(pts, _)| *pts == packet.pts) {
                if let Some((_, arrived)) = self.arrivals.remove(index) {
                    self.stats.latency.record(now.duration_since(arrived));
                }
            }
            self.stats.frame_out(now);
            let timescale = self.video.as_ref().map_or(1000, |v| v.timescale);
            // Past the check above, a packet while nothing was sent is a keyframe.
            let first = !self.keyframe_sent;
            self.keyframe_sent = true;
            self.video_published_us = Some(micros(packet.pts, timescale));
            if first {
                // Audio from before the first picture is not worth a gap at the start.
                let start = micros(packet.pts, timescale);
                let audio_timescale = self.audio_timescale();
                self.pending_audio
                    .retain(|f| micros(f.dts, audio_timescale) >= start);
            }
            let published = self.publish(Frame {
                track: TrackId::VIDEO,
                dts: packet.dts,
                cts: i32::try_from(packet.pts - packet.dts).unwrap_or(0),
                flags: if packet.keyframe {
                    FrameFlags::KEYFRAME
                } else {
                    FrameFlags::NONE
                },
                data: packet.data,
            });
            if first && !published {
                // The stream could not be claimed (a previous publisher still on
                // it): start again at the next keyframe, never on a P-frame.
                self.keyframe_sent = false;
                self.need_keyframe.store(true, Ordering::Relaxed);
                continue;
            }
            self.release_audio();
        }
    }

    fn audio_timescale(&self) -> u32 {
        self.audio_track.as_ref().map_or(1000, |t| t.timescale)
    }

    fn queue_audio(&mut self, frame: Frame) {
        self.pending_audio.push_back(frame);
        self.release_audio();
    }

    /// Publishes the held audio the video has caught up with; drops what is too
    /// old to wait for a first picture.
    fn release_audio(&mut self) {
        let timescale = self.audio_timescale();
        let newest = self
            .pending_audio
            .back()
            .map_or(0, |f| micros(f.dts, timescale));
        while let Some(front) = self.pending_audio.front() {
            let at = micros(front.dts, timescale);
            let caught_up = self.video_published_us.is_some_and(|v| at <= v);
            let too_old = newest - at > MAX_AUDIO_AHEAD_US;
            if !(caught_up || too_old) {
                break;
            }
            let Some(frame) = self.pending_audio.pop_front() else {
                break;
            };
            if self.keyframe_sent {
                self.publish(frame);
            }
        }
    }

    fn drain_video(&mut self) {
        if let Some(video) = self.video.as_mut() {
            video.encoder.finish();
            self.take_video_packets();
        }
        self.video = None;
    }

    fn audio(&mut self, samples: &AudioFrame, pts: i64, timescale: u32) -> Result<(), String> {
        let (target, bitrate) = match self.profile.audio {
            AudioMode::Passthrough => return Ok(()),
            AudioMode::Aac { bitrate } => (ffi::AudioTarget::Aac, bitrate),
            AudioMode::Opus { bitrate } => (ffi::AudioTarget::Opus, bitrate),
        };
        if self.audio.is_none() {
            let encoder = AudioEncoder::open(target, bitrate, samples.rate(), samples.channels())?;
            self.set_track(Track {
                id: TrackId::AUDIO,
                timescale: encoder.rate(),
                config: encoder.config().clone(),
            });
            self.audio = Some(encoder);
        }
        let encoder = self.audio.as_mut().ok_or("audio encoder missing")?;
        let rate = i64::from(encoder.rate());
        encoder.send(samples, pts * rate / i64::from(timescale.max(1)))?;
        while let Some((pts, data)) = self.audio.as_mut().and_then(AudioEncoder::receive) {
            self.queue_audio(Frame {
                track: TrackId::AUDIO,
                dts: pts,
                cts: 0,
                flags: FrameFlags::KEYFRAME,
                data,
            });
        }
        Ok(())
    }

    /// Records a track and announces it when the rendition is publishing.
    fn set_track(&mut self, track: Track) {
        if let Some(guard) = &self.guard {
            guard.push_track(track.clone());
        }
        match track.id {
            TrackId::VIDEO => self.video_track = Some(track),
            _ => self.audio_track = Some(track),
        }
    }

    /// Publishes one frame, claiming the rendition's stream first if needed;
    /// false when the stream could not be claimed.
    fn publish(&mut self, frame: Frame) -> bool {
        if self.guard.is_none() {
            let Some(guard) = self.registry.publish_rendition(&self.stream) else {
                return false;
            };
            for track in self.video_track.iter().chain(&self.audio_track) {
                guard.push_track(track.clone());
            }
            (self.on_publish)(&self.stream);
            self.guard = Some(guard);
        }
        self.guard
            .as_ref()
            .is_some_and(|guard| guard.push_frame(frame))
    }

    /// The source's publisher left: flush the encoders and leave the rendition
    /// stream, whose outputs wait through their grace period like any stream's.
    fn finish_session(&mut self) {
        self.drain_video();
        if self.keyframe_sent {
            for frame in std::mem::take(&mut self.pending_audio) {
                self.publish(frame);
            }
        }
        self.pending_audio.clear();
        self.video_published_us = None;
        // A new session gets a new audio encoder: nothing of the old one's
        // buffered samples or timeline carries over.
        self.audio = None;
        self.last_pts = None;
        self.last_key = None;
        self.next_allowed_pts = 0.0;
        self.pending_source_key = false;
        self.arrivals.clear();
        self.keyframe_sent = false;
        if let Some(guard) = self.guard.take() {
            self.generation = Some(guard.release(Instant::now()));
        }
    }

    fn end_stream(&mut self) {
        if let Some(generation) = self.generation.take() {
            self.stream.expire(generation);
        }
    }
}

/// `ticks` at `timescale` in microseconds.
fn micros(ticks: i64, timescale: u32) -> i64 {
    ticks.saturating_mul(1_000_000) / i64::from(timescale.max(1))
}

#[cfg(test)]
#[path = "rendition_restart_tests.rs"]
mod restart_tests;
