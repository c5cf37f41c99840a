//! First-run setup, sign-in and sign-out.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::member::{client_of, has_users};
use super::pages::{PageCtx, render, render_status, with_retry_after};
use super::see_other;
use super::session::TypedSession;
use crate::accounts::password_work::PasswordWorkError;
use crate::accounts::store;
use crate::accounts::throttle::{Refused, describe_wait};
use crate::accounts::two_factor;
use crate::accounts::{Email, Password, Role, WorkspaceName};
use crate::audit::{self, Actor, Event};
use crate::db::DbError;
use crate::metrics::SignInFailure;
use crate::state::AppState;

// ---------------------------------------------------------------- setup

#[derive(Default, Deserialize)]
pub struct SetupFormData {
    #[serde(default)]
    pub setup_code: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_confirm: String,
    #[serde(default)]
    pub workspace_name: String,
}

#[derive(Default)]
pub struct SetupErrors {
    pub setup_code: Option<String>,
    /// About the form as a whole, shown above it.
    pub form: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub password_confirm: Option<String>,
    pub workspace_name: Option<String>,
}

impl SetupErrors {
    fn any(&self) -> bool {
        self.setup_code.is_some()
            || self.form.is_some()
            || self.email.is_some()
            || self.password.is_some()
            || self.password_confirm.is_some()
            || self.workspace_name.is_some()
    }
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
pub struct SetupPage {
    pub ctx: PageCtx,
    pub setup_code: String,
    pub email: String,
    pub workspace_name: String,
    pub errors: SetupErrors,
}

pub async fn setup_form(
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    if has_users(&state).await? {
        return Err(ConsoleError::NotFound);
    }
    render(&SetupPage {
        ctx: PageCtx::anonymous(&session),
        setup_code: String::new(),
        email: String::new(),
        workspace_name: String::new(),
        errors: SetupErrors::default(),
    })
}

pub async fn setup(
    state: web::Data<AppState>,
    session: TypedSession,
    req: HttpRequest,
    CsrfForm(form): CsrfForm<SetupFormData>,
) -> Result<HttpResponse, ConsoleError> {
    if has_users(&state).await? {
        return Err(ConsoleError::NotFound);
    }
    let mut errors = SetupErrors::default();
    if !state.setup_code.as_ref().is_some_and(|code| code.matches(&form.setup_code)) {
        errors.setup_code = Some(if form.setup_code.trim().is_empty() {
            SETUP_CODE_MISSING.into()
        } else {
            SETUP_CODE_WRONG.into()
        });
    }
    let email = Email::parse(&form.email).map_err(|e| errors.email = Some(e.to_string())).ok();
    let password =
        Password::choose(&form.password, &form.email).map_err(|e| errors.password = Some(e.to_string())).ok();
    if password.is_some() && form.password != form.password_confirm {
        errors.password_confirm = Some("The two passwords do not match.".into());
    }
    let workspace = WorkspaceName::parse(&form.workspace_name)
        .map_err(|e| errors.workspace_name = Some(e.to_string()))
        .ok();
    let (Some(email), Some(password), Some(workspace), false) = (email, password, workspace, errors.any())
    else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage {
                ctx: PageCtx::anonymous(&session),
                setup_code: form.setup_code,
                email: form.email,
                workspace_name: form.workspace_name,
                errors,
            },
        );
    };
    let hash = match state.password_work.hash(password).await {
        Ok(hash) => hash,
        Err(PasswordWorkError::Busy(busy)) => {
            let errors = SetupErrors {
                form: Some(format!(
                    "The server is busy checking other passwords, so nothing was created. Try again \
                     {}.",
                    describe_wait(busy.retry_after)
                )),
                ..SetupErrors::default()
            };
            let page = SetupPage {
                ctx: PageCtx::anonymous(&session),
                setup_code: form.setup_code,
                email: form.email,
                workspace_name: form.workspace_name,
                errors,
            };
            return Ok(with_retry_after(
                render_status(StatusCode::TOO_MANY_REQUESTS, &page)?,
                busy.retry_after,
            ));
        }
        Err(PasswordWorkError::Failed(e)) => return Err(anyhow::Error::from(e).into()),
    };
    let (ip, user_agent) = client_of(&req);
    let ip = ip.map(|c| c.to_string());
    let client = store::SessionClient { ip: ip.clone(), user_agent: user_agent.clone() };
    let now = Utc::now().naive_utc();
    let created = state
        .db
        .write(move |conn| -> Result<Option<(i64, i64, String)>, ConsoleError> {
            // Checked again inside the transaction: two racing setups must not both win.
            if !store::claim_setup(conn, now)? || store::any_user_exists(conn)? {
                return Ok(None);
            }
            let user_id = store::insert_user(conn, email.as_str(), &hash, now)?;
            let workspace_id = store::insert_workspace(conn, &workspace, now)?;
            store::insert_membership(conn, user_id, workspace_id, Role::Owner, now)?;
            let actor = Actor { user_id: Some(user_id), label: email.to_string(), ip, user_agent };
            let event = Event {
                workspace_id: Some(workspace_id),
                action: "workspace.created",
                key: None,
                details: format!(
                    "First-run setup: workspace \u{201c}{workspace}\u{201d} and its owner {email}"
                ),
            };
            audit::record(conn, &actor, event, now)?;
            let sid = store::create_session(conn, user_id, &client, now)?;
            Ok(Some((user_id, workspace_id, sid)))
        })
        .await?;
    let Some((user_id, workspace_id, sid)) = created else {
        return Err(ConsoleError::NotFound);
    };
    state.has_users.store(true, std::sync::atomic::Ordering::Relaxed);
    session.sign_in(user_id, &sid, Some(workspace_id)).map_err(anyhow::Error::from)?;
    flash::push(
        session.inner(),
        Level::Success,
        "Welcome to keyward. Your workspace is ready: create its first API key.",
    );
    Ok(see_other("/settings/api-keys"))
}

