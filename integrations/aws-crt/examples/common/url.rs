//! The examples' URL parsing: `scheme://host[:port][/path]`, by hand (no user info, no
//! IPv6 literals, no TLS schemes).

/// `scheme://host[:port][/path]` → (host, port, path-and-query); the port defaults to 80.
pub fn parse(url: &str, scheme: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix("://"))
        .ok_or_else(|| format!("only {scheme}:// URLs are supported, not {url:?}"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_string()),
        Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .map_err(|_| format!("bad port {port:?} in {url:?}"))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() || host.contains(['@', '[', ']']) {
        return Err(format!("unsupported host {host:?} in {url:?}"));
    }
    Ok((host.to_string(), port, path))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_host_port_and_path() {
        assert_eq!(
            parse("http://127.0.0.1:8080/bytes/10", "http").unwrap(),
            ("127.0.0.1".into(), 8080, "/bytes/10".into())
        );
        assert_eq!(
            parse("http://example.com", "http").unwrap(),
            ("example.com".into(), 80, "/".into())
        );
        assert_eq!(
            parse("http://localhost:81?x=1", "http").unwrap(),
            ("localhost".into(), 81, "/?x=1".into())
        );
        assert_eq!(
            parse("ws://127.0.0.1:9001/echo", "ws").unwrap(),
            ("127.0.0.1".into(), 9001, "/echo".into())
        );
        assert!(parse("https://example.com/", "http").is_err());
        assert!(parse("wss://example.com/", "ws").is_err());
        assert!(parse("http://:80/", "http").is_err());
        assert!(parse("http://host:99999/", "http").is_err());
    }
}
