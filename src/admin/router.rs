//! Admin request routing, authentication and the read-only endpoints.

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::api::{self, StreamView};
use super::srt_view::SrtView;
use super::{AdminState, control, process, prometheus, sse};
use crate::secret::constant_time_eq;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Request bodies (JSON configs) are small; anything larger is refused.
const MAX_BODY: usize = 64 * 1024;

/// An API failure: a status and a message, naming the offending field when there is one.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
        }
    }

    /// A 400 naming `field`; the message names it too.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        let message = if message.contains(&field) {
            message
        } else {
            format!("{field}: {message}")
        };
        Self {
            status: StatusCode::BAD_REQUEST,
            message,
            field: Some(field),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

pub type ApiResult = Result<Response<Body>, ApiError>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_else(|e| {
        format!("{{\"error\":\"cannot serialise the response: {e}\"}}").into_bytes()
    });
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn no_content() -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn error_response(error: ApiError) -> Response<Body> {
    let mut response = json(
        error.status,
        &serde_json::json!({ "error": error.message, "field": error.field }),
    );
    if error.status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn authorised(state: &AdminState, request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| constant_time_eq(token.trim(), &state.token))
}

pub async fn handle(state: &AdminState, request: Request<Incoming>) -> Response<Body> {
    // Only the method and path are logged: never headers (the token) or bodies (keys).
    tracing::debug!(method = %request.method(), path = request.uri().path(), "admin request");
    match route(state, request).await {
        Ok(response) => response,
        Err(error) => error_response(error),
    }
}

async fn route(state: &AdminState, request: Request<Incoming>) -> ApiResult {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    let method = request.method().clone();
    match (segments.as_slice(), &method) {
        (["healthz"], &Method::GET | &Method::HEAD) => {
            let mut response = Response::new(full("ok\n"));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return Ok(response);
        }
        (["metrics"], &Method::GET) => {
            if state.metrics_require_token && !authorised(state, &request) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong bearer token",
                ));
            }
            return Ok(metrics(state));
        }
        (["api", "v1", ..], _) => {
            if !authorised(state, &request) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong bearer token",
                ));
            }
        }
        _ => return Err(ApiError::not_found(format!("no such path: {path}"))),
    }
    let rest = segments.get(2..).unwrap_or_default();
    match (rest, method) {
        (["streams"], Method::GET) => Ok(json(StatusCode::OK, &stream_views(state, None))),
        (["srt"], Method::GET) => Ok(json(
            StatusCode::OK,
            &SrtView::of(&state.ctx.srt.read(), Instant::now()),
        )),
        (["streams", name], Method::GET) => stream_views(state, Some(name))
            .pop()
            .map(|view| json(StatusCode::OK, &view))
            .ok_or_else(|| ApiError::not_found(format!("no stream named {name:?}"))),
        (["streams", name, "outputs"], Method::GET) => {
            let view = stream_views(state, Some(name))
                .pop()
                .ok_or_else(|| ApiError::not_found(format!("no stream named {name:?}")))?;
            Ok(json(StatusCode::OK, &view.outputs))
        }
        (["streams", name, "outputs", output], Method::GET) => Ok(json(
            StatusCode::OK,
            &control::output_view(state, name, output)?,
        )),
        (["streams"], Method::POST) => {
            let body = read_body(request).await?;
            control::create_stream(state, &body)
        }
        (["streams", name], Method::DELETE) => control::delete_stream(state, name),
        (["streams", name, "outputs"], Method::POST) => {
            let body = read_body(request).await?;
            control::add_output(state, name, &body)
        }
        (["streams", name, "outputs", output], Method::PUT) => {
            let body = read_body(request).await?;
            control::update_output(state, name, output, &body)
        }
        (["streams", name, "outputs", output], Method::DELETE) => {
            control::remove_output(state, name, output)
        }
        (["streams", name, "outputs", output, action], Method::POST) => {
            control::output_action(state, name, output, action)
        }
        (["events"], Method::GET) => {
            let body = sse::EventStream::new(&state.ctx.events);
            let mut response = Response::new(body.boxed_unsync());
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        (_, method) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such endpoint: {method} {path}"),
        )),
    }
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    let collected = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the request body (at most {MAX_BODY} bytes): {e}"),
            )
        })?;
    Ok(collected.to_bytes())
}

/// Views of every stream, or of the one named.
pub fn stream_views(state: &AdminState, only: Option<&str>) -> Vec<StreamView> {
    let ctx = &state.ctx;
    let now = Instant::now();
    let mut outputs: std::collections::HashMap<String, Vec<_>> = std::collections::HashMap::new();
    for entry in ctx.outputs.list() {
        outputs.entry(entry.stream.clone()).or_default().push(entry);
    }
    let sampler = state.sampler.borrow();
    let store = state.store.borrow();
    let srt = SrtView::of(&ctx.srt.read(), now);
    let transcoding = ctx.transcoding.stats();
    ctx.registry
        .list()
        .into_iter()
        .filter(|s| only.is_none_or(|name| s.name() == name))
        .map(|stream| {
            let snapshot = stream.snapshot();
            let mut view = api::stream_view(
                stream.name(),
                &snapshot,
                ctx.registry.is_declared(stream.name()),
                outputs.get(stream.name()).map_or(&[], Vec::as_slice),
                &sampler,
                store.config(),
                now,
            );
            view.hls = ctx
                .segmenting
                .find(stream.name())
                .map(|r| api::HlsView::of(&r, now));
            for (stats, decoder_dropped) in
                transcoding.iter().filter(|(s, _)| s.source == view.name)
            {
                let rendition_stream = crate::transcode::rendition_name(&view.name, &stats.profile);
                let active = ctx
                    .registry
                    .find(crate::stream::APP, &rendition_stream)
                    .is_some_and(|s| s.is_live());
                let transcode = Some(api::TranscodeView::of(stats, *decoder_dropped));
                match view.renditions.iter_mut().find(|r| r.name == stats.profile) {
                    Some(rendition) => {
                        rendition.active = active;
                        rendition.transcode = transcode;
                    }
                    None => view.renditions.push(api::RenditionView {
                        name: stats.profile.clone(),
                        active,
                        in_ladder: false,
                        transcode,
                    }),
                }
            }
            view.srt = srt
                .connections
                .iter()
                .filter(|c| c.stream == view.name)
                .cloned()
                .collect();
            view
        })
        .collect()
}

fn metrics(state: &AdminState) -> Response<Body> {
    let streams = stream_views(state, None);
    let srt = SrtView::of(&state.ctx.srt.read(), Instant::now());
    let text = prometheus::render(&prometheus::Scrape {
        streams: &streams,
        srt: &srt,
        process: process::read(),
        start_time_seconds: state.start_time_seconds,
    });
    let mut response = Response::new(full(text));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
