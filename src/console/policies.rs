//! *Settings → Policies* (owners): the workspace's key policy (`keys::policy`). Saving a change
//! asks for re-authentication (`console::sudo`) and is audited with the rules before and after
//! (`policy.changed`). A new maximum applies to keys made or given a new expiry from then on;
//! existing keys keep their dates. What a leak report does to a key (revoke or disable it)
//! applies to the next report.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::member::Member;
use super::pages::{PageCtx, render, render_status};
use super::see_other;
use super::session::TypedSession;
use super::sudo::{self, SudoField};
use crate::accounts::Capability;
use crate::audit::{self, Event};
use crate::db::DbError;
use crate::keys::policy::{
    self, FullAccessBy, LIFETIME_CHOICES, LeakAction, MAX_LIFETIME_LIMIT, Policy, UNUSED_MAX_DAYS,
    UNUSED_MIN_DAYS, UNUSED_WARNING_DAYS,
};
use crate::state::AppState;

pub const PATH: &str = "/settings/policies";

/// Registers the policies page.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PATH).route(web::get().to(policies)).route(web::post().to(policies_save)));
}

/// The form as sent; every field is kept as typed so a refused form comes back unchanged.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PolicyFormData {
    /// `none`, one of [`LIFETIME_CHOICES`], or `custom` (then `max_lifetime_days`).
    #[serde(default)]
    pub max_lifetime: String,
    #[serde(default)]
    pub max_lifetime_days: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub expiry_required: Option<String>,
    /// Empty: off.
    #[serde(default)]
    pub unused_revoke_days: String,
    /// `owners` or `admins`.
    #[serde(default)]
    pub full_access_by: String,
    /// `revoke` or `disable`; empty (a form from before the choice existed) reads as the
    /// default, `revoke`.
    #[serde(default)]
    pub leak_action: String,
    #[serde(default)]
    pub confirm_identity: String,
}

/// A message beside each field that is wrong.
#[derive(Debug, Default)]
pub struct PolicyErrors {
    pub max_lifetime: Option<String>,
    pub unused_revoke_days: Option<String>,
    pub full_access_by: Option<String>,
    pub leak_action: Option<String>,
}

impl PolicyErrors {
    fn any(&self) -> bool {
        self.max_lifetime.is_some()
            || self.unused_revoke_days.is_some()
            || self.full_access_by.is_some()
            || self.leak_action.is_some()
    }
}

impl PolicyFormData {
    /// The form a stored policy shows.
    pub fn of(policy: &Policy) -> Self {
        let (max_lifetime, max_lifetime_days) = match policy.max_lifetime_days {
            None => ("none".to_owned(), String::new()),
            Some(d) if LIFETIME_CHOICES.contains(&d) => (d.to_string(), String::new()),
            Some(d) => ("custom".to_owned(), d.to_string()),
        };
        Self {
            max_lifetime,
            max_lifetime_days,
            expiry_required: policy.expiry_required.then(|| "on".to_owned()),
            unused_revoke_days: policy.unused_revoke_days.map(|d| d.to_string()).unwrap_or_default(),
            full_access_by: policy.full_access_by.as_str().to_owned(),
            leak_action: policy.leak_action.as_str().to_owned(),
            confirm_identity: String::new(),
        }
    }

