//! The invitee's side: `GET /invitations/{token}` shows the invitation and what to do, and
//! `POST` accepts it. What the page offers depends on the email, never on what the visitor
//! asks for:
//!
//! - no account has the email: a form for the invitee's own password, which creates the
//!   account, the membership and a sign-in session in one transaction;
//! - an account has it, and it is the one signed in: an Accept button;
//! - an account has it and nobody is signed in: a link to sign in and come back;
//! - someone else is signed in: why they cannot accept, and a way to sign out.
//!
//! An invitation never sets the password of an existing account. A link that is unknown
//! (404), expired, revoked or used (410) gets a page that says which, and changes nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use crate::accounts::invitations::{self, Acceptance, Invitation, Unusable};
use crate::accounts::password_work::PasswordWorkError;
use crate::accounts::throttle::describe_wait;
use crate::accounts::{Password, store};
use crate::console::api_keys::no_store;
use crate::console::csrf::CsrfForm;
use crate::console::dates::Moment;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::{Visitor, client_of};
use crate::console::pages::{PageCtx, render_status, with_retry_after};
use crate::console::see_other;
use crate::console::session::TypedSession;
use crate::db::DbError;
use crate::state::AppState;

/// What the page offers the visitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// No account has the email: choose a password.
    NewAccount,
    /// Signed in as the invited account: accept with one button.
    Accept,
    /// The invited account exists; nobody is signed in.
    SignIn,
    /// Signed in as another account.
    OtherAccount,
}

#[derive(Default)]
pub struct AcceptErrors {
    /// About the form as a whole, shown above it.
    pub form: Option<String>,
    pub password: Option<String>,
    pub password_confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "invitations/accept.html")]
pub struct AcceptPage {
    pub ctx: PageCtx,
    pub token: String,
    pub email: String,
    pub workspace_name: String,
    pub role_label: &'static str,
    pub role_description: &'static str,
    pub invited_by: String,
    pub expires: Moment,
    pub offer: Offer,
    /// The signed-in user's email, when someone is signed in.
    pub signed_in_as: Option<String>,
    pub errors: AcceptErrors,
}

#[derive(Template)]
#[template(path = "invitations/gone.html")]
pub struct GonePage {
    pub ctx: PageCtx,
    pub heading: &'static str,
    pub reason: String,
    /// Whether to offer the sign-in page (a used link was perhaps used by the visitor).
    pub offer_sign_in: bool,
}

#[derive(Default, Deserialize)]
pub struct AcceptFormData {
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_confirm: String,
}

fn ctx(member: Option<&Visitor>, session: &TypedSession) -> PageCtx {
    match member.and_then(Visitor::member) {
        Some(m) => PageCtx::for_member(m, session, ""),
        None => PageCtx::anonymous(session),
    }
}

/// The invitation a token names, and whether an account has its email.
async fn load(state: &AppState, token: &str) -> Result<Option<(Invitation, bool)>, ConsoleError> {
    let token = token.to_owned();
    Ok(state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let Some(invitation) = invitations::find_by_token(conn, &token)? else { return Ok(None) };
            let has_account = store::find_user_by_email(conn, &invitation.email)?.is_some();
            Ok(Some((invitation, has_account)))
        })
        .await?)
}

/// The page for a link that cannot be used: 404 when unknown, 410 when it once worked.
fn gone(
    member: Option<&Visitor>,
    session: &TypedSession,
    why: Unusable,
    invitation: Option<&Invitation>,
) -> Result<HttpResponse, ConsoleError> {
    let workspace = invitation.map_or_else(|| "the workspace".to_owned(), |i| i.workspace_name.clone());
    let inviter = invitation.and_then(|i| i.invited_by.clone()).map_or_else(
        || format!("an owner of {workspace}"),
        |by| format!("{by} (or another owner of {workspace})"),
    );
    let (status, heading, reason, offer_sign_in) = match why {
        Unusable::Unknown => (
            StatusCode::NOT_FOUND,
            "This invitation link is not valid",
            "No invitation matches this link. Check that you opened or copied all of it; if it still \
             does not work, ask the owner who invited you for a new invitation."
                .to_owned(),
            false,
        ),
        Unusable::Expired => (
            StatusCode::GONE,
            "This invitation has expired",
            format!(
                "An invitation works for {} days, and this one to {workspace} has run out. Ask {inviter} \
                 for a new invitation: its link will work.",
                invitations::VALID_FOR.num_days()
            ),
            false,
        ),
        Unusable::Revoked => (
            StatusCode::GONE,
            "This invitation was revoked",
            format!(
                "It was withdrawn, or replaced by a newer invitation (whose link works instead). If \
                 you still expect to join {workspace}, ask {inviter} for a new invitation."
            ),
            false,
        ),
        Unusable::Used => (
            StatusCode::GONE,
            "This invitation has already been used",
            format!(
                "An invitation link works once, and this one to {workspace} has been accepted. If that \
                 was you, sign in. If not, ask {inviter} for a new invitation."
            ),
            true,
        ),
    };
    let page = GonePage { ctx: ctx(member, session), heading, reason, offer_sign_in };
    render_status(status, &page).map(no_store)
}

