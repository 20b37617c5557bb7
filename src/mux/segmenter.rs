//! Segmenting policy for one rendition: frames in, CMAF parts and segment
//! boundaries out. One CMAF track per media type (video, audio), cut at the same
//! instants, so one set of fragments serves HLS (fMP4, LL-HLS parts) and DASH.
//!
//! Segments start on a video keyframe once `segment_ms` has passed; with low
//! latency, parts are cut about every `part_ms` in between. A frame becomes a
//! sample when the next frame of its track arrives (that is when its duration is
//! known), so the newest frame of each track is always held back.

use std::sync::Arc;

use bytes::Bytes;
use protocol_parsers::media::{Frame, FrameFlags, Track, TrackId, TrackKind};
use protocol_parsers::mp4::{self, Sample, TrackFragment};
use protocol_parsers::mpegts::TsMuxer;

/// A gap between two frames of one track above this is a timestamp jump, not a
/// duration: the sample gets the track's previous duration instead.
const MAX_SAMPLE_MS: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmenterConfig {
    pub segment_ms: i64,
    /// Parts (LL-HLS) of at most this long; `None`: whole segments only.
    pub part_ms: Option<i64>,
}

/// What the segmenter produced, in order.
#[derive(Debug, Clone)]
pub enum MuxEvent {
    /// New decoder configuration: this track's init segment.
    Init {
        kind: TrackKind,
        track: Arc<Track>,
        init: Bytes,
    },
    /// A segment starts at `start_ms` (media time of its first video frame).
    SegmentStart { start_ms: i64, discontinuity: bool },
    /// A part (CMAF chunk: `moof` + `mdat`) of the current segment for one track.
    Part {
        kind: TrackKind,
        /// dts of its first sample, in the track's timescale.
        start_dts: i64,
        /// The smallest presentation time (dts + composition offset) of its
        /// samples, in the track's timescale: where DASH places it.
        earliest_pts: i64,
        /// In the track's timescale.
        duration: i64,
        independent: bool,
        pieces: Vec<Bytes>,
    },
    /// MPEG-TS bytes of the current segment (the legacy-player variant): tables
    /// at its start, then each frame as it arrives.
    Ts(Bytes),
    /// The current segment is complete.
    SegmentEnd,
}

#[derive(Debug)]
struct TrackState {
    track: Arc<Track>,
    held: Option<Frame>,
    samples: Vec<Sample>,
    first_dts: Option<i64>,
    last_duration: u32,
}

impl TrackState {
    fn new(track: Arc<Track>) -> Self {
        Self {
            track,
            held: None,
            samples: Vec::new(),
            first_dts: None,
            last_duration: 0,
        }
    }

    fn ms(&self, dts: i64) -> i64 {
        dts * 1000 / i64::from(self.track.timescale.max(1))
    }

    /// Turns the held frame into a sample ending at `next_dts` (or, with none, of
    /// the previous duration).
    fn release(&mut self, next_dts: Option<i64>) {
        let Some(held) = self.held.take() else {
            return;
        };
        let limit = MAX_SAMPLE_MS * i64::from(self.track.timescale) / 1000;
        let duration = match next_dts.map(|next| next - held.dts) {
            Some(d) if d > 0 && d <= limit => d as u32,
            _ => self.last_duration,
        };
        self.last_duration = duration;
        if self.samples.is_empty() {
            self.first_dts = Some(held.dts);
        }
        self.samples.push(Sample {
            duration,
            cts: held.cts,
            keyframe: self.track.kind() == TrackKind::Audio || held.is_keyframe(),
            data: held.data,
        });
    }
}

#[derive(Debug)]
pub struct Segmenter {
    config: SegmenterConfig,
    video: Option<TrackState>,
    audio: Option<TrackState>,
    /// `mfhd` sequence number of the next fragment.
    sequence: u32,
    /// Media time (ms) the current segment and part started at; `None` between segments.
    segment_start: Option<i64>,
    part_start: i64,
    next_discontinuity: bool,
    /// `None` when a track's codec cannot be carried in MPEG-TS (then only CMAF).
    ts: Option<TsMuxer>,
    events: Vec<MuxEvent>,
}

