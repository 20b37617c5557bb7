//! An ADTS audio stream: each PES holds one or more ADTS frames; each becomes a raw
//! AAC `Frame` sliced out of the PES (no copy past the PES assembly), timed from the
//! PES's PTS plus 1024 samples per frame before it.

use bytes::{Bytes, BytesMut};

use super::stream::{Elementary, PesInfo};
use super::{Output, TIMESCALE};
use crate::aac::AudioSpecificConfig;
use crate::media::{AudioCodec, CodecConfig, Frame, FrameFlags, Track, TrackId};
use crate::mpegts::adts::{Adts, AdtsError, AdtsHeader};

/// Samples in one raw_data_block of AAC.
const SAMPLES_PER_BLOCK: i64 = 1024;

#[derive(Debug)]
pub(super) struct Audio {
    pes: BytesMut,
    max_pes_len: usize,
    overflow: bool,
    adts: Option<Adts>,
    track: Option<(Track, u32)>,
    announced: bool,
    /// Where the frame after the last one falls: the time of a PES without a PTS.
    next_dts: Option<i64>,
}

impl Audio {
    pub(super) fn new(max_pes_len: usize) -> Self {
        Self {
            pes: BytesMut::new(),
            max_pes_len,
            overflow: false,
            adts: None,
            track: None,
            announced: false,
            next_dts: None,
        }
    }

    /// The track of an ADTS configuration, with its sample rate; `None` for a
    /// reserved sampling frequency index.
    fn configure(&mut self, adts: Adts) -> Option<u32> {
        if self.adts != Some(adts) {
            let specific = adts.audio_specific_config();
            let asc = AudioSpecificConfig::parse(&specific).ok()?;
            let track = Track {
                id: TrackId::AUDIO,
                timescale: TIMESCALE,
                config: CodecConfig::Audio {
                    codec: AudioCodec::Aac,
                    specific: Bytes::copy_from_slice(&specific),
                    sample_rate: asc.sample_rate,
                    channels: asc.channels,
                },
            };
            self.adts = Some(adts);
            if self.track.as_ref().map(|(t, _)| t) != Some(&track) {
                self.track = Some((track, asc.sample_rate));
                self.announced = false;
            }
        }
        self.track.as_ref().map(|(_, rate)| *rate)
    }
}

impl Elementary for Audio {
    fn body(&mut self, data: &[u8]) {
        if self.overflow {
            return;
        }
        if self.pes.len() + data.len() > self.max_pes_len {
            self.overflow = true;
            self.pes.clear();
            return;
        }
        self.pes.extend_from_slice(data);
    }

    fn abandon(&mut self, _out: &mut Output) {
        self.pes.clear();
        self.overflow = false;
    }

    fn end(&mut self, pes: PesInfo, out: &mut Output) {
        if std::mem::take(&mut self.overflow) {
            out.stats.dropped_pes += 1;
            return;
        }
        let data = self.pes.split().freeze();
        let Some(start) = pes.stamp.map(|s| s.pts).or(self.next_dts) else {
            out.stats.dropped_pes += 1;
            return;
        };
        let mut at = 0;
        // Blocks of 1024 samples since `start`, and the rate they were counted at.
        let mut blocks = 0;
        let mut rate = None;
        let mut first = true;
        while let Some(rest) = data.get(at..).filter(|rest| !rest.is_empty()) {
            let header = match AdtsHeader::parse(rest) {
                Ok(header) => header,
                Err(AdtsError::Truncated) => {
                    out.stats.dropped_frames += 1;
                    break;
                }
                Err(AdtsError::NoSync | AdtsError::BadLength) => {
                    // Skip to the next syncword candidate.
                    out.stats.dropped_frames += 1;
                    match next_sync(rest) {
                        Some(skip) => {
                            at += skip;
                            continue;
                        }
                        None => break,
                    }
                }
            };
            let frame_blocks = i64::from(header.extra_blocks) + 1;
            let dts = rate.map_or(start, |rate| start.saturating_add(offset(blocks, rate)));
            // `parse` checked header_len < frame_len <= rest.len().
            let raw = rest
                .get(header.header_len..header.frame_len)
                .map(|raw| data.slice_ref(raw))
                .unwrap_or_default();
            at += header.frame_len;
            let Some(sample_rate) = self.configure(header.adts) else {
                out.stats.dropped_frames += 1;
                continue;
            };
            rate = Some(sample_rate);
            blocks += frame_blocks;
            if header.extra_blocks > 0 {
                // Several raw_data_blocks in one frame: not split here (nor by FFmpeg's
                // ADTS-to-ASC conversion).
                out.stats.dropped_frames += 1;
                continue;
            }
            let mut flags = FrameFlags::KEYFRAME;
            if std::mem::take(&mut first) && pes.discontinuity {
                flags = flags.with(FrameFlags::DISCONTINUITY);
            }
            if let Some((track, _)) = &self.track {
                let frame = Frame {
                    track: TrackId::AUDIO,
                    dts,
                    cts: 0,
                    flags,
                    data: raw,
                };
                out.emit(track, &mut self.announced, frame);
            }
        }
        if let Some(rate) = rate {
            self.next_dts = Some(start.saturating_add(offset(blocks, rate)));
        }
    }
}

/// 90 kHz ticks of `blocks` blocks at `rate` Hz, rounded to the nearest tick.
fn offset(blocks: i64, rate: u32) -> i64 {
    let rate = i64::from(rate.max(1));
    (blocks * SAMPLES_PER_BLOCK * i64::from(TIMESCALE) + rate / 2) / rate
}

/// Bytes to skip to the next possible ADTS syncword after the first byte of `data`.
fn next_sync(data: &[u8]) -> Option<usize> {
    data.windows(2)
        .skip(1)
        .position(|w| matches!(w, [0xFF, b] if b & 0xF6 == 0xF0))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_to_the_nearest_tick() {
        // 1024 samples at 44.1 kHz are 2089.796 ticks. (FFmpeg lands on a grid counted
        // from time 0 instead, so its times can differ from these by one tick.)
        let got: Vec<i64> = (1..=5).map(|i| offset(i, 44_100)).collect();
        assert_eq!(got, [2090, 4180, 6269, 8359, 10449]);
        assert_eq!(offset(3, 48_000), 5760);
    }

    #[test]
    fn sync_search() {
        assert_eq!(next_sync(&[0xFF, 0xF1, 0, 0xFF, 0xF9]), Some(3));
        assert_eq!(next_sync(&[0xFF, 0xFF, 0xF1]), Some(1));
        assert_eq!(next_sync(&[0xFF, 0xF1, 0xFF]), None);
    }
}
