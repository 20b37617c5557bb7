//! Audio: the source's track decoded once, then per rendition resampled and encoded
//! to AAC (FFmpeg's native encoder) or Opus at 48 kHz (libopus). A sample FIFO cuts
//! whatever the decoder hands out into the encoder's fixed frame size.

use bytes::Bytes;
use ff::ChannelLayout;
use ff::format::Sample;
use ff::format::sample::Type as SampleType;
use ff::software::resampling;
use ffmpeg_next as ff;
use protocol_parsers::media::{AudioCodec, CodecConfig, Frame};

use super::{AudioFrame, decoder_context, error, extradata, packet_of};

pub struct AudioDecoder {
    inner: ff::decoder::Audio,
}

impl AudioDecoder {
    pub fn open(codec: AudioCodec, specific: &[u8], timescale: u32) -> Result<Self, String> {
        let id = match codec {
            AudioCodec::Aac => ff::codec::Id::AAC,
            AudioCodec::Opus => ff::codec::Id::OPUS,
            AudioCodec::Mp3 => ff::codec::Id::MP3,
            other => return Err(format!("no decoder for {other:?} audio")),
        };
        let inner = decoder_context(id, specific, timescale)?
            .audio()
            .map_err(|e| error("opening the audio decoder", e))?;
        Ok(Self { inner })
    }

    pub fn send(&mut self, frame: &Frame) -> Result<(), String> {
        self.inner
            .send_packet(&packet_of(frame))
            .map_err(|e| error("audio decoder", e))
    }

    pub fn receive(&mut self) -> Option<AudioFrame> {
        let mut samples = AudioFrame::empty();
        self.inner.receive_frame(&mut samples).ok().map(|()| {
            if samples.channel_layout().bits() == 0 {
                samples.set_channel_layout(ChannelLayout::default(i32::from(samples.channels())));
            }
            samples
        })
    }
}

/// The audio codec a rendition encodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioTarget {
    Aac,
    Opus,
}

pub struct AudioEncoder {
    inner: ff::encoder::audio::Encoder,
    config: CodecConfig,
    format: Sample,
    layout: ChannelLayout,
    rate: u32,
    channels: u16,
    frame_size: usize,
    resampler: Option<resampling::Context>,
    /// Samples waiting for a whole encoder frame, one byte vector per plane.
    fifo: Vec<Vec<u8>>,
    fifo_samples: usize,
    /// The pts (in samples at `rate`) of the first sample in the FIFO.
    next_pts: Option<i64>,
}

// SAFETY: the resampler (SwrContext) has no thread affinity; the rendition that owns
// this encoder uses it from one thread at a time.
unsafe impl Send for AudioEncoder {}

impl AudioEncoder {
    /// `source_rate` is kept where the target allows it; Opus is always 48 kHz.
    /// More than two channels are mixed down to stereo.
    pub fn open(
        target: AudioTarget,
        bitrate: u64,
        source_rate: u32,
        source_channels: u16,
    ) -> Result<Self, String> {
        super::init()?;
        let (name, format, rate, codec) = match target {
            AudioTarget::Aac => (
                "aac",
                Sample::F32(SampleType::Planar),
                if AAC_RATES.contains(&source_rate) {
                    source_rate
                } else {
                    48_000
                },
                AudioCodec::Aac,
            ),
            AudioTarget::Opus => (
                "libopus",
                Sample::F32(SampleType::Packed),
                48_000,
                AudioCodec::Opus,
            ),
        };
        let channels: u16 = if source_channels >= 2 { 2 } else { 1 };
        let layout = ChannelLayout::default(i32::from(channels));
        let encoder_codec = ff::encoder::find_by_name(name)
            .ok_or_else(|| format!("this FFmpeg build has no {name} encoder"))?;
        let mut context = ff::codec::Context::new_with_codec(encoder_codec);
        context.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        let mut encoder = context.encoder().audio().map_err(|e| error(name, e))?;
        encoder.set_rate(rate as i32);
        encoder.set_format(format);
        encoder.set_channel_layout(layout);
        encoder.set_channels(i32::from(channels));
        encoder.set_time_base(ff::Rational::new(1, rate as i32));
        encoder.set_bit_rate(usize::try_from(bitrate).unwrap_or(usize::MAX));
        let inner = encoder
            .open()
            .map_err(|e| error(&format!("opening {name}"), e))?;
        let frame_size = match inner.frame_size() {
            0 => 1024,
            n => n as usize,
        };
        let config = CodecConfig::Audio {
            codec,
            specific: Bytes::from(extradata(&inner)),
            sample_rate: rate,
            channels: channels as u8,
        };
        let planes = if format.is_planar() {
            channels as usize
        } else {
            1
        };
        Ok(Self {
            inner,
            config,
            format,
            layout,
            rate,
            channels,
            frame_size,
            resampler: None,
            fifo: vec![Vec::new(); planes],
            fifo_samples: 0,
            next_pts: None,
        })
    }

