//! Where a webhook may be sent. A webhook URL is an address the server itself will call, so an
//! owner could otherwise point it at the server's own network (server-side request forgery):
//! a database port on loopback, a router on 10.0.0.1, the cloud metadata service on
//! 169.254.169.254. Unless the operator allows private addresses
//! (`KEYWARD_WEBHOOK_ALLOW_PRIVATE`), [`WebhookUrl::parse`] refuses `http://` and literal
//! addresses of those kinds, and [`is_public`] is checked again on every address a host name
//! resolves to when a delivery is sent (`dispatch`), so a name that later resolves to a private
//! address (DNS rebinding) still cannot reach one.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longer URLs are refused: nobody needs one, and it bounds what the pages and the log show.
pub const MAX_LENGTH: usize = 2000;

/// An endpoint's address, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

/// Why a URL is refused; each reads as the message shown beside the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("Enter the URL the events should be sent to, like https://example.com/webhooks/keyward.")]
    Empty,
    #[error("A webhook URL is at most {MAX_LENGTH} characters.")]
    TooLong,
    #[error("That is not a URL. Enter a full address, like https://example.com/webhooks/keyward.")]
    Malformed,
    #[error("Use an https:// address: events are sent encrypted.")]
    NotHttps,
    #[error(
        "A webhook URL cannot hold a user name or password. Verify deliveries by their signature instead."
    )]
    Credentials,
    #[error(
        "That address is private, loopback or link-local: this server does not send webhooks into \
         its own network. Use a public address."
    )]
    Private,
}

impl WebhookUrl {
    /// Checks an address typed by an owner (or read back from the database before a delivery).
    /// With `allow_private`, `http://` and private addresses are accepted too (for receivers on
    /// the same host or network, and for tests).
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, UrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::Empty);
        }
        if raw.len() > MAX_LENGTH {
            return Err(UrlError::TooLong);
        }
        let url = url::Url::parse(raw).map_err(|_| UrlError::Malformed)?;
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            "http" => return Err(UrlError::NotHttps),
            _ => return Err(UrlError::Malformed),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let ip = match url.host() {
            None => return Err(UrlError::Malformed),
            Some(url::Host::Domain("")) => return Err(UrlError::Malformed),
            Some(url::Host::Domain(d)) => {
                // Names that are loopback by definition (RFC 6761) need no lookup to refuse.
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if !allow_private && (d == "localhost" || d.ends_with(".localhost")) {
                    return Err(UrlError::Private);
                }
                None
            }
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        };
        if let Some(ip) = ip
            && !allow_private
            && !is_public(ip)
        {
            return Err(UrlError::Private);
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

/// An endpoint's address as the audit log names it: scheme, host and port, then `/…` for any
/// path or query. Receivers often take a token in the path (`/services/T0/B0/XXXX`), and the
/// audit log (and its CSV) is readable by every member; the whole address is for owners, on the
/// endpoint's page and in the email that says it was disabled.
pub fn redacted(raw: &str) -> String {
    let Ok(url) = url::Url::parse(raw) else { return "(a webhook address)".to_owned() };
    let host = url.host_str().unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let more = if url.path() != "/" || url.query().is_some() { "/\u{2026}" } else { "" };
    format!("{}://{host}{port}{more}", url.scheme())
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// Whether a webhook may be sent to this address when private ones are not allowed: not
/// loopback, private (RFC 1918, unique local fc00::/7), link-local (169.254/16 with the cloud
/// metadata service, fe80::/10), shared address space (100.64/10), unspecified, broadcast,
/// multicast, documentation or otherwise reserved; IPv4 addresses inside IPv6 are judged as
/// IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public_v4(v4);
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space, carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]) // discard-only
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`), the old
/// IPv4-compatible form (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:ab:cd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> UrlError {
        WebhookUrl::parse(raw, false).expect_err(raw)
    }

    #[test]
    fn public_https_addresses_are_accepted() {
        for ok in [
            "https://example.com/webhooks",
            "https://hooks.example.com:8443/a?b=c",
            "https://93.184.216.34/x",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/",
        ] {
            assert!(WebhookUrl::parse(ok, false).is_ok(), "{ok}");
        }
    }

    #[test]
    fn plain_http_is_refused_unless_private_addresses_are_allowed() {
        assert_eq!(refused("http://example.com/"), UrlError::NotHttps);
        assert!(WebhookUrl::parse("http://example.com/", true).is_ok());
        assert_eq!(refused("ftp://example.com/"), UrlError::Malformed);
        assert_eq!(refused("javascript:alert(1)"), UrlError::Malformed);
    }

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused() {
        for raw in [
            "https://127.0.0.1/",
            "https://127.1.2.3:8080/x",
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://255.255.255.255/",
            "https://224.0.0.1/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[64:ff9b::a00:1]/",
            "https://[2002:7f00:1::]/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            // Other spellings of 127.0.0.1 are normalised by the URL parser first.
            "https://2130706433/",
            "https://0x7f.1/",
        ] {
            assert_eq!(refused(raw), UrlError::Private, "{raw}");
            assert!(WebhookUrl::parse(raw, true).is_ok(), "allowed when private is: {raw}");
        }
    }

    #[test]
    fn credentials_empty_and_overlong_urls_are_refused() {
        assert_eq!(refused("https://user:pw@example.com/"), UrlError::Credentials);
        assert_eq!(refused("https://user@example.com/"), UrlError::Credentials);
        assert_eq!(refused("   "), UrlError::Empty);
        assert_eq!(refused("example.com/hook"), UrlError::Malformed);
        let long = format!("https://example.com/{}", "a".repeat(MAX_LENGTH));
        assert_eq!(refused(&long), UrlError::TooLong);
    }

    #[test]
    fn resolved_addresses_are_judged_alike() {
        assert!(is_public("8.8.8.8".parse().unwrap()));
        assert!(is_public("2001:4860:4860::8888".parse().unwrap()));
        assert!(!is_public("127.0.0.53".parse().unwrap()));
        assert!(!is_public("::ffff:192.168.0.1".parse().unwrap()));
        assert!(!is_public("169.254.1.1".parse().unwrap()));
    }

    #[test]
    fn a_redacted_address_keeps_only_scheme_host_and_port() {
        assert_eq!(
            redacted("https://hooks.example.com/services/T0/B0/secret"),
            "https://hooks.example.com/\u{2026}"
        );
        assert_eq!(
            redacted("https://hooks.example.com:8443/?token=x"),
            "https://hooks.example.com:8443/\u{2026}"
        );
        assert_eq!(redacted("https://hooks.example.com/"), "https://hooks.example.com");
        assert_eq!(redacted("not a url"), "(a webhook address)");
    }
}
