//! Shared harness for the end-to-end tests: real Manifold processes, real ffmpeg,
//! ffprobe and nginx-rtmp, all on loopback. Every wait has a deadline; a missing
//! tool fails the test with the package to install (skipped is not passed).
#![allow(dead_code)]

pub mod ffprobe;
pub mod frame_match;
pub mod http;
pub mod lossy_relay;
pub mod open_files;
pub mod raw_rtmp;
// The filter knows the system call numbering of these two architectures only.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub mod seccomp;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Fails the test when `tool` is not installed.
pub fn require(tool: &str) -> PathBuf {
    let package = match tool {
        "nginx" => "nginx libnginx-mod-rtmp",
        "ffmpeg" | "ffprobe" => "ffmpeg",
        "openssl" => "openssl",
        other => other,
    };
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|path| path.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{tool} is not installed: this test needs it (apt-get install {package}, or run tools/setup-test-deps.sh)")
    })
}

/// A loopback port that was free a moment ago, never one this test process was
/// given before (the kernel may hand out a just-released port again at once).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no fresh ephemeral port in 100 tries");
}

/// Polls `check` until it returns `Some`; `None` once the deadline passed, so the
/// caller can say what it last saw.
pub fn poll_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `check` until it returns `Some` or the deadline passes.
pub fn wait_for<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    poll_until(timeout, check)
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// The value of the `/metrics` sample whose name and labels are exactly `series`.
pub fn metric_sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// Makes a clip from ffmpeg's test pattern at `size` and `rate` and a 440 Hz tone,
/// `seconds` long: the video encoded as `video` says (codec and its options),
/// yuv420p, AAC audio, in the container `path`'s extension names.
pub fn make_clip(path: &Path, size: &str, rate: &str, seconds: u32, video: &[&str]) {
    require("ffmpeg");
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ])
    .arg(format!("testsrc2=size={size}:rate={rate}"))
    .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
    .args(["-t", &seconds.to_string()])
    .args(video)
    .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
    .arg(path);
    let (status, _, err) = run_output(cmd, "ffmpeg making a clip", Duration::from_secs(120));
    assert!(status.success(), "could not make {}: {err}", path.display());
}

/// The 1080p30 H.264 High (B-frames) + AAC clip, generated once per machine with
/// `tools/make-test-media.sh` into `target/test-media/`.
pub fn test_media(seconds: u32) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-media");
    std::fs::create_dir_all(&dir).expect("create target/test-media");
    let path = dir.join(format!("src-1080p30-{seconds}s.flv"));
    if path.is_file() {
        return path;
    }
    require("ffmpeg");
    // Write to a unique name and rename, so concurrent test binaries never see half a file.
    let partial = dir.join(format!("partial-{}-{seconds}.flv", std::process::id()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/make-test-media.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(&partial)
        .arg(seconds.to_string())
        .status()
        .expect("run tools/make-test-media.sh");
    assert!(status.success(), "make-test-media.sh failed");
    std::fs::rename(&partial, &path).expect("rename test media");
    path
}

/// Collects a child's stdout and stderr lines.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<String>>);

impl LogBuffer {
    /// Collects `child`'s piped stdout and stderr from now on.
    pub fn attach(&self, child: &mut Child) {
        let out = child.stdout.take();
        let err = child.stderr.take();
        for reader in [
            out.map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
            err.map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let buffer = Arc::clone(&self.0);
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    if std::env::var_os("MANIFOLD_TEST_ECHO").is_some() {
                        eprintln!("{line}");
                    }
                    let mut text = buffer.lock().unwrap_or_else(|e| e.into_inner());
                    text.push_str(&line);
                    text.push('\n');
                }
            });
        }
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }

    /// Lines containing every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
            .collect()
    }

    /// Waits for a line with every one of `needles`; at the deadline, panics with
    /// the log as it is then (not as it was when the wait began).
    pub fn wait_for_line(&self, needles: &[&str], timeout: Duration) -> String {
        poll_until(timeout, || self.lines_with(needles).into_iter().next()).unwrap_or_else(|| {
            panic!(
                "timed out after {timeout:?} waiting for a log line with {needles:?}\n--- log ---\n{}",
                self.text()
            )
        })
    }
}

/// A Manifold server process with its own config and working directory.
pub struct Manifold {
    child: Child,
    pub rtmp_port: u16,
    /// UDP port of the SRT listener.
    pub srt_port: u16,
    pub admin_port: u16,
    pub http_port: u16,
    pub rtmps_port: Option<u16>,
    pub log: LogBuffer,
    pub dir: tempfile::TempDir,
    engine: String,
    log_level: String,
}

