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
use super::shared_burst::{self, BurstEncoding};
use super::unreported_stats::UnreportedStats;
use crate::stream::{BurstFrames, DirectSink, Staged, StreamItem, WaitingBytes};

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
    /// A burst taken whole (`take_burst`), for the next send, in place of
    /// `waiting`, which is empty meanwhile: its bytes are shared with the other
    /// outputs on this thread (`shared_burst`).
    burst: Option<Arc<BurstEncoding>>,
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
                burst: None,
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
        state.keep_burst_as_own(0);
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
        // What is encoded now goes after a burst taken whole.
        self.keep_burst_as_own(0);
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

    /// Moves the bytes of a burst taken whole, less the first `written` of them,
    /// into this output's own waiting bytes, with its frames and their arrivals.
    fn keep_burst_as_own(&mut self, written: usize) {
        let Some(burst) = self.burst.take() else {
            return;
        };
        self.waiting.extend(burst.pieces().iter().cloned());
        crate::engine::skip_written(&mut self.waiting, written);
        self.frames += burst.frames();
        self.arrivals.extend_from_slice(burst.arrivals());
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

    /// Over plain TCP, while nothing of its own waits and the forwarder passes the
    /// burst's frames through: shares this thread's encoding of the burst.
    fn take_burst(&self, frames: &BurstFrames<'_>) -> bool {
        if self.socket.is_none() {
            return false;
        }
        let mut state = self.lock();
        let state = &mut *state;
        let idle = state.waiting.is_empty() && state.burst.is_none();
        if !idle
            || !state
                .forwarder
                .passes_through(frames.frames().map(|(frame, _)| frame))
        {
            return false;
        }
        let Some(burst) = shared_burst::encoding_for(frames, &mut state.writer, &state.forwarder)
        else {
            return false;
        };
        state.forwarder.passed_through(burst.last_ms());
        state.burst = Some(burst);
        true
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
        match &self.burst {
            Some(burst) => burst.pieces(),
            None => &self.waiting,
        }
    }

    fn finish(&mut self, result: std::io::Result<usize>) -> bool {
        // Any error (a full socket, a reset) leaves the bytes to the task, whose
        // write waits for room or reports the error.
        let Ok(written) = result else {
            self.keep_burst_as_own(0);
            return false;
        };
        self.unreported.count_bytes(written as u64);
        if let Some(burst) = &self.burst {
            if written < burst.byte_len() {
                self.keep_burst_as_own(written);
                return false;
            }
            let arrivals = burst.arrivals().iter().copied();
            self.unreported
                .count_frames(burst.frames(), arrivals, Instant::now(), &self.stats);
            self.burst = None;
            return true;
        }
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
        self.writer.frame(track, frame, timestamp, cts, self.out);
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

    fn inter(dts: i64, len: usize) -> StreamItem {
        let frame = Frame {
            track: TrackId::VIDEO,
            dts,
            cts: 40,
            flags: FrameFlags::NONE,
            data: Bytes::from((0..len).map(|i| i as u8).collect::<Vec<_>>()),
        };
        StreamItem::Frame(frame, Some(Instant::now()))
    }

    /// A connected pair on loopback: the output's socket, and the destination's
    /// end, whose reads give up after 5 s.
    fn connected() -> (socket2::Socket, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("address")).expect("c");
        let (server, _) = listener.accept().expect("accept");
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        (socket2::Socket::from(client), server)
    }

    /// A push output over a connected socket, and the destination's end.
    fn output(chunk_size: u32) -> (PushMedia, TcpStream) {
        let (socket, destination) = connected();
        let writer = MediaWriter::new(chunk_size, 1, true);
        (PushMedia::new(writer, Some(socket), stats()), destination)
    }

    /// The bytes `items` make for a fresh output's writer, item by item.
    fn item_by_item(chunk_size: u32, items: &[StreamItem]) -> Vec<u8> {
        let media = PushMedia::new(MediaWriter::new(chunk_size, 1, true), None, stats());
        for item in items {
            media.encode(item);
        }
        media.take_waiting().0.concat()
    }

    fn stats() -> Arc<OutputStats> {
        Arc::new(OutputStats::new(
            "s",
            "o",
            OutputState::Live,
            EventBus::new(),
        ))
    }

    fn read(destination: &mut TcpStream, len: usize) -> Vec<u8> {
        let mut received = vec![0u8; len];
        destination.read_exact(&mut received).expect("read");
        received
    }

    /// Outputs that would encode a burst alike share one encoding of it, and each
    /// destination receives exactly what item-by-item encoding would have sent.
    #[test]
    fn a_burst_taken_whole_is_shared_and_sends_what_its_items_would() {
        let start = [track(), keyframe(Instant::now())];
        let burst = [inter(40, 3000), inter(80, 200), inter(120, 9000)];
        let all: Vec<StreamItem> = start.iter().chain(&burst).cloned().collect();
        let frames = BurstFrames::new(&burst).expect("frames only");

        let (first, mut first_end) = output(60_000);
        let (second, mut second_end) = output(60_000);
        let (small_chunks, mut small_end) = output(128);
        for media in [&first, &second, &small_chunks] {
            assert!(!media.take_burst(&frames), "not started: item by item");
            for item in &start {
                media.encode(item);
            }
            assert!(media.send());
        }
        for media in [&first, &second, &small_chunks] {
            assert!(media.take_burst(&frames));
        }
        let pieces =
            |media: &PushMedia| media.stage().expect("plain TCP").waiting.pieces()[0].as_ptr();
        assert_eq!(pieces(&first), pieces(&second), "one encoding, shared");
        assert_ne!(pieces(&first), pieces(&small_chunks));
        for media in [&first, &second, &small_chunks] {
            assert!(media.send());
        }

        let expected = item_by_item(60_000, &all);
        assert_eq!(read(&mut first_end, expected.len()), expected);
        assert_eq!(read(&mut second_end, expected.len()), expected);
        let expected = item_by_item(128, &all);
        assert_eq!(read(&mut small_end, expected.len()), expected);

        // A discontinuity (a publisher that came back) goes item by item.
        let StreamItem::Frame(mut frame, arrived) = inter(160, 10) else {
            unreachable!()
        };
        frame.flags = FrameFlags::DISCONTINUITY;
        let after_a_gap = [StreamItem::Frame(frame, arrived)];
        assert!(!first.take_burst(&BurstFrames::new(&after_a_gap).expect("a frame")));
    }

    /// What a short send of a shared burst left becomes the output's own, for its
    /// task to write after the bytes that went out.
    #[test]
    fn a_short_send_of_a_shared_burst_leaves_the_rest_to_the_task() {
        let (media, _destination) = output(60_000);
        for item in [track(), keyframe(Instant::now())] {
            media.encode(&item);
        }
        assert!(media.send());
        let burst = [inter(40, 3000), inter(80, 200)];
        assert!(media.take_burst(&BurstFrames::new(&burst).expect("frames")));
        let mut staged = media.stage().expect("plain TCP");
        let whole = staged.waiting.pieces().concat();
        assert!(!staged.waiting.finish(Ok(1000)), "a short send");
        drop(staged);
        assert!(
            !media.take_burst(&BurstFrames::new(&burst).expect("frames")),
            "its own bytes wait"
        );
        let (waiting, arrivals) = media.take_waiting();
        assert_eq!(waiting.concat(), whole[1000..]);
        assert_eq!(arrivals.len(), 2);
    }

    #[test]
    fn direct_sends_report_in_bulk_and_exactly_when_their_counters_are_read() {
        let (socket, mut server) = connected();
        let stats = stats();
        let media = Arc::new(PushMedia::new(
            MediaWriter::new(60_000, 1, true),
            Some(socket),
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
