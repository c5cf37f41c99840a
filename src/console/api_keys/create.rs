//! `GET /settings/api-keys/new` and `POST /settings/api-keys`: the create form.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use super::picker::{self, Grid};
use super::{no_store, reveal_next};
use crate::accounts::{Capability, Role};
use crate::console::csrf::CsrfForm;
use crate::console::dates::{date, day_in_words};
use crate::console::error::ConsoleError;
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render, render_status};
use crate::console::session::TypedSession;
use crate::console::sudo::{self, SudoField};
use crate::db::DbError;
use crate::keys::expiry::{AllowedDays, DEFAULT_DAYS};
use crate::keys::policy::{self, Policy, PolicyRefusal};
use crate::keys::{
    self, AllowList, Burst, Catalogue, Environment, Expiry, KeyDescription, KeyError, KeyName, NewKeyRequest,
    PermissionSet, RateLimit,
};
use crate::state::AppState;

/// The create form's fields; the edit form posts the same ones but the expiry.
#[derive(Clone, Default, Deserialize)]
pub struct CreateKeyFormData {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
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
    #[serde(default)]
    pub rate_limit_burst: String,
    /// Addresses and CIDR ranges, as typed (`keys::AllowList`).
    #[serde(default)]
    pub allowed_ips: String,
    /// `live` or `test`; only the create form has it (a key's environment is its prefix).
    #[serde(default)]
    pub environment: String,
    /// A preset button (`read-only`): fills the boxes and shows the form again, creating nothing.
    #[serde(default)]
    pub preset: String,
    /// Password or code, asked for a full-access or never-expiring key (`console::sudo`).
    /// Never shown back.
    #[serde(default)]
    pub confirm_identity: String,
}

/// Each field's error on the create and edit forms (the edit form has no expiry).
#[derive(Debug, Default)]
pub struct CreateKeyErrors {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<String>,
    pub expiry: Option<String>,
    pub rate_limit_per_minute: Option<String>,
    pub rate_limit_burst: Option<String>,
    pub allowed_ips: Option<String>,
    pub environment: Option<String>,
}

/// One line of the error summary above the form: a link to the field and its message.
pub struct SummaryLine<'a> {
    pub target: &'static str,
    pub field: &'static str,
    pub message: &'a str,
}

impl CreateKeyErrors {
    pub fn any(&self) -> bool {
        self.summary().next().is_some()
    }

    /// The errors in the form's order, each pointing at the control to fix.
    pub fn summary(&self) -> impl Iterator<Item = SummaryLine<'_>> {
        [
            ("name", "Name", &self.name),
            ("environment-live", "Environment", &self.environment),
            ("description", "Description", &self.description),
            ("full_access", "Permissions", &self.permissions),
            ("expiry", "Expiration", &self.expiry),
            ("rate_limit_per_minute", "Rate limit", &self.rate_limit_per_minute),
            ("rate_limit_burst", "Burst", &self.rate_limit_burst),
            ("allowed_ips", "Allowed IP addresses", &self.allowed_ips),
        ]
        .into_iter()
        .filter_map(|(target, field, e)| e.as_deref().map(|message| SummaryLine { target, field, message }))
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
    /// The same two days in words, for the hint.
    pub allowed_words: (String, String),
    pub default_rate_limit: u32,
    /// The global burst setting, the least a key without its own burst gets.
    pub default_burst: u32,
    /// The grid layout of the permissions, when the catalogue fits one.
    pub grid: Option<Grid>,
    /// The scopes of the "Read only" preset; empty when the catalogue has none.
    pub read_only: Vec<String>,
    /// Re-authentication, for a full-access or never-expiring key when the proof is stale.
    pub sudo: SudoField,
    /// Whether the workspace's policy lets this member give a key full access.
    pub offers_full_access: bool,
    /// Whether the policy allows a key without an expiration date.
    pub offers_never: bool,
    /// The policy's expiry rule, said beside the expiration field.
    pub expiry_hint: Option<String>,
}

