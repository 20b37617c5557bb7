//! Starting and stopping the whole server: workers, listeners, outputs, signals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol_parsers::Limits;

use crate::admin::{self, ConfigStore};
use crate::config::Config;
use crate::engine::{self, EngineChoice, JobQueue, Spawner, Workers};
use crate::events::EventBus;
use crate::mux::Segmenting;
use crate::outputs::{OutputManager, OutputState, PushTarget};
use crate::stream::{QueueLimits, Registry};
use crate::transcode::{RenditionUse, Transcoding};

/// What every connection, output task and the admin API share.
#[derive(Debug)]
pub struct ServerContext {
    pub registry: Arc<Registry>,
    pub limits: Limits,
    pub grace: Duration,
    pub queue: QueueLimits,
    pub outputs: OutputManager,
    pub events: Arc<EventBus>,
    /// HLS/DASH segmenting of every live stream.
    pub segmenting: Arc<Segmenting>,
    pub player: crate::outputs::player::PlayerAssets,
    pub http_idle: Duration,
    /// SRT connections' counters, posted by each core once a second.
    pub srt: crate::ingest::srt_board::SrtBoard,
    /// Renditions of `[[profile]]`s, started while something uses them.
    pub transcoding: Arc<Transcoding>,
    /// The uses that keep each stream's `ladder` renditions running.
    pub ladders: std::sync::Mutex<Vec<RenditionUse>>,
}

/// Runs the server until SIGINT or SIGTERM. `path` is where admin API changes are
/// persisted (`None`: the embedded default, changes live in memory only).
pub fn run(config: Config, path: Option<std::path::PathBuf>) -> Result<(), String> {
    let engine = engine::probe_engine(config.server.engine).map_err(|e| format!("engine: {e}"))?;
    let workers = match config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let rtmp_addr: SocketAddr = config
        .rtmp
        .listen
        .parse()
        .map_err(|e| format!("rtmp.listen: {e}"))?;
    let rtmps = match &config.rtmp.tls_listen {
        None => None,
        Some(listen) => {
            let addr: SocketAddr = listen
                .parse()
                .map_err(|e| format!("rtmp.tls_listen: {e}"))?;
            let (Some(cert), Some(key)) = (&config.rtmp.tls_cert, &config.rtmp.tls_key) else {
                return Err("rtmp.tls_listen needs rtmp.tls_cert and rtmp.tls_key".into());
            };
            let tls =
                engine::server_config(cert, key).map_err(|e| format!("RTMPS certificate: {e}"))?;
            Some((addr, tls))
        }
    };
    let http_addr: SocketAddr = config
        .http
        .listen
        .parse()
        .map_err(|e| format!("http.listen: {e}"))?;
    let srt_addr: SocketAddr = config
        .srt
        .listen
        .parse()
        .map_err(|e| format!("srt.listen: {e}"))?;
    let srt_config = config.srt.clone();
    // Bind once here so a busy port is a clear startup error, not a worker's log line.
    let mut listeners = Vec::new();
    for index in 0..workers {
        let srt = engine::reuseport_udp(srt_addr)
            .map_err(|e| format!("cannot listen on {srt_addr} (srt.listen): {e}"))?;
        let http = engine::reuseport_listener(http_addr)
            .map_err(|e| format!("cannot listen on {http_addr} (http.listen): {e}"))?;
        let rtmp = engine::reuseport_listener(rtmp_addr)
            .map_err(|e| format!("cannot listen on {rtmp_addr} (rtmp.listen): {e}"))?;
        let tls = match &rtmps {
            None => None,
            Some((addr, config)) => Some((
                engine::reuseport_listener(*addr)
                    .map_err(|e| format!("cannot listen on {addr} (rtmp.tls_listen): {e}"))?,
                Arc::clone(config),
            )),
        };
        listeners.push((index, rtmp, tls, http, srt));
    }

    let registry = Registry::new(&config);
    let transcoding = Transcoding::new(&config, Arc::clone(&registry))?;
    let events = EventBus::new();
    let spawner = Arc::new(Spawner::new(workers));
    let ctx = Arc::new(ServerContext {
        registry: Arc::clone(&registry),
        limits: Limits::default(),
        grace: config.grace_period(),
        queue: QueueLimits::default(),
        outputs: OutputManager::new(Arc::clone(&spawner), Arc::clone(&events)),
        events,
        segmenting: Segmenting::new(&config.hls)?,
        player: crate::outputs::player::PlayerAssets::load(&config.http.player_assets),
        // Never shorter than a blocking playlist request may wait (3 targets).
        http_idle: Duration::from_secs(
            config
                .http
                .idle_timeout_seconds
                .max((config.hls.segment_seconds * 3.0).ceil() as u64 + 1),
        ),
        srt: Default::default(),
        transcoding,
        ladders: Default::default(),
    });
    start_ladders(&ctx, &config, &spawner)?;
    // Outputs are queued on the workers' job queues; they start with the workers.
    for stream in &config.streams {
        for push in &stream.pushes {
            ctx.outputs
                .add(&ctx, &stream.name, push.clone())
                .map_err(|e| {
                    format!(
                        "stream {} push {} {}: {}",
                        stream.name, push.name, e.field, e.message
                    )
                })?;
        }
    }
    let admin_token = config.admin.token.clone();
    let store = ConfigStore::new(config.clone(), path);
    let admin = admin::start(&config.admin, engine, Arc::clone(&ctx), store)?;

    print_banner(
        &config,
        engine,
        workers,
        &admin_token,
        &admin,
        &ctx.transcoding,
    );

    let listeners: Vec<std::sync::Mutex<Option<ListenerSet>>> = listeners
        .into_iter()
        .map(|l| std::sync::Mutex::new(Some(l)))
        .collect();
    let listeners = Arc::new(listeners);
    let worker_ctx = Arc::clone(&ctx);
    let handles = Workers::start(workers, engine, move |index| {
        let ctx = Arc::clone(&worker_ctx);
        let listeners = listeners
            .get(index)
            .and_then(|slot| slot.lock().ok()?.take());
        let jobs = spawner.queue(index);
        let srt_config = srt_config.clone();
        async move { worker_main(ctx, listeners, jobs, srt_config).await }
    })
    .map_err(|e| format!("cannot start workers: {e}"))?;

    wait_for_signal();
    tracing::info!("shutting down: ending outputs");
    registry.shutdown();
    // Give outputs a moment to send deleteStream and close.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline
        && ctx
            .outputs
            .list()
            .iter()
            .any(|o| matches!(o.stats.state(), OutputState::Live | OutputState::Connecting))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    ctx.ladders
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    drop(handles);
    Ok(())
}

