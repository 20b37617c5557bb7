//! Whole-system relay benchmark: 1 ingest -> N pushes, Manifold side by side with
//! nginx-rtmp on the same machine in the same run.
//!
//! The bench process publishes a synthetic 1080p30 stream shaped like the test clip
//! (~4.6 Mbit/s: a 150 KB keyframe every 60 frames, 17 KB otherwise, AAC at
//! 47 frames/s) to the relay under test, and runs N RTMP sinks that the relay pushes
//! to. A relay never looks inside NAL units, so each frame carries its sequence
//! number in its first bytes: the sinks count what arrived and time each frame from
//! the moment the publisher wrote it to the moment the sink read it.
//!
//! Reported per relay and N: CPU of the relay process (utime+stime from /proc) as
//! % of one core, RSS, frames dropped (sent - received at every sink), and latency
//! p50/p99 for all destinations and for the last one (the N-th).
//!
//! Usage: cargo run --release --bin relay-bench -- [--outputs 1,10,100,500]
//!        [--seconds 20] [--relays manifold-io_uring,manifold-epoll,nginx]
//!        [--sinks normal|batch|idle|epoll] [--workers N] [--rounds K]
//! `--rounds K` repeats the whole series K times, reversing the order of the relays
//! every other round (A B, B A, A B, ...) so that neither always runs first on a
//! warming machine, then prints each round's CPU ratio to nginx-rtmp, the median of
//! the rounds, and the same for the N-th destination's own p50: on a shared host
//! single runs spread by about ±10%, and a goal is judged on the median.
//! `--workers N` sets Manifold's `server.workers` (default 0: one per core); with 1,
//! no output is woken from another core.
//! The sinks share the machine's cores with the relay, and every frame the relay
//! sends wakes one. `--sinks batch` runs them under SCHED_BATCH (their fair share of
//! CPU, but no preempting the relay that just woke them); `--sinks idle` under
//! SCHED_IDLE (they run when the relay has nothing to do). `--sinks epoll` serves
//! all of them from one epoll loop per core, the way a real ingest server (another
//! nginx-rtmp, a platform's front end) serves many connections: a send wakes the loop
//! only when it is waiting, where a thread per sink is woken by every send (and on
//! loopback that wake-up runs inside the relay's send and counts as its CPU).
//! Default: normal (a thread per sink).
//! `--relays floor` adds the least any relay could spend here (`floor.rs`): one
//! thread that encodes each burst once and writes it to every destination;
//! `floor-io_uring` submits those writes as one io_uring batch.
//! Manifold runs with `hls.enabled = false`, as nginx-rtmp runs without `hls on`;
//! `manifold-io_uring+hls` (or `-epoll+hls`) also segments the stream for HLS/DASH.

mod floor;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use manifold::admin::process;
use protocol_parsers::media::{
    AudioCodec, CodecConfig, Frame, FrameFlags, Track, TrackId, VideoCodec,
};
use protocol_parsers::rtmp::media::MediaEvent;
use protocol_parsers::rtmp::{
    ClientConfig, ClientEvent, ClientSession, ServerEvent, ServerSession,
};
use protocol_parsers::{Limits, Session};

/// `--sinks`: how the destinations are served (see the module comment): a thread
/// each under the default policy, SCHED_BATCH or SCHED_IDLE, or epoll loops.
static SINK_MODE: AtomicI32 = AtomicI32::new(SINKS_NORMAL);
const SINKS_NORMAL: i32 = libc::SCHED_OTHER;
/// Not a scheduling policy: one epoll loop per core serves all destinations.
const SINKS_EPOLL: i32 = -1;
/// `--workers N`: Manifold's `server.workers` (0: one per core).
static WORKERS: AtomicUsize = AtomicUsize::new(0);

const FPS: u64 = 30;
const GOP: u64 = 60;
const KEYFRAME_BYTES: usize = 150_000;
const FRAME_BYTES: usize = 17_000;
const AUDIO_BYTES: usize = 340;
/// AAC at 48 kHz: 1024 samples per frame.
const AUDIO_FRAME_US: u64 = 21_333;

