//! Connections that bring a stream in (RTMP/RTMPS publish) — and, on the same port,
//! RTMP play for pull viewers.

pub mod rtmp;
