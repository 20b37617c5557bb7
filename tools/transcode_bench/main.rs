//! Transcoding benchmark: Manifold's transcoder against the ffmpeg CLI doing the same
//! work on the same machine in the same run: one decode of the 1080p30 H.264 clip,
//! four scales (1080p/720p/480p/360p) and four libx264 encodes with the same
//! settings (preset, bitrate with a 2 s VBV, 2 B-frames, a keyframe every 2 s, no
//! scene cuts, the source's audio copied).
//!
//! `throughput`: frames are fed as fast as the transcoder takes them (at most a
//! window ahead of the slowest rendition, so nothing is dropped); reported: frames
//! per second through the whole ladder and CPU seconds, for both, and the ratio.
//! `latency`: frames are fed at their own pace (real time); reported: the time from
//! a source frame reaching the stream to its transcoded frame, p50/p99 per rung.
//!
//! Usage: cargo build --release && ./target/release/transcode-bench [OPTIONS]
//! (`--help` lists them: `USAGE` below).

#[path = "../../protocol-parsers/tests/support/flv_file.rs"]
mod flv_file;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use manifold::admin::process;
use manifold::config::{Config, ProfileConfig, StreamConfig};
use manifold::stream::{Origin, PublisherGuard, Registry};
use manifold::transcode::{Profile, RenditionStats, RenditionUse, Transcoding};
use protocol_parsers::media::{Frame, Track, TrackId};

/// (name, height, video bitrate)
const LADDER: [(&str, u32, &str); 4] = [
    ("1080p", 1080, "4000k"),
    ("720p", 720, "2500k"),
    ("480p", 480, "1200k"),
    ("360p", 360, "800k"),
];

const USAGE: &str = "usage: transcode-bench [--preset veryfast] [--seconds 20] \
[--mode throughput,latency] [--rounds 3] [--rungs 1080p,720p,480p,360p] [--threads 0] \
[--ffmpeg off]";

/// Frames the feeder may be ahead of the slowest rendition in throughput mode.
const WINDOW: u64 = 48;

fn main() {
    let mut preset = "veryfast".to_owned();
    let mut seconds = 20u32;
    let mut modes = vec!["throughput".to_owned(), "latency".to_owned()];
    // 0: Manifold's default; N: `threads = N` in every profile.
    let mut threads = 0u32;
    // Runs alternate (Manifold, ffmpeg, Manifold, ...); medians are compared, since
    // a shared machine's speed drifts between runs.
    let mut rounds = 3usize;
    let mut rungs = LADDER.to_vec();
    // `--ffmpeg off` times Manifold alone (for comparing two builds of it, e.g.
    // under `perf stat`).
    let mut with_ffmpeg = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--preset" => preset = value(),
            "--seconds" => seconds = value().parse().expect("--seconds N"),
            "--mode" => modes = value().split(',').map(str::to_owned).collect(),
            "--threads" => threads = value().parse().expect("--threads N"),
            "--rounds" => rounds = value().parse().expect("--rounds N"),
            "--ffmpeg" => with_ffmpeg = value() != "off",
            "--rungs" => {
                let names = value();
                rungs = LADDER
                    .iter()
                    .filter(|(n, ..)| names.split(',').any(|w| w == *n))
                    .copied()
                    .collect();
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("unknown argument {other}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let settings = Settings {
        preset: preset.clone(),
        threads,
        rungs,
    };
    let clip = clip(seconds);
    let (tracks, frames) = flv_file::demux_flv(&clip);
    let video_frames = frames.iter().filter(|f| f.track == TrackId::VIDEO).count() as u64;
    println!(
        "clip: {} ({seconds} s, {video_frames} video frames), x264 preset {preset}, ladder {}",
        clip.display(),
        settings
            .rungs
            .iter()
            .map(|(n, ..)| *n)
            .collect::<Vec<_>>()
            .join("/")
    );
    if modes.iter().any(|m| m == "throughput") {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            // The order alternates (Manifold first, then ffmpeg first, ...): the
            // machine's speed drifts over minutes, and a fixed order would hand
            // the drift to whichever program always runs second.
            let manifold_first = round % 2 == 1;
            let run_ffmpeg = || {
                if with_ffmpeg {
                    ffmpeg_throughput(&settings, &clip, video_frames, round == 1)
                } else {
                    (f64::NAN, f64::NAN)
                }
            };
            let (a, b) = if manifold_first {
                let a = manifold_throughput(&settings, &tracks, &frames, video_frames);
                (a, run_ffmpeg())
            } else {
                let b = run_ffmpeg();
                (
                    manifold_throughput(&settings, &tracks, &frames, video_frames),
                    b,
                )
            };
            println!(
                "round {round} ({} first): manifold {:.1} fps ({:.1} CPU s), ffmpeg {:.1} fps ({:.1} CPU s): {:.2}x",
                if manifold_first { "manifold" } else { "ffmpeg" },
                a.0,
                a.1,
                b.0,
                b.1,
                a.0 / b.0
            );
            ours.push(a);
            theirs.push(b);
        }
        let (fps_a, cpu_a) = medians(&ours);
        let (fps_b, cpu_b) = medians(&theirs);
        let paired: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a.0 / b.0).collect();
        println!(
            "throughput (median of {rounds}): manifold {fps_a:.1} fps ({cpu_a:.1} CPU s), ffmpeg {fps_b:.1} fps ({cpu_b:.1} CPU s): ratio {:.2}x fps, {:.2}x CPU per frame; median of the rounds' ratios {:.2}x",
            fps_a / fps_b,
            cpu_a / cpu_b,
            median(paired)
        );
    }
    if modes.iter().any(|m| m == "latency") {
        manifold_latency(&settings, &tracks, &frames);
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median fps and median CPU seconds of some runs.
fn medians(runs: &[(f64, f64)]) -> (f64, f64) {
    (
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1).collect()),
    )
}

