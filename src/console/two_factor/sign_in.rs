//! The second step of signing in: after a right password, a user with two-factor sign-in gets
//! no session yet. The encrypted cookie remembers a pending sign-in (who, since when, where to
//! go after) for five minutes, and `/login/two-factor` asks for a code from the authenticator
//! app, or one of the recovery codes.
//!
//! Wrong codes count against the sign-in throttle (the same account and network budget as
//! wrong passwords, kept on the server, so replaying an older cookie gains nothing), and
//! [`MAX_WRONG`] of them end the pending sign-in: the password is asked again.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::unix_now;
use crate::accounts::store;
use crate::accounts::throttle::describe_wait;
use crate::accounts::two_factor::{self, TotpCode};
use crate::audit::{self, Actor, Event};
use crate::console::csrf::CsrfForm;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::client_of;
use crate::console::pages::{PageCtx, render, render_status, with_retry_after};
use crate::console::see_other;
use crate::console::session::TypedSession;
use crate::metrics::SignInFailure;
use crate::state::AppState;

pub const PATH: &str = "/login/two-factor";

/// The cookie session's entry for a pending sign-in.
const PENDING: &str = "pending_2fa";

/// How long the second step may take after the password.
const PENDING_FOR: TimeDelta = TimeDelta::minutes(5);

/// Wrong codes one pending sign-in may take before the password is asked again.
pub const MAX_WRONG: u32 = 5;

/// A right password waiting for its second factor.
#[derive(Serialize, Deserialize)]
struct Pending {
    user_id: i64,
    /// The account's email, as the throttle and the audit log name it.
    email: String,
    /// Unix seconds of the right password.
    since: i64,
    next: String,
    wrong: u32,
}

/// Remembers a right password for the second step. The cookie gets a new identity, as at
/// sign-in, and holds no session id until the code is right (the CSRF token is made anew when
/// the code form renders).
pub fn begin(session: &TypedSession, user_id: i64, email: &str, next: &str) -> Result<(), ConsoleError> {
    let pending = Pending {
        user_id,
        email: email.to_owned(),
        since: Utc::now().timestamp(),
        next: next.to_owned(),
        wrong: 0,
    };
    // Whoever this browser was signed in as before is signed out: the pending sign-in is the
    // only identity it carries until the code is right.
    session.inner().renew();
    session.inner().clear();
    session.inner().insert(PENDING, &pending).map_err(anyhow::Error::from)?;
    Ok(())
}

fn pending(session: &TypedSession) -> Option<Pending> {
    let p: Pending = session.inner().get(PENDING).ok().flatten()?;
    let age = Utc::now().timestamp() - p.since;
    (0..=PENDING_FOR.num_seconds()).contains(&age).then_some(p)
}

/// Back to the password, with a message saying why.
fn restart(session: &TypedSession, message: &str) -> HttpResponse {
    session.inner().remove(PENDING);
    flash::push(session.inner(), Level::Error, message);
    see_other("/login")
}

const EXPIRED: &str = "Your sign-in took too long. Enter your email and password again.";
const TOO_MANY_WRONG: &str =
    "Too many wrong codes. For your security, sign-in starts again: enter your email and password.";

#[derive(Default, Deserialize)]
pub struct MethodQuery {
    #[serde(default)]
    pub method: String,
}

#[derive(Template)]
#[template(path = "auth/two_factor.html")]
pub struct CodePage {
    pub ctx: PageCtx,
    /// Asking for a recovery code rather than an app code.
    pub recovery: bool,
    pub error: Option<String>,
}

pub async fn code_form(
    session: TypedSession,
    query: web::Query<MethodQuery>,
) -> Result<HttpResponse, ConsoleError> {
    if pending(&session).is_none() {
        return Ok(restart(&session, EXPIRED));
    }
    render(&CodePage { ctx: PageCtx::anonymous(&session), recovery: query.method == "recovery", error: None })
}

#[derive(Default, Deserialize)]
pub struct CodeFormData {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub recovery_code: String,
    #[serde(default)]
    pub method: String,
}

