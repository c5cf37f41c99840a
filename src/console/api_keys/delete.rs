//! `GET/POST /settings/api-keys/{id}/delete`: the key leaves the table; its audit trail
//! (name and masked key) stays.

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
use crate::keys::{self, Gone};
use crate::state::AppState;

pub async fn key_delete_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let key = load_key(&state, member.workspace_id, &path).await?;
    let now = Utc::now().naive_utc();
    let status = key.status(now);
    let mut consequences = Vec::new();
    if status != Status::Revoked {
        consequences.push(
            "The key stops working immediately: every integration using it will fail on its next request."
                .into(),
        );
    }
    consequences.push(
        "The key is removed from the table. This cannot be undone. Its history stays in the audit log."
            .into(),
    );
    if status == Status::Active {
        consequences.push("To stop the key but keep it listed, revoke it instead.".into());
    }
    render(&ConfirmPage {
        ctx: PageCtx::for_member(&member, &session, "keys"),
        action: "delete",
        heading: format!("Delete key \u{201c}{}\u{201d}?", key.name),
        id: key.id,
        masked: key.masked(),
        status,
        consequences,
        button: "Delete key",
        button_class: "btn-danger",
        refusal: None,
        choices: None,
        name: key.name,
    })
}

pub async fn key_delete(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<ConfirmFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let id = parse_key_id(&path)?;
    let Gone { name, masked } =
        keys::ops::delete(&state.db, &member.actor(), member.workspace_id, id).await?;
    flash::push(
        session.inner(),
        Level::Success,
        format!("Deleted \u{201c}{name}\u{201d} ({masked}). Its history remains in the audit log."),
    );
    Ok(see_other("/settings/api-keys"))
}
