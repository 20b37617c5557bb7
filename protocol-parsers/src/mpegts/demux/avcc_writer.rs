//! Annex B to AVCC/HVCC as the bytes arrive (ITU-T H.264 / H.265 Annex B): start codes
//! become 4-byte lengths while the PES payload is copied out of its TS packets, so a
//! video frame is assembled with that one copy. Access unit delimiters are dropped and
//! parameter sets set aside, as MP4, FLV and this crate's `Frame` carry them out of band.

use bytes::{BufMut, Bytes, BytesMut};

use crate::h265;
use crate::media::VideoCodec;

/// The length prefix written in front of every NAL unit.
const LENGTH_SIZE: usize = 4;
/// Parameter sets kept from one access unit; more are dropped.
const MAX_PARAMETER_SETS_PER_AU: usize = 32;
/// A parameter set longer than this is dropped. Real ones are tens to hundreds of
/// bytes (an SPS with scaling lists and HRD parameters stays under 1 KiB).
const MAX_PARAMETER_SET_LEN: usize = 8 * 1024;

/// What a NAL unit is to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Copied into the frame.
    Frame,
    /// Dropped: access unit delimiters.
    Drop,
    /// Set aside: VPS, SPS, PPS.
    ParameterSet,
}

/// Where the bytes being read go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// Before the first start code: nothing.
    Leading,
    /// Right after a start code: the next byte is the NAL header.
    Header,
    /// Into the frame; the NAL unit's length prefix is at `at`.
    Frame {
        at: usize,
    },
    Drop,
    ParameterSet,
}

/// One access unit's NAL units, in AVCC form, and its parameter sets.
#[derive(Debug)]
pub(super) struct AvccWriter {
    codec: VideoCodec,
    out: BytesMut,
    sink: Sink,
    /// Zero bytes just read: two or more before a 0x01 make a start code, and are
    /// not part of the NAL unit before it (trailing_zero_8bits included).
    zeros: usize,
    /// The parameter set being read, then those already read.
    parameter_set: Vec<u8>,
    parameter_sets: Vec<Bytes>,
    keyframe: bool,
    max_len: usize,
    /// The access unit outgrew `max_len`; it will be dropped.
    overflow: bool,
}

/// A finished access unit.
#[derive(Debug)]
pub(super) struct AccessUnit {
    /// Length-prefixed NAL units; empty when the PES held only parameter sets or
    /// delimiters.
    pub(super) data: Bytes,
    pub(super) keyframe: bool,
    /// The VPS/SPS/PPS NAL units it carried, in stream order.
    pub(super) parameter_sets: Vec<Bytes>,
}

impl AvccWriter {
    pub(super) fn new(codec: VideoCodec, max_len: usize) -> Self {
        Self {
            codec,
            out: BytesMut::new(),
            sink: Sink::Leading,
            zeros: 0,
            parameter_set: Vec::new(),
            parameter_sets: Vec::new(),
            keyframe: false,
            max_len,
            overflow: false,
        }
    }

