//! RTMP: handshake, chunk stream, commands, and server and client sessions.

pub mod chunk;
pub mod client;
pub mod command;
mod connection;
mod error;
pub mod handshake;
pub mod media;
mod media_writer;
pub mod message;
mod scratch;
pub mod server;

pub use client::{ClientConfig, ClientEvent, ClientSession};
pub use error::RtmpError;
pub use media_writer::{MediaWriter, WriterSettings};
pub use server::{ServerEvent, ServerSession};
