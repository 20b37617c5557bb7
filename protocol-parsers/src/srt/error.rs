//! Why an SRT datagram or handshake is refused.

/// A malformed SRT datagram. The datagram is dropped and counted; the connection it
/// was addressed to carries on (UDP garbage must not end a session).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtError {
    #[error("datagram of {0} bytes is shorter than the 16-byte SRT header")]
    Truncated(usize),
    #[error("{what} is cut short: needs {need} bytes, has {have}")]
    ShortField {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("datagram of {0} bytes exceeds the largest SRT packet")]
    TooLarge(usize),
    #[error("handshake extension {kind} claims {words} words but {left} bytes remain")]
    BadExtension { kind: u16, words: u16, left: usize },
    #[error("handshake carries more than {0} extensions")]
    TooManyExtensions(usize),
    #[error("stream id of {0} bytes (1 to 512 allowed)")]
    BadStreamIdLength(usize),
    #[error("loss report range ends before it starts")]
    BadLossRange,
    #[error("loss report lists more than {0} entries")]
    TooManyLossEntries(usize),
}
