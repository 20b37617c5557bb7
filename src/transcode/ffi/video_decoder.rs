//! One H.264 or HEVC decoder per source, fed the frame model's length-prefixed
//! access units with the track's avcC/hvcC record as extradata.

use ffmpeg_next as ff;
use protocol_parsers::media::{Frame, VideoCodec};

use super::{VideoFrame, decoder_context, error, packet_of};

pub struct VideoDecoder {
    inner: ff::decoder::Video,
}

impl VideoDecoder {
    /// `timescale` is the ticks per second of the frames' timestamps; decoded
    /// pictures come back with their pts in the same unit.
    pub fn open(
        codec: VideoCodec,
        record: &[u8],
        timescale: u32,
        threads: usize,
    ) -> Result<Self, String> {
        let id = match codec {
            VideoCodec::H264 => ff::codec::Id::H264,
            VideoCodec::H265 => ff::codec::Id::HEVC,
            other => return Err(format!("no decoder for {other:?} sources")),
        };
        let mut decoder = decoder_context(id, record, timescale)?;
        decoder.set_threading(ff::threading::Config {
            kind: ff::threading::Type::Frame,
            count: threads,
            ..Default::default()
        });
        let inner = decoder
            .video()
            .map_err(|e| error("opening the video decoder", e))?;
        Ok(Self { inner })
    }

    pub fn send(&mut self, frame: &Frame) -> Result<(), String> {
        match self.inner.send_packet(&packet_of(frame)) {
            Ok(()) => Ok(()),
            // Corrupt input is reported per frame and skipped; the next keyframe heals.
            Err(ff::Error::InvalidData) => Err("undecodable video frame".into()),
            Err(e) => Err(error("video decoder", e)),
        }
    }

    /// The next decoded picture, if one is ready.
    pub fn receive(&mut self) -> Option<VideoFrame> {
        let mut picture = VideoFrame::empty();
        self.inner.receive_frame(&mut picture).ok().map(|()| {
            let pts = picture.timestamp();
            picture.set_pts(pts);
            picture
        })
    }

    /// Drains what the decoder still holds (end of a publisher's session); the
    /// decoder then accepts a new stream.
    pub fn drain(&mut self, mut each: impl FnMut(VideoFrame)) {
        if self.inner.send_eof().is_ok() {
            while let Some(picture) = self.receive() {
                each(picture);
            }
        }
        self.inner.flush();
    }
}
