//! Expiry reminders: 7 days and 1 day before a key expires, and once it has expired.
//!
//! Each run looks at keys that are not revoked (disabled ones too: they still expire, and may
//! be enabled again) and that expire within the next 7 days or expired within the last 7 (an
//! old database does not flood anyone with news of keys long gone), and gives each the one
//! notice its expiry is due for: a key 20 hours from its end gets the 1-day reminder only, even
//! if it never had the 7-day one. A step is skipped for a key whose current secret was issued
//! closer to its end than the step's lead time (a 7-day key is not reminded the moment it is
//! made that it expires in 7 days). `about` is the key's expiry, so a key regenerated with a
//! new end is reminded again.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use serde_json::json;

use super::Outbox;
use super::notices::{self, Kind, Mail};
use crate::audit::{self, Event};
use crate::db::schema::{api_keys, key_notices, workspaces};
use crate::db::{Db, DbConnection, DbError};
use crate::events::{self, EventType};
use crate::keys::{self, store};
use crate::text::exact_utc;

/// How far back an expired key is still announced.
pub const EXPIRED_LOOKBACK: TimeDelta = TimeDelta::days(7);

impl Kind {
    /// How long before the expiry this notice goes out, and the window of expiry times that
    /// are due for it now: `(from, through]`.
    fn window(self, now: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
        match self {
            Self::Expiring7d => (now + TimeDelta::days(1), now + TimeDelta::days(7)),
            Self::Expiring1d => (now, now + TimeDelta::days(1)),
            _ => (now - EXPIRED_LOOKBACK, now),
        }
    }

    fn lead_time(self) -> TimeDelta {
        match self {
            Self::Expiring7d => TimeDelta::days(7),
            Self::Expiring1d => TimeDelta::days(1),
            _ => TimeDelta::zero(),
        }
    }
}

/// A key due for a notice, as the query finds it.
#[derive(Queryable)]
struct Due {
    id: i64,
    workspace_id: i64,
    created_at: NaiveDateTime,
    regenerated_at: Option<NaiveDateTime>,
    expires_at: Option<NaiveDateTime>,
}

impl Due {
    /// Whether the key's current secret was issued at least the step's lead time before its end.
    fn lived_long_enough(&self, kind: Kind) -> bool {
        let issued = self.regenerated_at.map_or(self.created_at, |r| r.max(self.created_at));
        kind == Kind::Expired || self.expires_at.is_some_and(|end| end - issued > kind.lead_time())
    }
}

/// Keys due for `kind` now that have not had it: an anti-join on `key_notices`. Not limited:
/// keys skipped in Rust (made for less than the step) would otherwise fill every batch and hold
/// back the keys behind them; a week's worth of expiries is a few columns a key.
fn due(conn: &mut DbConnection, kind: Kind, now: NaiveDateTime) -> QueryResult<Vec<Due>> {
    let (from, through) = kind.window(now);
    let notice = key_notices::table.on(key_notices::key_id
        .eq(api_keys::id)
        .and(key_notices::kind.eq(kind.as_str()))
        .and(key_notices::about.nullable().eq(api_keys::expires_at)));
    api_keys::table
        .left_join(notice)
        .filter(key_notices::key_id.is_null())
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::expires_at.gt(from))
        .filter(api_keys::expires_at.le(through))
        .order(api_keys::expires_at.asc())
        .select((
            api_keys::id,
            api_keys::workspace_id,
            api_keys::created_at,
            api_keys::regenerated_at,
            api_keys::expires_at,
        ))
        .load(conn)
}

/// Sends every reminder due now; returns how many this instance recorded.
pub async fn run(db: &Db, outbox: &Outbox, now: NaiveDateTime) -> Result<usize, DbError> {
    let mut sent = 0;
    // Nearest the end first: a key due for several steps gets only the latest one.
    for kind in [Kind::Expired, Kind::Expiring1d, Kind::Expiring7d] {
        let keys = db.run(move |conn| due(conn, kind, now).map_err(DbError::from)).await?;
        for key in keys.into_iter().filter(|k| k.lived_long_enough(kind)) {
            let Some(about) = key.expires_at else { continue };
            if let Some(mail) = notify(db, outbox, kind, key.workspace_id, key.id, about, now).await? {
                mail.send(outbox, "an expiry reminder").await;
                sent += 1;
            }
        }
    }
    Ok(sent)
}