/// Renditions publish on transcoder threads; their HLS/DASH segmenting runs on a
/// worker like any stream's. Each stream's `ladder` profiles are held in use for
/// as long as the server runs.
fn start_ladders(
    ctx: &Arc<ServerContext>,
    config: &Config,
    spawner: &Arc<Spawner>,
) -> Result<(), String> {
    let segmenting = Arc::clone(&ctx.segmenting);
    let queue = ctx.queue;
    let jobs = Arc::clone(spawner);
    let mut segmented = std::collections::HashSet::new();
    for stream in &config.streams {
        ctx.segmenting
            .set_ladder(&stream.name, stream.ladder.clone());
        for profile in &stream.ladder {
            let name = crate::transcode::rendition_name(&stream.name, profile);
            if let Some(bps) = ctx.transcoding.nominal_bandwidth(profile) {
                ctx.segmenting.set_nominal_bandwidth(&name, bps);
            }
            segmented.insert(name);
        }
    }
    // Only ladder renditions are cut for HLS/DASH; one that runs for a push output
    // or an RTMP viewer alone needs no segments.
    ctx.transcoding.set_on_publish(Arc::new(move |stream| {
        if !segmented.contains(stream.name()) {
            return;
        }
        let (segmenting, stream) = (Arc::clone(&segmenting), Arc::clone(stream));
        jobs.spawn(Box::new(move || segmenting.ensure(&stream, queue)));
    }));
    if !config.hls.enabled {
        // A ladder serves HLS/DASH only: with those off, renditions run on demand
        // (push profiles, RTMP/SRT viewers) and none is held for the ladder.
        if config.streams.iter().any(|s| s.ladder.len() > 1) {
            tracing::warn!("hls.enabled = false: stream ladders are not transcoded");
        }
        return Ok(());
    }
    let mut ladders = ctx.ladders.lock().unwrap_or_else(|e| e.into_inner());
    for stream in &config.streams {
        for profile in stream.ladder.iter().filter(|p| *p != crate::mux::SOURCE) {
            ladders.push(
                ctx.transcoding
                    .acquire(&stream.name, profile)
                    .map_err(|e| format!("stream {} ladder {profile}: {e}", stream.name))?,
            );
        }
    }
    Ok(())
}

type ListenerSet = (
    usize,
    std::net::TcpListener,
    Option<(std::net::TcpListener, Arc<rustls::ServerConfig>)>,
    std::net::TcpListener,
    std::net::UdpSocket,
);

