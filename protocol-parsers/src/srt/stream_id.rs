//! What a caller asks for in its stream id: `publish:live/KEY`, `read:live/NAME`, or
//! the access-control form of libsrt's guidelines, `#!::r=live/KEY,m=publish`.

use super::handshake::RejectReason;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Publish,
    Read,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    pub mode: Mode,
    /// The part of the resource before the last `/` ("live").
    pub app: String,
    /// The publish key (publish) or the public stream name (read).
    pub name: String,
    /// `u=` of the access-control form, for logs.
    pub user: Option<String>,
}

/// Parses a stream id; what is not understood is rejected with the access-control
/// code a caller would show its user.
pub fn parse_stream_id(raw: &[u8]) -> Result<StreamRequest, RejectReason> {
    let text = std::str::from_utf8(raw).map_err(|_| RejectReason::BadRequest)?;
    if let Some(pairs) = text.strip_prefix("#!::") {
        return parse_access_control(pairs);
    }
    let (mode, resource) = if let Some(rest) = text.strip_prefix("publish:") {
        (Mode::Publish, rest)
    } else if let Some(rest) = text.strip_prefix("read:") {
        (Mode::Read, rest)
    } else {
        return Err(RejectReason::BadRequest);
    };
    let (app, name) = split_resource(resource)?;
    Ok(StreamRequest {
        mode,
        app,
        name,
        user: None,
    })
}

fn parse_access_control(pairs: &str) -> Result<StreamRequest, RejectReason> {
    let mut resource = None;
    let mut mode = Mode::Read;
    let mut user = None;
    for pair in pairs.split(',') {
        let (key, value) = pair.split_once('=').ok_or(RejectReason::BadRequest)?;
        match key {
            "r" => resource = Some(value),
            "m" => {
                mode = match value {
                    "publish" => Mode::Publish,
                    "request" => Mode::Read,
                    _ => return Err(RejectReason::BadMode),
                }
            }
            "u" => user = Some(value.to_owned()),
            // Session id, host and type: accepted, not needed here.
            "s" | "h" => {}
            "t" if value == "stream" => {}
            "t" => return Err(RejectReason::BadMode),
            _ => {}
        }
    }
    let (app, name) = split_resource(resource.ok_or(RejectReason::BadRequest)?)?;
    Ok(StreamRequest {
        mode,
        app,
        name,
        user,
    })
}

fn split_resource(resource: &str) -> Result<(String, String), RejectReason> {
    let (app, name) = resource
        .trim_start_matches('/')
        .rsplit_once('/')
        .ok_or(RejectReason::BadRequest)?;
    if app.is_empty() || name.is_empty() {
        return Err(RejectReason::BadRequest);
    }
    Ok((app.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(mode: Mode, name: &str, user: Option<&str>) -> StreamRequest {
        StreamRequest {
            mode,
            app: "live".into(),
            name: name.into(),
            user: user.map(str::to_owned),
        }
    }

    #[test]
    fn every_documented_form_parses() {
        assert_eq!(
            parse_stream_id(b"publish:live/K"),
            Ok(request(Mode::Publish, "K", None))
        );
        assert_eq!(
            parse_stream_id(b"read:live/main"),
            Ok(request(Mode::Read, "main", None))
        );
        assert_eq!(
            parse_stream_id(b"#!::r=live/K,m=publish"),
            Ok(request(Mode::Publish, "K", None))
        );
        assert_eq!(
            parse_stream_id(b"#!::u=admin,r=live/main,s=abc,m=request"),
            Ok(request(Mode::Read, "main", Some("admin")))
        );
        assert_eq!(
            parse_stream_id(b"#!::r=live/main"),
            Ok(request(Mode::Read, "main", None))
        );
    }

    #[test]
    fn malformed_ids_are_rejected_with_a_reason() {
        assert_eq!(parse_stream_id(b"live/K"), Err(RejectReason::BadRequest));
        assert_eq!(parse_stream_id(b"publish:K"), Err(RejectReason::BadRequest));
        assert_eq!(
            parse_stream_id(b"#!::m=publish"),
            Err(RejectReason::BadRequest)
        );
        assert_eq!(
            parse_stream_id(b"#!::r=live/K,m=bidirectional"),
            Err(RejectReason::BadMode)
        );
        assert_eq!(
            parse_stream_id(&[0xFF, 0xFE]),
            Err(RejectReason::BadRequest)
        );
    }
}