/// Claims and records one notice in one transaction; the mail to send after the commit, or
/// `None` when another run (on any instance) got there first or the key changed meanwhile.
async fn notify(
    db: &Db,
    outbox: &Outbox,
    kind: Kind,
    workspace_id: i64,
    key_id: i64,
    about: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Option<Mail>, DbError> {
    let outbox = outbox.clone();
    db.write(move |conn| -> Result<Option<Mail>, DbError> {
        let Some(key) = store::find(conn, workspace_id, key_id)? else { return Ok(None) };
        if key.revoked_at.is_some() || key.expires_at != Some(about) {
            return Ok(None);
        }
        if !notices::claim(conn, key_id, kind, about, now)? {
            return Ok(None);
        }
        let workspace_name: String =
            workspaces::table.find(workspace_id).select(workspaces::name).first(conn)?;
        let to = notices::recipients(conn, workspace_id, key.created_by)?;
        let mut data = keys::ops::event_data(&key, now);
        let (event_type, action) = match kind {
            Kind::Expired => (EventType::KeyExpired, "key.expired"),
            _ => {
                data["days_left"] = json!(days_left(about, now));
                (EventType::KeyExpiring, "key.expiry_reminder")
            }
        };
        events::emit(conn, workspace_id, event_type, data, now)?;
        let details = match kind {
            Kind::Expired => format!("Expired at {}; {}", exact_utc(about), notices::told(&outbox, &to)),
            _ => format!(
                "Expires at {} (in {}); {}",
                exact_utc(about),
                crate::keys::policy::days_in_words(days_left(about, now)),
                notices::told(&outbox, &to)
            ),
        };
        let event = Event { workspace_id: Some(workspace_id), action, key: Some(key.key_ref()), details };
        audit::record(conn, &notices::system(), event, now)?;
        let (subject, body) = message(kind, &key.name, &key.masked(), &workspace_name, about, now);
        let footer = notices::footer(&outbox, &workspace_name);
        Ok(Some(Mail { to, subject, body: format!("{body}\n{footer}") }))
    })
    .await
}

/// Whole days until `end`, rounded up (a key 20 hours from its end expires "in 1 day"; one
/// found 6½ days ahead, as after an upgrade, "in 7 days"; one 2 days ahead, "in 2 days").
fn days_left(end: NaiveDateTime, now: NaiveDateTime) -> u32 {
    let minutes = (end - now).num_minutes().max(1);
    u32::try_from((minutes + 1439) / 1440).unwrap_or(u32::MAX)
}

/// The subject and first paragraphs of a reminder email.
fn message(
    kind: Kind,
    name: &str,
    masked: &str,
    workspace: &str,
    at: NaiveDateTime,
    now: NaiveDateTime,
) -> (String, String) {
    let when = exact_utc(at);
    match kind {
        Kind::Expired => (
            format!("API key \u{201c}{name}\u{201d} in {workspace} has expired"),
            format!(
                "The API key \u{201c}{name}\u{201d} ({masked}) in the workspace {workspace} expired at {when}. \
                 Requests made with it are refused.\n\nIf something still needs it, create a new key and put its \
                 secret in place.\n"
            ),
        ),
        _ => {
            let left = crate::keys::policy::days_in_words(days_left(at, now));
            (
                format!("API key \u{201c}{name}\u{201d} in {workspace} expires in {left}"),
                format!(
                    "The API key \u{201c}{name}\u{201d} ({masked}) in the workspace {workspace} expires at {when}, \
                     in {left}. After that, requests made with it are refused.\n\nTo keep what uses it working, \
                     regenerate the key (it gets a new expiry) or create a new one, and put the new secret in \
                     place before then.\n"
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_opt(12, 0, 0).unwrap()
    }

    fn due(created_days_ago: i64, ends_in_hours: i64) -> Due {
        Due {
            id: 1,
            workspace_id: 1,
            created_at: now() - TimeDelta::days(created_days_ago),
            regenerated_at: None,
            expires_at: Some(now() + TimeDelta::hours(ends_in_hours)),
        }
    }

    #[test]
    fn windows_follow_each_other_without_gaps() {
        let (e_from, e_to) = Kind::Expired.window(now());
        let (d1_from, d1_to) = Kind::Expiring1d.window(now());
        let (d7_from, d7_to) = Kind::Expiring7d.window(now());
        assert_eq!((e_to, d1_to), (d1_from, d7_from));
        assert_eq!(e_from, now() - TimeDelta::days(7));
        assert_eq!(d7_to, now() + TimeDelta::days(7));
    }

    #[test]
    fn a_key_made_for_less_than_a_step_skips_that_step() {
        // Made now for 7 days: no "expires in 7 days" at birth; the 1-day reminder still comes.
        assert!(!due(0, 7 * 24).lived_long_enough(Kind::Expiring7d));
        assert!(due(6, 20).lived_long_enough(Kind::Expiring1d));
        assert!(due(30, 6 * 24).lived_long_enough(Kind::Expiring7d));
        // Regenerated recently: counted from the new secret.
        let mut key = due(30, 6 * 24);
        key.regenerated_at = Some(now());
        assert!(!key.lived_long_enough(Kind::Expiring7d));
        assert!(due(0, -1).lived_long_enough(Kind::Expired), "every expired key is announced");
    }

    #[test]
    fn the_days_left_are_counted_up_to_the_end() {
        assert_eq!(days_left(now() + TimeDelta::days(7), now()), 7);
        assert_eq!(days_left(now() + TimeDelta::hours(6 * 24 + 1), now()), 7);
        assert_eq!(days_left(now() + TimeDelta::days(2), now()), 2);
        assert_eq!(days_left(now() + TimeDelta::hours(20), now()), 1);
        assert_eq!(days_left(now() + TimeDelta::seconds(5), now()), 1);
    }

    #[test]
    fn emails_name_the_key_the_workspace_and_the_moment() {
        let at = now() + TimeDelta::days(7);
        let (subject, body) = message(Kind::Expiring7d, "Billing", "kw_live_…abcd", "Acme", at, now());
        assert_eq!(subject, "API key \u{201c}Billing\u{201d} in Acme expires in 7 days");
        assert!(body.contains("kw_live_…abcd") && body.contains("2026-12-09 12:00:00 UTC"), "{body}");
        let soon = now() + TimeDelta::hours(20);
        let (subject, _) = message(Kind::Expiring1d, "Billing", "kw_live_…abcd", "Acme", soon, now());
        assert!(subject.ends_with("expires in 1 day"), "{subject}");
        let (subject, body) = message(Kind::Expired, "Billing", "kw_live_…abcd", "Acme", at, now());
        assert!(subject.ends_with("has expired") && body.contains("refused"), "{subject} {body}");
    }
}
