//! Which site the browser thinks it is talking to: for the console's cross-site check and for
//! the absolute URLs a page shows (the reveal page's `curl` example).
//!
//! actix's `connection_info()` believes `Forwarded` / `X-Forwarded-Host` / `-Proto` from any
//! client, which would let a client choose the host its own `Origin` is compared with. Here
//! those headers count only when the peer is a trusted proxy (`KEYWARD_TRUSTED_PROXIES`), and
//! `KEYWARD_PUBLIC_URL`, when set, is the answer for the URLs we print.

use actix_web::HttpRequest;
use actix_web::http::header::{HOST, HeaderMap};

use crate::config::TrustedProxies;

/// A scheme and an authority (`host` or `host:port`), lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteOrigin {
    pub scheme: String,
    pub authority: String,
}

impl SiteOrigin {
    /// How this request reached us: the `Host` header (or the HTTP/2 authority) and plain
    /// `http`, unless a trusted proxy says otherwise with `X-Forwarded-Host` / `-Proto`.
    pub fn of_request(req: &HttpRequest, trusted: &TrustedProxies) -> Self {
        let from_proxy = req.peer_addr().is_some_and(|peer| trusted.contains(peer.ip().to_canonical()));
        let direct_host = req
            .headers()
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let (host, scheme) = if from_proxy {
            (
                first_value(req.headers(), "x-forwarded-host").unwrap_or(direct_host),
                first_value(req.headers(), "x-forwarded-proto").unwrap_or_else(|| "http".into()),
            )
        } else {
            (direct_host, "http".into())
        };
        Self { scheme: scheme.to_ascii_lowercase(), authority: host.to_ascii_lowercase() }
    }

    /// The configured public URL's origin, when there is one.
    pub fn of_public_url(url: &url::Url) -> Option<Self> {
        let host = url.host_str()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Some(Self { scheme: url.scheme().to_ascii_lowercase(), authority: authority.to_ascii_lowercase() })
    }

    /// The authority with the scheme's default port written out (`keys.example.com` →
    /// `keys.example.com:443`), as some clients send `Host`; unchanged when it has a port.
    pub fn default_port_form(&self) -> String {
        let has_port = !self.authority.ends_with(']')
            && self
                .authority
                .rsplit_once(':')
                .is_some_and(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()));
        match (has_port, self.scheme.as_str()) {
            (false, "https") => format!("{}:443", self.authority),
            (false, _) => format!("{}:80", self.authority),
            (true, _) => self.authority.clone(),
        }
    }

    /// An absolute URL on this site for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.authority)
    }

    /// The base URL to print in pages: the public URL when configured, else the request's.
    pub fn for_links(req: &HttpRequest, trusted: &TrustedProxies, public_url: Option<&url::Url>) -> Self {
        public_url.and_then(Self::of_public_url).unwrap_or_else(|| Self::of_request(req, trusted))
    }
}

/// The first entry of a comma-separated forwarding header (the one the outermost proxy set).
fn first_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let raw = headers.get(name)?.to_str().ok()?;
    let first = raw.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_owned())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(peer.parse().unwrap());
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        r.to_http_request()
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_proxy() {
        let trusted = TrustedProxies::parse("10.0.0.1").unwrap();
        let headers = [
            ("host", "internal:8080"),
            ("x-forwarded-host", "Keys.Example.com"),
            ("x-forwarded-proto", "https"),
        ];
        let via_proxy = SiteOrigin::of_request(&request("10.0.0.1:5000", &headers), &trusted);
        assert_eq!(via_proxy, SiteOrigin { scheme: "https".into(), authority: "keys.example.com".into() });
        let direct = SiteOrigin::of_request(&request("203.0.113.9:5000", &headers), &trusted);
        assert_eq!(direct, SiteOrigin { scheme: "http".into(), authority: "internal:8080".into() });
    }

    #[test]
    fn default_ports_are_written_out_only_when_missing() {
        let origin =
            |scheme: &str, authority: &str| SiteOrigin { scheme: scheme.into(), authority: authority.into() };
        assert_eq!(origin("https", "keys.example.com").default_port_form(), "keys.example.com:443");
        assert_eq!(origin("http", "keys.example.com").default_port_form(), "keys.example.com:80");
        assert_eq!(origin("https", "keys.example.com:8443").default_port_form(), "keys.example.com:8443");
        assert_eq!(origin("http", "[::1]").default_port_form(), "[::1]:80");
        assert_eq!(origin("http", "[::1]:8080").default_port_form(), "[::1]:8080");
    }

    #[test]
    fn the_public_url_wins_for_links() {
        let public = url::Url::parse("https://keys.example.com:8443/").unwrap();
        let req = request("203.0.113.9:5000", &[("host", "evil.example")]);
        let origin = SiteOrigin::for_links(&req, &TrustedProxies::default(), Some(&public));
        assert_eq!(origin, SiteOrigin { scheme: "https".into(), authority: "keys.example.com:8443".into() });
    }
}
