//! Which encoders open on this machine. Each is tried once at startup by opening a
//! small encoder with the profile's device settings; the answer (and the reason it
//! failed) goes in the banner, and decides `auto`.

use std::collections::HashMap;

use super::ffi::{self, VideoEncoder, VideoEncoderSettings};
use super::profile::{EncoderChoice, EncoderKind, Profile, RateControl};

/// What probing found: per encoder kind and device, whether it opened.
#[derive(Debug, Default)]
pub struct EncoderReport {
    /// (kind, device setting) -> Ok or the reason it cannot open.
    probed: HashMap<(EncoderKind, String), Result<(), String>>,
    /// Lines for the banner and log, in the order decided.
    pub notes: Vec<String>,
}

impl EncoderReport {
    /// Picks the encoder for `profile`: the named one, which must open, or under
    /// `auto` the first of NVENC, VA-API, Quick Sync and libx264 that opens.
    pub fn choose(&mut self, profile: &Profile) -> Result<EncoderKind, String> {
        ffi::init()?;
        match profile.encoder {
            EncoderChoice::Only(kind) => match self.probe(kind, profile) {
                Ok(()) => {
                    self.notes.push(format!(
                        "profile {:?}: {} (as configured)",
                        profile.name,
                        kind.name()
                    ));
                    Ok(kind)
                }
                Err(reason) => Err(format!(
                    "profile {:?}: encoder = {:?} cannot be used on this machine: {reason}",
                    profile.name,
                    kind.name()
                )),
            },
            EncoderChoice::Auto => {
                let mut skipped = Vec::new();
                for kind in EncoderKind::AUTO_ORDER {
                    match self.probe(kind, profile) {
                        Ok(()) => {
                            let why = if skipped.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", skipped.join("; "))
                            };
                            let note = format!(
                                "profile {:?}: auto chose {}{why}",
                                profile.name,
                                kind.name()
                            );
                            if kind == EncoderKind::X264 && !skipped.is_empty() {
                                tracing::info!(
                                    "{note}: no hardware encoder opened, falling back to software"
                                );
                            }
                            self.notes.push(note);
                            return Ok(kind);
                        }
                        Err(reason) => skipped.push(format!("{}: {reason}", kind.name())),
                    }
                }
                Err(format!(
                    "profile {:?}: no H.264 encoder opens on this machine ({})",
                    profile.name,
                    skipped.join("; ")
                ))
            }
        }
    }

    fn probe(&mut self, kind: EncoderKind, profile: &Profile) -> Result<(), String> {
        let device = match kind {
            EncoderKind::Nvenc => profile.gpu.to_string(),
            EncoderKind::Vaapi => profile.vaapi_device.clone(),
            EncoderKind::X264 | EncoderKind::Qsv => String::new(),
        };
        self.probed
            .entry((kind, device))
            .or_insert_with(|| probe_open(kind, profile))
            .clone()
    }
}

/// Opens (and closes) a small encoder of `kind`.
fn probe_open(kind: EncoderKind, profile: &Profile) -> Result<(), String> {
    let name = VideoEncoder::codec_name(kind);
    if !ffi::has_encoder(name) {
        return Err(format!("this FFmpeg build has no {name} encoder"));
    }
    let mut settings = VideoEncoderSettings {
        kind,
        width: 320,
        height: 240,
        timescale: 1000,
        fps: 30,
        bitrate: 500_000,
        rate_control: RateControl::Vbr,
        bframes: 0,
        keyint: 60,
        profile: "high".into(),
        level: None,
        preset: "ultrafast".into(),
        threads: 1,
        lookahead: 0,
        gpu: profile.gpu,
        vaapi_device: profile.vaapi_device.clone(),
        gpu_scale_from: None,
    };
    let mut probe = || {
        if kind == EncoderKind::Nvenc {
            // The CUDA context first: a machine without an NVIDIA GPU fails here
            // and never loads libavfilter. Then NVENC is probed the way renditions
            // will run it, scaling on the GPU when this FFmpeg can.
            ffi::CudaScaler::open_gpu(profile.gpu)?;
            match ffi::CudaScaler::available() {
                Ok(()) => settings.gpu_scale_from = Some((640, 480)),
                Err(why) => tracing::warn!(
                    reason = %why,
                    "NVENC renditions will scale on the CPU, not with scale_cuda"
                ),
            }
        }
        VideoEncoder::open(&settings).map(drop)
    };
    probe().map_err(|e| match kind {
        EncoderKind::Nvenc => format!(
            "{e} (needs an NVIDIA GPU with NVENC and its driver's libcuda/libnvidia-encode)"
        ),
        EncoderKind::Qsv => {
            format!("{e} (needs an Intel GPU with Quick Sync and the oneVPL/Media SDK runtime)")
        }
        _ => e,
    })
}
