//! The MPEG-TS demuxer: for any bytes, cut anywhere, it never panics and
//! - how the input is cut changes nothing: events and stats equal those of one push;
//! - every frame follows its track's `Track` event, on the video or audio track id,
//!   and the `Track`s it announces are ones `TsMuxer` accepts, with frames `TsMuxer`
//!   writes (video: length-prefixed NAL units, none an AUD or a parameter set);
//! - `stats().frames` counts the frames handed out.
//!
//! Input: a chunking byte, then the stream: 0 pushes it whole, 1 a byte at a time,
//! 2 in SRT datagrams of 7 packets, n > 2 in pseudo-random pieces of 1 to 16 n bytes.
//! Seeds in `fuzz/corpus/ts_demux/` are FFmpeg output cut to a few KB behind a
//! chunking byte (provenance in `fuzz/corpus/README.md`), and damaged copies of them.

use crate::Limits;
use crate::h265;
use crate::media::{CodecConfig, Frame, Track, TrackId, VideoCodec};
use crate::mpegts::{DemuxEvent, DemuxStats, PACKET_LEN, TsDemuxer, TsMuxer};

/// Fuzz entry point. Panics only when an invariant breaks, which is a bug.
pub fn ts_demux(data: &[u8]) {
    let Some((&chunking, stream)) = data.split_first() else {
        return;
    };
    let (events, stats) = demux_in_pieces(stream, chunking);
    let (whole, whole_stats) = demux_in_pieces(stream, 0);
    assert_eq!(stats, whole_stats, "the cut changed the stats");
    assert!(events == whole, "the cut changed the events");
    check_events(&events, &stats);
}

/// Every event of `stream` pushed in pieces as `chunking` says (0: whole; 1: bytes;
/// 2: SRT datagrams of 7 packets; n > 2: pseudo-random pieces of 1 to 16 n bytes),
/// draining after each push as the drive rule says, then flushed. The event queue is
/// unbounded here so that one push of everything drops nothing either.
pub fn demux_in_pieces(stream: &[u8], chunking: u8) -> (Vec<DemuxEvent>, DemuxStats) {
    let limits = Limits {
        ts_max_pending_events: usize::MAX,
        ..Limits::default()
    };
    let mut demuxer = TsDemuxer::with_limits(&limits);
    let mut events = Vec::new();
    let mut state = u64::from(chunking) | 1;
    let mut rest = stream;
    while !rest.is_empty() {
        let n = match chunking {
            0 => rest.len(),
            1 => 1,
            2 => 7 * PACKET_LEN,
            _ => {
                // xorshift64
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                1 + (state % (16 * u64::from(chunking))) as usize
            }
        };
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        demuxer.push(piece);
        rest = tail;
        events.extend(std::iter::from_fn(|| demuxer.poll_event()));
    }
    demuxer.flush();
    events.extend(std::iter::from_fn(|| demuxer.poll_event()));
    (events, demuxer.stats())
}

fn check_events(events: &[DemuxEvent], stats: &DemuxStats) {
    let (mut video, mut audio): (Option<Track>, Option<Track>) = (None, None);
    let mut muxer = None;
    let mut frames = 0;
    for event in events {
        match event {
            DemuxEvent::Track(track) => {
                assert_eq!(track.timescale, 90_000);
                assert!(
                    matches!(track.id, TrackId::VIDEO | TrackId::AUDIO),
                    "track id {:?}",
                    track.id
                );
                if track.id == TrackId::VIDEO {
                    video = Some(track.clone());
                } else {
                    audio = Some(track.clone());
                }
                let tracks: Vec<&Track> = video.iter().chain(audio.iter()).collect();
                let made = TsMuxer::new(&tracks);
                assert!(made.is_ok(), "TsMuxer rejects {track:?}: {:?}", made.err());
                muxer = made.ok();
            }
            DemuxEvent::Frame(frame) => {
                frames += 1;
                let track = if frame.track == TrackId::VIDEO {
                    video.as_ref()
                } else {
                    assert_eq!(frame.track, TrackId::AUDIO);
                    audio.as_ref()
                };
                assert!(track.is_some(), "frame before its track: {frame:?}");
                if let Some(CodecConfig::Video { codec, .. }) = track.map(|t| &t.config) {
                    check_nal_units(frame, *codec);
                }
                if let Some(muxer) = muxer.as_mut() {
                    let muxed = muxer.frame(frame);
                    assert!(
                        muxed.is_ok(),
                        "TsMuxer rejects {frame:?}: {:?}",
                        muxed.err()
                    );
                }
            }
        }
    }
    assert_eq!(stats.frames, frames);
}

/// Length-prefixed, non-empty NAL units that tile the frame, without AUDs or
/// parameter sets (those travel in the track).
fn check_nal_units(frame: &Frame, codec: VideoCodec) {
    let mut rest: &[u8] = &frame.data;
    assert!(!rest.is_empty(), "empty video frame");
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let split = tail.split_at_checked(len);
        assert!(
            split.is_some(),
            "NAL length {len} past the end of {frame:?}"
        );
        let (nal, tail) = split.unwrap_or_default();
        let header = nal.first().copied();
        assert!(header.is_some(), "empty NAL unit in {frame:?}");
        let header = header.unwrap_or_default();
        let out_of_band = match codec {
            VideoCodec::H265 => (h265::NAL_VPS..=h265::NAL_AUD).contains(&h265::nal_type(header)),
            _ => matches!(header & 0x1F, 7..=9),
        };
        assert!(!out_of_band, "AUD or parameter set in {frame:?}");
        rest = tail;
    }
    assert!(rest.is_empty(), "trailing bytes in {frame:?}");
}