    pub fn config(&self) -> &CodecConfig {
        &self.config
    }

    /// Samples per second of the encoded track (its timescale).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Queues decoded samples whose first sample is at `pts` (in samples at this
    /// encoder's rate) when nothing is buffered yet.
    pub fn send(&mut self, samples: &AudioFrame, pts: i64) -> Result<(), String> {
        let source = (samples.format(), samples.channel_layout(), samples.rate());
        let stale = self.resampler.as_ref().is_none_or(|r| {
            let input = r.input();
            (input.format, input.channel_layout, input.rate) != source
        });
        if stale {
            self.resampler = Some(
                resampling::Context::get(
                    source.0,
                    source.1,
                    source.2,
                    self.format,
                    self.layout,
                    self.rate,
                )
                .map_err(|e| error("swresample", e))?,
            );
        }
        let resampler = self.resampler.as_mut().ok_or("resampler missing")?;
        // Room for every sample this input makes at the output rate, plus what the
        // resampler held back (ffmpeg-next would size it to the input, which loses
        // samples inside swresample on every call when upsampling, as to Opus).
        let capacity = samples.samples() * self.rate as usize / (source.2.max(1) as usize) + 256;
        let mut converted = AudioFrame::new(self.format, capacity, self.layout);
        resampler
            .run(samples, &mut converted)
            .map_err(|e| error("swresample", e))?;
        // The timeline follows the input: counted on from the first samples, and
        // taken again from the input when they part by more than a frame (audio
        // dropped upstream), so a gap never shifts the rest against the video.
        let expected = self.next_pts.map(|next| next + self.fifo_samples as i64);
        if expected.is_none_or(|e| (pts - e).abs() > self.frame_size as i64) {
            self.fifo.iter_mut().for_each(Vec::clear);
            self.fifo_samples = 0;
            self.next_pts = Some(pts);
        }
        let count = converted.samples();
        let bytes = self.plane_bytes(count);
        for (plane, fifo) in self.fifo.iter_mut().enumerate() {
            let data = converted.data(plane);
            fifo.extend_from_slice(data.get(..bytes).ok_or("resampler output too short")?);
        }
        self.fifo_samples += count;
        while self.fifo_samples >= self.frame_size {
            self.encode_one()?;
        }
        Ok(())
    }

    fn plane_bytes(&self, samples: usize) -> usize {
        let per_sample = self.format.bytes();
        if self.format.is_planar() {
            samples * per_sample
        } else {
            samples * per_sample * self.channels as usize
        }
    }

    fn encode_one(&mut self) -> Result<(), String> {
        let mut frame = AudioFrame::new(self.format, self.frame_size, self.layout);
        frame.set_rate(self.rate);
        let bytes = self.plane_bytes(self.frame_size);
        for (plane, fifo) in self.fifo.iter_mut().enumerate() {
            let out = frame.data_mut(plane);
            let (Some(dst), Some(src)) = (out.get_mut(..bytes), fifo.get(..bytes)) else {
                return Err("audio frame buffer too small".into());
            };
            dst.copy_from_slice(src);
            fifo.drain(..bytes);
        }
        self.fifo_samples -= self.frame_size;
        let pts = self.next_pts.unwrap_or(0);
        frame.set_pts(Some(pts));
        self.next_pts = Some(pts + self.frame_size as i64);
        self.inner
            .send_frame(&frame)
            .map_err(|e| error("audio encoder", e))
    }

    /// The next encoded frame: (pts in samples, payload).
    pub fn receive(&mut self) -> Option<(i64, Bytes)> {
        let mut packet = ff::Packet::empty();
        self.inner.receive_packet(&mut packet).ok()?;
        Some((packet.pts()?, Bytes::copy_from_slice(packet.data()?)))
    }
}

/// Sample rates AAC-LC signals without an escape value.
const AAC_RATES: [u32; 9] = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