    /// The parameter sets read whole so far (one still being read is not among
    /// them), taken out.
    pub(super) fn take_parameter_sets(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.parameter_sets)
    }

    /// Drops whatever was written: a new access unit starts.
    pub(super) fn reset(&mut self) {
        self.out.clear();
        self.sink = Sink::Leading;
        self.zeros = 0;
        self.parameter_set.clear();
        self.parameter_sets.clear();
        self.keyframe = false;
        self.overflow = false;
    }

    /// Reads the next piece of the Annex B stream.
    pub(super) fn put(&mut self, mut data: &[u8]) {
        // Every start code ends in 0x01; what decides is the run of zeros before it,
        // which may have begun in an earlier piece.
        while let Some(one) = data.iter().position(|&b| b == 1) {
            let (before, rest) = data.split_at(one);
            let zeros = self.zeros_after(before);
            if zeros >= 2 {
                self.write(before);
                self.end_nal(zeros);
                self.sink = Sink::Header;
                data = rest.get(1..).unwrap_or_default();
            } else {
                let (upto, after) = data.split_at(one + 1);
                self.write(upto);
                data = after;
            }
            self.zeros = 0;
        }
        self.zeros = self.zeros_after(data);
        self.write(data);
    }

    /// The run of zero bytes at the end of what was read, once `data` is read too.
    fn zeros_after(&self, data: &[u8]) -> usize {
        let run = data.iter().rev().take_while(|&&b| b == 0).count();
        if run == data.len() {
            self.zeros + run
        } else {
            run
        }
    }

    /// The access unit so far, and a fresh start for the next one; `None` if it grew
    /// past the limit.
    pub(super) fn finish(&mut self) -> Option<AccessUnit> {
        self.end_nal(self.zeros);
        let overflow = self.overflow;
        let unit = AccessUnit {
            data: self.out.split().freeze(),
            keyframe: self.keyframe,
            parameter_sets: std::mem::take(&mut self.parameter_sets),
        };
        self.reset();
        (!overflow).then_some(unit)
    }

    fn write(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.sink == Sink::Header {
            let Some((&header, _)) = data.split_first() else {
                return;
            };
            self.start_nal(header);
        }
        match self.sink {
            Sink::Leading | Sink::Drop | Sink::Header => {}
            Sink::Frame { .. } => {
                if self.out.len() + data.len() > self.max_len {
                    self.overflow = true;
                    self.sink = Sink::Drop;
                    return;
                }
                self.out.put_slice(data);
            }
            Sink::ParameterSet => {
                if self.parameter_set.len() + data.len() > MAX_PARAMETER_SET_LEN {
                    self.sink = Sink::Drop;
                    self.parameter_set.clear();
                    return;
                }
                self.parameter_set.extend_from_slice(data);
            }
        }
    }

    /// Takes back the last `n` bytes written to the current sink.
    fn unwrite(&mut self, n: usize) {
        match self.sink {
            Sink::Frame { at } => {
                let keep = self.out.len().saturating_sub(n).max(at + LENGTH_SIZE);
                self.out.truncate(keep);
            }
            Sink::ParameterSet => {
                let keep = self.parameter_set.len().saturating_sub(n);
                self.parameter_set.truncate(keep);
            }
            _ => {}
        }
    }

    fn start_nal(&mut self, header: u8) {
        let role = match self.codec {
            VideoCodec::H265 => {
                let nal_type = h265::nal_type(header);
                self.keyframe |= h265::is_irap(nal_type);
                match nal_type {
                    h265::NAL_AUD => Role::Drop,
                    h265::NAL_VPS | h265::NAL_SPS | h265::NAL_PPS => Role::ParameterSet,
                    _ => Role::Frame,
                }
            }
            _ => {
                let nal_type = header & 0x1F;
                self.keyframe |= nal_type == H264_IDR;
                match nal_type {
                    H264_AUD => Role::Drop,
                    H264_SPS | H264_PPS => Role::ParameterSet,
                    _ => Role::Frame,
                }
            }
        };
        self.sink = match role {
            Role::Frame if self.overflow => Sink::Drop,
            Role::Frame => {
                let at = self.out.len();
                self.out.put_bytes(0, LENGTH_SIZE);
                Sink::Frame { at }
            }
            Role::Drop => Sink::Drop,
            Role::ParameterSet => Sink::ParameterSet,
        };
    }

    /// Closes the NAL unit being written, less the `zeros` that ended it.
    fn end_nal(&mut self, zeros: usize) {
        self.unwrite(zeros);
        match self.sink {
            Sink::Frame { at } => {
                let len = self.out.len() - (at + LENGTH_SIZE);
                match (u32::try_from(len), self.out.get_mut(at..at + LENGTH_SIZE)) {
                    (Ok(len), Some(prefix)) if len > 0 => {
                        prefix.copy_from_slice(&len.to_be_bytes())
                    }
                    _ => self.out.truncate(at),
                }
            }
            Sink::ParameterSet => {
                if !self.parameter_set.is_empty()
                    && self.parameter_sets.len() < MAX_PARAMETER_SETS_PER_AU
                {
                    self.parameter_sets
                        .push(Bytes::copy_from_slice(&self.parameter_set));
                }
                self.parameter_set.clear();
            }
            _ => {}
        }
        self.sink = Sink::Leading;
    }
}

