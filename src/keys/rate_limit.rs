//! A key's own rate limit, in requests per minute, and its own burst, the requests it may make
//! at once (a key without them gets the server's defaults).

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

/// The largest burst a key may be given when it has no per-minute figure of its own. The
/// verifier never lets a burst exceed the rate in force, so the server's default caps it then.
pub const MAX_BURST: i32 = 1_000_000;

/// A per-key burst: how many requests the key may make at once, from 1 to its per-minute
/// figure (or [`MAX_BURST`] when it has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst(i32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BurstError {
    #[error("Enter a whole number of requests from 1 to {max}, or leave it blank for the default.")]
    NotInRange { max: i32 },
    /// More at once than the key may make in a minute.
    #[error(
        "The burst cannot be more than the rate limit ({per_minute} per minute). Enter a whole number from 1 \
         to {per_minute}, or leave it blank for the default."
    )]
    AboveRate { per_minute: i32 },
}

impl Burst {
    /// Parses the optional field against the key's own rate limit, when it has one: blank
    /// means "the default" (`None`).
    pub fn parse_optional(raw: &str, rate_limit: Option<RateLimit>) -> Result<Option<Self>, BurstError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let max = rate_limit.map_or(MAX_BURST, RateLimit::per_minute);
        match raw.parse::<i64>() {
            Ok(n) if (1..=i64::from(max)).contains(&n) => Ok(Some(Self(n as i32))),
            Ok(n) if n > i64::from(max) && rate_limit.is_some() => {
                Err(BurstError::AboveRate { per_minute: max })
            }
            _ => Err(BurstError::NotInRange { max }),
        }
    }

    pub fn requests(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Burst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "burst {}", self.0)
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

    #[test]
    fn bursts_are_optional_whole_numbers_up_to_the_keys_rate() {
        let rate = RateLimit::parse_optional("250").unwrap();
        assert_eq!(Burst::parse_optional("", rate), Ok(None));
        assert_eq!(Burst::parse_optional("  ", None), Ok(None));
        assert_eq!(Burst::parse_optional(" 40 ", rate), Ok(Some(Burst(40))));
        assert_eq!(Burst::parse_optional("250", rate), Ok(Some(Burst(250))));
        assert_eq!(Burst::parse_optional("251", rate), Err(BurstError::AboveRate { per_minute: 250 }));
        assert_eq!(Burst::parse_optional("1000000", None), Ok(Some(Burst(MAX_BURST))));
        assert_eq!(Burst::parse_optional("1000001", None), Err(BurstError::NotInRange { max: MAX_BURST }));
        for bad in ["0", "-5", "1.5", "ten", "99999999999999999999"] {
            assert_eq!(Burst::parse_optional(bad, rate), Err(BurstError::NotInRange { max: 250 }), "{bad}");
        }
        let why = Burst::parse_optional("300", rate).unwrap_err().to_string();
        assert!(why.contains("250 per minute") && why.contains("from 1 to 250"), "{why}");
        assert_eq!(Burst(40).to_string(), "burst 40");
    }
}
