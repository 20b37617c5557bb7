//! One encoding of a frame's RTMP message per thread, shared by every push output
//! that the thread writes the frame to.
//!
//! A push output's bytes for a frame depend only on its writer's settings (chunk
//! size, message stream id), the frame, its track and the output timestamp, and
//! those are the same for nearly every destination. So the first output on a
//! thread encodes the message (chunk headers, FLV tag header, payload slices) and
//! the outputs after it clone those pieces, instead of each building its own
//! headers and slicing the payload again. The pieces are shared, not copied: a
//! contiguous copy per core, which would spare the outputs two of their three
//! clones, measured slower at N = 100 in relay-bench (BENCHMARKS.md, "One
//! encoding per core").
//!
//! Delivery offers each item to all of a thread's subscribers before the next
//! item (`stream::delivery`), so remembering the last message is enough. The entry
//! keeps the frame's payload alive, so its address identifies those bytes for as
//! long as it is compared; an output whose settings or timestamp differ (another
//! chunk size, a timestamp offset after a publisher reconnect) encodes its own.
//! A thread holds at most that one message, until it encodes the next.

use std::cell::RefCell;

use bytes::Bytes;
use protocol_parsers::media::{Frame, FrameFlags, Track};
use protocol_parsers::rtmp::{MediaWriter, WriterSettings};

thread_local! {
    /// The last frame message encoded on this thread.
    static LAST: RefCell<Option<Encoded>> = const { RefCell::new(None) };
}

/// What a frame message's bytes depend on, besides the track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MessageKey {
    settings: WriterSettings,
    payload_start: usize,
    payload_len: usize,
    flags: FrameFlags,
    timestamp: u32,
    cts: i32,
}

struct Encoded {
    key: MessageKey,
    track: Track,
    /// Held so that no other payload can start at `key.payload_start` meanwhile.
    _payload: Bytes,
    message: Vec<Bytes>,
}

/// Appends the chunks of `frame`'s message to `out`, as `writer.frame` would: the
/// bytes encoded on this thread for the same message if there are any, else
/// encoded now and remembered.
pub fn append_frame(
    writer: &mut MediaWriter,
    track: &Track,
    frame: &Frame,
    timestamp: u32,
    cts: i32,
    out: &mut Vec<Bytes>,
) {
    let key = MessageKey {
        settings: writer.settings(),
        payload_start: frame.data.as_ptr() as usize,
        payload_len: frame.data.len(),
        flags: frame.flags,
        timestamp,
        cts,
    };
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some(encoded) = last
            .as_ref()
            .filter(|encoded| encoded.key == key && encoded.track == *track)
        {
            out.extend(encoded.message.iter().cloned());
            return;
        }
        let mut pieces = Vec::with_capacity(4);
        writer.frame(track, frame, timestamp, cts, &mut pieces);
        out.extend(pieces.iter().cloned());
        *last = Some(Encoded {
            key,
            track: track.clone(),
            _payload: frame.data.clone(),
            message: pieces,
        });
    });
}

#[cfg(test)]
mod tests {
    use protocol_parsers::media::{CodecConfig, TrackId, VideoCodec};

    use super::*;

    fn video_track(codec: VideoCodec) -> Track {
        Track {
            id: TrackId::VIDEO,
            timescale: 1000,
            config: CodecConfig::Video {
                codec,
                record: Bytes::from_static(&[1, 0x64, 0, 0x28, 0xff, 0xe1]),
                width: 1920,
                height: 1080,
            },
        }
    }

    fn frame(len: usize, key: bool) -> Frame {
        Frame {
            track: TrackId::VIDEO,
            dts: 40,
            cts: 80,
            flags: if key {
                FrameFlags::KEYFRAME
            } else {
                FrameFlags::NONE
            },
            data: Bytes::from((0..len).map(|i| i as u8).collect::<Vec<_>>()),
        }
    }

    fn own_encoding(
        writer: &mut MediaWriter,
        track: &Track,
        frame: &Frame,
        timestamp: u32,
    ) -> Vec<u8> {
        let mut pieces = Vec::new();
        writer.frame(track, frame, timestamp, 80, &mut pieces);
        pieces.concat()
    }

    fn shared_encoding(
        writer: &mut MediaWriter,
        track: &Track,
        frame: &Frame,
        timestamp: u32,
    ) -> Vec<u8> {
        pieces(writer, track, frame, timestamp).concat()
    }

    fn pieces(
        writer: &mut MediaWriter,
        track: &Track,
        frame: &Frame,
        timestamp: u32,
    ) -> Vec<Bytes> {
        let mut out = Vec::new();
        append_frame(writer, track, frame, timestamp, 80, &mut out);
        out
    }

    /// Each output gets exactly the bytes its own writer would have produced,
    /// shared where they are equal and its own where anything they depend on differs.
    #[test]
    fn outputs_share_a_message_only_when_their_bytes_would_be_equal() {
        let mut first = MediaWriter::new(60_000, 1, true);
        let mut second = MediaWriter::new(60_000, 1, true);
        let mut small_chunks = MediaWriter::new(128, 1, true);
        let mut other_stream = MediaWriter::new(60_000, 5, true);
        let track = video_track(VideoCodec::H264);
        // Larger than 128 bytes, so the small chunk size adds continuation headers.
        let frame = frame(1000, true);

        let first_pieces = pieces(&mut first, &track, &frame, 40);
        let a = first_pieces.concat();
        assert_eq!(a, own_encoding(&mut first, &track, &frame, 40));
        let second_pieces = pieces(&mut second, &track, &frame, 40);
        assert_eq!(second_pieces.concat(), a);
        // The same chunk header, not an equal one: the encoding was shared.
        assert_eq!(second_pieces[0].as_ptr(), first_pieces[0].as_ptr());

        for writer in [&mut small_chunks, &mut other_stream] {
            let own = own_encoding(writer, &track, &frame, 40);
            let got = shared_encoding(writer, &track, &frame, 40);
            assert_eq!(got, own);
            assert_ne!(got, a);
        }
        // Another output timestamp (an offset after a reconnect), another track
        // config, another frame with the same length: each encoded anew.
        let got = shared_encoding(&mut first, &track, &frame, 1040);
        assert_eq!(got, own_encoding(&mut first, &track, &frame, 1040));
        let hevc = video_track(VideoCodec::H265);
        let got = shared_encoding(&mut first, &hevc, &frame, 1040);
        assert_eq!(got, own_encoding(&mut first, &hevc, &frame, 1040));
        assert_ne!(got, own_encoding(&mut first, &track, &frame, 1040));
        let inter = self::frame(1000, false);
        let got = shared_encoding(&mut first, &track, &inter, 1040);
        assert_eq!(got, own_encoding(&mut first, &track, &inter, 1040));
        assert_ne!(got, a, "a keyframe and an inter frame differ");
    }
}
