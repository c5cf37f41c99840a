//! `GET/POST /settings/api-keys/{id}/regenerate`: a new secret with the same name,
//! permissions and expiry rule. The old hash is overwritten, so the old secret stops at once.

use actix_web::{HttpResponse, web};
use chrono::{NaiveDateTime, Utc};

use super::{ConfirmFormData, ConfirmPage, load_key, parse_key_id, reveal_next};
use crate::accounts::Capability;
use crate::console::csrf::CsrfForm;
use crate::console::dates::date;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render};
use crate::console::see_other;
use crate::console::session::TypedSession;
use crate::keys::ops::regenerate_refusal;
use crate::keys::store::KeyRow;
use crate::keys::{self, Expiry, KeyError};
use crate::state::AppState;

/// The expiry a regenerated secret gets, in words.
fn new_expiry_text(key: &KeyRow, now: NaiveDateTime) -> String {
    match Expiry::from_rule(&key.expiry_rule).expires_at(now) {
        Some(t) => format!("The new secret expires on {}, following the key's expiration rule.", date(t)),
        None => "The new secret never expires, like the old one.".into(),
    }
}

pub async fn key_regenerate_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let key = load_key(&state, member.workspace_id, &path).await?;
    let now = Utc::now().naive_utc();
    render(&ConfirmPage {
        ctx: PageCtx::for_member(&member, &session, "keys"),
        action: "regenerate",
        heading: format!("Regenerate key \u{201c}{}\u{201d}?", key.name),
        id: key.id,
        masked: key.masked(),
        status: key.status(now),
        consequences: vec![
            "A new secret replaces the current one. The current secret stops working immediately: every integration using it will fail until it is given the new key.".into(),
            "The name, permissions and rate limit stay the same.".into(),
            new_expiry_text(&key, now),
            "The new secret is shown once, on the next page.".into(),
        ],
        button: "Regenerate key",
        button_class: "btn-danger",
        refusal: regenerate_refusal(&key, now).map(|e| e.to_string()),
        name: key.name,
    })
}

pub async fn key_regenerate(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<ConfirmFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let id = parse_key_id(&path)?;
    match keys::ops::regenerate(&state.db, &member.actor(), member.workspace_id, id).await {
        Ok(issued) => reveal_next(&session, issued),
        Err(e @ (KeyError::NotFound | KeyError::Db(_))) => Err(e.into()),
        Err(refused) => {
            flash::push(session.inner(), Level::Error, refused.to_string());
            Ok(see_other("/settings/api-keys"))
        }
    }
}
