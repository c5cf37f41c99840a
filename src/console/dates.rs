//! How the console writes moments: one format everywhere. Tables show a relative time ("3
//! hours ago") with the exact UTC time on hover and in `datetime`; the audit log and its CSV
//! show the exact time.

use chrono::NaiveDateTime;

pub use crate::text::day_in_words;

/// `22 Dec 2026`.
pub fn date(t: NaiveDateTime) -> String {
    day_in_words(t.date())
}

/// `2026-12-22T15:30:00Z`, for `<time datetime>`.
pub fn iso(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub use crate::text::exact_utc as exact;

/// "3 hours ago" / "in 5 days", rounded to the nearest unit.
pub fn relative(then: NaiveDateTime, now: NaiveDateTime) -> String {
    let secs = (now - then).num_seconds();
    let past = secs >= 0;
    let abs = secs.unsigned_abs();
    if abs < 45 {
        return if past { "just now".into() } else { "in a few seconds".into() };
    }
    let round = |unit: u64| ((abs + unit / 2) / unit).max(1);
    let (n, unit) = if abs < 45 * 60 {
        (round(60), "minute")
    } else if abs < 22 * 3600 {
        (round(3600), "hour")
    } else if abs < 45 * 86_400 {
        // Days up to six weeks: a 30-day key reads "in 30 days", not "in 1 month".
        (round(86_400), "day")
    } else if abs < 320 * 86_400 {
        (round(30 * 86_400), "month")
    } else {
        (round(365 * 86_400), "year")
    };
    let s = if n == 1 { "" } else { "s" };
    if past { format!("{n} {unit}{s} ago") } else { format!("in {n} {unit}{s}") }
}

/// A moment shown relatively, with the exact time for hover and machines.
pub struct Moment {
    pub iso: String,
    pub exact: String,
    pub relative: String,
    pub date: String,
}

impl Moment {
    pub fn new(t: NaiveDateTime, now: NaiveDateTime) -> Self {
        Self { iso: iso(t), exact: exact(t), relative: relative(t, now), date: date(t) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeDelta};

    fn at(d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap().and_hms_opt(h, 0, 0).unwrap()
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = at(23, 12);
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(at(23, 9), now), "3 hours ago");
        assert_eq!(relative(at(22, 12), now), "1 day ago");
        assert_eq!(relative(at(28, 12), now), "in 5 days");
        assert_eq!(relative(now - TimeDelta::minutes(1), now), "1 minute ago");
        // A 7-day key just issued reads "in 7 days", not "in 6 days".
        assert_eq!(relative(now + TimeDelta::days(7) - TimeDelta::seconds(2), now), "in 7 days");
        assert_eq!(relative(now + TimeDelta::days(30) - TimeDelta::seconds(2), now), "in 30 days");
        assert_eq!(relative(now + TimeDelta::days(90), now), "in 3 months");
    }
}
