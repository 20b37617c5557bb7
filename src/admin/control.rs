//! Runtime control through the admin API: create and delete streams; add, update
//! and remove push outputs; enable, disable and restart one output. Each change is
//! validated, persisted (see `ConfigStore`), then applied, without touching any
//! other stream or output. The admin thread handles one request at a time between
//! awaits, and no handler awaits while changing state, so changes never interleave.

use hyper::StatusCode;
use serde::de::DeserializeOwned;

use super::api::{self, OutputView};
use super::router::{ApiError, ApiResult, json, no_content};
use super::{AdminState, StoreError};
use crate::config::{Config, PushConfig, StreamConfig};
use crate::outputs::OutputManager;

/// Parses a JSON body; errors name the field (`push[0].url`) where serde knows it.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = format!("invalid JSON body: {inner}");
        // serde names unknown and missing fields in backquotes, at the parent path.
        let named = message
            .split('`')
            .nth(1)
            .filter(|_| message.contains("unknown field") || message.contains("missing field"))
            .map(str::to_owned);
        let field = match (named, path.as_str()) {
            (Some(name), "." | "") => Some(name),
            (Some(name), path) if path == name || path.ends_with(&format!(".{name}")) => {
                Some(path.to_owned())
            }
            (Some(name), parent) => Some(format!("{parent}.{name}")),
            (None, "." | "") => None,
            (None, path) => Some(path.to_owned()),
        };
        match field {
            Some(field) => ApiError::field(field, message),
            None => ApiError::new(StatusCode::BAD_REQUEST, message),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// The config entry of one output, to change in place.
fn push_mut<'a>(config: &'a mut Config, stream: &str, output: &str) -> Option<&'a mut PushConfig> {
    config
        .streams
        .iter_mut()
        .find(|s| s.name == stream)?
        .pushes
        .iter_mut()
        .find(|p| p.name == output)
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Invalid(invalid) => ApiError::field(
            invalid.field,
            format!("{}: {}", invalid.key, invalid.message),
        ),
        StoreError::Write(message) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message),
    }
}

fn declared_stream(state: &AdminState, name: &str) -> Result<(), ApiError> {
    if state
        .store
        .borrow()
        .config()
        .streams
        .iter()
        .any(|s| s.name == name)
    {
        Ok(())
    } else if state.ctx.registry.list().iter().any(|s| s.name() == name) {
        Err(ApiError::not_found(format!(
            "stream {name:?} is not declared (it was published under ingest.allow_undeclared); create it with POST /api/v1/streams first"
        )))
    } else {
        Err(ApiError::not_found(format!("no stream named {name:?}")))
    }
}

pub fn output_view(state: &AdminState, stream: &str, output: &str) -> Result<OutputView, ApiError> {
    let entry = state.ctx.outputs.find(stream, output).ok_or_else(|| {
        ApiError::not_found(format!("stream {stream:?} has no output {output:?}"))
    })?;
    let live = state
        .ctx
        .registry
        .declared(stream)
        .is_some_and(|s| s.is_live());
    Ok(api::output_view(&entry, &state.sampler.borrow(), live))
}

fn stream_response(state: &AdminState, status: StatusCode, name: &str) -> ApiResult {
    let view = super::router::stream_views(state, Some(name))
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no stream named {name:?}")))?;
    Ok(json(status, &view))
}

pub fn create_stream(state: &AdminState, body: &[u8]) -> ApiResult {
    let stream: StreamConfig = parse(body)?;
    for (i, push) in stream.pushes.iter().enumerate() {
        OutputManager::prepare(push)
            .map_err(|e| ApiError::field(format!("push[{i}].{}", e.field), e.message))?;
    }
    state
        .store
        .borrow_mut()
        .update(|c| c.streams.push(stream.clone()))
        .map_err(store_error)?;
    let ctx = &state.ctx;
    if let Err(e) = ctx.registry.create(&stream.name, &stream.key) {
        // The config check refuses duplicate names and keys first; this is a bug.
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ));
    }
    for push in &stream.pushes {
        ctx.outputs
            .add(ctx, &stream.name, push.clone())
            .map_err(|e| ApiError::field(e.field, e.message))?;
    }
    tracing::info!(stream = %stream.name, outputs = stream.pushes.len(), "stream created through the admin API");
    stream_response(state, StatusCode::CREATED, &stream.name)
}

