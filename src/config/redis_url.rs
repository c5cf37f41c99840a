//! `KEYWARD_REDIS_URL`: the Redis server that holds per-key rate limits for every instance.
//! Written `redis://[[user]:password@]host[:port][/db]`, or `unix:///path/to/socket` (with
//! `?db=N` and `?password=…` when needed). TLS (`rediss://`) is refused until it is supported,
//! rather than silently sent in the clear. The password never appears in `Display`, `Debug`
//! or an error.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

/// Where Redis listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisAddress {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// A parsed Redis URL.
#[derive(Clone)]
pub struct RedisUrl {
    address: RedisAddress,
    db: i64,
    username: Option<String>,
    password: Option<SecretString>,
}

/// Why a Redis URL was refused. Never quotes a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisUrlError {
    #[error(
        "TLS to Redis (rediss://) is not supported yet: use redis:// on a private network or a unix:// socket"
    )]
    TlsNotSupported,
    #[error("`{0}` is not understood: use redis://HOST[:PORT][/DB] or unix:///PATH/TO/SOCKET")]
    UnknownScheme(String),
    #[error("not a valid URL: {0}")]
    NotAUrl(String),
    #[error("no host: use redis://HOST[:PORT][/DB]")]
    NoHost,
    #[error("no socket path: use unix:///PATH/TO/SOCKET")]
    NoSocketPath,
    #[error("the database `{0}` is not a number from 0 up")]
    BadDatabase(String),
    #[error("`{0}` is not an option of a unix:// Redis URL: only db and password are")]
    UnknownOption(String),
}

const DEFAULT_PORT: u16 = 6379;

impl RedisUrl {
    pub fn parse(raw: &str) -> Result<Self, RedisUrlError> {
        let raw = raw.trim();
        let url = url::Url::parse(raw).map_err(|e| RedisUrlError::NotAUrl(e.to_string()))?;
        match url.scheme() {
            "redis" => Self::tcp(&url),
            "unix" | "redis+unix" => Self::unix(&url),
            "rediss" | "valkeys" => Err(RedisUrlError::TlsNotSupported),
            _ => Err(RedisUrlError::UnknownScheme(redacted(&url))),
        }
    }

    fn tcp(url: &url::Url) -> Result<Self, RedisUrlError> {
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(RedisUrlError::NoHost),
        };
        let port = url.port().unwrap_or(DEFAULT_PORT);
        let db = match url.path().trim_start_matches('/') {
            "" => 0,
            text => parse_db(text)?,
        };
        Ok(Self {
            address: RedisAddress::Tcp { host, port },
            db,
            username: Some(decoded(url.username())).filter(|u| !u.is_empty()),
            password: url.password().map(|p| SecretString::from(decoded(p))),
        })
    }

    fn unix(url: &url::Url) -> Result<Self, RedisUrlError> {
        let path = decoded(url.path());
        if path.is_empty() || path == "/" {
            return Err(RedisUrlError::NoSocketPath);
        }
        let (mut db, mut password) = (0, None);
        for (name, value) in url.query_pairs() {
            match name.as_ref() {
                "db" => db = parse_db(&value)?,
                "password" | "pass" => password = Some(SecretString::from(value.into_owned())),
                other => return Err(RedisUrlError::UnknownOption(other.to_owned())),
            }
        }
        Ok(Self { address: RedisAddress::Unix(PathBuf::from(path)), db, username: None, password })
    }

    pub fn address(&self) -> &RedisAddress {
        &self.address
    }

    pub fn db(&self) -> i64 {
        self.db
    }

    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password, for the connection handshake only.
    pub fn expose_password(&self) -> Option<&str> {
        self.password.as_ref().map(ExposeSecret::expose_secret)
    }
}

fn parse_db(text: &str) -> Result<i64, RedisUrlError> {
    text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| RedisUrlError::BadDatabase(text.to_owned()))
}

