//! A `[[profile]]` resolved into what one rendition encodes: picture size, rate,
//! keyframe cadence, H.264 options, audio handling and the encoder to use.

use crate::config::{ProfileConfig, parse_bitrate};

/// An encoder family; which FFmpeg encoder each one is lives in `ffi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncoderKind {
    X264,
    Nvenc,
    Vaapi,
    Qsv,
}

impl EncoderKind {
    /// `auto` tries the hardware encoders first, in this order, then libx264.
    pub const AUTO_ORDER: [Self; 4] = [Self::Nvenc, Self::Vaapi, Self::Qsv, Self::X264];

    pub fn name(self) -> &'static str {
        match self {
            Self::X264 => "x264",
            Self::Nvenc => "nvenc",
            Self::Vaapi => "vaapi",
            Self::Qsv => "qsv",
        }
    }
}

/// `encoder = ...` in a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderChoice {
    Auto,
    Only(EncoderKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateControl {
    /// Average bitrate capped by a VBV of the same rate (what platforms accept).
    Vbr,
    /// Constant bitrate with filler (HRD signalled), for strict ingest limits.
    Cbr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioMode {
    /// The source's audio frames, untouched.
    Passthrough,
    Aac {
        bitrate: u64,
    },
    Opus {
        bitrate: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    /// 0 keeps the source's aspect ratio from the other dimension (both 0: source size).
    pub width: u32,
    pub height: u32,
    /// Frames per second cap; 0 keeps the source rate.
    pub fps: u32,
    pub video_bitrate: u64,
    pub rate_control: RateControl,
    pub bframes: u32,
    pub h264_profile: String,
    pub h264_level: Option<String>,
    pub preset: String,
    /// Longest distance between keyframes when the source's own are further apart.
    pub keyframe_ms: u64,
    pub audio: AudioMode,
    pub encoder: EncoderChoice,
    pub threads: u32,
    /// Frames x264 looks ahead for rate control, as configured; with the B-frames
    /// and threads, what the encoder delays a picture by. `None`: see
    /// [`Profile::encoder_lookahead`].
    pub lookahead: Option<u32>,
    pub gpu: u32,
    pub vaapi_device: String,
}

/// x264's delay in frames from lookahead and frame threads together, unless a
/// profile sets `lookahead`: veryfast's own lookahead is 10 frames and slower
/// presets' 20-60, each a frame of delay. 6 keeps a 30 fps rendition's whole
/// transcoding delay under half a second at p99 on a busy 2-core machine (8 put
/// the full-size rung's p99 at 492-590 ms; BENCHMARKS.md), at a small cost in
/// rate-control precision and no cost in speed beyond run-to-run noise.
const DEFAULT_ENCODER_DELAY_FRAMES: u32 = 6;

/// x264 frame threads for a `width`x`height` rendition on a machine of `cores`:
/// the cores weighted by the picture's share of a 1080p frame, 1 to 4, and never
/// more than the cores (a thread with no core of its own only adds delay).
fn default_x264_threads(cores: usize, width: u32, height: u32) -> u32 {
    let share = f64::from(width) * f64::from(height) / (1920.0 * 1080.0);
    let cores = u32::try_from(cores.max(1)).unwrap_or(u32::MAX);
    ((f64::from(cores) * share).round() as u32).clamp(1, 4.min(cores))
}

/// The default lookahead of an x264 encoder with `threads` frame threads: each
/// thread beyond the first delays a picture by one frame more, taken from the
/// lookahead so the encoder's whole delay stays at the default budget.
fn default_x264_lookahead(threads: u32) -> u32 {
    DEFAULT_ENCODER_DELAY_FRAMES.saturating_sub(threads.saturating_sub(1))
}

/// x264 presets, fastest first.
const PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

impl Profile {
    /// Checks and resolves one profile; the error names the offending key.
    /// `segment_seconds` is the default keyframe interval, so every rendition's
    /// segments can start on a keyframe.
    pub fn resolve(
        config: &ProfileConfig,
        segment_seconds: f64,
    ) -> Result<Self, (&'static str, String)> {
        if config.name == crate::mux::SOURCE {
            return Err((
                "name",
                "\"source\" is the passthrough rendition's name".into(),
            ));
        }
        for (key, value) in [("width", config.width), ("height", config.height)] {
            if value % 2 != 0 || value > 8192 {
                return Err((
                    key,
                    format!("{value} must be even and at most 8192 (0 keeps the aspect ratio)"),
                ));
            }
        }
        if config.fps > 240 {
            return Err((
                "fps",
                "at most 240 frames per second (0 keeps the source rate)".into(),
            ));
        }
        let video_bitrate = match parse_bitrate(&config.video_bitrate) {
            Some(bps) if bps >= 16_000 => bps,
            _ => {
                return Err((
                    "video_bitrate",
                    format!(
                        "{:?} is not a bitrate of at least 16k like \"2500k\" or \"6M\"",
                        config.video_bitrate
                    ),
                ));
            }
        };
        let rate_control = match config.rate_control.as_str() {
            "" | "vbr" => RateControl::Vbr,
            "cbr" => RateControl::Cbr,
            other => return Err(("rate_control", format!("{other:?} is not vbr or cbr"))),
        };
        let bframes = config.bframes.unwrap_or(2);
        if bframes > 16 {
            return Err(("bframes", "at most 16 B-frames".into()));
        }
        let h264_profile = match config.h264_profile.as_str() {
            "" => "high".to_owned(),
            p @ ("baseline" | "main" | "high") => p.to_owned(),
            other => {
                return Err((
                    "h264_profile",
                    format!("{other:?} is not baseline, main or high"),
                ));
            }
        };
        if h264_profile == "baseline" && bframes > 0 {
            return Err((
                "bframes",
                "the baseline profile has no B-frames: set bframes = 0".into(),
            ));
        }
        let preset = match config.preset.as_str() {
            "" => "veryfast".to_owned(),
            p if PRESETS.contains(&p) => p.to_owned(),
            other => {
                return Err((
                    "preset",
                    format!("{other:?} is not an x264 preset ({})", PRESETS.join(", ")),
                ));
            }
        };
        let keyframe_seconds = config.keyframe_seconds.unwrap_or(segment_seconds);
        if !(0.1..=20.0).contains(&keyframe_seconds) {
            return Err(("keyframe_seconds", "between 0.1 and 20 seconds".into()));
        }
        let audio_bitrate = if config.audio_bitrate.is_empty() {
            None
        } else {
            Some(
                parse_bitrate(&config.audio_bitrate)
                    .filter(|b| *b >= 6_000)
                    .ok_or_else(|| {
                        (
                            "audio_bitrate",
                            format!("{:?} is not a bitrate like \"128k\"", config.audio_bitrate),
                        )
                    })?,
            )
        };
        let audio = match (config.audio.as_str(), audio_bitrate) {
            ("", None) | ("passthrough", None) => AudioMode::Passthrough,
            ("passthrough", Some(_)) => {
                return Err((
                    "audio_bitrate",
                    "passthrough audio keeps the source bitrate: remove audio_bitrate".into(),
                ));
            }
            ("" | "aac", bitrate) => AudioMode::Aac {
                bitrate: bitrate.unwrap_or(128_000),
            },
            ("opus", bitrate) => AudioMode::Opus {
                bitrate: bitrate.unwrap_or(96_000),
            },
            (other, _) => {
                return Err((
                    "audio",
                    format!("{other:?} is not aac, opus or passthrough"),
                ));
            }
        };
        let encoder = match config.encoder.as_str() {
            "" | "auto" => EncoderChoice::Auto,
            "x264" => EncoderChoice::Only(EncoderKind::X264),
            "nvenc" => EncoderChoice::Only(EncoderKind::Nvenc),
            "vaapi" => EncoderChoice::Only(EncoderKind::Vaapi),
            "qsv" => EncoderChoice::Only(EncoderKind::Qsv),
            other => {
                return Err((
                    "encoder",
                    format!("{other:?} is not auto, x264, nvenc, vaapi or qsv"),
                ));
            }
        };
        if config.threads > 64 {
            return Err((
                "threads",
                "at most 64 encoder threads (0: sized to the machine)".into(),
            ));
        }
        let lookahead = config.lookahead;
        if lookahead.is_some_and(|frames| frames > 250) {
            return Err(("lookahead", "at most 250 frames".into()));
        }
        Ok(Self {
            name: config.name.clone(),
            width: config.width,
            height: config.height,
            fps: config.fps,
            video_bitrate,
            rate_control,
            bframes,
            h264_profile,
            h264_level: config.h264_level.clone(),
            preset,
            keyframe_ms: (keyframe_seconds * 1000.0).round() as u64,
            audio,
            encoder,
            threads: config.threads,
            lookahead,
            gpu: config.gpu,
            vaapi_device: config
                .vaapi_device
                .clone()
                .unwrap_or_else(|| "/dev/dri/renderD128".into()),
        })
    }

    /// Encoder threads for a `width`x`height` picture: as configured, or for x264
    /// the machine's cores weighted by the picture's share of a 1080p frame (1 to 4).
    /// Renditions already run in parallel, each on its own thread, so a small rung
    /// gets one thread (no frame-threading overhead) while a full-size rung gets
    /// enough not to be the one the whole ladder waits for. Every x264 frame thread
    /// adds a frame of delay, hence the cap.
    pub fn encoder_threads(&self, width: u32, height: u32) -> u32 {
        if self.threads > 0 {
            return self.threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        default_x264_threads(cores, width, height)
    }

    /// x264's rate-control lookahead for an encoder with `threads` frame threads:
    /// as configured, or what is left of the default delay budget once each frame
    /// thread beyond the first has taken its frame (never fewer than the B-frames,
    /// which x264 needs to look at anyway).
    pub fn encoder_lookahead(&self, threads: u32) -> u32 {
        self.lookahead
            .unwrap_or_else(|| default_x264_lookahead(threads).max(self.bframes))
    }

    /// The output picture size for a source of `width`x`height`: a 0 dimension keeps
    /// the aspect ratio; sizes are rounded to even numbers (4:2:0 needs them).
    pub fn output_size(&self, width: u32, height: u32) -> (u32, u32) {
        let even = |v: u64| u32::try_from((v.max(2) + 1) & !1).unwrap_or(u32::MAX - 1);
        let (w, h) = (u64::from(width.max(2)), u64::from(height.max(2)));
        match (self.width, self.height) {
            (0, 0) => (even(w), even(h)),
            (0, out_h) => (even(w * u64::from(out_h) / h), out_h),
            (out_w, 0) => (out_w, even(h * u64::from(out_w) / w)),
            (out_w, out_h) => (out_w, out_h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> ProfileConfig {
        ProfileConfig {
            name: name.into(),
            height: 720,
            video_bitrate: "2500k".into(),
            ..ProfileConfig::default()
        }
    }

    #[test]
    fn defaults_and_aspect() {
        let p = Profile::resolve(&config("720p"), 2.0).unwrap();
        assert_eq!(p.encoder, EncoderChoice::Auto);
        assert_eq!(p.audio, AudioMode::Passthrough);
        assert_eq!(p.keyframe_ms, 2000);
        assert_eq!(p.output_size(1920, 1080), (1280, 720));
        assert_eq!(p.output_size(1440, 1080), (960, 720));
        assert_eq!(p.output_size(1000, 1000), (720, 720));
    }

    #[test]
    fn errors_name_the_key() {
        let mut c = config("x");
        c.encoder = "gpu".into();
        assert_eq!(Profile::resolve(&c, 2.0).unwrap_err().0, "encoder");
        let mut c = config("x");
        c.width = 1279;
        assert_eq!(Profile::resolve(&c, 2.0).unwrap_err().0, "width");
        let mut c = config("x");
        c.audio = "opus".into();
        assert_eq!(
            Profile::resolve(&c, 2.0).unwrap().audio,
            AudioMode::Opus { bitrate: 96_000 }
        );
        let mut c = config("x");
        c.h264_profile = "baseline".into();
        assert_eq!(Profile::resolve(&c, 2.0).unwrap_err().0, "bframes");
        assert_eq!(
            Profile::resolve(&config("source"), 2.0).unwrap_err().0,
            "name"
        );
    }

    #[test]
    fn x264_threads_follow_the_pictures_share_of_the_work_and_keep_the_delay() {
        // Two cores: the full-size rung gets both, the small ones one each.
        assert_eq!(default_x264_threads(2, 1920, 1080), 2);
        assert_eq!(default_x264_threads(2, 1280, 720), 1);
        assert_eq!(default_x264_threads(2, 640, 360), 1);
        // Many cores: capped at 4, small rungs still fewer.
        assert_eq!(default_x264_threads(32, 1920, 1080), 4);
        assert_eq!(default_x264_threads(4, 854, 480), 1);
        assert_eq!(default_x264_threads(1, 3840, 2160), 1);
        assert_eq!(default_x264_threads(2, 3840, 2160), 2);
        // Each extra frame thread takes one frame from the default lookahead.
        assert_eq!(default_x264_lookahead(1), 6);
        assert_eq!(default_x264_lookahead(2), 5);
        assert_eq!(default_x264_lookahead(4), 3);
        let profile = Profile::resolve(&config("720p"), 2.0).unwrap();
        assert_eq!(profile.encoder_lookahead(2), 5);
        let mut c = config("720p");
        c.lookahead = Some(20);
        let explicit = Profile::resolve(&c, 2.0).unwrap();
        assert_eq!(explicit.encoder_lookahead(4), 20);
        c.lookahead = None;
        c.threads = 3;
        let fixed = Profile::resolve(&c, 2.0).unwrap();
        assert_eq!(fixed.encoder_threads(640, 360), 3);
    }
}
