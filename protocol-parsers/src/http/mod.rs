//! HTTP/1.1 request heads, for the public server (HLS, DASH, the player page).
//! Only what a media server answers: GET, HEAD and OPTIONS without bodies.

mod request;

pub use request::{HttpError, RequestHead, parse_head};