pub fn delete_stream(state: &AdminState, name: &str) -> ApiResult {
    declared_stream(state, name)?;
    state
        .store
        .borrow_mut()
        .update(|c| c.streams.retain(|s| s.name != name))
        .map_err(store_error)?;
    state.ctx.outputs.remove_stream(name);
    state.ctx.registry.delete(name);
    tracing::info!(stream = %name, "stream deleted through the admin API");
    Ok(no_content())
}

pub fn add_output(state: &AdminState, stream: &str, body: &[u8]) -> ApiResult {
    declared_stream(state, stream)?;
    let push: PushConfig = parse(body)?;
    OutputManager::prepare(&push).map_err(|e| ApiError::field(e.field, e.message))?;
    state
        .store
        .borrow_mut()
        .update(|c| {
            if let Some(s) = c.streams.iter_mut().find(|s| s.name == stream) {
                s.pushes.push(push.clone());
            }
        })
        .map_err(store_error)?;
    let ctx = &state.ctx;
    ctx.outputs
        .add(ctx, stream, push.clone())
        .map_err(|e| ApiError::field(e.field, e.message))?;
    tracing::info!(stream = %stream, output = %push.name, "output added through the admin API");
    Ok(json(
        StatusCode::CREATED,
        &output_view(state, stream, &push.name)?,
    ))
}

pub fn update_output(state: &AdminState, stream: &str, output: &str, body: &[u8]) -> ApiResult {
    declared_stream(state, stream)?;
    output_view(state, stream, output)?;
    let push: PushConfig = parse(body)?;
    if push.name != output {
        return Err(ApiError::field(
            "name",
            format!(
                "the body names output {:?} but the URL {output:?}; to rename, delete and add",
                push.name
            ),
        ));
    }
    OutputManager::prepare(&push).map_err(|e| ApiError::field(e.field, e.message))?;
    state
        .store
        .borrow_mut()
        .update(|c| {
            if let Some(p) = push_mut(c, stream, output) {
                *p = push.clone();
            }
        })
        .map_err(store_error)?;
    let ctx = &state.ctx;
    ctx.outputs.remove(stream, output);
    ctx.outputs
        .add(ctx, stream, push)
        .map_err(|e| ApiError::field(e.field, e.message))?;
    tracing::info!(stream = %stream, output = %output, "output updated through the admin API");
    Ok(json(StatusCode::OK, &output_view(state, stream, output)?))
}

pub fn remove_output(state: &AdminState, stream: &str, output: &str) -> ApiResult {
    declared_stream(state, stream)?;
    output_view(state, stream, output)?;
    state
        .store
        .borrow_mut()
        .update(|c| {
            if let Some(s) = c.streams.iter_mut().find(|s| s.name == stream) {
                s.pushes.retain(|p| p.name != output);
            }
        })
        .map_err(store_error)?;
    state.ctx.outputs.remove(stream, output);
    tracing::info!(stream = %stream, output = %output, "output removed through the admin API");
    Ok(no_content())
}

pub fn output_action(state: &AdminState, stream: &str, output: &str, action: &str) -> ApiResult {
    declared_stream(state, stream)?;
    output_view(state, stream, output)?;
    let ctx = &state.ctx;
    match action {
        "enable" | "disable" => {
            let enabled = action == "enable";
            state
                .store
                .borrow_mut()
                .update(|c| {
                    if let Some(p) = push_mut(c, stream, output) {
                        p.enabled = enabled;
                    }
                })
                .map_err(store_error)?;
            ctx.outputs.set_enabled(ctx, stream, output, enabled);
        }
        "restart" => {
            ctx.outputs.restart(stream, output);
        }
        other => {
            return Err(ApiError::not_found(format!(
                "unknown action {other:?}: use enable, disable or restart"
            )));
        }
    }
    tracing::info!(stream = %stream, output = %output, action, "output changed through the admin API");
    Ok(json(StatusCode::OK, &output_view(state, stream, output)?))
}
