//! Reading the audit log of one workspace, newest first.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::audit_events;

diesel::define_sql_function! {
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Events on one page of the log.
pub const PAGE_SIZE: i64 = 50;
/// Most rows one CSV download holds.
pub const CSV_MAX_ROWS: i64 = 100_000;

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

/// The log's filters.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// An exact action name; empty for all.
    pub action: String,
    /// Part of a key's name, or its masked form; empty for all.
    pub key: String,
}

fn like_pattern(search: &str) -> String {
    let mut p = String::from("%");
    for c in search.to_lowercase().chars() {
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
    let key = filter.key.trim();
    if !key.is_empty() {
        query = query.filter(
            lower(audit_events::key_name.assume_not_null())
                .like(like_pattern(key))
                .escape('\\')
                .or(audit_events::key_masked.eq(key.to_owned()))
                .and(audit_events::key_name.is_not_null()),
        );
    }
    query.order((audit_events::at.desc(), audit_events::id.desc())).limit(limit).offset(offset).load(conn)
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(super::like_pattern("a_%"), "%a\\_\\%%");
    }
}