/// The workspace's key policy, for the forms that must offer only what it allows.
pub async fn workspace_policy(state: &AppState, workspace_id: i64) -> Result<Policy, ConsoleError> {
    let read = move |conn: &mut _| policy::read(conn, workspace_id).map_err(DbError::from);
    state.db.run(read).await.map_err(ConsoleError::from)
}

/// A policy refusal as the field it concerns: (permissions, expiry).
pub fn refusal_field(refusal: &PolicyRefusal, errors: &mut CreateKeyErrors) {
    let message = Some(refusal.to_string());
    match refusal {
        PolicyRefusal::FullAccessOwnersOnly => errors.permissions = message,
        PolicyRefusal::MaxLifetime { .. } | PolicyRefusal::ExpiryRequired => errors.expiry = message,
    }
}

/// What the policy refuses of a parsed request, as field errors (none: `Ok`). Checked before
/// re-authentication, so nobody types a password for a key that is then refused; the key
/// operation checks again in its transaction.
fn policy_errors(
    policy: &Policy,
    role: Role,
    request: &NewKeyRequest,
    now: NaiveDateTime,
) -> Result<(), Box<CreateKeyErrors>> {
    let mut errors = CreateKeyErrors::default();
    if let Err(refusal) = policy.allows_expiry(&request.expiry, now) {
        refusal_field(&refusal, &mut errors);
    }
    if request.permissions.is_full()
        && let Err(refusal) = policy.allows_full_access(Some(role))
    {
        refusal_field(&refusal, &mut errors);
    }
    if errors.any() { Err(Box::new(errors)) } else { Ok(()) }
}

/// What the create form needs to know besides the form: the workspace's policy and the
/// member's role under it.
pub struct Rules {
    pub policy: Policy,
    pub role: Role,
}

impl NewKeyPage {
    fn new(
        ctx: PageCtx,
        state: &AppState,
        form: CreateKeyFormData,
        errors: CreateKeyErrors,
        sudo: SudoField,
        now: NaiveDateTime,
        rules: &Rules,
    ) -> Self {
        let policy = &rules.policy;
        let presets = policy
            .offered_presets()
            .into_iter()
            .map(|d| ExpiryOption {
                value: d.to_string(),
                label: format!("{d} days"),
                result: Expiry::Days(d)
                    .expires_at(now)
                    .map(|t| format!("until {}", date(t)))
                    .unwrap_or_default(),
            })
            .collect();
        let allowed =
            AllowedDays { last: policy.latest_date(now.date()), ..AllowedDays::from_today(now.date()) };
        Self {
            ctx,
            catalogue: state.catalogue.clone(),
            form,
            errors,
            presets,
            min_date: allowed.first.to_string(),
            max_date: allowed.last.to_string(),
            allowed_words: (day_in_words(allowed.first), day_in_words(allowed.last)),
            default_rate_limit: state.settings.rate_limit.per_minute,
            default_burst: state.settings.rate_limit.burst_per_second,
            grid: Grid::of(&state.catalogue),
            read_only: picker::read_only(&state.catalogue),
            sudo: SudoField { only_for: Some(SUDO_ONLY_FOR), ..sudo },
            offers_full_access: policy.offers_full_access(rules.role),
            offers_never: policy.offers_never(),
            expiry_hint: policy.expiry_hint(),
        }
    }

    /// The selected expiry choice; on a fresh form the 30-day preset, or the longest the
    /// policy offers, or a custom date.
    pub fn expiry_selected(&self, value: &str) -> bool {
        if !self.form.expiry.is_empty() {
            return self.form.expiry == value;
        }
        let offered: Vec<&str> = self.presets.iter().map(|p| p.value.as_str()).collect();
        let default = DEFAULT_DAYS.to_string();
        let fresh = if offered.contains(&default.as_str()) {
            default.as_str()
        } else {
            offered.last().copied().unwrap_or("custom")
        };
        value == fresh
    }
}

