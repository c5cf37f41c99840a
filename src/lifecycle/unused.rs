//! Revoking unused keys, in workspaces whose policy says so ("revoke keys unused for N days").
//!
//! A key's last activity is the latest of its creation, its last regeneration and its last
//! use. Idle for N − 7 days, its creator and the owners are warned (notice `unused_warning`,
//! `about` = that last activity, so a key used again and then idle again is warned again).
//! Idle for N days, and warned at least 7 days before, it is revoked by the key operation with
//! the system as the actor. The second condition means no key is ever revoked without a week's
//! warning, also when an owner first turns the policy on over keys idle for long.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::Outbox;
use super::notices::{self, Kind, Mail};
use crate::audit::{self, Event};
use crate::db::schema::{api_keys, key_notices, workspaces};
use crate::db::{Db, DbConnection, DbError};
use crate::keys::policy::{UNUSED_WARNING_DAYS, days_in_words};
use crate::keys::store::KeyRow;
use crate::keys::{self, KeyError, store};
use crate::text::{day_in_words, exact_utc};

fn warning_lead() -> TimeDelta {
    TimeDelta::days(i64::from(UNUSED_WARNING_DAYS))
}

/// The moment a key was last active: made, given a new secret, or used.
pub fn last_activity(
    created_at: NaiveDateTime,
    regenerated_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
) -> NaiveDateTime {
    [Some(created_at), regenerated_at, last_used_at].into_iter().flatten().max().unwrap_or(created_at)
}

/// What the rule does with a key now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    Warn,
    Revoke,
}

/// The rule for one key, idle since `idle_since`, under a policy of `days`, given when its
/// warning about that idle spell went out (if it did).
pub fn step(
    days: u32,
    idle_since: NaiveDateTime,
    warned_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Step {
    let idle = now - idle_since;
    let revoke_after = TimeDelta::days(i64::from(days));
    match warned_at {
        None if idle >= revoke_after - warning_lead() => Step::Warn,
        Some(warned) if idle >= revoke_after && now - warned >= warning_lead() => Step::Revoke,
        _ => Step::Nothing,
    }
}

/// The earliest moment a key warned at `warned_at` may be revoked.
pub fn revoked_from(days: u32, idle_since: NaiveDateTime, warned_at: NaiveDateTime) -> NaiveDateTime {
    (idle_since + TimeDelta::days(i64::from(days))).max(warned_at + warning_lead())
}

/// The newest warning about the key being unused: (the last activity it was about, when it
/// went out). It counts only while the key's last activity is still that moment.
pub fn last_warning(
    conn: &mut DbConnection,
    key_id: i64,
) -> QueryResult<Option<(NaiveDateTime, NaiveDateTime)>> {
    key_notices::table
        .filter(key_notices::key_id.eq(key_id))
        .filter(key_notices::kind.eq(Kind::UnusedWarning.as_str()))
        .order(key_notices::about.desc())
        .select((key_notices::about, key_notices::sent_at))
        .first(conn)
        .optional()
}

/// A key old enough to be looked at, with the warnings it has had (one row per warning).
#[derive(Queryable)]
struct Idle {
    id: i64,
    created_at: NaiveDateTime,
    regenerated_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
    warned_about: Option<NaiveDateTime>,
    warned_at: Option<NaiveDateTime>,
}

/// The active keys of the workspace idle since `before` or earlier. Not limited: keys waiting
/// out their week after a warning would otherwise fill every batch and hold back the others.
fn idle_keys(
    conn: &mut DbConnection,
    workspace_id: i64,
    before: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Vec<Idle>> {
    let warnings = key_notices::table
        .on(key_notices::key_id.eq(api_keys::id).and(key_notices::kind.eq(Kind::UnusedWarning.as_str())));
    api_keys::table
        .left_join(warnings)
        .filter(api_keys::workspace_id.eq(workspace_id))
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
        .filter(api_keys::created_at.le(before))
        .filter(api_keys::regenerated_at.is_null().or(api_keys::regenerated_at.le(before)))
        .filter(api_keys::last_used_at.is_null().or(api_keys::last_used_at.le(before)))
        .order(api_keys::id.asc())
        .select((
            api_keys::id,
            api_keys::created_at,
            api_keys::regenerated_at,
            api_keys::last_used_at,
            key_notices::about.nullable(),
            key_notices::sent_at.nullable(),
        ))
        .load(conn)
}

/// Workspaces whose policy revokes unused keys, with the number of days.
fn policies(conn: &mut DbConnection) -> QueryResult<Vec<(i64, u32)>> {
    let rows: Vec<(i64, Option<i32>)> = workspaces::table
        .filter(workspaces::key_unused_revoke_days.is_not_null())
        .select((workspaces::id, workspaces::key_unused_revoke_days))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(ws, days)| Some((ws, u32::try_from(days?).ok().filter(|d| *d > UNUSED_WARNING_DAYS)?)))
        .collect())
}

