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

    /// Adds what direct sends counted to the output's shared counters now.
    pub fn report_unreported(&self) {
        let mut state = self.lock();
        let state = &mut *state;
        state.unreported.report(&state.stats, Instant::now());
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

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;

    use protocol_parsers::media::{CodecConfig, FrameFlags, TrackId, VideoCodec};

    use super::*;
    use crate::events::EventBus;
    use crate::outputs::OutputState;

    fn track() -> StreamItem {
        StreamItem::Track(Arc::new(Track {
            id: TrackId::VIDEO,
            timescale: 1000,
            config: CodecConfig::Video {
                codec: VideoCodec::H264,
                record: Bytes::from_static(&[1, 0x64, 0, 0x28, 0xff, 0xe1]),
                width: 1920,
                height: 1080,
            },
        }))
    }

    fn keyframe(arrived: Instant) -> StreamItem {
        let frame = Frame {
            track: TrackId::VIDEO,
            dts: 0,
            cts: 0,
            flags: FrameFlags::KEYFRAME,
            data: Bytes::from(vec![7u8; 5000]),
        };
        StreamItem::Frame(frame, Some(arrived))
    }

    #[test]
    fn direct_sends_report_in_bulk_and_exactly_when_their_counters_are_read() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("address")).expect("c");
        let (mut server, _) = listener.accept().expect("accept");
        let stats = Arc::new(OutputStats::new(
            "s",
            "o",
            OutputState::Live,
            EventBus::new(),
        ));
        let media = Arc::new(PushMedia::new(
            MediaWriter::new(60_000, 1, true),
            Some(socket2::Socket::from(client)),
            Arc::clone(&stats),
        ));
        stats.count_direct_sends_of(&media);

        media.encode(&track());
        media.encode(&keyframe(Instant::now()));
        assert!(media.send(), "a fresh socket took everything");
        // Within `REPORT_INTERVAL` of its creation the send only counted.
        assert_eq!(stats.bytes.load(Relaxed), 0);
        assert_eq!(stats.frames.load(Relaxed), 0);

        stats.settle();
        let reported = stats.bytes.load(Relaxed);
        let mut received = vec![0u8; reported as usize];
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        server
            .read_exact(&mut received)
            .expect("every reported byte arrived");
        assert!(reported > 5000, "{reported} bytes reported");
        assert_eq!(stats.frames.load(Relaxed), 1);
        assert_eq!(stats.latency.count(), 1);

        // What is counted after that is reported when the media goes away.
        media.encode(&keyframe(Instant::now()));
        assert!(media.send());
        drop(media);
        assert!(stats.bytes.load(Relaxed) > reported + 5000);
        assert_eq!(stats.frames.load(Relaxed), 2);
        stats.settle();
        assert_eq!(stats.latency.count(), 2);
    }
}
