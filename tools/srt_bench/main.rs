//! Whole-system SRT benchmark: Manifold side by side with libsrt's
//! `srt-live-transmit` on the same machine in the same run.
//!
//! `cpu`: ffmpeg (libsrt caller, `-re`, stream copy) sends the same MPEG-TS file
//! over SRT on loopback to each receiver in turn: Manifold ingesting it (SRT
//! receive, decryption when asked, TS demux into frames, the GOP cache), and
//! srt-live-transmit relaying it to a UDP socket that this process drains. Reported:
//! the receiver's CPU (utime+stime from /proc) over a window, as % of one core and
//! per Mbit/s of stream, and the ratio Manifold / srt-live-transmit.
//!
//! `loss`: ffmpeg sends the clip through a user-space lossy link (each way: drop
//! LOSS%, delay 20 ms; `tests/common/lossy_relay.rs`) at 120 ms latency, to Manifold
//! (recorded by RTMP play) and to srt-live-transmit (written to a file). Reported:
//! video frames whose payload arrived intact (ffprobe MD5 per packet) out of those
//! sent, for each receiver.
//!
//! Usage: cargo build --release && ./target/release/srt-bench
//!        [--mode cpu,loss] [--seconds 20] [--mbps 20] [--rounds 2] [--loss 0,5,10]
//!        [--passphrase P]   (SRT_BENCH_KEEP=1 keeps the scratch directory)

#[path = "../../tests/common/frame_match.rs"]
mod frame_match;
#[path = "../../tests/common/lossy_relay.rs"]
mod lossy_relay;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use manifold::admin::process;

use frame_match::{intact_video_frames, payload_hashes};
use lossy_relay::LossyRelay;

const RECEIVERS: [&str; 2] = ["manifold", "srt-live-transmit"];
/// The loss cases' link: one-way delay, and the receivers' latency.
const LINK_DELAY: Duration = Duration::from_millis(20);
const LATENCY_MS: u64 = 120;

struct Options {
    modes: Vec<String>,
    seconds: u64,
    mbps: u64,
    rounds: usize,
    losses: Vec<u64>,
    passphrase: Option<String>,
}

