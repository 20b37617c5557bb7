//! The segmenter of one stream, as a subscriber task on the publisher's core.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use protocol_parsers::media::TrackKind;

use super::Segmenting;
use super::disk::{self, DiskState, DiskWriter};
use super::rendition::Rendition;
use super::segmenter::MuxEvent;
use super::segmenter::Segmenter;
use crate::stream::{QueueLimits, Stream, StreamItem};

pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Segments `stream` into `rendition` until the stream ends.
pub async fn run(
    stream: Arc<Stream>,
    rendition: Arc<Rendition>,
    queue: QueueLimits,
    owner: Arc<Segmenting>,
    disk: Option<Arc<DiskWriter>>,
) {
    let mut on_disk = DiskState::default();
    let subscriber = stream.subscribe(queue);
    let mut segmenter = Segmenter::new(rendition.lock().config);
    let mut items = Vec::new();
    // Video keyframes seen and when they reached the stream, by dts, until the part
    // that starts with each is servable.
    let mut keyframes: VecDeque<(i64, Instant)> = VecDeque::new();
    loop {
        items.clear();
        let more = subscriber.next_batch(&mut items).await;
        let mut ended = !more;
        for item in items.drain(..) {
            match item {
                StreamItem::Track(track) => segmenter.push_track(track),
                StreamItem::Frame(frame, arrived) => {
                    if let Some(arrived) = arrived.filter(|_| frame.is_keyframe()) {
                        if frame.track == protocol_parsers::media::TrackId::VIDEO {
                            if keyframes.len() >= 16 {
                                keyframes.pop_front();
                            }
                            keyframes.push_back((frame.dts, arrived));
                        }
                    }
                    segmenter.push_frame(frame)
                }
                StreamItem::PublisherGone => segmenter.flush(),
                StreamItem::Ended => ended = true,
                StreamItem::Metadata(_) => {}
            }
        }
        if ended {
            segmenter.flush();
        }
        let events = segmenter.take_events();
        let started: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                MuxEvent::Part {
                    kind: TrackKind::Video,
                    start_dts,
                    independent: true,
                    ..
                } => Some(*start_dts),
                _ => None,
            })
            .collect();
        rendition.apply(events, unix_ms());
        // Servable from here on: the parts are in the rendition's window.
        let now = Instant::now();
        for dts in started {
            if let Some(index) = keyframes.iter().position(|(d, _)| *d == dts) {
                if let Some((_, arrived)) = keyframes.remove(index) {
                    rendition
                        .keyframe_to_servable
                        .record(now.duration_since(arrived));
                }
            }
        }
        if let Some(writer) = &disk {
            let ladder = owner.ladder(&rendition.stream);
            let reference = owner
                .find(&rendition.stream)
                .unwrap_or_else(|| Arc::clone(&rendition));
            disk::sync(writer, &rendition, &ladder, &reference, &mut on_disk);
        }
        if ended {
            break;
        }
    }
    stream.unsubscribe(&subscriber);
    rendition.set_ended(true);
    owner.forget(&rendition);
    tracing::info!(stream = stream.name(), rendition = %rendition.name, dropped = subscriber.dropped_frames(), "segmenter ended");
}