    /// The policy the form asks for, or every field's error at once.
    pub fn parse(&self) -> Result<Policy, PolicyErrors> {
        let mut errors = PolicyErrors::default();
        let lifetime_range = format!("Enter a whole number of days from 1 to {MAX_LIFETIME_LIMIT}.");
        let max_lifetime_days = match self.max_lifetime.trim() {
            "none" | "" => None,
            "custom" => match self.max_lifetime_days.trim().parse::<u32>() {
                Ok(d) if (1..=MAX_LIFETIME_LIMIT).contains(&d) => Some(d),
                _ => {
                    errors.max_lifetime = Some(lifetime_range);
                    None
                }
            },
            other => match other.parse::<u32>() {
                Ok(d) if LIFETIME_CHOICES.contains(&d) => Some(d),
                _ => {
                    errors.max_lifetime = Some("Choose one of the offered maximum lifetimes.".to_owned());
                    None
                }
            },
        };
        let unused = self.unused_revoke_days.trim();
        let unused_revoke_days = if unused.is_empty() {
            None
        } else {
            match unused.parse::<u32>() {
                Ok(d) if (UNUSED_MIN_DAYS..=UNUSED_MAX_DAYS).contains(&d) => Some(d),
                _ => {
                    errors.unused_revoke_days = Some(format!(
                        "Enter a whole number of days from {UNUSED_MIN_DAYS} to {UNUSED_MAX_DAYS}, or leave it \
                         empty to keep unused keys. The warning goes out {UNUSED_WARNING_DAYS} days before, \
                         so fewer than {UNUSED_MIN_DAYS} days leave no time to answer it."
                    ));
                    None
                }
            }
        };
        let full_access_by = match self.full_access_by.as_str() {
            "owners" => FullAccessBy::Owners,
            "admins" => FullAccessBy::Admins,
            _ => {
                errors.full_access_by = Some("Choose who may create keys with full access.".to_owned());
                FullAccessBy::Owners
            }
        };
        let leak_action = match self.leak_action.as_str() {
            "revoke" | "" => LeakAction::Revoke,
            "disable" => LeakAction::Disable,
            _ => {
                errors.leak_action = Some("Choose what happens to a key reported leaked.".to_owned());
                LeakAction::Revoke
            }
        };
        if errors.any() {
            return Err(errors);
        }
        Ok(Policy {
            max_lifetime_days,
            expiry_required: self.expiry_required.is_some(),
            unused_revoke_days,
            full_access_by,
            leak_action,
        })
    }
}

/// One choice of the maximum-lifetime list.
pub struct LifetimeOption {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "workspaces/policies.html")]
pub struct PoliciesPage {
    pub ctx: PageCtx,
    pub workspace_name: String,
    pub form: PolicyFormData,
    pub errors: PolicyErrors,
    pub lifetime_options: Vec<LifetimeOption>,
    pub sudo: SudoField,
    pub max_lifetime_limit: u32,
    pub unused_min_days: u32,
    pub unused_max_days: u32,
    pub warning_days: u32,
}

impl PoliciesPage {
    fn new(
        member: &Member,
        session: &TypedSession,
        form: PolicyFormData,
        errors: PolicyErrors,
        sudo: SudoField,
    ) -> Self {
        let mut lifetime_options = vec![LifetimeOption { value: "none".into(), label: "No maximum".into() }];
        lifetime_options.extend(
            LIFETIME_CHOICES
                .iter()
                .map(|d| LifetimeOption { value: d.to_string(), label: format!("{d} days") }),
        );
        lifetime_options
            .push(LifetimeOption { value: "custom".into(), label: "Another number of days…".into() });
        Self {
            ctx: PageCtx::for_member(member, session, "policies"),
            workspace_name: member.workspace_name.clone(),
            form,
            errors,
            lifetime_options,
            sudo,
            max_lifetime_limit: MAX_LIFETIME_LIMIT,
            unused_min_days: UNUSED_MIN_DAYS,
            unused_max_days: UNUSED_MAX_DAYS,
            warning_days: UNUSED_WARNING_DAYS,
        }
    }

    /// Whether the error summary is shown.
    pub fn has_errors(&self) -> bool {
        self.errors.any() || self.sudo.error.is_some()
    }

    pub fn lifetime_selected(&self, value: &str) -> bool {
        let chosen = if self.form.max_lifetime.is_empty() { "none" } else { self.form.max_lifetime.as_str() };
        chosen == value
    }

    pub fn expiry_required(&self) -> bool {
        self.form.expiry_required.is_some()
    }

    pub fn full_access_is(&self, value: &str) -> bool {
        self.form.full_access_by == value
    }

    pub fn leak_action_is(&self, value: &str) -> bool {
        let chosen = if self.form.leak_action.is_empty() { "revoke" } else { self.form.leak_action.as_str() };
        chosen == value
    }
}

async fn current(state: &AppState, workspace_id: i64) -> Result<Policy, ConsoleError> {
    state
        .db
        .run(move |conn| policy::read(conn, workspace_id).map_err(DbError::from))
        .await
        .map_err(ConsoleError::from)
}

