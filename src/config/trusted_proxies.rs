//! `KEYWARD_TRUSTED_PROXIES`: the reverse proxies whose forwarding headers keyward believes.
//! Parsed once at start, so a typo stops the server instead of silently trusting nobody
//! (or everybody).

use std::net::IpAddr;

use ipnet::IpNet;

use super::error::{ConfigError, ProxyEntryError};

/// Reads one entry: an address (`10.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`,
/// `fd00::/8`). Host bits below the prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`), as
/// nginx's `set_real_ip_from` does. The split is done here rather than by `IpNet`'s own parser
/// so that each mistake gets its own message, the address is read as strictly as std reads it
/// (no leading zeros), and a prefix is digits only.
pub fn parse_entry(raw: &str) -> Result<IpNet, ProxyEntryError> {
    let (addr, prefix) = match raw.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (raw, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| ProxyEntryError::NotAnAddress(raw.to_owned()))?;
    // A v4-mapped IPv6 entry names the IPv4 address, as the peer is compared canonically.
    let addr = match addr.to_canonical() {
        v4 @ IpAddr::V4(_) if addr.is_ipv6() => match prefix {
            None => v4,
            // `::ffff:10.0.0.0/104` would need shifting the prefix; nobody writes it.
            Some(_) => return Err(ProxyEntryError::MappedRange(raw.to_owned())),
        },
        _ => addr,
    };
    let Some(prefix) = prefix else { return Ok(IpNet::from(addr)) };
    let bad_prefix =
        || ProxyEntryError::BadPrefix { raw: raw.to_owned(), max: IpNet::from(addr).max_prefix_len() };
    let len = match prefix.parse::<u8>() {
        // Digits only: `u8::from_str` would also take `+8`.
        Ok(n) if prefix.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => return Err(bad_prefix()),
    };
    // `new` refuses a prefix longer than the family's; `trunc` clears the host bits.
    IpNet::new(addr, len).map(|net| net.trunc()).map_err(|_| bad_prefix())
}

/// The proxies allowed to say who the client is. Empty (the default) trusts nobody: the
/// client is always whoever connected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list; blanks around entries and empty entries are ignored, so an
    /// empty variable means nobody. The error names the first bad entry.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        raw.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| parse_entry(e).map_err(ConfigError::TrustedProxy))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` (compared in canonical form, so `::ffff:10.0.0.1` is `10.0.0.1`) is trusted.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // `IpNet::contains` never matches across families.
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn single_addresses_match_only_themselves() {
        let t = TrustedProxies::parse("127.0.0.1, ::1").unwrap();
        assert!(t.contains(ip("127.0.0.1")));
        assert!(t.contains(ip("::1")));
        assert!(!t.contains(ip("127.0.0.2")));
        assert!(!t.contains(ip("::2")));
    }

    #[test]
    fn ipv4_ranges_match_by_prefix() {
        let t = TrustedProxies::parse("10.0.0.0/8,192.168.1.0/24").unwrap();
        assert!(t.contains(ip("10.255.3.4")));
        assert!(!t.contains(ip("11.0.0.0")));
        assert!(t.contains(ip("192.168.1.200")));
        assert!(!t.contains(ip("192.168.2.1")));
    }

    #[test]
    fn ipv6_ranges_match_by_prefix_and_never_across_families() {
        let t = TrustedProxies::parse("fd00::/8, 2001:db8::/32").unwrap();
        assert!(t.contains(ip("fd12:3456::1")));
        assert!(t.contains(ip("2001:db8:ffff::1")));
        assert!(!t.contains(ip("2001:db9::1")));
        assert!(!t.contains(ip("10.0.0.1")));
        // /0 of one family is still only that family.
        let v4_all = TrustedProxies::parse("0.0.0.0/0").unwrap();
        assert!(v4_all.contains(ip("203.0.113.7")));
        assert!(!v4_all.contains(ip("2001:db8::1")));
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_entries() {
        // A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`.
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        let mapped_entry = TrustedProxies::parse("::ffff:10.1.2.3").unwrap();
        assert!(mapped_entry.contains(ip("10.1.2.3")));
    }

    #[test]
    fn host_bits_below_the_prefix_are_ignored() {
        assert_eq!(
            TrustedProxies::parse("10.1.2.3/8").unwrap(),
            TrustedProxies::parse("10.0.0.0/8").unwrap()
        );
    }

    #[test]
    fn prefix_bounds_follow_the_family() {
        assert!(TrustedProxies::parse("10.0.0.0/0").is_ok());
        assert!(TrustedProxies::parse("10.0.0.0/32").is_ok());
        assert!(TrustedProxies::parse("::/128").is_ok());
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "::ffff:10.0.0.0/104",
            "010.0.0.0/8",
        ] {
            let err = TrustedProxies::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("KEYWARD_TRUSTED_PROXIES: `") && err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn empty_means_nobody_and_bad_entries_are_named() {
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse(" , ").unwrap().is_empty());
        let err = TrustedProxies::parse("127.0.0.1, localhost, 10.0.0.0/8").unwrap_err().to_string();
        assert_eq!(err, "KEYWARD_TRUSTED_PROXIES: `localhost` is not an IP address or CIDR range");
        assert!(TrustedProxies::parse("1.2.3.4:80").is_err());
        assert!(TrustedProxies::parse("1.2.3").is_err());
    }
}
