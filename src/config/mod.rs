//! Typed settings, read from flags and `KEYWARD_*` environment variables by the CLI.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod error;
pub mod leak_report_keys;
pub mod metrics_token;
pub mod redis_url;
pub mod secret_key;
pub mod smtp;
pub mod trusted_proxies;

pub use error::{ConfigError, DurationError, ProxyEntryError};
pub use leak_report_keys::{LeakReportKeys, SignatureRefusal};
pub use metrics_token::MetricsToken;
pub use redis_url::{RedisAddress, RedisUrl, RedisUrlError};
pub use secret_key::SecretKey;
pub use smtp::{SmtpError, SmtpSettings, SmtpUrl};
pub use trusted_proxies::TrustedProxies;

/// Where the data lives. Chosen from the URL scheme, never by trial connection.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file path (relative to the working directory unless absolute).
    Sqlite(PathBuf),
    /// A libpq connection URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// Accepts `sqlite://relative.db`, `sqlite:///absolute.db`, `sqlite:file.db`,
    /// `postgres://…` and `postgresql://…`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(ConfigError::NoSqliteFile(raw.to_owned()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            url::Url::parse(raw).map_err(|e| ConfigError::BadPostgresUrl(e.to_string()))?;
            return Ok(Self::Postgres(raw.to_owned()));
        }
        Err(ConfigError::UnknownDatabaseUrl(redact(raw)))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(p) => Some(p),
            Self::Postgres(_) => None,
        }
    }
}

/// Hides a password in a URL so it can be printed in an error line.
fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            Self::Postgres(u) => f.write_str(&redact(u)),
        }
    }
}

/// Per-key rate limit defaults: a sustained rate and a short burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub per_minute: u32,
    pub burst_per_second: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self { per_minute: 100, burst_per_second: 10 }
    }
}

/// Sign-in throttling, in three counts kept per instance:
///
/// - one account from one client network (an IPv4 address, an IPv6 /64): after
///   `free_failures_per_pair` failures each further attempt must wait, `first_delay` and then
///   twice as long after each failure, at most `max_delay`. This is what stops someone guessing
///   one account's password, and it costs the account's owner, on another network, nothing;
/// - one account from everywhere: at `max_failures_per_account` failures within `window` the
///   account is refused until `window` has passed. A ceiling on distributed guessing, far above
///   what one network can reach, so a stranger cannot lock an account by failing on purpose;
/// - one client network across accounts: at `max_failures_per_ip` failures within `window`
///   the network is refused until `window` has passed.
///
/// Each table keeps at most `max_tracked` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginThrottleSettings {
    pub free_failures_per_pair: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub max_failures_per_account: u32,
    pub max_failures_per_ip: u32,
    pub window: Duration,
    pub max_tracked: usize,
}

impl Default for LoginThrottleSettings {
    fn default() -> Self {
        Self {
            free_failures_per_pair: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            max_failures_per_account: 100,
            max_failures_per_ip: 20,
            window: Duration::from_secs(15 * 60),
            max_tracked: 10_000,
        }
    }
}

/// How much argon2 work runs at once. Each hash holds 19 MiB and a core for tens of
/// milliseconds, so unbounded concurrent sign-ins cost memory and threads without end; beyond
/// `permits` at once, a request waits up to `max_wait` for its turn and is then answered 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordWorkSettings {
    pub permits: usize,
    pub max_wait: Duration,
}

