//! The command line: `keyward [serve]`, `keyward migrate`, `keyward admin …` and
//! `keyward keys …` ([`keys`]). Every option also reads a `KEYWARD_*` environment variable.

pub mod keys;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::admin::AdminError;
use crate::config::{
    ConfigError, DatabaseUrl, LeakReportKeys, MetricsToken, RateLimitSettings, RedisUrl, SecretKey, Settings,
    SmtpSettings, TrustedProxies, parse_duration, parse_timeout,
};
use crate::startup::{Application, StartError, open_database};

/// Why a command failed: the one line `main` prints.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Keys(#[from] keys::KeysCommandError),
    #[error("server failed: {0}")]
    Server(#[from] std::io::Error),
}

#[derive(Parser)]
#[command(name = "keyward", version, about = "Self-hosted API-key manager: admin console and key verifier")]
pub struct Cli {
    #[command(flatten)]
    pub opts: Opts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts from the command line (scripted installs).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// List, create and revoke a workspace's API keys (audited with the actor `system`).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a user (password from standard input or a prompt) and give them a workspace.
    Create(crate::admin::CreateArgs),
    /// Print a single-use link (valid one hour) that sets a new password for an account;
    /// `--remove-two-factor` also turns off its two-factor sign-in.
    ResetPassword(crate::admin::ResetPasswordArgs),
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// The workspace's keys, newest first: a table, or JSON with `--json`.
    List(keys::ListArgs),
    /// Make a key and print its full secret, this once.
    Create(keys::CreateArgs),
    /// Revoke a key: it stops working at once.
    Revoke(keys::RevokeArgs),
}

#[derive(Args, Clone)]
pub struct Opts {
    /// Address and port to listen on.
    #[arg(long, env = "KEYWARD_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,
    /// sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "KEYWARD_DATABASE_URL",
        default_value = "sqlite://keyward.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,
    /// A file holding the cookie secret (32+ characters), e.g. a container secret. Required on
    /// PostgreSQL (every instance must share it) unless KEYWARD_SECRET_KEY is set; on SQLite a
    /// file beside the database is generated when neither is set.
    #[arg(long, env = "KEYWARD_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
    /// Refused: a secret on the command line shows in `ps`. Read from KEYWARD_SECRET_KEY instead.
    #[arg(long, global = true, hide = true)]
    pub secret_key: Option<String>,
    /// The URL browsers use, e.g. https://keys.example.com (https turns on Secure cookies).
    #[arg(long, env = "KEYWARD_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Reverse proxies trusted to name the client in X-Forwarded-For / X-Real-IP: comma-separated
    /// addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8,::1. Default: none (the client is
    /// whoever connects).
    #[arg(long, env = "KEYWARD_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// A TOML file describing your API's permission scopes.
    #[arg(long, env = "KEYWARD_SCOPES", global = true)]
    pub scopes: Option<PathBuf>,
    /// Default sustained rate limit per key.
    #[arg(long, env = "KEYWARD_RATE_LIMIT_PER_MINUTE", default_value_t = 100, global = true)]
    pub rate_limit_per_minute: u32,
    /// Default burst: what a key without its own may make at once (at least one second's worth
    /// of its per-minute rate, at most that rate).
    #[arg(long, env = "KEYWARD_RATE_LIMIT_BURST", default_value_t = 10, global = true)]
    pub rate_limit_burst: u32,
    /// Redis holding per-key rate limits for every instance: redis://[:PASSWORD@]HOST[:PORT][/DB]
    /// or unix:///PATH/TO/SOCKET. Without it each instance enforces the full limit on its own.
    #[arg(long, env = "KEYWARD_REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,
    /// The SMTP server invitations are emailed through: smtp://[USER:PASSWORD@]HOST[:PORT]
    /// (add ?tls=required for STARTTLS) or smtps://… for TLS from the start. Without it, links
    /// are only shown to copy.
    #[arg(long, env = "KEYWARD_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of those emails: keyward@example.com or "Keyward <keyward@example.com>".
    #[arg(long, env = "KEYWARD_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,
    /// A console session ends after this long without a request: e.g. 30m, 12h, 2d.
    #[arg(long, env = "KEYWARD_SESSION_IDLE_TIMEOUT", default_value = "12h", global = true)]
    pub session_idle_timeout: String,
    /// A console session ends this long after sign-in, however active: e.g. 12h, 7d.
    #[arg(long, env = "KEYWARD_SESSION_ABSOLUTE_TIMEOUT", default_value = "7d", global = true)]
    pub session_absolute_timeout: String,
    /// HTTP worker threads (default: one per CPU).
    #[arg(long, env = "KEYWARD_WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Passwords hashed or checked at once (argon2id, 19 MiB each; default: one per CPU).
    #[arg(long, env = "KEYWARD_PASSWORD_CONCURRENCY", global = true)]
    pub password_concurrency: Option<usize>,
    /// How long a sign-in waits for its turn to have its password checked before it is
    /// answered 429 with Retry-After: e.g. 2s, 500ms.
    #[arg(long, env = "KEYWARD_PASSWORD_QUEUE_TIMEOUT", default_value = "2s", global = true)]
    pub password_queue_timeout: String,
    /// How long a request body may take to arrive, counted from the end of its headers; a
    /// slower one is answered 408 and its connection closed: e.g. 10s, 30s.
    #[arg(long, env = "KEYWARD_BODY_TIMEOUT", default_value = "10s", global = true)]
    pub body_timeout: String,
    /// PostgreSQL: how long an instance's lease to answer verifications from memory lasts
    /// unless renewed; a key change waits at most this long for an instance that stopped
    /// answering: e.g. 2s, 500ms.
    #[arg(long, env = "KEYWARD_KEY_LEASE", default_value = "2s", global = true)]
    pub key_lease: String,
    /// Let webhook endpoints be private, loopback or link-local addresses, and plain http://
    /// (receivers on this host or network). Off by default: otherwise a webhook URL could make
    /// the server send requests into its own network.
    #[arg(
        long,
        env = "KEYWARD_WEBHOOK_ALLOW_PRIVATE",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        global = true
    )]
    pub webhook_allow_private: bool,
    /// How often the key rules run (expiry reminders, unused keys): e.g. 5m, 1h. Each notice
    /// is sent once however often they run.
    #[arg(long, env = "KEYWARD_LIFECYCLE_INTERVAL", default_value = "5m", global = true)]
    pub lifecycle_interval: String,
    /// Leak reports (POST /api/v1/leaks) must be signed by one of the public keys in this file:
    /// GitHub's secret scanning key list (JSON) or PEM public keys. Without it, reports are
    /// taken unsigned.
    #[arg(long, env = "KEYWARD_LEAK_REPORT_KEYS", global = true)]
    pub leak_report_keys: Option<PathBuf>,
}

