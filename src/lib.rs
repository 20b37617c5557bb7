//! Manifold: one live ingest, delivered at once to many outputs.
//!
//! This crate holds all I/O, threads and policy; wire formats and connection state
//! machines live in the sans-IO `protocol-parsers` crate.
//!
//! `unsafe` is denied everywhere but the codec FFI (`transcode::ffi`) and the engine,
//! which opt in locally with `#[allow(unsafe_code)]` and state each invariant.
#![deny(unsafe_code)]

pub mod admin;
pub mod config;
pub mod engine;
pub mod events;
pub mod ingest;
pub mod mux;
pub mod outputs;
pub mod secret;
pub mod server;
pub mod stream;
pub mod transcode;
