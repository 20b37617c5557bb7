//! `/metrics` scrape cost (issue #6): Manifold with S streams × O push outputs,
//! scraped once per second like Prometheus does. Reports each scrape's wall time
//! (request sent → last byte read) and the process's CPU with and without scrapes.
//!
//! ```sh
//! cargo build --release
//! ./target/release/metrics-bench --streams 100 --outputs 10 --seconds 30
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use manifold::admin::process;

const TOKEN: &str = "metrics-bench-token";

fn main() {
    let mut streams = 100usize;
    let mut outputs = 10usize;
    let mut seconds = 30u64;
    let mut manifold = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/release/manifold"
    ));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--streams" => streams = value().parse().unwrap_or_else(|_| usage()),
            "--outputs" => outputs = value().parse().unwrap_or_else(|_| usage()),
            "--seconds" => seconds = value().parse().unwrap_or_else(|_| usage()),
            "--manifold" => manifold = PathBuf::from(value()),
            _ => usage(),
        }
    }
    let dir = std::env::temp_dir().join(format!("metrics-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let admin_port = free_port();
    let mut config = format!(
        "[server]\nworkers = 2\n[rtmp]\nlisten = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\ntoken = \"{TOKEN}\"\n",
        free_port(),
        free_port()
    );
    // Outputs are enabled: each has a task waiting for its stream, as in production
    // before the encoders start. The destination is never contacted (no publisher).
    for s in 0..streams {
        config.push_str(&format!("[[stream]]\nname = \"s{s}\"\nkey = \"k{s}\"\n"));
        for o in 0..outputs {
            config.push_str(&format!(
                "  [[stream.push]]\n  name = \"o{o}\"\n  url = \"rtmp://127.0.0.1:1/live/s{s}o{o}\"\n"
            ));
        }
    }
    let path = dir.join("manifold.toml");
    std::fs::write(&path, config).expect("write config");
    let mut child: Child = Command::new(&manifold)
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "start {}: {e} (cargo build --release first)",
                manifold.display()
            )
        });
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while scrape(admin_port).is_err() {
        assert!(Instant::now() < deadline, "the admin port never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let start-up settle.
    std::thread::sleep(Duration::from_secs(2));

    let idle_start = (process::of(pid).cpu_seconds, Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let idle_cpu = cpu_percent(pid, idle_start);

    let mut times = Vec::new();
    let mut size = 0;
    let mut series = 0;
    let busy_start = (process::of(pid).cpu_seconds, Instant::now());
    let mut next = Instant::now();
    for _ in 0..seconds {
        let started = Instant::now();
        let body = scrape(admin_port).expect("scrape");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        size = body.len();
        series = body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        next += Duration::from_secs(1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let busy_cpu = cpu_percent(pid, busy_start);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);

    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "| streams | outputs | series | body KiB | scrape p50 ms | p99 ms | max ms | CPU % idle | CPU % at 1 scrape/s | scrape cost, % of a core |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {streams} | {} | {series} | {:.0} | {:.2} | {:.2} | {:.2} | {idle_cpu:.2} | {busy_cpu:.2} | {:.2} |",
        streams * outputs,
        size as f64 / 1024.0,
        at(0.5),
        at(0.99),
        at(1.0),
        busy_cpu - idle_cpu
    );
}

fn usage() -> ! {
    eprintln!(
        "usage: metrics-bench [--streams 100] [--outputs 10] [--seconds 30] [--manifold target/release/manifold]"
    );
    std::process::exit(2)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn scrape(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP head"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(head.to_owned()));
    }
    Ok(body.to_owned())
}

fn cpu_percent(pid: u32, (cpu_seconds, since): (f64, Instant)) -> f64 {
    let used = process::of(pid).cpu_seconds - cpu_seconds;
    used / since.elapsed().as_secs_f64() * 100.0
}
