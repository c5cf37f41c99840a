//! The two-factor queries: the user's TOTP state, recovery codes, which workspaces require
//! two-factor sign-in, and a session's last proof of identity.
//!
//! Every "use once" rule is a conditional UPDATE whose row count is the answer, so of two
//! requests racing with the same code exactly one succeeds, on either backend.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{memberships, recovery_codes, user_sessions, users, workspaces};

/// A user's two-factor columns.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct TwoFactorRow {
    pub id: i64,
    pub email: String,
    /// Encrypted ([`super::SecretCipher`]); pending while `totp_enabled_at` is NULL.
    pub totp_secret: Option<String>,
    pub totp_enabled_at: Option<NaiveDateTime>,
    pub totp_last_step: Option<i64>,
}

impl TwoFactorRow {
    pub fn enabled(&self) -> bool {
        self.totp_enabled_at.is_some() && self.totp_secret.is_some()
    }
}

pub fn find(conn: &mut DbConnection, user_id: i64) -> QueryResult<Option<TwoFactorRow>> {
    users::table.find(user_id).select(TwoFactorRow::as_select()).first(conn).optional()
}

/// Whether the user has two-factor sign-in turned on.
pub fn is_enabled(conn: &mut DbConnection, user_id: i64) -> QueryResult<bool> {
    Ok(find(conn, user_id)?.is_some_and(|row| row.enabled()))
}

/// Stores a new pending secret; does nothing (false) once two-factor is on.
pub fn set_pending_secret(conn: &mut DbConnection, user_id: i64, sealed: &str) -> QueryResult<bool> {
    let n = diesel::update(users::table.find(user_id).filter(users::totp_enabled_at.is_null()))
        .set((users::totp_secret.eq(sealed), users::totp_last_step.eq(None::<i64>)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Turns two-factor on with the pending secret the code was checked against (`sealed`), so a
/// secret replaced meanwhile (set up again in another tab) is not enabled unseen. The
/// enrolment code's step counts as used.
pub fn enable(
    conn: &mut DbConnection,
    user_id: i64,
    sealed: &str,
    step: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        users::table
            .find(user_id)
            .filter(users::totp_enabled_at.is_null())
            .filter(users::totp_secret.eq(sealed)),
    )
    .set((users::totp_enabled_at.eq(now), users::totp_last_step.eq(step)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Turns two-factor off: the secret, its last step and every recovery code go. Returns whether
/// it was on.
pub fn disable(conn: &mut DbConnection, user_id: i64) -> QueryResult<bool> {
    let was_on =
        users::table.find(user_id).select(users::totp_enabled_at.is_not_null()).first::<bool>(conn)?;
    diesel::update(users::table.find(user_id))
        .set((
            users::totp_secret.eq(None::<String>),
            users::totp_enabled_at.eq(None::<NaiveDateTime>),
            users::totp_last_step.eq(None::<i64>),
        ))
        .execute(conn)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
    Ok(was_on)
}

/// Accepts a code of `step`: true only when no code of this step or a later one was accepted
/// before, so a code cannot be used twice, not even by two requests at the same moment.
pub fn accept_step(conn: &mut DbConnection, user_id: i64, step: i64) -> QueryResult<bool> {
    let n = diesel::update(
        users::table
            .find(user_id)
            .filter(users::totp_enabled_at.is_not_null())
            .filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step))),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)?;
    Ok(n == 1)
}

/// Replaces every recovery code of the user with these (SHA-256 hashes).
pub fn replace_recovery_codes(conn: &mut DbConnection, user_id: i64, hashes: &[String]) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
    // One statement per code: the multi-backend connection has no batch insert, and ten
    // rows inside one transaction cost nothing noticeable.
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((recovery_codes::user_id.eq(user_id), recovery_codes::code_hash.eq(hash.as_str())))
            .execute(conn)?;
    }
    Ok(())
}

/// Uses up a recovery code: true for the first use only.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    user_id: i64,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// How many unused recovery codes the user has left.
pub fn recovery_codes_left(conn: &mut DbConnection, user_id: i64) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

/// The names of the user's workspaces that require two-factor sign-in.
pub fn workspaces_requiring(conn: &mut DbConnection, user_id: i64) -> QueryResult<Vec<String>> {
    memberships::table
        .inner_join(workspaces::table)
        .filter(memberships::user_id.eq(user_id))
        .filter(workspaces::two_factor_required_at.is_not_null())
        .order(workspaces::name.asc())
        .select(workspaces::name)
        .load(conn)
}

/// When the workspace began requiring two-factor sign-in, if it does.
pub fn required_since(conn: &mut DbConnection, workspace_id: i64) -> QueryResult<Option<NaiveDateTime>> {
    workspaces::table.find(workspace_id).select(workspaces::two_factor_required_at).first(conn)
}

/// Whether the user must set up two-factor before using this workspace.
pub fn enrolment_due(conn: &mut DbConnection, user_id: i64, workspace_id: i64) -> QueryResult<bool> {
    if required_since(conn, workspace_id)?.is_none() {
        return Ok(false);
    }
    Ok(!is_enabled(conn, user_id)?)
}

/// Sets or clears the workspace's requirement; true when it changed.
pub fn set_required(
    conn: &mut DbConnection,
    workspace_id: i64,
    required: bool,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = workspaces::table.find(workspace_id);
    let n = if required {
        diesel::update(target.filter(workspaces::two_factor_required_at.is_null()))
            .set(workspaces::two_factor_required_at.eq(now))
            .execute(conn)?
    } else {
        diesel::update(target.filter(workspaces::two_factor_required_at.is_not_null()))
            .set(workspaces::two_factor_required_at.eq(None::<NaiveDateTime>))
            .execute(conn)?
    };
    Ok(n == 1)
}

/// Records that the user of this session proved who they are just now.
pub fn mark_session_confirmed(
    conn: &mut DbConnection,
    session_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(user_sessions::table.find(crate::accounts::store::session_key(session_id)))
        .set(user_sessions::confirmed_at.eq(now))
        .execute(conn)
        .map(drop)
}
