//! `/metrics` in the Prometheus text exposition format (version 0.0.4), written
//! straight from a snapshot of every stream and output.
//!
//! Counters live with the tasks that own them (one writer each, on that task's
//! core) and are merged here, on read; nothing on the media path takes a lock or
//! touches a shared atomic for metrics. A fresh text per scrape means removed
//! streams and outputs vanish at once instead of lingering as stale series.
//!
//! Why not the `metrics` crate's Prometheus exporter, which ARCHITECTURE.md named:
//! with 100 streams × 10 outputs (14,000 series) a scrape through it took 66 ms
//! and 6% of a core at one scrape per second (BENCHMARKS.md), nearly all in its
//! per-series key hashing, cloning and name sanitising; the goal is < 10 ms and
//! < 1%. Writing the text directly meets it.

use std::fmt::Write;

use super::api::{OutputView, StreamView};
use super::process::ProcessStats;
use super::srt_view::SrtView;
use crate::outputs::OutputState;

/// Everything one scrape reports.
pub struct Scrape<'a> {
    pub streams: &'a [StreamView],
    pub srt: &'a SrtView,
    pub process: ProcessStats,
    pub start_time_seconds: f64,
}

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Gauge,
    Counter,
}

/// Writes metric families: `# HELP`, `# TYPE`, then every sample of the family.
pub(super) struct Text {
    out: String,
}

impl Text {
    pub(super) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Value) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(key);
                self.out.push_str("=\"");
                escape_into(&mut self.out, val);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        value.write(&mut self.out);
        self.out.push('\n');
    }
}

/// Label values may hold `\`, `"` and newlines, which the format escapes.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

pub(super) trait Value {
    fn write(self, out: &mut String);
}