impl Segmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        Self {
            config,
            video: None,
            audio: None,
            sequence: 1,
            segment_start: None,
            part_start: 0,
            next_discontinuity: false,
            ts: None,
            events: Vec::new(),
        }
    }

    /// Events produced since the last call.
    pub fn take_events(&mut self) -> Vec<MuxEvent> {
        std::mem::take(&mut self.events)
    }

    fn state(&mut self, id: TrackId) -> Option<&mut TrackState> {
        [self.video.as_mut(), self.audio.as_mut()]
            .into_iter()
            .flatten()
            .find(|s| s.track.id == id)
    }

    pub fn push_track(&mut self, track: Arc<Track>) {
        let kind = track.kind();
        let slot = match kind {
            TrackKind::Video => &self.video,
            TrackKind::Audio => &self.audio,
        };
        if slot
            .as_ref()
            .is_some_and(|s| s.track.config == track.config)
        {
            return;
        }
        let init = match mp4::init_segment(&[&track]) {
            Ok(init) => init,
            Err(e) => {
                tracing::warn!(error = %e, "track cannot be segmented; HLS/DASH skip it");
                return;
            }
        };
        // New codec parameters: what was segmented so far ends here.
        if self.segment_start.is_some() {
            self.finish();
            self.next_discontinuity = true;
        }
        let state = TrackState::new(Arc::clone(&track));
        match kind {
            TrackKind::Video => self.video = Some(state),
            TrackKind::Audio => self.audio = Some(state),
        }
        let tracks: Vec<&Track> = [self.video.as_ref(), self.audio.as_ref()]
            .into_iter()
            .flatten()
            .map(|s| &*s.track)
            .collect();
        self.ts = match TsMuxer::new(&tracks) {
            Ok(muxer) => Some(muxer),
            Err(e) => {
                tracing::info!(error = %e, "no MPEG-TS variant for this stream");
                None
            }
        };
        self.events.push(MuxEvent::Init { kind, track, init });
    }

    /// The publisher left (or the stream ended): complete what is buffered.
    pub fn flush(&mut self) {
        if self.segment_start.is_some() {
            self.finish();
            self.next_discontinuity = true;
        }
    }

    pub fn push_frame(&mut self, frame: Frame) {
        let has_video = self.video.is_some();
        let Some(state) = self.state(frame.track) else {
            return;
        };
        let kind = state.track.kind();
        let at = state.ms(frame.dts);
        let drives = kind == TrackKind::Video || !has_video;
        let starts = !has_video || kind == TrackKind::Video && frame.is_keyframe();
        if frame.flags.contains(FrameFlags::DISCONTINUITY) && self.segment_start.is_some() {
            self.finish();
            self.next_discontinuity = true;
        }
        match self.segment_start {
            None => {
                if !(drives && starts) {
                    // Segments start on a keyframe; audio before it waits for none.
                    return;
                }
                self.start_segment(at);
            }
            Some(segment_start) if drives => {
                // The frame before this one (same track) now has its duration.
                if let Some(state) = self.state(frame.track) {
                    state.release(Some(frame.dts));
                }
                if starts && at - segment_start >= self.config.segment_ms {
                    self.close_part();
                    self.events.push(MuxEvent::SegmentEnd);
                    self.start_segment(at);
                } else if let Some(part_ms) = self.config.part_ms {
                    // Within 5% of the target counts as there: parts then hold a
                    // whole number of frames close to the target (the advertised
                    // PART-TARGET grows to the longest part actually cut).
                    if (at - self.part_start) * 20 >= part_ms * 19 {
                        self.close_part();
                        self.part_start = at;
                    }
                }
                self.mux_ts(&frame);
                if let Some(state) = self.state(frame.track) {
                    state.held = Some(frame);
                }
                return;
            }
            Some(_) => {}
        }
        self.mux_ts(&frame);
        if let Some(state) = self.state(frame.track) {
            state.release(Some(frame.dts));
            state.held = Some(frame);
        }
    }

    fn mux_ts(&mut self, frame: &Frame) {
        let Some(muxer) = self.ts.as_mut() else {
            return;
        };
        match muxer.frame(frame) {
            Ok(bytes) => self.events.push(MuxEvent::Ts(bytes)),
            Err(e) => tracing::debug!(error = %e, "frame left out of the MPEG-TS variant"),
        }
    }

    fn start_segment(&mut self, at: i64) {
        self.segment_start = Some(at);
        self.part_start = at;
        self.events.push(MuxEvent::SegmentStart {
            start_ms: at,
            discontinuity: std::mem::take(&mut self.next_discontinuity),
        });
        if let Some(muxer) = self.ts.as_mut() {
            self.events.push(MuxEvent::Ts(muxer.tables()));
        }
    }

    /// Emits one part per track from the samples completed so far.
    fn close_part(&mut self) {
        for kind in [TrackKind::Video, TrackKind::Audio] {
            let state = match kind {
                TrackKind::Video => self.video.as_mut(),
                TrackKind::Audio => self.audio.as_mut(),
            };
            let Some(state) = state else {
                continue;
            };
            if state.samples.is_empty() {
                continue;
            }
            let samples = std::mem::take(&mut state.samples);
            let start_dts = state.first_dts.take().unwrap_or(0);
            let fragment = TrackFragment {
                track_id: mp4::track_id(state.track.id),
                base_decode_time: u64::try_from(start_dts).unwrap_or(0),
                samples: &samples,
            };
            match mp4::fragment(self.sequence, &[fragment]) {
                Ok(pieces) => {
                    self.sequence = self.sequence.wrapping_add(1);
                    self.events.push(MuxEvent::Part {
                        kind,
                        start_dts,
                        earliest_pts: earliest_presentation(start_dts, &samples),
                        duration: samples.iter().map(|s| i64::from(s.duration)).sum(),
                        independent: samples.first().is_some_and(|s| s.keyframe),
                        pieces,
                    });
                }
                Err(e) => tracing::warn!(error = %e, "fragment dropped"),
            }
        }
    }

    /// Ends the current segment with everything held; the held frames' durations
    /// are unknown, so each repeats its track's previous one.
    fn finish(&mut self) {
        for state in [self.video.as_mut(), self.audio.as_mut()]
            .into_iter()
            .flatten()
        {
            state.release(None);
        }
        self.close_part();
        self.events.push(MuxEvent::SegmentEnd);
        self.segment_start = None;
    }
}

