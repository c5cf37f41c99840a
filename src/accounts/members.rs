//! Queries behind *Settings → Members* and `keyward admin create`. Every query names the
//! workspace, so a user id from another workspace finds nothing.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::Role;
use crate::db::DbConnection;
use crate::db::schema::{memberships, users, workspaces};

/// One member of a workspace, as the members table shows them.
#[derive(Clone, Debug)]
pub struct MemberRow {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub added_at: NaiveDateTime,
}

/// The workspace's members, owners first, then by email.
pub fn list(conn: &mut DbConnection, workspace_id: i64) -> QueryResult<Vec<MemberRow>> {
    let rows: Vec<(i64, String, String, NaiveDateTime)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::workspace_id.eq(workspace_id))
        .order(users::email.asc())
        .select((users::id, users::email, memberships::role, memberships::created_at))
        .load(conn)?;
    let mut members: Vec<MemberRow> = rows
        .into_iter()
        .filter_map(|(user_id, email, role, added_at)| {
            Some(MemberRow { user_id, email, role: role.parse().ok()?, added_at })
        })
        .collect();
    members.sort_by(|a, b| b.role.cmp(&a.role).then_with(|| a.email.cmp(&b.email)));
    Ok(members)
}

/// One member of this workspace, or `None` (also when the user belongs only elsewhere).
pub fn find(conn: &mut DbConnection, workspace_id: i64, user_id: i64) -> QueryResult<Option<MemberRow>> {
    let row: Option<(i64, String, String, NaiveDateTime)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::workspace_id.eq(workspace_id))
        .filter(memberships::user_id.eq(user_id))
        .select((users::id, users::email, memberships::role, memberships::created_at))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(user_id, email, role, added_at)| {
        Some(MemberRow { user_id, email, role: role.parse().ok()?, added_at })
    }))
}

/// How many owners the workspace has.
pub fn count_owners(conn: &mut DbConnection, workspace_id: i64) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::workspace_id.eq(workspace_id))
        .filter(memberships::role.eq(Role::Owner.as_str()))
        .count()
        .get_result(conn)
}

/// Takes the workspace's row lock (a no-op update) so that concurrent changes in one
/// workspace that check before they write run one after another. On PostgreSQL (READ
/// COMMITTED) two owners demoting each other at once would otherwise both see two owners and
/// leave none, and two keys created at once could both take a free name; SQLite serialises
/// writers anyway. Call it first in the transaction.
pub fn lock_workspace(conn: &mut DbConnection, workspace_id: i64) -> QueryResult<()> {
    let n = diesel::update(workspaces::table.find(workspace_id))
        .set(workspaces::name.eq(workspaces::name))
        .execute(conn)?;
    if n == 0 { Err(diesel::result::Error::NotFound) } else { Ok(()) }
}

pub fn set_role(conn: &mut DbConnection, workspace_id: i64, user_id: i64, role: Role) -> QueryResult<()> {
    diesel::update(
        memberships::table
            .filter(memberships::workspace_id.eq(workspace_id))
            .filter(memberships::user_id.eq(user_id)),
    )
    .set(memberships::role.eq(role.as_str()))
    .execute(conn)
    .map(drop)
}

pub fn remove(conn: &mut DbConnection, workspace_id: i64, user_id: i64) -> QueryResult<()> {
    diesel::delete(
        memberships::table
            .filter(memberships::workspace_id.eq(workspace_id))
            .filter(memberships::user_id.eq(user_id)),
    )
    .execute(conn)
    .map(drop)
}

/// Workspaces with exactly this name (names are not unique).
pub fn workspaces_named(conn: &mut DbConnection, name: &str) -> QueryResult<Vec<i64>> {
    workspaces::table
        .filter(workspaces::name.eq(name))
        .select(workspaces::id)
        .order(workspaces::id)
        .load(conn)
}

pub fn workspace_name(conn: &mut DbConnection, workspace_id: i64) -> QueryResult<Option<String>> {
    workspaces::table.find(workspace_id).select(workspaces::name).first(conn).optional()
}