impl Default for PasswordWorkSettings {
    fn default() -> Self {
        Self { permits: available_cores(), max_wait: Duration::from_secs(2) }
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Webhook delivery (`webhooks::dispatch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `KEYWARD_WEBHOOK_ALLOW_PRIVATE`: let endpoints be private, loopback or link-local
    /// addresses (and plain `http://`). Off by default: a webhook URL is otherwise a way to
    /// make the server send requests into its own network (server-side request forgery).
    pub allow_private: bool,
    /// How long one delivery may take, connecting included.
    pub timeout: Duration,
    /// The wait before the first retry; each later wait is longer (exponential backoff).
    pub retry_base: Duration,
    /// How long a delivery is retried, and how long an endpoint may fail before it is
    /// disabled.
    pub give_up_after: Duration,
    /// How often the dispatcher looks for due deliveries when nothing wakes it sooner.
    pub poll_interval: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            give_up_after: Duration::from_secs(24 * 3600),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The scheduled key rules (`lifecycle`): expiry reminders, unused-key warnings and revocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecycleSettings {
    /// How often the rules run. Each rule is idempotent and each notice is sent once whatever
    /// the number of instances, so running often only makes notices punctual.
    pub interval: Duration,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self { interval: Duration::from_secs(300) }
    }
}

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    pub database_url: DatabaseUrl,
    /// Cookie key material (`Debug` shows `[REDACTED]`). When `None`: on SQLite, a file
    /// generated beside the database; PostgreSQL refuses to start without it.
    pub secret_key: Option<SecretKey>,
    /// The public base URL; `https` here turns on `Secure` cookies, `__Host-` cookie names and
    /// HSTS, and the console answers only requests for its host.
    pub public_url: Option<url::Url>,
    /// Proxies whose `X-Forwarded-For` / `X-Real-IP` name the client. Empty: nobody's.
    pub trusted_proxies: TrustedProxies,
    /// An optional TOML scope catalogue.
    pub scopes_file: Option<PathBuf>,
    pub rate_limit: RateLimitSettings,
    /// Where per-key rate limits are shared by every instance. `None`: each instance counts
    /// alone, so each lets a key make its full rate.
    pub redis_url: Option<RedisUrl>,
    /// Where invitations are emailed from. `None`: nothing is emailed, and every link is shown
    /// to copy by hand (as it is anyway).
    pub smtp: Option<SmtpSettings>,
    pub webhooks: WebhookSettings,
    pub lifecycle: LifecycleSettings,
    pub session_idle_timeout: Duration,
    pub session_absolute_timeout: Duration,
    /// Sign-in throttling (in memory, per instance).
    pub login_throttle: LoginThrottleSettings,
    /// The bound on argon2 work done at once (sign-in, setup, adding a member).
    pub password_work: PasswordWorkSettings,
    /// How long a request's body may take to arrive, counted from the end of its headers.
    pub body_read_timeout: Duration,
    /// How often buffered key usage is written.
    pub usage_flush_interval: Duration,
    /// PostgreSQL: how long an instance's lease to answer from memory lasts unless renewed
    /// (renewed every eighth of it). A key change waits at most this long for an instance that
    /// has stopped answering.
    pub key_lease: Duration,
    /// Connections kept by the pool.
    pub pool_size: u32,
    /// `KEYWARD_METRICS_TOKEN`: serve `/metrics` to scrapes bearing it; `None`: no `/metrics`.
    pub metrics_token: Option<MetricsToken>,
    /// `KEYWARD_LEAK_REPORT_KEYS`: leak reports must be signed by one of these keys; `None`:
    /// reports are taken unsigned (only the holder of a whole key can report it).
    pub leak_report_keys: Option<LeakReportKeys>,
    /// HTTP worker threads.
    pub workers: usize,
    /// Whether SIGINT/SIGTERM stop the server gracefully (off in tests, which stop it by hand).
    pub handle_signals: bool,
}

impl Settings {
    /// Defaults for a database; the CLI and tests override what they need.
    pub fn new(database_url: DatabaseUrl) -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url,
            secret_key: None,
            public_url: None,
            trusted_proxies: TrustedProxies::default(),
            scopes_file: None,
            rate_limit: RateLimitSettings::default(),
            redis_url: None,
            smtp: None,
            webhooks: WebhookSettings::default(),
            lifecycle: LifecycleSettings::default(),
            session_idle_timeout: Duration::from_secs(12 * 3600),
            session_absolute_timeout: Duration::from_secs(7 * 24 * 3600),
            login_throttle: LoginThrottleSettings::default(),
            password_work: PasswordWorkSettings::default(),
            body_read_timeout: Duration::from_secs(10),
            usage_flush_interval: Duration::from_secs(1),
            key_lease: Duration::from_secs(2),
            pool_size: 10,
            metrics_token: None,
            leak_report_keys: None,
            workers: available_cores(),
            handle_signals: true,
        }
    }

    /// Cookies get `Secure` only when the public URL says the browser talks TLS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_ref().is_some_and(|u| u.scheme() == "https")
    }
}

