//! Password resets: an owner makes a single-use link for a member of their workspace
//! (*Members → ⋯ → Reset password*), and whoever holds the link sets a new password at
//! `/password-reset/{token}`. The operator makes the same links with
//! `keyward admin reset-password`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::dates::Moment;
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::member::Member;
use super::members::parse_user_id;
use super::pages::{PageCtx, render, render_status, with_retry_after};
use super::see_other;
use super::session::{Delivery, TypedSession};
use super::sudo::{self, SudoField};
use crate::accounts::members::{self, MemberRow};
use crate::accounts::password_reset::{self, ResetProblem, ResetTarget};
use crate::accounts::password_work::PasswordWorkError;
use crate::accounts::throttle::describe_wait;
use crate::accounts::{Capability, Password, store};
use crate::audit::{self, Actor, Event};
use crate::state::AppState;
use crate::web::site_origin::SiteOrigin;

/// Registers the reset pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/settings/members/{user_id}/reset-password")
            .route(web::get().to(start_form))
            .route(web::post().to(start)),
    )
    .service(
        web::resource("/password-reset/{token}")
            .route(web::get().to(reset_form))
            .route(web::post().to(reset)),
    );
}

// ---------------------------------------------------------------- an owner starts a reset

#[derive(Template)]
#[template(path = "members/reset.html")]
pub struct StartPage {
    pub ctx: PageCtx,
    pub user_id: i64,
    pub email: String,
    pub workspace_name: String,
    /// Why this owner may not reset this member's password, if they may not.
    pub refused: Option<String>,
    pub sudo: SudoField,
}

#[derive(Template)]
#[template(path = "members/reset_link.html")]
pub struct LinkPage {
    pub ctx: PageCtx,
    pub email: String,
    pub link: String,
    pub expires: Moment,
    pub delivery: Delivery,
}

fn refusal(member: &Member, target: &MemberRow) -> String {
    if target.user_id == member.user_id {
        return "This is your own account: change your password under Your account instead.".into();
    }
    format!(
        "{} also belongs to a workspace you do not own, so a link from you would open that workspace \
         too. Ask them to change their password themselves, or ask whoever runs this keyward server to \
         run: keyward admin reset-password --email {}",
        target.email, target.email
    )
}

async fn load(state: &AppState, member: &Member, user_id: i64) -> Result<(MemberRow, bool), ConsoleError> {
    let ws = member.workspace_id;
    let me = member.user_id;
    state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            let target = members::find(conn, ws, user_id)?.ok_or(ConsoleError::NotFound)?;
            let allowed = password_reset::owner_may_reset(conn, me, user_id)?;
            Ok((target, allowed))
        })
        .await
}

pub async fn start_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let (target, allowed) = load(&state, &member, parse_user_id(&path)?).await?;
    render(&StartPage {
        ctx: PageCtx::for_member(&member, &session, "members"),
        user_id: target.user_id,
        refused: (!allowed).then(|| refusal(&member, &target)),
        email: target.email,
        workspace_name: member.workspace_name.clone(),
        sudo: SudoField::for_member(&member),
    })
}

#[derive(Default, Deserialize)]
pub struct StartForm {
    /// The password or a TOTP code, when the session's last proof is stale ([`sudo`]).
    #[serde(default)]
    pub confirm_identity: String,
}

