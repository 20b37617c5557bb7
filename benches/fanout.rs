//! Fan-out cost: one frame pushed by the publisher into N subscriber queues
//! (refcount only, no payload copy), reported per frame; divide by N for the
//! per-subscriber figure (BENCHMARKS.md does).

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use manifold::config::Config;
use manifold::stream::{QueueLimits, Registry};
use protocol_parsers::media::{CodecConfig, Frame, FrameFlags, Track, TrackId, VideoCodec};

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout_per_frame");
    let mut config = Config::default();
    config.ingest.allow_undeclared = true;
    let registry = Registry::new(&config);
    let origin = manifold::stream::Origin::new("rtmp", ([127, 0, 0, 1], 1935).into());
    let publisher = registry.publish("live", "bench", origin).expect("publish");
    publisher.push_track(Track {
        id: TrackId::VIDEO,
        timescale: 1000,
        config: CodecConfig::Video {
            codec: VideoCodec::H264,
            record: Bytes::new(),
            width: 1920,
            height: 1080,
        },
    });
    let payload = Bytes::from(vec![0u8; 18_000]);
    for subscribers in [1usize, 100, 10_000] {
        let subs: Vec<_> = (0..subscribers)
            .map(|_| publisher.stream().subscribe(QueueLimits::default()))
            .collect();
        let mut sink = Vec::new();
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let frame = Frame {
                        track: TrackId::VIDEO,
                        dts: i as i64,
                        cts: 0,
                        flags: if i % 60 == 0 {
                            FrameFlags::KEYFRAME
                        } else {
                            FrameFlags::NONE
                        },
                        data: payload.clone(),
                    };
                    let start = Instant::now();
                    publisher.push_frame(frame);
                    total += start.elapsed();
                    // Subscribers drain between frames, as live outputs do; not timed.
                    for sub in &subs {
                        sub.drain_now(&mut sink);
                        sink.clear();
                    }
                }
                total
            });
        });
        for sub in &subs {
            publisher.stream().unsubscribe(sub);
            assert_eq!(sub.dropped_frames(), 0, "a draining subscriber never drops");
        }
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