/// Warns about and revokes unused keys; returns (warnings, revocations) this instance made.
pub async fn run(db: &Db, outbox: &Outbox, now: NaiveDateTime) -> Result<(usize, usize), DbError> {
    let (mut warned, mut revoked) = (0, 0);
    for (workspace_id, days) in db.run(|conn| policies(conn).map_err(DbError::from)).await? {
        let before = now - (TimeDelta::days(i64::from(days)) - warning_lead());
        let rows =
            db.run(move |conn| idle_keys(conn, workspace_id, before, now).map_err(DbError::from)).await?;
        let mut seen = std::collections::BTreeMap::<i64, (NaiveDateTime, Option<NaiveDateTime>)>::new();
        for row in rows {
            let since = last_activity(row.created_at, row.regenerated_at, row.last_used_at);
            let entry = seen.entry(row.id).or_insert((since, None));
            if row.warned_about == Some(since) {
                entry.1 = row.warned_at;
            }
        }
        for (key_id, (since, warned_at)) in seen {
            match step(days, since, warned_at, now) {
                Step::Nothing => {}
                Step::Warn => {
                    if let Some(mail) = warn(db, outbox, workspace_id, key_id, days, since, now).await? {
                        mail.send(outbox, "an unused-key warning").await;
                        warned += 1;
                    }
                }
                Step::Revoke => match revoke(db, workspace_id, key_id, days, since).await {
                    Ok(true) => revoked += 1,
                    Ok(false) => {}
                    Err(KeyError::Db(e)) => return Err(e),
                    Err(error) => tracing::debug!(%error, key_id, "an unused key was not revoked"),
                },
            }
        }
    }
    Ok((warned, revoked))
}

/// The key is still as the run saw it: live, and last active at `since`.
fn unchanged(key: &KeyRow, since: NaiveDateTime) -> bool {
    key.revoked_at.is_none() && last_activity(key.created_at, key.regenerated_at, key.last_used_at) == since
}