/// `%40` → `@`: the URL's user, password and path arrive percent-encoded.
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with any password, and the whole query of a unix URL, hidden.
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    if shown.query().is_some() {
        shown.set_query(Some("***"));
    }
    shown.to_string()
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.password.is_some() { ":***" } else { "" };
        match &self.address {
            RedisAddress::Tcp { host, port } => {
                let user = self.username.as_deref().unwrap_or_default();
                let at = if user.is_empty() && secret.is_empty() { "" } else { "@" };
                let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
                write!(f, "redis://{user}{secret}{at}{host}:{port}/{}", self.db)
            }
            RedisAddress::Unix(path) => {
                write!(f, "unix://{}?db={}", path.display(), self.db)?;
                if self.password.is_some() { f.write_str("&password=***") } else { Ok(()) }
            }
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(url: &RedisUrl) -> (String, u16) {
        match url.address() {
            RedisAddress::Tcp { host, port } => (host.clone(), *port),
            RedisAddress::Unix(p) => panic!("a socket: {}", p.display()),
        }
    }

    #[test]
    fn tcp_urls_give_host_port_and_database() {
        let u = RedisUrl::parse("redis://cache.internal").unwrap();
        assert_eq!((tcp(&u), u.db(), u.expose_password()), (("cache.internal".into(), 6379), 0, None));
        let u = RedisUrl::parse(" redis://10.0.0.5:6380/3 ").unwrap();
        assert_eq!((tcp(&u), u.db()), (("10.0.0.5".into(), 6380), 3));
        let u = RedisUrl::parse("redis://[::1]:7000").unwrap();
        assert_eq!(tcp(&u), ("::1".into(), 7000));
        assert_eq!(u.to_string(), "redis://[::1]:7000/0");
        let u = RedisUrl::parse("redis://:s%40cret@h/2").unwrap();
        assert_eq!((u.username(), u.expose_password(), u.db()), (None, Some("s@cret"), 2));
        let u = RedisUrl::parse("redis://:a+b%2Fc@h").unwrap();
        assert_eq!(u.expose_password(), Some("a+b/c"));
        let u = RedisUrl::parse("redis://keyward:pw@h").unwrap();
        assert_eq!((u.username(), u.expose_password()), (Some("keyward"), Some("pw")));
    }

    #[test]
    fn the_password_is_never_shown() {
        let u = RedisUrl::parse("redis://:hunter2@cache:6379/1").unwrap();
        assert_eq!(u.to_string(), "redis://:***@cache:6379/1");
        assert_eq!(format!("{u:?}"), "redis://:***@cache:6379/1");
        let u = RedisUrl::parse("redis://keyward:hunter2@cache").unwrap();
        assert_eq!(u.to_string(), "redis://keyward:***@cache:6379/0");
        let u = RedisUrl::parse("unix:///run/redis.sock?password=hunter2&db=4").unwrap();
        assert_eq!(u.to_string(), "unix:///run/redis.sock?db=4&password=***");
        // Refusals do not quote it either.
        for bad in ["memcached://:hunter2@h", "redis://:hunter2@h/x", "unix:///s?password=hunter2&x=1"] {
            let why = RedisUrl::parse(bad).unwrap_err().to_string();
            assert!(!why.contains("hunter2"), "{why}");
        }
    }

    #[test]
    fn tls_is_refused_with_a_reason() {
        for url in ["rediss://cache:6380", "rediss://:pw@cache"] {
            let why = RedisUrl::parse(url).unwrap_err();
            assert_eq!(why, RedisUrlError::TlsNotSupported);
            assert!(why.to_string().contains("not supported yet"), "{why}");
        }
    }

    #[test]
    fn unix_sockets_name_a_path() {
        let u = RedisUrl::parse("unix:///var/run/redis/redis.sock").unwrap();
        assert_eq!(u.address(), &RedisAddress::Unix("/var/run/redis/redis.sock".into()));
        assert_eq!((u.db(), u.expose_password()), (0, None));
        let u = RedisUrl::parse("unix:///tmp/r.sock?db=2&password=pw").unwrap();
        assert_eq!((u.db(), u.expose_password()), (2, Some("pw")));
        assert_eq!(RedisUrl::parse("unix:///").unwrap_err(), RedisUrlError::NoSocketPath);
        assert_eq!(
            RedisUrl::parse("unix:///s?timeout=1").unwrap_err(),
            RedisUrlError::UnknownOption("timeout".into())
        );
    }

    #[test]
    fn other_forms_are_refused() {
        assert!(matches!(RedisUrl::parse("cache:6379"), Err(RedisUrlError::UnknownScheme(_))));
        assert!(matches!(RedisUrl::parse("http://cache"), Err(RedisUrlError::UnknownScheme(_))));
        assert!(matches!(RedisUrl::parse("not a url"), Err(RedisUrlError::NotAUrl(_))));
        assert_eq!(RedisUrl::parse("redis://h/-1").unwrap_err(), RedisUrlError::BadDatabase("-1".into()));
        assert_eq!(RedisUrl::parse("redis:///0").unwrap_err(), RedisUrlError::NoHost);
    }
}
