//! One encoding per thread of a burst of frames, shared by every caught-up push
//! output on the thread that would encode it alike.
//!
//! Once an output is steady (`Forwarder::passes_through`: started, every config
//! sent), its bytes for a burst's frames depend only on its writer's settings, its
//! timestamp offset and its tracks, and those are the same for nearly every
//! destination. So the first output on a thread that takes a burst whole
//! (`DirectSink::take_burst`) encodes it here, and the outputs after it point their
//! sends at the same pieces: no clone of the pieces, no list of arrival times and
//! no forwarder step per output and frame, which is what the relay's floor does
//! (BENCHMARKS.md, "One encoding per burst"). An output copies the pieces into its
//! own waiting bytes only when its send falls short.
//!
//! The encodings are kept for the burst being delivered only: the next burst
//! replaces them (`BurstFrames::id`).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use protocol_parsers::media::Track;
use protocol_parsers::rtmp::{MediaWriter, WriterSettings};

use super::forwarder::Forwarder;
use crate::stream::BurstFrames;

/// Distinct encodings of one burst kept for the outputs after the first; beyond
/// them (as many kinds of output as that on one thread) an output encodes alone.
const MAX_ENCODINGS: usize = 4;

thread_local! {
    static ENCODINGS: RefCell<Encodings> = const {
        RefCell::new(Encodings { burst: 0, kept: Vec::new() })
    };
}

/// This thread's encodings of burst `burst`.
struct Encodings {
    burst: u64,
    kept: Vec<Arc<BurstEncoding>>,
}

/// A burst's frames as one output's messages, which every output that would
/// encode them alike shares.
#[derive(Debug)]
pub struct BurstEncoding {
    settings: WriterSettings,
    offset_ms: i64,
    tracks: Vec<Arc<Track>>,
    pieces: Vec<Bytes>,
    len: usize,
    frames: u64,
    arrivals: Vec<Instant>,
    last_ms: i64,
}

impl BurstEncoding {
    /// The messages' bytes, in order.
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// Bytes in `pieces`.
    pub fn byte_len(&self) -> usize {
        self.len
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// When each frame reached the stream, where known.
    pub fn arrivals(&self) -> &[Instant] {
        &self.arrivals
    }

    /// The latest output time among the frames (ms).
    pub fn last_ms(&self) -> i64 {
        self.last_ms
    }

    /// Whether an output with `writer` and `forwarder` would encode the burst into
    /// these very bytes.
    fn fits(&self, writer: &MediaWriter, forwarder: &Forwarder) -> bool {
        self.settings == writer.settings()
            && self.offset_ms == forwarder.offset_ms()
            && same_tracks(&self.tracks, forwarder.tracks())
    }

    /// `burst` as the output with `writer` and `forwarder` sends it; `None` when
    /// the output does not know a frame's track.
    fn encode(
        burst: &BurstFrames<'_>,
        writer: &mut MediaWriter,
        forwarder: &Forwarder,
    ) -> Option<Self> {
        let mut encoding = Self {
            settings: writer.settings(),
            offset_ms: forwarder.offset_ms(),
            tracks: forwarder.tracks().to_vec(),
            pieces: Vec::new(),
            len: 0,
            frames: 0,
            arrivals: Vec::new(),
            // A burst holds at least one frame, which sets it.
            last_ms: i64::MIN,
        };
        for (frame, arrived) in burst.frames() {
            let track = forwarder.track(frame)?;
            let (out_ms, cts) = forwarder.timing(track, frame);
            // RTMP timestamps are 32-bit milliseconds and wrap (spec 5.3.1.3).
            writer.frame(track, frame, out_ms as u32, cts, &mut encoding.pieces);
            encoding.last_ms = encoding.last_ms.max(out_ms);
            encoding.frames += 1;
            encoding.arrivals.extend(arrived);
        }
        encoding.len = encoding.pieces.iter().map(Bytes::len).sum();
        Some(encoding)
    }
}

/// The same tracks, in the same order: the same `Arc`s, or equal ones.
fn same_tracks(a: &[Arc<Track>], b: &[Arc<Track>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(a, b)| Arc::ptr_eq(a, b) || **a == **b)
}

/// `burst` as the output with `writer` and `forwarder` sends it, where the
/// forwarder passes the burst through (`Forwarder::passes_through`): the encoding
/// made on this thread for an earlier output if it fits, else one made now and
/// kept for the outputs after this one. `None` when the output does not know a
/// frame's track.
pub fn encoding_for(
    burst: &BurstFrames<'_>,
    writer: &mut MediaWriter,
    forwarder: &Forwarder,
) -> Option<Arc<BurstEncoding>> {
    ENCODINGS.with(|encodings| {
        let mut encodings = encodings.borrow_mut();
        if encodings.burst != burst.id() {
            encodings.burst = burst.id();
            encodings.kept.clear();
        }
        if let Some(kept) = encodings
            .kept
            .iter()
            .find(|kept| kept.fits(writer, forwarder))
        {
            return Some(Arc::clone(kept));
        }
        let encoding = Arc::new(BurstEncoding::encode(burst, writer, forwarder)?);
        if encodings.kept.len() < MAX_ENCODINGS {
            encodings.kept.push(Arc::clone(&encoding));
        }
        Some(encoding)
    })
}