/// The 1080p30 test clip of `seconds`, made by tools/make-test-media.sh once.
fn clip(seconds: u32) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-media");
    let path = dir.join(format!("src-1080p30-{seconds}s.flv"));
    if !path.is_file() {
        std::fs::create_dir_all(&dir).expect("create target/test-media");
        let status = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/make-test-media.sh"))
            .arg(&path)
            .arg(seconds.to_string())
            .status()
            .expect("run make-test-media.sh");
        assert!(status.success(), "make-test-media.sh failed");
    }
    path
}

/// What every profile of the bench ladder encodes with.
struct Settings {
    preset: String,
    threads: u32,
    /// The rungs of `LADDER` in use (`--rungs 720p,360p`; default all).
    rungs: Vec<(&'static str, u32, &'static str)>,
}

fn config(settings: &Settings) -> Config {
    let profiles = settings
        .rungs
        .iter()
        .map(|(name, height, bitrate)| ProfileConfig {
            name: (*name).to_owned(),
            height: *height,
            video_bitrate: (*bitrate).to_owned(),
            preset: settings.preset.clone(),
            threads: settings.threads,
            encoder: "x264".to_owned(),
            ..ProfileConfig::default()
        })
        .collect();
    let streams = vec![StreamConfig {
        name: "main".into(),
        key: "K".into(),
        ..StreamConfig::default()
    }];
    Config {
        profiles,
        streams,
        ..Config::default()
    }
}

struct Ladder {
    transcoding: Arc<Transcoding>,
    _uses: Vec<RenditionUse>,
    _registry: Arc<Registry>,
}

/// The ladder's renditions in use, and a publisher on their source that has
/// announced the clip's tracks.
fn start_ladder(settings: &Settings, tracks: &[Track]) -> (Ladder, PublisherGuard) {
    let config = config(settings);
    let registry = Registry::new(&config);
    let transcoding = Transcoding::new(&config, Arc::clone(&registry)).expect("profiles");
    let uses = settings
        .rungs
        .iter()
        .map(|(name, ..)| transcoding.acquire("main", name).expect("rendition"))
        .collect();
    let origin = Origin::new("bench", "127.0.0.1:1".parse().expect("address"));
    let publisher = registry.publish("live", "K", origin).expect("publish");
    for track in tracks {
        publisher.push_track(track.clone());
    }
    let ladder = Ladder {
        transcoding,
        _uses: uses,
        _registry: registry,
    };
    (ladder, publisher)
}

