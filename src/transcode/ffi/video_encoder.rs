//! One H.264 encoder per rendition: libx264, NVENC, VA-API or Quick Sync through the
//! same libavcodec API. Output is turned into the frame model at once: AVCC access
//! units and an avcC record built from the encoder's global header.

use bytes::Bytes;
use ffmpeg_next as ff;
use protocol_parsers::h264::annexb;
use protocol_parsers::media::{CodecConfig, VideoCodec};

use super::cuda_scaler::CudaScaler;
use super::hardware::HwFramePool;
use super::{VideoFrame, error, extradata};
use crate::transcode::profile::{EncoderKind, RateControl};

/// What one encoder is opened with.
#[derive(Debug, Clone)]
pub struct VideoEncoderSettings {
    pub kind: EncoderKind,
    pub width: u32,
    pub height: u32,
    /// Ticks per second of the timestamps going in and coming out.
    pub timescale: u32,
    /// Nominal frames per second (rate control and level limits use it).
    pub fps: u32,
    pub bitrate: u64,
    pub rate_control: RateControl,
    pub bframes: u32,
    /// Frames between keyframes when the source gives no reason for one sooner;
    /// keyframes are otherwise forced by the pipeline so every rendition aligns.
    pub keyint: u32,
    pub profile: String,
    pub level: Option<String>,
    pub preset: String,
    pub threads: u32,
    /// Rate-control lookahead in frames (x264, NVENC).
    pub lookahead: u32,
    pub gpu: u32,
    pub vaapi_device: String,
    /// NVENC only: pictures arrive at this size (the decoded source's) and are
    /// scaled on the GPU to `width`x`height`. `None`: they arrive at the output
    /// size, in system memory.
    pub gpu_scale_from: Option<(u32, u32)>,
}

/// Where pictures go before the encoder takes them.
enum HardwareInput {
    /// The encoder reads system memory itself (x264, and NVENC/QSV without GPU
    /// scaling).
    None,
    Vaapi(HwFramePool),
    Cuda(CudaScaler),
}

/// One encoded access unit, in the settings' timescale.
#[derive(Debug)]
pub struct EncodedPacket {
    pub dts: i64,
    pub pts: i64,
    pub keyframe: bool,
    /// Length-prefixed NAL units (AVCC).
    pub data: Bytes,
}

pub struct VideoEncoder {
    inner: ff::encoder::video::Encoder,
    config: CodecConfig,
    hardware: HardwareInput,
}