fn main() {
    let options = parse_args();
    let manifold = std::env::current_exe()
        .expect("own path")
        .with_file_name("manifold");
    assert!(
        manifold.exists(),
        "{} missing: cargo build --release",
        manifold.display()
    );
    for tool in ["ffmpeg", "ffprobe", "srt-live-transmit"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "{tool} missing: tools/setup-test-deps.sh installs it"
        );
    }
    let work = std::env::temp_dir().join(format!("srt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("scratch dir");
    if options.modes.iter().any(|m| m == "cpu") {
        cpu_mode(&options, &manifold, &work);
    }
    if options.modes.iter().any(|m| m == "loss") {
        loss_mode(&options, &manifold, &work);
    }
    if std::env::var_os("SRT_BENCH_KEEP").is_some() {
        eprintln!("kept {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
}

fn parse_args() -> Options {
    let mut options = Options {
        modes: vec!["cpu".into(), "loss".into()],
        seconds: 20,
        mbps: 20,
        rounds: 2,
        losses: vec![0, 5, 10],
        passphrase: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        let list = || value.split(',').map(str::to_owned).collect::<Vec<_>>();
        match flag.as_str() {
            "--mode" => options.modes = list(),
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--mbps" => options.mbps = value.parse().expect("--mbps N"),
            "--rounds" => options.rounds = value.parse().expect("--rounds N"),
            "--loss" => {
                options.losses = list()
                    .iter()
                    .map(|v| v.parse().expect("--loss 0,5,10"))
                    .collect()
            }
            "--passphrase" => options.passphrase = Some(value),
            _ => panic!("unknown option {flag}"),
        }
    }
    options
}

/// An H.264 1080p30 + AAC file at about `mbps`, GOP 2 s, in `format` (mpegts, flv).
fn make_media(path: &Path, seconds: u64, mbps: u64, format: &str) {
    let rate = format!("{mbps}M");
    let buffer = format!("{}M", mbps * 2);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-bf", "2",
        ])
        .args(["-b:v", &rate, "-maxrate", &rate, "-bufsize", &buffer])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"])
        .args(["-shortest", "-f", format])
        .arg(path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not make the media");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Starts Manifold with SRT on `srt_port` and stream `main` (key `K`); returns it
/// with its RTMP port.
fn start_manifold(
    manifold: &Path,
    dir: &Path,
    srt_port: u16,
    passphrase: Option<&str>,
) -> (Child, u16) {
    let rtmp = free_port();
    let passphrase = passphrase
        .map(|p| format!("passphrase = \"{p}\"\n"))
        .unwrap_or_default();
    let config = format!(
        "[rtmp]\nlisten = \"127.0.0.1:{rtmp}\"\n[srt]\nlisten = \"127.0.0.1:{srt_port}\"\nlatency_ms = {LATENCY_MS}\n\
         [http]\nlisten = \"127.0.0.1:{}\"\n[admin]\nlisten = \"127.0.0.1:{}\"\n\
         [ingest]\ngrace_period_seconds = 1\n[[stream]]\nname = \"main\"\nkey = \"K\"\n{passphrase}",
        free_port(),
        free_port()
    );
    let path = dir.join("manifold.toml");
    std::fs::write(&path, config).expect("write config");
    // The banner (stdout) and the log (stderr) go to one file.
    let log = std::fs::File::create(dir.join("manifold.log")).expect("log file");
    let child = Command::new(manifold)
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("start manifold");
    wait_log(
        &dir.join("manifold.log"),
        "I/O engine",
        Duration::from_secs(10),
    );
    (child, rtmp)
}

/// Waits until the log holds a line with `needle`.
fn wait_log(log: &Path, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.lines().any(|l| l.contains(needle)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in {} within {timeout:?}:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// srt-live-transmit as an SRT listener on `port`, writing to `output`.
fn start_live_transmit(
    port: u16,
    output: &str,
    stdout: Stdio,
    passphrase: Option<&str>,
    extra: &[String],
) -> Child {
    let mut url = format!("srt://127.0.0.1:{port}?mode=listener&latency={LATENCY_MS}");
    if let Some(p) = passphrase {
        url.push_str(&format!("&passphrase={p}"));
    }
    let child = Command::new("srt-live-transmit")
        .args(["-q", "-a:no"])
        .args(extra)
        .arg(url)
        .arg(output)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("start srt-live-transmit");
    // It binds at once; give it a moment before a caller arrives.
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// ffmpeg sends `media` in real time over SRT to `url`.
fn send(media: &Path, url: &str) -> Child {
    Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-i",
        ])
        .arg(media)
        .args(["-c", "copy", "-f", "mpegts", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ffmpeg")
}

fn caller_url(port: u16, stream_id: Option<&str>, passphrase: Option<&str>) -> String {
    let mut url = format!(
        "srt://127.0.0.1:{port}?pkt_size=1316&latency={}",
        LATENCY_MS * 1000
    );
    if let Some(id) = stream_id {
        url.push_str(&format!("&streamid={id}"));
    }
    if let Some(p) = passphrase {
        url.push_str(&format!("&passphrase={p}"));
    }
    url
}

fn stop(mut child: Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

struct CpuResult {
    cpu_percent: f64,
    rss_mib: f64,
}

fn cpu_mode(options: &Options, manifold: &Path, work: &Path) {
    let media = work.join("cpu.ts");
    let duration = options.seconds + 8;
    make_media(&media, duration, options.mbps, "mpegts");
    let size = std::fs::metadata(&media).expect("media").len();
    let stream_mbps = size as f64 * 8.0 / duration as f64 / 1e6;
    println!(
        "## SRT ingest CPU: {stream_mbps:.1} Mbit/s MPEG-TS (1080p30 H.264 + AAC), {} s window, {} rounds{}",
        options.seconds,
        options.rounds,
        if options.passphrase.is_some() {
            ", AES-128"
        } else {
            ""
        }
    );
    println!();
    println!("| receiver | round | CPU % of a core | CPU % per Mbit/s | RSS MiB |");
    println!("|---|---|---|---|---|");
    let mut totals = [0.0f64; 2];
    for round in 1..=options.rounds {
        for (i, receiver) in RECEIVERS.iter().enumerate() {
            let result = cpu_case(receiver, manifold, &media, options, work);
            totals[i] += result.cpu_percent;
            println!(
                "| {receiver} | {round} | {:.2} | {:.3} | {:.1} |",
                result.cpu_percent,
                result.cpu_percent / stream_mbps,
                result.rss_mib
            );
        }
    }
    let [ours, theirs] = totals.map(|t| t / options.rounds as f64);
    println!();
    println!(
        "mean CPU: manifold {ours:.2}%, srt-live-transmit {theirs:.2}% of a core; \
         per Mbit/s {:.3} vs {:.3}; ratio manifold / srt-live-transmit = {:.2}",
        ours / stream_mbps,
        theirs / stream_mbps,
        ours / theirs
    );
    println!();
}

fn cpu_case(
    receiver: &str,
    manifold: &Path,
    media: &Path,
    options: &Options,
    work: &Path,
) -> CpuResult {
    let dir = work.join(format!("cpu-{receiver}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_udp_port();
    let passphrase = options.passphrase.as_deref();
    // srt-live-transmit relays to a UDP socket this process drains.
    let sink = UdpSocket::bind("127.0.0.1:0").expect("sink");
    sink.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let sink_port = sink.local_addr().expect("addr").port();
    let drained = Arc::new(AtomicU64::new(0));
    let draining = Arc::new(AtomicBool::new(true));
    let drain = {
        let (drained, draining) = (Arc::clone(&drained), Arc::clone(&draining));
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while draining.load(Ordering::Relaxed) {
                if let Ok(n) = sink.recv(&mut buf) {
                    drained.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        })
    };
    let (child, stream_id) = if receiver == "manifold" {
        let (child, _) = start_manifold(manifold, &dir, port, passphrase);
        (child, Some("publish:live/K"))
    } else {
        let out = format!("udp://127.0.0.1:{sink_port}");
        (
            start_live_transmit(port, &out, Stdio::null(), passphrase, &[]),
            None,
        )
    };
    let mut sender = send(media, &caller_url(port, stream_id, passphrase));
    std::thread::sleep(Duration::from_secs(3));
    let pid = child.id();
    let cpu_start = process::of(pid).cpu_seconds;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(options.seconds));
    let cpu = process::of(pid).cpu_seconds - cpu_start;
    let elapsed = t0.elapsed().as_secs_f64();
    let rss_mib = process::of(pid).resident_bytes as f64 / 1048576.0;
    assert!(
        sender.try_wait().ok().flatten().is_none(),
        "{receiver}: the sender ended before the window did (refused?)"
    );
    let _ = sender.kill();
    let _ = sender.wait();
    stop(child);
    draining.store(false, Ordering::Relaxed);
    let _ = drain.join();
    if receiver != "manifold" {
        assert!(
            drained.load(Ordering::Relaxed) > 1_000_000,
            "srt-live-transmit relayed nothing"
        );
    }
    CpuResult {
        cpu_percent: cpu / elapsed * 100.0,
        rss_mib,
    }
}

fn loss_mode(options: &Options, manifold: &Path, work: &Path) {
    // Payloads are compared in each receiver's container: Manifold's RTMP play
    // (AVCC, as in FLV) against the FLV source; srt-live-transmit's TS file (Annex B)
    // against the source remuxed to TS, which is what ffmpeg sends.
    let media = work.join("loss.flv");
    make_media(&media, 20, 5, "flv");
    let as_ts = work.join("loss.ts");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&media)
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&as_ts)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not remux the media");
    let sources = [payload_hashes(&media), payload_hashes(&as_ts)];
    let total = sources[0].iter().filter(|(v, _)| *v).count();
    println!(
        "## SRT under loss: 20 s 1080p30 clip at ~5 Mbit/s, {} ms latency, {} ms delay each way, {} rounds",
        LATENCY_MS,
        LINK_DELAY.as_millis(),
        options.rounds
    );
    println!();
    println!(
        "| loss each way | receiver | intact video frames (of {total} per round) | frames lost % | datagrams the link dropped | packets found lost / given up by the receiver |"
    );
    println!("|---|---|---|---|---|---|");
    for &loss in &options.losses {
        let mut intact = [0usize; 2];
        let mut runs = [LossRun::default(), LossRun::default()];
        for round in 0..options.rounds {
            for (i, receiver) in RECEIVERS.iter().enumerate() {
                let dir = work.join(format!("loss-{loss}-{round}-{receiver}"));
                std::fs::create_dir_all(&dir).expect("dir");
                let run = if *receiver == "manifold" {
                    loss_to_manifold(manifold, &media, &dir, loss)
                } else {
                    loss_to_live_transmit(&media, &dir, loss)
                };
                intact[i] += intact_video_frames(&sources[i], &payload_hashes(&run.recording));
                runs[i].link_dropped += run.link_dropped;
                runs[i].lost += run.lost;
                runs[i].given_up += run.given_up;
            }
        }
        let sent = total * options.rounds;
        for (i, receiver) in RECEIVERS.iter().enumerate() {
            println!(
                "| {loss}% | {receiver} | {} / {sent} | {:.2} | {} | {} / {} |",
                intact[i],
                (sent - intact[i].min(sent)) as f64 * 100.0 / sent as f64,
                runs[i].link_dropped,
                runs[i].lost,
                runs[i].given_up
            );
        }
    }
    println!();
}

/// One receiver's run over the lossy link.
#[derive(Default)]
struct LossRun {
    recording: PathBuf,
    /// Datagrams the link dropped, both ways.
    link_dropped: u64,
    /// Data packets the receiver found missing, and those it gave up on.
    lost: u64,
    given_up: u64,
}

/// ffmpeg → lossy link → Manifold, recorded by RTMP play.
fn loss_to_manifold(manifold: &Path, media: &Path, dir: &Path, loss: u64) -> LossRun {
    let port = free_udp_port();
    let (server, rtmp) = start_manifold(manifold, dir, port, None);
    let recording = dir.join("main.flv");
    let mut recorder = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(format!("rtmp://127.0.0.1:{rtmp}/live/main"))
        .args(["-c", "copy", "-f", "flv"])
        .arg(&recording)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start recorder");
    wait_log(
        &dir.join("manifold.log"),
        "playing",
        Duration::from_secs(10),
    );
    let relay = LossyRelay::start(SocketAddr::from(([127, 0, 0, 1], port)), loss, LINK_DELAY);
    let mut sender = send(media, &caller_url(relay.port, Some("publish:live/K"), None));
    wait(&mut sender, Duration::from_secs(60));
    // The stream ends after the grace period; the recorder then exits.
    wait(&mut recorder, Duration::from_secs(20));
    let link_dropped = relay.dropped.load(Ordering::Relaxed);
    drop(relay);
    stop(server);
    // The connection's counters, from its last log line.
    let log = std::fs::read_to_string(dir.join("manifold.log")).unwrap_or_default();
    let ended = log
        .lines()
        .rfind(|l| l.contains("SRT connection ended"))
        .unwrap_or_default();
    let counter = |name: &str| {
        ended
            .split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    LossRun {
        recording,
        link_dropped,
        lost: counter("lost"),
        given_up: counter("dropped"),
    }
}

/// ffmpeg → lossy link → srt-live-transmit writing a file.
fn loss_to_live_transmit(media: &Path, dir: &Path, loss: u64) -> LossRun {
    let port = free_udp_port();
    let recording = dir.join("libsrt.ts");
    let file = std::fs::File::create(&recording).expect("create");
    // Totals every 100 packets, as CSV (the last report misses at most 100).
    let stats = dir.join("stats.csv");
    let report = [
        "-s:100".into(),
        "-f".into(),
        "-pf:csv".into(),
        format!("-statsout:{}", stats.display()),
    ];
    let mut listener = start_live_transmit(port, "file://con", Stdio::from(file), None, &report);
    let relay = LossyRelay::start(SocketAddr::from(([127, 0, 0, 1], port)), loss, LINK_DELAY);
    let mut sender = send(media, &caller_url(relay.port, None, None));
    wait(&mut sender, Duration::from_secs(60));
    // ffmpeg's shutdown reaches the listener after its last packet (-a:no: it exits).
    let deadline = Instant::now() + Duration::from_secs(5);
    while listener.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let link_dropped = relay.dropped.load(Ordering::Relaxed);
    drop(relay);
    stop(listener);
    let csv = std::fs::read_to_string(&stats).unwrap_or_default();
    let header: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
    let last: Vec<&str> = csv.lines().last().unwrap_or_default().split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    LossRun {
        recording,
        link_dropped,
        lost: column("pktRcvLoss"),
        given_up: column("pktRcvDrop"),
    }
}

fn wait(child: &mut Child, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
