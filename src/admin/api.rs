//! The JSON views of `GET /api/v1/streams[/{name}]`. Secrets (publish keys, push
//! keys) never appear in them: push URLs are shown with the key replaced.

use std::time::Instant;

use protocol_parsers::media::{AudioCodec, CodecConfig, VideoCodec};
use serde::Serialize;

use super::sampler::Sampler;
use crate::config::Config;
use crate::outputs::{OutputEntry, OutputState};
use crate::stream::StreamSnapshot;

#[derive(Debug, Serialize)]
pub struct StreamView {
    pub name: String,
    /// Declared in the config (or through the API), as opposed to published
    /// under `ingest.allow_undeclared`.
    pub declared: bool,
    pub live: bool,
    pub ingest: Option<IngestView>,
    pub renditions: Vec<RenditionView>,
    pub outputs: Vec<OutputView>,
    /// HLS/DASH segmenting of the source rendition; `null` when nothing is segmented.
    pub hls: Option<HlsView>,
    pub viewers: ViewersView,
    /// SRT connections of this stream (its publisher and its readers).
    pub srt: Vec<super::srt_view::SrtConnectionView>,
}

/// One rendition's HLS/DASH segmenting.
#[derive(Debug, Serialize)]
pub struct HlsView {
    pub rendition: String,
    pub segments_produced: u64,
    pub parts_produced: u64,
    pub target_duration_seconds: f64,
    pub last_segment_seconds: f64,
    pub last_part_seconds: f64,
    /// Since the newest segment completed; `null` before the first.
    pub last_segment_age_seconds: Option<f64>,
    /// `degraded` when the newest segment is older than 1.5× the target duration.
    pub health: &'static str,
    /// A video keyframe reaching the stream -> the part starting with it servable.
    pub keyframe_to_servable_p50_ms: Option<f64>,
    pub keyframe_to_servable_p99_ms: Option<f64>,
}

impl HlsView {
    pub fn of(rendition: &crate::mux::Rendition, now: Instant) -> Self {
        let inner = rendition.lock();
        let stats = &inner.stats;
        let target = inner.config.segment_ms as f64 / 1000.0;
        let age = stats
            .last_segment_at
            .map(|at| now.saturating_duration_since(at).as_secs_f64());
        Self {
            rendition: rendition.name.clone(),
            segments_produced: stats.segments_total,
            parts_produced: stats.parts_total,
            target_duration_seconds: target,
            last_segment_seconds: stats.last_segment_seconds,
            last_part_seconds: stats.last_part_seconds,
            last_segment_age_seconds: age,
            health: if age.is_none_or(|a| a > 1.5 * target) {
                "degraded"
            } else {
                "ok"
            },
            keyframe_to_servable_p50_ms: ms(&rendition.keyframe_to_servable, 0.5),
            keyframe_to_servable_p99_ms: ms(&rendition.keyframe_to_servable, 0.99),
        }
    }
}

/// A quantile of a latency histogram in milliseconds (two decimals); `None` empty.
fn ms(histogram: &crate::outputs::latency::LatencyHistogram, q: f64) -> Option<f64> {
    histogram
        .quantile(q)
        .map(|d| (d.as_secs_f64() * 1e5).round() / 100.0)
}

#[derive(Debug, Serialize)]
pub struct IngestView {
    pub protocol: &'static str,
    pub remote_address: String,
    pub uptime_seconds: f64,
    /// Unix time the publisher started.
    pub started_at: f64,
    pub bitrate_bps: u64,
    pub fps: f64,
    pub frames: u64,
    pub bytes: u64,
    pub video: Option<VideoView>,
    pub audio: Option<AudioView>,
}

