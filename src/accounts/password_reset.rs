//! Single-use links that set a new password: started by an owner for a member of their
//! workspace, or by the operator with `keyward admin reset-password`. A link lives an hour,
//! works once, and is stored only as the SHA-256 of its token. Using it ends every session of
//! the account; it leaves two-factor sign-in as it was, so whoever passes the link on still
//! cannot sign in without the member's second factor.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{memberships, password_resets, user_sessions, users};
use crate::text::{random_token, token_hash};

/// How long a reset link works.
pub const RESET_LIFETIME: TimeDelta = TimeDelta::hours(1);

/// Why a link sets no password. Each is a page of its own, and none changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetProblem {
    /// No link was ever made with this token (or it was mistyped).
    Unknown,
    /// Older than [`RESET_LIFETIME`].
    Expired,
    /// Already used, or replaced by a newer link for the same account.
    Used,
}

/// The account a valid link resets.
#[derive(Debug, Clone)]
pub struct ResetTarget {
    pub user_id: i64,
    pub email: String,
    pub expires_at: NaiveDateTime,
}

/// Makes a new link for `user_id` and returns its token (to show once, or to email). Earlier
/// unused links of the account stop working, so only the newest one can be used.
pub fn start(
    conn: &mut DbConnection,
    user_id: i64,
    requested_by: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<(String, NaiveDateTime)> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(now))
    .execute(conn)?;
    let token = random_token();
    let expires_at = now + RESET_LIFETIME;
    diesel::insert_into(password_resets::table)
        .values((
            password_resets::token_hash.eq(token_hash(&token)),
            password_resets::user_id.eq(user_id),
            password_resets::requested_by.eq(requested_by),
            password_resets::created_at.eq(now),
            password_resets::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok((token, expires_at))
}

/// The account a link resets, or why it resets none.
pub fn find(
    conn: &mut DbConnection,
    token: &str,
    now: NaiveDateTime,
) -> QueryResult<Result<ResetTarget, ResetProblem>> {
    let row: Option<(i64, String, NaiveDateTime, Option<NaiveDateTime>)> = password_resets::table
        .inner_join(users::table.on(users::id.eq(password_resets::user_id)))
        .filter(password_resets::token_hash.eq(token_hash(token)))
        .select((users::id, users::email, password_resets::expires_at, password_resets::used_at))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => Err(ResetProblem::Unknown),
        Some((_, _, _, Some(_))) => Err(ResetProblem::Used),
        Some((_, _, expires_at, None)) if expires_at <= now => Err(ResetProblem::Expired),
        Some((user_id, email, expires_at, None)) => Ok(ResetTarget { user_id, email, expires_at }),
    })
}

/// Uses the link: one conditional UPDATE claims it, so of two submissions racing with one
/// link exactly one sets a password. Then the password is replaced and every session of the
/// account ends. Call inside a transaction.
pub fn complete(
    conn: &mut DbConnection,
    token: &str,
    password_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Result<ResetTarget, ResetProblem>> {
    let target = match find(conn, token, now)? {
        Ok(target) => target,
        Err(problem) => return Ok(Err(problem)),
    };
    let claimed = diesel::update(
        password_resets::table
            .filter(password_resets::token_hash.eq(token_hash(token)))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(now)),
    )
    .set(password_resets::used_at.eq(now))
    .execute(conn)?;
    if claimed == 0 {
        return Ok(Err(ResetProblem::Used));
    }
    set_password(conn, target.user_id, password_hash, now)?;
    end_sessions(conn, target.user_id, None, now)?;
    Ok(Ok(target))
}

/// Replaces an account's password hash.
pub fn set_password(
    conn: &mut DbConnection,
    user_id: i64,
    password_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((users::password_hash.eq(password_hash), users::password_changed_at.eq(now)))
        .execute(conn)
        .map(drop)
}

/// Ends every live session of the account but `keep` (the stored form of one session id, as
/// `user_sessions.id` holds it). Returns how many ended.
pub fn end_sessions(
    conn: &mut DbConnection,
    user_id: i64,
    keep: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let live = user_sessions::table
        .filter(user_sessions::user_id.eq(user_id))
        .filter(user_sessions::revoked_at.is_null());
    match keep {
        Some(keep) => diesel::update(live.filter(user_sessions::id.ne(keep)))
            .set(user_sessions::revoked_at.eq(now))
            .execute(conn),
        None => diesel::update(live).set(user_sessions::revoked_at.eq(now)).execute(conn),
    }
}

/// Whether `owner` may start a reset for `member`: only when every workspace the member
/// belongs to is one `owner` owns. Otherwise the link would let one workspace's owner into
/// the member's other workspaces, which trust other owners; those resets are the operator's
/// (`keyward admin reset-password`).
pub fn owner_may_reset(conn: &mut DbConnection, owner: i64, member: i64) -> QueryResult<bool> {
    if owner == member {
        return Ok(false);
    }
    let theirs: Vec<i64> = memberships::table
        .filter(memberships::user_id.eq(member))
        .select(memberships::workspace_id)
        .load(conn)?;
    let owned: Vec<i64> = memberships::table
        .filter(memberships::user_id.eq(owner))
        .filter(memberships::role.eq(super::Role::Owner.as_str()))
        .select(memberships::workspace_id)
        .load(conn)?;
    Ok(!theirs.is_empty() && theirs.iter().all(|w| owned.contains(w)))
}
