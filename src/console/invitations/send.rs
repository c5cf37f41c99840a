//! The owner's side: `POST /settings/invitations` issues a link (and emails it when SMTP is
//! configured), `GET /settings/invitations/{id}/link` shows it once, and
//! `/settings/invitations/{id}/revoke` withdraws it after a confirmation page.
//!
//! The answer never depends on whether the email has an account: the same redirect, the same
//! page. Only a member of this very workspace is refused, which the owner can see anyway.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use crate::accounts::invitations::{self, Invitation, Invited, Revoked, Status};
use crate::accounts::{Capability, Email, Role};
use crate::console::api_keys::no_store;
use crate::console::csrf::CsrfForm;
use crate::console::dates::Moment;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::Member;
use crate::console::members::{InviteErrors, InviteFormData, members_page};
use crate::console::pages::{PageCtx, render, render_status};
use crate::console::see_other;
use crate::console::session::{Delivery, PendingInvitationLink, TypedSession};
use crate::db::DbError;
use crate::mail;
use crate::state::AppState;
use crate::web::site_origin::SiteOrigin;

fn parse_id(raw: &str) -> Result<i64, ConsoleError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(ConsoleError::NotFound)
}

pub async fn invitation_send(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    req: HttpRequest,
    CsrfForm(form): CsrfForm<InviteFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let mut errors = InviteErrors::default();
    let email = Email::parse(&form.email).map_err(|e| errors.email = Some(e.to_string())).ok();
    let role = form.role.parse::<Role>().map_err(|()| errors.role = Some("Choose a role.".into())).ok();
    let (Some(email), Some(role)) = (email, role) else {
        let role = if errors.role.is_some() { "" } else { form.role.as_str() };
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return members_page(&state, &member, &session, status, form.email.clone(), role, errors).await;
    };
    let (actor, ws, now) = (member.actor(), member.workspace_id, Utc::now().naive_utc());
    let to = email.clone();
    let invited = state
        .db
        .write(move |conn| invitations::invite(conn, &actor, ws, &to, role, now).map_err(ConsoleError::from))
        .await?;
    let Invited::Issued { id, token, expires_at, replaced } = invited else {
        errors.email = Some(format!("{email} is already a member of {}.", member.workspace_name));
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return members_page(&state, &member, &session, status, form.email.clone(), role.as_str(), errors)
            .await;
    };
    let link =
        SiteOrigin::for_links(&req, &state.settings.trusted_proxies, state.settings.public_url.as_ref())
            .url(&format!("/invitations/{token}"));
    // After the commit: a mail server that is down or slow costs the email, not the invitation.
    let delivery = mail::deliver(state.mailer.as_ref(), "invitation", || {
        invitation_email(&member, &email, role, &link, expires_at)
    })
    .await;
    let pending = PendingInvitationLink { invitation_id: id, link, delivery, replaced };
    session.set_pending_invitation_link(&pending).map_err(anyhow::Error::from)?;
    Ok(no_store(see_other(&format!("/settings/invitations/{id}/link"))))
}

/// The email an invitee receives: who invites them where, as what, the link and its end.
fn invitation_email(
    inviter: &Member,
    email: &Email,
    role: Role,
    link: &str,
    expires_at: NaiveDateTime,
) -> mail::Message {
    let workspace = &inviter.workspace_name;
    let body = format!(
        "Hello,\n\n\
         {who} invited you to join the workspace \u{201c}{workspace}\u{201d} on keyward, as {role}\n\
         ({what}).\n\n\
         To accept, open this link:\n\n\
         {link}\n\n\
         The link works once, until {until}. If you have no keyward account yet, you will\n\
         choose your own password; if you have one, sign in with it to accept.\n\n\
         If you did not expect this invitation, ignore this email: nothing happens unless the\n\
         link is opened and accepted.\n",
        who = inviter.email,
        what = role.description().trim_end_matches('.').to_lowercase(),
        until = crate::text::exact_utc(expires_at),
    );
    mail::Message {
        to: email.to_string(),
        subject: format!("{} invited you to {workspace} on keyward", inviter.email),
        body,
    }
}

