//! `GET/POST /settings/api-keys/{id}/regenerate`: a new secret with the same name,
//! permissions and expiry rule. The old hash is overwritten, so the old secret stops at once.

use actix_web::{HttpResponse, web};
use chrono::{NaiveDateTime, Utc};

use super::{ConfirmFormData, ConfirmPage, date, load_key, no_store, parse_key_id};
use crate::accounts::Capability;
use crate::audit::{self, Event};
use crate::console::csrf::CsrfForm;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render};
use crate::console::see_other;
use crate::console::session::{PendingReveal, TypedSession};
use crate::keys::store::{self, KeyRow, Status};
use crate::keys::{ApiKey, Expiry};
use crate::state::AppState;

/// Why a key cannot be regenerated, if it cannot.
fn refusal(key: &KeyRow, now: NaiveDateTime) -> Option<String> {
    if key.status(now) == Status::Revoked {
        return Some(format!(
            "\u{201c}{}\u{201d} is revoked, so it cannot be regenerated. Create a new key instead.",
            key.name
        ));
    }
    if let Expiry::Until(d) = Expiry::from_rule(&key.expiry_rule)
        && d < now.date()
    {
        return Some(format!(
            "\u{201c}{}\u{201d} was set to expire on a fixed date ({}) that has passed. Create a new key with a new date instead.",
            key.name,
            d.format("%-d %b %Y")
        ));
    }
    None
}

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
        refusal: refusal(&key, now),
        name: key.name,
    })
}

enum Outcome {
    Done(i64),
    Refused(String),
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
    let ws = member.workspace_id;
    let actor = member.actor();
    let secret = ApiKey::generate();
    let (hash_secret, new_masked) = (secret.clone(), secret.masked());
    let now = Utc::now().naive_utc();
    let outcome = state
        .db
        .write(move |conn| -> Result<Outcome, ConsoleError> {
            let key = store::find(conn, ws, id)?.ok_or(ConsoleError::NotFound)?;
            if let Some(why) = refusal(&key, now) {
                return Ok(Outcome::Refused(why));
            }
            // An expired key's name may have been reused by a newer active key (the check
            // locks the workspace, so it cannot race a create either).
            if let Some(other) = store::active_name_clash(conn, ws, &key.name, now, Some(id))? {
                return Ok(Outcome::Refused(format!(
                    "Another active key is now named \u{201c}{other}\u{201d}. Revoke or rename that one first, or create a new key."
                )));
            }
            let expires_at = Expiry::from_rule(&key.expiry_rule).expires_at(now);
            if store::regenerate(conn, ws, id, &hash_secret, expires_at, now)? == 0 {
                return Err(ConsoleError::NotFound);
            }
            let details = format!(
                "Replaced secret {}; new expiry: {}",
                key.masked(),
                expires_at.map_or_else(|| "never".to_owned(), super::exact)
            );
            let key_ref = crate::audit::KeyRef { id, name: key.name.clone(), masked: new_masked };
            let event =
                Event { workspace_id: Some(ws), action: "key.regenerated", key: Some(key_ref), details };
            audit::record(conn, &actor, event, now)?;
            Ok(Outcome::Done(id))
        })
        .await?;
    match outcome {
        Outcome::Refused(why) => {
            flash::push(session.inner(), Level::Error, why);
            Ok(see_other("/settings/api-keys"))
        }
        Outcome::Done(id) => {
            session
                .set_pending_reveal(&PendingReveal { key_id: id, secret: secret.expose().to_owned() })
                .map_err(anyhow::Error::from)?;
            Ok(no_store(see_other(&format!("/settings/api-keys/{id}/reveal"))))
        }
    }
}
