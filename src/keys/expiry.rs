//! When a key stops working, as the admin chose it on the create form.

use chrono::{Days, Months, NaiveDate, NaiveDateTime, NaiveTime};

use crate::text::day_in_words;

/// The preset lifetimes offered by the picker, in days.
pub const PRESET_DAYS: [u32; 5] = [7, 30, 60, 90, 180];
/// The picker's default.
pub const DEFAULT_DAYS: u32 = 30;
/// The furthest a custom date may lie, in calendar months ("one year ahead" is the same day
/// next year, 366 days when a 29 February lies between).
pub const MAX_CUSTOM_MONTHS: u32 = 12;

/// The last day a custom date may name: the same day one calendar year after `today`
/// (chrono clamps to the month's end, so 29 Feb 2028 gives 28 Feb 2029).
pub fn latest_custom_date(today: NaiveDate) -> NaiveDate {
    today.checked_add_months(Months::new(MAX_CUSTOM_MONTHS)).unwrap_or(NaiveDate::MAX)
}

/// An expiry rule. Stored with the key (see [`Expiry::to_rule`]) so that regenerating a key
/// gives the new secret the same kind of lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// One of the presets, counted from the moment the secret is issued.
    Days(u32),
    /// Valid through the end of this UTC day.
    Until(NaiveDate),
    /// Never expires on its own.
    Never,
}

/// Why an expiry choice was refused. The custom-date messages name the allowed days in words
/// ("2 Dec 2026"): the browser's date picker shows dates in the user's own format, so a
/// pattern such as YYYY-MM-DD would describe something they never see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("Choose one of the offered expiration periods.")]
    UnknownChoice,
    #[error("Pick a date from {} to {}.", day_in_words(.0.first), day_in_words(.0.last))]
    BadDate(AllowedDays),
    #[error("Pick a date after today: from {} to {}.", day_in_words(.0.first), day_in_words(.0.last))]
    NotInFuture(AllowedDays),
    #[error("Pick a date at most one year ahead: {} at the latest.", day_in_words(.0.last))]
    TooFar(AllowedDays),
}

/// The first and last day a custom date may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedDays {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl AllowedDays {
    pub fn from_today(today: NaiveDate) -> Self {
        Self { first: today + Days::new(1), last: latest_custom_date(today) }
    }
}

impl Expiry {
    /// Parses the picker's `expiry` field (`7`, `30`, …, `custom`, `never`) and, for
    /// `custom`, its `expiry_date` field, relative to `now`.
    pub fn parse(choice: &str, custom_date: &str, now: NaiveDateTime) -> Result<Self, ExpiryError> {
        match choice.trim() {
            "never" => Ok(Self::Never),
            "custom" => {
                let allowed = AllowedDays::from_today(now.date());
                let date = NaiveDate::parse_from_str(custom_date.trim(), "%Y-%m-%d")
                    .map_err(|_| ExpiryError::BadDate(allowed))?;
                if date < allowed.first {
                    return Err(ExpiryError::NotInFuture(allowed));
                }
                if date > allowed.last {
                    return Err(ExpiryError::TooFar(allowed));
                }
                Ok(Self::Until(date))
            }
            other => match other.parse::<u32>() {
                Ok(days) if PRESET_DAYS.contains(&days) => Ok(Self::Days(days)),
                _ => Err(ExpiryError::UnknownChoice),
            },
        }
    }

    /// The moment a secret issued at `issued` stops working.
    pub fn expires_at(self, issued: NaiveDateTime) -> Option<NaiveDateTime> {
        match self {
            Self::Days(d) => Some(issued + Days::new(u64::from(d))),
            Self::Until(date) => Some((date + Days::new(1)).and_time(NaiveTime::MIN)),
            Self::Never => None,
        }
    }

    /// The stored form: `30d`, `until:2026-12-22` or `never`.
    pub fn to_rule(self) -> String {
        match self {
            Self::Days(d) => format!("{d}d"),
            Self::Until(date) => format!("until:{date}"),
            Self::Never => "never".into(),
        }
    }

