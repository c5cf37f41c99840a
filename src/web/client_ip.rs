//! Who the client is: the one rule every recorded address goes through (a key's last-used IP,
//! the sign-in throttle, the audit log).
//!
//! Forwarding headers are believed only from a trusted proxy, and `X-Forwarded-For` is read
//! from the right: each proxy appends the address it saw, so the entries a trusted proxy wrote
//! are at the end, and anything a client sent itself sits to their left. The first entry from
//! the right that is not a trusted proxy is the client; a client can prepend what it likes but
//! cannot change what the trusted proxy appended.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;

use crate::config::TrustedProxies;

/// The client's address for a request (`None` only when actix knows no peer, as in unit tests).
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    req.peer_addr().map(|peer| resolve(peer.ip(), req.headers(), trusted))
}

/// The rule itself: the peer unless it is trusted; then the right-most untrusted entry of
/// `X-Forwarded-For` (the left-most if all are trusted), else `X-Real-IP`. A value that is not
/// an address gives the peer: a trusted proxy never writes one, so the header is not to be
/// believed. Addresses come back canonical (`::ffff:1.2.3.4` is `1.2.3.4`).
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    // Several XFF headers are one list, in order (RFC 9110 field combination).
    let mut forwarded = headers.get_all("x-forwarded-for").peekable();
    if forwarded.peek().is_some() {
        let mut values = Vec::new();
        for value in forwarded {
            let Ok(text) = value.to_str() else { return peer };
            values.extend(text.split(','));
        }
        let mut client = None;
        for entry in values.iter().rev() {
            let Some(ip) = parse_entry(entry) else { return peer };
            client = Some(ip);
            if !trusted.contains(ip) {
                break;
            }
        }
        return client.unwrap_or(peer);
    }
    headers.get("x-real-ip").and_then(|v| v.to_str().ok()).map_or(Some(peer), parse_entry).unwrap_or(peer)
}

/// One forwarded address. Besides the bare form nginx writes, `[::1]`, `[::1]:80` and
/// `1.2.3.4:80` are taken (other proxies add ports); anything else is `None`.
fn parse_entry(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    let ip = raw
        .parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| raw.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse("127.0.0.1, 10.0.0.0/8, ::1").unwrap()
    }

    fn from(peer: &str, pairs: &[(&'static str, &str)]) -> IpAddr {
        resolve(ip(peer), &headers(pairs), &trusted())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(from("198.51.100.1", &[("x-forwarded-for", "203.0.113.7")]), ip("198.51.100.1"));
        assert_eq!(from("198.51.100.1", &[("x-real-ip", "203.0.113.7")]), ip("198.51.100.1"));
        let nobody = TrustedProxies::default();
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &nobody), ip("127.0.0.1"));
    }

    #[test]
    fn a_trusted_peer_names_the_right_most_untrusted_address() {
        assert_eq!(from("127.0.0.1", &[("x-forwarded-for", "203.0.113.7")]), ip("203.0.113.7"));
        assert_eq!(from("::1", &[("x-forwarded-for", "2001:db8::7")]), ip("2001:db8::7"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_skipped() {
        let xff = "203.0.113.7, 10.1.1.1, 10.2.2.2";
        assert_eq!(from("127.0.0.1", &[("x-forwarded-for", xff)]), ip("203.0.113.7"));
    }

    #[test]
    fn spoofed_entries_left_of_the_client_are_ignored() {
        // The client sent `X-Forwarded-For: 10.9.9.9, 1.1.1.1`; nginx appended what it saw.
        let xff = "10.9.9.9, 1.1.1.1, 203.0.113.7, 10.0.0.5";
        assert_eq!(from("127.0.0.1", &[("x-forwarded-for", xff)]), ip("203.0.113.7"));
    }

    #[test]
    fn an_all_trusted_chain_gives_the_left_most() {
        assert_eq!(from("127.0.0.1", &[("x-forwarded-for", "10.0.0.3, 10.0.0.2")]), ip("10.0.0.3"));
    }

    #[test]
    fn several_headers_are_one_list_in_order() {
        let h = [("x-forwarded-for", "1.1.1.1, 203.0.113.7"), ("x-forwarded-for", "10.0.0.2")];
        assert_eq!(from("127.0.0.1", &h), ip("203.0.113.7"));
        let h = [("x-forwarded-for", "10.0.0.2"), ("x-forwarded-for", "203.0.113.7")];
        assert_eq!(from("127.0.0.1", &h), ip("203.0.113.7"));
    }

    #[test]
    fn x_real_ip_is_the_fallback_when_there_is_no_forwarded_for() {
        assert_eq!(from("127.0.0.1", &[("x-real-ip", "203.0.113.7")]), ip("203.0.113.7"));
        let both = [("x-real-ip", "198.51.100.9"), ("x-forwarded-for", "203.0.113.7")];
        assert_eq!(from("127.0.0.1", &both), ip("203.0.113.7"));
        assert_eq!(from("127.0.0.1", &[]), ip("127.0.0.1"));
    }

    #[test]
    fn garbage_gives_the_peer() {
        for xff in ["unknown", "203.0.113.7, nonsense", "", "203.0.113.7,", "1.2.3"] {
            assert_eq!(from("127.0.0.1", &[("x-forwarded-for", xff)]), ip("127.0.0.1"), "{xff:?}");
        }
        assert_eq!(from("127.0.0.1", &[("x-real-ip", "_hidden")]), ip("127.0.0.1"));
    }

    #[test]
    fn garbage_left_of_the_client_does_not_matter() {
        assert_eq!(from("127.0.0.1", &[("x-forwarded-for", "nonsense, 203.0.113.7")]), ip("203.0.113.7"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_tolerated() {
        assert_eq!(from("127.0.0.1", &[("x-forwarded-for", "203.0.113.7:5678")]), ip("203.0.113.7"));
        assert_eq!(from("127.0.0.1", &[("x-forwarded-for", "[2001:db8::7]")]), ip("2001:db8::7"));
        assert_eq!(from("127.0.0.1", &[("x-forwarded-for", "[2001:db8::7]:443")]), ip("2001:db8::7"));
        assert_eq!(from("127.0.0.1", &[("x-forwarded-for", "::ffff:203.0.113.7")]), ip("203.0.113.7"));
        // A dual-stack listener's view of an IPv4 proxy is still that proxy.
        assert_eq!(from("::ffff:127.0.0.1", &[("x-forwarded-for", "203.0.113.7")]), ip("203.0.113.7"));
        assert_eq!(from("::ffff:198.51.100.1", &[]), ip("198.51.100.1"));
    }
}
