use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::rtmp::{ServerEvent, ServerSession};
use crate::{Limits, Session};

/// Drives a server session with arbitrary input as a valid C0+C1+C2 followed by
/// the fuzz data: it must never panic, whatever it is told.
pub fn rtmp_server_session(data: &[u8]) {
    // The harness is a driver, not protocol code: it owns the clock.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let mut session = ServerSession::new(start, [7; 1528], Limits::default());
    let mut handshake = vec![3u8];
    handshake.extend_from_slice(&[0; 1536 * 2]);
    let _ = session.handle_input(start, Bytes::from(handshake));
    for (i, piece) in data.chunks(977).enumerate() {
        let now = start + Duration::from_millis(i as u64);
        if session
            .handle_input(now, Bytes::copy_from_slice(piece))
            .is_err()
        {
            break;
        }
        while session.poll_transmit().is_some() {}
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::PublishRequested { .. } => session.accept_publish(),
                ServerEvent::PlayRequested { .. } => session.accept_play(),
                _ => {}
            }
        }
    }
    if let Some(at) = session.poll_timeout() {
        session.handle_timeout(at + Duration::from_secs(60));
    }
    while session.poll_event().is_some() {}
}