/// Claims and records one warning; the mail to send after the commit, or `None`.
async fn warn(
    db: &Db,
    outbox: &Outbox,
    workspace_id: i64,
    key_id: i64,
    days: u32,
    since: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Option<Mail>, DbError> {
    let outbox = outbox.clone();
    db.write(move |conn| -> Result<Option<Mail>, DbError> {
        let Some(key) = store::find(conn, workspace_id, key_id)? else { return Ok(None) };
        if !unchanged(&key, since) || !notices::claim(conn, key_id, Kind::UnusedWarning, since, now)? {
            return Ok(None);
        }
        let workspace_name: String =
            workspaces::table.find(workspace_id).select(workspaces::name).first(conn)?;
        let to = notices::recipients(conn, workspace_id, key.created_by)?;
        let from = revoked_from(days, since, now);
        let details = format!(
            "Not used since {}; to be revoked from {} under the policy (unused for {}); {}",
            exact_utc(since),
            exact_utc(from),
            days_in_words(days),
            notices::told(&outbox, &to)
        );
        let event = Event {
            workspace_id: Some(workspace_id),
            action: "key.unused_warning",
            key: Some(key.key_ref()),
            details,
        };
        audit::record(conn, &notices::system(), event, now)?;
        let used = key.last_used_at.is_some();
        let (subject, body) = message(&key.name, &key.masked(), &workspace_name, days, since, used, from);
        let footer = notices::footer(&outbox, &workspace_name);
        Ok(Some(Mail { to, subject, body: format!("{body}\n{footer}") }))
    })
    .await
}

/// Revokes an unused key through the key operation, as the system.
async fn revoke(
    db: &Db,
    workspace_id: i64,
    key_id: i64,
    days: u32,
    since: NaiveDateTime,
) -> Result<bool, KeyError> {
    let key = keys::ops::find(db, workspace_id, key_id).await?;
    if !unchanged(&key, since) {
        return Ok(false);
    }
    let reason = format!(
        "Revoked by the workspace\u{2019}s policy: unused for {} (last active {})",
        days_in_words(days),
        exact_utc(since)
    );
    keys::ops::revoke_with_reason(db, &notices::system(), workspace_id, key_id, reason).await?;
    Ok(true)
}

/// The subject and first paragraphs of a warning email.
fn message(
    name: &str,
    masked: &str,
    workspace: &str,
    days: u32,
    since: NaiveDateTime,
    used: bool,
    from: NaiveDateTime,
) -> (String, String) {
    let idle = if used {
        format!("has not been used since {}", day_in_words(since.date()))
    } else {
        format!("has not been used since it was issued on {}", day_in_words(since.date()))
    };
    (
        format!("API key \u{201c}{name}\u{201d} in {workspace} will be revoked for not being used"),
        format!(
            "The API key \u{201c}{name}\u{201d} ({masked}) in the workspace {workspace} {idle}. The workspace\u{2019}s \
             policy revokes keys unused for {}, so it will be revoked from {} (UTC).\n\nIf it is still needed, use \
             it before then: any request made with it keeps it. Otherwise there is nothing to do.\n",
            days_in_words(days),
            exact_utc(from),
        ),
    )
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_opt(12, 0, 0).unwrap()
    }

    fn days_ago(d: i64) -> NaiveDateTime {
        now() - TimeDelta::days(d)
    }

    #[test]
    fn the_last_activity_is_the_latest_of_creation_regeneration_and_use() {
        assert_eq!(last_activity(days_ago(50), None, None), days_ago(50));
        assert_eq!(last_activity(days_ago(50), Some(days_ago(20)), Some(days_ago(30))), days_ago(20));
        assert_eq!(last_activity(days_ago(50), None, Some(days_ago(3))), days_ago(3));
    }

    #[test]
    fn a_key_is_warned_seven_days_ahead_and_revoked_only_a_week_after_its_warning() {
        // Policy: 30 days.
        assert_eq!(step(30, days_ago(22), None, now()), Step::Nothing);
        assert_eq!(step(30, days_ago(23), None, now()), Step::Warn);
        assert_eq!(step(30, days_ago(29), Some(days_ago(6)), now()), Step::Nothing);
        assert_eq!(step(30, days_ago(31), Some(days_ago(8)), now()), Step::Revoke);
        // Idle long before the policy was turned on: warned now, revoked a week later.
        assert_eq!(step(30, days_ago(200), None, now()), Step::Warn);
        assert_eq!(step(30, days_ago(200), Some(days_ago(3)), now()), Step::Nothing);
        assert_eq!(revoked_from(30, days_ago(200), days_ago(3)), now() + TimeDelta::days(4));
        assert_eq!(revoked_from(30, days_ago(23), now()), now() + TimeDelta::days(7));
    }

    #[test]
    fn the_warning_says_when_and_how_to_keep_the_key() {
        let (subject, body) =
            message("Billing", "kw_live_…abcd", "Acme", 30, days_ago(23), true, now() + TimeDelta::days(7));
        assert_eq!(subject, "API key \u{201c}Billing\u{201d} in Acme will be revoked for not being used");
        assert!(body.contains("not been used since 9 Nov 2026"), "{body}");
        assert!(body.contains("unused for 30 days") && body.contains("2026-12-09 12:00:00 UTC"), "{body}");
    }
}