/// What the create and edit pages share with their templates (the error summary, the
/// permission picker, `partials/key_*.html`): each page gives its form, errors, confirmation
/// field and the Read only preset's scopes, and gets the rest.
pub trait KeyFormPage {
    fn form(&self) -> &CreateKeyFormData;
    fn errors(&self) -> &CreateKeyErrors;
    fn sudo(&self) -> &SudoField;
    fn read_only(&self) -> &[String];
    /// The error summary's first words: what did not happen.
    fn not_done(&self) -> &'static str;

    /// Whether the error summary is shown: a field's error or the confirmation's.
    fn has_errors(&self) -> bool {
        self.errors().any() || self.sudo().error.is_some()
    }

    /// How many lines the error summary has.
    fn error_count(&self) -> usize {
        self.errors().summary().count() + usize::from(self.sudo().error.is_some())
    }

    /// The read-only scopes as one attribute value, for the script that fills the boxes.
    fn read_only_attr(&self) -> String {
        self.read_only().join(" ")
    }

    fn full_access(&self) -> bool {
        self.form().full_access.is_some()
    }

    fn scope_checked(&self, id: &str) -> bool {
        self.form().permissions.iter().any(|p| p == id)
    }

    fn perm_id(&self, scope: &str) -> String {
        picker::perm_id(scope)
    }

    /// Whether the create form's environment choice is `value` (`live` unless test was chosen).
    fn environment_is(&self, value: &str) -> bool {
        let chosen = if self.form().environment == "test" { "test" } else { "live" };
        chosen == value
    }
}

impl KeyFormPage for NewKeyPage {
    fn not_done(&self) -> &'static str {
        "The key was not created."
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

pub async fn key_create_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let now = Utc::now().naive_utc();
    let rules = Rules { policy: workspace_policy(&state, member.workspace_id).await?, role: member.role };
    let ctx = PageCtx::for_member(&member, &session, "keys");
    let sudo = SudoField::for_member(&member);
    let form = CreateKeyFormData::default();
    render(&NewKeyPage::new(ctx, &state, form, CreateKeyErrors::default(), sudo, now, &rules))
}

impl CreateKeyFormData {
    /// The form as a [`NewKeyRequest`], or every field's error at once.
    pub fn parse(
        &self,
        catalogue: &Catalogue,
        now: NaiveDateTime,
    ) -> Result<NewKeyRequest, Box<CreateKeyErrors>> {
        let mut errors = CreateKeyErrors::default();
        let name = KeyName::parse(&self.name).map_err(|e| errors.name = Some(e.to_string()));
        let description =
            KeyDescription::parse(&self.description).map_err(|e| errors.description = Some(e.to_string()));
        let permissions =
            PermissionSet::from_choices(self.full_access.is_some(), &self.permissions, catalogue)
                .map_err(|e| errors.permissions = Some(e.to_string()));
        let expiry = Expiry::parse(&self.expiry, &self.expiry_date, now)
            .map_err(|e| errors.expiry = Some(e.to_string()));
        let rate_limit = RateLimit::parse_optional(&self.rate_limit_per_minute)
            .map_err(|e| errors.rate_limit_per_minute = Some(e.to_string()));
        // Against the key's own rate when that is sound; otherwise only the outer bounds.
        let burst = Burst::parse_optional(&self.rate_limit_burst, rate_limit.unwrap_or_default())
            .map_err(|e| errors.rate_limit_burst = Some(e.to_string()));
        let allowed_ips =
            AllowList::parse(&self.allowed_ips).map_err(|e| errors.allowed_ips = Some(e.to_string()));
        let environment = Environment::parse(&self.environment).ok_or_else(|| {
            errors.environment = Some("Choose Live or Test.".to_owned());
        });
        match (name, description, permissions, expiry, rate_limit, burst, allowed_ips, environment) {
            (
                Ok(name),
                Ok(description),
                Ok(permissions),
                Ok(expiry),
                Ok(rate_limit),
                Ok(burst),
                Ok(allowed_ips),
                Ok(environment),
            ) => Ok(NewKeyRequest {
                name,
                description,
                permissions,
                expiry,
                rate_limit,
                burst,
                environment,
                allowed_ips,
            }),
            _ => Err(Box::new(errors)),
        }
    }
}

