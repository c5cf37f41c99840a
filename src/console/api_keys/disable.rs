//! `GET/POST /settings/api-keys/{id}/disable` and `POST …/enable`: a reversible stop. A
//! disabled key answers 401 `disabled_key` until it is enabled again, keeping its secret;
//! revocation, by contrast, is final.

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
use crate::keys::store::Status;
use crate::keys::{self, Gone, KeyError};
use crate::state::AppState;

pub async fn key_disable_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let key = load_key(&state, member.workspace_id, &path).await?;
    let now = Utc::now().naive_utc();
    let status = key.status(now);
    let refusal = match status {
        Status::Revoked => Some(KeyError::RevokedCannotChange { name: key.name.clone() }.to_string()),
        _ if key.disabled_at.is_some() => {
            Some(KeyError::AlreadyDisabled { name: key.name.clone() }.to_string())
        }
        _ => None,
    };
    let mut consequences = vec![
        "The key stops working immediately: every integration using it is refused (401 disabled_key) from its next request.".into(),
        "You can enable it again at any time: it keeps its secret, permissions and expiry, and works again at once.".into(),
    ];
    if let Some((masked, _)) = key.previous_secret(now) {
        consequences.push(format!("Its replaced secret ({masked}), still in its grace period, stops too."));
    }
    render(&ConfirmPage {
        ctx: PageCtx::for_member(&member, &session, "keys"),
        action: "disable",
        heading: format!("Disable key \u{201c}{}\u{201d}?", key.name),
        id: key.id,
        masked: key.masked(),
        status,
        consequences,
        button: "Disable key",
        button_class: "btn-danger",
        refusal,
        choices: None,
        name: key.name,
    })
}

pub async fn key_disable(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<ConfirmFormData>,
) -> Result<HttpResponse, ConsoleError> {
    switch(&state, &member, &session, &path, true).await
}

pub async fn key_enable(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<ConfirmFormData>,
) -> Result<HttpResponse, ConsoleError> {
    switch(&state, &member, &session, &path, false).await
}

/// Disables or enables the key and says so on the table.
async fn switch(
    state: &AppState,
    member: &Member,
    session: &TypedSession,
    raw_id: &str,
    disable: bool,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let id = parse_key_id(raw_id)?;
    let (db, actor, ws) = (&state.db, member.actor(), member.workspace_id);
    let outcome = if disable {
        keys::ops::disable(db, &actor, ws, id).await
    } else {
        keys::ops::enable(db, &actor, ws, id).await
    };
    let (level, message) = match outcome {
        Ok(Gone { name, masked }) if disable => (
            Level::Success,
            format!(
                "Disabled \u{201c}{name}\u{201d} ({masked}). Requests using it are refused until you enable it."
            ),
        ),
        Ok(Gone { name, masked }) => (
            Level::Success,
            format!("Enabled \u{201c}{name}\u{201d} ({masked}). It works again from now on."),
        ),
        Err(e @ (KeyError::NotFound | KeyError::Db(_))) => return Err(e.into()),
        Err(refused) => (Level::Error, refused.to_string()),
    };
    flash::push(session.inner(), level, message);
    Ok(see_other("/settings/api-keys"))
}