fn offer_for(has_account: bool, invitation: &Invitation, member: Option<&Visitor>) -> Offer {
    match (has_account, member) {
        (false, _) => Offer::NewAccount,
        (true, Some(v)) if v.email() == invitation.email => Offer::Accept,
        (true, Some(_)) => Offer::OtherAccount,
        (true, None) => Offer::SignIn,
    }
}

#[expect(clippy::too_many_arguments, reason = "one page, its inputs as the handlers hold them")]
fn page(
    status: StatusCode,
    member: Option<&Visitor>,
    session: &TypedSession,
    token: &str,
    invitation: &Invitation,
    offer: Offer,
    errors: AcceptErrors,
    now: NaiveDateTime,
) -> Result<HttpResponse, ConsoleError> {
    let page = AcceptPage {
        ctx: ctx(member, session),
        token: token.to_owned(),
        email: invitation.email.clone(),
        workspace_name: invitation.workspace_name.clone(),
        role_label: invitation.role.label(),
        role_description: invitation.role.description(),
        invited_by: invitation.invited_by.clone().unwrap_or_else(|| "An owner".into()),
        expires: Moment::new(invitation.expires_at, now),
        offer,
        signed_in_as: member.map(|v| v.email().to_owned()),
        errors,
    };
    // The page's address is the link itself: never kept by the browser or a cache.
    render_status(status, &page).map(no_store)
}

pub async fn invitation_show(
    state: web::Data<AppState>,
    session: TypedSession,
    member: Option<Visitor>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let token = path.into_inner();
    let now = Utc::now().naive_utc();
    let Some((invitation, has_account)) = load(&state, &token).await? else {
        return gone(member.as_ref(), &session, Unusable::Unknown, None);
    };
    if let Some(why) = invitation.unusable(now) {
        return gone(member.as_ref(), &session, why, Some(&invitation));
    }
    let offer = offer_for(has_account, &invitation, member.as_ref());
    page(StatusCode::OK, member.as_ref(), &session, &token, &invitation, offer, AcceptErrors::default(), now)
}

pub async fn invitation_accept(
    state: web::Data<AppState>,
    session: TypedSession,
    member: Option<Visitor>,
    req: HttpRequest,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<AcceptFormData>,
) -> Result<HttpResponse, ConsoleError> {
    let token = path.into_inner();
    let now = Utc::now().naive_utc();
    let member = member.as_ref();
    let Some((invitation, has_account)) = load(&state, &token).await? else {
        return gone(member, &session, Unusable::Unknown, None);
    };
    if let Some(why) = invitation.unusable(now) {
        return gone(member, &session, why, Some(&invitation));
    }
    match offer_for(has_account, &invitation, member) {
        Offer::NewAccount => accept_new(&state, &session, member, &req, &token, &invitation, form, now).await,
        Offer::Accept => match member {
            Some(member) => accept_existing(&state, &session, member, &token, &invitation, now).await,
            None => Err(ConsoleError::NotFound),
        },
        // Only the invited account may accept, and only by signing in: nothing here changes.
        offer @ (Offer::SignIn | Offer::OtherAccount) => page(
            StatusCode::FORBIDDEN,
            member,
            &session,
            &token,
            &invitation,
            offer,
            AcceptErrors::default(),
            now,
        ),
    }
}

