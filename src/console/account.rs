//! *Your account*: the signed-in user's own password and sessions, whatever their role.
//! Changing the password needs the current one and ends every other session; the sessions
//! page lists where the account is signed in and ends one or all of the others.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::dates::Moment;
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::member::{Member, client_of};
use super::pages::{PageCtx, render, render_status, with_retry_after};
use super::see_other;
use super::session::TypedSession;
use crate::accounts::password_reset::{end_sessions, set_password};
use crate::accounts::password_work::PasswordWorkError;
use crate::accounts::sessions::{self, SessionSummary, describe_user_agent};
use crate::accounts::throttle::describe_wait;
use crate::accounts::{Password, store};
use crate::db::DbError;
use crate::state::AppState;

/// Registers the account pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/account", web::get().to(account_page))
        .route("/settings/account/password", web::post().to(change_password))
        .route("/settings/account/sessions", web::get().to(sessions_page))
        .route("/settings/account/sessions/end", web::post().to(end_session))
        .route("/settings/account/sessions/end-others", web::post().to(end_other_sessions));
}

// ---------------------------------------------------------------- password

#[derive(Default, Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
    #[serde(default)]
    pub new_password_confirm: String,
}

#[derive(Default)]
pub struct PasswordErrors {
    /// About the form as a whole (the server too busy to check).
    pub form: Option<String>,
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    pub new_password_confirm: Option<String>,
}

impl PasswordErrors {
    fn any(&self) -> bool {
        self.form.is_some()
            || self.current_password.is_some()
            || self.new_password.is_some()
            || self.new_password_confirm.is_some()
    }
}

#[derive(Template)]
#[template(path = "account/index.html")]
pub struct AccountPage {
    pub ctx: PageCtx,
    pub email: String,
    pub password_changed: Option<Moment>,
    pub two_factor: bool,
    pub session_count: usize,
    pub errors: PasswordErrors,
}

struct AccountFacts {
    password_changed_at: Option<NaiveDateTime>,
    two_factor: bool,
    session_count: usize,
}

async fn account_facts(state: &AppState, member: &Member) -> Result<AccountFacts, ConsoleError> {
    let user_id = member.user_id;
    let (idle, absolute) = session_limits(state);
    let now = Utc::now().naive_utc();
    state
        .db
        .run(move |conn| -> Result<AccountFacts, DbError> {
            let user = store::find_user(conn, user_id)?.ok_or(diesel::result::Error::NotFound)?;
            let session_count = sessions::live(conn, user_id, now, idle, absolute)?.len();
            Ok(AccountFacts {
                password_changed_at: user.password_changed_at,
                two_factor: user.totp_enabled_at.is_some(),
                session_count,
            })
        })
        .await
        .map_err(ConsoleError::from)
}

async fn account_response(
    state: &AppState,
    member: &Member,
    session: &TypedSession,
    status: StatusCode,
    errors: PasswordErrors,
) -> Result<HttpResponse, ConsoleError> {
    let facts = account_facts(state, member).await?;
    let now = Utc::now().naive_utc();
    render_status(
        status,
        &AccountPage {
            ctx: PageCtx::for_member(member, session, "account"),
            email: member.email.clone(),
            password_changed: facts.password_changed_at.map(|t| Moment::new(t, now)),
            two_factor: facts.two_factor,
            session_count: facts.session_count,
            errors,
        },
    )
}

pub async fn account_page(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    account_response(&state, &member, &session, StatusCode::OK, PasswordErrors::default()).await
}

pub const WRONG_CURRENT_PASSWORD: &str = "That is not your current password. Nothing was changed.";

