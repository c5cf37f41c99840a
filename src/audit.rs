//! The append-only audit log. Every event is written through [`record`], inside the same
//! transaction as the change it describes, so a change never exists without its entry.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::audit_events;

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
            ip: actor.ip.as_deref(),
            user_agent,
            details: &event.details,
        })
        .execute(conn)
        .map(drop)
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
