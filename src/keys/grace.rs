//! How long a replaced secret keeps working after a key is regenerated: none (it stops at
//! once), or up to seven days, so the servers that hold the old secret can be moved to the new
//! one while both verify.

use chrono::{NaiveDateTime, TimeDelta};

/// A rotation's grace period: zero to seven days, whole seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grace(i64);

/// The console's choices: (form value, label).
pub const PRESETS: [(&str, &str); 4] =
    [("now", "Now"), ("1h", "In 1 hour"), ("24h", "In 24 hours"), ("7d", "In 7 days")];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraceError {
    #[error("Choose when the old secret stops working.")]
    Unknown,
    #[error("A grace period can last at most 7 days.")]
    TooLong,
    #[error("A grace period cannot be negative.")]
    Negative,
}

impl Grace {
    pub const MAX_SECONDS: i64 = 7 * 24 * 3600;

    /// The old secret stops at once.
    pub const NONE: Grace = Grace(0);

    /// Any duration up to seven days, in seconds (for APIs).
    pub fn from_seconds(seconds: i64) -> Result<Self, GraceError> {
        match seconds {
            s if s < 0 => Err(GraceError::Negative),
            s if s > Self::MAX_SECONDS => Err(GraceError::TooLong),
            s => Ok(Self(s)),
        }
    }

    /// One of the console's [`PRESETS`].
    pub fn from_choice(choice: &str) -> Result<Self, GraceError> {
        match choice {
            "now" => Ok(Self::NONE),
            "1h" => Ok(Self(3600)),
            "24h" => Ok(Self(24 * 3600)),
            "7d" => Ok(Self(Self::MAX_SECONDS)),
            _ => Err(GraceError::Unknown),
        }
    }

    pub fn seconds(self) -> i64 {
        self.0
    }

    /// Until when the replaced secret verifies, if at all: `now` plus the grace, never after
    /// the moment the key was due to expire (its own expiry bounds the old secret), and none
    /// when that has already passed.
    pub fn old_secret_until(
        self,
        now: NaiveDateTime,
        key_expires_at: Option<NaiveDateTime>,
    ) -> Option<NaiveDateTime> {
        if self.0 == 0 {
            return None;
        }
        let until = now + TimeDelta::seconds(self.0);
        let until = key_expires_at.map_or(until, |e| until.min(e));
        (until > now).then_some(until)
    }

    /// "1 hour", "7 days": for audit details and messages.
    pub fn describe(self) -> String {
        let s = self.0;
        let (n, unit) = if s % 86_400 == 0 {
            (s / 86_400, "day")
        } else if s % 3600 == 0 {
            (s / 3600, "hour")
        } else if s % 60 == 0 {
            (s / 60, "minute")
        } else {
            (s, "second")
        };
        format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap().and_hms_opt(h, 0, 0).unwrap()
    }

    #[test]
    fn presets_parse_and_bounds_hold() {
        for (value, _) in PRESETS {
            assert!(Grace::from_choice(value).is_ok(), "{value}");
        }
        assert_eq!(Grace::from_choice("2w"), Err(GraceError::Unknown));
        assert_eq!(Grace::from_seconds(Grace::MAX_SECONDS + 1), Err(GraceError::TooLong));
        assert_eq!(Grace::from_seconds(-1), Err(GraceError::Negative));
        assert_eq!(Grace::from_seconds(90).unwrap().describe(), "90 seconds");
        assert_eq!(Grace::from_choice("7d").unwrap().describe(), "7 days");
        assert_eq!(Grace::from_choice("1h").unwrap().describe(), "1 hour");
    }

    #[test]
    fn the_grace_never_outlives_the_key() {
        let day = Grace::from_choice("24h").unwrap();
        assert_eq!(day.old_secret_until(at(0), None), Some(at(0) + TimeDelta::hours(24)));
        assert_eq!(day.old_secret_until(at(0), Some(at(5))), Some(at(5)));
        // The key had already expired: its old secret gets no grace.
        assert_eq!(day.old_secret_until(at(6), Some(at(5))), None);
        assert_eq!(Grace::NONE.old_secret_until(at(0), None), None);
    }
}
