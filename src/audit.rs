//! The append-only audit log. Every event is written through [`record`], inside the same
//! transaction as the change it describes, so a change never exists without its entry.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::audit_events;
use crate::text::search_form;

/// Who did it and from where. Built from the request by the console layer.
#[derive(Clone, Debug, Default)]
pub struct Actor {
    pub user_id: Option<i64>,
    /// What the log shows: an email, `key kw_live_…x7Qa`, or `system`.
    pub label: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The key an event is about, by name and masked form (never the secret).
#[derive(Clone, Debug)]
pub struct KeyRef {
    pub id: i64,
    pub name: String,
    pub masked: String,
}

/// One recorded event, as the log shows it.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct EventRow {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub key_id: Option<i64>,
    pub key_name: Option<String>,
    pub key_masked: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
}

/// Up to `limit` of a workspace's events, newest first, older than the event `before` (a
/// cursor: ids grow with time, so new events never shift the pages still to come), only of one
/// key and one action when asked.
pub fn events_before(
    conn: &mut DbConnection,
    workspace_id: i64,
    key_id: Option<i64>,
    action: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut query = audit_events::table.filter(audit_events::workspace_id.eq(workspace_id)).into_boxed();
    if let Some(key_id) = key_id {
        query = query.filter(audit_events::key_id.eq(key_id));
    }
    if let Some(action) = action {
        query = query.filter(audit_events::action.eq(action.to_owned()));
    }
    if let Some(before) = before {
        query = query.filter(audit_events::id.lt(before));
    }
    query.select(EventRow::as_select()).order(audit_events::id.desc()).limit(limit).load(conn)
}

/// One event to record.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    pub workspace_id: Option<i64>,
    pub action: &'a str,
    pub key: Option<KeyRef>,
    pub details: String,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewEvent<'a> {
    workspace_id: Option<i64>,
    at: NaiveDateTime,
    actor_id: Option<i64>,
    actor: &'a str,
    action: &'a str,
    key_id: Option<i64>,
    key_name: Option<&'a str>,
    key_masked: Option<&'a str>,
    /// The key name as the log's filter compares it ([`search_form`]).
    key_search_name: Option<String>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    details: &'a str,
}

/// Appends one event. Call it inside the transaction that makes the change.
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    event: Event<'_>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    // Bound so that a hostile User-Agent cannot bloat the log.
    let user_agent = actor.user_agent.as_deref().map(|ua| truncate(ua, 256));
    diesel::insert_into(audit_events::table)
        .values(NewEvent {
            workspace_id: event.workspace_id,
            at,
            actor_id: actor.user_id,
            actor: &actor.label,
            action: event.action,
            key_id: event.key.as_ref().map(|k| k.id),
            key_name: event.key.as_ref().map(|k| k.name.as_str()),
            key_masked: event.key.as_ref().map(|k| k.masked.as_str()),
            key_search_name: event.key.as_ref().map(|k| search_form(&k.name)),
            ip: actor.ip.as_deref(),
            user_agent,
            details: &event.details,
        })
        .execute(conn)
        .map(drop)
}

/// Sets every event's `key_search_name` to [`search_form`] of its key name where it differs;
/// returns how many changed. The migration that added the column could fold only with the
/// database's `lower()`, so `startup::migrate` calls this right after it. Reads in batches,
/// so a long log is not held in memory at once.
pub fn refold_key_search_names(conn: &mut DbConnection) -> QueryResult<usize> {
    const BATCH: i64 = 10_000;
    let mut after = 0;
    let mut changed = 0;
    loop {
        let rows: Vec<(i64, Option<String>, Option<String>)> = audit_events::table
            .filter(audit_events::id.gt(after))
            .filter(audit_events::key_name.is_not_null())
            .select((audit_events::id, audit_events::key_name, audit_events::key_search_name))
            .order(audit_events::id.asc())
            .limit(BATCH)
            .load(conn)?;
        let Some(&(last, _, _)) = rows.last() else { return Ok(changed) };
        after = last;
        for (id, name, stored) in rows {
            let folded = name.as_deref().map(search_form);
            if folded != stored {
                changed += diesel::update(audit_events::table.find(id))
                    .set(audit_events::key_search_name.eq(folded))
                    .execute(conn)?;
            }
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