/// `path` on the console's public address (`KEYWARD_PUBLIC_URL`), for links printed or emailed
/// where no request says which host people use; `None` without a public URL.
pub fn public_link(public_url: Option<&url::Url>, path: &str) -> Option<String> {
    public_url.map(|base| format!("{}{path}", base.as_str().trim_end_matches('/')))
}

/// A span of time as an operator writes it, read by `humantime`: a whole number and a unit,
/// `m` (minutes), `h` (hours) or `d` (days), e.g. `30m`, `12h`, `7d`; the longer unit names,
/// sums (`1h 30m`) and fractions (`1.5h`) are accepted too. At least one minute, at most 365
/// days.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let range = Duration::from_secs(60)..=Duration::from_secs(365 * 86_400);
    parse_span(text, range, "between 1 minute and 365 days")
}

/// A short wait as an operator writes it (`500ms`, `2s`, `1m`): at least `min`, at most
/// ten minutes. For timeouts on the request path, which are seconds, not the minutes and days
/// of [`parse_duration`].
pub fn parse_timeout(text: &str, min: Duration) -> Result<Duration, DurationError> {
    let words = format!("between {} and 10 minutes", humantime::format_duration(min));
    parse_span(text, min..=Duration::from_secs(600), &words)
}

fn parse_span(
    text: &str,
    range: std::ops::RangeInclusive<Duration>,
    range_words: &str,
) -> Result<Duration, DurationError> {
    let text = text.trim();
    let span = humantime::parse_duration(text)
        .map_err(|why| DurationError::NotADuration { text: text.to_owned(), why: why.to_string() })?;
    if !range.contains(&span) {
        return Err(DurationError::OutOfRange { text: text.to_owned(), range: range_words.to_owned() });
    }
    Ok(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration(" 7d "), Ok(Duration::from_secs(7 * 86_400)));
        // humantime's wider forms, accepted on purpose.
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("12 hours"), Ok(Duration::from_secs(12 * 3600)));
        for bad in ["", "12", "h", "-1h", "12x", "1h,30m", "0m", "59s", "366d", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_duration("366d").unwrap_err().to_string().contains("out of range"));
        assert!(parse_duration("366d").unwrap_err().to_string().contains("1 minute and 365 days"));
        assert!(parse_duration("12").unwrap_err().to_string().contains("not a duration like 30m"));
    }

    #[test]
    fn timeouts_are_seconds_not_days() {
        let second = Duration::from_secs(1);
        assert_eq!(parse_timeout("10s", second), Ok(Duration::from_secs(10)));
        assert_eq!(parse_timeout("500ms", Duration::ZERO), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("0s", Duration::ZERO), Ok(Duration::ZERO));
        for bad in ["", "10", "500ms", "11m", "1d"] {
            assert!(parse_timeout(bad, second).is_err(), "{bad:?} should be refused");
        }
        let why = parse_timeout("11m", second).unwrap_err().to_string();
        assert!(why.contains("between 1s and 10 minutes"), "{why}");
    }

    #[test]
    fn sqlite_urls_name_a_path() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://keyward.db").unwrap(),
            DatabaseUrl::Sqlite("keyward.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/k.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/k.db".into())
        );
        assert_eq!(DatabaseUrl::parse("sqlite:k.db").unwrap(), DatabaseUrl::Sqlite("k.db".into()));
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn postgres_urls_are_kept_and_other_schemes_refused() {
        assert!(matches!(DatabaseUrl::parse("postgres://u@h/db").unwrap(), DatabaseUrl::Postgres(_)));
        assert!(matches!(DatabaseUrl::parse("postgresql://u@h/db").unwrap(), DatabaseUrl::Postgres(_)));
        let err = DatabaseUrl::parse("mysql://u@h/db").unwrap_err().to_string();
        assert!(err.contains("not understood"), "{err}");
        assert!(DatabaseUrl::parse("nonsense").is_err());
    }

    #[test]
    fn passwords_never_reach_debug_output() {
        let url = DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        let mut settings = Settings::new(url);
        settings.secret_key =
            Some(SecretKey::parse("a cookie secret of thirty-two characters", "KEYWARD_SECRET_KEY").unwrap());
        settings.redis_url = Some(RedisUrl::parse("redis://:hunter3@cache/1").unwrap());
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("cookie secret"), "{debug}");
        assert!(!debug.contains("hunter3") && debug.contains("redis://:***@cache:6379/1"), "{debug}");
    }
}