pub async fn start(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    req: HttpRequest,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<StartForm>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let user_id = parse_user_id(&path)?;
    // Whoever holds the link chooses the member's password: as sensitive as a role change.
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (target, allowed) = load(&state, &member, user_id).await?;
        let (code, wait) = (field.status(), field.retry_after);
        let page = StartPage {
            ctx: PageCtx::for_member(&member, &session, "members"),
            user_id: target.user_id,
            refused: (!allowed).then(|| refusal(&member, &target)),
            email: target.email,
            workspace_name: member.workspace_name.clone(),
            sudo: field,
        };
        return Ok(sudo::with_wait(render_status(code, &page)?, wait));
    }
    let ws = member.workspace_id;
    let me = member.user_id;
    let actor = member.actor();
    let now = Utc::now().naive_utc();
    // Checked again inside the transaction: a membership may have changed since the page.
    let outcome = state
        .db
        .write(move |conn| -> Result<Result<(String, NaiveDateTime, String), MemberRow>, ConsoleError> {
            members::lock_workspace(conn, ws)?;
            let target = members::find(conn, ws, user_id)?.ok_or(ConsoleError::NotFound)?;
            if !password_reset::owner_may_reset(conn, me, user_id)? {
                return Ok(Err(target));
            }
            let (token, expires_at) = password_reset::start(conn, user_id, Some(me), now)?;
            let event = Event {
                workspace_id: Some(ws),
                action: "user.password_reset_started",
                key: None,
                details: format!("Made a password reset link for {} (valid for 1 hour)", target.email),
            };
            audit::record(conn, &actor, event, now)?;
            Ok(Ok((token, expires_at, target.email)))
        })
        .await?;
    let (token, expires_at, email) = match outcome {
        Ok(made) => made,
        Err(target) => {
            let page = StartPage {
                ctx: PageCtx::for_member(&member, &session, "members"),
                user_id: target.user_id,
                refused: Some(refusal(&member, &target)),
                email: target.email,
                workspace_name: member.workspace_name.clone(),
                sudo: SudoField::default(),
            };
            return render_status(StatusCode::FORBIDDEN, &page);
        }
    };
    let link =
        SiteOrigin::for_links(&req, &state.settings.trusted_proxies, state.settings.public_url.as_ref())
            .url(&format!("/password-reset/{token}"));
    // After the commit: a mail server that is down costs the email, not the link.
    let delivery = crate::mail::deliver(state.mailer.as_ref(), "password reset", || {
        reset_email(&member, &email, &link, expires_at)
    })
    .await;
    render(&LinkPage {
        ctx: PageCtx::for_member(&member, &session, "members"),
        email,
        link,
        expires: Moment::new(expires_at, now),
        delivery,
    })
}

/// The email a member receives: who started the reset, the link and when it stops working.
fn reset_email(owner: &Member, to: &str, link: &str, expires_at: NaiveDateTime) -> crate::mail::Message {
    let body = format!(
        "Hello,\n\n\
         {who}, an owner of the workspace \u{201c}{workspace}\u{201d} on keyward, made a link for you\n\
         to choose a new password:\n\n\
         {link}\n\n\
         The link works once, until {until}. Setting a new password signs out every session of\n\
         your account. Two-factor sign-in, if you use it, stays on.\n\n\
         If you did not ask for this, tell {who}: your current password keeps working as long as\n\
         the link is not used.\n",
        who = owner.email,
        workspace = owner.workspace_name,
        until = crate::text::exact_utc(expires_at),
    );
    crate::mail::Message { to: to.to_owned(), subject: "Choose a new keyward password".into(), body }
}

// ---------------------------------------------------------------- the link

