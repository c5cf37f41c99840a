//! `GET/POST /settings/api-keys/{id}/edit`: a key's name, description, permissions, rate
//! limit and IP allowlist, with the create form's fields and validation. The secret, its
//! environment and the expiry stay; a change is in force from the key's next request.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;

use super::create::{CreateKeyErrors, CreateKeyFormData, KeyFormPage, refusal_field, workspace_policy};
use super::picker::{self, Grid};
use super::{load_key, no_store, parse_key_id};
use crate::accounts::Capability;
use crate::console::csrf::CsrfForm;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render, render_status};
use crate::console::see_other;
use crate::console::session::TypedSession;
use crate::console::sudo::{self, SudoField};
use crate::keys::policy::PolicyRefusal;
use crate::keys::store::{KeyRow, Status};
use crate::keys::{self, Catalogue, KeyChanges, KeyError, PermissionSet};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "api_keys/edit.html")]
pub struct EditKeyPage {
    pub ctx: PageCtx,
    pub id: i64,
    /// The key's name as stored (the heading), whatever the name field holds.
    pub stored_name: String,
    pub masked: String,
    /// Test keys say so: their environment is fixed, so the form only tells it.
    pub test: bool,
    pub catalogue: Arc<Catalogue>,
    pub form: CreateKeyFormData,
    pub errors: CreateKeyErrors,
    pub default_rate_limit: u32,
    pub default_burst: u32,
    pub grid: Option<Grid>,
    pub read_only: Vec<String>,
    /// Re-authentication, when an edit gives the key full access and the proof is stale.
    pub sudo: SudoField,
    /// Whether the form offers full access: the policy lets this member give it, or the key
    /// has it already (keeping it is no widening).
    pub offers_full_access: bool,
}

const SUDO_ONLY_FOR: &str = "Needed only to give the key full access.";

impl EditKeyPage {
    fn new(
        ctx: PageCtx,
        state: &AppState,
        key: &KeyRow,
        form: CreateKeyFormData,
        errors: CreateKeyErrors,
        sudo: SudoField,
        offers_full_access: bool,
    ) -> Self {
        Self {
            ctx,
            id: key.id,
            stored_name: key.name.clone(),
            masked: key.masked(),
            test: key.environment() == keys::Environment::Test,
            catalogue: state.catalogue.clone(),
            form,
            errors,
            default_rate_limit: state.settings.rate_limit.per_minute,
            default_burst: state.settings.rate_limit.burst_per_second,
            grid: Grid::of(&state.catalogue),
            read_only: picker::read_only(&state.catalogue),
            sudo: SudoField { only_for: Some(SUDO_ONLY_FOR), ..sudo },
            offers_full_access,
        }
    }
}

impl KeyFormPage for EditKeyPage {
    fn not_done(&self) -> &'static str {
        "The changes were not saved."
    }
    fn form(&self) -> &CreateKeyFormData {
        &self.form
    }
    fn errors(&self) -> &CreateKeyErrors {
        &self.errors
    }
    fn sudo(&self) -> &SudoField {
        &self.sudo
    }
    fn read_only(&self) -> &[String] {
        &self.read_only
    }
}

/// Whether the edit form offers full access to this member for this key.
async fn offers_full_access(state: &AppState, member: &Member, key: &KeyRow) -> Result<bool, ConsoleError> {
    let policy = workspace_policy(state, member.workspace_id).await?;
    Ok(policy.offers_full_access(member.role) || PermissionSet::from_stored(&key.permissions).is_full())
}

/// The form as the key stands.
fn form_of(key: &KeyRow) -> CreateKeyFormData {
    let (full_access, permissions) = match PermissionSet::from_stored(&key.permissions) {
        PermissionSet::Full => (Some("on".to_owned()), Vec::new()),
        scopes => (None, scopes.to_list()),
    };
    CreateKeyFormData {
        name: key.name.clone(),
        description: key.description.clone(),
        permissions,
        full_access,
        rate_limit_per_minute: key.rate_limit_per_minute.map(|r| r.to_string()).unwrap_or_default(),
        rate_limit_burst: key.rate_limit_burst.map(|b| b.to_string()).unwrap_or_default(),
        allowed_ips: key.allow_list().map(|l| l.to_list().join("\n")).unwrap_or_default(),
        ..CreateKeyFormData::default()
    }
}

