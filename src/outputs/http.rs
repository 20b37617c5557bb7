//! The public HTTP server on `http.listen`: HLS (fMP4 with LL-HLS parts, and an
//! MPEG-TS variant), DASH, served from memory on every I/O core. Segments and parts
//! are immutable (their URIs carry the rendition's generation), so any HTTP cache
//! or CDN can sit in front; playlists and the MPD are short-lived.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use protocol_parsers::http::{HttpError, RequestHead, parse_head};
use protocol_parsers::media::TrackKind;

use crate::engine::Transport;
use crate::mux::rendition::Inner;
use crate::mux::{Rendition, manifests};
use crate::server::ServerContext;

/// Longest a blocking playlist reload (`_HLS_msn`) waits, as a multiple of the
/// segment target (RFC 8216bis: three target durations).
const BLOCKING_RELOAD_TARGETS: u32 = 3;
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=1";

/// A response body made of shared pieces (a segment is its parts' `Bytes`).
#[derive(Debug)]
pub struct Pieces {
    pieces: VecDeque<Bytes>,
    remaining: u64,
}

impl Pieces {
    pub fn new(pieces: impl IntoIterator<Item = Bytes>) -> Self {
        let pieces: VecDeque<Bytes> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
        let remaining = pieces.iter().map(|p| p.len() as u64).sum();
        Self { pieces, remaining }
    }

    /// Bytes `start..=end` of the concatenation.
    fn range(self, start: u64, end: u64) -> Self {
        let mut out = Vec::new();
        let mut at = 0u64;
        for piece in self.pieces {
            let (from, to) = (at, at + piece.len() as u64);
            at = to;
            if to <= start || from > end {
                continue;
            }
            let lo = start.saturating_sub(from) as usize;
            let hi = ((end + 1).min(to) - from) as usize;
            out.push(piece.slice(lo..hi));
        }
        Self::new(out)
    }
}

type Reply = Response<Pieces>;

fn reply(
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    body: Pieces,
) -> Reply {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

fn text(status: StatusCode, message: &str) -> Reply {
    reply(
        status,
        "text/plain; charset=utf-8",
        "no-store",
        Pieces::new([Bytes::from(format!("{message}\n"))]),
    )
}

fn not_found() -> Reply {
    text(StatusCode::NOT_FOUND, "not found")
}

/// Serves one accepted connection (HTTP/1.1 keep-alive, requests answered in
/// order); it is closed after `idle` without a byte from the client.
///
/// Responses go out as one `writev` of the head and the body's shared `Bytes`: a
/// segment is never copied in user space (hyper's `Write` takes borrowed slices,
/// which over compio meant one copy per response; see BENCHMARKS.md).
pub async fn serve(stream: compio::net::TcpStream, ctx: Arc<ServerContext>, idle: Duration) {
    let mut transport = Transport::new(stream, None);
    let mut buffered = BytesMut::new();
    let written = AtomicU64::new(0);
    loop {
        let head = loop {
            match parse_head(&buffered) {
                Ok(Some((head, len))) => {
                    buffered.advance(len);
                    break head;
                }
                Ok(None) => {}
                Err(e) => {
                    let status = match e {
                        HttpError::HeadTooLarge { .. } => {
                            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                        }
                        _ => StatusCode::BAD_REQUEST,
                    };
                    tracing::debug!(error = %e, "bad http request");
                    let pieces = encode(text(status, &e.to_string()), false, true);
                    let _ = transport.write(pieces, &written).await;
                    transport.close().await;
                    return;
                }
            }
            let read = poll_fn(|cx| transport.poll_read(cx));
            match compio::time::timeout(idle, read).await {
                Ok(Ok(Some(bytes))) => buffered.extend_from_slice(&bytes),
                Err(_) => {
                    tracing::debug!("idle http connection closed");
                    transport.close().await;
                    return;
                }
                Ok(Ok(None) | Err(_)) => return,
            }
        };
        // Bodies are not read: a request that announces one gets its answer, then
        // the connection closes (nothing here takes uploads).
        let close = head.close || head.has_body;
        let response = handle(&ctx, &head).await;
        let pieces = encode(response, head.method == "HEAD", close);
        if transport.write(pieces, &written).await.is_err() {
            return;
        }
        if close {
            transport.close().await;
            return;
        }
    }
}

/// The status line and headers as one piece, then the body's pieces.
fn encode(response: Reply, head_only: bool, close: bool) -> Vec<Bytes> {
    let (parts, body) = response.into_parts();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            head.push_str(name.as_str());
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
    }
    if parts.status != StatusCode::NO_CONTENT {
        head.push_str(&format!("content-length: {}\r\n", body.remaining));
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut pieces = Vec::with_capacity(1 + body.pieces.len());
    pieces.push(Bytes::from(head));
    if !head_only && parts.status != StatusCode::NO_CONTENT {
        pieces.extend(body.pieces);
    }
    pieces
}

async fn handle(ctx: &ServerContext, request: &RequestHead) -> Reply {
    match request.method.as_str() {
        "GET" | "HEAD" => {}
        "OPTIONS" => {
            let mut response = text(StatusCode::NO_CONTENT, "");
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Range"),
            );
            return response;
        }
        _ => return text(StatusCode::METHOD_NOT_ALLOWED, "use GET or HEAD"),
    }
    let response = route(ctx, &request.path, &request.query).await;
    let response = match &request.range {
        Some(range) if response.status() == StatusCode::OK => apply_range(response, range),
        _ => response,
    };
    super::http_stats::record(
        super::http_stats::Kind::of(&request.path),
        response.body().remaining,
    );
    response
}