pub async fn key_create(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<CreateKeyFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let now = Utc::now().naive_utc();
    let rules = Rules { policy: workspace_policy(&state, member.workspace_id).await?, role: member.role };
    if form.preset == "read-only" {
        // Without JavaScript the preset is a submit button: the same form comes back with the
        // read boxes ticked and everything else as typed.
        let form = CreateKeyFormData {
            permissions: picker::read_only(&state.catalogue),
            full_access: None,
            preset: String::new(),
            ..form
        };
        let ctx = PageCtx::for_member(&member, &session, "keys");
        let sudo = SudoField::for_member(&member);
        return render(&NewKeyPage::new(ctx, &state, form, CreateKeyErrors::default(), sudo, now, &rules))
            .map(no_store);
    }
    let sudo = SudoField::for_member(&member);
    let parsed = form
        .parse(&state.catalogue, now)
        .and_then(|request| policy_errors(&rules.policy, rules.role, &request, now).map(|()| request));
    let errors = match parsed {
        Ok(request) if needs_confirmation(&request) && !sudo::fresh(&member) => {
            match sudo::guard(&state, &member, &form.confirm_identity).await? {
                Ok(()) => return create(&state, &member, &session, form, request, now, &rules).await,
                Err(field) => {
                    let errors = CreateKeyErrors::default();
                    let (code, wait) = (field.status(), field.retry_after);
                    let ctx = PageCtx::for_member(&member, &session, "keys");
                    let page = NewKeyPage::new(ctx, &state, form, errors, field, now, &rules);
                    return Ok(sudo::with_wait(render_status(code, &page).map(no_store)?, wait));
                }
            }
        }
        Ok(request) => return create(&state, &member, &session, form, request, now, &rules).await,
        Err(errors) => *errors,
    };
    let ctx = PageCtx::for_member(&member, &session, "keys");
    let page = NewKeyPage::new(ctx, &state, form, errors, sudo, now, &rules);
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page).map(no_store)
}

/// Keys that hand out the most power ask the user to prove who they are when that was long ago.
fn needs_confirmation(request: &NewKeyRequest) -> bool {
    matches!(request.permissions, PermissionSet::Full) || matches!(request.expiry, Expiry::Never)
}

const SUDO_ONLY_FOR: &str = "Needed only for a key with full access or without an expiration date.";

/// Creates the key and leads to its reveal, or shows the form again when the name is taken or
/// the policy (changed meanwhile) refuses it.
async fn create(
    state: &AppState,
    member: &Member,
    session: &TypedSession,
    form: CreateKeyFormData,
    request: NewKeyRequest,
    now: NaiveDateTime,
    rules: &Rules,
) -> Result<HttpResponse, ConsoleError> {
    let mut errors = CreateKeyErrors::default();
    match keys::ops::create(&state.db, &member.actor(), member.workspace_id, request).await {
        Ok(issued) => return reveal_next(session, issued),
        Err(taken @ KeyError::NameTaken { .. }) => errors.name = Some(taken.to_string()),
        Err(KeyError::Policy(refusal)) => refusal_field(&refusal, &mut errors),
        Err(e) => return Err(e.into()),
    }
    // A refusal by a policy changed since the page was loaded: show what it allows now.
    let rules = Rules { policy: workspace_policy(state, member.workspace_id).await?, role: rules.role };
    let ctx = PageCtx::for_member(member, session, "keys");
    let page = NewKeyPage::new(ctx, state, form, errors, SudoField::for_member(member), now, &rules);
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page).map(no_store)
}
