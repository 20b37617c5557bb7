//! One accepted RTMP or RTMPS connection: a publisher or a player.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use compio::net::TcpStream;
use protocol_parsers::rtmp::media::MediaEvent;
use protocol_parsers::rtmp::{ServerEvent, ServerSession};

use crate::engine::{Pump, Transport, Wake, handshake_random};
use crate::outputs::Forwarder;
use crate::outputs::forwarder::Forwarded;
use crate::server::ServerContext;
use crate::stream::{HeldBurst, Origin, PublisherGuard, Stream, Subscriber, ViewerGuard};
use crate::transcode::RenditionUse;

enum Role {
    Undecided,
    Publishing(PublisherGuard),
    Playing {
        stream: Arc<Stream>,
        subscriber: Arc<Subscriber>,
        forwarder: Forwarder,
        _viewer: ViewerGuard,
        /// Keeps a transcoded rendition running while it is watched.
        _rendition: Option<RenditionUse>,
    },
}

/// Serves one connection until it closes; every way it can end is logged with a reason.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    ctx: Arc<ServerContext>,
) {
    let protocol = if tls.is_some() { "rtmps" } else { "rtmp" };
    let tls = match tls.map(rustls::ServerConnection::new) {
        None => None,
        Some(Ok(conn)) => Some(rustls::Connection::Server(conn)),
        Some(Err(e)) => {
            tracing::warn!(%peer, error = %e, "cannot start TLS");
            return;
        }
    };
    let session = ServerSession::new(Instant::now(), handshake_random(), ctx.limits.clone());
    let mut pump = Pump::new(session, Transport::new(stream, tls));
    let mut role = Role::Undecided;
    let mut batch = Vec::new();
    let mut held: Option<HeldBurst> = None;
    let reason = loop {
        let wake = match &role {
            Role::Playing { subscriber, .. } => {
                let subscriber = Arc::clone(subscriber);
                batch.clear();
                pump.next(subscriber.next_batch(&mut batch)).await
            }
            _ => {
                let hold_until = held.as_ref().map(HeldBurst::deadline);
                pump.next(async move {
                    match hold_until {
                        Some(at) => compio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                    false
                })
                .await
            }
        };
        let wake = match wake {
            Ok(wake) => wake,
            Err(e) => break format!("closed: {e}"),
        };
        match wake {
            Wake::Closed => break "peer closed the connection".to_owned(),
            Wake::Input | Wake::Timer => {}
            Wake::Other(more) => {
                if let Role::Playing { forwarder, .. } = &mut role {
                    let mut ended = !more;
                    for item in &batch {
                        if forwarder.forward(item, &mut pump.session) == Forwarded::Ended {
                            ended = true;
                        }
                    }
                    if ended {
                        let _ = pump.flush().await;
                        break "stream ended".to_owned();
                    }
                }
            }
        }
        let input = matches!(wake, Wake::Input);
        let events: Vec<ServerEvent> = pump.take_events().collect();
        let mut close = None;
        // One read's messages reach each caught-up output in one write; so do those
        // of the reads that finish a message already begun (`HeldBurst`).
        let mut burst = held.take().or_else(|| match &role {
            Role::Publishing(guard) => Some(HeldBurst::begin(guard.stream(), Instant::now())),
            _ => None,
        });
        for event in events {
            if let Some(reason) =
                handle_event(event, &mut role, &mut pump.session, &ctx, peer, protocol)
            {
                close = Some(reason);
            }
        }
        // Any wake but a read (the hold's deadline, a timer) ends it, and so does
        // a reply to write: the deadline is not watched while a write waits.
        let transmit = pump.take_transmit();
        if let Some(open) = burst.take()
            && input
            && transmit.is_empty()
        {
            held = open.after_read(pump.session.mid_message(), Instant::now());
        }
        if let Err(e) = pump.write(transmit).await {
            break format!("write failed: {e}");
        }
        if let Some(reason) = close {
            break reason;
        }
        if pump.session.is_closed() {
            break "session closed".to_owned();
        }
    };
    drop(batch);
    // What a held burst has is delivered before the stream learns its publisher left.
    drop(held);
    match role {
        Role::Publishing(guard) => super::publisher_left(&ctx, guard, peer, &reason),
        Role::Playing {
            stream, subscriber, ..
        } => {
            stream.unsubscribe(&subscriber);
            tracing::info!(%peer, stream = stream.name(), %reason, dropped = subscriber.dropped_frames(), "player left");
        }
        Role::Undecided => tracing::info!(%peer, %reason, "connection closed"),
    }
    pump.transport.close().await;
}

/// Applies one session event; returns a close reason when the connection must end.
fn handle_event(
    event: ServerEvent,
    role: &mut Role,
    session: &mut ServerSession,
    ctx: &ServerContext,
    peer: SocketAddr,
    protocol: &'static str,
) -> Option<String> {
    match event {
        ServerEvent::PublishRequested { app, name } => {
            if !matches!(role, Role::Undecided) {
                session.reject_publish("connection already publishing or playing");
                return Some("second publish on one connection".into());
            }
            match ctx
                .registry
                .publish(&app, &name, Origin::new(protocol, peer))
            {
                Ok(guard) => {
                    super::publisher_joined(ctx, &guard, peer, protocol);
                    session.accept_publish();
                    *role = Role::Publishing(guard);
                    None
                }
                Err(e) => {
                    session.reject_publish(&e.to_string());
                    Some(format!("publish refused: {e}"))
                }
            }
        }
        ServerEvent::PlayRequested { app, name } => {
            if !matches!(role, Role::Undecided) {
                session.reject_play("connection already publishing or playing");
                return Some("second play on one connection".into());
            }
            match find_or_transcode(ctx, &app, &name) {
                Some((stream, rendition)) => {
                    tracing::info!(%peer, protocol, stream = stream.name(), "playing");
                    session.accept_play();
                    let subscriber = stream.subscribe(ctx.queue);
                    *role = Role::Playing {
                        _viewer: stream.add_viewer(protocol),
                        stream,
                        subscriber,
                        forwarder: Forwarder::default(),
                        _rendition: rendition,
                    };
                    None
                }
                None => {
                    session.reject_play("no such stream");
                    Some(format!("play refused: no stream {name:?} in app {app:?}"))
                }
            }
        }
        ServerEvent::Media(media) => {
            if let Role::Publishing(guard) = role {
                let accepted = match media {
                    MediaEvent::Track(track) => guard.push_track(track),
                    MediaEvent::Frame(frame) => guard.push_frame(frame),
                    MediaEvent::Metadata(metadata) => guard.push_metadata(metadata),
                };
                if !accepted {
                    return Some("stream deleted through the admin API".into());
                }
            }
            None
        }
        ServerEvent::Unpublished => Some("publisher sent unpublish".into()),
        ServerEvent::PlayStopped => Some("player stopped".into()),
        ServerEvent::UnknownCommand { name } => {
            tracing::warn!(%peer, command = %name, "unknown RTMP command answered with _error");
            None
        }
        ServerEvent::TimedOut { waiting_for } => {
            Some(format!("timed out waiting for {waiting_for}"))
        }
        _ => None,
    }
}

/// The stream a player asks for: an existing one, or `SOURCE/PROFILE` of a known
/// stream and profile, whose rendition then runs while the player watches.
pub(crate) fn find_or_transcode(
    ctx: &ServerContext,
    app: &str,
    name: &str,
) -> Option<(Arc<Stream>, Option<RenditionUse>)> {
    let plain = name.split('?').next().unwrap_or_default();
    // `rtmp://HOST/live/main/720p`: ffmpeg and librtmp send app `live/main` and
    // stream `720p`; other players send app `live` and stream `main/720p`.
    let rendition = match app.strip_prefix("live/") {
        Some(source) => Some((source, plain)),
        None if app == crate::stream::APP => plain.split_once('/'),
        None => None,
    };
    match rendition {
        // Every viewer of a rendition holds it, so it runs while anyone watches.
        Some((source, profile)) if ctx.transcoding.has_profile(profile) => {
            ctx.registry.find(crate::stream::APP, source)?;
            let rendition = ctx.transcoding.acquire(source, profile).ok()?;
            Some((Arc::clone(&rendition.stream), Some(rendition)))
        }
        _ => ctx.registry.find(app, name).map(|stream| (stream, None)),
    }
}
