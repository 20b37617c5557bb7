//! The segmenter of one stream, as a subscriber task on the publisher's core.

use std::sync::Arc;

use super::Segmenting;
use super::disk::{self, DiskState, DiskWriter};
use super::rendition::Rendition;
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
    loop {
        items.clear();
        let more = subscriber.next_batch(&mut items).await;
        let mut ended = !more;
        for item in items.drain(..) {
            match item {
                StreamItem::Track(track) => segmenter.push_track(track),
                StreamItem::Frame(frame, _) => segmenter.push_frame(frame),
                StreamItem::PublisherGone => segmenter.flush(),
                StreamItem::Ended => ended = true,
                StreamItem::Metadata(_) => {}
            }
        }
        if ended {
            segmenter.flush();
        }
        rendition.apply(segmenter.take_events(), unix_ms());
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