#[derive(Debug, Serialize)]
pub struct VideoView {
    pub codec: &'static str,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Serialize)]
pub struct AudioView {
    pub codec: &'static str,
    pub sample_rate: u32,
    pub channels: u8,
}

#[derive(Debug, Serialize)]
pub struct RenditionView {
    pub name: String,
    /// `true` when this rendition is produced now: the source while it is live, a
    /// profile while its transcoder publishes.
    pub active: bool,
    /// Listed in the stream's `ladder` (others run for a push output or a viewer).
    pub in_ladder: bool,
    /// The transcoder's counters; `null` for `source` and for idle profiles.
    pub transcode: Option<TranscodeView>,
}

/// One running rendition's transcoder.
#[derive(Debug, Serialize)]
pub struct TranscodeView {
    pub encoder: &'static str,
    pub fps: f64,
    pub frames_in: u64,
    pub frames_out: u64,
    /// Pictures this rendition could not take in time.
    pub dropped_frames: u64,
    /// Source frames the shared decoder dropped (to a keyframe) falling behind.
    pub decoder_dropped_frames: u64,
    pub queue_depth: u64,
    pub encode_ms_per_frame: f64,
    pub restarts: u64,
    /// Source frame in to rendition frame out.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

impl TranscodeView {
    pub fn of(stats: &crate::transcode::RenditionStats, decoder_dropped: u64) -> Self {
        use crate::transcode::RenditionStats as S;
        let ms = |q| ms(&stats.latency, q);
        Self {
            encoder: stats.encoder,
            fps: (stats.fps() * 100.0).round() / 100.0,
            frames_in: S::get(&stats.frames_in),
            frames_out: S::get(&stats.frames_out),
            dropped_frames: S::get(&stats.dropped_frames),
            decoder_dropped_frames: decoder_dropped,
            queue_depth: S::get(&stats.queue_depth),
            encode_ms_per_frame: (stats.encode_ms_per_frame() * 100.0).round() / 100.0,
            restarts: S::get(&stats.restarts),
            latency_p50_ms: ms(0.5),
            latency_p99_ms: ms(0.99),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ViewersView {
    pub rtmp: u32,
    pub srt: u32,
    pub total: u32,
}

#[derive(Debug, Serialize)]
pub struct OutputView {
    pub name: String,
    pub stream: String,
    /// The destination with its key replaced by `****`.
    pub url: String,
    pub profile: Option<String>,
    pub enabled: bool,
    pub state: &'static str,
    /// `ok`, `degraded` (live but under 80% of the target bitrate for 10 s) or
    /// `down` (enabled, the stream is live, but the output is not).
    pub health: &'static str,
    pub bitrate_bps: u64,
    pub target_bitrate_bps: u64,
    pub bytes: u64,
    pub frames: u64,
    pub dropped_frames: u64,
    pub reconnects: u64,
    pub last_error: Option<String>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

fn video_codec(codec: VideoCodec) -> &'static str {
    match codec {
        VideoCodec::H264 => "h264",
        VideoCodec::H265 => "h265",
        VideoCodec::Av1 => "av1",
        VideoCodec::Vp9 => "vp9",
        _ => "other",
    }
}

fn audio_codec(codec: AudioCodec) -> &'static str {
    match codec {
        AudioCodec::Aac => "aac",
        AudioCodec::Opus => "opus",
        AudioCodec::Mp3 => "mp3",
        _ => "other",
    }
}

pub fn output_view(entry: &OutputEntry, sampler: &Sampler, stream_live: bool) -> OutputView {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = &entry.stats;
    let rates = sampler.output(&entry.stream, &stats.name);
    let state = stats.state();
    let health = match state {
        OutputState::Live if rates.degraded => "degraded",
        OutputState::Live | OutputState::Disabled | OutputState::Idle => "ok",
        _ if !stream_live => "ok",
        _ => "down",
    };
    stats.settle();
    let millis = |q| stats.latency.quantile(q).map(|d| d.as_secs_f64() * 1000.0);
    OutputView {
        name: stats.name.clone(),
        stream: entry.stream.clone(),
        url: entry.target.redacted(),
        profile: entry.config.profile.clone(),
        enabled: entry.config.enabled,
        state: state.as_str(),
        health,
        bitrate_bps: rates.bitrate_bps as u64,
        target_bitrate_bps: rates.target_bps as u64,
        bytes: stats.bytes.load(Relaxed),
        frames: stats.frames.load(Relaxed),
        dropped_frames: stats.dropped_frames(),
        reconnects: stats.reconnects.load(Relaxed),
        last_error: stats.last_error(),
        latency_p50_ms: millis(0.5),
        latency_p99_ms: millis(0.99),
    }
}

pub fn stream_view(
    name: &str,
    snapshot: &StreamSnapshot,
    declared: bool,
    // This stream's outputs.
    outputs: &[std::sync::Arc<OutputEntry>],
    sampler: &Sampler,
    config: &Config,
    now: Instant,
) -> StreamView {
    let rates = sampler.stream(name);
    let ingest = snapshot.origin.as_ref().map(|origin| {
        let mut video = None;
        let mut audio = None;
        for track in &snapshot.tracks {
            match &track.config {
                CodecConfig::Video {
                    codec,
                    width,
                    height,
                    ..
                } => {
                    video = Some(VideoView {
                        codec: video_codec(*codec),
                        width: *width,
                        height: *height,
                    })
                }
                CodecConfig::Audio {
                    codec,
                    sample_rate,
                    channels,
                    ..
                } => {
                    audio = Some(AudioView {
                        codec: audio_codec(*codec),
                        sample_rate: *sample_rate,
                        channels: *channels,
                    })
                }
                _ => {}
            }
        }
        IngestView {
            protocol: origin.protocol,
            remote_address: origin.remote.to_string(),
            uptime_seconds: now.duration_since(origin.since).as_secs_f64(),
            started_at: origin
                .since_wall
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            bitrate_bps: rates.bitrate_bps as u64,
            fps: (rates.fps * 100.0).round() / 100.0,
            frames: snapshot.frames_in,
            bytes: snapshot.bytes_in,
            video,
            audio,
        }
    });
    let ladder = config
        .streams
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.ladder.clone())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| vec!["source".to_owned()]);
    let renditions = ladder
        .into_iter()
        .map(|name| RenditionView {
            active: name == "source" && snapshot.live,
            name,
            in_ladder: true,
            transcode: None,
        })
        .collect();
    let rtmp = snapshot
        .viewers
        .iter()
        .filter(|(p, _)| p.starts_with("rtmp"))
        .map(|(_, n)| n)
        .sum();
    StreamView {
        name: name.to_owned(),
        declared,
        live: snapshot.live,
        ingest,
        renditions,
        outputs: outputs
            .iter()
            .map(|o| output_view(o, sampler, snapshot.live))
            .collect(),
        // Filled by the caller, which knows the segmenter and the SRT board.
        hls: None,
        srt: Vec::new(),
        viewers: ViewersView {
            rtmp,
            srt: snapshot
                .viewers
                .iter()
                .filter(|(p, _)| *p == "srt")
                .map(|(_, n)| n)
                .sum(),
            total: snapshot.viewers.iter().map(|(_, n)| n).sum(),
        },
    }
}
