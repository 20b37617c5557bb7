//! One `[[stream.push]]` output: connects to its destination while the stream is
//! live, forwards from its own bounded queue, reconnects with backoff and jitter.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::Poll;
use std::time::{Duration, Instant};

use compio::net::TcpStream;
use protocol_parsers::rtmp::{ClientConfig, ClientEvent, ClientSession};

use futures_util::future::{Either, select};

use super::control::{Command, OutputControl};
use super::direct_push::PushMedia;
use super::forwarder::Forwarded;
use super::{OutputState, OutputStats, PushTarget};
use crate::engine::{Pump, Transport, Wake, handshake_random};
use crate::server::ServerContext;
use crate::stream::{DirectSink, Stream, Subscriber};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A destination that accepts no bytes for this long is treated as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a session that ends may take to send its last media and messages.
const CLOSING_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection that stayed live this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Reads of a push connection: the destination sends the handshake (3 KiB), short
/// command replies and acknowledgements; a larger burst just takes several reads.
const PUSH_READ_BUFFER: usize = 4096;

pub struct PushOutput {
    pub stream: Arc<Stream>,
    pub target: PushTarget,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub stats: Arc<OutputStats>,
    pub ctx: Arc<ServerContext>,
    /// The stats generation this task owns (see `OutputStats::take_over`).
    pub generation: u64,
    pub control: Arc<OutputControl>,
    /// Keeps the output's transcoded rendition running (`profile = ...`).
    pub _rendition: Option<crate::transcode::RenditionUse>,
}

/// A live session's subscription; dropping it (also when the task is cancelled by
/// a restart or stop) leaves the stream and folds the drop count into the stats.
struct Subscription<'a> {
    stream: &'a Stream,
    stats: &'a OutputStats,
    subscriber: Arc<Subscriber>,
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        self.stream.unsubscribe(&self.subscriber);
        // Lets the second handle on the socket go, and no direct write can
        // follow the session's last messages.
        self.subscriber.clear_direct_sink();
        self.stats.detach();
    }
}

enum Ended {
    /// The stream ended (grace period over or shutdown): go idle.
    StreamEnded,
}

impl PushOutput {
    fn set_state(&self, state: OutputState) {
        self.stats.set_state(self.generation, state);
    }

    /// Runs until the server shuts down or the operator stops this output.
    pub async fn run(self) {
        loop {
            // The command is polled first, so a stop takes effect before the
            // session makes any further progress.
            let command = pin!(self.control.next());
            let sessions = pin!(self.sessions());
            match select(command, sessions).await {
                Either::Left((Command::Restart, _)) => {
                    tracing::info!(stream = self.stream.name(), output = %self.stats.name, "output restarted by the operator");
                    self.stats.add(&self.stats.reconnects, 1);
                }
                Either::Left((Command::Stop, _)) | Either::Right(((), _)) => return,
            }
        }
    }