fn spawn_manifold(config_path: &Path, log: &LogBuffer, level: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_manifold"))
        .arg("--config")
        .arg(config_path)
        .env(
            "RUST_LOG",
            std::env::var("MANIFOLD_TEST_LOG").unwrap_or_else(|_| level.into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start manifold");
    log.attach(&mut child);
    child
}

/// The admin token every test server is configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token-5f3a";

/// Both I/O engines; every end-to-end case runs on each.
pub const ENGINES: [&str; 2] = ["io_uring", "epoll"];

impl Manifold {
    /// Starts Manifold with `[server] engine = ENGINE` and the given extra TOML
    /// (streams, pushes...). The RTMP listener gets a free port.
    pub fn start(engine: &str, extra_toml: &str) -> Self {
        Self::start_with(engine, extra_toml, false)
    }

    /// As `start`, plus an RTMPS listener with a fresh self-signed certificate
    /// (`cert.pem` in `dir`, for clients to trust).
    pub fn start_with(engine: &str, extra_toml: &str, rtmps: bool) -> Self {
        Self::start_full(engine, extra_toml, rtmps, "info")
    }

    /// As `start_with`, logging at `level` (a `RUST_LOG` filter).
    pub fn start_full(engine: &str, extra_toml: &str, rtmps: bool, level: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let rtmp_port = free_port();
        let srt_port = free_port();
        let admin_port = free_port();
        let http_port = free_port();
        let (srt_settings, extra_toml) = split_srt_table(extra_toml);
        let mut config = format!(
            "[server]\nworkers = 2\nengine = \"{engine}\"\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\ntoken = \"{ADMIN_TOKEN}\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\nplayer_assets = \"{}/player/node_modules\"\n[srt]\nlisten = \"127.0.0.1:{srt_port}\"\n{srt_settings}[rtmp]\nlisten = \"127.0.0.1:{rtmp_port}\"\n",
            env!("CARGO_MANIFEST_DIR")
        );
        let rtmps_port = rtmps.then(|| {
            let port = free_port();
            self_signed_cert(dir.path());
            config.push_str(&format!(
                "tls_listen = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                dir.path().join("cert.pem").display(),
                dir.path().join("key.pem").display()
            ));
            port
        });
        config.push_str(&extra_toml);
        let config_path = dir.path().join("manifold.toml");
        std::fs::write(&config_path, &config).expect("write config");
        let log = LogBuffer::default();
        let child = spawn_manifold(&config_path, &log, level);
        let server = Self {
            child,
            rtmp_port,
            srt_port,
            admin_port,
            http_port,
            rtmps_port,
            log,
            dir,
            engine: engine.to_owned(),
            log_level: level.to_owned(),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        self.log.wait_for_line(
            &[&format!("I/O engine: {},", self.engine)],
            Duration::from_secs(10),
        );
        let rtmp_port = self.rtmp_port;
        wait_for("the RTMP port to accept", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", rtmp_port)).ok()
        });
    }

    /// Stops Manifold (SIGTERM) and starts it again on the same config file, which
    /// holds whatever the admin API persisted. The log starts afresh.
    pub fn restart(&mut self) {
        let status = self.terminate();
        assert!(status.success(), "manifold exited with {status} on SIGTERM");
        self.log = LogBuffer::default();
        self.child = spawn_manifold(&self.config_path(), &self.log, &self.log_level);
        self.wait_ready();
    }

    /// The config file Manifold runs on (and persists admin API changes to).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("manifold.toml")
    }

    /// An admin API call with the test token.
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> http::Response {
        http::request(
            self.admin_port,
            method,
            path,
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            body,
        )
    }

    /// `http://127.0.0.1:PORT/PATH` on the public HTTP server (HLS, DASH).
    /// The API's view of the rendition `name` of `stream` (`None` while it has none).
    pub fn rendition(&self, stream: &str, name: &str) -> Option<serde_json::Value> {
        let body = self
            .api("GET", &format!("/api/v1/streams/{stream}"), None)
            .json();
        body["renditions"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
    }

    pub fn http_url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.http_port,
            path.trim_start_matches('/')
        )
    }

    pub fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{path}", self.rtmp_port)
    }

    /// `srt://127.0.0.1:PORT?streamid=STREAM_ID` plus `extra` query parameters.
    pub fn srt_url(&self, stream_id: &str, extra: &str) -> String {
        let mut url = format!("srt://127.0.0.1:{}?streamid={stream_id}", self.srt_port);
        if !extra.is_empty() {
            url.push('&');
            url.push_str(extra);
        }
        url
    }

    pub fn rtmps_url(&self, path: &str) -> String {
        format!(
            "rtmps://127.0.0.1:{}/live/{path}",
            self.rtmps_port.expect("rtmps enabled")
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.pid(), "TERM");
        wait_for(
            "manifold to exit after SIGTERM",
            Duration::from_secs(10),
            || self.child.try_wait().ok().flatten(),
        )
    }
}

