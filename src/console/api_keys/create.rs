//! `GET /settings/api-keys/new` and `POST /settings/api-keys`: the create form.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Days, NaiveDateTime, Utc};
use serde::Deserialize;

use super::{date, no_store};
use crate::accounts::Capability;
use crate::audit::{self, Event, KeyRef};
use crate::console::csrf::CsrfForm;
use crate::console::error::ConsoleError;
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render, render_status};
use crate::console::see_other;
use crate::console::session::{PendingReveal, TypedSession};
use crate::keys::expiry::{DEFAULT_DAYS, PRESET_DAYS, latest_custom_date};
use crate::keys::store::{self, NewKey};
use crate::keys::{ApiKey, Catalogue, Expiry, KeyName, PermissionSet};
use crate::state::AppState;

/// Bounds of the per-key rate limit, in requests per minute.
pub const RATE_LIMIT_RANGE: std::ops::RangeInclusive<i32> = 1..=100_000;

#[derive(Default, Deserialize)]
pub struct CreateKeyFormData {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub full_access: Option<String>,
    #[serde(default)]
    pub expiry: String,
    #[serde(default)]
    pub expiry_date: String,
    #[serde(default)]
    pub rate_limit_per_minute: String,
}

#[derive(Default)]
pub struct CreateKeyErrors {
    pub name: Option<String>,
    pub permissions: Option<String>,
    pub expiry: Option<String>,
    pub rate_limit_per_minute: Option<String>,
}

impl CreateKeyErrors {
    fn any(&self) -> bool {
        self.name.is_some()
            || self.permissions.is_some()
            || self.expiry.is_some()
            || self.rate_limit_per_minute.is_some()
    }
}

/// One choice of the expiry picker, with the date it would give a key made now.
pub struct ExpiryOption {
    pub value: String,
    pub label: String,
    pub result: String,
}

#[derive(Template)]
#[template(path = "api_keys/new.html")]
pub struct NewKeyPage {
    pub ctx: PageCtx,
    pub catalogue: Arc<Catalogue>,
    pub form: CreateKeyFormData,
    pub errors: CreateKeyErrors,
    pub presets: Vec<ExpiryOption>,
    pub min_date: String,
    pub max_date: String,
    pub default_rate_limit: u32,
}

impl NewKeyPage {
    fn new(
        ctx: PageCtx,
        state: &AppState,
        form: CreateKeyFormData,
        errors: CreateKeyErrors,
        now: NaiveDateTime,
    ) -> Self {
        let presets = PRESET_DAYS
            .iter()
            .map(|&d| ExpiryOption {
                value: d.to_string(),
                label: format!("{d} days"),
                result: Expiry::Days(d)
                    .expires_at(now)
                    .map(|t| format!("Expires on {}", date(t)))
                    .unwrap_or_default(),
            })
            .collect();
        let today = now.date();
        Self {
            ctx,
            catalogue: state.catalogue.clone(),
            form,
            errors,
            presets,
            min_date: (today + Days::new(1)).to_string(),
            max_date: latest_custom_date(today).to_string(),
            default_rate_limit: state.settings.rate_limit.per_minute,
        }
    }

    pub fn full_access(&self) -> bool {
        self.form.full_access.is_some()
    }

    pub fn scope_checked(&self, id: &str) -> bool {
        self.form.permissions.iter().any(|p| p == id)
    }

    /// The selected expiry choice; the 30-day preset on a fresh form.
    pub fn expiry_checked(&self, value: &str) -> bool {
        if self.form.expiry.is_empty() {
            value == DEFAULT_DAYS.to_string()
        } else {
            self.form.expiry == value
        }
    }

    /// `records:read` → `perm-records-read`.
    pub fn perm_id(&self, scope: &str) -> String {
        format!("perm-{}", scope.replace([':', '.'], "-"))
    }

    /// What a custom date would give, when one was typed.
    pub fn custom_result(&self) -> String {
        match chrono::NaiveDate::parse_from_str(self.form.expiry_date.trim(), "%Y-%m-%d") {
            Ok(d) => format!("Expires at the end of {} (UTC)", d.format("%-d %b %Y")),
            Err(_) => "Pick a date up to one year ahead".to_owned(),
        }
    }
}

pub async fn key_create_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let now = Utc::now().naive_utc();
    let ctx = PageCtx::for_member(&member, &session, "keys");
    render(&NewKeyPage::new(ctx, &state, CreateKeyFormData::default(), CreateKeyErrors::default(), now))
}

