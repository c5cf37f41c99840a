//! `KEYWARD_SMTP_URL` and `KEYWARD_SMTP_FROM`: where outgoing email (invitations) is handed
//! over, and whom it comes from. The URL is lettre's connection URL:
//!
//! - `smtp://[user:password@]host[:port]` — plain SMTP (port 25), no TLS;
//! - `smtp://…?tls=required` — STARTTLS, refusing a server without it (port 587);
//! - `smtp://…?tls=opportunistic` — STARTTLS when offered (port 587);
//! - `smtps://…` — TLS from the first byte (port 465).
//!
//! A path names the EHLO host (`smtp://mail.example.com/keys.example.com`). The password never
//! appears in `Display`, `Debug` or an error.

use std::fmt;

use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};

/// A checked SMTP connection URL. Only [`SmtpUrl::expose`] gives the text with the password,
/// for the mailer that connects with it.
#[derive(Clone)]
pub struct SmtpUrl {
    raw: SecretString,
    /// The URL with any password replaced by `***`.
    shown: String,
}

/// Why an SMTP URL or sender was refused. Never quotes a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    #[error("KEYWARD_SMTP_URL: not a valid URL: {0}")]
    NotAUrl(String),
    #[error(
        "KEYWARD_SMTP_URL: `{0}` is not understood: use smtp://HOST[:PORT] (with ?tls=required for STARTTLS) or smtps://HOST[:PORT]"
    )]
    UnknownScheme(String),
    #[error("KEYWARD_SMTP_URL: no host: use smtp://HOST[:PORT] or smtps://HOST[:PORT]")]
    NoHost,
    #[error("KEYWARD_SMTP_URL: `tls={0}` is not understood: use tls=required or tls=opportunistic")]
    UnknownTls(String),
    #[error("KEYWARD_SMTP_URL: `{0}` is not an option of an SMTP URL: only tls is")]
    UnknownOption(String),
    #[error(
        "KEYWARD_SMTP_FROM `{0}` is not an email address (like keyward@example.com or \"Keyward <keyward@example.com>\")"
    )]
    BadFrom(String),
    #[error("KEYWARD_SMTP_URL is set but KEYWARD_SMTP_FROM is not: say which address the emails come from")]
    NoFrom,
    #[error("KEYWARD_SMTP_FROM is set but KEYWARD_SMTP_URL is not: say which server sends the emails")]
    NoUrl,
}

impl SmtpUrl {
    pub fn parse(raw: &str) -> Result<Self, SmtpError> {
        let raw = raw.trim();
        let url = url::Url::parse(raw).map_err(|e| SmtpError::NotAUrl(e.to_string()))?;
        let shown = redacted(&url);
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(SmtpError::UnknownScheme(shown));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(SmtpError::NoHost);
        }
        for (name, value) in url.query_pairs() {
            match name.as_ref() {
                "tls" if matches!(value.as_ref(), "required" | "opportunistic") => {}
                "tls" => return Err(SmtpError::UnknownTls(value.into_owned())),
                other => return Err(SmtpError::UnknownOption(other.to_owned())),
            }
        }
        Ok(Self { raw: raw.into(), shown })
    }

    /// The URL as written, password included: only for connecting.
    pub fn expose(&self) -> &str {
        self.raw.expose_secret()
    }

    /// Whether the connection is encrypted (smtps, or STARTTLS asked for).
    pub fn uses_tls(&self) -> bool {
        self.shown.starts_with("smtps:") || self.shown.contains("tls=")
    }
}

fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Outgoing email: the server that takes it and the sender it names.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub url: SmtpUrl,
    pub from: Mailbox,
}

impl SmtpSettings {
    /// Both settings or neither: `None` when neither is set (email is then not sent, and every
    /// link is shown to copy by hand).
    pub fn from_parts(url: Option<&str>, from: Option<&str>) -> Result<Option<Self>, SmtpError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        let from = from.map(str::trim).filter(|f| !f.is_empty());
        match (url, from) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(SmtpError::NoFrom),
            (None, Some(_)) => Err(SmtpError::NoUrl),
            (Some(url), Some(from)) => Ok(Some(Self { url: SmtpUrl::parse(url)?, from: parse_from(from)? })),
        }
    }
}

/// `keyward@example.com` or `Keyward <keyward@example.com>`.
pub fn parse_from(raw: &str) -> Result<Mailbox, SmtpError> {
    raw.trim().parse::<Mailbox>().map_err(|_| SmtpError::BadFrom(raw.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lettres_url_forms_are_accepted() {
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com",
            "smtp://user:pw@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:pw@mail.example.com",
            "smtp://mail.example.com/keys.example.com",
        ] {
            assert!(SmtpUrl::parse(ok).is_ok(), "{ok}");
        }
        assert!(!SmtpUrl::parse("smtp://h").unwrap().uses_tls());
        assert!(SmtpUrl::parse("smtps://h").unwrap().uses_tls());
        assert!(SmtpUrl::parse("smtp://h?tls=required").unwrap().uses_tls());
    }

    #[test]
    fn other_forms_are_refused_with_a_reason() {
        assert!(matches!(SmtpUrl::parse("mail.example.com:25"), Err(SmtpError::UnknownScheme(_))));
        assert!(matches!(SmtpUrl::parse("http://h"), Err(SmtpError::UnknownScheme(_))));
        assert!(matches!(SmtpUrl::parse("not a url"), Err(SmtpError::NotAUrl(_))));
        assert_eq!(SmtpUrl::parse("smtp://h?tls=yes").unwrap_err(), SmtpError::UnknownTls("yes".into()));
        assert_eq!(SmtpUrl::parse("smtp://h?x=1").unwrap_err(), SmtpError::UnknownOption("x".into()));
        assert_eq!(SmtpSettings::from_parts(Some("smtp://h"), None).unwrap_err(), SmtpError::NoFrom);
        assert_eq!(SmtpSettings::from_parts(None, Some("a@b.io")).unwrap_err(), SmtpError::NoUrl);
        assert!(SmtpSettings::from_parts(Some(" "), Some("")).unwrap().is_none());
        let bad = SmtpSettings::from_parts(Some("smtp://h"), Some("not an address")).unwrap_err();
        assert!(bad.to_string().contains("not an email address"), "{bad}");
    }

    #[test]
    fn the_sender_may_carry_a_name() {
        let s =
            SmtpSettings::from_parts(Some("smtp://h"), Some("Keyward <keys@example.com>")).unwrap().unwrap();
        assert_eq!(s.from.email.to_string(), "keys@example.com");
        assert_eq!(parse_from("keys@example.com").unwrap().email.to_string(), "keys@example.com");
    }

    #[test]
    fn the_password_is_never_shown() {
        let u = SmtpUrl::parse("smtp://mailer:hunter2@mail.example.com:587?tls=required").unwrap();
        assert_eq!(u.to_string(), "smtp://mailer:***@mail.example.com:587?tls=required");
        assert!(!format!("{u:?}").contains("hunter2"));
        assert!(u.expose().contains("hunter2"));
        let settings = SmtpSettings { url: u, from: parse_from("k@example.com").unwrap() };
        assert!(!format!("{settings:?}").contains("hunter2"));
        for bad in ["ftp://u:hunter2@h", "smtp://u:hunter2@h?tls=no", "smtp://u:hunter2@h?x=hunter2"] {
            let why = SmtpUrl::parse(bad).unwrap_err().to_string();
            assert!(!why.contains("hunter2"), "{why}");
        }
    }
}
