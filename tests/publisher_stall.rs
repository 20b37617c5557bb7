//! End to end: a publisher that stalls, or leaves, in the middle of a message. The
//! relay keeps a read's finished frames back while a message is still arriving, so
//! that they reach each output in one send with it (`src/stream/held_burst.rs`);
//! that wait is bounded. Here the publisher sends an audio frame and half of a video
//! frame, then nothing more until a player has received that audio frame: it must
//! arrive without the rest. The video frame follows once it is complete, and when
//! the publisher closes the connection in the middle of a message, what it finished
//! is still delivered. On both engines, with the crate's own RTMP client on raw TCP.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::time::Duration;

use common::raw_rtmp::{RawRtmp, send_lossy, status_field};
use common::{ENGINES, Manifold};
use protocol_parsers::rtmp::command::code;
use protocol_parsers::rtmp::message::{MessageType, csid};

const UNDECLARED: &str = "[ingest]\nallow_undeclared = true\n";

/// How long a frame may take to reach the player: generous, it is a deadline.
const ARRIVAL: Duration = Duration::from_secs(10);

/// x264 1080p High SPS and PPS as an AVCDecoderConfigurationRecord.
const AVCC_1080P: &[u8] = &[
    0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78,
    0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c,
    0x60, 0xc6, 0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
];
/// AAC-LC 48 kHz stereo.
const ASC_48K: &[u8] = &[0x11, 0x90];

/// An FLV video tag body: AVC, keyframe or not, a NALU packet with no composition
/// offset, then one length-prefixed NAL unit of `len` bytes of `fill`.
fn video_tag(keyframe: bool, fill: u8, len: usize) -> Vec<u8> {
    let frame_type = if keyframe { 0x17 } else { 0x27 };
    let mut tag = vec![frame_type, 0x01, 0, 0, 0];
    tag.extend_from_slice(&(len as u32).to_be_bytes());
    tag.push(if keyframe { 0x65 } else { 0x41 });
    tag.extend(std::iter::repeat_n(fill, len - 1));
    tag
}

/// An FLV audio tag body: AAC, raw frame, `fill` repeated.
fn audio_tag(fill: u8) -> Vec<u8> {
    let mut tag = vec![0xaf, 0x01];
    tag.extend(std::iter::repeat_n(fill, 200));
    tag
}

/// Whether an FLV tag body received by the player ends in the bytes of `sent`
/// after its tag header (the relay may write the header anew).
fn same_frame(received: &[u8], sent: &[u8], header: usize) -> bool {
    received.ends_with(&sent[header..])
}

fn send_media(publisher: &mut RawRtmp, stream_id: u32, video: bool, timestamp: u32, body: &[u8]) {
    let wire = encode_media(publisher, stream_id, video, timestamp, body);
    send_lossy(&mut publisher.stream, &wire);
}

fn encode_media(
    publisher: &mut RawRtmp,
    stream_id: u32,
    video: bool,
    timestamp: u32,
    body: &[u8],
) -> Vec<u8> {
    let (chunk_stream, type_id) = if video {
        (csid::VIDEO, MessageType::VIDEO)
    } else {
        (csid::AUDIO, MessageType::AUDIO)
    };
    publisher.encode_message(chunk_stream, type_id, stream_id, timestamp, body)
}

/// Sends an audio frame and the first half of a video frame in one write; returns
/// the rest of the video frame's bytes, unsent.
fn audio_then_half_a_video_frame(
    publisher: &mut RawRtmp,
    stream_id: u32,
    timestamp: u32,
    audio: &[u8],
    video: &[u8],
) -> Vec<u8> {
    let mut wire = encode_media(publisher, stream_id, false, timestamp, audio);
    let video_wire = encode_media(publisher, stream_id, true, timestamp + 12, video);
    let half = video_wire.len() / 2;
    wire.extend_from_slice(&video_wire[..half]);
    publisher
        .stream
        .write_all(&wire)
        .expect("write to the relay");
    publisher.stream.flush().expect("flush");
    video_wire[half..].to_vec()
}

fn check(engine: &str) {
    let server = Manifold::start(engine, UNDECLARED);
    let port = server.rtmp_port;
    let mut publisher = RawRtmp::handshake(port);
    let (stream_id, status) = publisher.publish("stall");
    assert_eq!(
        status_field(&status, "code"),
        Some(code::PUBLISH_START),
        "{engine}: {status:?}"
    );
    let mut video_config = vec![0x17, 0x00, 0, 0, 0];
    video_config.extend_from_slice(AVCC_1080P);
    send_media(&mut publisher, stream_id, true, 0, &video_config);
    let mut audio_config = vec![0xaf, 0x00];
    audio_config.extend_from_slice(ASC_48K);
    send_media(&mut publisher, stream_id, false, 0, &audio_config);
    let keyframe = video_tag(true, 0x11, 30_000);
    send_media(&mut publisher, stream_id, true, 0, &keyframe);

    // A player joins; it starts on the keyframe, then gets what follows live.
    let mut player = RawRtmp::handshake(port);
    let played = player.play("stall");
    assert!(
        matches!(
            status_field(&played, "code"),
            Some(code::PLAY_RESET | code::PLAY_START)
        ),
        "{engine}: {played:?}"
    );
    player.wait_media("the keyframe", MessageType::VIDEO, ARRIVAL, |p| {
        same_frame(p, &keyframe, 5)
    });

    // The publisher stalls in the middle of a video frame: the audio frame before it
    // still reaches the player.
    let audio = audio_tag(0x22);
    let inter = video_tag(false, 0x33, 20_000);
    let rest = audio_then_half_a_video_frame(&mut publisher, stream_id, 21, &audio, &inter);
    player.wait_media(
        &format!("{engine}: the audio frame sent before a stalled video frame"),
        MessageType::AUDIO,
        ARRIVAL,
        |p| same_frame(p, &audio, 2),
    );
    publisher.stream.write_all(&rest).expect("write the rest");
    player.wait_media(
        &format!("{engine}: the video frame once complete"),
        MessageType::VIDEO,
        ARRIVAL,
        |p| same_frame(p, &inter, 5),
    );

    // The publisher leaves in the middle of a video frame: the audio frame it
    // finished still reaches the player.
    let last_audio = audio_tag(0x44);
    let unfinished = video_tag(false, 0x55, 20_000);
    audio_then_half_a_video_frame(&mut publisher, stream_id, 63, &last_audio, &unfinished);
    publisher
        .stream
        .shutdown(Shutdown::Both)
        .expect("close the publisher");
    player.wait_media(
        &format!("{engine}: the audio frame sent before the publisher left"),
        MessageType::AUDIO,
        ARRIVAL,
        |p| same_frame(p, &last_audio, 2),
    );
    server.log.wait_for_line(
        &["publisher left", "stream=\"stall\""],
        Duration::from_secs(10),
    );
    assert!(
        !server.log.text().contains("panicked"),
        "{engine}: a panic was logged"
    );
}

#[test]
fn frames_finished_before_a_stalled_or_abandoned_message_still_reach_players() {
    for engine in ENGINES {
        check(engine);
    }
}
