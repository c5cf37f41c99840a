//! Invitations to a workspace. An owner names an email and a role; the invitee follows a
//! single-use link, within [`VALID_FOR`], and only then becomes a member: with a password of
//! their own when the email has no account, or by signing in to the account that has it. So
//! nobody chooses another person's password, and an invitation says nothing about whether an
//! account exists.
//!
//! The link's token is stored as its SHA-256 ([`crate::text::token_hash`]). Each change takes
//! the workspace's row lock first ([`super::members::lock_workspace`]), so an acceptance, a
//! revocation and a new invitation for the same person run one after another, and a link
//! submitted twice at once is used once.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::members::{self, lock_workspace};
use super::{Email, Role, store};
use crate::audit::{self, Actor, Event};
use crate::db::DbConnection;
use crate::db::schema::{invitations, users, workspaces};

/// How long a link works.
pub const VALID_FOR: TimeDelta = TimeDelta::days(7);

/// Where an invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    Expired,
    Revoked,
    Accepted,
}

/// Why a link cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// No invitation has this token (mistyped, cut short, or from another server).
    Unknown,
    Expired,
    Revoked,
    /// Already accepted: a link works once.
    Used,
}

/// One invitation, with the names a page shows.
#[derive(Clone, Debug)]
pub struct Invitation {
    pub id: i64,
    pub workspace_id: i64,
    pub workspace_name: String,
    pub email: String,
    pub role: Role,
    /// The inviter's email; `None` once their account is gone.
    pub invited_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl Invitation {
    pub fn status(&self, now: NaiveDateTime) -> Status {
        if self.accepted_at.is_some() {
            Status::Accepted
        } else if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at <= now {
            Status::Expired
        } else {
            Status::Pending
        }
    }

    /// Why the link cannot be used now, if it cannot.
    pub fn unusable(&self, now: NaiveDateTime) -> Option<Unusable> {
        match self.status(now) {
            Status::Pending => None,
            Status::Expired => Some(Unusable::Expired),
            Status::Revoked => Some(Unusable::Revoked),
            Status::Accepted => Some(Unusable::Used),
        }
    }
}

type Loaded = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// What every query here selects, in [`Loaded`]'s order.
macro_rules! columns {
    () => {
        (
            invitations::id,
            invitations::workspace_id,
            workspaces::name,
            invitations::email,
            invitations::role,
            users::email.nullable(),
            invitations::created_at,
            invitations::expires_at,
            invitations::accepted_at,
            invitations::revoked_at,
        )
    };
}

fn from_loaded(row: Loaded) -> Option<Invitation> {
    let (
        id,
        workspace_id,
        workspace_name,
        email,
        role,
        invited_by,
        created_at,
        expires_at,
        accepted_at,
        revoked_at,
    ) = row;
    Some(Invitation {
        id,
        workspace_id,
        workspace_name,
        email,
        role: role.parse().ok()?,
        invited_by,
        created_at,
        expires_at,
        accepted_at,
        revoked_at,
    })
}

macro_rules! with_names {
    () => {
        invitations::table
            .inner_join(workspaces::table)
            .left_join(users::table.on(invitations::invited_by.eq(users::id.nullable())))
    };
}

/// The invitation a link's token names, whatever its status.
pub fn find_by_token(conn: &mut DbConnection, token: &str) -> QueryResult<Option<Invitation>> {
    let row: Option<Loaded> = with_names!()
        .filter(invitations::token_hash.eq(crate::text::token_hash(token)))
        .select(columns!())
        .first(conn)
        .optional()?;
    Ok(row.and_then(from_loaded))
}

/// One invitation of this workspace (an id from another workspace finds nothing).
pub fn find(conn: &mut DbConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Invitation>> {
    let row: Option<Loaded> = with_names!()
        .filter(invitations::workspace_id.eq(workspace_id))
        .filter(invitations::id.eq(id))
        .select(columns!())
        .first(conn)
        .optional()?;
    Ok(row.and_then(from_loaded))
}

/// The workspace's invitations that can still be accepted, soonest to expire first.
pub fn pending(
    conn: &mut DbConnection,
    workspace_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<Invitation>> {
    let rows: Vec<Loaded> = with_names!()
        .filter(invitations::workspace_id.eq(workspace_id))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .order((invitations::expires_at.asc(), invitations::id.asc()))
        .select(columns!())
        .load(conn)?;
    Ok(rows.into_iter().filter_map(from_loaded).collect())
}

/// What [`invite`] did.
#[derive(Debug)]
pub enum Invited {
    /// The email already belongs to a member of the workspace: nothing was issued.
    AlreadyMember,
    /// A new link. `token` is the only copy of it: show it once, email it, never store it.
    Issued { id: i64, token: String, expires_at: NaiveDateTime, replaced: bool },
}

/// Issues an invitation to `email` as `role`, revoking any pending one of the same email in
/// this workspace (so only the newest link works), with its audit events.
pub fn invite(
    conn: &mut DbConnection,
    actor: &Actor,
    workspace_id: i64,
    email: &Email,
    role: Role,
    now: NaiveDateTime,
) -> QueryResult<Invited> {
    lock_workspace(conn, workspace_id)?;
    if let Some(user) = store::find_user_by_email(conn, email.as_str())?
        && members::find(conn, workspace_id, user.id)?.is_some()
    {
        return Ok(Invited::AlreadyMember);
    }
    let replaced = diesel::update(
        invitations::table
            .filter(invitations::workspace_id.eq(workspace_id))
            .filter(invitations::email.eq(email.as_str()))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null())
            .filter(invitations::expires_at.gt(now)),
    )
    .set(invitations::revoked_at.eq(now))
    .execute(conn)?
        > 0;
    if replaced {
        let event = Event {
            workspace_id: Some(workspace_id),
            action: "invitation.revoked",
            key: None,
            details: format!("Invitation of {email} replaced by a new one"),
        };
        audit::record(conn, actor, event, now)?;
    }
    let token = crate::text::random_token();
    let expires_at = now + VALID_FOR;
    let id: i64 = diesel::insert_into(invitations::table)
        .values((
            invitations::workspace_id.eq(workspace_id),
            invitations::email.eq(email.as_str()),
            invitations::role.eq(role.as_str()),
            invitations::token_hash.eq(crate::text::token_hash(&token)),
            invitations::invited_by.eq(actor.user_id),
            invitations::created_at.eq(now),
            invitations::expires_at.eq(expires_at),
        ))
        .returning(invitations::id)
        .get_result(conn)?;
    let event = Event {
        workspace_id: Some(workspace_id),
        action: "invitation.sent",
        key: None,
        details: format!(
            "Invited {email} as {role}; the link works until {}",
            crate::text::exact_utc(expires_at)
        ),
    };
    audit::record(conn, actor, event, now)?;
    Ok(Invited::Issued { id, token, expires_at, replaced })
}

/// What [`revoke`] found.
#[derive(Debug)]
pub enum Revoked {
    Revoked(Invitation),
    /// Accepted, revoked or expired already: nothing changed.
    NotPending(Invitation, Status),
}

/// Revokes a pending invitation of this workspace; `None` when it has no such invitation.
pub fn revoke(
    conn: &mut DbConnection,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<Revoked>> {
    lock_workspace(conn, workspace_id)?;
    let Some(invitation) = find(conn, workspace_id, id)? else { return Ok(None) };
    let status = invitation.status(now);
    if status != Status::Pending {
        return Ok(Some(Revoked::NotPending(invitation, status)));
    }
    diesel::update(invitations::table.find(id)).set(invitations::revoked_at.eq(now)).execute(conn)?;
    let event = Event {
        workspace_id: Some(workspace_id),
        action: "invitation.revoked",
        key: None,
        details: format!("Revoked the invitation of {} as {}", invitation.email, invitation.role),
    };
    audit::record(conn, actor, event, now)?;
    Ok(Some(Revoked::Revoked(invitation)))
}

/// Someone who has just become a member through an invitation.
#[derive(Clone, Debug)]
pub struct Joined {
    pub user_id: i64,
    pub workspace_id: i64,
    pub workspace_name: String,
    pub role: Role,
    /// They were a member already (added by another invitation meanwhile): their role stays.
    pub already_member: bool,
    /// The id of the sign-in session started for a new account (for its cookie).
    pub session_id: Option<String>,
}

/// What an attempt to accept came to. Anything but `Joined` changed nothing.
#[derive(Debug)]
pub enum Acceptance {
    Joined(Joined),
    Unusable(Unusable),
    /// The new-account path found an account with the invitation's email: its owner must sign
    /// in to accept, and the password offered is not used.
    AccountExists,
    /// The signed-in account is not the one invited.
    WrongAccount,
}

/// Locks the invitation's workspace and reads the invitation again under the lock, so what
/// follows sees every earlier acceptance or revocation of it.
fn claimable(
    conn: &mut DbConnection,
    token: &str,
    now: NaiveDateTime,
) -> QueryResult<Result<Invitation, Unusable>> {
    let Some(found) = find_by_token(conn, token)? else { return Ok(Err(Unusable::Unknown)) };
    lock_workspace(conn, found.workspace_id)?;
    let Some(invitation) = find_by_token(conn, token)? else { return Ok(Err(Unusable::Unknown)) };
    Ok(match invitation.unusable(now) {
        Some(why) => Err(why),
        None => Ok(invitation),
    })
}

/// Marks the invitation used. The condition repeats the checks, so even a transaction that
/// skipped the lock could not use a link twice.
fn mark_accepted(conn: &mut DbConnection, id: i64, user_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null())
            .filter(invitations::expires_at.gt(now)),
    )
    .set((invitations::accepted_at.eq(now), invitations::accepted_by.eq(user_id)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Accepts for an email that has no account: creates the account with `password_hash`, the
/// membership and a sign-in session, and marks the link used, with its audit event.
pub fn accept_with_new_account(
    conn: &mut DbConnection,
    token: &str,
    password_hash: &str,
    client: &store::SessionClient,
    now: NaiveDateTime,
) -> QueryResult<Acceptance> {
    let invitation = match claimable(conn, token, now)? {
        Ok(invitation) => invitation,
        Err(why) => return Ok(Acceptance::Unusable(why)),
    };
    if store::find_user_by_email(conn, &invitation.email)?.is_some() {
        return Ok(Acceptance::AccountExists);
    }
    let user_id = store::insert_user(conn, &invitation.email, password_hash, now)?;
    if !mark_accepted(conn, invitation.id, user_id, now)? {
        // Unreachable under the workspace lock; refusing keeps the rule even so.
        return Err(diesel::result::Error::RollbackTransaction);
    }
    store::insert_membership(conn, user_id, invitation.workspace_id, invitation.role, now)?;
    let actor = Actor {
        user_id: Some(user_id),
        label: invitation.email.clone(),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
    };
    record_accepted(conn, &actor, &invitation, "with a new account", now)?;
    let session_id = store::create_session(conn, user_id, client, now)?;
    Ok(Acceptance::Joined(Joined {
        user_id,
        workspace_id: invitation.workspace_id,
        workspace_name: invitation.workspace_name,
        role: invitation.role,
        already_member: false,
        session_id: Some(session_id),
    }))
}

/// Accepts as the signed-in user `actor`, whose account must have the invitation's email.
pub fn accept_as(
    conn: &mut DbConnection,
    token: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> QueryResult<Acceptance> {
    let invitation = match claimable(conn, token, now)? {
        Ok(invitation) => invitation,
        Err(why) => return Ok(Acceptance::Unusable(why)),
    };
    let Some(user_id) = actor.user_id else { return Ok(Acceptance::WrongAccount) };
    match store::find_user(conn, user_id)? {
        Some(user) if user.email == invitation.email => {}
        _ => return Ok(Acceptance::WrongAccount),
    }
    if !mark_accepted(conn, invitation.id, user_id, now)? {
        return Err(diesel::result::Error::RollbackTransaction);
    }
    let already_member = members::find(conn, invitation.workspace_id, user_id)?.is_some();
    let how = if already_member {
        "already a member: the role was left as it was"
    } else {
        store::insert_membership(conn, user_id, invitation.workspace_id, invitation.role, now)?;
        "with their existing account"
    };
    record_accepted(conn, actor, &invitation, how, now)?;
    Ok(Acceptance::Joined(Joined {
        user_id,
        workspace_id: invitation.workspace_id,
        workspace_name: invitation.workspace_name,
        role: invitation.role,
        already_member,
        session_id: None,
    }))
}

fn record_accepted(
    conn: &mut DbConnection,
    actor: &Actor,
    invitation: &Invitation,
    how: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let by = invitation.invited_by.as_deref().unwrap_or("a deleted account");
    let event = Event {
        workspace_id: Some(invitation.workspace_id),
        action: "invitation.accepted",
        key: None,
        details: format!("{} joined as {}, invited by {by} ({how})", invitation.email, invitation.role),
    };
    audit::record(conn, actor, event, now)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn at(h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_opt(h, 0, 0).unwrap()
    }

    fn invitation() -> Invitation {
        Invitation {
            id: 1,
            workspace_id: 1,
            workspace_name: "Acme".into(),
            email: "ada@example.com".into(),
            role: Role::Admin,
            invited_by: None,
            created_at: at(1),
            expires_at: at(10),
            accepted_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn a_link_works_until_it_expires_is_revoked_or_is_used() {
        let inv = invitation();
        assert_eq!(inv.status(at(9)), Status::Pending);
        assert_eq!(inv.unusable(at(9)), None);
        assert_eq!(inv.unusable(at(10)), Some(Unusable::Expired));
        let revoked = Invitation { revoked_at: Some(at(2)), ..invitation() };
        assert_eq!(revoked.unusable(at(3)), Some(Unusable::Revoked));
        // Used beats everything else: the page then says it was used, not that it expired.
        let used = Invitation { accepted_at: Some(at(2)), ..invitation() };
        assert_eq!(used.unusable(at(11)), Some(Unusable::Used));
    }
}
