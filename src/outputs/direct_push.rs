//! A push output's media, shared by its task and the publisher's thread. While the
//! output is caught up, the publisher writes each frame to the destination's socket
//! itself (`DirectSink`): one non-blocking send per output and no task woken, as the
//! relay's floor does (BENCHMARKS.md); the sends of a burst go to the kernel as one
//! batch (`Staged`, `engine::send_batch`). What the socket does not take waits here;
//! the output's task then writes it under its watchdog and drains the queue until it
//! has caught up again.

use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use protocol_parsers::media::{Frame, Track};
use protocol_parsers::rtmp::MediaWriter;
use protocol_parsers::rtmp::media::Metadata;

use super::OutputStats;
use super::forwarder::{Forwarded, Forwarder, MediaSink};
use super::unreported_stats::UnreportedStats;
use crate::stream::{DirectSink, Staged, StreamItem, WaitingBytes};

pub struct PushMedia {
    state: Mutex<MediaState>,
    /// A second handle on the destination's socket; `None` over TLS, where only the
    /// task writes (through its rustls connection).
    socket: Option<socket2::Socket>,
}

struct MediaState {
    forwarder: Forwarder,
    writer: MediaWriter,
    /// Encoded and not yet written, in order; starts on a message boundary or in
    /// the middle of a message a direct send wrote only in part.
    waiting: Vec<Bytes>,
    /// When each frame in `waiting` reached the stream.
    arrivals: Vec<Instant>,
    /// Frames in `waiting`, counted when they are written or handed to the task.
    frames: u64,
    /// What direct sends wrote, not yet added to the output's shared counters.
    unreported: UnreportedStats,
    stats: Arc<OutputStats>,
}

impl PushMedia {
    pub fn new(
        writer: MediaWriter,
        socket: Option<socket2::Socket>,
        stats: Arc<OutputStats>,
    ) -> Self {
        Self {
            state: Mutex::new(MediaState {
                forwarder: Forwarder::default(),
                writer,
                waiting: Vec::new(),
                arrivals: Vec::new(),
                frames: 0,
                unreported: UnreportedStats::new(Instant::now()),
                stats,
            }),
            socket,
        }
    }

    /// Whether the publisher can write to the destination directly (plain TCP).
    pub fn can_write_directly(&self) -> bool {
        self.socket.is_some()
    }

    fn lock(&self) -> MutexGuard<'_, MediaState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Encodes a queued item after what waits (the task's path).
    pub fn encode(&self, item: &StreamItem) -> Forwarded {
        self.lock().encode(item)
    }

    /// Takes what waits to be written, and when each frame in it reached the stream.
    /// The frames count as sent from now on, and what direct sends counted is
    /// reported: the task takes over.
    pub fn take_waiting(&self) -> (Vec<Bytes>, Vec<Instant>) {
        let mut state = self.lock();
        let state = &mut *state;
        let frames = std::mem::take(&mut state.frames);
        state.stats.add(&state.stats.frames, frames);
        state.unreported.report(&state.stats, Instant::now());
        (
            std::mem::take(&mut state.waiting),
            std::mem::take(&mut state.arrivals),
        )
    }
}

impl Drop for PushMedia {
    /// A session that ends on an error reports what its direct sends wrote last.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        state.unreported.report(&state.stats, Instant::now());
    }
}

impl MediaState {
    fn encode(&mut self, item: &StreamItem) -> Forwarded {
        let mut encoder = Encoder {
            writer: &mut self.writer,
            out: &mut self.waiting,
        };
        let forwarded = self.forwarder.forward(item, &mut encoder);
        if let (Forwarded::Sent, StreamItem::Frame(_, arrived)) = (forwarded, item) {
            self.frames += 1;
            self.arrivals.extend(*arrived);
        }
        forwarded
    }
}

impl DirectSink for PushMedia {
    fn encode(&self, item: &StreamItem) {
        self.lock().encode(item);
    }

    fn send(&self) -> bool {
        let Some(mut staged) = self.stage() else {
            return false;
        };
        if staged.waiting.pieces().is_empty() {
            return true;
        }
        let result = crate::engine::send_now(&staged.socket, staged.waiting.pieces());
        staged.waiting.finish(result)
    }

    /// `None` over TLS: only the task writes there.
    fn stage(&self) -> Option<Staged<'_>> {
        let socket = self.socket.as_ref()?;
        let state: &Mutex<dyn WaitingBytes + Send> = &self.state;
        Some(Staged {
            socket: socket.as_fd(),
            waiting: state.lock().unwrap_or_else(|e| e.into_inner()),
        })
    }
}

impl WaitingBytes for MediaState {
    fn pieces(&self) -> &[Bytes] {
        &self.waiting
    }

    fn finish(&mut self, result: std::io::Result<usize>) -> bool {
        // Any error (a full socket, a reset) leaves the bytes to the task, whose
        // write waits for room or reports the error.
        let Ok(written) = result else {
            return false;
        };
        self.unreported.count_bytes(written as u64);
        crate::engine::skip_written(&mut self.waiting, written);
        if !self.waiting.is_empty() {
            return false;
        }
        let frames = std::mem::take(&mut self.frames);
        let arrivals = self.arrivals.drain(..);
        self.unreported
            .count_frames(frames, arrivals, Instant::now(), &self.stats);
        true
    }
}

/// The forwarder's view of the writer: messages appended to the waiting bytes.
struct Encoder<'a> {
    writer: &'a mut MediaWriter,
    out: &'a mut Vec<Bytes>,
}

impl MediaSink for Encoder<'_> {
    fn send_metadata(&mut self, metadata: &Metadata) {
        self.writer.metadata(metadata, self.out);
    }
    fn send_track_config(&mut self, track: &Track, timestamp: u32) {
        self.writer.track_config(track, timestamp, self.out);
    }
    fn send_frame(&mut self, track: &Track, frame: &Frame, timestamp: u32, cts: i32) {
        super::shared_message::append_frame(self.writer, track, frame, timestamp, cts, self.out);
    }
}