/// Accepting as the signed-in invited account: the membership, and that workspace becomes the
/// current one.
async fn accept_existing(
    state: &AppState,
    session: &TypedSession,
    member: &Visitor,
    token: &str,
    invitation: &Invitation,
    now: NaiveDateTime,
) -> Result<HttpResponse, ConsoleError> {
    let actor = member.account().actor();
    let t = token.to_owned();
    let outcome = state
        .db
        .write(move |conn| invitations::accept_as(conn, &t, &actor, now).map_err(ConsoleError::from))
        .await?;
    match outcome {
        Acceptance::Joined(joined) => {
            session.set_workspace_id(joined.workspace_id).map_err(anyhow::Error::from)?;
            let message = if joined.already_member {
                format!(
                    "You were already a member of {}; your role there stays as it was.",
                    joined.workspace_name
                )
            } else {
                format!("You joined {} as {}.", joined.workspace_name, joined.role)
            };
            flash::push(session.inner(), Level::Success, message);
            Ok(see_other("/settings/api-keys"))
        }
        Acceptance::Unusable(why) => gone(Some(member), session, why, Some(invitation)),
        Acceptance::AccountExists | Acceptance::WrongAccount => {
            let (status, offer) = (StatusCode::FORBIDDEN, Offer::OtherAccount);
            page(status, Some(member), session, token, invitation, offer, AcceptErrors::default(), now)
        }
    }
}

/// Accepting with a new account: the password checked and hashed (taking a turn of the bounded
/// password work, like every password a request hashes), then everything in one transaction
/// that checks the link again.
#[expect(clippy::too_many_arguments, reason = "the handler's inputs, passed on")]
async fn accept_new(
    state: &AppState,
    session: &TypedSession,
    member: Option<&Visitor>,
    req: &HttpRequest,
    token: &str,
    invitation: &Invitation,
    form: AcceptFormData,
    now: NaiveDateTime,
) -> Result<HttpResponse, ConsoleError> {
    let mut errors = AcceptErrors::default();
    // The rules for a password someone chooses for their own account, as everywhere else.
    let password = Password::choose(&form.password, &invitation.email)
        .map_err(|e| errors.password = Some(e.to_string()))
        .ok();
    if password.is_some() && form.password != form.password_confirm {
        errors.password_confirm = Some("The two passwords do not match.".into());
    }
    let (Some(password), None) = (password, &errors.password_confirm) else {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return page(status, member, session, token, invitation, Offer::NewAccount, errors, now);
    };
    let hash = match state.password_work.hash(password).await {
        Ok(hash) => hash,
        Err(PasswordWorkError::Busy(busy)) => {
            let errors = AcceptErrors {
                form: Some(format!(
                    "The server is busy checking other passwords, so your account was not created. \
                     Try again {}.",
                    describe_wait(busy.retry_after)
                )),
                ..AcceptErrors::default()
            };
            let status = StatusCode::TOO_MANY_REQUESTS;
            let res = page(status, member, session, token, invitation, Offer::NewAccount, errors, now)?;
            return Ok(with_retry_after(res, busy.retry_after));
        }
        Err(PasswordWorkError::Failed(e)) => return Err(anyhow::Error::from(e).into()),
    };
    let (ip, user_agent) = client_of(req);
    let client = store::SessionClient { ip: ip.map(|c| c.to_string()), user_agent };
    let previous = session.session_id();
    let t = token.to_owned();
    let outcome = state
        .db
        .write(move |conn| -> Result<_, ConsoleError> {
            let outcome = invitations::accept_with_new_account(conn, &t, &hash, &client, now)?;
            // Whoever was signed in in this browser is signed out by the new session: end
            // their session row too, so the replaced cookie is worth nothing anywhere.
            if let (Acceptance::Joined(_), Some(previous)) = (&outcome, previous) {
                store::revoke_session(conn, &previous, now)?;
            }
            Ok(outcome)
        })
        .await?;
    match outcome {
        Acceptance::Joined(joined) => {
            let sid = joined.session_id.ok_or_else(|| anyhow::anyhow!("a new account without a session"))?;
            session.sign_in(joined.user_id, &sid, Some(joined.workspace_id)).map_err(anyhow::Error::from)?;
            let message = format!(
                "Welcome to keyward. You are now {} in {}: you can sign in with {} and the password you \
                 chose.",
                joined.role, joined.workspace_name, invitation.email
            );
            flash::push(session.inner(), Level::Success, message);
            Ok(see_other("/settings/api-keys"))
        }
        Acceptance::Unusable(why) => gone(member, session, why, Some(invitation)),
        // The account appeared meanwhile: its owner signs in to accept, and the password typed
        // here is not used.
        Acceptance::AccountExists | Acceptance::WrongAccount => {
            let offer = offer_for(true, invitation, member);
            let errors = AcceptErrors {
                form: Some(format!(
                    "An account with {} exists now, so the password you typed was not used. Sign in \
                     to that account to accept.",
                    invitation.email
                )),
                ..AcceptErrors::default()
            };
            page(StatusCode::CONFLICT, member, session, token, invitation, offer, errors, now)
        }
    }
}
