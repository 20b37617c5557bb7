use std::time::Instant;

use bytes::Bytes;

/// Bytes a session wants written to its peer, in order.
///
/// A transmit is a list of pieces so that media payloads travel from the ingest
/// buffer to the socket without being copied into a contiguous buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transmit {
    pub pieces: Vec<Bytes>,
}

impl Transmit {
    pub fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.iter().all(Bytes::is_empty)
    }
}

/// The shape every connection state machine shares, so one pump drives them all.
pub trait Session {
    type Event;
    type Error: std::error::Error;

    /// Feeds bytes received from the peer.
    fn handle_input(&mut self, now: Instant, data: Bytes) -> Result<(), Self::Error>;
    /// Tells the session that the instant returned by `poll_timeout` has passed.
    fn handle_timeout(&mut self, now: Instant);
    /// Next bytes to send to the peer.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// Next event for the application (a publish request, a frame, closed...).
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// When the session next needs `handle_timeout`.
    fn poll_timeout(&self) -> Option<Instant>;
}