#[derive(Template)]
#[template(path = "members/invitation_link.html")]
pub struct LinkPage {
    pub ctx: PageCtx,
    pub id: i64,
    pub email: String,
    pub role_label: &'static str,
    pub workspace_name: String,
    pub expires: Moment,
    pub pending: bool,
    /// The link, on the first view only.
    pub link: Option<String>,
    pub delivery: Delivery,
    pub replaced: bool,
}

/// The page after an invitation: its link, once.
pub async fn invitation_link(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let id = parse_id(&path)?;
    let invitation = find(&state, &member, id).await?;
    let shown = session.take_pending_invitation_link(id);
    let now = Utc::now().naive_utc();
    let page = LinkPage {
        ctx: PageCtx::for_member(&member, &session, "members"),
        id,
        role_label: invitation.role.label(),
        workspace_name: invitation.workspace_name,
        expires: Moment::new(invitation.expires_at, now),
        pending: invitation.accepted_at.is_none()
            && invitation.revoked_at.is_none()
            && invitation.expires_at > now,
        delivery: shown.as_ref().map_or(Delivery::NotConfigured, |s| s.delivery),
        replaced: shown.as_ref().is_some_and(|s| s.replaced),
        link: shown.map(|s| s.link),
        email: invitation.email,
    };
    render(&page).map(no_store)
}

async fn find(state: &AppState, member: &Member, id: i64) -> Result<Invitation, ConsoleError> {
    let ws = member.workspace_id;
    state
        .db
        .run(move |conn| invitations::find(conn, ws, id).map_err(DbError::from))
        .await?
        .ok_or(ConsoleError::NotFound)
}

// ---------------------------------------------------------------- revocation

#[derive(Template)]
#[template(path = "members/invitation_revoke.html")]
pub struct RevokePage {
    pub ctx: PageCtx,
    pub id: i64,
    pub email: String,
    pub role_label: &'static str,
    pub workspace_name: String,
    /// Why it cannot be revoked (accepted, revoked or expired already).
    pub refusal: Option<String>,
}

fn not_pending(invitation: &Invitation, status: Status) -> Option<String> {
    let email = &invitation.email;
    match status {
        Status::Pending => None,
        Status::Accepted => Some(format!(
            "{email} has already accepted this invitation. To take their access away, remove them \
             from the members list."
        )),
        Status::Revoked => Some(format!("The invitation of {email} was already revoked.")),
        Status::Expired => Some(format!("The invitation of {email} has expired: its link no longer works.")),
    }
}

pub async fn invitation_revoke_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let invitation = find(&state, &member, parse_id(&path)?).await?;
    let refusal = not_pending(&invitation, invitation.status(Utc::now().naive_utc()));
    render(&RevokePage {
        ctx: PageCtx::for_member(&member, &session, "members"),
        id: invitation.id,
        role_label: invitation.role.label(),
        workspace_name: invitation.workspace_name,
        email: invitation.email,
        refusal,
    })
}

#[derive(Deserialize)]
pub struct RevokeFormData {}

pub async fn invitation_revoke(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<RevokeFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let id = parse_id(&path)?;
    let (actor, ws, now) = (member.actor(), member.workspace_id, Utc::now().naive_utc());
    let outcome = state
        .db
        .write(move |conn| invitations::revoke(conn, &actor, ws, id, now).map_err(ConsoleError::from))
        .await?
        .ok_or(ConsoleError::NotFound)?;
    match outcome {
        Revoked::Revoked(invitation) => {
            let message =
                format!("Revoked the invitation of {}: its link no longer works.", invitation.email);
            flash::push(session.inner(), Level::Success, message);
            Ok(see_other("/settings/members"))
        }
        Revoked::NotPending(invitation, status) => render_status(
            StatusCode::CONFLICT,
            &RevokePage {
                ctx: PageCtx::for_member(&member, &session, "members"),
                id: invitation.id,
                role_label: invitation.role.label(),
                refusal: not_pending(&invitation, status),
                workspace_name: invitation.workspace_name,
                email: invitation.email,
            },
        ),
    }
}