#[derive(Default)]
pub struct ResetErrors {
    pub form: Option<String>,
    pub password: Option<String>,
    pub password_confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
pub struct ResetPage {
    pub ctx: PageCtx,
    pub token: String,
    pub email: String,
    pub errors: ResetErrors,
}

#[derive(Template)]
#[template(path = "auth/reset_problem.html")]
pub struct ProblemPage {
    pub ctx: PageCtx,
    pub title: &'static str,
    pub message: &'static str,
}

fn problem_page(session: &TypedSession, problem: ResetProblem) -> Result<HttpResponse, ConsoleError> {
    let (status, title, message) = match problem {
        ResetProblem::Unknown => (
            StatusCode::NOT_FOUND,
            "This reset link does not work",
            "No password reset was made with this link. Check that you copied all of it, or ask a \
             workspace owner for a new one.",
        ),
        ResetProblem::Expired => (
            StatusCode::GONE,
            "This reset link has expired",
            "Reset links work for one hour. Nothing was changed: your password is what it was. Ask a \
             workspace owner for a new link.",
        ),
        ResetProblem::Used => (
            StatusCode::GONE,
            "This reset link was already used",
            "Each reset link works once, and a newer link replaces an older one. Nothing was changed now. \
             If you did not set your password with it, ask a workspace owner for a new link and change \
             your password at once.",
        ),
    };
    render_status(status, &ProblemPage { ctx: PageCtx::anonymous(session), title, message })
}

async fn find(state: &AppState, token: String) -> Result<Result<ResetTarget, ResetProblem>, ConsoleError> {
    let now = Utc::now().naive_utc();
    state.db.run(move |conn| password_reset::find(conn, &token, now).map_err(ConsoleError::from)).await
}

pub async fn reset_form(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let token = path.into_inner();
    match find(&state, token.clone()).await? {
        Ok(target) => render(&ResetPage {
            ctx: PageCtx::anonymous(&session),
            token,
            email: target.email,
            errors: ResetErrors::default(),
        }),
        Err(problem) => problem_page(&session, problem),
    }
}

#[derive(Default, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_confirm: String,
}

pub async fn reset(
    state: web::Data<AppState>,
    session: TypedSession,
    req: HttpRequest,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Result<HttpResponse, ConsoleError> {
    let token = path.into_inner();
    let target = match find(&state, token.clone()).await? {
        Ok(target) => target,
        Err(problem) => return problem_page(&session, problem),
    };
    let mut errors = ResetErrors::default();
    let password = Password::choose(&form.password, &target.email)
        .map_err(|e| errors.password = Some(e.to_string()))
        .ok();
    if password.is_some() && form.password != form.password_confirm {
        errors.password_confirm = Some("The two passwords do not match.".into());
    }
    let Some(password) = password.filter(|_| errors.password_confirm.is_none()) else {
        let page = ResetPage { ctx: PageCtx::anonymous(&session), token, email: target.email, errors };
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let hash = match state.password_work.hash(password).await {
        Ok(hash) => hash,
        Err(PasswordWorkError::Busy(busy)) => {
            let errors = ResetErrors {
                form: Some(format!(
                    "The server is busy checking other passwords, so yours was not set. Try again {}.",
                    describe_wait(busy.retry_after)
                )),
                ..ResetErrors::default()
            };
            let page = ResetPage { ctx: PageCtx::anonymous(&session), token, email: target.email, errors };
            return Ok(with_retry_after(
                render_status(StatusCode::TOO_MANY_REQUESTS, &page)?,
                busy.retry_after,
            ));
        }
        Err(PasswordWorkError::Failed(e)) => return Err(anyhow::Error::from(e).into()),
    };
    let (ip, user_agent) = super::member::client_of(&req);
    let now = Utc::now().naive_utc();
    let done = state
        .db
        .write(move |conn| -> Result<Result<ResetTarget, ResetProblem>, ConsoleError> {
            let done = password_reset::complete(conn, &token, &hash, now)?;
            if let Ok(target) = &done {
                let actor = Actor {
                    user_id: Some(target.user_id),
                    label: target.email.clone(),
                    ip: ip.map(|i| i.to_string()),
                    user_agent,
                };
                let details = "Set a new password with a reset link; every session was signed out";
                store::record_account_event(
                    conn,
                    &actor,
                    target.user_id,
                    "user.password_reset",
                    details,
                    now,
                )?;
            }
            Ok(done)
        })
        .await?;
    match done {
        Ok(target) => {
            flash::push(
                session.inner(),
                Level::Success,
                format!("Your new password is set. Sign in as {} with it.", target.email),
            );
            Ok(see_other("/login"))
        }
        Err(problem) => problem_page(&session, problem),
    }
}
