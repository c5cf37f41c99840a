//! A key's IP allowlist: the addresses and CIDR ranges (IPv4 and IPv6) it may be used from.
//!
//! Parsed once at the edge from what a person typed ([`AllowList::parse`]), stored canonical,
//! one range per line (`api_keys.allowed_ips`; NULL: anywhere), and read back once per
//! database read for the verifier ([`AllowedIps`]), so a request costs a walk over a short
//! `Vec` of [`IpNet`].
//!
//! A range with bits set after its prefix (`10.0.0.1/8`) is refused rather than silently
//! widened to `10.0.0.0/8`: it is either a typo in the prefix or in the address, and guessing
//! wrong would let in (or keep out) a whole network. The message says which range was meant.

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

/// The most entries one key's list may hold: wider ranges cover more.
pub const MAX_ENTRIES: usize = 100;

/// A non-empty list of canonical ranges, without duplicates, in the order first given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

/// Why a typed allowlist was refused; each message names the entry to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllowListError {
    #[error(
        "\u{201c}{0}\u{201d} is not an IP address or CIDR range. Write one like 203.0.113.7, 10.0.0.0/8 or 2001:db8::/32."
    )]
    NotAnAddress(String),
    #[error(
        "\u{201c}{entry}\u{201d} has bits set after its /{prefix} prefix. Write the range as {network}, or the single address without a prefix."
    )]
    HostBits { entry: String, prefix: u8, network: IpNet },
    #[error("The list has {0} addresses or ranges; a key can have at most 100. Use wider ranges.")]
    TooMany(usize),
}

impl AllowList {
    /// The allowlist typed into the form: entries separated by newlines, commas or spaces. A
    /// bare address is the range of that one address (/32 or /128). Empty text is `None`: the
    /// key may be used from anywhere.
    pub fn parse(text: &str) -> Result<Option<Self>, AllowListError> {
        let mut nets: Vec<IpNet> = Vec::new();
        let entries = text.split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty());
        for entry in entries {
            let net = parse_entry(entry)?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        if nets.len() > MAX_ENTRIES {
            return Err(AllowListError::TooMany(nets.len()));
        }
        Ok((!nets.is_empty()).then_some(Self(nets)))
    }

    /// The list as stored (one canonical range per line). Lines that do not parse are
    /// skipped: only [`AllowList::to_stored`] writes the column, and a list left empty by
    /// skipping lets nothing in, which fails closed.
    pub fn from_stored(stored: &str) -> Self {
        Self(stored.lines().filter_map(|line| line.trim().parse::<IpNet>().ok()).collect())
    }

    pub fn to_stored(&self) -> String {
        self.to_list().join("\n")
    }

