//! A key's own rate limit, in requests per minute (a key without one gets the server's default).

use std::fmt;
use std::ops::RangeInclusive;

/// Bounds of a per-key rate limit, in requests per minute.
pub const RATE_LIMIT_RANGE: RangeInclusive<i32> = 1..=100_000;

/// A per-key limit within [`RATE_LIMIT_RANGE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit(i32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Enter a whole number of requests per minute from {} to {}, or leave it blank for the default.",
    RATE_LIMIT_RANGE.start(),
    RATE_LIMIT_RANGE.end()
)]
pub struct RateLimitError;

impl RateLimit {
    /// Parses the optional field: blank means "the default" (`None`).
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, RateLimitError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        match raw.parse::<i32>() {
            Ok(n) if RATE_LIMIT_RANGE.contains(&n) => Ok(Some(Self(n))),
            _ => Err(RateLimitError),
        }
    }

    pub fn per_minute(self) -> i32 {
        self.0
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/min", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_are_optional_whole_numbers_in_range() {
        assert_eq!(RateLimit::parse_optional(""), Ok(None));
        assert_eq!(RateLimit::parse_optional(" 250 "), Ok(Some(RateLimit(250))));
        assert_eq!(RateLimit::parse_optional("100000"), Ok(Some(RateLimit(100_000))));
        for bad in ["0", "-5", "100001", "1.5", "ten", "99999999999"] {
            assert!(RateLimit::parse_optional(bad).is_err(), "{bad}");
        }
    }
}
