//! Connections that bring a stream in (RTMP/RTMPS and SRT publish) — and, on the same
//! ports, RTMP play and SRT read for pull viewers.

pub mod rtmp;
pub mod srt;
pub mod srt_board;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::server::ServerContext;
use crate::stream::PublisherGuard;

/// A publisher was accepted: announce it and start HLS/DASH segmenting.
pub fn publisher_joined(
    ctx: &ServerContext,
    guard: &PublisherGuard,
    peer: SocketAddr,
    protocol: &str,
) {
    tracing::info!(%peer, protocol, stream = guard.stream().name(), "publishing");
    ctx.events.publish(
        "stream_live",
        serde_json::json!({"stream": guard.stream().name(), "protocol": protocol, "remote_address": peer.to_string()}).to_string(),
    );
    ctx.segmenting.ensure(guard.stream(), ctx.queue);
}

/// A publisher left: its outputs wait through the grace period, then the stream
/// ends unless a publisher came back.
pub fn publisher_left(
    ctx: &Arc<ServerContext>,
    guard: PublisherGuard,
    peer: SocketAddr,
    reason: &str,
) {
    let stream = Arc::clone(guard.stream());
    let generation = guard.release(Instant::now());
    ctx.events.publish(
        "stream_gone",
        serde_json::json!({"stream": stream.name(), "reason": reason}).to_string(),
    );
    tracing::info!(%peer, stream = stream.name(), %reason, grace_s = ctx.grace.as_secs(), "publisher left; outputs wait for it through the grace period");
    let registry = Arc::clone(&ctx.registry);
    let grace = ctx.grace;
    compio::runtime::spawn(async move {
        compio::time::sleep(grace).await;
        registry.expire(&stream, generation);
    })
    .detach();
}