    /// Reads a stored rule back; unknown text (from a future version) reads as `Never` would
    /// be unsafe, so it falls back to the default preset.
    pub fn from_rule(rule: &str) -> Self {
        if rule == "never" {
            return Self::Never;
        }
        if let Some(date) = rule.strip_prefix("until:")
            && let Ok(d) = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        {
            return Self::Until(d);
        }
        rule.strip_suffix('d').and_then(|d| d.parse().ok()).map_or(Self::Days(DEFAULT_DAYS), Self::Days)
    }

    /// The picker value this rule came from (`30`, `custom`, `never`).
    pub fn choice(self) -> String {
        match self {
            Self::Days(d) => d.to_string(),
            Self::Until(_) => "custom".into(),
            Self::Never => "never".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap().and_hms_opt(15, 30, 0).unwrap()
    }

    #[test]
    fn presets_count_days_from_issue() {
        let e = Expiry::parse("30", "", now()).unwrap();
        assert_eq!(e, Expiry::Days(30));
        assert_eq!(e.expires_at(now()).unwrap().to_string(), "2026-12-22 15:30:00");
        assert_eq!(Expiry::parse("45", "", now()), Err(ExpiryError::UnknownChoice));
        assert_eq!(Expiry::parse("", "", now()), Err(ExpiryError::UnknownChoice));
    }

    #[test]
    fn date_errors_name_the_allowed_days_in_words() {
        let err = Expiry::parse("custom", "", now()).unwrap_err().to_string();
        assert_eq!(err, "Pick a date from 23 Nov 2026 to 22 Nov 2027.");
        let err = Expiry::parse("custom", "2028-01-01", now()).unwrap_err().to_string();
        assert_eq!(err, "Pick a date at most one year ahead: 22 Nov 2027 at the latest.");
    }

    #[test]
    fn custom_dates_must_be_future_and_within_a_year() {
        let allowed = AllowedDays::from_today(now().date());
        assert_eq!(Expiry::parse("custom", "2026-11-22", now()), Err(ExpiryError::NotInFuture(allowed)));
        assert_eq!(Expiry::parse("custom", "22/12/2026", now()), Err(ExpiryError::BadDate(allowed)));
        assert_eq!(Expiry::parse("custom", "2027-11-23", now()), Err(ExpiryError::TooFar(allowed)));
        let e = Expiry::parse("custom", "2027-11-22", now()).unwrap();
        assert_eq!(e.expires_at(now()).unwrap().to_string(), "2027-11-23 00:00:00");
    }

    #[test]
    fn one_year_ahead_is_a_calendar_year_across_a_29_february() {
        // 2027-03-01 → 2028-03-01 is 366 days: a 365-day limit refused the same date next year.
        let spring = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap().and_hms_opt(9, 0, 0).unwrap();
        assert_eq!(
            Expiry::parse("custom", "2028-03-01", spring),
            Ok(Expiry::Until(NaiveDate::from_ymd_opt(2028, 3, 1).unwrap()))
        );
        assert!(matches!(Expiry::parse("custom", "2028-03-02", spring), Err(ExpiryError::TooFar(_))));
        // From a 29 February, one year ahead is the last day of the next February.
        let leap = NaiveDate::from_ymd_opt(2028, 2, 29).unwrap().and_hms_opt(9, 0, 0).unwrap();
        assert!(Expiry::parse("custom", "2029-02-28", leap).is_ok());
        assert!(matches!(Expiry::parse("custom", "2029-03-01", leap), Err(ExpiryError::TooFar(_))));
    }

    #[test]
    fn never_has_no_end_and_rules_round_trip() {
        assert_eq!(Expiry::parse("never", "", now()).unwrap().expires_at(now()), None);
        for e in [Expiry::Days(7), Expiry::Never, Expiry::Until(now().date())] {
            assert_eq!(Expiry::from_rule(&e.to_rule()), e);
        }
        assert_eq!(Expiry::from_rule("garbage"), Expiry::Days(30));
    }
}
