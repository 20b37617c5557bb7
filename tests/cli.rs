//! The command line: --version, --help, check-config (file, line and key in errors),
//! the embedded default, and clear startup errors.

mod common;

use std::process::Command;
use std::time::Duration;

use common::run_output;

fn manifold() -> Command {
    Command::new(env!("CARGO_BIN_EXE_manifold"))
}

#[test]
fn version_and_help() {
    let mut cmd = manifold();
    cmd.arg("--version");
    let (status, out, _) = run_output(cmd, "manifold --version", Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(
        out.trim(),
        format!("manifold {}", env!("CARGO_PKG_VERSION"))
    );
    let mut cmd = manifold();
    cmd.arg("--help");
    let (status, out, _) = run_output(cmd, "manifold --help", Duration::from_secs(10));
    assert!(status.success());
    assert!(out.contains("check-config FILE"), "{out}");
    let mut cmd = manifold();
    cmd.arg("--bogus");
    let (status, _, err) = run_output(cmd, "manifold --bogus", Duration::from_secs(10));
    assert_eq!(status.code(), Some(2));
    assert!(err.contains("unrecognised arguments"), "{err}");
}

#[test]
fn check_config_prints_the_effective_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("good.toml");
    std::fs::write(&path, "[[stream]]\nname = \"main\"\nkey = \"K\"\n  [[stream.push]]\n  name = \"yt\"\n  url = \"rtmp://a.rtmp.youtube.com/live2\"\n  key = \"secret\"\n").expect("write");
    let mut cmd = manifold();
    cmd.arg("check-config").arg(&path);
    let (status, out, err) = run_output(cmd, "check-config", Duration::from_secs(10));
    assert!(status.success(), "{err}");
    // Defaults are filled in: the effective config, not an echo of the file.
    assert!(out.contains("listen = \"0.0.0.0:1935\""), "{out}");
    assert!(out.contains("grace_period_seconds = 10"), "{out}");
    assert!(out.contains("name = \"yt\""), "{out}");
}

#[test]
fn check_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[stream]]\nname = \"main\"\nkey = \"K\"\n\n  [[stream.push]]\n  name = \"yt\"\n  url = \"http://example.invalid/live\"\n").expect("write");
    let mut cmd = manifold();
    cmd.arg("check-config").arg(&path);
    let (status, _, err) = run_output(cmd, "check-config", Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
    let expected = format!(
        "{}:7: key `stream[0].push[0].url`: URL must start with rtmp:// or rtmps://",
        path.display()
    );
    assert!(err.contains(&expected), "expected {expected:?} in {err:?}");

    std::fs::write(
        &path,
        "[rtmp]\nlisten = \"0.0.0.0:1935\"\nlisten_typo = 1\n",
    )
    .expect("write");
    let mut cmd = manifold();
    cmd.arg("check-config").arg(&path);
    let (status, _, err) = run_output(cmd, "check-config", Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains(&format!("{}:3", path.display())) && err.contains("listen_typo"),
        "{err}"
    );
}

#[test]
fn the_embedded_default_passes_check_config() {
    let mut cmd = manifold();
    cmd.arg("print-default-config");
    let (status, out, _) = run_output(cmd, "print-default-config", Duration::from_secs(10));
    assert!(status.success());
    assert!(out.contains("allow_undeclared = true"), "{out}");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("default.toml");
    std::fs::write(&path, out).expect("write");
    let mut cmd = manifold();
    cmd.arg("check-config").arg(&path);
    let (status, _, err) = run_output(cmd, "check-config", Duration::from_secs(10));
    assert!(status.success(), "{err}");
}

#[test]
fn a_busy_port_is_a_clear_startup_error() {
    // Held without SO_REUSEPORT, so Manifold's reuseport bind must fail.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("busy.toml");
    std::fs::write(&path, format!("[rtmp]\nlisten = \"127.0.0.1:{port}\"\n")).expect("write");
    let mut cmd = manifold();
    cmd.arg("--config").arg(&path);
    let (status, _, err) = run_output(cmd, "manifold on a busy port", Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port} (rtmp.listen)")),
        "{err}"
    );
}

#[test]
fn a_missing_certificate_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tls.toml");
    let port = common::free_port();
    let tls_port = common::free_port();
    std::fs::write(
        &path,
        format!("[rtmp]\nlisten = \"127.0.0.1:{port}\"\ntls_listen = \"127.0.0.1:{tls_port}\"\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"\n"),
    )
    .expect("write");
    let mut cmd = manifold();
    cmd.arg("--config").arg(&path);
    let (status, _, err) = run_output(
        cmd,
        "manifold with a missing certificate",
        Duration::from_secs(10),
    );
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("RTMPS certificate") && err.contains("/nonexistent/cert.pem"),
        "{err}"
    );
}

/// `server.log_level` sets the level when `RUST_LOG` is unset; `RUST_LOG` wins.
#[test]
fn the_log_level_comes_from_the_config_and_rust_log_overrides_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("quiet.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlog_level = \"warn\"\n[rtmp]\nlisten = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n[admin]\nlisten = \"127.0.0.1:{}\"\ntoken = \"a-long-enough-token\"\n",
            common::free_port(),
            common::free_port(),
            common::free_port()
        ),
    )
    .expect("write");
    for (rust_log, expect_info) in [(None, false), (Some("info"), true)] {
        let mut cmd = manifold();
        cmd.arg("--config").arg(&path).env_remove("RUST_LOG");
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start manifold");
        // The banner is printed after the workers start; give them a moment, then stop.
        std::thread::sleep(Duration::from_millis(500));
        common::signal(child.id(), "TERM");
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "RUST_LOG={rust_log:?}: {err}");
        // "shutting down" is logged at info on SIGTERM.
        assert_eq!(
            err.contains("shutting down"),
            expect_info,
            "RUST_LOG={rust_log:?}: {err}"
        );
    }
}

/// On a kernel without io_uring (a seccomp filter answers `io_uring_setup` with
/// ENOSYS): `engine = "io_uring"` is a startup error that says so, and `auto` runs
/// on epoll, says so, and serves.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn without_io_uring_an_explicit_io_uring_is_an_error_and_auto_runs_on_epoll() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = common::free_port();
    let config = |engine: &str| {
        let path = dir.path().join(format!("{engine}.toml"));
        std::fs::write(
            &path,
            format!(
                "[server]\nengine = \"{engine}\"\n[rtmp]\nlisten = \"127.0.0.1:{port}\"\n\
                 [admin]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
                 [srt]\nlisten = \"127.0.0.1:0\"\n"
            ),
        )
        .expect("write");
        path
    };
    let mut cmd = manifold();
    common::seccomp::without_io_uring(cmd.arg("--config").arg(config("io_uring")));
    let (status, _, err) = run_output(
        cmd,
        "manifold asking for io_uring without it",
        Duration::from_secs(10),
    );
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("io_uring was asked for but is unavailable"),
        "{err}"
    );

    let mut cmd = manifold();
    common::seccomp::without_io_uring(cmd.arg("--config").arg(config("auto")));
    let mut server = KillOnDrop(
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start manifold"),
    );
    let log = common::LogBuffer::default();
    log.attach(&mut server.0);
    log.wait_for_line(&["I/O engine: epoll,"], Duration::from_secs(10));
    // It serves: an RTMP client completes the handshake.
    let client = common::raw_rtmp::RawRtmp::handshake(port);
    drop(client.stream.shutdown(std::net::Shutdown::Both));
}

/// A server process that is killed however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
