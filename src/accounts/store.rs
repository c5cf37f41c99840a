//! Queries about users, workspaces, memberships and sign-in sessions.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::Role;
use crate::db::DbConnection;
use crate::db::schema::{memberships, user_sessions, users, workspaces};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
    pub totp_enabled_at: Option<NaiveDateTime>,
    pub password_changed_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = user_sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the user last proved who they are in this session (signing in counts).
    pub confirmed_at: Option<NaiveDateTime>,
}

/// Where a session was started from, as the sessions page shows it.
#[derive(Clone, Debug, Default)]
pub struct SessionClient {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A workspace the user belongs to, with their role there.
#[derive(Clone, Debug)]
pub struct WorkspaceMembership {
    pub workspace_id: i64,
    pub workspace_name: String,
    pub role: Role,
}

pub fn any_user_exists(conn: &mut DbConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(conn)
}

/// Claims first-run setup for this transaction: true for exactly one caller, ever. A second
/// setup waits for the first to commit and then finds its marker, so two racing setups cannot
/// both create an owner (PostgreSQL runs them at READ COMMITTED, where re-checking "no user
/// yet" alone would let both through).
pub fn claim_setup(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<bool> {
    crate::db::instance_settings::insert_if_absent(
        conn,
        "setup_done",
        &now.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

pub fn find_user_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table.filter(users::email.eq(email)).select(UserRow::as_select()).first(conn).optional()
}

pub fn find_user(conn: &mut DbConnection, id: i64) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).first(conn).optional()
}

pub fn insert_user(
    conn: &mut DbConnection,
    email: &str,
    password_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(users::table)
        .values((users::email.eq(email), users::password_hash.eq(password_hash), users::created_at.eq(now)))
        .returning(users::id)
        .get_result(conn)
}

pub fn insert_workspace(conn: &mut DbConnection, name: &str, now: NaiveDateTime) -> QueryResult<i64> {
    diesel::insert_into(workspaces::table)
        .values((workspaces::name.eq(name), workspaces::created_at.eq(now)))
        .returning(workspaces::id)
        .get_result(conn)
}

/// Every workspace as (id, name), by id: what the command line picks a workspace from (names
/// are not unique, and an operator may type one in any case).
pub fn all_workspaces(conn: &mut DbConnection) -> QueryResult<Vec<(i64, String)>> {
    workspaces::table.select((workspaces::id, workspaces::name)).order(workspaces::id).load(conn)
}

/// The emails of these users, by id (for "created by" columns; never their passwords).
pub fn user_emails(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    users::table.filter(users::id.eq_any(ids)).select((users::id, users::email)).load(conn)
}

pub fn insert_membership(
    conn: &mut DbConnection,
    user_id: i64,
    workspace_id: i64,
    role: Role,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(memberships::table)
        .values((
            memberships::user_id.eq(user_id),
            memberships::workspace_id.eq(workspace_id),
            memberships::role.eq(role.as_str()),
            memberships::created_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Every workspace of a user, oldest membership first.
pub fn memberships_of(conn: &mut DbConnection, user_id: i64) -> QueryResult<Vec<WorkspaceMembership>> {
    let rows: Vec<(i64, String, String)> = memberships::table
        .inner_join(workspaces::table)
        .filter(memberships::user_id.eq(user_id))
        .order((memberships::created_at.asc(), workspaces::id.asc()))
        .select((workspaces::id, workspaces::name, memberships::role))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(workspace_id, workspace_name, role)| {
            Some(WorkspaceMembership { workspace_id, workspace_name, role: role.parse().ok()? })
        })
        .collect())
}

/// Starts a sign-in session and returns its random id, for the encrypted cookie. The table
/// keeps only the id's SHA-256 ([`session_key`]), so a copy of the database names no session
/// a forged cookie could claim. Signing in is a proof of identity, so `confirmed_at` starts now.
pub fn create_session(
    conn: &mut DbConnection,
    user_id: i64,
    client: &SessionClient,
    now: NaiveDateTime,
) -> QueryResult<String> {
    let id = crate::text::random_token();
    diesel::insert_into(user_sessions::table)
        .values((
            user_sessions::id.eq(session_key(&id)),
            user_sessions::user_id.eq(user_id),
            user_sessions::created_at.eq(now),
            user_sessions::last_seen_at.eq(now),
            user_sessions::ip.eq(client.ip.as_deref()),
            user_sessions::user_agent.eq(client.user_agent.as_deref()),
            user_sessions::confirmed_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// How a session id is stored ([`crate::text::token_hash`]).
pub fn session_key(id: &str) -> String {
    crate::text::token_hash(id)
}

/// Records an event about a user's own account (password, two-factor, sessions) in the audit
/// log of every workspace they belong to, since each one's owners answer for who can sign in
/// there. A user with no workspace left gets one entry outside any workspace.
pub fn record_account_event(
    conn: &mut DbConnection,
    actor: &crate::audit::Actor,
    user_id: i64,
    action: &str,
    details: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let workspaces: Vec<i64> = memberships::table
        .filter(memberships::user_id.eq(user_id))
        .select(memberships::workspace_id)
        .load(conn)?;
    let targets: Vec<Option<i64>> =
        if workspaces.is_empty() { vec![None] } else { workspaces.into_iter().map(Some).collect() };
    for workspace_id in targets {
        let event = crate::audit::Event { workspace_id, action, key: None, details: details.to_owned() };
        crate::audit::record(conn, actor, event, now)?;
    }
    Ok(())
}

/// The session the cookie's id names (looked up by its hash).
pub fn find_session(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SessionRow>> {
    user_sessions::table.find(session_key(id)).select(SessionRow::as_select()).first(conn).optional()
}

pub fn touch_session(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(user_sessions::table.find(session_key(id)))
        .set(user_sessions::last_seen_at.eq(now))
        .execute(conn)
        .map(drop)
}

pub fn revoke_session(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(user_sessions::table.find(session_key(id)).filter(user_sessions::revoked_at.is_null()))
        .set(user_sessions::revoked_at.eq(now))
        .execute(conn)
        .map(drop)
}
