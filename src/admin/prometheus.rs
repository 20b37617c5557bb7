//! `/metrics`: a snapshot of every stream and output, rendered in the Prometheus
//! text format by the `metrics` crate's exporter. Counters live with the tasks
//! that own them (one writer each, on that task's core) and are merged here, on
//! read; a fresh recorder per scrape means removed streams and outputs vanish at
//! once instead of lingering as stale series.

use metrics::{Unit, counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;

use super::api::StreamView;
use super::process::ProcessStats;
use crate::outputs::OutputState;

/// Everything one scrape reports.
pub struct Scrape<'a> {
    pub streams: &'a [StreamView],
    pub output_states: &'a [(String, String, OutputState)],
    pub process: ProcessStats,
    pub start_time_seconds: f64,
}

fn describe() {
    describe_gauge!(
        "manifold_build_info",
        "Manifold version, as a label; always 1"
    );
    describe_gauge!(
        "manifold_streams",
        "Streams that exist now (declared or live)"
    );
    describe_gauge!("manifold_stream_live", "1 while the stream has a publisher");
    describe_gauge!(
        "manifold_ingest_bitrate_bps",
        Unit::BitsPerSecond,
        "Ingest bitrate of the stream's payload over the last 5 s"
    );
    describe_gauge!(
        "manifold_ingest_fps",
        "Video frames per second received over the last 5 s"
    );
    describe_counter!(
        "manifold_ingest_frames_total",
        "Frames received from publishers"
    );
    describe_counter!(
        "manifold_ingest_bytes_total",
        Unit::Bytes,
        "Payload bytes received from publishers"
    );
    describe_gauge!("manifold_output_up", "1 while the push output is live");
    describe_gauge!(
        "manifold_output_state",
        "Push output state: 1 for the current state label, 0 for the others"
    );
    describe_gauge!(
        "manifold_output_degraded",
        "1 while the output is live but under 80% of its target bitrate for 10 s or more"
    );
    describe_gauge!(
        "manifold_output_bitrate_bps",
        Unit::BitsPerSecond,
        "Bytes written to the destination over the last 5 s, in bits per second"
    );
    describe_gauge!(
        "manifold_output_target_bitrate_bps",
        Unit::BitsPerSecond,
        "What the output should carry: the ingest bitrate for passthrough, the profile's for a transcoded output"
    );
    describe_counter!(
        "manifold_output_reconnects_total",
        "Sessions that failed or were restarted"
    );
    describe_counter!(
        "manifold_output_dropped_frames_total",
        "Frames skipped because the destination fell behind"
    );
    describe_counter!(
        "manifold_output_bytes_total",
        Unit::Bytes,
        "Bytes written to the destination"
    );
    describe_counter!(
        "manifold_output_frames_total",
        "Frames written to the destination"
    );
    describe_gauge!(
        "manifold_output_latency_p50_seconds",
        Unit::Seconds,
        "Median time from a frame reaching the stream to its bytes being written"
    );
    describe_gauge!(
        "manifold_output_latency_p99_seconds",
        Unit::Seconds,
        "99th percentile of the time from a frame reaching the stream to its bytes being written"
    );
    describe_gauge!("manifold_viewers", "Pull viewers by protocol");
}

pub fn render(scrape: &Scrape<'_>) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        describe();
        gauge!("manifold_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        gauge!("manifold_streams").set(scrape.streams.len() as f64);
        for stream in scrape.streams {
            let name = stream.name.clone();
            gauge!("manifold_stream_live", "stream" => name.clone()).set(u8::from(stream.live));
            if let Some(ingest) = &stream.ingest {
                gauge!("manifold_ingest_bitrate_bps", "stream" => name.clone(), "protocol" => ingest.protocol)
                    .set(ingest.bitrate_bps as f64);
                gauge!("manifold_ingest_fps", "stream" => name.clone()).set(ingest.fps);
                counter!("manifold_ingest_frames_total", "stream" => name.clone(), "protocol" => ingest.protocol)
                    .absolute(ingest.frames);
                counter!("manifold_ingest_bytes_total", "stream" => name.clone(), "protocol" => ingest.protocol)
                    .absolute(ingest.bytes);
            }
            gauge!("manifold_viewers", "stream" => name.clone(), "protocol" => "rtmp")
                .set(stream.viewers.rtmp);
            for output in &stream.outputs {
                let labels = [("stream", name.clone()), ("output", output.name.clone())];
                gauge!("manifold_output_up", &labels).set(u8::from(output.state == "live"));
                gauge!("manifold_output_degraded", &labels)
                    .set(u8::from(output.health == "degraded"));
                gauge!("manifold_output_bitrate_bps", &labels).set(output.bitrate_bps as f64);
                gauge!("manifold_output_target_bitrate_bps", &labels)
                    .set(output.target_bitrate_bps as f64);
                counter!("manifold_output_reconnects_total", &labels).absolute(output.reconnects);
                counter!("manifold_output_dropped_frames_total", &labels)
                    .absolute(output.dropped_frames);
                counter!("manifold_output_bytes_total", &labels).absolute(output.bytes);
                counter!("manifold_output_frames_total", &labels).absolute(output.frames);
                if let Some(p50) = output.latency_p50_ms {
                    gauge!("manifold_output_latency_p50_seconds", &labels).set(p50 / 1000.0);
                }
                if let Some(p99) = output.latency_p99_ms {
                    gauge!("manifold_output_latency_p99_seconds", &labels).set(p99 / 1000.0);
                }
            }
        }
        for (stream, output, current) in scrape.output_states {
            for state in OutputState::ALL {
                gauge!(
                    "manifold_output_state",
                    "stream" => stream.clone(),
                    "output" => output.clone(),
                    "state" => state.as_str()
                )
                .set(u8::from(state == *current));
            }
        }
    });
    let mut text = handle.render();
    // The exporter keeps counters as integers; CPU seconds need a fraction, so the
    // process block is appended in the same text format.
    text.push_str(&process_block(scrape.process, scrape.start_time_seconds));
    text
}

fn process_block(process: ProcessStats, start_time_seconds: f64) -> String {
    format!(
        "# HELP process_cpu_seconds_total User and system CPU time\n\
         # TYPE process_cpu_seconds_total counter\n\
         process_cpu_seconds_total {}\n\n\
         # HELP process_resident_memory_bytes Resident set size\n\
         # TYPE process_resident_memory_bytes gauge\n\
         process_resident_memory_bytes {}\n\n\
         # HELP process_open_fds Open file descriptors\n\
         # TYPE process_open_fds gauge\n\
         process_open_fds {}\n\n\
         # HELP process_threads Operating system threads\n\
         # TYPE process_threads gauge\n\
         process_threads {}\n\n\
         # HELP process_start_time_seconds Start time since the Unix epoch\n\
         # TYPE process_start_time_seconds gauge\n\
         process_start_time_seconds {}\n",
        process.cpu_seconds,
        process.resident_bytes,
        process.open_fds,
        process.threads,
        start_time_seconds
    )
}
