//! Parsing a push destination URL: `rtmp[s]://host[:port]/app[/more]` plus a key.

/// Where one push output connects and what it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub app: String,
    pub key: String,
    /// `tcUrl` as encoders send it: the URL without the key.
    pub tc_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushTargetError {
    #[error("URL must start with rtmp:// or rtmps://")]
    Scheme,
    #[error("URL has no host")]
    NoHost,
    #[error("invalid port in URL")]
    Port,
    #[error("URL has no application path (rtmp://host/APP)")]
    NoApp,
    #[error("no stream key: set `key` or end the URL with it")]
    NoKey,
}

impl PushTarget {
    /// `key` set: the URL is `rtmp://host/app` and the key is appended. Otherwise
    /// the URL's last path segment is the key, as OBS "custom server" URLs are.
    pub fn parse(url: &str, key: Option<&str>) -> Result<Self, PushTargetError> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("rtmps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("rtmp://") {
            (false, rest)
        } else {
            return Err(PushTargetError::Scheme);
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
                host,
                port.parse::<u16>().map_err(|_| PushTargetError::Port)?,
            ),
            _ => (authority, if tls { 443 } else { 1935 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(PushTargetError::NoHost);
        }
        let path = path.trim_end_matches('/');
        let (app, key) = match key {
            Some(key) if !key.is_empty() => (path.to_owned(), key.to_owned()),
            _ => {
                let (app, key) = path.rsplit_once('/').ok_or(PushTargetError::NoKey)?;
                (app.to_owned(), key.to_owned())
            }
        };
        if app.is_empty() {
            return Err(PushTargetError::NoApp);
        }
        if key.is_empty() {
            return Err(PushTargetError::NoKey);
        }
        let scheme = if tls { "rtmps" } else { "rtmp" };
        let tc_url = format!("{scheme}://{authority}/{app}");
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            app,
            key,
            tc_url,
        })
    }

    /// The URL without the secret key, for logs and the API.
    pub fn redacted(&self) -> String {
        format!("{}/****", self.tc_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_in_url_or_separate() {
        let t = PushTarget::parse("rtmp://a.rtmp.youtube.com/live2", Some("abcd")).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.app.as_str(), t.key.as_str()),
            ("a.rtmp.youtube.com", 1935, "live2", "abcd")
        );
        assert_eq!(t.tc_url, "rtmp://a.rtmp.youtube.com/live2");
        let t = PushTarget::parse("rtmps://127.0.0.1:1936/live/K", None).unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.port, t.app.as_str(), t.key.as_str()),
            (1936, "live", "K")
        );
        assert_eq!(t.redacted(), "rtmps://127.0.0.1:1936/live/****");
    }

    #[test]
    fn rejects_bad_urls() {
        assert_eq!(
            PushTarget::parse("http://x/live", Some("k")),
            Err(PushTargetError::Scheme)
        );
        assert_eq!(
            PushTarget::parse("rtmp://x:99999/live", Some("k")),
            Err(PushTargetError::Port)
        );
        assert_eq!(
            PushTarget::parse("rtmp://x", None),
            Err(PushTargetError::NoKey)
        );
        assert_eq!(
            PushTarget::parse("rtmp:///live", Some("k")),
            Err(PushTargetError::NoHost)
        );
    }
}