/// A revoked key cannot be edited: its page says so instead of offering a form.
fn refuse_revoked(key: &KeyRow) -> Result<(), ConsoleError> {
    if key.status(Utc::now().naive_utc()) == Status::Revoked {
        return Err(KeyError::RevokedCannotChange { name: key.name.clone() }.into());
    }
    Ok(())
}

pub async fn key_edit_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let key = load_key(&state, member.workspace_id, &path).await?;
    refuse_revoked(&key)?;
    let full = offers_full_access(&state, &member, &key).await?;
    let ctx = PageCtx::for_member(&member, &session, "keys");
    let sudo = SudoField::for_member(&member);
    render(&EditKeyPage::new(ctx, &state, &key, form_of(&key), CreateKeyErrors::default(), sudo, full))
}

pub async fn key_edit(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<CreateKeyFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let id = parse_key_id(&path)?;
    let key = load_key(&state, member.workspace_id, &path).await?;
    refuse_revoked(&key)?;
    let full = offers_full_access(&state, &member, &key).await?;
    let page = |form, errors, sudo| {
        let ctx = PageCtx::for_member(&member, &session, "keys");
        EditKeyPage::new(ctx, &state, &key, form, errors, sudo, full)
    };
    if form.preset == "read-only" {
        let form = CreateKeyFormData {
            permissions: picker::read_only(&state.catalogue),
            full_access: None,
            preset: String::new(),
            ..form
        };
        return render(&page(form, CreateKeyErrors::default(), SudoField::for_member(&member))).map(no_store);
    }
    let changes = match form.parse_changes(&state.catalogue) {
        Ok(changes) => changes,
        Err(errors) => {
            let page = page(form, *errors, SudoField::for_member(&member));
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page).map(no_store);
        }
    };
    let widens_to_full =
        changes.permissions.is_full() && !PermissionSet::from_stored(&key.permissions).is_full();
    if widens_to_full && !full {
        // Refused by the policy before any re-authentication; the operation checks it again.
        let mut errors = CreateKeyErrors::default();
        refusal_field(&PolicyRefusal::FullAccessOwnersOnly, &mut errors);
        let page = page(form, errors, SudoField::for_member(&member));
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page).map(no_store);
    }
    if widens_to_full
        && !sudo::fresh(&member)
        && let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await?
    {
        let (code, wait) = (field.status(), field.retry_after);
        let page = page(form, CreateKeyErrors::default(), field);
        return Ok(sudo::with_wait(render_status(code, &page).map(no_store)?, wait));
    }
    let errors = match keys::ops::edit(&state.db, &member.actor(), member.workspace_id, id, changes).await {
        Ok(changed) => {
            let message = if changed {
                format!(
                    "Saved the changes to \u{201c}{}\u{201d}. They apply from the key's next request.",
                    form.name.trim()
                )
            } else {
                "Nothing changed.".to_owned()
            };
            flash::push(session.inner(), Level::Success, message);
            return Ok(see_other("/settings/api-keys"));
        }
        Err(taken @ KeyError::NameTaken { .. }) => {
            CreateKeyErrors { name: Some(taken.to_string()), ..Default::default() }
        }
        Err(KeyError::Policy(refusal)) => {
            let mut errors = CreateKeyErrors::default();
            refusal_field(&refusal, &mut errors);
            errors
        }
        Err(e @ (KeyError::NotFound | KeyError::Db(_))) => return Err(e.into()),
        Err(refused) => return Err(refused.into()),
    };
    let page = page(form, errors, SudoField::for_member(&member));
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page).map(no_store)
}

impl CreateKeyFormData {
    /// The edit form's fields (the create form's, without the expiry) as [`KeyChanges`], or
    /// every field's error at once.
    pub fn parse_changes(&self, catalogue: &Catalogue) -> Result<KeyChanges, Box<CreateKeyErrors>> {
        // The same rules as a new key's: parse it as one, with an expiry that is always valid.
        let as_new = CreateKeyFormData {
            expiry: "30".into(),
            expiry_date: String::new(),
            environment: String::new(),
            ..self.clone()
        };
        as_new.parse(catalogue, Utc::now().naive_utc()).map(|r| KeyChanges {
            name: r.name,
            description: r.description,
            permissions: r.permissions,
            rate_limit: r.rate_limit,
            burst: r.burst,
            allowed_ips: r.allowed_ips,
        })
    }
}