async fn worker_main(
    ctx: Arc<ServerContext>,
    listeners: Option<ListenerSet>,
    jobs: Option<Arc<JobQueue>>,
    srt_config: crate::config::SrtConfig,
) {
    if let Some((core, rtmp, rtmps, http, srt)) = listeners {
        let srt = crate::ingest::srt::run(srt, core, Arc::clone(&ctx), srt_config);
        compio::runtime::spawn(srt).detach();
        if let Some((listener, tls)) = rtmps {
            compio::runtime::spawn(rtmp_accept_loop(listener, Some(tls), Arc::clone(&ctx)))
                .detach();
        }
        compio::runtime::spawn(http_accept_loop(http, Arc::clone(&ctx))).detach();
        compio::runtime::spawn(rtmp_accept_loop(rtmp, None, ctx)).detach();
    }
    match jobs {
        Some(jobs) => jobs.run().await,
        None => std::future::pending().await,
    }
}

/// RTMP or RTMPS connections: each served by the ingest on this core.
async fn rtmp_accept_loop(
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    ctx: Arc<ServerContext>,
) {
    let what = if tls.is_some() { "rtmps" } else { "rtmp" };
    engine::accept_loop(listener, what, |stream, peer| {
        let task = crate::ingest::rtmp::serve(stream, peer, tls.clone(), Arc::clone(&ctx));
        compio::runtime::spawn(task).detach();
    })
    .await;
}

async fn http_accept_loop(listener: std::net::TcpListener, ctx: Arc<ServerContext>) {
    engine::accept_loop(listener, "http", |stream, _| {
        let task = crate::outputs::http::serve(stream, Arc::clone(&ctx), ctx.http_idle);
        compio::runtime::spawn(task).detach();
    })
    .await;
}

fn wait_for_signal() {
    let runtime = match compio::runtime::RuntimeBuilder::new().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot wait for signals; running until killed");
            loop {
                std::thread::park();
            }
        }
    };
    runtime.block_on(async {
        let ctrl_c = std::pin::pin!(compio::signal::ctrl_c());
        let term = std::pin::pin!(compio::signal::unix::signal(15));
        futures_util::future::select(ctrl_c, term).await;
    });
}

fn print_banner(
    config: &Config,
    engine: EngineChoice,
    workers: usize,
    configured_token: &Option<String>,
    admin: &admin::AdminHandle,
    transcoding: &Transcoding,
) {
    let host = |listen: &str| {
        let addr: Option<SocketAddr> = listen.parse().ok();
        match addr {
            Some(a) if a.ip().is_unspecified() => format!("HOST:{}", a.port()),
            Some(a) => a.to_string(),
            None => listen.to_owned(),
        }
    };
    let rtmp = host(&config.rtmp.listen);
    println!(
        "Manifold {} — I/O engine: {engine}, {workers} worker thread(s)",
        env!("CARGO_PKG_VERSION")
    );
    if transcoding.report.notes.is_empty() {
        println!("Encoders: no [[profile]] configured (passthrough only)");
    }
    for note in &transcoding.report.notes {
        println!("Encoders: {note} [{}]", crate::transcode::ffmpeg_version());
    }
    if config.ingest.allow_undeclared {
        println!(
            "WARNING: ingest.allow_undeclared = true: anyone who can reach the RTMP port can publish any stream"
        );
        println!(
            "Publish:  rtmp://{rtmp}/live/STREAM        (OBS: server rtmp://{rtmp}/live, key STREAM)"
        );
        println!("Watch:    rtmp://{rtmp}/live/STREAM");
    }
    if !config.hls.enabled {
        println!("HLS/DASH: off (hls.enabled = false)");
    }
    let admin_url = format!("http://{}", admin.listen);
    println!("Admin:    {admin_url}/api/v1/streams   metrics: {admin_url}/metrics");
    if configured_token.is_none() {
        // Printed once to the console, never logged: there is no other way to learn it.
        println!(
            "Admin token (random, set admin.token to fix it): {}",
            admin.token
        );
    }
    if let Some(tls) = &config.rtmp.tls_listen {
        println!("Publish (TLS): rtmps://{}/live/KEY", host(tls));
    }
    for stream in &config.streams {
        println!(
            "Stream {:?}: publish rtmp://{rtmp}/live/<key>, watch rtmp://{rtmp}/live/{}",
            stream.name, stream.name
        );
        for push in &stream.pushes {
            let target = PushTarget::parse(&push.url, push.key.as_deref())
                .map(|t| t.redacted())
                .unwrap_or_default();
            println!(
                "  push {:?} -> {target}{}",
                push.name,
                if push.enabled { "" } else { " (disabled)" }
            );
        }
    }
}
