//! The admin server on `admin.listen`: `/healthz`, `/metrics`, the JSON API with
//! runtime control, and the event feed. It runs on its own thread with its own
//! runtime, so a slow scrape or a burst of API calls never touches the I/O cores.

mod api;
mod control;
pub mod process;
mod prometheus;
mod router;
mod sampler;
mod srt_metrics;
mod srt_view;
mod sse;
mod store;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use store::{ConfigStore, StoreError};

use crate::config::AdminConfig;
use crate::engine::{self, EngineChoice, HyperIo};
use crate::server::ServerContext;

/// More concurrent admin connections than this are closed at once (memory stays
/// bounded even if something floods the port).
const MAX_CONNECTIONS: usize = 256;

/// What the rest of the server learns about the admin server.
#[derive(Debug, Clone)]
pub struct AdminHandle {
    pub listen: SocketAddr,
    pub token: String,
}

/// Shared by the admin thread's tasks (one thread: `Rc` and `RefCell` suffice).
struct AdminState {
    ctx: Arc<ServerContext>,
    store: RefCell<ConfigStore>,
    sampler: RefCell<sampler::Sampler>,
    token: String,
    metrics_require_token: bool,
    start_time_seconds: f64,
    connections: Cell<usize>,
}

/// Binds `admin.listen` (a busy port is a startup error) and starts the admin thread.
pub fn start(
    config: &AdminConfig,
    engine: EngineChoice,
    ctx: Arc<ServerContext>,
    store: ConfigStore,
) -> Result<AdminHandle, String> {
    let addr: SocketAddr = config
        .listen
        .parse()
        .map_err(|e| format!("admin.listen: {e}"))?;
    let listener =
        bind_retrying(addr).map_err(|e| format!("cannot listen on {addr} (admin.listen): {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("admin.listen: {e}"))?;
    let listen = listener
        .local_addr()
        .map_err(|e| format!("admin.listen: {e}"))?;
    let token = match &config.token {
        Some(token) => token.clone(),
        None => crate::secret::random_token()
            .map_err(|e| format!("cannot generate an admin token: {e}"))?,
    };
    let handle = AdminHandle {
        listen,
        token: token.clone(),
    };
    let metrics_require_token = config.metrics_require_token;
    std::thread::Builder::new()
        .name("manifold-admin".into())
        .spawn(move || {
            let runtime = match engine::build_runtime(engine) {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the admin runtime; admin API unavailable");
                    return;
                }
            };
            let state = Rc::new(AdminState {
                ctx,
                store: RefCell::new(store),
                sampler: RefCell::default(),
                token,
                metrics_require_token,
                start_time_seconds: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                connections: Cell::new(0),
            });
            runtime.block_on(async move {
                compio::runtime::spawn(sample_every_second(Rc::clone(&state))).detach();
                accept_loop(listener, state).await;
            });
        })
        .map_err(|e| format!("cannot start the admin thread: {e}"))?;
    Ok(handle)
}

/// Binds `addr`, retrying for a moment while it is in use: a Manifold that just
/// exited may still hold its listener while the kernel tears down its io_uring
/// (deferred), so an immediate restart would otherwise fail.
fn bind_retrying(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match std::net::TcpListener::bind(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

async fn accept_loop(listener: std::net::TcpListener, state: Rc<AdminState>) {
    engine::accept_loop(listener, "admin", |stream, peer| {
        if state.connections.get() >= MAX_CONNECTIONS {
            tracing::warn!(%peer, max = MAX_CONNECTIONS, "admin connection refused: too many open");
            return;
        }
        state.connections.set(state.connections.get() + 1);
        let state = Rc::clone(&state);
        compio::runtime::spawn(async move {
            let service = hyper::service::service_fn(|request| {
                let state = Rc::clone(&state);
                async move { Ok::<_, std::convert::Infallible>(router::handle(&state, request).await) }
            });
            let io = HyperIo::new(stream);
            // The event feed writes every second, so only dead connections idle.
            let idle = std::pin::pin!(io.idle(Duration::from_secs(60)));
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .max_buf_size(64 * 1024)
                .serve_connection(io, service);
            let connection = std::pin::pin!(connection);
            if let futures_util::future::Either::Left((Err(e), _)) =
                futures_util::future::select(connection, idle).await
            {
                tracing::debug!(%peer, error = %e, "admin connection ended");
            }
            state.connections.set(state.connections.get() - 1);
        })
        .detach();
    })
    .await;
}

/// Samples bitrates once a second and publishes them (and health changes) as events.
async fn sample_every_second(state: Rc<AdminState>) {
    let mut next = Instant::now();
    loop {
        next += Duration::from_secs(1);
        compio::time::sleep_until(next).await;
        let now = Instant::now();
        if now > next + Duration::from_secs(5) {
            // Suspended or badly starved: do not try to catch up.
            next = now;
        }
        let streams: Vec<_> = state
            .ctx
            .registry
            .list()
            .into_iter()
            .map(|s| (s.name().to_owned(), s.snapshot()))
            .collect();
        let outputs = state.ctx.outputs.list();
        let store = state.store.borrow();
        let profiles = &store.config().profiles;
        let profile_bitrate = |name: &str| {
            let profile = profiles.iter().find(|p| p.name == name)?;
            let video = crate::config::parse_bitrate(&profile.video_bitrate).unwrap_or(0);
            let audio = crate::config::parse_bitrate(&profile.audio_bitrate).unwrap_or(0);
            Some(video + audio)
        };
        let mut sampler = state.sampler.borrow_mut();
        let changes = sampler.sample(now, &streams, &outputs, profile_bitrate);
        drop(store);
        for change in changes {
            tracing::info!(stream = %change.stream, output = %change.output, degraded = change.degraded, "output health");
            state.ctx.events.publish(
                "output_health",
                serde_json::json!({
                    "stream": change.stream,
                    "output": change.output,
                    "health": if change.degraded { "degraded" } else { "ok" },
                })
                .to_string(),
            );
        }
        if !state.ctx.events.has_readers() {
            continue;
        }
        let event = serde_json::json!({
            "streams": streams.iter().map(|(name, snapshot)| {
                let rates = sampler.stream(name);
                serde_json::json!({
                    "stream": name,
                    "live": snapshot.live,
                    "bitrate_bps": rates.bitrate_bps as u64,
                    "fps": (rates.fps * 100.0).round() / 100.0,
                })
            }).collect::<Vec<_>>(),
            "outputs": outputs.iter().map(|entry| {
                let rates = sampler.output(&entry.stream, &entry.stats.name);
                serde_json::json!({
                    "stream": entry.stream,
                    "output": entry.stats.name,
                    "state": entry.stats.state().as_str(),
                    "bitrate_bps": rates.bitrate_bps as u64,
                    "target_bitrate_bps": rates.target_bps as u64,
                })
            }).collect::<Vec<_>>(),
        });
        drop(sampler);
        state.ctx.events.publish("bitrates", event.to_string());
    }
}
