//! Sans-IO wire formats and connection state machines for Manifold.
//!
//! Nothing in this crate performs I/O, reads a clock or spawns a thread: bytes and
//! time come in as arguments, bytes and events go out through `poll_*` methods.
//!
//! # The drive rule
//! Every connection state machine implements [`Session`]. Whoever drives one (the
//! server's `engine::pump`, a test, a fuzz target) follows one rule: after every
//! `handle_input` or `handle_timeout`, drain `poll_transmit` and `poll_event` until
//! both return `None`, then re-arm the timer from `poll_timeout`.
//!
//! Stream decoders return `Result<Option<T>, E>`: `Ok(None)` means "need more bytes",
//! `Err` means the input is malformed and the connection must close.
#![forbid(unsafe_code)]

pub mod aac;
pub mod amf0;
pub mod dash;
pub mod flv;
pub mod h264;
pub mod hls;
pub mod http;
pub mod limits;
pub mod media;
pub mod mp4;
pub mod mpegts;
pub mod rtmp;
mod session;
pub mod srt;
mod text;

pub mod fuzzing;

pub use limits::Limits;
pub use session::{Session, Transmit};