/// What checking a code came to.
enum Checked {
    SignedIn {
        sid: String,
        /// The first workspace, if the account still has one.
        workspace_id: Option<i64>,
        recovery_left: Option<i64>,
    },
    Wrong(&'static str),
}

pub async fn code_check(
    state: web::Data<AppState>,
    session: TypedSession,
    req: HttpRequest,
    CsrfForm(form): CsrfForm<CodeFormData>,
) -> Result<HttpResponse, ConsoleError> {
    let Some(mut p) = pending(&session) else { return Ok(restart(&session, EXPIRED)) };
    let recovery = form.method == "recovery";
    let page = |session: &TypedSession, error: String| CodePage {
        ctx: PageCtx::anonymous(session),
        recovery,
        error: Some(error),
    };
    // Parsed first: an empty or malformed field costs nothing and counts as no attempt.
    let typed_code = if recovery {
        if !two_factor::looks_like_recovery_code(&form.recovery_code) {
            let message = "Enter one of your recovery codes, like abcde-23456.".to_owned();
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page(&session, message));
        }
        None
    } else {
        match TotpCode::parse(&form.code) {
            Ok(code) => Some(code),
            Err(e) => return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page(&session, e.to_string())),
        }
    };
    let (client, user_agent) = client_of(&req);
    let attempt = match state.login_throttle.begin(&p.email, client) {
        Ok(attempt) => attempt,
        Err(refused) => {
            state.metrics.sign_in_failure(SignInFailure::Throttled);
            let message = format!(
                "Too many failed sign-in attempts. Wait a moment: try again {}.",
                describe_wait(refused.retry_after)
            );
            let res = render_status(StatusCode::TOO_MANY_REQUESTS, &page(&session, message))?;
            return Ok(with_retry_after(res, refused.retry_after));
        }
    };
    let now = Utc::now().naive_utc();
    let user_id = p.user_id;
    let row =
        state.db.run(move |conn| two_factor::store::find(conn, user_id).map_err(ConsoleError::from)).await?;
    let Some(row) = row.filter(two_factor::store::TwoFactorRow::enabled) else {
        // Turned off (or the account deleted) since the password: start again.
        return Ok(restart(&session, EXPIRED));
    };
    // The step of a right app code; checked against the last used step in the transaction.
    let step = match (&typed_code, &row.totp_secret) {
        (Some(code), Some(sealed)) => {
            let secret = state
                .two_factor_cipher
                .open(sealed)
                .map_err(|e| ConsoleError::Internal(anyhow::Error::from(e)))?;
            secret.matching_step(code, unix_now(now))
        }
        _ => None,
    };
    let recovery_hash = recovery.then(|| two_factor::recovery_code_hash(&form.recovery_code));
    let actor = Actor {
        user_id: Some(user_id),
        label: row.email.clone(),
        ip: client.map(|c| c.to_string()),
        user_agent: user_agent.clone(),
    };
    let client_row = store::SessionClient { ip: actor.ip.clone(), user_agent };
    let checked = state
        .db
        .write(move |conn| -> Result<Checked, ConsoleError> {
            let workspace_id = store::memberships_of(conn, user_id)?.first().map(|w| w.workspace_id);
            let (ok, how, wrong) = match (&recovery_hash, step) {
                (Some(hash), _) => (
                    two_factor::store::use_recovery_code(conn, user_id, hash, now)?,
                    "recovery code",
                    "wrong recovery code",
                ),
                (None, Some(step)) => {
                    let accepted = two_factor::store::accept_step(conn, user_id, step)?;
                    (accepted, "two-factor code", "two-factor code already used")
                }
                (None, None) => (false, "two-factor code", "wrong two-factor code"),
            };
            if !ok {
                let details = wrong.to_owned();
                let event = Event { workspace_id, action: "user.sign_in_failed", key: None, details };
                audit::record(conn, &actor, event, now)?;
                return Ok(Checked::Wrong(wrong));
            }
            let recovery_left = match recovery_hash {
                Some(_) => Some(two_factor::store::recovery_codes_left(conn, user_id)?),
                None => None,
            };
            let details = match recovery_left {
                Some(left) => format!("With a {how} ({left} left)"),
                None => format!("With a {how}"),
            };
            let event = Event { workspace_id, action: "user.signed_in", key: None, details };
            audit::record(conn, &actor, event, now)?;
            let sid = store::create_session(conn, user_id, &client_row, now)?;
            Ok(Checked::SignedIn { sid, workspace_id, recovery_left })
        })
        .await?;
    match checked {
        Checked::SignedIn { sid, workspace_id, recovery_left } => {
            state.login_throttle.succeeded(attempt);
            session.sign_in(user_id, &sid, workspace_id).map_err(anyhow::Error::from)?;
            if let Some(left) = recovery_left {
                let message = match left {
                    0 => "You used your last recovery code. Make new ones now on your two-factor page, \
                          or you may be locked out if you lose your authenticator app."
                        .to_owned(),
                    1 => "Signed in with a recovery code. 1 recovery code is left: make new ones soon."
                        .to_owned(),
                    n => format!("Signed in with a recovery code. {n} recovery codes are left."),
                };
                let level = if left <= 1 { Level::Error } else { Level::Success };
                flash::push(session.inner(), level, message);
            }
            Ok(see_other(&p.next))
        }
        Checked::Wrong(why) => {
            state.metrics.sign_in_failure(SignInFailure::TwoFactor);
            tracing::warn!(ip = %client.map_or_else(|| "-".to_owned(), |c| c.to_string()), why, "sign-in failed");
            p.wrong += 1;
            if p.wrong >= MAX_WRONG {
                return Ok(restart(&session, TOO_MANY_WRONG));
            }
            session.inner().insert(PENDING, &p).map_err(anyhow::Error::from)?;
            let message = match (why, recovery) {
                ("two-factor code already used", _) => {
                    "That code was already used. Wait for your app to show the next code and enter it."
                }
                (_, true) => "That recovery code is wrong or was already used. Check it and try again.",
                _ => "That code is wrong. Enter the code your authenticator app shows now.",
            };
            render_status(StatusCode::UNAUTHORIZED, &page(&session, message.to_owned()))
        }
    }
}