pub async fn change_password(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    req: HttpRequest,
    CsrfForm(form): CsrfForm<ChangePasswordForm>,
) -> Result<HttpResponse, ConsoleError> {
    let mut errors = PasswordErrors::default();
    if form.current_password.is_empty() {
        errors.current_password = Some("Enter your current password.".into());
    }
    let new = Password::choose(&form.new_password, &member.email)
        .map_err(|e| errors.new_password = Some(e.to_string()))
        .ok();
    if new.is_some() && form.new_password != form.new_password_confirm {
        errors.new_password_confirm = Some("The two new passwords do not match.".into());
    }
    if new.is_some() && form.new_password == form.current_password {
        errors.new_password = Some("The new password is the one you have now. Choose another.".into());
    }
    let (Some(new), false) = (new, errors.any()) else {
        return account_response(&state, &member, &session, StatusCode::UNPROCESSABLE_ENTITY, errors).await;
    };
    // A wrong current password is a failed sign-in for the throttle: this form must not be a
    // way to guess the password of a session left open.
    let (client, _) = client_of(&req);
    let busy = |wait: std::time::Duration| PasswordErrors {
        form: Some(format!(
            "The server is busy checking other passwords, so yours was not changed. Try again {}.",
            describe_wait(wait)
        )),
        ..PasswordErrors::default()
    };
    if let Err(refused) = state.login_throttle.check(&member.email, client) {
        let errors = PasswordErrors {
            current_password: Some(format!(
                "Too many wrong passwords for this account. Try again {}.",
                describe_wait(refused.retry_after)
            )),
            ..PasswordErrors::default()
        };
        let page = account_response(&state, &member, &session, StatusCode::TOO_MANY_REQUESTS, errors).await?;
        return Ok(with_retry_after(page, refused.retry_after));
    }
    let turn = match state.password_work.turn().await {
        Ok(turn) => turn,
        Err(b) => {
            let page = account_response(
                &state,
                &member,
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                busy(b.retry_after),
            )
            .await?;
            return Ok(with_retry_after(page, b.retry_after));
        }
    };
    let attempt = match state.login_throttle.begin(&member.email, client) {
        Ok(attempt) => attempt,
        Err(refused) => {
            let page = account_response(
                &state,
                &member,
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                busy(refused.retry_after),
            )
            .await?;
            return Ok(with_retry_after(page, refused.retry_after));
        }
    };
    let user_id = member.user_id;
    let stored = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(store::find_user(conn, user_id)?.map(|u| u.password_hash))
        })
        .await?;
    let right = turn.verify(form.current_password, stored).await.map_err(anyhow::Error::from)?;
    if !right {
        let errors = PasswordErrors {
            current_password: Some(WRONG_CURRENT_PASSWORD.into()),
            ..PasswordErrors::default()
        };
        return account_response(&state, &member, &session, StatusCode::UNPROCESSABLE_ENTITY, errors).await;
    }
    state.login_throttle.succeeded(attempt);
    let hash = match state.password_work.hash(new).await {
        Ok(hash) => hash,
        Err(PasswordWorkError::Busy(b)) => {
            let page = account_response(
                &state,
                &member,
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                busy(b.retry_after),
            )
            .await?;
            return Ok(with_retry_after(page, b.retry_after));
        }
        Err(PasswordWorkError::Failed(e)) => return Err(anyhow::Error::from(e).into()),
    };
    let actor = member.actor();
    let keep = store::session_key(&member.session_id);
    let now = Utc::now().naive_utc();
    let ended = state
        .db
        .write(move |conn| -> Result<usize, ConsoleError> {
            set_password(conn, user_id, &hash, now)?;
            let ended = end_sessions(conn, user_id, Some(&keep), now)?;
            let details = format!("Changed their password; {}", sessions_ended(ended));
            store::record_account_event(conn, &actor, user_id, "user.password_changed", &details, now)?;
            Ok(ended)
        })
        .await?;
    let message = format!("Your password was changed. {}.", capitalise(&sessions_ended(ended)));
    flash::push(session.inner(), Level::Success, message);
    Ok(see_other("/settings/account"))
}