    async fn sessions(&self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            // A deleted stream stays "live" until its publisher's next frame is
            // refused; its outputs stop here rather than reconnect meanwhile.
            if self.ctx.registry.is_shutting_down() || self.stream.is_closed() {
                break;
            }
            if !self.stream.is_live() {
                self.set_state(OutputState::Idle);
                self.stream.wait_live().await;
                backoff = BACKOFF_MIN;
                continue;
            }
            self.set_state(OutputState::Connecting);
            let started = Instant::now();
            match self.once().await {
                Ok(Ended::StreamEnded) => {
                    self.set_state(OutputState::Idle);
                }
                Err(e) => {
                    tracing::warn!(stream = self.stream.name(), output = %self.stats.name, destination = %self.target.redacted(), error = %e, "push failed; retrying");
                    self.stats.set_error(e.to_string());
                    self.set_state(OutputState::Retrying);
                    self.stats.add(&self.stats.reconnects, 1);
                    if started.elapsed() >= STABLE_AFTER {
                        backoff = BACKOFF_MIN;
                    }
                    // Full jitter within [backoff/2, backoff] spreads reconnect storms.
                    let jitter = fastrand::f64() * 0.5 + 0.5;
                    // A stream that ends meanwhile sends the output idle at once.
                    let pause = pin!(compio::time::sleep(backoff.mul_f64(jitter)));
                    let ended = pin!(self.stream.wait_ended());
                    select(pause, ended).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        self.set_state(OutputState::Idle);
    }

    async fn connect(&self) -> io::Result<Transport> {
        let address = (self.target.host.as_str(), self.target.port);
        let tcp = compio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        tcp.set_nodelay(true)?;
        let tls = match &self.tls {
            None => None,
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(self.target.host.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let conn = rustls::ClientConnection::new(Arc::clone(config), name)
                    .map_err(io::Error::other)?;
                Some(rustls::Connection::Client(conn))
            }
        };
        Ok(Transport::with_read_buffer(tcp, tls, PUSH_READ_BUFFER))
    }

    async fn once(&self) -> Result<Ended, String> {
        // The stream may end while the destination is still being reached (an
        // unreachable host, a server that never answers the handshake): give up
        // the attempt then rather than at its timeout.
        let set_up = pin!(self.set_up());
        let ended = pin!(self.stream.wait_ended());
        let mut pump = match select(set_up, ended).await {
            Either::Left((pump, _)) => pump?,
            Either::Right(((), _)) => {
                tracing::info!(stream = self.stream.name(), output = %self.stats.name, destination = %self.target.redacted(), "stream ended while connecting");
                return Ok(Ended::StreamEnded);
            }
        };
        self.set_state(OutputState::Live);
        // From here on the pump counts what it writes straight into the stats.
        pump.bytes_written = Arc::clone(&self.stats.bytes);
        tracing::info!(stream = self.stream.name(), output = %self.stats.name, destination = %self.target.redacted(), "push live");
        let subscriber = self.stream.subscribe(self.ctx.queue);
        self.stats.attach(&subscriber);
        let subscription = Subscription {
            stream: &self.stream,
            stats: &self.stats,
            subscriber,
        };
        // The stream may have ended between the set-up and the subscription, after
        // its subscribers were told: checked after subscribing, so either this
        // subscriber was told or the end is seen here.
        let result = if self.stream.has_ended() {
            Ok(Ended::StreamEnded)
        } else {
            self.forward(&mut pump, &subscription.subscriber).await
        };
        let dropped = subscription.subscriber.dropped_frames();
        drop(subscription);
        self.stats.settle();
        let micros = |q| self.stats.latency.quantile(q).map_or(0, |d| d.as_micros());
        tracing::info!(
            stream = self.stream.name(),
            output = %self.stats.name,
            dropped,
            ok = result.is_ok(),
            latency_p50_us = micros(0.5),
            latency_p99_us = micros(0.99),
            "push session ended"
        );
        if result.is_ok() {
            pump.session.finish();
            let _ = compio::time::timeout(CLOSING_TIMEOUT, pump.flush()).await;
            pump.transport.close().await;
        }
        result
    }

    /// Connects and runs the RTMP exchange up to a successful publish.
    async fn set_up(&self) -> Result<Pump<ClientSession>, String> {
        let transport = self.connect().await.map_err(|e| format!("connect: {e}"))?;
        let config = ClientConfig {
            app: self.target.app.clone(),
            tc_url: self.target.tc_url.clone(),
            stream_key: self.target.key.clone(),
        };
        let session = ClientSession::new(
            Instant::now(),
            handshake_random(),
            config,
            self.ctx.limits.clone(),
        );
        let mut pump = Pump::new(session, transport);
        pump.flush().await.map_err(|e| format!("write: {e}"))?;
        // Handshake, connect, createStream, publish.
        loop {
            match pump
                .next(std::future::pending::<()>())
                .await
                .map_err(|e| e.to_string())?
            {
                Wake::Closed => return Err("destination closed the connection during setup".into()),
                Wake::Input | Wake::Timer | Wake::Other(()) => {}
            }
            let mut live = false;
            for event in pump.take_events() {
                match event {
                    ClientEvent::Publishing => live = true,
                    ClientEvent::Rejected { reason } => {
                        return Err(format!("destination refused: {reason}"));
                    }
                    ClientEvent::TimedOut => {
                        return Err("destination did not complete the RTMP exchange in time".into());
                    }
                    _ => {}
                }
            }
            pump.flush().await.map_err(|e| format!("write: {e}"))?;
            if live {
                return Ok(pump);
            }
        }
    }

    /// Forwards the stream until it ends. While the output is caught up the
    /// publisher writes the media straight to the destination (`PushMedia`); this
    /// task writes whatever that left, what was queued while it could not, and the
    /// session's own messages.
    async fn forward(
        &self,
        pump: &mut Pump<ClientSession>,
        subscriber: &Arc<crate::stream::Subscriber>,
    ) -> Result<Ended, String> {
        let writer = pump
            .session
            .media_writer()
            .ok_or("the destination's session is not live")?;
        let socket = pump
            .transport
            .plain_socket()
            .transpose()
            .map_err(|e| format!("socket: {e}"))?;
        let media = Arc::new(PushMedia::new(writer, socket, Arc::clone(&self.stats)));
        self.stats.count_direct_sends_of(&media);
        if media.can_write_directly() {
            subscriber.set_direct_sink(Arc::clone(&media) as Arc<dyn DirectSink>);
        }
        let mut items = Vec::new();
        loop {
            items.clear();
            let wake = pump
                .next(subscriber.next_batch(&mut items))
                .await
                .map_err(|e| e.to_string())?;
            let mut ended = false;
            match wake {
                Wake::Closed => return Err("destination closed the connection".into()),
                Wake::Input | Wake::Timer => {}
                Wake::Other(more) => {
                    ended = !more;
                    for item in &items {
                        ended |= media.encode(item) == Forwarded::Ended;
                    }
                }
            }
            for event in pump.take_events() {
                if let ClientEvent::Rejected { reason } = event {
                    return Err(format!("destination refused: {reason}"));
                }
            }
            // From here until `resume_direct` only this task writes: what the media
            // has waiting (perhaps the rest of a message a direct send began) goes
            // first, then the session's own messages (acknowledgements, ping replies).
            subscriber.pause_direct();
            let (mut pieces, arrivals) = media.take_waiting();
            pieces.extend(pump.take_transmit());
            if ended {
                // The last media goes out as the session's closing messages do
                // (`once`): within `CLOSING_TIMEOUT`, not the watchdog's limit.
                let _ = compio::time::timeout(CLOSING_TIMEOUT, pump.write(pieces)).await;
                return Ok(Ended::StreamEnded);
            }
            let written = Arc::clone(&pump.bytes_written);
            write_watched(pump.write(pieces), &written, WRITE_TIMEOUT).await?;
            let written_at = Instant::now();
            for arrived in arrivals {
                self.stats.latency.record(written_at - arrived);
            }
            subscriber.resume_direct();
        }
    }
}

/// Runs a write. One the socket takes at once (the usual case) costs no timer; one
/// that waits on the destination is watched and fails once it has been under way
/// for `limit` with no byte taken (`written` counts them): a destination that takes
/// bytes slowly is kept (and shows as degraded), one that takes none is dropped. (A
/// watchdog for the whole session, raced against the forwarding, was polled on
/// every wake of every output: about 1% of the relay's profile samples at 100
/// outputs.)
async fn write_watched(
    write: impl Future<Output = io::Result<()>>,
    written: &AtomicU64,
    limit: Duration,
) -> Result<(), String> {
    use std::sync::atomic::Ordering::Relaxed;
    let check = Duration::from_secs(1).min(limit);
    let mut last = written.load(Relaxed);
    let mut since = Instant::now();
    let mut flush = pin!(write);
    let mut timer = pin!(None);
    poll_fn(|cx| {
        if let Poll::Ready(result) = flush.as_mut().poll(cx) {
            return Poll::Ready(result.map_err(|e| format!("write: {e}")));
        }
        loop {
            if timer.as_mut().as_pin_mut().is_none() {
                timer.set(Some(compio::time::sleep(check)));
            }
            if let Some(sleep) = timer.as_mut().as_pin_mut() {
                if sleep.poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            timer.set(None);
            let now = written.load(Relaxed);
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= limit {
                return Poll::Ready(Err(format!(
                    "destination accepted nothing for {}s",
                    limit.as_secs()
                )));
            }
        }
    })
    .await
}