impl Value for u64 {
    fn write(self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for f64 {
    fn write(self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

impl Value for bool {
    fn write(self, out: &mut String) {
        out.push(if self { '1' } else { '0' });
    }
}

/// One family over every output of every stream.
fn per_output<V: Value>(
    text: &mut Text,
    scrape: &Scrape<'_>,
    (name, kind, help): (&str, Kind, &str),
    value: impl Fn(&OutputView) -> Option<V>,
) {
    text.family(name, kind, help);
    for stream in scrape.streams {
        for output in &stream.outputs {
            if let Some(v) = value(output) {
                text.sample(
                    name,
                    &[("stream", &stream.name), ("output", &output.name)],
                    v,
                );
            }
        }
    }
}

pub fn render(scrape: &Scrape<'_>) -> String {
    let outputs: usize = scrape.streams.iter().map(|s| s.outputs.len()).sum();
    let mut text = Text {
        // About 1 KiB of text per output; growing is cheap but avoidable.
        out: String::with_capacity(4096 + outputs * 1024),
    };
    let t = &mut text;
    t.family(
        "manifold_build_info",
        Kind::Gauge,
        "Manifold version, as a label; always 1",
    );
    t.sample(
        "manifold_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1u64,
    );
    t.family(
        "manifold_streams",
        Kind::Gauge,
        "Streams that exist now (declared or live)",
    );
    t.sample("manifold_streams", &[], scrape.streams.len() as u64);

    t.family(
        "manifold_stream_live",
        Kind::Gauge,
        "1 while the stream has a publisher",
    );
    for s in scrape.streams {
        t.sample("manifold_stream_live", &[("stream", &s.name)], s.live);
    }
    let ingest = |t: &mut Text,
                  name: &str,
                  kind: Kind,
                  help: &str,
                  value: &dyn Fn(&super::api::IngestView) -> f64| {
        t.family(name, kind, help);
        for s in scrape.streams {
            if let Some(ingest) = &s.ingest {
                t.sample(
                    name,
                    &[("stream", &s.name), ("protocol", ingest.protocol)],
                    value(ingest),
                );
            }
        }
    };
    ingest(
        t,
        "manifold_ingest_bitrate_bps",
        Kind::Gauge,
        "Ingest bitrate of the stream's payload over the last 5 s",
        &|i| i.bitrate_bps as f64,
    );
    ingest(
        t,
        "manifold_ingest_fps",
        Kind::Gauge,
        "Video frames per second received over the last 5 s",
        &|i| i.fps,
    );
    ingest(
        t,
        "manifold_ingest_frames_total",
        Kind::Counter,
        "Frames received from the current publisher's stream since the server started",
        &|i| i.frames as f64,
    );
    ingest(
        t,
        "manifold_ingest_bytes_total",
        Kind::Counter,
        "Payload bytes received from publishers since the server started",
        &|i| i.bytes as f64,
    );
    ingest(
        t,
        "manifold_ingest_uptime_seconds",
        Kind::Gauge,
        "How long the current publisher has been connected",
        &|i| i.uptime_seconds,
    );

    t.family("manifold_viewers", Kind::Gauge, "Pull viewers by protocol");
    for s in scrape.streams {
        for (protocol, viewers) in [("rtmp", s.viewers.rtmp), ("srt", s.viewers.srt)] {
            t.sample(
                "manifold_viewers",
                &[("stream", &s.name), ("protocol", protocol)],
                u64::from(viewers),
            );
        }
    }

    per_output(
        t,
        scrape,
        (
            "manifold_output_up",
            Kind::Gauge,
            "1 while the push output is live",
        ),
        |o| Some(o.state == "live"),
    );
    t.family(
        "manifold_output_state",
        Kind::Gauge,
        "Push output state: 1 for the current state label, 0 for the others",
    );
    for s in scrape.streams {
        for o in &s.outputs {
            for state in OutputState::ALL {
                let name = state.as_str();
                t.sample(
                    "manifold_output_state",
                    &[("stream", &s.name), ("output", &o.name), ("state", name)],
                    o.state == name,
                );
            }
        }
    }
    per_output(
        t,
        scrape,
        (
            "manifold_output_degraded",
            Kind::Gauge,
            "1 while the output is live but under 80% of its target bitrate for 10 s or more",
        ),
        |o| Some(o.health == "degraded"),
    );
    per_output(
        t,
        scrape,
        (
            "manifold_output_bitrate_bps",
            Kind::Gauge,
            "Bytes written to the destination over the last 5 s, in bits per second",
        ),
        |o| Some(o.bitrate_bps),
    );
    per_output(
        t,
        scrape,
        (
            "manifold_output_target_bitrate_bps",
            Kind::Gauge,
            "What the output should carry: the ingest bitrate for passthrough, the profile's for a transcoded output",
        ),
        |o| Some(o.target_bitrate_bps),
    );
    per_output(
        t,
        scrape,
        (
            "manifold_output_reconnects_total",
            Kind::Counter,
            "Sessions that failed or were restarted",
        ),
        |o| Some(o.reconnects),
    );
    per_output(
        t,
        scrape,
        (
            "manifold_output_dropped_frames_total",
            Kind::Counter,
            "Frames skipped because the destination fell behind",
        ),
        |o| Some(o.dropped_frames),
    );
    per_output(
        t,
        scrape,
        (
            "manifold_output_bytes_total",
            Kind::Counter,
            "Bytes written to the destination",
        ),
        |o| Some(o.bytes),
    );
    per_output(
        t,
        scrape,
        (
            "manifold_output_frames_total",
            Kind::Counter,
            "Frames written to the destination",
        ),
        |o| Some(o.frames),
    );
    per_output(
        t,
        scrape,
        (
            "manifold_output_latency_p50_seconds",
            Kind::Gauge,
            "Median time from a frame reaching the stream to its bytes being written",
        ),
        |o| o.latency_p50_ms.map(|ms| ms / 1000.0),
    );
    per_output(
        t,
        scrape,
        (
            "manifold_output_latency_p99_seconds",
            Kind::Gauge,
            "99th percentile of the time from a frame reaching the stream to its bytes being written",
        ),
        |o| o.latency_p99_ms.map(|ms| ms / 1000.0),
    );

    let hls = |t: &mut Text,
               name: &str,
               kind: Kind,
               help: &str,
               value: &dyn Fn(&super::api::HlsView) -> Option<f64>| {
        t.family(name, kind, help);
        for s in scrape.streams {
            if let Some(view) = &s.hls {
                if let Some(v) = value(view) {
                    t.sample(
                        name,
                        &[("stream", &s.name), ("rendition", &view.rendition)],
                        v,
                    );
                }
            }
        }
    };
    hls(
        t,
        "manifold_segments_total",
        Kind::Counter,
        "HLS/DASH segments completed",
        &|h| Some(h.segments_produced as f64),
    );
    hls(
        t,
        "manifold_parts_total",
        Kind::Counter,
        "LL-HLS parts completed",
        &|h| Some(h.parts_produced as f64),
    );
    hls(
        t,
        "manifold_segment_age_seconds",
        Kind::Gauge,
        "Time since the newest segment completed",
        &|h| h.last_segment_age_seconds,
    );
    hls(
        t,
        "manifold_segment_duration_seconds",
        Kind::Gauge,
        "Duration of the newest segment",
        &|h| Some(h.last_segment_seconds),
    );
    hls(
        t,
        "manifold_part_duration_seconds",
        Kind::Gauge,
        "Duration of the newest part",
        &|h| Some(h.last_part_seconds),
    );
    hls(
        t,
        "manifold_rendition_degraded",
        Kind::Gauge,
        "1 while the newest segment is older than 1.5 times the target duration",
        &|h| Some(f64::from(u8::from(h.health == "degraded"))),
    );
    let transcode =
        |t: &mut Text,
         name: &str,
         kind: Kind,
         help: &str,
         value: &dyn Fn(&super::api::TranscodeView) -> Option<f64>| {
            t.family(name, kind, help);
            for s in scrape.streams {
                for rendition in &s.renditions {
                    let Some(view) = &rendition.transcode else {
                        continue;
                    };
                    if let Some(v) = value(view) {
                        t.sample(
                            name,
                            &[
                                ("stream", &s.name),
                                ("rendition", &rendition.name),
                                ("encoder", view.encoder),
                            ],
                            v,
                        );
                    }
                }
            }
        };
    transcode(
        t,
        "manifold_transcode_fps",
        Kind::Gauge,
        "Frames per second a rendition's encoder put out over the last second",
        &|v| Some(v.fps),
    );
    transcode(
        t,
        "manifold_transcode_frames_total",
        Kind::Counter,
        "Frames a rendition's encoder put out",
        &|v| Some(v.frames_out as f64),
    );
    transcode(
        t,
        "manifold_transcode_dropped_frames_total",
        Kind::Counter,
        "Decoded pictures a rendition could not take in time, plus source frames its decoder skipped",
        &|v| Some((v.dropped_frames + v.decoder_dropped_frames) as f64),
    );
    transcode(
        t,
        "manifold_transcode_queue_depth",
        Kind::Gauge,
        "Decoded pictures and audio blocks waiting for a rendition's encoder",
        &|v| Some(v.queue_depth as f64),
    );
    transcode(
        t,
        "manifold_transcode_encode_seconds_per_frame",
        Kind::Gauge,
        "Mean scale plus encode time per frame",
        &|v| Some(v.encode_ms_per_frame / 1000.0),
    );
    transcode(
        t,
        "manifold_transcode_restarts_total",
        Kind::Counter,
        "Encoder failures that restarted a rendition",
        &|v| Some(v.restarts as f64),
    );
    transcode(
        t,
        "manifold_transcode_latency_p50_seconds",
        Kind::Gauge,
        "Median time from a source frame reaching the stream to its transcoded frame",
        &|v| v.latency_p50_ms.map(|ms| ms / 1000.0),
    );
    transcode(
        t,
        "manifold_transcode_latency_p99_seconds",
        Kind::Gauge,
        "99th percentile of the time from a source frame reaching the stream to its transcoded frame",
        &|v| v.latency_p99_ms.map(|ms| ms / 1000.0),
    );
    hls(
        t,
        "manifold_keyframe_servable_p99_seconds",
        Kind::Gauge,
        "99th percentile of the time from a video keyframe reaching the stream to the part starting with it being servable",
        &|h| h.keyframe_to_servable_p99_ms.map(|ms| ms / 1000.0),
    );
    let served = crate::outputs::http_stats::totals();
    t.family(
        "manifold_http_requests_total",
        Kind::Counter,
        "Public HTTP responses by what was asked for",
    );
    for (kind, requests, _) in &served {
        t.sample(
            "manifold_http_requests_total",
            &[("kind", kind.as_str())],
            *requests,
        );
    }
    t.family(
        "manifold_http_bytes_total",
        Kind::Counter,
        "Public HTTP response body bytes by what was asked for",
    );
    for (kind, _, bytes) in &served {
        t.sample(
            "manifold_http_bytes_total",
            &[("kind", kind.as_str())],
            *bytes,
        );
    }

    super::srt_metrics::render(t, scrape.srt);

    let p = scrape.process;
    t.family(
        "process_cpu_seconds_total",
        Kind::Counter,
        "User and system CPU time",
    );
    t.sample("process_cpu_seconds_total", &[], p.cpu_seconds);
    t.family(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident set size",
    );
    t.sample("process_resident_memory_bytes", &[], p.resident_bytes);
    t.family("process_open_fds", Kind::Gauge, "Open file descriptors");
    t.sample("process_open_fds", &[], p.open_fds);
    t.family("process_threads", Kind::Gauge, "Operating system threads");
    t.sample("process_threads", &[], p.threads);
    t.family(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time since the Unix epoch",
    );
    t.sample("process_start_time_seconds", &[], scrape.start_time_seconds);
    text.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_label_values_and_special_floats() {
        let mut text = Text { out: String::new() };
        text.family("m", Kind::Gauge, "help");
        text.sample("m", &[("a", "x\"y\\z\nw")], f64::INFINITY);
        text.sample("m", &[], f64::NAN);
        text.sample("m", &[("a", "b"), ("c", "d")], 2.5f64);
        assert_eq!(
            text.out,
            "# HELP m help\n# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\nw\"} +Inf\nm NaN\nm{a=\"b\",c=\"d\"} 2.5\n"
        );
    }
}