/// Path segments are names (letters, digits, `-_.`): nothing else, so no `..` or
/// encoded separator can reach anything but the in-memory maps.
fn segments(path: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    parts
        .iter()
        .all(|p| p.is_empty() || crate::config::valid_name(p))
        .then_some(parts)
}

async fn route(ctx: &ServerContext, path: &str, query: &str) -> Reply {
    let Some(parts) = segments(path) else {
        return not_found();
    };
    let (stream, rest) = match parts.as_slice() {
        ["player", name] => {
            return match ctx.player.get(name) {
                Some(data) => reply(
                    StatusCode::OK,
                    "text/javascript; charset=utf-8",
                    "public, max-age=3600",
                    Pieces::new([data]),
                ),
                None => not_found(),
            };
        }
        // The player page works before the stream is live (it waits for it).
        ["live", stream] | ["live", stream, ""] if crate::config::valid_name(stream) => {
            return reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                "no-cache",
                Pieces::new([super::player::page(stream)]),
            );
        }
        ["live", stream, rest @ ..] => (*stream, rest),
        // The MPD's UTCTiming (urn:mpeg:dash:utc:http-iso:2014): players sync to it.
        ["time"] => {
            let now = protocol_parsers::dash::date_time(crate::mux::unix_ms());
            return reply(
                StatusCode::OK,
                "text/plain",
                "no-store",
                Pieces::new([Bytes::from(now)]),
            );
        }
        _ => return not_found(),
    };
    if let [name, file] = rest {
        return match ctx.segmenting.find_rendition(stream, name) {
            Some(rendition) => rendition_file(ctx, &rendition, file, query).await,
            None => not_found(),
        };
    }
    let ladder = ctx.segmenting.ladder(stream);
    let Some(rendition) = ctx
        .segmenting
        .find(stream)
        .or_else(|| ladder.first().cloned())
    else {
        return not_found();
    };
    match rest {
        // One rendition: cached per change. A ladder's playlist reads every
        // rendition's window, so it is rendered per request (players fetch it once).
        ["index.m3u8"] if ladder.len() <= 1 => {
            playlist(rendition.rendered("index", || manifests::multivariant(&ladder)))
        }
        ["index.m3u8"] => playlist(manifests::multivariant(&ladder).map(Bytes::from)),
        // The MPD carries publishTime, so it is rendered per request.
        ["manifest.mpd"] => match manifests::mpd(&rendition, &ladder) {
            Some(mpd) => reply(
                StatusCode::OK,
                "application/dash+xml",
                SHORT,
                Pieces::new([Bytes::from(mpd)]),
            ),
            None => not_found(),
        },
        _ => not_found(),
    }
}