pub const SETUP_CODE_MISSING: &str =
    "Enter the setup code: keyward printed it in its log when it started (the line with setup_code=).";
pub const SETUP_CODE_WRONG: &str = "That is not this server's setup code. Copy it from the log line with \
    setup_code= of the keyward that serves this page (each start of a fresh instance prints a new one).";

// ---------------------------------------------------------------- sign-in

#[derive(Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    pub next: String,
}

#[derive(Default, Deserialize)]
pub struct LoginFormData {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub next: String,
}

#[derive(Template)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub ctx: PageCtx,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
}

/// Keeps `next` only when it is a path on this site (`/…` but not `//host` or `/\host`).
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}

pub async fn login_form(
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, ConsoleError> {
    if !has_users(&state).await? {
        return Ok(see_other("/setup"));
    }
    let next = safe_next(&query.next).unwrap_or_default().to_owned();
    render(&LoginPage { ctx: PageCtx::anonymous(&session), email: String::new(), next, error: None })
}

/// The audit log's actor for a failed sign-in whose email field held no email address.
pub const NOT_AN_EMAIL: &str = "(not an email address)";

pub const BAD_CREDENTIALS: &str =
    "That email and password do not match an account. Check both and try again.";

pub async fn login(
    state: web::Data<AppState>,
    session: TypedSession,
    req: HttpRequest,
    CsrfForm(form): CsrfForm<LoginFormData>,
) -> Result<HttpResponse, ConsoleError> {
    let next = safe_next(&form.next).unwrap_or("/settings/api-keys").to_owned();
    let typed_email = form.email.clone();
    let email = Email::parse(&form.email).ok();
    let lookup = email.clone();
    let (client, user_agent) = client_of(&req);
    let ip = client.map(|c| c.to_string());
    let throttle_key = match &email {
        Some(e) => e.to_string(),
        None => typed_email.trim().to_lowercase().chars().take(254).collect(),
    };
    // For the operator's log (fail2ban and the like), since an unknown email's failure belongs
    // to no workspace's audit log. The address only: what was typed may be a password.
    let ip_for_log = ip.clone().unwrap_or_else(|| "-".into());
    let refused = |refused: Refused, email: String| {
        let limit = refused.limit.as_str();
        tracing::warn!(ip = %ip_for_log, limit, "sign-in refused: too many failed attempts");
        state.metrics.sign_in_failure(SignInFailure::Throttled);
        throttled(&session, email, &form.next, refused)
    };
    // Refused before any work: a refused attempt reads nothing, checks no password and
    // writes nothing.
    if let Err(r) = state.login_throttle.check(&throttle_key, client) {
        return refused(r, typed_email);
    }
    // The turn comes before the account is even looked up, so a flood of sign-ins waits here,
    // as parked futures, rather than as blocking threads queueing for the database.
    let turn = match state.password_work.turn().await {
        Ok(turn) => turn,
        Err(busy) => {
            tracing::warn!(ip = %ip_for_log, "sign-in deferred: too many passwords checked at once");
            let message = format!(
                "The server is busy checking other sign-ins. Your password was not checked: try \
                 again {}.",
                describe_wait(busy.retry_after)
            );
            return too_many(&session, typed_email, &form.next, message, busy.retry_after);
        }
    };
    // Counted only now, with the turn in hand and the password about to be checked (and given
    // back if it is right), so concurrent guesses cannot slip past a limit while argon2 runs,
    // and a sign-in the server was too busy for costs the account nothing.
    let attempt = match state.login_throttle.begin(&throttle_key, client) {
        Ok(attempt) => attempt,
        Err(r) => return refused(r, typed_email),
    };
    let user = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(match lookup {
                Some(e) => store::find_user_by_email(conn, e.as_str())?,
                None => None,
            })
        })
        .await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = turn.verify(form.password, stored).await.map_err(anyhow::Error::from)? && user.is_some();
    let now = Utc::now().naive_utc();
    let user_for_audit = user.clone();
    // What was typed is kept only when it is an email address: text that is not may be a
    // password typed into the wrong field, and the audit log is read by every admin.
    let label = email.as_ref().map_or_else(|| NOT_AN_EMAIL.to_owned(), |e| e.to_string());
    let client = store::SessionClient { ip: ip.clone(), user_agent: user_agent.clone() };
    let signed_in = state
        .db
        .write(move |conn| -> Result<PasswordChecked, ConsoleError> {
            let workspaces = match &user_for_audit {
                Some(u) => store::memberships_of(conn, u.id)?,
                None => Vec::new(),
            };
            let workspace_id = workspaces.first().map(|w| w.workspace_id);
            // With two-factor on, a right password only opens the second step, which audits
            // the sign-in's outcome.
            if let (true, Some(u)) = (ok, &user_for_audit)
                && two_factor::store::is_enabled(conn, u.id)?
            {
                return Ok(PasswordChecked::SecondStep { user_id: u.id, email: u.email.clone() });
            }
            let actor = Actor { user_id: user_for_audit.as_ref().map(|u| u.id), label, ip, user_agent };
            // A right password signs in even with no workspace left: such an account can still
            // accept an invitation (and sees a page saying so everywhere else).
            let action = if ok { "user.signed_in" } else { "user.sign_in_failed" };
            audit::record(
                conn,
                &actor,
                Event { workspace_id, action, key: None, details: String::new() },
                now,
            )?;
            match (ok, &user_for_audit) {
                (true, Some(u)) => Ok(PasswordChecked::SignedIn {
                    user_id: u.id,
                    sid: store::create_session(conn, u.id, &client, now)?,
                    workspace_id,
                }),
                _ => Ok(PasswordChecked::Failed),
            }
        })
        .await?;
    match signed_in {
        PasswordChecked::SignedIn { user_id, sid, workspace_id } => {
            state.login_throttle.succeeded(attempt);
            session.sign_in(user_id, &sid, workspace_id).map_err(anyhow::Error::from)?;
            Ok(see_other(&next))
        }
        PasswordChecked::SecondStep { user_id, email } => {
            // The password was right: the code has its own count against the same throttle.
            state.login_throttle.succeeded(attempt);
            super::two_factor::sign_in::begin(&session, user_id, &email, &next)?;
            Ok(see_other(super::two_factor::sign_in::PATH))
        }
        PasswordChecked::Failed => {
            tracing::warn!(ip = %ip_for_log, "sign-in failed");
            state.metrics.sign_in_failure(SignInFailure::Password);
            render_status(
                StatusCode::UNAUTHORIZED,
                &LoginPage {
                    ctx: PageCtx::anonymous(&session),
                    email: typed_email,
                    next: safe_next(&form.next).unwrap_or_default().to_owned(),
                    error: Some(BAD_CREDENTIALS.into()),
                },
            )
        }
    }
}