/// x264 1080p High SPS and a PPS, wrapped as an AVCDecoderConfigurationRecord.
const AVCC_1080P: &[u8] = &[
    0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78,
    0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c,
    0x60, 0xc6, 0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
];
/// AAC-LC 48 kHz stereo.
const ASC_48K: &[u8] = &[0x11, 0x90];

const USAGE: &str = "usage: relay-bench [--outputs N,N,...] [--seconds S] \
[--relays manifold-io_uring,manifold-epoll,nginx,manifold-io_uring+hls,floor,floor-io_uring] \
[--sinks normal|batch|idle|epoll] [--workers N] [--rounds K]";

/// The command line as flag → value. Every flag takes a value; `--help` or a
/// dangling flag prints the usage instead of starting a run of several minutes
/// with the defaults (an unknown flag is caught once `main` has read the known ones).
fn flag_values(args: Vec<String>) -> HashMap<String, String> {
    let mut values = HashMap::new();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let asked_for_help = flag == "--help" || flag == "-h";
        match args.next() {
            Some(value) if !asked_for_help => {
                values.insert(flag, value);
            }
            _ => usage_exit(asked_for_help),
        }
    }
    values
}

fn usage_exit(asked_for_help: bool) -> ! {
    eprintln!("{USAGE}");
    std::process::exit(if asked_for_help { 0 } else { 2 });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(floor::SUBCOMMAND) {
        floor::main(&args[1..]);
    }
    let mut flags = flag_values(args);
    let mut arg = |name: &str| flags.remove(name);
    let outputs: Vec<usize> = arg("--outputs")
        .unwrap_or_else(|| "1,10,100,500".into())
        .split(',')
        .map(|n| n.parse().expect("--outputs takes numbers"))
        .collect();
    let seconds: u64 =
        arg("--seconds").map_or(20, |s| s.parse().expect("--seconds takes a number"));
    match arg("--sinks").as_deref() {
        None | Some("normal") => {}
        Some("batch") => SINK_MODE.store(libc::SCHED_BATCH, Ordering::Relaxed),
        Some("idle") => SINK_MODE.store(libc::SCHED_IDLE, Ordering::Relaxed),
        Some("epoll") => SINK_MODE.store(SINKS_EPOLL, Ordering::Relaxed),
        Some(other) => panic!("--sinks is normal, batch, idle or epoll, not {other}"),
    }
    if let Some(workers) = arg("--workers") {
        WORKERS.store(
            workers.parse().expect("--workers takes a number"),
            Ordering::Relaxed,
        );
    }
    let relays: Vec<String> = arg("--relays")
        .unwrap_or_else(|| "manifold-io_uring,manifold-epoll,nginx".into())
        .split(',')
        .map(str::to_owned)
        .collect();
    let rounds: usize = arg("--rounds").map_or(1, |s| s.parse().expect("--rounds takes a number"));
    if !flags.is_empty() || rounds == 0 {
        usage_exit(false);
    }
    let manifold = std::env::current_exe()
        .expect("own path")
        .with_file_name("manifold");
    assert!(
        manifold.is_file(),
        "build the server first: cargo build --release (looked for {})",
        manifold.display()
    );
    raise_fd_limit_hint(*outputs.iter().max().unwrap_or(&1));

    println!(
        "relay-bench: 1 ingest -> N pushes, synthetic 1080p30 ~4.6 Mbit/s, {seconds} s measured per run, sinks {}, {rounds} round(s)",
        match SINK_MODE.load(Ordering::Relaxed) {
            libc::SCHED_BATCH => "SCHED_BATCH",
            libc::SCHED_IDLE => "SCHED_IDLE",
            SINKS_EPOLL => "epoll loops",
            _ => "normal",
        }
    );
    println!(
        "| round | relay | N | CPU % of a core | CPU per output | bench CPU % | RSS MiB | frames sent | dropped | latency p50/p99 ms (all) | p50/p99 ms (N-th dest) | own: median p50 / worst p99 ms | own: N-th p50/p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut runs: Vec<Run> = Vec::new();
    for round in 1..=rounds {
        for &n in &outputs {
            let order: Vec<&String> = if round % 2 == 0 {
                relays.iter().rev().collect()
            } else {
                relays.iter().collect()
            };
            for relay in order {
                let result = run_case(relay, n, seconds, &manifold);
                println!(
                    "| {round} | {relay} | {n} | {:.1} | {:.3} | {:.1} | {:.1} | {} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {} | {} |",
                    result.cpu_percent,
                    result.cpu_percent / n as f64,
                    result.bench_cpu_percent,
                    result.rss_kib as f64 / 1024.0,
                    result.sent,
                    result.dropped,
                    result.all_p50,
                    result.all_p99,
                    result.last_p50,
                    result.last_p99,
                    result
                        .own
                        .map_or("-".into(), |o| format!("{:.2} / {:.2}", o[0], o[1])),
                    result
                        .own
                        .map_or("-".into(), |o| format!("{:.2} / {:.2}", o[2], o[3])),
                );
                runs.push(Run {
                    round,
                    relay: relay.clone(),
                    n,
                    result,
                });
            }
        }
    }
    println!();
    print_ratios(&runs, &outputs, &relays, rounds);
}

/// One relay's run at one N in one round.
struct Run {
    round: usize,
    relay: String,
    n: usize,
    result: CaseResult,
}

/// Per N and relay: the CPU ratio to nginx-rtmp of the same round, and, over
/// several rounds, each round's ratio, their median, the N-th destination's own p50
/// per round and its median, and the frames dropped in all rounds.
fn print_ratios(runs: &[Run], outputs: &[usize], relays: &[String], rounds: usize) {
    for &n in outputs {
        for relay in relays.iter().filter(|r| *r != "nginx") {
            let mut ratios = Vec::new();
            let mut own_last_p50 = Vec::new();
            let mut dropped = 0;
            for round in 1..=rounds {
                let find = |name: &str| {
                    runs.iter()
                        .find(|r| r.round == round && r.n == n && r.relay == name)
                };
                let Some(run) = find(relay) else { continue };
                dropped += run.result.dropped;
                if let Some(own) = run.result.own {
                    own_last_p50.push(own[2]);
                }
                if let Some(nginx) = find("nginx").filter(|r| r.result.cpu_percent > 0.0) {
                    ratios.push(run.result.cpu_percent / nginx.result.cpu_percent);
                }
            }
            if rounds == 1 {
                if let Some(ratio) = ratios.first() {
                    println!("N = {n}: {relay} CPU / nginx-rtmp CPU = {ratio:.2}");
                }
                continue;
            }
            let listed = |values: &[f64]| {
                values
                    .iter()
                    .map(|v| format!("{v:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !ratios.is_empty() {
                println!(
                    "N = {n}: {relay} CPU / nginx-rtmp CPU: median {:.2} (rounds: {}); {} of {} rounds <= 0.70",
                    median(&ratios),
                    listed(&ratios),
                    ratios.iter().filter(|r| **r <= 0.70).count(),
                    ratios.len(),
                );
            }
            if !own_last_p50.is_empty() {
                println!(
                    "N = {n}: {relay} own p50 of the N-th destination: median {:.2} ms (rounds: {})",
                    median(&own_last_p50),
                    listed(&own_last_p50),
                );
            }
            println!("N = {n}: {relay} frames dropped in all rounds: {dropped}");
        }
    }
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

fn raise_fd_limit_hint(n: usize) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if soft < n * 2 + 64 {
        eprintln!(
            "warning: open-file limit {soft} is low for {n} outputs; run `ulimit -n 65536` first"
        );
    }
}

struct CaseResult {
    /// From Manifold's own timestamps (frame reached the stream -> written to the
    /// socket): median over outputs of their p50, worst p99, and the N-th output's
    /// p50/p99, in ms.
    own: Option<[f64; 4]>,
    cpu_percent: f64,
    /// The bench process itself (publisher and sinks) over the same window: on
    /// loopback part of a send's cost lands on the receiver and part of the
    /// receiver's on the sender, so the two together are the fair total.
    bench_cpu_percent: f64,
    rss_kib: u64,
    sent: u64,
    dropped: u64,
    all_p50: f64,
    all_p99: f64,
    last_p50: f64,
    last_p99: f64,
}

/// Per-frame send instants (µs since the bench epoch), indexed by sequence number.
struct Clock {
    epoch: Instant,
    sent_us: Vec<AtomicU64>,
}

struct SinkStats {
    /// Video frames received inside the measurement window.
    received: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    live: AtomicBool,
}

fn run_case(relay: &str, n: usize, seconds: u64, manifold: &Path) -> CaseResult {
    let sink_listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let sink_port = sink_listener.local_addr().expect("addr").port();
    let ingest_port = free_port();
    let work = std::env::temp_dir().join(format!("relay-bench-{}-{relay}-{n}", std::process::id()));
    std::fs::create_dir_all(&work).expect("scratch dir");
    let mut child = start_relay(relay, n, ingest_port, sink_port, &work, manifold);
    wait_port(ingest_port);

    let total_frames = (seconds + 10) * FPS;
    let clock = Arc::new(Clock {
        epoch: Instant::now(),
        sent_us: (0..total_frames).map(|_| AtomicU64::new(0)).collect(),
    });
    let window = Arc::new(Mutex::new((u64::MAX, u64::MAX)));
    let sinks: Vec<Arc<SinkStats>> = (0..n)
        .map(|_| {
            Arc::new(SinkStats {
                received: AtomicU64::new(0),
                latencies_us: Mutex::new(Vec::new()),
                live: AtomicBool::new(false),
            })
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let context = Arc::new(SinkContext {
            sinks: sinks.clone(),
            clock: Arc::clone(&clock),
            window: Arc::clone(&window),
        });
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || accept_sinks(sink_listener, context, stop));
    }
    let relay_ending = Arc::new(AtomicBool::new(false));
    let publisher = {
        let clock = Arc::clone(&clock);
        let stop = Arc::clone(&stop);
        let relay_ending = Arc::clone(&relay_ending);
        std::thread::spawn(move || publish(ingest_port, clock, total_frames, stop, relay_ending))
    };
    // Warm up until every destination is live, then measure a window of whole GOPs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sinks.iter().any(|s| !s.live.load(Ordering::Relaxed)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let live = sinks
        .iter()
        .filter(|s| s.live.load(Ordering::Relaxed))
        .count();
    if live < n {
        eprintln!("warning: {relay} N={n}: only {live} of {n} destinations went live");
    }
    std::thread::sleep(Duration::from_secs(2));
    let first = current_seq(&clock) + FPS;
    let last = first + seconds * FPS;
    *window.lock().expect("window") = (first, last);
    wait_seq(&clock, first);
    let cpu_start = process::of(child.id()).cpu_seconds;
    let bench_cpu_start = process::of(std::process::id()).cpu_seconds;
    let t0 = Instant::now();
    wait_seq(&clock, last);
    let cpu_end = process::of(child.id()).cpu_seconds;
    let bench_cpu_end = process::of(std::process::id()).cpu_seconds;
    let elapsed = t0.elapsed().as_secs_f64();
    let rss_kib = process::of(child.id()).resident_bytes / 1024;
    // Let the tail of the window arrive (a slow relay gets 2 s).
    std::thread::sleep(Duration::from_secs(2));
    // Manifold logs each output's own latency histogram when its push ends: end
    // them cleanly with SIGTERM before the sinks go away.
    let own = if relay.starts_with("manifold") {
        relay_ending.store(true, Ordering::Relaxed);
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        own_latency(&work.join("manifold.log"), n)
    } else {
        None
    };
    stop.store(true, Ordering::Relaxed);
    let _ = publisher.join();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&work);

    let cpu_percent = (cpu_end - cpu_start) / elapsed * 100.0;
    let bench_cpu_percent = (bench_cpu_end - bench_cpu_start) / elapsed * 100.0;
    let sent = last - first;
    let dropped: u64 = sinks
        .iter()
        .map(|s| sent.saturating_sub(s.received.load(Ordering::Relaxed)))
        .sum();
    let mut all: Vec<u64> = sinks
        .iter()
        .flat_map(|s| s.latencies_us.lock().expect("lat").clone())
        .collect();
    let mut last_sink = sinks
        .last()
        .map(|s| s.latencies_us.lock().expect("lat").clone())
        .unwrap_or_default();
    CaseResult {
        own,
        cpu_percent,
        bench_cpu_percent,
        rss_kib,
        sent,
        dropped,
        all_p50: percentile(&mut all, 0.50),
        all_p99: percentile(&mut all, 0.99),
        last_p50: percentile(&mut last_sink, 0.50),
        last_p99: percentile(&mut last_sink, 0.99),
    }
}

/// Reads each output's last `push session ended` line.
fn own_latency(log: &Path, n: usize) -> Option<[f64; 4]> {
    let text = std::fs::read_to_string(log).ok()?;
    let field = |line: &str, key: &str| -> Option<f64> {
        let start = line.find(key)? + key.len();
        line[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let mut per_output = vec![None; n];
    for line in text.lines().filter(|l| l.contains("push session ended")) {
        let Some(index) = field(line, "output=o") else {
            continue;
        };
        if let (Some(slot), Some(p50), Some(p99)) = (
            per_output.get_mut(index as usize),
            field(line, "latency_p50_us="),
            field(line, "latency_p99_us="),
        ) {
            *slot = Some((p50 / 1000.0, p99 / 1000.0));
        }
    }
    let known: Vec<(f64, f64)> = per_output.iter().flatten().copied().collect();
    let (last_p50, last_p99) = (*per_output.last()?)?;
    let mut p50s: Vec<u64> = known.iter().map(|(p50, _)| (p50 * 1000.0) as u64).collect();
    let worst_p99 = known.iter().map(|(_, p99)| *p99).fold(0.0, f64::max);
    Some([percentile(&mut p50s, 0.5), worst_p99, last_p50, last_p99])
}

fn percentile(values: &mut [u64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index.min(values.len() - 1)] as f64 / 1000.0
}

fn current_seq(clock: &Clock) -> u64 {
    clock
        .sent_us
        .iter()
        .take_while(|s| s.load(Ordering::Relaxed) != 0)
        .count() as u64
}

fn wait_seq(clock: &Clock, seq: u64) {
    let index = (seq as usize).min(clock.sent_us.len() - 1);
    while clock.sent_us[index].load(Ordering::Relaxed) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "relay did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_relay(
    relay: &str,
    n: usize,
    ingest: u16,
    sink: u16,
    dir: &Path,
    manifold: &Path,
) -> Child {
    if let Some(engine) = relay.strip_prefix("manifold-") {
        // Like for like with nginx-rtmp (no `hls on`): the segmenter is off
        // unless the relay is named `manifold-ENGINE+hls`.
        let (engine, hls) = match engine.strip_suffix("+hls") {
            Some(engine) => (engine, true),
            None => (engine, false),
        };
        let mut config = format!(
            "[server]\nengine = \"{engine}\"\nworkers = {}\n[hls]\nenabled = {hls}\n[rtmp]\nlisten = \"127.0.0.1:{ingest}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n[admin]\nlisten = \"127.0.0.1:{}\"\n[[stream]]\nname = \"main\"\nkey = \"K\"\n",
            WORKERS.load(Ordering::Relaxed),
            free_port(),
            free_port()
        );
        for i in 0..n {
            config.push_str(&format!(
                "[[stream.push]]\nname = \"o{i}\"\nurl = \"rtmp://127.0.0.1:{sink}/live/o{i}\"\n"
            ));
        }
        let path = dir.join("manifold.toml");
        std::fs::write(&path, config).expect("write config");
        return Command::new(manifold)
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("manifold.log")).expect("log file"))
            .spawn()
            .expect("start manifold");
    }
    if let Some(sends) = relay.strip_prefix("floor") {
        let sends = match sends {
            "" => "writev",
            "-io_uring" => "io_uring",
            _ => panic!("the floor relays are floor and floor-io_uring"),
        };
        return Command::new(std::env::current_exe().expect("own path"))
            .arg(floor::SUBCOMMAND)
            .arg(sends)
            .args([ingest.to_string(), sink.to_string(), n.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the floor relay");
    }
    assert_eq!(
        relay, "nginx",
        "relays are manifold-io_uring, manifold-epoll (each optionally +hls), nginx, floor, floor-io_uring"
    );
    let d = dir.display();
    let mut pushes = String::new();
    for i in 0..n {
        pushes.push_str(&format!("push rtmp://127.0.0.1:{sink}/live/o{i};\n"));
    }
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\ndaemon off;\nmaster_process off;\nworker_processes 1;\n\
         worker_rlimit_nofile 65536;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 65536; }}\n\
         rtmp {{ server {{ listen 127.0.0.1:{ingest}; chunk_size 4096;\n application live {{ live on;\n{pushes} }} }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
    Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nginx (apt-get install nginx libnginx-mod-rtmp)")
}

/// Writes every transmit of a session to a blocking socket.
fn write_transmits<S: Session>(session: &mut S, socket: &mut TcpStream) -> std::io::Result<()> {
    while let Some(transmit) = session.poll_transmit() {
        for piece in transmit.pieces {
            socket.write_all(&piece)?;
        }
    }
    Ok(())
}

/// Connects to the RTMP server on `port` and publishes `live/KEY`: returns once the
/// server has accepted (the publisher to the relay, and the floor's destinations).
fn publish_to(port: u16, stream_key: &str) -> (TcpStream, ClientSession) {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    let config = ClientConfig {
        app: "live".into(),
        tc_url: format!("rtmp://127.0.0.1:{port}/live"),
        stream_key: stream_key.into(),
    };
    let mut session = ClientSession::new(Instant::now(), [1; 1528], config, Limits::default());
    write_transmits(&mut session, &mut socket).expect("handshake");
    let mut buf = vec![0u8; 16 * 1024];
    while !session.is_live() {
        let n = socket.read(&mut buf).expect("read during publish setup");
        assert!(n > 0, "server on {port} closed during publish setup");
        session
            .handle_input(Instant::now(), Bytes::copy_from_slice(&buf[..n]))
            .expect("rtmp");
        write_transmits(&mut session, &mut socket).expect("write");
        while let Some(event) = session.poll_event() {
            if let ClientEvent::Rejected { reason } = event {
                panic!("server on {port} refused the publish: {reason}");
            }
        }
    }
    (socket, session)
}

/// `relay_ending`: the relay is being stopped, so a closed connection is expected.
fn publish(
    port: u16,
    clock: Arc<Clock>,
    total_frames: u64,
    stop: Arc<AtomicBool>,
    relay_ending: Arc<AtomicBool>,
) {
    let (mut socket, mut session) = publish_to(port, "K");
    let mut buf = vec![0u8; 65536];
    // Drain whatever the relay sends (acks, pings) so it never blocks on us.
    let mut reader = socket.try_clone().expect("clone");
    std::thread::spawn(move || while matches!(reader.read(&mut buf), Ok(n) if n > 0) {});

    let video = Track {
        id: TrackId::VIDEO,
        timescale: 1000,
        config: CodecConfig::Video {
            codec: VideoCodec::H264,
            record: Bytes::from_static(AVCC_1080P),
            width: 1920,
            height: 1080,
        },
    };
    let audio = Track {
        id: TrackId::AUDIO,
        timescale: 1000,
        config: CodecConfig::Audio {
            codec: AudioCodec::Aac,
            specific: Bytes::from_static(ASC_48K),
            sample_rate: 48_000,
            channels: 2,
        },
    };
    session.send_track_config(&video, 0);
    session.send_track_config(&audio, 0);
    let key_payload = Bytes::from(vec![0x65u8; KEYFRAME_BYTES]);
    let payload = Bytes::from(vec![0x41u8; FRAME_BYTES]);
    let audio_payload = Bytes::from(vec![0x21u8; AUDIO_BYTES]);
    let start = Instant::now();
    let mut next_audio_us = 0u64;
    for seq in 0..total_frames {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due_us = seq * 1_000_000 / FPS;
        let due = start + Duration::from_micros(due_us);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        while next_audio_us <= due_us {
            let frame = Frame {
                track: TrackId::AUDIO,
                dts: (next_audio_us / 1000) as i64,
                cts: 0,
                flags: FrameFlags::KEYFRAME,
                data: audio_payload.clone(),
            };
            session.send_frame(&audio, &frame, frame.dts as u32, 0);
            next_audio_us += AUDIO_FRAME_US;
        }
        let keyframe = seq % GOP == 0;
        let mut data = (if keyframe { &key_payload } else { &payload }).to_vec();
        data[..8].copy_from_slice(&seq.to_be_bytes());
        let frame = Frame {
            track: TrackId::VIDEO,
            dts: (due_us / 1000) as i64,
            cts: 0,
            flags: if keyframe {
                FrameFlags::KEYFRAME
            } else {
                FrameFlags::NONE
            },
            data: Bytes::from(data),
        };
        session.send_frame(&video, &frame, frame.dts as u32, 0);
        clock.sent_us[seq as usize].store(
            clock.epoch.elapsed().as_micros().max(1) as u64,
            Ordering::Relaxed,
        );
        if write_transmits(&mut session, &mut socket).is_err() {
            if !relay_ending.load(Ordering::Relaxed) {
                eprintln!("publisher: relay closed the connection");
            }
            break;
        }
    }
}

/// What every sink shares: where to count, and the clock and window to time against.
struct SinkContext {
    sinks: Vec<Arc<SinkStats>>,
    clock: Arc<Clock>,
    window: Arc<Mutex<(u64, u64)>>,
}

/// One destination: accepts the relay's publish to `live/oI` and records arrivals.
struct SinkConnection {
    session: ServerSession,
    stats: Option<Arc<SinkStats>>,
}

impl SinkConnection {
    fn new() -> Self {
        Self {
            session: ServerSession::new(Instant::now(), [2; 1528], Limits::default()),
            stats: None,
        }
    }

    /// Feeds bytes read from the relay; false when the connection should close.
    fn receive(&mut self, context: &SinkContext, bytes: &[u8]) -> bool {
        let now_us = context.clock.epoch.elapsed().as_micros() as u64;
        if self
            .session
            .handle_input(Instant::now(), Bytes::copy_from_slice(bytes))
            .is_err()
        {
            return false;
        }
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::PublishRequested { name, .. } => {
                    let index: Option<usize> = name.strip_prefix('o').and_then(|i| i.parse().ok());
                    self.stats = index.and_then(|i| context.sinks.get(i)).cloned();
                    self.session.accept_publish();
                    if let Some(s) = &self.stats {
                        s.live.store(true, Ordering::Relaxed);
                    }
                }
                ServerEvent::Media(MediaEvent::Frame(frame)) if frame.track == TrackId::VIDEO => {
                    let Some(s) = &self.stats else { continue };
                    let Some(seq) = frame
                        .data
                        .get(..8)
                        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
                    else {
                        continue;
                    };
                    let (first, last) = *context.window.lock().expect("window");
                    if seq >= first && seq < last {
                        s.received.fetch_add(1, Ordering::Relaxed);
                        if let Some(sent) = context
                            .clock
                            .sent_us
                            .get(seq as usize)
                            .map(|t| t.load(Ordering::Relaxed))
                        {
                            s.latencies_us
                                .lock()
                                .expect("lat")
                                .push(now_us.saturating_sub(sent));
                        }
                    }
                }
                _ => {}
            }
        }
        true
    }
}

fn accept_sinks(listener: TcpListener, context: Arc<SinkContext>, stop: Arc<AtomicBool>) {
    let loops = (SINK_MODE.load(Ordering::Relaxed) == SINKS_EPOLL).then(|| {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        (0..threads)
            .map(|_| EpollSinks::start(Arc::clone(&context), Arc::clone(&stop)))
            .collect::<Vec<_>>()
    });
    for (index, socket) in listener.incoming().enumerate() {
        let Ok(socket) = socket else { continue };
        if let Some(loops) = &loops {
            loops[index % loops.len()].add(socket);
            continue;
        }
        let context = Arc::clone(&context);
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || sink_thread(socket, &context, &stop))
            .expect("spawn sink thread");
    }
}

/// A destination on its own thread, blocked in `read` between frames (the default
/// and `--sinks batch|idle`).
fn sink_thread(mut socket: TcpStream, context: &SinkContext, stop: &AtomicBool) {
    let policy = SINK_MODE.load(Ordering::Relaxed);
    if policy != SINKS_NORMAL {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sets this thread's own policy (pid 0); `param` outlives the call.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
        assert_eq!(
            rc,
            0,
            "sink policy {policy}: {}",
            std::io::Error::last_os_error()
        );
    }
    let mut connection = SinkConnection::new();
    let mut buf = vec![0u8; 256 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let n = match socket.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !connection.receive(context, &buf[..n])
            || write_transmits(&mut connection.session, &mut socket).is_err()
        {
            return;
        }
    }
}

/// `--sinks epoll`: destinations served like a real server serves many
/// connections, by one event loop per core over non-blocking sockets. A send from
/// the relay wakes the loop only when it is waiting; while it is busy reading other
/// destinations, arriving data just marks the socket ready.
struct EpollSinks {
    epoll: i32,
    /// Connections handed over by the acceptor, picked up by the loop before it
    /// looks their descriptor up.
    incoming: Mutex<Vec<TcpStream>>,
}

impl EpollSinks {
    fn start(context: Arc<SinkContext>, stop: Arc<AtomicBool>) -> Arc<Self> {
        // SAFETY: plain syscall; the descriptor is owned by this struct for the
        // process's lifetime (the bench exits after its runs).
        #[allow(unsafe_code)]
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(
            epoll >= 0,
            "epoll_create1: {}",
            std::io::Error::last_os_error()
        );
        let sinks = Arc::new(Self {
            epoll,
            incoming: Mutex::new(Vec::new()),
        });
        let looping = Arc::clone(&sinks);
        std::thread::spawn(move || looping.run(&context, &stop));
        sinks
    }

    fn add(&self, socket: TcpStream) {
        use std::os::fd::AsRawFd;
        socket.set_nonblocking(true).expect("non-blocking sink");
        let fd = socket.as_raw_fd();
        self.incoming.lock().expect("incoming").push(socket);
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        // SAFETY: `event` is a valid epoll_event for the duration of the call.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::epoll_ctl(self.epoll, libc::EPOLL_CTL_ADD, fd, &mut event) };
        assert_eq!(rc, 0, "epoll_ctl: {}", std::io::Error::last_os_error());
    }

    fn run(&self, context: &SinkContext, stop: &AtomicBool) {
        use std::os::fd::AsRawFd;
        let mut connections: HashMap<i32, (TcpStream, SinkConnection)> = HashMap::new();
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut buf = vec![0u8; 256 * 1024];
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: `events` has room for the count passed.
            #[allow(unsafe_code)]
            let ready = unsafe {
                libc::epoll_wait(self.epoll, events.as_mut_ptr(), events.len() as i32, 100)
            };
            for event in events.iter().take(ready.max(0) as usize) {
                let fd = event.u64 as i32;
                if !connections.contains_key(&fd) {
                    for socket in self.incoming.lock().expect("incoming").drain(..) {
                        connections.insert(socket.as_raw_fd(), (socket, SinkConnection::new()));
                    }
                }
                let Some((socket, connection)) = connections.get_mut(&fd) else {
                    continue;
                };
                let keep = match socket.read(&mut buf) {
                    Ok(0) => false,
                    Ok(n) => {
                        connection.receive(context, &buf[..n])
                            && write_transmits_nonblocking(&mut connection.session, socket).is_ok()
                    }
                    Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
                };
                if !keep {
                    // Closing the socket removes it from the epoll set.
                    connections.remove(&fd);
                }
            }
        }
    }
}

/// Writes a session's replies (handshake, acknowledgements: a few hundred bytes)
/// to a non-blocking socket, waiting briefly if its buffer is ever full.
fn write_transmits_nonblocking<S: Session>(
    session: &mut S,
    socket: &mut TcpStream,
) -> std::io::Result<()> {
    while let Some(transmit) = session.poll_transmit() {
        for piece in transmit.pieces {
            let mut written = 0;
            let mut attempts = 0;
            while written < piece.len() {
                match socket.write(&piece[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && attempts < 1000 => {
                        attempts += 1;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}
