//! Turns a subscriber's items into RTMP messages for a player or a destination:
//! configs before frames, start on a keyframe, timestamps that never go back.

use std::sync::Arc;

use protocol_parsers::media::{Frame, FrameFlags, Track, TrackId, TrackKind};
use protocol_parsers::rtmp::media::Metadata;
use protocol_parsers::rtmp::{ClientSession, ServerSession};

use crate::stream::StreamItem;

/// Where a forwarder writes: the server session of a player, the client session of a push.
pub trait MediaSink {
    fn send_metadata(&mut self, metadata: &Metadata);
    fn send_track_config(&mut self, track: &Track, timestamp: u32);
    fn send_frame(&mut self, track: &Track, frame: &Frame, timestamp: u32, cts: i32);
}

impl MediaSink for ServerSession {
    fn send_metadata(&mut self, metadata: &Metadata) {
        ServerSession::send_metadata(self, metadata);
    }
    fn send_track_config(&mut self, track: &Track, timestamp: u32) {
        ServerSession::send_track_config(self, track, timestamp);
    }
    fn send_frame(&mut self, track: &Track, frame: &Frame, timestamp: u32, cts: i32) {
        ServerSession::send_frame(self, track, frame, timestamp, cts);
    }
}

impl MediaSink for ClientSession {
    fn send_metadata(&mut self, metadata: &Metadata) {
        ClientSession::send_metadata(self, metadata);
    }
    fn send_track_config(&mut self, track: &Track, timestamp: u32) {
        ClientSession::send_track_config(self, track, timestamp);
    }
    fn send_frame(&mut self, track: &Track, frame: &Frame, timestamp: u32, cts: i32) {
        ClientSession::send_frame(self, track, frame, timestamp, cts);
    }
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarded {
    Sent,
    /// Waiting for the first keyframe: nothing sent.
    Skipped,
    PublisherGone,
    Ended,
}

#[derive(Debug, Default)]
pub struct Forwarder {
    tracks: Vec<Arc<Track>>,
    /// Configs not yet sent (sent just before the first frame that needs them).
    unsent_configs: Vec<TrackId>,
    started: bool,
    /// Added to source timestamps so output time continues across a publisher
    /// reconnect instead of jumping back.
    offset_ms: i64,
    last_ms: Option<i64>,
}

impl Forwarder {
    pub fn forward(&mut self, item: &StreamItem, sink: &mut impl MediaSink) -> Forwarded {
        match item {
            StreamItem::Metadata(metadata) => {
                sink.send_metadata(metadata);
                Forwarded::Sent
            }
            StreamItem::Track(track) => {
                match self.tracks.iter_mut().find(|t| t.id == track.id) {
                    Some(existing) => *existing = Arc::clone(track),
                    None => self.tracks.push(Arc::clone(track)),
                }
                if !self.unsent_configs.contains(&track.id) {
                    self.unsent_configs.push(track.id);
                }
                Forwarded::Sent
            }
            StreamItem::Frame(frame, _) => self.frame(frame, sink),
            StreamItem::PublisherGone => Forwarded::PublisherGone,
            StreamItem::Ended => Forwarded::Ended,
        }
    }

    fn frame(&mut self, frame: &Frame, sink: &mut impl MediaSink) -> Forwarded {
        // Borrowed, not cloned: every output holds the same `Arc<Track>`, and a
        // clone per frame per output would contend for its count across the cores.
        let Some(track) = self.tracks.iter().find(|t| t.id == frame.track) else {
            return Forwarded::Skipped;
        };
        if !self.started {
            let has_video = self.tracks.iter().any(|t| t.kind() == TrackKind::Video);
            let is_video = track.kind() == TrackKind::Video;
            if !(frame.is_keyframe() && (is_video || !has_video)) {
                return Forwarded::Skipped;
            }
            self.started = true;
        }
        if frame.flags.contains(FrameFlags::DISCONTINUITY) {
            if let Some(last) = self.last_ms {
                self.offset_ms = last + 1 - to_ms(track, frame.dts);
            }
        }
        let (out_ms, cts) = self.timing(track, frame);
        self.last_ms = Some(latest(self.last_ms, out_ms));
        // RTMP timestamps are 32-bit milliseconds and wrap (spec 5.3.1.3).
        let timestamp = out_ms as u32;
        if let Some(pos) = self.unsent_configs.iter().position(|id| *id == track.id) {
            self.unsent_configs.swap_remove(pos);
            sink.send_track_config(track, timestamp);
        }
        sink.send_frame(track, frame, timestamp, cts);
        Forwarded::Sent
    }

    /// `frame`'s output time in milliseconds and its composition offset, at this
    /// forwarder's offset.
    pub fn timing(&self, track: &Track, frame: &Frame) -> (i64, i32) {
        let out_ms = (to_ms(track, frame.dts) + self.offset_ms).max(0);
        (out_ms, to_ms(track, i64::from(frame.cts)) as i32)
    }

    /// Whether each of `frames` would go out as its frame message and nothing
    /// else, at the current offset: the output has started, has sent every config,
    /// knows each frame's track, and no frame marks a discontinuity. Such frames
    /// may be sent in bulk (`passed_through`).
    pub fn passes_through<'a>(&self, mut frames: impl Iterator<Item = &'a Frame>) -> bool {
        self.started
            && self.unsent_configs.is_empty()
            && frames.all(|frame| {
                !frame.flags.contains(FrameFlags::DISCONTINUITY) && self.track(frame).is_some()
            })
    }

    /// Frames that `passes_through` allowed were sent, the latest of them at
    /// `last_ms` (output time).
    pub fn passed_through(&mut self, last_ms: i64) {
        self.last_ms = Some(latest(self.last_ms, last_ms));
    }

    /// The track `frame` belongs to, as this output knows it.
    pub fn track(&self, frame: &Frame) -> Option<&Arc<Track>> {
        self.tracks.iter().find(|t| t.id == frame.track)
    }

    /// Every track this output knows.
    pub fn tracks(&self) -> &[Arc<Track>] {
        &self.tracks
    }

    /// Added to source timestamps (ms).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }
}

/// The later of the last output time so far (if any) and `ms`: output time never
/// goes back.
fn latest(last_ms: Option<i64>, ms: i64) -> i64 {
    last_ms.map_or(ms, |last| last.max(ms))
}

/// `ticks` in `track`'s timescale, in milliseconds.
fn to_ms(track: &Track, ticks: i64) -> i64 {
    ticks * 1000 / i64::from(track.timescale.max(1))
}
