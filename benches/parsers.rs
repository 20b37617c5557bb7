//! Parser throughput: the RTMP chunk decoder and the FLV tag parser.

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol_parsers::Limits;
use protocol_parsers::flv;
use protocol_parsers::rtmp::chunk::{ChunkDecoder, ChunkEncoder};
use protocol_parsers::rtmp::message::MessageType;

/// A synthetic 1080p-like stream: 30 video frames (one 120 KB keyframe, 29 x 18 KB)
/// and 47 audio frames of 370 B, chunked at 4096 as ffmpeg does after Set Chunk Size.
fn synthetic() -> Vec<u8> {
    let mut enc = ChunkEncoder::new();
    let mut pieces = Vec::new();
    enc.write_message(
        2,
        0,
        MessageType::SET_CHUNK_SIZE,
        0,
        &[Bytes::copy_from_slice(&4096u32.to_be_bytes())],
        &mut pieces,
    );
    enc.set_chunk_size(4096);
    for i in 0..30u32 {
        let size = if i == 0 { 120_000 } else { 18_000 };
        let mut body = vec![0x27u8, 1, 0, 0, 0];
        body.resize(size, 0xAB);
        enc.write_message(
            6,
            i * 33,
            MessageType::VIDEO,
            1,
            &[Bytes::from(body)],
            &mut pieces,
        );
        for _ in 0..2 {
            let mut body = vec![0xAFu8, 1];
            body.resize(370, 0xCD);
            enc.write_message(
                4,
                i * 33,
                MessageType::AUDIO,
                1,
                &[Bytes::from(body)],
                &mut pieces,
            );
        }
    }
    pieces.concat()
}

fn decode_all(input: &[u8], read_size: usize) -> usize {
    let mut decoder = ChunkDecoder::new(&Limits::default());
    let mut messages = 0;
    for piece in input.chunks(read_size) {
        decoder.push(piece);
        loop {
            match decoder.decode() {
                Ok(Some(_)) => messages += 1,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("decode error after {messages} messages: {e}");
                    return messages;
                }
            }
        }
    }
    messages
}

fn chunk_decoder(c: &mut Criterion) {
    let mut group = c.benchmark_group("chunk_decoder");
    {
        let (name, input) = ("synthetic_1080p", synthetic());
        let messages = decode_all(&input, 64 * 1024);
        eprintln!("{name}: {} bytes, {messages} messages", input.len());
        assert!(messages > 20, "{name} must decode as a real stream");
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| b.iter(|| decode_all(&input, 64 * 1024)));
    }
    group.finish();
}

fn flv_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("flv_parse");
    let mut body = vec![0x17u8, 1, 0, 0, 0x43];
    body.resize(18_000, 0);
    let video = Bytes::from(body);
    group.throughput(Throughput::Bytes(video.len() as u64));
    group.bench_function("avc_nalu_18k", |b| {
        b.iter(|| flv::parse_video(&video).is_ok())
    });
    let audio = Bytes::from_static(&[0xAF, 1, 0x21, 0x10, 0x04, 0x60, 0x8C, 0x1C]);
    group.throughput(Throughput::Elements(1));
    group.bench_function("aac_raw", |b| b.iter(|| flv::parse_audio(&audio).is_ok()));
    group.finish();
}

criterion_group!(benches, chunk_decoder, flv_parse);
criterion_main!(benches);