fn playlist(text: Option<Bytes>) -> Reply {
    match text {
        Some(text) => reply(
            StatusCode::OK,
            "application/vnd.apple.mpegurl",
            SHORT,
            Pieces::new([text]),
        ),
        None => not_found(),
    }
}

fn kind_of(letter: &str) -> Option<TrackKind> {
    match letter {
        "v" => Some(TrackKind::Video),
        "a" => Some(TrackKind::Audio),
        _ => None,
    }
}

fn media_type(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Video => "video/mp4",
        TrackKind::Audio => "audio/mp4",
    }
}

/// `_HLS_msn` / `_HLS_part` of a blocking playlist reload.
fn blocking_request(query: &str) -> Option<(u64, Option<usize>)> {
    let value = |key: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    let msn = value("_HLS_msn")?.parse().ok()?;
    Some((msn, value("_HLS_part").and_then(|p| p.parse().ok())))
}

/// Waits until `ready` holds, for at most `BLOCKING_RELOAD_TARGETS` segment
/// targets; `false` when that ran out.
async fn hold(rendition: &Rendition, ready: impl Fn(&Inner) -> bool) -> bool {
    let target = rendition.lock().config.segment_ms as u64;
    let limit = Duration::from_millis(target * u64::from(BLOCKING_RELOAD_TARGETS));
    compio::time::timeout(limit, rendition.wait_until(ready))
        .await
        .is_ok()
}

/// A client that asks for the segment being written, or the next one, is held
/// until it is complete (as with LL-HLS blocking requests) instead of getting a
/// 404 it would have to retry; players that compute segment numbers from the
/// clock (DASH) land there routinely.
async fn wait_for_segment(rendition: &Rendition, msn: u64) {
    let upcoming = {
        let inner = rendition.lock();
        !inner.segment(msn).is_some_and(|s| s.complete)
            && inner
                .last_position()
                .is_some_and(|(last, _)| msn == last || msn == last + 1)
    };
    if upcoming {
        hold(rendition, |inner| {
            inner.ended || inner.segment(msn).is_some_and(|s| s.complete)
        })
        .await;
    }
}