/// What the password step of a sign-in came to.
enum PasswordChecked {
    SignedIn {
        user_id: i64,
        sid: String,
        /// The first workspace, if the account still has one.
        workspace_id: Option<i64>,
    },
    /// A right password of an account with two-factor sign-in: the code comes next.
    SecondStep {
        user_id: i64,
        email: String,
    },
    Failed,
}

/// The sign-in page refusing an attempt: 429, `Retry-After`, and when to come back in words.
fn throttled(
    session: &TypedSession,
    email: String,
    next: &str,
    refused: Refused,
) -> Result<HttpResponse, ConsoleError> {
    let wait = refused.retry_after;
    let message = if wait < Duration::from_secs(60) {
        format!(
            "Too many failed sign-in attempts for this account from your network. Wait a moment: \
             try again {}.",
            describe_wait(wait)
        )
    } else {
        // Rounded up to the minute, so the time shown is never too early.
        let at = Utc::now()
            + chrono::TimeDelta::from_std(wait).unwrap_or_default()
            + chrono::TimeDelta::seconds(59);
        format!(
            "Too many failed sign-in attempts. Sign-in is paused for this account or network: \
             try again {} (after {} UTC).",
            describe_wait(wait),
            at.format("%H:%M")
        )
    };
    too_many(session, email, next, message, wait)
}

