//! SRT on one worker core. One UDP socket (SO_REUSEPORT, so the kernel keeps each
//! peer on one core) carries the stateless listener and every connection hashed to
//! it, demultiplexed by destination socket id. Publishers' payloads go through the
//! MPEG-TS demuxer into the stream; readers get the stream muxed back to MPEG-TS
//! (`outputs::srt_out`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use compio::buf::BufResult;
use compio::net::UdpSocket;
use futures_util::future::select;
use protocol_parsers::Session;
use protocol_parsers::mpegts::{DemuxEvent, TsDemuxer};
use protocol_parsers::srt::{
    ConnectRequest, Connection, ConnectionConfig, Control, Encryption, KeyRefresh, Listener,
    ListenerOutput, Mode, Packet, RejectReason, SrtEvent, destination,
};

use super::srt_board::{ConnectionReport, CoreReport, Refused, SrtRole};
use crate::config::SrtConfig;
use crate::server::ServerContext;
use crate::stream::{Origin, PublishError, PublisherGuard, Stream, Subscriber, ViewerGuard};

/// Largest datagram read; anything longer is not SRT (MSS 1500) and is cut.
const RECEIVE_BUFFER: usize = 2048;
/// Connections one core serves; past this, callers are refused with SRT_REJ_RESOURCE.
const MAX_CONNECTIONS: usize = 4096;
/// How often timers are checked: the ACK period.
const TICK: Duration = Duration::from_millis(10);
/// How often a core posts to the admin server's board: this often (by the clock,
/// not by ticks, which slip under load) while it has connections, at the first
/// tick after its first connection arrives, and this long after a refusal while it
/// has none.
const REPORT_PERIOD: Duration = Duration::from_secs(1);

pub(crate) enum Role {
    Publishing {
        guard: PublisherGuard,
        demuxer: Box<TsDemuxer>,
    },
    Reading {
        subscriber: Arc<Subscriber>,
        _viewer: ViewerGuard,
        /// Keeps a transcoded rendition running while it is read.
        _rendition: Option<crate::transcode::RenditionUse>,
    },
    /// The connection has closed and what it held is released.
    Ended,
}

pub(crate) struct Peer {
    pub conn: Connection,
    pub role: Role,
    /// For the admin server: the stream, what the peer does with it, since when.
    pub stream: String,
    pub kind: SrtRole,
    pub since: Instant,
    /// Why it ended, once it has.
    pub closed: Option<String>,
}

pub struct SrtWorker {
    socket: UdpSocket,
    listener: Listener,
    peers: RefCell<HashMap<u32, Rc<RefCell<Peer>>>>,
    /// (caller address, caller socket id) → our socket id, for repeated conclusions.
    callers: RefCell<HashMap<(SocketAddr, u32), u32>>,
    pub(crate) ctx: Arc<ServerContext>,
    config: SrtConfig,
    /// This worker's index: its slot on the admin board.
    core: usize,
    refused: RefCell<Refused>,
    /// A refusal counted since the last report: the timers run until it is posted.
    refusal_pending: Cell<bool>,
    /// Set when a peer arrives or a refusal is counted while the timers sleep.
    nudged: Cell<bool>,
    /// The sleeping timers task, woken by `nudge`.
    timers_waker: Cell<Option<Waker>>,
}

/// Serves SRT on `socket` until the worker ends; `core` is the worker's index.
pub async fn run(
    socket: std::net::UdpSocket,
    core: usize,
    ctx: Arc<ServerContext>,
    config: SrtConfig,
) {
    let socket = match UdpSocket::from_std(socket) {
        Ok(socket) => socket,
        Err(e) => {
            tracing::error!(error = %e, "cannot register the SRT socket");
            return;
        }
    };
    let mut secret = [0u8; 32];
    fastrand::fill(&mut secret);
    let worker = Rc::new(SrtWorker {
        socket,
        listener: Listener::new(secret, Instant::now()),
        peers: RefCell::new(HashMap::new()),
        callers: RefCell::new(HashMap::new()),
        ctx,
        config,
        core,
        refused: RefCell::default(),
        refusal_pending: Cell::new(false),
        nudged: Cell::new(false),
        timers_waker: Cell::new(None),
    });
    compio::runtime::spawn(timers(Rc::clone(&worker))).detach();
    worker.receive().await;
}

