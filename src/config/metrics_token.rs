//! `KEYWARD_METRICS_TOKEN`: the bearer token a Prometheus scrape of `/metrics` must send.
//! Unset, `/metrics` does not exist: the figures (request rates, failure counts, pool sizes)
//! tell an outsider how the service is used, so they are never public by default.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::ConfigError;

/// Shortest accepted token, in characters.
pub const MIN_METRICS_TOKEN_CHARS: usize = 16;

/// `Debug` shows `[REDACTED]`.
#[derive(Clone, Debug)]
pub struct MetricsToken(SecretString);

impl MetricsToken {
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        if text.chars().count() < MIN_METRICS_TOKEN_CHARS {
            return Err(ConfigError::MetricsTokenTooShort);
        }
        Ok(Self(text.into()))
    }

    /// In constant time: a wrong token takes as long to refuse whatever it shares with the
    /// right one.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.expose_secret().as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tokens_are_refused_and_only_the_same_token_matches() {
        assert!(MetricsToken::parse("too-short").is_err());
        let t = MetricsToken::parse("a-scrape-token-of-some-length").unwrap();
        assert!(t.matches("a-scrape-token-of-some-length"));
        assert!(!t.matches("a-scrape-token-of-some-lengtH"));
        assert!(!t.matches(""));
        assert!(!format!("{t:?}").contains("scrape"));
    }
}