/// Parses the optional rate limit: blank means "the default".
pub fn parse_rate_limit(raw: &str) -> Result<Option<i32>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<i32>() {
        Ok(n) if RATE_LIMIT_RANGE.contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "Enter a whole number of requests per minute from {} to {}, or leave it blank for the default.",
            RATE_LIMIT_RANGE.start(),
            RATE_LIMIT_RANGE.end()
        )),
    }
}

/// The message when an active key already has the name (`name` as that key spells it).
pub fn name_taken_message(name: &str) -> String {
    format!(
        "An active key named \u{201c}{name}\u{201d} already exists. Choose another name, or revoke that key first."
    )
}

pub async fn key_create(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<CreateKeyFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let now = Utc::now().naive_utc();
    let mut errors = CreateKeyErrors::default();
    let name = KeyName::parse(&form.name).map_err(|e| errors.name = Some(e.to_string())).ok();
    let permissions =
        PermissionSet::from_choices(form.full_access.is_some(), &form.permissions, &state.catalogue)
            .map_err(|e| errors.permissions = Some(e.to_string()))
            .ok();
    let expiry = Expiry::parse(&form.expiry, &form.expiry_date, now)
        .map_err(|e| errors.expiry = Some(e.to_string()))
        .ok();
    let rate_limit = parse_rate_limit(&form.rate_limit_per_minute)
        .map_err(|e| errors.rate_limit_per_minute = Some(e))
        .ok()
        .flatten();
    let invalid = |state: &AppState, form: CreateKeyFormData, errors: CreateKeyErrors| {
        let ctx = PageCtx::for_member(&member, &session, "keys");
        render_status(StatusCode::UNPROCESSABLE_ENTITY, &NewKeyPage::new(ctx, state, form, errors, now))
            .map(no_store)
    };
    let (Some(name), Some(permissions), Some(expiry), false) = (name, permissions, expiry, errors.any())
    else {
        return invalid(&state, form, errors);
    };

    let secret = ApiKey::generate();
    let actor = member.actor();
    let (ws, user_id) = (member.workspace_id, member.user_id);
    let (hash, last4, masked) = (secret.hash(), secret.last4().to_owned(), secret.masked());
    let key_name = name.clone();
    let created = state
        .db
        .write(move |conn| -> Result<Result<i64, String>, ConsoleError> {
            // Inside the write transaction: the check takes the workspace's row lock, so two
            // racing creates of one name cannot both win.
            if let Some(existing) = store::active_name_clash(conn, ws, key_name.as_str(), now, None)? {
                return Ok(Err(existing));
            }
            let expires_at = expiry.expires_at(now);
            let id = store::insert(
                conn,
                &NewKey {
                    workspace_id: ws,
                    name: key_name.as_str(),
                    prefix: crate::keys::secret::LIVE_PREFIX,
                    last4: &last4,
                    key_hash: hash.as_str(),
                    permissions: &permissions.to_stored(),
                    expiry_rule: &expiry.to_rule(),
                    created_by: Some(user_id),
                    created_at: now,
                    expires_at,
                    rate_limit_per_minute: rate_limit,
                },
            )?;
            let details = format!(
                "Permissions: {}; expires: {}; rate limit: {}",
                permissions.to_list().join(", "),
                expires_at.map_or_else(|| "never".to_owned(), super::exact),
                rate_limit.map_or_else(|| "default".to_owned(), |n| format!("{n}/min")),
            );
            let key = Some(KeyRef { id, name: key_name.to_string(), masked });
            audit::record(
                conn,
                &actor,
                Event { workspace_id: Some(ws), action: "key.created", key, details },
                now,
            )?;
            Ok(Ok(id))
        })
        .await?;
    let id = match created {
        Ok(id) => id,
        Err(existing) => {
            let errors = CreateKeyErrors { name: Some(name_taken_message(&existing)), ..Default::default() };
            return invalid(&state, form, errors);
        }
    };
    session
        .set_pending_reveal(&PendingReveal { key_id: id, secret: secret.expose().to_owned() })
        .map_err(anyhow::Error::from)?;
    Ok(no_store(see_other(&format!("/settings/api-keys/{id}/reveal"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_are_optional_whole_numbers_in_range() {
        assert_eq!(parse_rate_limit(""), Ok(None));
        assert_eq!(parse_rate_limit(" 250 "), Ok(Some(250)));
        assert_eq!(parse_rate_limit("100000"), Ok(Some(100_000)));
        for bad in ["0", "-5", "100001", "1.5", "ten", "99999999999"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }
}
