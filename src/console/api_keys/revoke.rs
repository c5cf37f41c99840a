//! `GET/POST /settings/api-keys/{id}/revoke`: the key stops working at once and stays listed
//! as Revoked, with when and by whom.

use actix_web::{HttpResponse, web};
use chrono::Utc;

use super::{ConfirmFormData, ConfirmPage, load_key, parse_key_id};
use crate::accounts::Capability;
use crate::audit::{self, Event};
use crate::console::csrf::CsrfForm;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render};
use crate::console::see_other;
use crate::console::session::TypedSession;
use crate::keys::store::{self, Status};
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
        refusal: (status == Status::Revoked)
            .then(|| format!("\u{201c}{}\u{201d} is already revoked.", key.name)),
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
    let (ws, user_id, actor) = (member.workspace_id, member.user_id, member.actor());
    let now = Utc::now().naive_utc();
    let (name, masked, changed) = state
        .db
        .write(move |conn| -> Result<_, ConsoleError> {
            let key = store::find(conn, ws, id)?.ok_or(ConsoleError::NotFound)?;
            let changed = store::revoke(conn, ws, id, user_id, now)? > 0;
            if changed {
                let event = Event {
                    workspace_id: Some(ws),
                    action: "key.revoked",
                    key: Some(key.key_ref()),
                    details: String::new(),
                };
                audit::record(conn, &actor, event, now)?;
            }
            Ok((key.name.clone(), key.masked(), changed))
        })
        .await?;
    if changed {
        flash::push(
            session.inner(),
            Level::Success,
            format!("Revoked \u{201c}{name}\u{201d} ({masked}). Requests using it are refused from now on."),
        );
    } else {
        flash::push(session.inner(), Level::Error, format!("\u{201c}{name}\u{201d} was already revoked."));
    }
    Ok(see_other("/settings/api-keys"))
}