/// "2 other sessions were signed out" / "no other session was signed in".
fn sessions_ended(n: usize) -> String {
    match n {
        0 => "no other session was signed in".into(),
        1 => "1 other session was signed out".into(),
        n => format!("{n} other sessions were signed out"),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

// ---------------------------------------------------------------- sessions

/// One row of the sessions table.
pub struct SessionView {
    pub key: String,
    pub browser: String,
    pub ip: String,
    pub started: Moment,
    pub last_seen: Moment,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
pub struct SessionsPage {
    pub ctx: PageCtx,
    pub sessions: Vec<SessionView>,
    pub others: usize,
}

fn session_limits(state: &AppState) -> (TimeDelta, TimeDelta) {
    (
        TimeDelta::from_std(state.settings.session_idle_timeout).unwrap_or(TimeDelta::hours(12)),
        TimeDelta::from_std(state.settings.session_absolute_timeout).unwrap_or(TimeDelta::days(7)),
    )
}

pub async fn sessions_page(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    let user_id = member.user_id;
    let (idle, absolute) = session_limits(&state);
    let now = Utc::now().naive_utc();
    let rows = state
        .db
        .run(move |conn| sessions::live(conn, user_id, now, idle, absolute).map_err(DbError::from))
        .await?;
    let mine = store::session_key(&member.session_id);
    let mut views: Vec<SessionView> = rows.iter().map(|s| session_view(s, &mine, now)).collect();
    // This browser first: it is the one people look for.
    views.sort_by_key(|v| !v.current);
    let others = views.iter().filter(|v| !v.current).count();
    render(&SessionsPage { ctx: PageCtx::for_member(&member, &session, "account"), sessions: views, others })
}

fn session_view(s: &SessionSummary, mine: &str, now: NaiveDateTime) -> SessionView {
    SessionView {
        key: s.key.clone(),
        browser: describe_user_agent(s.user_agent.as_deref()),
        ip: s.ip.clone().unwrap_or_else(|| "unknown".into()),
        started: Moment::new(s.created_at, now),
        last_seen: Moment::new(s.last_seen_at, now),
        current: s.key == mine,
    }
}

#[derive(Default, Deserialize)]
pub struct EndSessionForm {
    #[serde(default)]
    pub session: String,
}

/// Signs out one session of the user's (this one too, when chosen: that is signing out).
pub async fn end_session(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<EndSessionForm>,
) -> Result<HttpResponse, ConsoleError> {
    let key = form.session.trim().to_owned();
    let current = key == store::session_key(&member.session_id);
    let user_id = member.user_id;
    let actor = member.actor();
    let now = Utc::now().naive_utc();
    let ended = state
        .db
        .write(move |conn| -> Result<Option<SessionSummary>, ConsoleError> {
            let Some(ended) = sessions::end_one(conn, user_id, &key, now)? else { return Ok(None) };
            let details = format!(
                "Signed out the session of {} from {}",
                describe_user_agent(ended.user_agent.as_deref()),
                ended.ip.as_deref().unwrap_or("an unknown address")
            );
            store::record_account_event(conn, &actor, user_id, "session.revoked", &details, now)?;
            Ok(Some(ended))
        })
        .await?;
    let Some(ended) = ended else {
        flash::push(session.inner(), Level::Error, "That session had already ended.");
        return Ok(see_other("/settings/account/sessions"));
    };
    if current {
        session.purge();
        return Ok(see_other("/signed-out"));
    }
    let message = format!(
        "Signed out {} ({}). That browser must sign in again.",
        describe_user_agent(ended.user_agent.as_deref()),
        ended.ip.as_deref().unwrap_or("unknown address")
    );
    flash::push(session.inner(), Level::Success, message);
    Ok(see_other("/settings/account/sessions"))
}

#[derive(Deserialize)]
pub struct EndOthersForm {}

pub async fn end_other_sessions(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(_): CsrfForm<EndOthersForm>,
) -> Result<HttpResponse, ConsoleError> {
    let user_id = member.user_id;
    let keep = store::session_key(&member.session_id);
    let actor = member.actor();
    let now = Utc::now().naive_utc();
    let ended = state
        .db
        .write(move |conn| -> Result<usize, ConsoleError> {
            let ended = end_sessions(conn, user_id, Some(&keep), now)?;
            if ended > 0 {
                let details = format!("Signed out every other session ({ended})");
                store::record_account_event(conn, &actor, user_id, "session.revoked", &details, now)?;
            }
            Ok(ended)
        })
        .await?;
    let message = match ended {
        0 => "No other session was signed in.".to_owned(),
        n => format!("{}. Only this browser is signed in now.", capitalise(&sessions_ended(n))),
    };
    flash::push(session.inner(), Level::Success, message);
    Ok(see_other("/settings/account/sessions"))
}
