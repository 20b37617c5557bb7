//! The one place the drive rule lives: feed a session, drain its transmits and
//! events, re-arm its timer.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use protocol_parsers::Session;

use super::Transport;

/// Why `Pump::next` returned.
#[derive(Debug)]
pub enum Wake<T> {
    /// Bytes from the peer were fed to the session; here are the events it raised.
    Input,
    /// The peer closed the connection.
    Closed,
    /// The session's timer fired and was handled.
    Timer,
    /// The caller's own future finished first.
    Other(T),
}

/// Drives one sans-IO session over one transport.
#[derive(Debug)]
pub struct Pump<S: Session> {
    pub session: S,
    pub transport: Transport,
    events: Vec<S::Event>,
    /// Bytes put on the wire so far (TLS records included), counted as each write
    /// completes; an output shares its stats counter here.
    pub bytes_written: Arc<AtomicU64>,
}

impl<S: Session> Pump<S> {
    pub fn new(session: S, transport: Transport) -> Self {
        Self {
            session,
            transport,
            events: Vec::new(),
            bytes_written: Arc::default(),
        }
    }

    /// Events raised by the session since the last call.
    pub fn take_events(&mut self) -> std::vec::Drain<'_, S::Event> {
        self.events.drain(..)
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            self.events.push(event);
        }
    }

    /// Waits for input, the session's timer or `other`, whichever comes first, and
    /// feeds input and timeouts to the session (then drains its events).
    pub async fn next<T>(
        &mut self,
        other: impl Future<Output = T>,
    ) -> Result<Wake<T>, PumpError<S::Error>> {
        let mut other = pin!(other);
        let deadline = self.session.poll_timeout();
        let mut timer = pin!(async move {
            match deadline {
                Some(at) => compio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        });
        enum Ready<T> {
            Read(io::Result<Option<Bytes>>),
            Timer,
            Other(T),
        }
        let ready = poll_fn(|cx| {
            if let Poll::Ready(read) = self.transport.poll_read(cx) {
                return Poll::Ready(Ready::Read(read));
            }
            if let Poll::Ready(value) = other.as_mut().poll(cx) {
                return Poll::Ready(Ready::Other(value));
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ready::Timer);
            }
            Poll::Pending
        })
        .await;
        match ready {
            Ready::Read(Ok(Some(bytes))) => {
                if !bytes.is_empty() {
                    self.session
                        .handle_input(Instant::now(), bytes)
                        .map_err(PumpError::Session)?;
                }
                self.drain_events();
                Ok(Wake::Input)
            }
            Ready::Read(Ok(None)) => Ok(Wake::Closed),
            Ready::Read(Err(e)) => Err(PumpError::Io(e)),
            Ready::Timer => {
                self.session.handle_timeout(Instant::now());
                self.drain_events();
                Ok(Wake::Timer)
            }
            Ready::Other(value) => Ok(Wake::Other(value)),
        }
    }

    /// Writes everything the session wants to send.
    pub async fn flush(&mut self) -> io::Result<()> {
        let pieces = self.take_transmit();
        self.write(pieces).await
    }

    /// Takes everything the session wants to send, for a caller that writes it
    /// (with `write`) along with bytes of its own.
    pub fn take_transmit(&mut self) -> Vec<Bytes> {
        // Usually one transmit: its pieces as they are, without a new vector.
        let mut pieces = self
            .session
            .poll_transmit()
            .map(|t| t.pieces)
            .unwrap_or_default();
        while let Some(transmit) = self.session.poll_transmit() {
            pieces.extend(transmit.pieces);
        }
        self.drain_events();
        pieces
    }

    /// Writes `pieces`, counting them; with none, still writes what TLS has waiting.
    pub async fn write(&mut self, pieces: Vec<Bytes>) -> io::Result<()> {
        if pieces.is_empty() {
            return self.transport.flush_tls().await;
        }
        self.transport.write(pieces, &self.bytes_written).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PumpError<E: std::error::Error> {
    #[error("{0}")]
    Session(E),
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}
