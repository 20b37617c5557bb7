//! What every push output and RTMP player repeats for each frame: one publisher
//! tick (an AAC frame and a 17 KB video frame, as in `relay-bench`) cut into RTMP
//! chunks at the 4096-byte chunk size Manifold announces. At N outputs this runs
//! N times per tick, so it is the per-output user-space cost of relaying.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use protocol_parsers::rtmp::chunk::ChunkEncoder;
use protocol_parsers::rtmp::message::{MessageType, csid};

const VIDEO_BYTES: usize = 17_000;
const AUDIO_BYTES: usize = 340;

fn output_tick(c: &mut Criterion) {
    let video = Bytes::from(vec![0xAB; VIDEO_BYTES]);
    let audio = Bytes::from(vec![0xCD; AUDIO_BYTES]);
    // FLV tag headers: AVC NALU with a zero composition time, AAC raw.
    let video_header = Bytes::from_static(&[0x27, 1, 0, 0, 0]);
    let audio_header = Bytes::from_static(&[0xAF, 1]);
    let mut group = c.benchmark_group("output_tick");
    let mut encoder = ChunkEncoder::new();
    encoder.set_chunk_size(4096);
    let mut timestamp = 0u32;
    let mut tick = |encoder: &mut ChunkEncoder, pieces: &mut Vec<Bytes>| {
        timestamp = timestamp.wrapping_add(33);
        let audio_payload = [audio_header.clone(), audio.clone()];
        encoder.write_message(
            csid::AUDIO,
            timestamp,
            MessageType::AUDIO,
            1,
            &audio_payload,
            pieces,
        );
        let video_payload = [video_header.clone(), video.clone()];
        encoder.write_message(
            csid::VIDEO,
            timestamp,
            MessageType::VIDEO,
            1,
            &video_payload,
            pieces,
        );
    };
    let mut reused = Vec::new();
    tick(&mut encoder, &mut reused);
    let bytes: usize = reused.iter().map(Bytes::len).sum();
    assert!(
        bytes > VIDEO_BYTES + AUDIO_BYTES,
        "the tick must carry both frames"
    );
    reused.clear();
    // The chunking alone, into a vector kept across ticks.
    group.bench_function("audio_and_video_17k_reused_vector", |b| {
        b.iter(|| {
            tick(&mut encoder, &mut reused);
            let pieces = reused.len();
            reused.clear();
            pieces
        })
    });
    // As a session does it: each transmit takes its vector, so the next tick's grows anew.
    group.bench_function("audio_and_video_17k_new_vector", |b| {
        b.iter(|| {
            let mut pieces = Vec::new();
            tick(&mut encoder, &mut pieces);
            pieces.len()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(4));
    targets = output_tick
}
criterion_main!(benches);