async fn timers(worker: Rc<SrtWorker>) {
    // When the board last heard of this core's connections; `None` when it has not
    // since the core was idle, so a new connection shows at the next tick.
    let mut reported_at: Option<Instant> = None;
    loop {
        // With no connection there is nothing to time: sleep until a peer arrives,
        // instead of waking the core 100 times a second. Refusals counted
        // meanwhile are posted within a second (one wake for a whole scan).
        if worker.peers.borrow().is_empty() {
            reported_at = None;
            if worker.refusal_pending.get() {
                // Only a new peer nudges while a refusal is pending.
                let report_due = pin!(compio::time::sleep(REPORT_PERIOD));
                let _ = select(report_due, pin!(worker.until_nudged())).await;
                worker.report();
                continue;
            }
            worker.report();
            // A nudge from while the timers ticked is stale; nothing awaits between
            // here and the wait, so no new one is lost.
            worker.nudged.set(false);
            // Until a peer arrives (the loop goes on ticking) or something is
            // refused (reported after a second, above).
            worker.until_nudged().await;
            continue;
        }
        compio::time::sleep(TICK).await;
        let now = Instant::now();
        if reported_at.is_none_or(|at| now.duration_since(at) >= REPORT_PERIOD) {
            reported_at = Some(now);
            worker.report();
        }
        let due: Vec<(u32, Rc<RefCell<Peer>>)> = worker
            .peers
            .borrow()
            .iter()
            .filter(|(_, p)| p.borrow().conn.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, p)| (*id, Rc::clone(p)))
            .collect();
        for (id, peer) in due {
            peer.borrow_mut().conn.handle_timeout(now);
            worker.drive(id, &peer).await;
        }
    }
}

impl SrtWorker {
    /// Wakes the timers task if it sleeps for want of connections.
    fn nudge(&self) {
        self.nudged.set(true);
        if let Some(waker) = self.timers_waker.take() {
            waker.wake();
        }
    }