impl Drop for Manifold {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal (TERM, STOP, CONT, KILL) to a process this test started.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Writes a test CA (`ca.pem`, for clients to trust) and a server certificate it
/// signed for 127.0.0.1 (`cert.pem`, `key.pem`) into `dir`. webpki refuses a CA
/// certificate used as a server's own, so a plain self-signed leaf will not do.
pub fn self_signed_cert(dir: &Path) {
    require("openssl");
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl {args:?} failed");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                "/CN=Manifold test CA",
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "cert.pem",
    ]);
}

/// An nginx with libnginx-mod-rtmp on loopback, recording every stream it receives
/// to `DIR/NAME.flv`.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub log: LogBuffer,
}

const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

impl Nginx {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        Self::start_in(dir, port)
    }

    fn start_in(dir: tempfile::TempDir, port: u16) -> Self {
        require("nginx");
        assert!(
            Path::new(RTMP_MODULE).is_file(),
            "{RTMP_MODULE} missing: apt-get install libnginx-mod-rtmp"
        );
        let d = dir.path().display();
        let conf = format!(
            "load_module {RTMP_MODULE};\ndaemon off;\nmaster_process off;\nworker_processes 1;\n\
             error_log {d}/error.log info;\npid {d}/nginx.pid;\nevents {{ worker_connections 1024; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
               application live {{ live on; record all; record_path {d}; record_unique off; record_append on; }} }} }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
        let mut child = Command::new("nginx")
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let log = LogBuffer::default();
        log.attach(&mut child);
        wait_for("nginx-rtmp to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Self {
            child,
            port,
            dir,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/live", self.port)
    }

    pub fn recording(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.flv"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills nginx and starts it again on the same port and directory.
    pub fn restart(mut self) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        Self::start_in(dir, port)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ffmpeg -re -i MEDIA -c copy -f flv URL` in the background.
pub fn publish(media: &Path, url: &str) -> Child {
    publish_with(media, url, &[])
}

pub fn publish_with(media: &Path, url: &str, input_args: &[&str]) -> Child {
    require("ffmpeg");
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(input_args)
        .arg("-i")
        .arg(media)
        .args(["-c", "copy", "-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ffmpeg")
}

/// `ffmpeg -re -i CLIP -c copy -f mpegts OUTPUT`, its stdout piped.
pub fn publish_mpegts(media: &Path, output: &str) -> Child {
    publish_mpegts_with(media, output, &[])
}

/// `publish_mpegts` with extra input options (`-stream_loop -1` for a publisher
/// that must outlast a test whose length depends on the machine's load).
pub fn publish_mpegts_with(media: &Path, output: &str, input_options: &[&str]) -> Child {
    require("ffmpeg");
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(input_options)
        .arg("-i")
        .arg(media)
        .args(["-c", "copy", "-f", "mpegts", output])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ffmpeg")
}

/// Waits for a child to exit within `timeout`, killing it otherwise.
pub fn wait_exit(child: &mut Child, what: &str, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a command to completion with a deadline and returns its stdout.
pub fn run_output(
    mut command: Command,
    what: &str,
    timeout: Duration,
) -> (std::process::ExitStatus, String, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let status = wait_exit(&mut child, what, timeout);
    (
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}

static TEST_MEDIA_10S: OnceLock<PathBuf> = OnceLock::new();

/// The 10-second clip most tests publish.
pub fn clip() -> &'static Path {
    TEST_MEDIA_10S.get_or_init(|| test_media(10))
}

/// `promtool check metrics` must accept `metrics`.
pub fn promtool_check(metrics: &str) {
    require("promtool");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), metrics.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Takes an `[srt]` table out of a test's extra config (the harness writes that table
/// itself, with the port): its settings, and the config without it.
fn split_srt_table(extra: &str) -> (String, String) {
    let (mut settings, mut rest) = (String::new(), String::new());
    let mut in_srt = false;
    for line in extra.lines() {
        if line.trim_start().starts_with('[') {
            in_srt = line.trim() == "[srt]";
            if in_srt {
                continue;
            }
        }
        let target = if in_srt { &mut settings } else { &mut rest };
        target.push_str(line);
        target.push('\n');
    }
    (settings, rest)
}
