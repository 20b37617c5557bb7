//! Parsing one request head with `httparse` (the parser hyper uses), within named
//! limits, into the few fields the media server reads.

/// Longest request head accepted, and most header lines.
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub query: String,
    pub range: Option<String>,
    /// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
    pub close: bool,
    /// The request announced a body (Content-Length > 0 or any
    /// Transfer-Encoding); such a connection is answered and closed.
    pub has_body: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    #[error("request head larger than {max} bytes")]
    HeadTooLarge { max: usize },
    #[error("malformed request head: {0}")]
    Malformed(&'static str),
}

/// Parses a request head from the start of `buf`. `Ok(None)`: incomplete, read
/// more; `Ok(Some((head, len)))`: the head took `len` bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD {
                return Err(HttpError::HeadTooLarge { max: MAX_HEAD });
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::Malformed("too many headers"));
        }
        Err(_) => return Err(HttpError::Malformed("not an HTTP/1.x request")),
    };
    if len > MAX_HEAD {
        return Err(HttpError::HeadTooLarge { max: MAX_HEAD });
    }
    let target = request.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let connection = header("connection").map(str::to_ascii_lowercase);
    let http10 = request.version == Some(0);
    let close = match connection.as_deref() {
        Some(c) if c.contains("close") => true,
        Some(c) if c.contains("keep-alive") => false,
        _ => http10,
    };
    let has_body = header("transfer-encoding").is_some()
        || header("content-length").is_some_and(|v| v.trim() != "0");
    Ok(Some((
        RequestHead {
            method: request.method.unwrap_or("GET").to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            range: header("range").map(str::to_owned),
            close,
            has_body,
        },
        len,
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_incrementally_with_their_fields() {
        let raw = b"GET /live/a/index.m3u8?_HLS_msn=3 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\nGET / HTTP/1.1\r\n";
        assert_eq!(parse_head(&raw[..20]).unwrap(), None);
        let (head, len) = parse_head(raw).unwrap().unwrap();
        assert_eq!(head.path, "/live/a/index.m3u8");
        assert_eq!(head.query, "_HLS_msn=3");
        assert_eq!(head.range.as_deref(), Some("bytes=0-9"));
        assert!(!head.close && !head.has_body);
        assert_eq!(&raw[len..len + 3], b"GET");
        let (head, _) = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(head.close);
        let (head, _) = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert!(head.has_body);
    }

    #[test]
    fn limits_and_garbage_are_errors() {
        assert!(matches!(
            parse_head(b"\x16\x03\x01garbage\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        let huge = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(
            parse_head(huge.as_bytes()),
            Err(HttpError::HeadTooLarge { max: MAX_HEAD })
        );
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        let request = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(parse_head(request.as_bytes()).is_err());
    }
}