    /// Resolves at the next `nudge`.
    async fn until_nudged(&self) {
        std::future::poll_fn(|cx| {
            if self.nudged.replace(false) {
                Poll::Ready(())
            } else {
                self.timers_waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
    }

    /// Posts this core's counters and connections to the admin board.
    fn report(&self) {
        self.refusal_pending.set(false);
        let connections = self
            .peers
            .borrow()
            .values()
            .map(|peer| {
                let peer = peer.borrow();
                ConnectionReport {
                    stream: peer.stream.clone(),
                    role: peer.kind,
                    remote: peer.conn.peer(),
                    since: peer.since,
                    stats: peer.conn.stats(),
                }
            })
            .collect();
        let report = CoreReport {
            refused: *self.refused.borrow(),
            connections,
        };
        self.ctx.srt.post(self.core, report);
    }

    fn refuse(&self, count: impl FnOnce(&mut Refused) -> &mut u64) {
        *count(&mut self.refused.borrow_mut()) += 1;
        if !self.refusal_pending.replace(true) {
            self.nudge();
        }
    }

    async fn receive(self: &Rc<Self>) {
        loop {
            let buffer = BytesMut::with_capacity(RECEIVE_BUFFER);
            let BufResult(result, buffer) = self.socket.recv_from(buffer).await;
            match result {
                Ok((_, from)) => {
                    self.on_datagram(Instant::now(), from, buffer.freeze())
                        .await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SRT receive failed");
                    compio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn on_datagram(self: &Rc<Self>, now: Instant, from: SocketAddr, datagram: Bytes) {
        let Some(dest) = destination(&datagram) else {
            self.refuse(|r| &mut r.malformed);
            return;
        };
        if dest == 0 {
            self.on_handshake(now, from, datagram).await;
            return;
        }
        let Some(peer) = self.peers.borrow().get(&dest).cloned() else {
            self.refuse(|r| &mut r.unknown_destination);
            return;
        };
        {
            let mut peer = peer.borrow_mut();
            if peer.conn.peer() != from {
                // Addressed to a connection from another address: spoofed or stale.
                self.refuse(|r| &mut r.spoofed);
                return;
            }
            if let Err(e) = peer.conn.handle_input(now, datagram) {
                self.refuse(|r| &mut r.malformed);
                tracing::debug!(%from, error = %e, "malformed SRT datagram dropped");
            }
        }
        self.drive(dest, &peer).await;
    }

    async fn on_handshake(self: &Rc<Self>, now: Instant, from: SocketAddr, datagram: Bytes) {
        let packet = match Packet::parse(datagram.clone()) {
            Ok(Packet::Control(packet)) => packet,
            _ => {
                self.refuse(|r| &mut r.handshakes_ignored);
                return;
            }
        };
        if let Control::Handshake(hs) = &packet.control {
            let existing = self.callers.borrow().get(&(from, hs.socket_id)).copied();
            if let Some(id) = existing {
                let peer = self.peers.borrow().get(&id).cloned();
                if let Some(peer) = peer {
                    let _ = peer.borrow_mut().conn.handle_input(now, datagram);
                    self.drive(id, &peer).await;
                }
                return;
            }
        }
        match self.listener.handle(now, from, &packet) {
            ListenerOutput::Reply(reply) => self.send(vec![reply], from).await,
            ListenerOutput::Ignore(why) => {
                self.refuse(|r| &mut r.handshakes_ignored);
                tracing::debug!(%from, why, "SRT handshake ignored");
            }
            ListenerOutput::Request(request) => self.accept(now, *request).await,
        }
    }

    async fn reject(
        &self,
        now: Instant,
        request: &ConnectRequest,
        reason: RejectReason,
        why: &str,
    ) {
        self.refuse(|r| &mut r.rejected);
        tracing::warn!(peer = %request.peer, ?reason, why, "SRT caller rejected");
        self.send(vec![request.reject(now, reason)], request.peer)
            .await;
    }

    async fn accept(self: &Rc<Self>, now: Instant, request: ConnectRequest) {
        let wanted = match &request.stream {
            Ok(wanted) => wanted.clone(),
            Err(reason) => {
                let why =
                    "stream id missing or not understood (use publish:live/KEY or read:live/NAME)";
                return self.reject(now, &request, *reason, why).await;
            }
        };
        if self.peers.borrow().len() >= MAX_CONNECTIONS {
            return self
                .reject(
                    now,
                    &request,
                    RejectReason::Resource,
                    "connection limit of this core",
                )
                .await;
        }
        let registry = &self.ctx.registry;
        let passphrase = match wanted.mode {
            Mode::Publish => registry.passphrase_for_key(&wanted.name),
            // A rendition (`read:live/main/720p`: app `live/main`) is read with its
            // source's passphrase.
            Mode::Read => match wanted.app.strip_prefix("live/") {
                Some(source) => registry.passphrase_for_name(source),
                None => registry.passphrase_for_name(&wanted.name),
            },
        };
        let encryption = match Encryption::negotiate(&request, passphrase.as_deref()) {
            Ok(encryption) => encryption,
            Err(reason) => {
                let why = match reason {
                    RejectReason::BadSecret => "wrong passphrase",
                    RejectReason::Unsecure if passphrase.is_some() => "stream needs a passphrase",
                    RejectReason::Unsecure => "caller encrypts, stream has no passphrase",
                    _ => "key material not understood",
                };
                return self.reject(now, &request, reason, why).await;
            }
        };
        let (role, stream) = match wanted.mode {
            Mode::Publish => {
                match registry.publish(&wanted.app, &wanted.name, Origin::new("srt", request.peer))
                {
                    Ok(guard) => {
                        super::publisher_joined(&self.ctx, &guard, request.peer, "srt");
                        let name = guard.stream().name().to_owned();
                        let role = Role::Publishing {
                            guard,
                            demuxer: Box::new(TsDemuxer::new()),
                        };
                        (role, name)
                    }
                    Err(e) => {
                        let reason = match e {
                            PublishError::UnknownApp(_) => RejectReason::NotFound,
                            PublishError::UnknownKey => RejectReason::Unauthorized,
                            PublishError::AlreadyPublishing(_) => RejectReason::Conflict,
                            PublishError::InvalidName(_) => RejectReason::BadRequest,
                            PublishError::ShuttingDown => RejectReason::Close,
                        };
                        return self.reject(now, &request, reason, &e.to_string()).await;
                    }
                }
            }
            Mode::Read => {
                match crate::ingest::rtmp::find_or_transcode(&self.ctx, &wanted.app, &wanted.name) {
                    Some((stream, rendition)) => {
                        // What a reader gets changes keys on libsrt's schedule.
                        let encryption = match encryption.map(|e| self.with_key_refresh(e)) {
                            None => None,
                            Some(Ok(encryption)) => Some(encryption),
                            Some(Err(e)) => {
                                let why = format!("no random seed for key refresh: {e}");
                                return self
                                    .reject(now, &request, RejectReason::Resource, &why)
                                    .await;
                            }
                        };
                        let viewer = stream.add_viewer("srt");
                        return self
                            .accept_reader(now, request, stream, (viewer, rendition), encryption)
                            .await;
                    }
                    None => {
                        return self
                            .reject(now, &request, RejectReason::NotFound, "no such stream")
                            .await;
                    }
                }
            }
        };
        let id = self.register(now, &request, role, (stream, SrtRole::Publish), encryption);
        let peer = self.peers.borrow().get(&id).cloned();
        if let Some(peer) = peer {
            self.drive(id, &peer).await;
        }
    }

    fn with_key_refresh(&self, encryption: Encryption) -> std::io::Result<Encryption> {
        let refresh = KeyRefresh {
            every: self.config.km_refresh_packets,
            preannounce: self.config.km_preannounce_packets,
            seed: crate::secret::random_bytes()?,
        };
        Ok(encryption.refresh_keys(&refresh))
    }

    async fn accept_reader(
        self: &Rc<Self>,
        now: Instant,
        request: ConnectRequest,
        stream: Arc<Stream>,
        (viewer, rendition): (ViewerGuard, Option<crate::transcode::RenditionUse>),
        encryption: Option<Encryption>,
    ) {
        let subscriber = stream.subscribe(self.ctx.queue);
        let role = Role::Reading {
            subscriber: Arc::clone(&subscriber),
            _viewer: viewer,
            _rendition: rendition,
        };
        let name = (stream.name().to_owned(), SrtRole::Read);
        let id = self.register(now, &request, role, name, encryption);
        tracing::info!(peer = %request.peer, stream = stream.name(), "SRT reader connected");
        let peer = self.peers.borrow().get(&id).cloned();
        if let Some(peer) = peer {
            self.drive(id, &peer).await;
            let worker = Rc::clone(self);
            let task = crate::outputs::srt_out::serve(worker, id, peer, stream, subscriber);
            compio::runtime::spawn(task).detach();
        }
    }

    fn register(
        &self,
        now: Instant,
        request: &ConnectRequest,
        role: Role,
        (stream, kind): (String, SrtRole),
        encryption: Option<Encryption>,
    ) -> u32 {
        let mut peers = self.peers.borrow_mut();
        let mut id = fastrand::u32(1..);
        while peers.contains_key(&id) {
            id = fastrand::u32(1..);
        }
        let config = ConnectionConfig {
            socket_id: id,
            latency: Duration::from_millis(u64::from(self.config.latency_ms)),
            ..ConnectionConfig::default()
        };
        let conn = Connection::accept(request, config, encryption, now);
        peers.insert(
            id,
            Rc::new(RefCell::new(Peer {
                conn,
                role,
                stream,
                kind,
                since: now,
                closed: None,
            })),
        );
        self.callers
            .borrow_mut()
            .insert((request.peer, request.caller_socket()), id);
        self.nudge();
        id
    }

    /// Applies the connection's events and sends what it queued; forgets it once closed.
    pub(crate) async fn drive(&self, id: u32, peer: &Rc<RefCell<Peer>>) {
        let (transmits, to, closed) = {
            let mut guard = peer.borrow_mut();
            let peer = &mut *guard;
            while let Some(event) = peer.conn.poll_event() {
                match event {
                    SrtEvent::Data(payload) => {
                        if let Err(reason) = ingest(&mut peer.role, &payload) {
                            peer.conn.close(Instant::now());
                            peer.closed.get_or_insert(reason);
                        }
                    }
                    SrtEvent::Closed(reason) => {
                        peer.closed.get_or_insert(reason.to_string());
                    }
                }
            }
            let mut transmits = Vec::new();
            while let Some(transmit) = peer.conn.poll_transmit() {
                transmits.push(transmit.pieces);
            }
            (transmits, peer.conn.peer(), peer.closed.is_some())
        };
        for pieces in transmits {
            self.send(pieces, to).await;
        }
        if closed {
            self.forget(id);
        }
    }

    /// Releases what a closed connection held; a reader task still holding the peer
    /// is woken and ends by itself.
    fn forget(&self, id: u32) {
        let Some(peer) = self.peers.borrow_mut().remove(&id) else {
            return;
        };
        self.callers.borrow_mut().retain(|_, v| *v != id);
        let mut peer = peer.borrow_mut();
        let role = std::mem::replace(&mut peer.role, Role::Ended);
        let reason = peer.closed.clone().unwrap_or_else(|| "closed".into());
        let stats = peer.conn.stats();
        let address = peer.conn.peer();
        tracing::info!(
            peer = %address,
            %reason,
            rtt_ms = f64::from(stats.rtt_us) / 1000.0,
            received = stats.receive.packets,
            lost = stats.receive.lost,
            recovered = stats.receive.recovered,
            dropped = stats.receive.dropped,
            sent = stats.send.packets,
            retransmitted = stats.send.retransmitted,
            "SRT connection ended"
        );
        match role {
            Role::Publishing { guard, mut demuxer } => {
                // The last PES of each track ends with the input.
                demuxer.flush();
                let _ = deliver(&guard, &mut demuxer);
                super::publisher_left(&self.ctx, guard, address, &reason);
            }
            Role::Reading { subscriber, .. } => subscriber.close(),
            Role::Ended => {}
        }
    }

    async fn send(&self, pieces: Vec<Bytes>, to: SocketAddr) {
        let BufResult(result, _) = self.socket.send_to_vectored(pieces, to).await;
        if let Err(e) = result {
            tracing::debug!(%to, error = %e, "SRT send failed");
        }
    }
}

/// Feeds one in-order payload of a publisher through the demuxer into its stream.
fn ingest(role: &mut Role, payload: &[u8]) -> Result<(), String> {
    let Role::Publishing { guard, demuxer } = role else {
        return Ok(());
    };
    demuxer.push(payload);
    deliver(guard, demuxer)
}

/// Hands what the demuxer has ready to the stream.
fn deliver(guard: &PublisherGuard, demuxer: &mut TsDemuxer) -> Result<(), String> {
    while let Some(event) = demuxer.poll_event() {
        let accepted = match event {
            DemuxEvent::Track(track) => guard.push_track(track),
            DemuxEvent::Frame(frame) => guard.push_frame(frame),
        };
        if !accepted {
            return Err("stream deleted through the admin API".into());
        }
    }
    Ok(())
}