/// The sign-in page with a 429: what was typed kept (never the password), the reason above the
/// form, and `Retry-After`.
fn too_many(
    session: &TypedSession,
    email: String,
    next: &str,
    message: String,
    wait: Duration,
) -> Result<HttpResponse, ConsoleError> {
    let res = render_status(
        StatusCode::TOO_MANY_REQUESTS,
        &LoginPage {
            ctx: PageCtx::anonymous(session),
            email,
            next: safe_next(next).unwrap_or_default().to_owned(),
            error: Some(message),
        },
    )?;
    Ok(with_retry_after(res, wait))
}

#[derive(Deserialize)]
pub struct LogoutFormData {}

/// Ends the server-side session row, so a copy of the cookie is worthless afterwards.
pub async fn logout(
    state: web::Data<AppState>,
    session: TypedSession,
    CsrfForm(_): CsrfForm<LogoutFormData>,
) -> Result<HttpResponse, ConsoleError> {
    if let Some(sid) = session.session_id() {
        let now = Utc::now().naive_utc();
        state
            .db
            .write(move |conn| store::revoke_session(conn, &sid, now).map_err(ConsoleError::from))
            .await?;
    }
    session.purge();
    Ok(see_other("/signed-out"))
}

#[derive(Template)]
#[template(path = "auth/signed_out.html")]
pub struct SignedOutPage {
    pub ctx: PageCtx,
}

/// The confirmation after signing out: a page of its own, so that Back from it leads to pages
/// that (sent `no-store`) must be fetched again and now answer with the sign-in page.
pub async fn signed_out(session: TypedSession) -> Result<HttpResponse, ConsoleError> {
    render(&SignedOutPage { ctx: PageCtx::anonymous(&session) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_survive_as_next() {
        assert_eq!(safe_next("/settings/api-keys?status=all"), Some("/settings/api-keys?status=all"));
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "evil", "", "/a\nb"] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }
}