impl Opts {
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let url = DatabaseUrl::parse(&self.database_url)?;
        let mut s = Settings::new(url);
        s.bind = self.bind.clone();
        s.secret_key = self.secret_key()?;
        // Read here, not as a flag: a flag's value is visible to every user of the machine.
        s.metrics_token = match std::env::var("KEYWARD_METRICS_TOKEN").ok().filter(|t| !t.is_empty()) {
            Some(token) => Some(MetricsToken::parse(&token)?),
            None => None,
        };
        s.public_url = match self.public_url.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => Some(
                url::Url::parse(u)
                    .map_err(|e| ConfigError::PublicUrl { url: u.to_owned(), reason: e.to_string() })?,
            ),
            None => None,
        };
        s.trusted_proxies = TrustedProxies::parse(self.trusted_proxies.as_deref().unwrap_or_default())?;
        s.scopes_file = self.scopes.clone();
        if self.rate_limit_per_minute == 0 || self.rate_limit_burst == 0 {
            return Err(ConfigError::ZeroRateLimit);
        }
        s.rate_limit = RateLimitSettings {
            per_minute: self.rate_limit_per_minute,
            burst_per_second: self.rate_limit_burst,
        };
        s.redis_url =
            self.redis_url.as_deref().filter(|u| !u.trim().is_empty()).map(RedisUrl::parse).transpose()?;
        s.smtp = SmtpSettings::from_parts(self.smtp_url.as_deref(), self.smtp_from.as_deref())?;
        let duration = |setting: &'static str, text: &str| {
            parse_duration(text).map_err(|error| ConfigError::Duration { setting, error })
        };
        s.session_idle_timeout = duration("KEYWARD_SESSION_IDLE_TIMEOUT", &self.session_idle_timeout)?;
        s.session_absolute_timeout =
            duration("KEYWARD_SESSION_ABSOLUTE_TIMEOUT", &self.session_absolute_timeout)?;
        s.lifecycle.interval = duration("KEYWARD_LIFECYCLE_INTERVAL", &self.lifecycle_interval)?;
        if s.session_idle_timeout > s.session_absolute_timeout {
            return Err(ConfigError::IdleLongerThanAbsolute);
        }
        if let Some(w) = self.workers {
            s.workers = w.max(1);
        }
        if let Some(n) = self.password_concurrency {
            s.password_work.permits = n.max(1);
        }
        let timeout = |setting: &'static str, text: &str, min: Duration| {
            parse_timeout(text, min).map_err(|error| ConfigError::Duration { setting, error })
        };
        s.password_work.max_wait =
            timeout("KEYWARD_PASSWORD_QUEUE_TIMEOUT", &self.password_queue_timeout, Duration::ZERO)?;
        s.body_read_timeout = timeout("KEYWARD_BODY_TIMEOUT", &self.body_timeout, Duration::from_secs(1))?;
        s.key_lease = timeout("KEYWARD_KEY_LEASE", &self.key_lease, Duration::from_millis(200))?;
        s.webhooks.allow_private = self.webhook_allow_private;
        s.leak_report_keys = match self.leak_report_keys.as_ref().filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => Some(LeakReportKeys::load(path)?),
            None => None,
        };
        Ok(s)
    }

    /// The cookie secret from `KEYWARD_SECRET_KEY_FILE` or `KEYWARD_SECRET_KEY` (read here,
    /// not as a flag: a flag's value is visible to every user of the machine).
    fn secret_key(&self) -> Result<Option<SecretKey>, ConfigError> {
        if self.secret_key.is_some() {
            return Err(ConfigError::SecretKeyOnCommandLine);
        }
        let from_env = std::env::var("KEYWARD_SECRET_KEY").ok().filter(|k| !k.is_empty());
        let file = self.secret_key_file.as_ref().filter(|p| !p.as_os_str().is_empty());
        match (file, from_env) {
            (Some(_), Some(_)) => Err(ConfigError::SecretKeyTwice),
            (Some(path), None) => SecretKey::from_file(path).map(Some),
            (None, Some(text)) => SecretKey::parse(&text, "KEYWARD_SECRET_KEY").map(Some),
            (None, None) => Ok(None),
        }
    }
}

