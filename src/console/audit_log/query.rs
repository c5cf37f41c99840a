//! Reading the audit log of one workspace, newest first.

use chrono::{NaiveDate, NaiveTime};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::audit_events;
use crate::keys::search_form;

/// Events on one page of the log.
pub const PAGE_SIZE: i64 = 50;
/// Most rows one CSV download holds.
pub const CSV_MAX_ROWS: i64 = 100_000;

pub use crate::audit::EventRow;

/// The log's filters.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// An exact action name; empty for all.
    pub action: String,
    /// Part of a key's name (any case), or its masked form; empty for all.
    pub key: String,
    /// Exactly one key's events, by id (the key table's *History* link).
    pub key_id: Option<i64>,
    /// The first and last day shown (UTC), both inclusive.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.action.is_empty()
            && self.key.is_empty()
            && self.key_id.is_none()
            && self.from.is_none()
            && self.to.is_none()
    }
}

/// The LIKE pattern for a search, folded as `key_search_name` is, with `%`, `_` and `\` taken
/// as literal text.
fn like_pattern(search: &str) -> String {
    let mut p = String::from("%");
    for c in search_form(search).chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Up to `limit` events after skipping `offset`, newest first.
pub fn events(
    conn: &mut DbConnection,
    workspace_id: i64,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut query = audit_events::table
        .filter(audit_events::workspace_id.eq(workspace_id))
        .select(EventRow::as_select())
        .into_boxed();
    if !filter.action.is_empty() {
        query = query.filter(audit_events::action.eq(filter.action.clone()));
    }
    if let Some(key_id) = filter.key_id {
        // The (workspace_id, key_id, id) index: one key's events, however long the log.
        query = query.filter(audit_events::key_id.eq(key_id));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::at.ge(from.and_time(NaiveTime::MIN)));
    }
    if let Some(to) = filter.to.and_then(|d| d.succ_opt()) {
        query = query.filter(audit_events::at.lt(to.and_time(NaiveTime::MIN)));
    }
    let key = filter.key.trim();
    // Names never hold control characters, and PostgreSQL refuses a NUL in a text parameter.
    if key.chars().any(char::is_control) {
        return Ok(Vec::new());
    }
    if !key.is_empty() {
        // `key_search_name` is folded by keyward when the event is written (see `audit`), so
        // "är" finds "Ärger" on SQLite too, whose lower() folds ASCII only.
        query = query.filter(
            audit_events::key_search_name
                .like(like_pattern(key))
                .escape('\\')
                .or(audit_events::key_masked.eq(key.to_owned()).and(audit_events::key_name.is_not_null())),
        );
    }
    query.order((audit_events::at.desc(), audit_events::id.desc())).limit(limit).offset(offset).load(conn)
}

/// The name and masked form a key had in its newest event, for the page's "filtered to key"
/// line (the key itself may have been deleted since).
pub fn key_label(
    conn: &mut DbConnection,
    workspace_id: i64,
    key_id: i64,
) -> QueryResult<Option<(Option<String>, Option<String>)>> {
    audit_events::table
        .filter(audit_events::workspace_id.eq(workspace_id))
        .filter(audit_events::key_id.eq(key_id))
        .order(audit_events::id.desc())
        .select((audit_events::key_name, audit_events::key_masked))
        .first(conn)
        .optional()
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(super::like_pattern("a_%"), "%a\\_\\%%");
        assert_eq!(super::like_pattern("ÄRGER"), "%ärger%");
    }
}