    /// Each range as text, in order (`10.0.0.0/8`, `2001:db8::1/128`).
    pub fn to_list(&self) -> Vec<String> {
        self.0.iter().map(IpNet::to_string).collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` falls in one of the ranges. An IPv4-mapped IPv6 address is its IPv4
    /// address, as `web::client_ip` gives it.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The ranges joined by ", ", for the audit log and messages.
impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list().join(", "))
    }
}

/// One typed entry as a canonical range.
fn parse_entry(entry: &str) -> Result<IpNet, AllowListError> {
    let net = if entry.contains('/') {
        let net: IpNet = entry.parse().map_err(|_| AllowListError::NotAnAddress(entry.to_owned()))?;
        if net.trunc() != net {
            return Err(AllowListError::HostBits {
                entry: entry.to_owned(),
                prefix: net.prefix_len(),
                network: net.trunc(),
            });
        }
        net
    } else {
        let ip: IpAddr = entry.parse().map_err(|_| AllowListError::NotAnAddress(entry.to_owned()))?;
        IpNet::from(ip)
    };
    Ok(canonical(net))
}

/// An IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) as the IPv4 range it covers, since
/// client addresses are compared in their IPv4 form.
fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.addr().to_ipv4_mapped()
    {
        let v4 = Ipv4Net::new(v4, v6.prefix_len() - 96).expect("a prefix of 96 to 128 leaves 0 to 32");
        return IpNet::V4(v4);
    }
    net
}

/// Where a key may be used from, as its record holds it: anywhere (`None`), or its list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedIps(pub Option<AllowList>);

impl From<Option<String>> for AllowedIps {
    fn from(stored: Option<String>) -> Self {
        Self(stored.map(|s| AllowList::from_stored(&s)))
    }
}

impl AllowedIps {
    /// Whether a request from `ip` (as text, as the verifier has it) may use the key. A key
    /// with a list refuses a request whose address is unknown or not an address. The text is
    /// parsed only for a key that has a list.
    pub fn permits(&self, ip: Option<&str>) -> bool {
        match &self.0 {
            None => true,
            Some(list) => ip.and_then(|ip| ip.parse::<IpAddr>().ok()).is_some_and(|ip| list.contains(ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> AllowList {
        AllowList::parse(text).unwrap().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_text_means_anywhere() {
        assert_eq!(AllowList::parse(""), Ok(None));
        assert_eq!(AllowList::parse(" \n\t , \r\n"), Ok(None));
    }

    #[test]
    fn addresses_and_ranges_of_both_families_are_canonical() {
        let l = list("10.0.0.0/8\n203.0.113.7, 2001:DB8::/32  ::1\r\n192.168.1.0/24");
        assert_eq!(
            l.to_list(),
            ["10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32", "::1/128", "192.168.1.0/24"]
        );
        assert_eq!(l.to_string(), "10.0.0.0/8, 203.0.113.7/32, 2001:db8::/32, ::1/128, 192.168.1.0/24");
        assert_eq!(AllowList::from_stored(&l.to_stored()), l);
    }

    #[test]
    fn duplicates_are_dropped_in_the_order_first_given() {
        let l = list("127.0.0.1, 10.0.0.0/8\n127.0.0.1/32 10.0.0.0/8");
        assert_eq!(l.to_list(), ["127.0.0.1/32", "10.0.0.0/8"]);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn ipv4_mapped_ranges_are_their_ipv4_ranges() {
        assert_eq!(list("::ffff:10.0.0.0/104").to_list(), ["10.0.0.0/8"]);
        assert_eq!(list("::ffff:192.0.2.1").to_list(), ["192.0.2.1/32"]);
        assert!(list("::ffff:10.0.0.0/104").contains(ip("10.1.2.3")));
    }

    #[test]
    fn bad_entries_are_named() {
        let e = AllowList::parse("10.0.0.0/8\n10.0.0.0/33").unwrap_err();
        assert_eq!(e, AllowListError::NotAnAddress("10.0.0.0/33".into()));
        assert!(e.to_string().starts_with("\u{201c}10.0.0.0/33\u{201d} is not an IP address or CIDR range"));
        for bad in
            ["10.0.0", "example.com", "300.1.1.1", "fe80::1%eth0", "10.0.0.0/", "/8", "::1/129", "1.2.3.4:80"]
        {
            assert_eq!(AllowList::parse(bad), Err(AllowListError::NotAnAddress(bad.into())), "{bad}");
        }
    }

    #[test]
    fn host_bits_are_refused_with_the_range_meant() {
        let e = AllowList::parse("10.0.0.1/8").unwrap_err();
        assert_eq!(
            e,
            AllowListError::HostBits {
                entry: "10.0.0.1/8".into(),
                prefix: 8,
                network: "10.0.0.0/8".parse().unwrap()
            }
        );
        assert!(e.to_string().contains("Write the range as 10.0.0.0/8"), "{e}");
        assert!(matches!(AllowList::parse("2001:db8::1/32"), Err(AllowListError::HostBits { .. })));
    }

    #[test]
    fn at_most_a_hundred_entries() {
        let hundred: Vec<String> = (0..100).map(|i| format!("10.0.{i}.0/24")).collect();
        assert_eq!(list(&hundred.join("\n")).len(), 100);
        // Duplicates do not count.
        assert_eq!(list(&format!("{}\n10.0.0.0/24", hundred.join(","))).len(), 100);
        let more = format!("{}\n10.1.0.0/16", hundred.join("\n"));
        let e = AllowList::parse(&more).unwrap_err();
        assert_eq!(e, AllowListError::TooMany(101));
        assert!(e.to_string().contains("at most 100"));
    }

    #[test]
    fn contains_checks_every_range() {
        let l = list("10.0.0.0/8, 2001:db8::/32");
        assert!(l.contains(ip("10.255.0.1")));
        assert!(!l.contains(ip("11.0.0.1")));
        assert!(l.contains(ip("2001:db8::42")));
        assert!(!l.contains(ip("2001:db9::1")));
        assert!(l.contains(ip("::ffff:10.1.1.1")), "an IPv4-mapped address is its IPv4 address");
        assert!(!l.contains(ip("127.0.0.1")));
    }

    #[test]
    fn a_record_without_a_list_allows_anywhere_and_one_with_a_list_needs_an_address() {
        let anywhere = AllowedIps::from(None);
        assert!(anywhere.permits(None));
        assert!(anywhere.permits(Some("198.51.100.1")));
        let only = AllowedIps::from(Some("127.0.0.1/32\n::1/128".to_owned()));
        assert!(only.permits(Some("127.0.0.1")));
        assert!(only.permits(Some("::1")));
        assert!(!only.permits(Some("127.0.0.2")));
        assert!(!only.permits(None), "an unknown address is refused");
        assert!(!only.permits(Some("not an address")));
        // A stored list that reads as nothing lets nothing in.
        let broken = AllowedIps::from(Some("garbage".to_owned()));
        assert!(!broken.permits(Some("127.0.0.1")));
    }
}
