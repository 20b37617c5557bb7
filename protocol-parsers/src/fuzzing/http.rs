//! HTTP/1.1 request heads: any input parses or fails without panicking, and a head
//! found in a buffer parses the same from exactly its own bytes (what follows it,
//! a pipelined request, changes nothing).
//!
//! Seeds in `fuzz/corpus/http_request_head/` are hand-written requests as hls.js,
//! shaka-player, ffmpeg and curl send them, plus malformed ones.

use crate::http::parse_head;

/// Fuzz entry point. Panics only when an invariant breaks, which is a bug.
pub fn http_request_head(data: &[u8]) {
    let Ok(Some((head, len))) = parse_head(data) else {
        return;
    };
    assert!(len <= data.len());
    let own = data.get(..len).unwrap_or_default();
    assert_eq!(parse_head(own), Ok(Some((head, len))));
    // Every shorter prefix is incomplete or malformed, never a different head.
    if let Some(prefix) = own.get(..len.saturating_sub(1)) {
        assert!(!matches!(parse_head(prefix), Ok(Some(_))));
    }
}