fn stats(ladder: &Ladder) -> Vec<Arc<RenditionStats>> {
    ladder
        .transcoding
        .stats()
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

fn cpu_seconds(pid: u32) -> f64 {
    process::of(pid).cpu_seconds
}

/// Feeds the clip as fast as the ladder takes it; (fps, CPU seconds).
fn manifold_throughput(
    settings: &Settings,
    tracks: &[Track],
    frames: &[Frame],
    video_frames: u64,
) -> (f64, f64) {
    let cpu_before = cpu_seconds(std::process::id());
    let started = Instant::now();
    let (ladder, publisher) = start_ladder(settings, tracks);
    let slowest_in = |ladder: &Ladder| {
        stats(ladder)
            .iter()
            .map(|s| RenditionStats::get(&s.frames_in))
            .min()
            .unwrap_or(0)
    };
    let mut pushed = 0u64;
    for frame in frames {
        if frame.track == TrackId::VIDEO {
            while pushed > slowest_in(&ladder) + WINDOW {
                std::thread::sleep(Duration::from_millis(1));
            }
            pushed += 1;
        }
        publisher.push_frame(frame.clone());
    }
    // The publisher leaving makes every rendition drain its encoder.
    let _ = publisher.release(Instant::now());
    let done = |ladder: &Ladder| {
        stats(ladder)
            .iter()
            .all(|s| RenditionStats::get(&s.frames_out) >= video_frames)
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done(&ladder) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(std::process::id()) - cpu_before;
    for s in stats(&ladder) {
        println!(
            "  manifold {}: {} in, {} out, {} dropped, {:.2} ms scale+encode per frame",
            s.profile,
            RenditionStats::get(&s.frames_in),
            RenditionStats::get(&s.frames_out),
            RenditionStats::get(&s.dropped_frames),
            s.encode_ms_per_frame()
        );
    }
    assert!(done(&ladder), "the ladder did not put out every frame");
    (video_frames as f64 / elapsed, cpu)
}

/// The ffmpeg CLI command for the same ladder.
fn ffmpeg_command(settings: &Settings, clip: &Path) -> Command {
    let (preset, ladder) = (settings.preset.as_str(), &settings.rungs);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(clip);
    let split: Vec<String> = (0..ladder.len()).map(|i| format!("[s{i}]")).collect();
    let mut graph = format!("[0:v]split={}{}", ladder.len(), split.join(""));
    for (i, (_, height, _)) in ladder.iter().enumerate() {
        graph.push_str(&format!(";[s{i}]scale=-2:{height}[o{i}]"));
    }
    cmd.args(["-filter_complex", &graph]);
    let profiles = config(settings).profiles;
    for (i, ((_, _, bitrate), profile)) in ladder.iter().zip(&profiles).enumerate() {
        let kbps: u32 = bitrate.trim_end_matches('k').parse().expect("kbit/s");
        // The lookahead Manifold gives this rung of the 1080p clip (its default
        // delay budget less its extra frame threads), from the very profile the
        // Manifold side runs. The thread count itself stays ffmpeg's own: ffmpeg
        // 5.1 runs every encoder's calls in its one main thread, so x264's frame
        // threads are its only parallelism and Manifold's split (one thread for a
        // small rung) makes it slower (BENCHMARKS.md).
        let profile = Profile::resolve(profile, 2.0).expect("the bench's profile resolves");
        let (width, height) = profile.output_size(1920, 1080);
        let lookahead = profile
            .encoder_lookahead(profile.encoder_threads(width, height))
            .to_string();
        let bframes = profile.bframes.to_string();
        cmd.args(["-map", &format!("[o{i}]"), "-map", "0:a"]);
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-profile:v",
            "high",
            "-bf",
            &bframes,
        ]);
        cmd.args([
            "-b:v",
            bitrate,
            "-maxrate",
            bitrate,
            "-bufsize",
            &format!("{}k", kbps * 2),
        ]);
        // Manifold's defaults: keyframe interval twice the forced cadence, no scene
        // cuts, IDR when forced, the rate-control lookahead above.
        cmd.args([
            "-g",
            "120",
            "-sc_threshold",
            "0",
            "-forced-idr",
            "1",
            "-rc-lookahead",
            &lookahead,
        ]);
        cmd.args([
            "-force_key_frames",
            "expr:gte(t,n_forced*2)",
            "-c:a",
            "copy",
            "-f",
            "null",
            "-",
        ]);
    }
    cmd
}

/// The ffmpeg CLI on the same clip, as fast as it goes; (fps, CPU seconds).
fn ffmpeg_throughput(
    settings: &Settings,
    clip: &Path,
    video_frames: u64,
    show: bool,
) -> (f64, f64) {
    let mut cmd = ffmpeg_command(settings, clip);
    if show {
        println!("  ffmpeg: {cmd:?}");
    }
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).spawn().expect("start ffmpeg");
    let pid = child.id();
    let mut cpu = 0.0;
    loop {
        // The last reading before exit: /proc/PID is gone once it is reaped.
        cpu = f64::max(cpu, cpu_seconds(pid));
        if let Some(status) = child.try_wait().expect("wait for ffmpeg") {
            assert!(status.success(), "ffmpeg failed: {status}");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (video_frames as f64 / started.elapsed().as_secs_f64(), cpu)
}

/// Feeds the clip at its own pace and reports the latency each rung adds.
fn manifold_latency(settings: &Settings, tracks: &[Track], frames: &[Frame]) {
    let before = process::read();
    let (ladder, publisher) = start_ladder(settings, tracks);
    let started = Instant::now();
    let first_dts = frames.first().map_or(0, |f| f.dts);
    for frame in frames {
        let due = Duration::from_millis(u64::try_from(frame.dts - first_dts).unwrap_or(0));
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        publisher.push_frame(frame.clone());
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = process::read();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "real time: {:.0}% of a core for the whole ladder (decode, scale, encode), {:.0} MiB more resident memory than before it started",
        (after.cpu_seconds - before.cpu_seconds) / seconds * 100.0,
        (after.resident_bytes as f64 - before.resident_bytes as f64) / 1048576.0
    );
    for s in stats(&ladder) {
        let ms = |q| {
            s.latency
                .quantile(q)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
        };
        println!(
            "latency {} ({}): p50 {:.0} ms, p99 {:.0} ms over {} frames, {} dropped; scale+encode {:.1} ms per frame (~{:.0}% of a core at 30 fps)",
            s.profile,
            settings.preset,
            ms(0.5),
            ms(0.99),
            s.latency.count(),
            RenditionStats::get(&s.dropped_frames),
            s.encode_ms_per_frame(),
            s.encode_ms_per_frame() * 30.0 / 10.0
        );
    }
    let _ = publisher.release(Instant::now());
}
