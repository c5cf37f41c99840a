//! `GET/POST /settings/api-keys/{id}/revoke`: the key stops working at once and stays listed
//! as Revoked, with when and by whom.

use actix_web::{HttpResponse, web};
use chrono::Utc;

use super::{ConfirmFormData, ConfirmPage, load_key, parse_key_id};
use crate::accounts::Capability;
use crate::console::csrf::CsrfForm;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render};
use crate::console::see_other;
use crate::console::session::TypedSession;
use crate::keys::ops::revoke_refusal;
use crate::keys::{self, Gone, KeyError};
use crate::state::AppState;

pub async fn key_revoke_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let key = load_key(&state, member.workspace_id, &path).await?;
    let now = Utc::now().naive_utc();
    let status = key.status(now);
    render(&ConfirmPage {
        ctx: PageCtx::for_member(&member, &session, "keys"),
        action: "revoke",
        heading: format!("Revoke key \u{201c}{}\u{201d}?", key.name),
        id: key.id,
        masked: key.masked(),
        status,
        consequences: vec![
            "The key stops working immediately: every integration using it will fail on its next request.".into(),
            "This cannot be undone. The key stays in the table as Revoked, and its history stays in the audit log.".into(),
        ],
        button: "Revoke key",
        button_class: "btn-danger",
        refusal: revoke_refusal(&key, now).map(|e| e.to_string()),
        choices: None,
        name: key.name,
    })
}

pub async fn key_revoke(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<ConfirmFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let id = parse_key_id(&path)?;
    let (level, message) = match keys::ops::revoke(&state.db, &member.actor(), member.workspace_id, id).await
    {
        Ok(Gone { name, masked }) => (
            Level::Success,
            format!("Revoked \u{201c}{name}\u{201d} ({masked}). Requests using it are refused from now on."),
        ),
        Err(refused @ KeyError::AlreadyRevoked { .. }) => (Level::Error, refused.to_string()),
        Err(e) => return Err(e.into()),
    };
    flash::push(session.inner(), level, message);
    Ok(see_other("/settings/api-keys"))
}
