#![allow(clippy::indexing_slicing, clippy::expect_used, dead_code)]
//! Reading a whole FLV file into tracks and frames through Manifold's own demuxer,
//! for the tests that feed the test clip to a muxer (`ts_ffprobe.rs` here, and the
//! server crate's `tests/cmaf_writer.rs`, which includes this file by path).

use std::path::Path;

use bytes::Bytes;
use protocol_parsers::media::{Frame, Track};
use protocol_parsers::rtmp::media::{MediaDemuxer, MediaEvent};

/// Every track and frame of an FLV file, through Manifold's own demuxer.
pub fn demux_flv(path: &Path) -> (Vec<Track>, Vec<Frame>) {
    let data = Bytes::from(std::fs::read(path).expect("read FLV"));
    assert_eq!(&data[..3], b"FLV");
    let mut at = 9 + 4; // header, then PreviousTagSize0
    let mut demuxer = MediaDemuxer::default();
    let (mut tracks, mut frames) = (Vec::<Track>::new(), Vec::new());
    while at + 11 <= data.len() {
        let kind = data[at];
        let size = u32::from_be_bytes([0, data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let timestamp =
            u32::from_be_bytes([data[at + 7], data[at + 4], data[at + 5], data[at + 6]]);
        let body = data.slice(at + 11..at + 11 + size);
        at += 11 + size + 4;
        let event = match kind {
            8 => demuxer.audio(timestamp, &body),
            9 => demuxer.video(timestamp, &body),
            _ => continue,
        };
        match event.expect("the clip demuxes") {
            Some(MediaEvent::Track(track)) => {
                tracks.retain(|t| t.id != track.id);
                tracks.push(track);
            }
            Some(MediaEvent::Frame(frame)) => frames.push(frame),
            _ => {}
        }
    }
    tracks.sort_by_key(|t| t.id.0);
    (tracks, frames)
}