const H264_IDR: u8 = 5;
const H264_SPS: u8 = 7;
const H264_PPS: u8 = 8;
const H264_AUD: u8 = 9;

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in `chunk`-byte pieces.
    fn convert(codec: VideoCodec, stream: &[u8], chunk: usize) -> AccessUnit {
        let mut w = AvccWriter::new(codec, 1 << 20);
        for piece in stream.chunks(chunk) {
            w.put(piece);
        }
        w.finish().unwrap()
    }

    #[test]
    fn h264_start_codes_of_both_lengths_any_chunking() {
        let stream = [
            &[0, 0, 0, 1, 0x09, 0xF0][..],             // AUD: dropped
            &[0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28][..], // SPS: set aside
            &[0, 0, 1, 0x68, 0xEB, 0xE3][..],          // PPS
            &[0, 0, 1, 0x06, 0x05, 0x01, 0x80][..],    // SEI
            &[0, 0, 1, 0x65, 0x88, 0x00, 0x00, 0x03, 0x01, 0x84][..], // IDR
            &[0, 0, 0, 1, 0x01, 0x01, 0x00, 0x02][..], // non-reference slice
            &[0, 0][..],                               // trailing_zero_8bits
        ]
        .concat();
        let want = [
            &[0, 0, 0, 4, 0x06, 0x05, 0x01, 0x80][..],
            &[0, 0, 0, 7, 0x65, 0x88, 0x00, 0x00, 0x03, 0x01, 0x84][..],
            &[0, 0, 0, 4, 0x01, 0x01, 0x00, 0x02][..],
        ]
        .concat();
        for chunk in 1..=stream.len() {
            let au = convert(VideoCodec::H264, &stream, chunk);
            assert_eq!(au.data.as_ref(), want, "chunk {chunk}");
            assert!(au.keyframe);
            assert_eq!(
                au.parameter_sets,
                [
                    Bytes::from_static(&[0x67, 0x64, 0x00, 0x28]),
                    Bytes::from_static(&[0x68, 0xEB, 0xE3])
                ]
            );
        }
    }

    #[test]
    fn hevc_irap_and_parameter_sets() {
        let stream = [
            &[0, 0, 0, 1, 0x46, 0x01, 0x50][..], // AUD
            &[0, 0, 0, 1, 0x40, 0x01, 0x0C][..], // VPS
            &[0, 0, 0, 1, 0x42, 0x01, 0x01][..], // SPS
            &[0, 0, 0, 1, 0x44, 0x01, 0xC1][..], // PPS
            &[0, 0, 1, 0x28, 0x01, 0xAF][..],    // CRA (21)
        ]
        .concat();
        let au = convert(VideoCodec::H265, &stream, 3);
        assert_eq!(au.data.as_ref(), [0, 0, 0, 3, 0x28, 0x01, 0xAF]);
        assert!(au.keyframe);
        assert_eq!(au.parameter_sets.len(), 3);
        let au = convert(VideoCodec::H265, &[0, 0, 1, 0x02, 0x01, 0xD0], 2);
        assert!(!au.keyframe);
        assert_eq!(au.data.as_ref(), [0, 0, 0, 3, 0x02, 0x01, 0xD0]);
    }

    #[test]
    fn garbage_before_the_first_start_code_and_empty_nal_units() {
        let stream = [0xAB, 0x01, 0, 0, 1, 0, 0, 1, 0x41, 0x9A, 0, 0, 0, 1];
        let au = convert(VideoCodec::H264, &stream, 1);
        assert_eq!(au.data.as_ref(), [0, 0, 0, 2, 0x41, 0x9A]);
        assert!(!au.keyframe);
        assert!(convert(VideoCodec::H264, &[], 1).data.is_empty());
    }

    #[test]
    fn overflow_drops_the_access_unit_and_the_next_is_fine() {
        let mut w = AvccWriter::new(VideoCodec::H264, 100);
        w.put(&[0, 0, 1, 0x65]);
        w.put(&[0x11; 200]);
        assert!(w.finish().is_none());
        w.put(&[0, 0, 1, 0x41, 0x22]);
        assert_eq!(w.finish().unwrap().data.as_ref(), [0, 0, 0, 2, 0x41, 0x22]);
    }
}