pub async fn policies(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManagePolicies)?;
    let current = current(&state, member.workspace_id).await?;
    let sudo = SudoField::for_member(&member);
    render(&PoliciesPage::new(&member, &session, PolicyFormData::of(&current), PolicyErrors::default(), sudo))
}

pub async fn policies_save(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<PolicyFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManagePolicies)?;
    let wanted = match form.parse() {
        Ok(policy) => policy,
        Err(errors) => {
            let page = PoliciesPage::new(&member, &session, form, errors, SudoField::for_member(&member));
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    if wanted == current(&state, member.workspace_id).await? {
        flash::push(session.inner(), Level::Success, "Nothing changed.");
        return Ok(see_other(PATH));
    }
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (code, wait) = (field.status(), field.retry_after);
        let page = PoliciesPage::new(&member, &session, form, PolicyErrors::default(), field);
        return Ok(sudo::with_wait(render_status(code, &page)?, wait));
    }
    let (ws, actor) = (member.workspace_id, member.actor());
    let now = Utc::now().naive_utc();
    let changed = state
        .db
        .write(move |conn| -> Result<bool, DbError> {
            let before = policy::read(conn, ws)?;
            let details = wanted.changes_from(&before);
            if details.is_empty() {
                return Ok(false);
            }
            policy::write(conn, ws, &wanted, now)?;
            let event = Event { workspace_id: Some(ws), action: "policy.changed", key: None, details };
            audit::record(conn, &actor, event, now)?;
            Ok(true)
        })
        .await?;
    let message = if changed {
        format!(
            "The policies of {} are saved. They apply to keys made or changed from now on.",
            member.workspace_name
        )
    } else {
        "Nothing changed.".to_owned()
    };
    flash::push(session.inner(), Level::Success, message);
    Ok(see_other(PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(max: &str, days: &str, unused: &str, by: &str) -> PolicyFormData {
        PolicyFormData {
            max_lifetime: max.into(),
            max_lifetime_days: days.into(),
            unused_revoke_days: unused.into(),
            full_access_by: by.into(),
            ..PolicyFormData::default()
        }
    }

    #[test]
    fn the_form_reads_each_rule() {
        let p = form("30", "", "90", "owners").parse().unwrap();
        assert_eq!(p.max_lifetime_days, Some(30));
        assert_eq!(p.unused_revoke_days, Some(90));
        assert_eq!(p.full_access_by, FullAccessBy::Owners);
        assert!(!p.expiry_required);
        assert_eq!(form("custom", " 45 ", "", "admins").parse().unwrap().max_lifetime_days, Some(45));
        assert_eq!(form("none", "", "", "admins").parse().unwrap(), Policy::default());
        let disable = PolicyFormData { leak_action: "disable".into(), ..form("none", "", "", "admins") };
        assert_eq!(disable.parse().unwrap().leak_action, LeakAction::Disable);
    }

    #[test]
    fn wrong_fields_are_each_named() {
        let e = form("custom", "0", "7", "everyone").parse().unwrap_err();
        assert!(e.max_lifetime.unwrap().contains("from 1 to 365"));
        assert!(e.unused_revoke_days.unwrap().contains("from 8 to 3650"));
        assert!(e.full_access_by.is_some());
        assert!(form("45", "", "", "admins").parse().unwrap_err().max_lifetime.is_some());
        assert!(form("custom", "366", "", "admins").parse().unwrap_err().max_lifetime.is_some());
        assert!(form("none", "", "abc", "admins").parse().unwrap_err().unused_revoke_days.is_some());
        let unknown = PolicyFormData { leak_action: "ignore".into(), ..form("none", "", "", "admins") };
        assert!(unknown.parse().unwrap_err().leak_action.is_some());
    }

    #[test]
    fn a_stored_policy_fills_the_form_it_came_from() {
        for p in [
            Policy::default(),
            Policy { max_lifetime_days: Some(90), expiry_required: true, ..Policy::default() },
            Policy { max_lifetime_days: Some(45), unused_revoke_days: Some(30), ..Policy::default() },
            Policy { leak_action: LeakAction::Disable, ..Policy::default() },
        ] {
            assert_eq!(PolicyFormData::of(&p).parse().unwrap(), p);
        }
    }
}