async fn rendition_file(
    ctx: &ServerContext,
    rendition: &Arc<Rendition>,
    file: &str,
    query: &str,
) -> Reply {
    let generation = rendition.generation;
    if file == "ts.m3u8" {
        return playlist(rendition.rendered("ts", || manifests::ts_playlist(rendition)));
    }
    if let Some(msn) = file
        .strip_prefix(&format!("seg-t-{generation}-"))
        .and_then(|rest| rest.strip_suffix(".ts"))
        .and_then(|msn| msn.parse::<u64>().ok())
    {
        wait_for_segment(rendition, msn).await;
        let inner = rendition.lock();
        let body = inner
            .segment(msn)
            .filter(|s| s.complete)
            .map(|s| Pieces::new(s.ts.iter().cloned()));
        drop(inner);
        return match body {
            Some(body) => reply(StatusCode::OK, "video/mp2t", IMMUTABLE, body),
            None => not_found(),
        };
    }
    if let Some(kind) = file.strip_suffix(".m3u8").and_then(|n| match n {
        "video" => Some(TrackKind::Video),
        "audio" => Some(TrackKind::Audio),
        _ => None,
    }) {
        if let Some((msn, part)) = blocking_request(query) {
            // RFC 8216bis 6.2.5.2: more than two segments ahead is a bad request.
            let last = rendition.lock().last_position().map_or(0, |(last, _)| last);
            if msn > last + 2 {
                return text(
                    StatusCode::BAD_REQUEST,
                    "_HLS_msn is more than two segments ahead of the playlist",
                );
            }
            let arrived = hold(rendition, |inner| {
                inner.ended
                    || inner.last_position().is_some_and(|(last, parts)| {
                        last > msn || last == msn && part.is_some_and(|p| parts > p)
                    })
            })
            .await;
            if !arrived {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the requested segment did not appear in time",
                );
            }
        }
        let which = match kind {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
        };
        return playlist(rendition.rendered(which, || {
            let ladder = ctx.segmenting.ladder(&rendition.stream);
            let reports = manifests::rendition_reports(rendition, &ladder, kind);
            manifests::media_playlist(rendition, kind, reports)
        }));
    }
    // Names: init-{v|a}-{gen}-{id}.mp4, seg-{v|a}-{gen}-{msn}.m4s,
    // part-{v|a}-{gen}-{msn}-{index}.m4s.
    let (stem, extension) = match file.rsplit_once('.') {
        Some(split) => split,
        None => return not_found(),
    };
    let fields: Vec<&str> = stem.split('-').collect();
    let number = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    let Some(kind) = fields.get(1).and_then(|k| kind_of(k)) else {
        return not_found();
    };
    if number(2) != Some(generation) {
        return not_found();
    }
    // A preload hint names the next part before it exists: hold that request
    // until the part is written (RFC 8216bis 6.2.6), as for a blocking reload.
    if let (Some("part"), Some(msn), Some(index)) = (fields.first().copied(), number(3), number(4))
    {
        let index = index as usize;
        let exists = |inner: &Inner| {
            inner.ended
                || inner
                    .segment(msn)
                    .is_some_and(|s| s.complete || s.track(kind).parts.len() > index)
        };
        let upcoming = {
            let inner = rendition.lock();
            !exists(&inner)
                && inner
                    .last_position()
                    .is_some_and(|(last, _)| msn == last || msn == last + 1 && index == 0)
        };
        if upcoming {
            hold(rendition, exists).await;
        }
    }
    if let (Some("seg"), Some(msn)) = (fields.first().copied(), number(3)) {
        wait_for_segment(rendition, msn).await;
    }
    let inner = rendition.lock();
    let body = match (fields.first().copied(), extension) {
        (Some("init"), "mp4") => {
            let media = match kind {
                TrackKind::Video => &inner.video,
                TrackKind::Audio => &inner.audio,
            };
            // Older generations of the init stay reachable through their segments.
            let wanted = number(3);
            let init = inner
                .segments
                .iter()
                .filter_map(|s| s.track(kind).init.clone())
                .chain(media.clone())
                .find(|m| Some(u64::from(m.id)) == wanted);
            init.map(|m| Pieces::new([m.init.clone()]))
        }
        (Some("seg"), "m4s") => number(3)
            .and_then(|msn| inner.segment(msn))
            .filter(|s| s.complete)
            .map(|s| {
                Pieces::new(
                    s.track(kind)
                        .parts
                        .iter()
                        .flat_map(|p| p.pieces.iter().cloned()),
                )
            }),
        (Some("part"), "m4s") => number(3)
            .and_then(|msn| inner.segment(msn))
            .and_then(|s| s.track(kind).parts.get(number(4)? as usize))
            .map(|p| Pieces::new(p.pieces.iter().cloned())),
        _ => None,
    };
    drop(inner);
    match body {
        Some(body) => reply(StatusCode::OK, media_type(kind), IMMUTABLE, body),
        None => not_found(),
    }
}

/// A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; anything else gets the
/// whole body (allowed by RFC 9110).
fn apply_range(response: Reply, range: &str) -> Reply {
    let total = response.body().remaining;
    let Some(spec) = range.strip_prefix("bytes=").filter(|s| !s.contains(',')) else {
        return response;
    };
    let bounds = match spec.split_once('-') {
        Some(("", suffix)) => suffix
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| (total.saturating_sub(n), total.saturating_sub(1))),
        Some((start, "")) => start
            .parse::<u64>()
            .ok()
            .map(|s| (s, total.saturating_sub(1))),
        Some((start, end)) => match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => Some((s, e.min(total.saturating_sub(1)))),
            _ => None,
        },
        None => None,
    };
    let Some((start, end)) = bounds.filter(|(s, _)| *s < total) else {
        let mut refused = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
        if let Ok(value) = HeaderValue::from_str(&format!("bytes */{total}")) {
            refused.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        return refused;
    };
    let (mut parts, body) = response.into_parts();
    parts.status = StatusCode::PARTIAL_CONTENT;
    if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{total}")) {
        parts.headers.insert(header::CONTENT_RANGE, value);
    }
    Response::from_parts(parts, body.range(start, end))
}