impl VideoEncoder {
    /// The FFmpeg encoder name behind each kind.
    pub fn codec_name(kind: EncoderKind) -> &'static str {
        match kind {
            EncoderKind::X264 => "libx264",
            EncoderKind::Nvenc => "h264_nvenc",
            EncoderKind::Vaapi => "h264_vaapi",
            EncoderKind::Qsv => "h264_qsv",
        }
    }

    /// The pixel format pictures must have when handed to `send`.
    pub fn input_format(kind: EncoderKind) -> ff::format::Pixel {
        match kind {
            EncoderKind::X264 | EncoderKind::Nvenc => ff::format::Pixel::YUV420P,
            // VA-API surfaces and Quick Sync take NV12; VA-API uploads it.
            EncoderKind::Vaapi | EncoderKind::Qsv => ff::format::Pixel::NV12,
        }
    }

    pub fn open(settings: &VideoEncoderSettings) -> Result<Self, String> {
        super::init()?;
        let name = Self::codec_name(settings.kind);
        let codec = ff::encoder::find_by_name(name)
            .ok_or_else(|| format!("this FFmpeg build has no {name} encoder"))?;
        let mut context = ff::codec::Context::new_with_codec(codec);
        context.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        if settings.kind == EncoderKind::X264 && settings.threads > 0 {
            context.set_threading(ff::threading::Config {
                kind: ff::threading::Type::Frame,
                count: settings.threads as usize,
                ..Default::default()
            });
        }
        let mut encoder = context.encoder().video().map_err(|e| error(name, e))?;
        encoder.set_width(settings.width);
        encoder.set_height(settings.height);
        encoder.set_time_base(ff::Rational::new(1, settings.timescale.max(1) as i32));
        encoder.set_frame_rate(Some(ff::Rational::new(settings.fps.max(1) as i32, 1)));
        encoder.set_gop(settings.keyint.max(1));
        encoder.set_max_b_frames(settings.bframes as usize);
        let bitrate = usize::try_from(settings.bitrate).unwrap_or(usize::MAX);
        encoder.set_bit_rate(bitrate);
        encoder.set_max_bit_rate(bitrate);
        let mut options = ff::Dictionary::new();
        let hardware = match (settings.kind, settings.gpu_scale_from) {
            (EncoderKind::Vaapi, _) => {
                let frames =
                    HwFramePool::vaapi(&settings.vaapi_device, settings.width, settings.height)?;
                frames.attach(&mut encoder)?;
                HardwareInput::Vaapi(frames)
            }
            (EncoderKind::Nvenc, Some(input)) => {
                let scaler = CudaScaler::open(
                    settings.gpu,
                    input,
                    (settings.width, settings.height),
                    settings.timescale,
                )?;
                scaler.attach(&mut encoder)?;
                HardwareInput::Cuda(scaler)
            }
            _ => {
                encoder.set_format(Self::input_format(settings.kind));
                HardwareInput::None
            }
        };
        // A VBV buffer of two seconds: what YouTube and Twitch recommend, and what
        // keeps the rate within a platform's ingest limit over any window.
        set_buffer_size(&mut encoder, bitrate.saturating_mul(2));
        options.set("profile", &settings.profile);
        match settings.kind {
            EncoderKind::X264 => {
                options.set("preset", &settings.preset);
                // Keyframes only where the pipeline forces them (scene cuts would
                // put keyframes at different places in different renditions).
                options.set("forced-idr", "1");
                options.set("sc_threshold", "0");
                options.set("rc-lookahead", &settings.lookahead.to_string());
                // With frame threads x264 by default runs its lookahead on a thread
                // of its own, buffered by B-frames + 1 more pictures: three frames
                // (100 ms at 30 fps) of delay on a multi-threaded rung. Run in the
                // encoding threads instead, it changes no encoding decision.
                options.set("x264-params", "sync-lookahead=0");
                if let Some(level) = &settings.level {
                    options.set("level", level);
                }
                if settings.rate_control == RateControl::Cbr {
                    options.set("nal-hrd", "cbr");
                }
            }
            EncoderKind::Nvenc => {
                options.set("gpu", &settings.gpu.to_string());
                options.set("preset", "p4");
                options.set("forced-idr", "1");
                options.set(
                    "rc",
                    if settings.rate_control == RateControl::Cbr {
                        "cbr"
                    } else {
                        "vbr"
                    },
                );
                if let Some(level) = &settings.level {
                    options.set("level", level);
                }
            }
            EncoderKind::Vaapi => {
                if settings.rate_control == RateControl::Cbr {
                    options.set("rc_mode", "CBR");
                }
                if let Some(level) = &settings.level {
                    options.set("level", level);
                }
            }
            EncoderKind::Qsv => {
                options.set("preset", "veryfast");
                options.set("forced_idr", "1");
                if let Some(level) = &settings.level {
                    options.set("level", level);
                }
            }
        }
        let inner = encoder
            .open_with(options)
            .map_err(|e| error(&format!("opening {name}"), e))?;
        let header = extradata(&inner);
        let record = annexb::record_from_annex_b(&header)
            .map_err(|e| format!("{name} wrote no usable SPS/PPS: {e}"))?;
        let config = CodecConfig::Video {
            codec: VideoCodec::H264,
            record: Bytes::from(record.encode()),
            width: settings.width,
            height: settings.height,
        };
        Ok(Self {
            inner,
            config,
            hardware,
        })
    }

    /// The rendition's video track configuration (avcC and picture size).
    pub fn config(&self) -> &CodecConfig {
        &self.config
    }

    /// Queues one picture (its pts in the settings' timescale); `keyframe` forces
    /// an IDR picture.
    pub fn send(&mut self, picture: VideoFrame, keyframe: bool) -> Result<(), String> {
        let mut picture = match &mut self.hardware {
            HardwareInput::None => picture,
            HardwareInput::Vaapi(frames) => frames.upload(&picture)?,
            HardwareInput::Cuda(scaler) => scaler.scale(&picture)?,
        };
        picture.set_kind(if keyframe {
            ff::picture::Type::I
        } else {
            ff::picture::Type::None
        });
        self.inner
            .send_frame(&picture)
            .map_err(|e| error("video encoder", e))
    }

    /// Tells the encoder no more pictures come; `receive` then returns the rest.
    pub fn finish(&mut self) {
        let _ = self.inner.send_eof();
    }

    pub fn receive(&mut self) -> Option<EncodedPacket> {
        let mut packet = ff::Packet::empty();
        self.inner.receive_packet(&mut packet).ok()?;
        let pts = packet.pts()?;
        Some(EncodedPacket {
            dts: packet.dts().unwrap_or(pts),
            pts,
            keyframe: packet.is_key(),
            data: Bytes::from(annexb::to_length_prefixed(packet.data()?)),
        })
    }
}

fn set_buffer_size(encoder: &mut ff::encoder::video::Video, bits: usize) {
    // SAFETY: the context is not open yet; rc_buffer_size (in bits) is a plain int
    // field that avcodec_open2 reads.
    unsafe {
        (*encoder.as_mut_ptr()).rc_buffer_size = i32::try_from(bits).unwrap_or(i32::MAX);
    }
}
