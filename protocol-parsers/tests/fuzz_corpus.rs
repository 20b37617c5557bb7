#![allow(clippy::panic, clippy::expect_used)]
//! Replays every seed and every crash-turned-regression in `fuzz/corpus/<target>/`
//! through the same entry point the fuzz target calls.

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()));
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        run(&data);
        count += 1;
    }
    assert!(count > 0, "corpus {} is empty", dir.display());
}

#[test]
fn amf0_roundtrip_corpus() {
    replay("amf0_roundtrip", protocol_parsers::fuzzing::amf0_roundtrip);
}

#[test]
fn h264_annexb_corpus() {
    replay("h264_annexb", protocol_parsers::fuzzing::h264_annexb);
}

#[test]
fn chunk_decoder_corpus() {
    replay("chunk_decoder", protocol_parsers::fuzzing::chunk_decoder);
}

#[test]
fn handshake_corpus() {
    replay("handshake", protocol_parsers::fuzzing::handshake);
}

#[test]
fn flv_tag_roundtrip_corpus() {
    replay(
        "flv_tag_roundtrip",
        protocol_parsers::fuzzing::flv_tag_roundtrip,
    );
}

#[test]
fn rtmp_server_session_corpus() {
    replay(
        "rtmp_server_session",
        protocol_parsers::fuzzing::rtmp_server_session,
    );
}

#[test]
fn mp4_fragment_corpus() {
    replay("mp4_fragment", protocol_parsers::fuzzing::mp4_fragment);
}

#[test]
fn ts_mux_corpus() {
    replay("ts_mux", protocol_parsers::fuzzing::ts_mux);
}

#[test]
fn http_request_head_corpus() {
    replay(
        "http_request_head",
        protocol_parsers::fuzzing::http_request_head,
    );
}

#[test]
fn srt_packet_corpus() {
    replay("srt_packet", protocol_parsers::fuzzing::srt_packet);
}

#[test]
fn srt_connection_corpus() {
    replay("srt_connection", protocol_parsers::fuzzing::srt_connection);
}

#[test]
fn srt_key_material_corpus() {
    replay(
        "srt_key_material",
        protocol_parsers::fuzzing::srt_key_material,
    );
}

#[test]
fn ts_demux_corpus() {
    replay("ts_demux", protocol_parsers::fuzzing::ts_demux);
}

#[test]
fn ts_roundtrip_corpus() {
    replay("ts_roundtrip", protocol_parsers::fuzzing::ts_roundtrip);
}
