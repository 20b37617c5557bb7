//! A video stream's access units: AVCC frames, a `Track` announced before the first
//! frame and again whenever the parameter sets change, keyframes from the NAL types.

use super::Output;
use super::TIMESCALE;
use super::avcc_writer::AvccWriter;
use super::parameter_sets::ParameterSets;
use super::stream::{Elementary, PesInfo};
use crate::media::{Frame, FrameFlags, Track, TrackId, VideoCodec};

#[derive(Debug)]
pub(super) struct Video {
    pub(super) codec: VideoCodec,
    writer: AvccWriter,
    parameter_sets: ParameterSets,
    track: Option<Track>,
    /// The current `track` went out ahead of a frame.
    announced: bool,
}

impl Video {
    pub(super) fn new(codec: VideoCodec, max_pes_len: usize) -> Self {
        Self {
            codec,
            writer: AvccWriter::new(codec, max_pes_len),
            parameter_sets: ParameterSets::new(codec),
            track: None,
            announced: false,
        }
    }
}

impl Video {
    /// Takes in parameter sets; a changed configuration is a new track.
    fn learn(&mut self, parameter_sets: Vec<bytes::Bytes>, out: &mut Output) {
        if parameter_sets.is_empty() {
            return;
        }
        let update = self.parameter_sets.update(parameter_sets);
        out.stats.parameter_set_errors += update.rejected;
        if !update.changed {
            return;
        }
        if let Some(config) = self.parameter_sets.config() {
            let track = Track {
                id: TrackId::VIDEO,
                timescale: TIMESCALE,
                config,
            };
            if self.track.as_ref() != Some(&track) {
                self.track = Some(track);
                self.announced = false;
            }
        }
    }
}

impl Elementary for Video {
    fn body(&mut self, data: &[u8]) {
        self.writer.put(data);
    }

    /// A damaged access unit is dropped, but the parameter sets that arrived whole
    /// before the damage are kept: when the first IDR of a stream is hit, the frames
    /// after it still go out (as a relay would pass them) instead of waiting a whole
    /// GOP for the next IDR's parameter sets.
    fn abandon(&mut self, out: &mut Output) {
        let salvaged = self.writer.take_parameter_sets();
        self.writer.reset();
        self.learn(salvaged, out);
    }

    fn end(&mut self, pes: PesInfo, out: &mut Output) {
        let Some(unit) = self.writer.finish() else {
            out.stats.dropped_pes += 1;
            return;
        };
        self.learn(unit.parameter_sets, out);
        if unit.data.is_empty() {
            return;
        }
        let Some(track) = &self.track else {
            out.stats.frames_before_config += 1;
            return;
        };
        let Some(stamp) = pes.stamp else {
            out.stats.dropped_pes += 1;
            return;
        };
        let Some(Ok(cts)) = stamp.pts.checked_sub(stamp.dts).map(i32::try_from) else {
            out.stats.dropped_pes += 1;
            return;
        };
        let mut flags = FrameFlags::NONE;
        if unit.keyframe {
            flags = flags.with(FrameFlags::KEYFRAME);
        }
        if pes.discontinuity {
            flags = flags.with(FrameFlags::DISCONTINUITY);
        }
        let frame = Frame {
            track: TrackId::VIDEO,
            dts: stamp.dts,
            cts,
            flags,
            data: unit.data,
        };
        out.emit(track, &mut self.announced, frame);
    }
}
