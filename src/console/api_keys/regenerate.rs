//! `GET/POST /settings/api-keys/{id}/regenerate`: a new secret with the same name,
//! permissions and expiry rule. The old secret stops now, or after a grace period of an hour,
//! a day or a week, so the servers using it can be moved to the new one while both work.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use super::create::workspace_policy;
use super::{ChoiceGroup, ChoiceOption, ConfirmPage, load_key, parse_key_id, reveal_next};
use crate::accounts::Capability;
use crate::console::csrf::CsrfForm;
use crate::console::dates::{date, exact};
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render_status};
use crate::console::see_other;
use crate::console::session::TypedSession;
use crate::keys::grace::{self, Grace};
use crate::keys::ops::regenerate_refusal;
use crate::keys::policy::Policy;
use crate::keys::store::KeyRow;
use crate::keys::{self, Expiry, KeyError};
use crate::state::AppState;

#[derive(Default, Deserialize)]
pub struct RegenerateFormData {
    /// `now`, `1h`, `24h` or `7d` ([`grace::PRESETS`]).
    #[serde(default)]
    pub old_secret_stops: String,
}

/// The expiry a regenerated secret gets, in words (shortened to what the workspace's policy
/// allows when the key's rule asks for more, as `keys::ops::regenerate` does).
fn new_expiry_text(key: &KeyRow, now: NaiveDateTime, policy: &Policy) -> String {
    let rule = Expiry::from_rule(&key.expiry_rule);
    if let Some(shortened) = policy.clamp(&rule, now)
        && let Some(t) = shortened.expires_at(now)
    {
        return format!(
            "The new secret expires on {}: the key's expiration rule asks for more than this workspace's policy allows.",
            date(t)
        );
    }
    match rule.expires_at(now) {
        Some(t) => format!("The new secret expires on {}, following the key's expiration rule.", date(t)),
        None => "The new secret never expires, like the old one.".into(),
    }
}

/// The "old secret stops working" radios, each saying until when, as the grace would come to
/// for this key now (never past its expiry).
fn grace_choices(key: &KeyRow, now: NaiveDateTime, chosen: &str, error: Option<String>) -> ChoiceGroup {
    let chosen = if chosen.is_empty() { "now" } else { chosen };
    let options = grace::PRESETS
        .iter()
        .map(|&(value, label)| {
            let grace = Grace::from_choice(value).unwrap_or_default();
            let hint = match grace.old_secret_until(now, key.expires_at) {
                Some(until) => format!("Both secrets work until {}", exact(until)),
                None if grace == Grace::NONE => {
                    "Every integration using it fails until it has the new key".into()
                }
                None => "The key has already expired, so its old secret gets no grace".into(),
            };
            ChoiceOption { value, label, hint, checked: value == chosen }
        })
        .collect();
    ChoiceGroup { legend: "The current secret stops working", name: "old_secret_stops", options, error }
}

fn confirm_page(
    member: &Member,
    session: &TypedSession,
    key: KeyRow,
    now: NaiveDateTime,
    chosen: &str,
    error: Option<String>,
    policy: &Policy,
) -> ConfirmPage {
    let mut consequences = vec![
        "A new secret replaces the current one. The current secret stops working at the moment you choose below; until then both work, and answers to the old one carry an X-Keyward-Key-Deprecated header saying when it stops.".into(),
        "The name, permissions and rate limit stay the same.".into(),
        new_expiry_text(&key, now, policy),
        "The new secret is shown once, on the next page.".into(),
    ];
    if let Some((masked, until)) = key.previous_secret(now) {
        consequences.insert(
            1,
            format!("The secret replaced earlier ({masked}, due to stop {}) stops now.", exact(until)),
        );
    }
    ConfirmPage {
        ctx: PageCtx::for_member(member, session, "keys"),
        action: "regenerate",
        heading: format!("Regenerate key \u{201c}{}\u{201d}?", key.name),
        id: key.id,
        masked: key.masked(),
        status: key.status(now),
        consequences,
        button: "Regenerate key",
        button_class: "btn-danger",
        refusal: regenerate_refusal(&key, now).map(|e| e.to_string()),
        choices: Some(grace_choices(&key, now, chosen, error)),
        name: key.name,
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
    let policy = workspace_policy(&state, member.workspace_id).await?;
    render_status(StatusCode::OK, &confirm_page(&member, &session, key, now, "", None, &policy))
}

pub async fn key_regenerate(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<RegenerateFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let id = parse_key_id(&path)?;
    let chosen = if form.old_secret_stops.is_empty() { "now" } else { form.old_secret_stops.as_str() };
    let grace = match Grace::from_choice(chosen) {
        Ok(grace) => grace,
        Err(e) => {
            let key = load_key(&state, member.workspace_id, &path).await?;
            let policy = workspace_policy(&state, member.workspace_id).await?;
            let now = Utc::now().naive_utc();
            let page = confirm_page(&member, &session, key, now, "", Some(e.to_string()), &policy);
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    match keys::ops::regenerate(&state.db, &member.actor(), member.workspace_id, id, grace).await {
        Ok(issued) => {
            if let Some(until) = issued.old_secret_until {
                let message = format!(
                    "The old secret keeps working until {}. Move every integration to the new key before then.",
                    exact(until)
                );
                flash::push(session.inner(), Level::Success, message);
            }
            reveal_next(&session, issued)
        }
        Err(e @ (KeyError::NotFound | KeyError::Db(_))) => Err(e.into()),
        Err(refused) => {
            flash::push(session.inner(), Level::Error, refused.to_string());
            Ok(see_other("/settings/api-keys"))
        }
    }
}