/// Runs the command line; the error is the one line `main` prints.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let settings = cli.opts.settings()?;
    actix_web::rt::System::new().block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                let app = Application::build(settings).await?;
                tracing::info!(port = app.port(), "keyward listening; open the console in a browser");
                Ok(app.run_until_stopped().await?)
            }
            Command::Migrate => {
                let (_, applied) = open_database(&settings).await?;
                println!("migrations applied: {applied}");
                Ok(())
            }
            Command::Admin(AdminCommand::Create(args)) => {
                println!("{}", crate::admin::create_command(&settings, args).await?);
                Ok(())
            }
            Command::Admin(AdminCommand::ResetPassword(args)) => {
                println!("{}", crate::admin::reset_password_command(&settings, args).await?);
                Ok(())
            }
            Command::Keys(KeysCommand::List(args)) => {
                println!("{}", keys::list_command(&settings, args).await?);
                Ok(())
            }
            Command::Keys(KeysCommand::Create(args)) => {
                println!("{}", keys::create_command(&settings, args).await?);
                Ok(())
            }
            Command::Keys(KeysCommand::Revoke(args)) => {
                println!("{}", keys::revoke_command(&settings, args).await?);
                Ok(())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_from(args: &[&str]) -> Result<Settings, String> {
        let cli = Cli::try_parse_from(std::iter::once("keyward").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.opts.settings().map_err(|e| e.to_string())
    }

    #[test]
    fn session_timeouts_come_from_the_command_line() {
        let s =
            settings_from(&["--session-idle-timeout", "30m", "--session-absolute-timeout", "2d"]).unwrap();
        assert_eq!(s.session_idle_timeout, Duration::from_secs(1800));
        assert_eq!(s.session_absolute_timeout, Duration::from_secs(2 * 86_400));
        let defaults = settings_from(&[]).unwrap();
        assert_eq!(defaults.session_idle_timeout, Duration::from_secs(12 * 3600));
        let bad = settings_from(&["--session-idle-timeout", "soon"]).err().unwrap();
        assert!(bad.contains("KEYWARD_SESSION_IDLE_TIMEOUT"), "{bad}");
        assert!(settings_from(&["--session-idle-timeout", "8d"]).is_err(), "idle longer than absolute");
    }

    #[test]
    fn the_cookie_secret_comes_from_a_file_never_from_a_flag() {
        let refused =
            settings_from(&["--secret-key", "a cookie secret of thirty-two characters"]).unwrap_err();
        assert!(refused.contains("KEYWARD_SECRET_KEY_FILE") && refused.contains("ps"), "{refused}");
        assert!(!refused.contains("thirty-two"), "the error must not repeat the secret: {refused}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "a cookie secret of thirty-two characters\n").unwrap();
        let s = settings_from(&["--secret-key-file", file.to_str().unwrap()]).unwrap();
        assert_eq!(s.secret_key.unwrap().expose(), "a cookie secret of thirty-two characters");
        std::fs::write(&file, "too short").unwrap();
        let short = settings_from(&["--secret-key-file", file.to_str().unwrap()]).unwrap_err();
        assert!(short.contains("at least 32"), "{short}");
    }

    #[test]
    fn password_work_and_the_body_timeout_come_from_the_command_line() {
        let s = settings_from(&[
            "--password-concurrency",
            "3",
            "--password-queue-timeout",
            "500ms",
            "--body-timeout",
            "30s",
        ])
        .unwrap();
        assert_eq!(s.password_work.permits, 3);
        assert_eq!(s.password_work.max_wait, Duration::from_millis(500));
        assert_eq!(s.body_read_timeout, Duration::from_secs(30));
        let defaults = settings_from(&[]).unwrap();
        assert_eq!(defaults.password_work.max_wait, Duration::from_secs(2));
        assert_eq!(defaults.body_read_timeout, Duration::from_secs(10));
        assert!(defaults.password_work.permits >= 1);
        let bad = settings_from(&["--body-timeout", "0s"]).err().unwrap();
        assert!(bad.contains("KEYWARD_BODY_TIMEOUT"), "{bad}");
    }

    #[test]
    fn the_lifecycle_interval_comes_from_the_command_line() {
        assert_eq!(settings_from(&[]).unwrap().lifecycle.interval, Duration::from_secs(300));
        let s = settings_from(&["--lifecycle-interval", "1h"]).unwrap();
        assert_eq!(s.lifecycle.interval, Duration::from_secs(3600));
        let bad = settings_from(&["--lifecycle-interval", "10s"]).err().unwrap();
        assert!(bad.contains("KEYWARD_LIFECYCLE_INTERVAL"), "{bad}");
    }

    #[test]
    fn the_redis_url_comes_from_the_command_line_and_is_checked() {
        assert!(settings_from(&[]).unwrap().redis_url.is_none());
        let s = settings_from(&["--redis-url", "redis://:hunter2@cache:6380/2"]).unwrap();
        assert_eq!(s.redis_url.unwrap().to_string(), "redis://:***@cache:6380/2");
        let tls = settings_from(&["--redis-url", "rediss://:hunter2@cache"]).unwrap_err();
        assert!(tls.contains("KEYWARD_REDIS_URL") && tls.contains("TLS"), "{tls}");
        assert!(!tls.contains("hunter2"), "{tls}");
    }

    #[test]
    fn outgoing_email_needs_a_server_and_a_sender() {
        assert!(settings_from(&[]).unwrap().smtp.is_none());
        let s = settings_from(&[
            "--smtp-url",
            "smtp://mailer:hunter2@mail.example.com:587?tls=required",
            "--smtp-from",
            "Keyward <keys@example.com>",
        ])
        .unwrap();
        let smtp = s.smtp.unwrap();
        assert_eq!(smtp.url.to_string(), "smtp://mailer:***@mail.example.com:587?tls=required");
        assert_eq!(smtp.from.email.to_string(), "keys@example.com");
        let alone = settings_from(&["--smtp-url", "smtp://mail.example.com"]).unwrap_err();
        assert!(alone.contains("KEYWARD_SMTP_FROM"), "{alone}");
        let bad =
            settings_from(&["--smtp-url", "imap://u:hunter2@h", "--smtp-from", "k@example.com"]).unwrap_err();
        assert!(bad.contains("KEYWARD_SMTP_URL") && !bad.contains("hunter2"), "{bad}");
    }

    #[test]
    fn leak_report_keys_are_read_at_start_and_a_bad_file_names_the_setting() {
        assert!(settings_from(&[]).unwrap().leak_report_keys.is_none());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.pem");
        std::fs::write(&file, "no keys here").unwrap();
        let bad = settings_from(&["--leak-report-keys", file.to_str().unwrap()]).unwrap_err();
        assert!(bad.starts_with("KEYWARD_LEAK_REPORT_KEYS") && bad.contains("no public key"), "{bad}");
        let missing = settings_from(&["--leak-report-keys", "/nonexistent/keys.pem"]).unwrap_err();
        assert!(
            missing.contains("KEYWARD_LEAK_REPORT_KEYS") && missing.contains("/nonexistent"),
            "{missing}"
        );
    }

    #[test]
    fn private_webhook_addresses_are_refused_unless_allowed() {
        assert!(!settings_from(&[]).unwrap().webhooks.allow_private);
        assert!(settings_from(&["--webhook-allow-private", "true"]).unwrap().webhooks.allow_private);
        assert!(!settings_from(&["--webhook-allow-private", "false"]).unwrap().webhooks.allow_private);
        assert!(settings_from(&["--webhook-allow-private", "maybe"]).is_err());
    }
}
