//! A rendition whose pipeline fails mid-stream restarts itself alone: a picture
//! that cannot be converted (no pixel format, as a broken decode would hand over)
//! makes swscale fail; that rendition counts a restart, reopens its encoder at the
//! next picture, which leaves as a keyframe, and loses nothing after it. A second
//! rendition of the same source that did not see the bad picture never restarts.
//! Real libx264 and swscale, a real registry and subscriber; no mock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol_parsers::media::TrackId;

use super::super::ffi::{VideoEncoder, VideoFrame};
use super::super::profile::{EncoderKind, Profile};
use super::super::stats::RenditionStats;
use super::{RenditionWorker, Work};
use crate::config::{Config, ProfileConfig};
use crate::stream::{QueueLimits, Registry, StreamItem, Subscriber};

const SIZE: (u32, u32) = (320, 180);
const FRAME_MS: i64 = 33;

fn start(registry: &Arc<Registry>, name: &str) -> (Arc<RenditionWorker>, Arc<Subscriber>) {
    let config = ProfileConfig {
        name: name.into(),
        height: SIZE.1,
        video_bitrate: "300k".into(),
        preset: "ultrafast".into(),
        ..ProfileConfig::default()
    };
    let profile = Arc::new(Profile::resolve(&config, 2.0).expect("a valid profile"));
    let stream = registry.rendition(&format!("main/{name}"));
    let subscriber = stream.subscribe(QueueLimits::DEFAULT);
    let worker = RenditionWorker::start(
        profile,
        EncoderKind::X264,
        stream,
        Arc::clone(registry),
        Arc::new(|_| {}),
    )
    .expect("rendition thread");
    (worker, subscriber)
}

fn picture(index: i64, good: bool) -> Work {
    let mut picture = if good {
        let mut grey = VideoFrame::new(
            VideoEncoder::input_format(EncoderKind::X264),
            SIZE.0,
            SIZE.1,
        );
        // A new frame's buffers are not initialised; the encoder gets mid-grey.
        for plane in 0..grey.planes() {
            grey.data_mut(plane).fill(128);
        }
        grey
    } else {
        VideoFrame::empty()
    };
    picture.set_pts(Some(index * FRAME_MS));
    Work::Video {
        picture: Arc::new(picture),
        source_size: SIZE,
        source_key: index == 0,
        gop_anchor: 0,
        timescale: 1000,
        fps: 30,
        arrived: Some(Instant::now()),
    }
}

/// Video frames the rendition published until its stream ended, in order.
fn published_video(subscriber: &Subscriber) -> Vec<(i64, bool)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut items = Vec::new();
    let mut video = Vec::new();
    loop {
        items.clear();
        subscriber.drain_now(&mut items);
        for item in items.drain(..) {
            match item {
                StreamItem::Frame(frame, _) if frame.track == TrackId::VIDEO => {
                    video.push((frame.pts(), frame.is_keyframe()));
                }
                StreamItem::Ended => return video,
                _ => {}
            }
        }
        assert!(
            Instant::now() < deadline,
            "the rendition did not end within 30 s; published so far {video:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_failing_rendition_restarts_alone_on_a_keyframe() {
    let registry = Registry::new(&Config::embedded_default());
    let (failing, failing_out) = start(&registry, "failing");
    let (healthy, healthy_out) = start(&registry, "healthy");
    const BAD: i64 = 30;
    const LAST: i64 = 90;
    for index in 0..LAST {
        // Offer waits while a queue is full, so nothing here is dropped.
        failing.offer(picture(index, index != BAD));
        if index != BAD {
            healthy.offer(picture(index, true));
        }
    }
    failing.offer(Work::SourceEnded);
    healthy.offer(Work::SourceEnded);
    let failing_video = published_video(&failing_out);
    let healthy_video = published_video(&healthy_out);

    assert_eq!(RenditionStats::get(&failing.stats.restarts), 1);
    assert_eq!(RenditionStats::get(&healthy.stats.restarts), 0);
    assert_eq!(RenditionStats::get(&failing.stats.dropped_frames), 0);
    // Every picture after the bad one left the failing rendition, the first of
    // them as a keyframe (the restarted encoder's stream starts decodable).
    let after: Vec<&(i64, bool)> = failing_video
        .iter()
        .filter(|(pts, _)| *pts > BAD * FRAME_MS)
        .collect();
    let expected: Vec<i64> = (BAD + 1..LAST).map(|i| i * FRAME_MS).collect();
    let mut after_pts: Vec<i64> = after.iter().map(|(pts, _)| *pts).collect();
    after_pts.sort_unstable();
    assert_eq!(after_pts, expected, "pictures after the restart");
    assert!(
        after.first().is_some_and(|(_, key)| *key),
        "the restarted encoder's first picture is not a keyframe: {after:?}"
    );
    // The other rendition put out every picture it was given, restart or not.
    let mut healthy_pts: Vec<i64> = healthy_video.iter().map(|(pts, _)| *pts).collect();
    healthy_pts.sort_unstable();
    let given: Vec<i64> = (0..LAST)
        .filter(|&i| i != BAD)
        .map(|i| i * FRAME_MS)
        .collect();
    assert_eq!(healthy_pts, given, "the healthy rendition's pictures");
}
