//! SRT read: a stream muxed to MPEG-TS for SRT viewers (ffplay, VLC,
//! srt-live-transmit), 7 TS packets (1316 bytes) to a datagram at most.
//!
//! Each reader muxes for itself: one copy of each frame into TS packets per reader.
//! A shared per-stream TS feed would make that one copy per stream; readers are few
//! next to HLS viewers, so this waits until it is measured to matter.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol_parsers::media::{Track, TrackKind};
use protocol_parsers::mpegts::{PACKET_LEN, TsMuxer};

use crate::ingest::srt::{Peer, SrtWorker};
use crate::stream::{Stream, StreamItem, Subscriber};

/// TS packets per SRT payload: 1316 bytes, what every SRT implementation sends.
const PACKETS_PER_DATAGRAM: usize = 7;
/// Past the reader's latency, for its last ACK and the scheduling of its delivery.
const LINGER_MARGIN: Duration = Duration::from_millis(100);

/// Turns stream items into MPEG-TS: tables before every video keyframe, nothing
/// before the first keyframe, a new muxer when a track changes.
#[derive(Default)]
pub struct TsOutput {
    tracks: Vec<Arc<Track>>,
    muxer: Option<TsMuxer>,
    started: bool,
}

impl TsOutput {
    /// Appends the TS bytes for `item` to `out`; false once the stream has ended.
    pub fn push(&mut self, item: &StreamItem, out: &mut Vec<Bytes>) -> bool {
        match item {
            StreamItem::Track(track) => {
                self.tracks.retain(|t| t.id != track.id);
                self.tracks.push(Arc::clone(track));
                self.muxer = None;
            }
            StreamItem::Frame(frame, _) => {
                let has_video = self.tracks.iter().any(|t| t.kind() == TrackKind::Video);
                let is_video = self
                    .tracks
                    .iter()
                    .any(|t| t.id == frame.track && t.kind() == TrackKind::Video);
                let random_access = if has_video {
                    is_video && frame.is_keyframe()
                } else {
                    true
                };
                if !self.started && !random_access {
                    return true;
                }
                if self.muxer.is_none() {
                    let tracks: Vec<&Track> = self.tracks.iter().map(|t| &**t).collect();
                    match TsMuxer::new(&tracks) {
                        Ok(muxer) => self.muxer = Some(muxer),
                        Err(e) => {
                            tracing::debug!(error = %e, "stream cannot be muxed to MPEG-TS");
                            return true;
                        }
                    }
                }
                let Some(muxer) = self.muxer.as_mut() else {
                    return true;
                };
                if random_access && (is_video || !self.started) {
                    out.push(muxer.tables());
                }
                self.started = true;
                match muxer.frame(frame) {
                    Ok(bytes) => out.push(bytes),
                    Err(e) => tracing::debug!(error = %e, "frame left out of the SRT output"),
                }
            }
            StreamItem::Ended => return false,
            StreamItem::Metadata(_) | StreamItem::PublisherGone => {}
        }
        true
    }
}

/// Splits TS bytes into SRT payloads without copying.
pub fn payloads(ts: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let step = PACKETS_PER_DATAGRAM * PACKET_LEN;
    (0..ts.len())
        .step_by(step)
        .map(move |at| ts.slice(at..(at + step).min(ts.len())))
}

/// Feeds one SRT reader until it or the stream ends.
/// Before saying goodbye at the end of the stream, waits until the reader has had
/// everything: acknowledged, and its latency passed (libsrt discards what its TSBPD
/// buffer still holds when it gets a shutdown). Bounded by the sender's own give-up
/// time, so a reader that stopped answering does not hold the connection.
async fn linger(worker: &SrtWorker, id: u32, peer: &Rc<RefCell<Peer>>) {
    let start = Instant::now();
    let latency = peer.borrow().conn.peer_latency();
    let delivered = start + latency + LINGER_MARGIN;
    let give_up = delivered + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        {
            let peer = peer.borrow();
            let done = peer.conn.in_flight() == 0 && now >= delivered;
            if peer.closed.is_some() || done || now >= give_up {
                break;
            }
        }
        compio::time::sleep(Duration::from_millis(10)).await;
    }
    {
        let mut peer = peer.borrow_mut();
        peer.conn.close(Instant::now());
        peer.closed.get_or_insert_with(|| "stream ended".into());
    }
    worker.drive(id, peer).await;
}

pub(crate) async fn serve(
    worker: Rc<SrtWorker>,
    id: u32,
    peer: Rc<RefCell<Peer>>,
    stream: Arc<Stream>,
    subscriber: Arc<Subscriber>,
) {
    let mut output = TsOutput::default();
    let mut batch = Vec::new();
    let mut ts = Vec::new();
    loop {
        batch.clear();
        let more = subscriber.next_batch(&mut batch).await;
        if peer.borrow().closed.is_some() {
            break;
        }
        let mut ended = !more;
        {
            let mut peer = peer.borrow_mut();
            let now = Instant::now();
            for item in &batch {
                ts.clear();
                if !output.push(item, &mut ts) {
                    ended = true;
                }
                for bytes in &ts {
                    for payload in payloads(bytes) {
                        peer.conn.send(now, payload);
                    }
                }
            }
        }
        worker.drive(id, &peer).await;
        if ended {
            linger(&worker, id, &peer).await;
            break;
        }
    }
    stream.unsubscribe(&subscriber);
    tracing::info!(
        stream = stream.name(),
        dropped = subscriber.dropped_frames(),
        "SRT reader left"
    );
}
