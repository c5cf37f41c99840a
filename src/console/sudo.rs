//! Re-authentication ("sudo mode"): the few changes that hand out or take away a lot of power
//! (a full-access or never-expiring key, a member's role or membership, the workspace's
//! settings, turning off two-factor, new recovery codes) ask the user to prove who they are
//! again once their last proof is older than [`FRESH_FOR`]. Signing in is a proof; so is a
//! right answer here, which starts a new fresh period for the session.
//!
//! Nothing the user typed is lost: a guarded form shows the "Confirm it's you" field
//! ([`SudoField`]) when the proof is stale, and a guarded POST without a right answer renders its
//! form again with everything as typed and the field's message beside it.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{TimeDelta, Utc};

use super::error::ConsoleError;
use super::member::Member;
use crate::accounts::store;
use crate::accounts::throttle::describe_wait;
use crate::accounts::two_factor::{self, TotpCode};
use crate::db::DbError;
use crate::state::AppState;

/// How long a proof of identity lasts for the guarded changes.
pub const FRESH_FOR: TimeDelta = TimeDelta::minutes(10);

/// The form field guarded forms carry.
pub const FIELD: &str = "confirm_identity";

/// Whether the member proved who they are recently enough for a guarded change.
pub fn fresh(member: &Member) -> bool {
    member.confirmed_at.is_some_and(|at| Utc::now().naive_utc() - at <= FRESH_FOR)
}

/// A right confirmation: the session's proof is fresh again.
#[derive(Debug)]
pub struct Confirmed;

/// Why a confirmation did not go through. All but `Failed` are shown beside the field.
#[derive(Debug, thiserror::Error)]
pub enum SudoError {
    #[error(
        "Confirm it\u{2019}s you to make this change: enter your password or a code from your \
         authenticator app."
    )]
    Missing,
    #[error("That is not your password or a current authentication code. Nothing was changed.")]
    Wrong,
    #[error("That authentication code was already used. Wait for the next code and enter it.")]
    CodeUsed,
    #[error("Too many wrong attempts. Nothing was changed: try again {}.", describe_wait(*.0))]
    Throttled(Duration),
    #[error("The server is busy checking other passwords. Nothing was changed: try again {}.", describe_wait(*.0))]
    Busy(Duration),
    #[error(transparent)]
    Failed(#[from] ConsoleError),
}

impl From<DbError> for SudoError {
    fn from(e: DbError) -> Self {
        Self::Failed(e.into())
    }
}

impl SudoError {
    /// How long the client should wait before trying again, for a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled(d) | Self::Busy(d) => Some(*d),
            _ => None,
        }
    }
}

/// Checks what the user typed in the confirmation field: a 6-digit code when they have
/// two-factor sign-in (each code once, like at sign-in), else their password (through
/// `password_work`). Both count against the sign-in throttle, so this is no side door for
/// guessing. A right answer marks the session confirmed now.
pub async fn confirm(state: &AppState, member: &Member, typed: &str) -> Result<Confirmed, SudoError> {
    if typed.trim().is_empty() {
        return Err(SudoError::Missing);
    }
    let ip: Option<IpAddr> = member.ip.as_deref().and_then(|ip| ip.parse().ok());
    let account = member.email.clone();
    state.login_throttle.check(&account, ip).map_err(|r| SudoError::Throttled(r.retry_after))?;
    let user_id = member.user_id;
    let row = state
        .db
        .run(move |conn| two_factor::store::find(conn, user_id).map_err(DbError::from))
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let now = Utc::now().naive_utc();
    let sid = member.session_id.clone();
    if let (true, Some(sealed), Ok(code)) = (row.enabled(), &row.totp_secret, TotpCode::parse(typed)) {
        let attempt =
            state.login_throttle.begin(&account, ip).map_err(|r| SudoError::Throttled(r.retry_after))?;
        let secret = state
            .two_factor_cipher
            .open(sealed)
            .map_err(|e| ConsoleError::Internal(anyhow::Error::from(e)))?;
        let Some(step) = secret.matching_step(&code, now.and_utc().timestamp().max(0) as u64) else {
            tracing::warn!(user_id, "re-authentication failed: wrong code");
            return Err(SudoError::Wrong);
        };
        let accepted = state
            .db
            .write(move |conn| -> Result<bool, DbError> {
                let accepted = two_factor::store::accept_step(conn, user_id, step)?;
                if accepted {
                    two_factor::store::mark_session_confirmed(conn, &sid, now)?;
                }
                Ok(accepted)
            })
            .await?;
        if !accepted {
            return Err(SudoError::CodeUsed);
        }
        state.login_throttle.succeeded(attempt);
        return Ok(Confirmed);
    }
    let turn = state.password_work.turn().await.map_err(|busy| SudoError::Busy(busy.retry_after))?;
    let attempt =
        state.login_throttle.begin(&account, ip).map_err(|r| SudoError::Throttled(r.retry_after))?;
    let hash = state
        .db
        .run(move |conn| store::find_user(conn, user_id).map_err(DbError::from))
        .await?
        .map(|u| u.password_hash);
    let ok = turn
        .verify(typed.to_owned(), hash)
        .await
        .map_err(|e| ConsoleError::Internal(anyhow::Error::from(e)))?;
    if !ok {
        tracing::warn!(user_id, "re-authentication failed: wrong password");
        return Err(SudoError::Wrong);
    }
    state
        .db
        .write(move |conn| two_factor::store::mark_session_confirmed(conn, &sid, now).map_err(DbError::from))
        .await?;
    state.login_throttle.succeeded(attempt);
    Ok(Confirmed)
}

/// The gate a guarded handler passes: through at once while the proof is fresh, else through
/// a right confirmation. `Ok(Err(field))` is the field to render again beside the form;
/// `Err` is a failure to answer with an error page.
pub async fn guard(
    state: &AppState,
    member: &Member,
    typed: &str,
) -> Result<Result<(), SudoField>, ConsoleError> {
    if fresh(member) {
        return Ok(Ok(()));
    }
    match confirm(state, member, typed).await {
        Ok(Confirmed) => Ok(Ok(())),
        Err(SudoError::Failed(e)) => Err(e),
        Err(refusal) => Ok(Err(SudoField {
            needed: true,
            retry_after: refusal.retry_after(),
            error: Some(refusal.to_string()),
            only_for: None,
        })),
    }
}

/// The "Confirm it's you" field of a guarded form (`templates/partials/sudo.html`).
#[derive(Debug, Default)]
pub struct SudoField {
    /// Shown only when the proof is stale.
    pub needed: bool,
    pub error: Option<String>,
    /// Set when the refusal is a 429 (throttled, busy).
    pub retry_after: Option<Duration>,
    /// When the form asks for it only in some cases, which ones (shown as a hint).
    pub only_for: Option<&'static str>,
}

impl SudoField {
    /// The field as a guarded form shows it before anything was sent.
    pub fn for_member(member: &Member) -> Self {
        Self { needed: !fresh(member), ..Self::default() }
    }

    /// The status a refused form is rendered with: 429 when throttled, else 422.
    pub fn status(&self) -> actix_web::http::StatusCode {
        match self.retry_after {
            Some(_) => actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            None => actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// Adds `Retry-After` to a rendered refusal that waits (a 429).
pub fn with_wait(res: actix_web::HttpResponse, wait: Option<Duration>) -> actix_web::HttpResponse {
    match wait {
        Some(wait) => super::pages::with_retry_after(res, wait),
        None => res,
    }
}