/// The smallest dts + composition offset of a run of samples whose first dts is
/// `start_dts`.
fn earliest_presentation(start_dts: i64, samples: &[Sample]) -> i64 {
    let mut dts = start_dts;
    let mut earliest = i64::MAX;
    for sample in samples {
        earliest = earliest.min(dts + i64::from(sample.cts));
        dts += i64::from(sample.duration);
    }
    if earliest == i64::MAX {
        start_dts
    } else {
        earliest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol_parsers::media::{AudioCodec, CodecConfig, VideoCodec};

    fn tracks() -> (Arc<Track>, Arc<Track>) {
        let video = Track {
            id: TrackId::VIDEO,
            timescale: 1000,
            config: CodecConfig::Video {
                codec: VideoCodec::H264,
                record: Bytes::from_static(&[1, 0x64, 0, 0x28, 0xFF, 0xE0, 0]),
                width: 1280,
                height: 720,
            },
        };
        let audio = Track {
            id: TrackId::AUDIO,
            timescale: 1000,
            config: CodecConfig::Audio {
                codec: AudioCodec::Aac,
                specific: Bytes::from_static(&[0x11, 0x90]),
                sample_rate: 48_000,
                channels: 2,
            },
        };
        (Arc::new(video), Arc::new(audio))
    }

    fn frame(track: TrackId, dts: i64, keyframe: bool) -> Frame {
        Frame {
            track,
            dts,
            cts: 0,
            flags: if keyframe {
                FrameFlags::KEYFRAME
            } else {
                FrameFlags::NONE
            },
            data: Bytes::from(vec![0u8; 100]),
        }
    }

    /// 10 s of 30 fps video (keyframe every 2 s) and ~47 fps audio, interleaved.
    fn feed(segmenter: &mut Segmenter, from_ms: i64, seconds: i64, flags: FrameFlags) -> usize {
        let mut frames = Vec::new();
        for i in 0..seconds * 30 {
            let dts = from_ms + i * 1000 / 30;
            frames.push(frame(TrackId::VIDEO, dts, i % 60 == 0));
        }
        for i in 0..seconds * 1000 / 21 {
            frames.push(frame(TrackId::AUDIO, from_ms + i * 21, true));
        }
        frames.sort_by_key(|f| (f.dts, f.track.0));
        if let Some(first) = frames.first_mut() {
            first.flags = first.flags.with(flags);
        }
        let count = frames.len();
        frames.into_iter().for_each(|f| segmenter.push_frame(f));
        count
    }

    #[test]
    fn segments_start_on_keyframes_and_parts_stay_under_the_target() {
        let mut segmenter = Segmenter::new(SegmenterConfig {
            segment_ms: 2000,
            part_ms: Some(500),
        });
        let (video, audio) = tracks();
        segmenter.push_track(video);
        segmenter.push_track(audio);
        let frames = feed(&mut segmenter, 0, 10, FrameFlags::NONE);
        segmenter.flush();
        let events = segmenter.take_events();
        let starts: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                MuxEvent::SegmentStart { start_ms, .. } => Some(*start_ms),
                _ => None,
            })
            .collect();
        assert_eq!(starts, vec![0, 2000, 4000, 6000, 8000]);
        let ends = events
            .iter()
            .filter(|e| matches!(e, MuxEvent::SegmentEnd))
            .count();
        assert_eq!(ends, 5);
        let mut samples = 0;
        let mut video_parts = Vec::new();
        for event in &events {
            if let MuxEvent::Part {
                kind,
                duration,
                independent,
                pieces,
                ..
            } = event
            {
                // Header piece plus one piece per sample.
                samples += pieces.len() - 1;
                if *kind == TrackKind::Video {
                    assert!(*duration <= 500, "part of {duration} ms");
                    video_parts.push((*duration, *independent));
                }
            }
        }
        assert_eq!(samples, frames, "every frame is in exactly one part");
        // Four parts per 2 s segment; each segment's first part is independent.
        assert_eq!(video_parts.len(), 20);
        for (i, (_, independent)) in video_parts.iter().enumerate() {
            assert_eq!(*independent, i % 4 == 0, "part {i}");
        }
    }

    #[test]
    fn a_discontinuity_or_new_codec_ends_the_segment_and_marks_the_next() {
        let mut segmenter = Segmenter::new(SegmenterConfig {
            segment_ms: 2000,
            part_ms: None,
        });
        let (video, audio) = tracks();
        segmenter.push_track(Arc::clone(&video));
        segmenter.push_track(audio);
        feed(&mut segmenter, 0, 3, FrameFlags::NONE);
        segmenter.flush();
        feed(&mut segmenter, 60_000, 3, FrameFlags::DISCONTINUITY);
        let starts: Vec<(i64, bool)> = segmenter
            .take_events()
            .iter()
            .filter_map(|e| match e {
                MuxEvent::SegmentStart {
                    start_ms,
                    discontinuity,
                } => Some((*start_ms, *discontinuity)),
                _ => None,
            })
            .collect();
        assert_eq!(
            starts,
            vec![(0, false), (2000, false), (60_000, true), (62_000, false)]
        );
        // The same config again changes nothing; a new one re-inits.
        segmenter.push_track(Arc::clone(&video));
        assert!(segmenter.take_events().is_empty());
        let mut changed = (*video).clone();
        if let CodecConfig::Video { width, .. } = &mut changed.config {
            *width = 640;
        }
        segmenter.push_track(Arc::new(changed));
        let events = segmenter.take_events();
        assert!(matches!(events.last(), Some(MuxEvent::Init { .. })));
        assert!(events.iter().any(|e| matches!(e, MuxEvent::SegmentEnd)));
    }
}
