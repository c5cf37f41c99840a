//! Why a setting was refused. Each message reads as one line that names the setting, since
//! `main` prints it as the only line of a failed start.

/// A setting that cannot be used, or settings that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("database URL `{0}` names no SQLite file")]
    NoSqliteFile(String),
    #[error("database URL is not a valid PostgreSQL URL: {0}")]
    BadPostgresUrl(String),
    /// The URL with any password hidden.
    #[error("database URL `{0}` is not understood: use sqlite://FILE or postgres://USER@HOST/DB")]
    UnknownDatabaseUrl(String),
    #[error("KEYWARD_PUBLIC_URL `{url}` is not a URL: {reason}")]
    PublicUrl { url: String, reason: String },
    #[error("KEYWARD_REDIS_URL: {0}")]
    RedisUrl(#[from] crate::config::redis_url::RedisUrlError),
    #[error("{0}")]
    Smtp(#[from] crate::config::smtp::SmtpError),
    #[error("KEYWARD_TRUSTED_PROXIES: {0}")]
    TrustedProxy(#[from] ProxyEntryError),
    #[error("{setting}: {error}")]
    Duration { setting: &'static str, error: DurationError },
    #[error("rate limits must be at least 1")]
    ZeroRateLimit,
    #[error("the session idle timeout must not exceed the absolute timeout")]
    IdleLongerThanAbsolute,
    #[error("{setting} must be at least 32 characters")]
    SecretKeyTooShort { setting: &'static str },
    #[error("cannot read the cookie secret from {path}: {reason}")]
    SecretKeyFile { path: String, reason: String },
    #[error("set KEYWARD_SECRET_KEY_FILE or KEYWARD_SECRET_KEY, not both")]
    SecretKeyTwice,
    #[error("KEYWARD_LEAK_REPORT_KEYS ({path}): {reason}")]
    LeakReportKeys { path: String, reason: String },
    #[error("KEYWARD_METRICS_TOKEN must be at least 16 characters (e.g. from `openssl rand -hex 32`)")]
    MetricsTokenTooShort,
    #[error(
        "--secret-key would show the secret to every user of this machine (in `ps`): \
         put it in a file only keyward can read and set KEYWARD_SECRET_KEY_FILE to its path"
    )]
    SecretKeyOnCommandLine,
}

/// One entry of `KEYWARD_TRUSTED_PROXIES` that is no address or range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyEntryError {
    #[error("`{0}` is not an IP address or CIDR range")]
    NotAnAddress(String),
    #[error("`{0}`: write IPv4 ranges in IPv4 form")]
    MappedRange(String),
    #[error("`{raw}`: the prefix length must be 0 to {max}")]
    BadPrefix { raw: String, max: u8 },
}

/// A span of time that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{text}` is not a duration like 30m, 12h or 7d ({why})")]
    NotADuration { text: String, why: String },
    #[error("`{text}` is out of range: {range}")]
    OutOfRange { text: String, range: String },
}
