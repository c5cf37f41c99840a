//! *Settings → Management tokens* (owners): the tokens scripts use with the management API,
//! making one (shown once, on the page after), and revoking one. Making a token asks for
//! re-authentication (`console::sudo`): it hands a script the power to change every key.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use super::api_keys::no_store;
use super::csrf::CsrfForm;
use super::dates::{Moment, date};
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::member::Member;
use super::pages::{PageCtx, render, render_status};
use super::see_other;
use super::session::{PendingToken, TypedSession};
use super::sudo::{self, SudoField};
use super::webhooks::EmptyForm;
use crate::accounts::Capability;
use crate::keys::expiry::{AllowedDays, DEFAULT_DAYS, PRESET_DAYS};
use crate::keys::management::{self, NewToken, TokenError, TokenRow, TokenScope, TokenScopes, TokenStatus};
use crate::keys::name::KeyNameError;
use crate::keys::{Expiry, KeyName};
use crate::state::AppState;

pub const PATH: &str = "/settings/management-tokens";
const ACTIVE: &str = "tokens";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PATH).route(web::get().to(token_list)).route(web::post().to(token_create)))
        .route("/settings/management-tokens/new", web::get().to(token_new))
        .route("/settings/management-tokens/{id}/token", web::get().to(token_reveal))
        .service(
            web::resource("/settings/management-tokens/{id}/revoke")
                .route(web::get().to(token_revoke_form))
                .route(web::post().to(token_revoke)),
        );
}

fn parse_id(raw: &str) -> Result<i64, ConsoleError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(ConsoleError::NotFound)
}

impl From<TokenError> for ConsoleError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotFound => ConsoleError::NotFound,
            TokenError::Db(e) => e.into(),
            other => ConsoleError::Conflict(other.to_string()),
        }
    }
}

/// A token as the list shows it.
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub masked: String,
    pub scopes: Vec<&'static str>,
    pub created: Moment,
    pub created_by: String,
    pub last_used: Option<Moment>,
    pub expires: Option<Moment>,
    pub status: &'static str,
    pub status_class: &'static str,
    pub active: bool,
}

impl TokenView {
    fn new(row: &TokenRow, now: NaiveDateTime) -> Self {
        let status = row.status(now);
        Self {
            id: row.id,
            name: row.name.clone(),
            masked: row.masked(),
            scopes: row.scopes().iter().map(TokenScope::as_str).collect(),
            created: Moment::new(row.created_at, now),
            created_by: row.created_by_label.clone(),
            last_used: row.last_used_at.map(|t| Moment::new(t, now)),
            expires: row.expires_at.map(|t| Moment::new(t, now)),
            status: status.label(),
            status_class: match status {
                TokenStatus::Active => "status-active",
                TokenStatus::Expired => "status-expired",
                TokenStatus::Revoked => "status-revoked",
            },
            active: status == TokenStatus::Active,
        }
    }
}

#[derive(Template)]
#[template(path = "management_tokens/list.html")]
pub struct ListPage {
    pub ctx: PageCtx,
    pub workspace_name: String,
    pub tokens: Vec<TokenView>,
}

pub async fn token_list(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageTokens)?;
    let rows = management::list(&state.db, member.workspace_id).await?;
    let now = Utc::now().naive_utc();
    render(&ListPage {
        ctx: PageCtx::for_member(&member, &session, ACTIVE),
        workspace_name: member.workspace_name.clone(),
        tokens: rows.iter().map(|row| TokenView::new(row, now)).collect(),
    })
}

// ---------------------------------------------------------------- making one

#[derive(Default, Deserialize)]
pub struct TokenFormData {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub expiry: String,
    #[serde(default)]
    pub expiry_date: String,
    #[serde(default)]
    pub confirm_identity: String,
}

#[derive(Default)]
pub struct TokenErrors {
    pub name: Option<String>,
    pub scopes: Option<String>,
    pub expiry: Option<String>,
}

/// One scope's checkbox.
pub struct ScopeChoice {
    /// The checkbox's id: `scope-keys-read`.
    pub id: String,
    pub value: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

/// One expiry choice.
pub struct ExpiryChoice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "management_tokens/new.html")]
pub struct NewPage {
    pub ctx: PageCtx,
    pub name: String,
    pub scopes: Vec<ScopeChoice>,
    pub expiries: Vec<ExpiryChoice>,
    pub expiry_date: String,
    pub min_date: String,
    pub max_date: String,
    pub errors: TokenErrors,
    pub sudo: SudoField,
}

impl NewPage {
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    pub fn error_count(&self) -> usize {
        [
            self.errors.name.is_some(),
            self.errors.scopes.is_some(),
            self.errors.expiry.is_some(),
            self.sudo.error.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

fn new_page(
    member: &Member,
    session: &TypedSession,
    form: &TokenFormData,
    errors: TokenErrors,
    sudo: SudoField,
) -> NewPage {
    let now = Utc::now().naive_utc();
    let chosen = if form.expiry.is_empty() { DEFAULT_DAYS.to_string() } else { form.expiry.clone() };
    let mut expiries: Vec<ExpiryChoice> = PRESET_DAYS
        .iter()
        .map(|d| ExpiryChoice {
            value: d.to_string(),
            label: format!(
                "{d} days (until {})",
                Expiry::Days(*d).expires_at(now).map(date).unwrap_or_default()
            ),
            selected: chosen == d.to_string(),
        })
        .collect();
    expiries.push(ExpiryChoice {
        value: "custom".into(),
        label: "Custom date".into(),
        selected: chosen == "custom",
    });
    expiries.push(ExpiryChoice {
        value: "never".into(),
        label: "No expiration (not recommended)".into(),
        selected: chosen == "never",
    });
    let allowed = AllowedDays::from_today(now.date());
    NewPage {
        ctx: PageCtx::for_member(member, session, ACTIVE),
        name: form.name.clone(),
        scopes: TokenScope::ALL
            .iter()
            .map(|s| ScopeChoice {
                id: format!("scope-{}", s.as_str().replace(':', "-")),
                value: s.as_str(),
                description: s.describe(),
                checked: form.scopes.iter().any(|c| c == s.as_str()),
            })
            .collect(),
        expiries,
        expiry_date: form.expiry_date.clone(),
        min_date: allowed.first.to_string(),
        max_date: allowed.last.to_string(),
        errors,
        sudo,
    }
}

pub async fn token_new(member: Member, session: TypedSession) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageTokens)?;
    let form =
        TokenFormData { scopes: vec![TokenScope::KeysRead.as_str().into()], ..TokenFormData::default() };
    render(&new_page(&member, &session, &form, TokenErrors::default(), SudoField::for_member(&member)))
}

impl TokenFormData {
    fn parse(&self, now: NaiveDateTime) -> Result<NewToken, TokenErrors> {
        let mut errors = TokenErrors::default();
        let name = KeyName::parse(&self.name).map_err(|e| {
            errors.name = Some(match e {
                KeyNameError::Empty => "Enter a name for the token.".to_owned(),
                other => other.to_string(),
            })
        });
        let scopes = TokenScopes::parse(self.scopes.iter().map(String::as_str))
            .map_err(|e| errors.scopes = Some(e.to_string()));
        let expiry = Expiry::parse(&self.expiry, &self.expiry_date, now)
            .map_err(|e| errors.expiry = Some(e.to_string()));
        match (name, scopes, expiry) {
            (Ok(name), Ok(scopes), Ok(expiry)) => Ok(NewToken { name, scopes, expiry }),
            _ => Err(errors),
        }
    }
}

pub async fn token_create(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<TokenFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageTokens)?;
    let request = match form.parse(Utc::now().naive_utc()) {
        Ok(request) => request,
        Err(errors) => {
            let page = new_page(&member, &session, &form, errors, SudoField::for_member(&member));
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page).map(no_store);
        }
    };
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (code, wait) = (field.status(), field.retry_after);
        let page = new_page(&member, &session, &form, TokenErrors::default(), field);
        return Ok(sudo::with_wait(render_status(code, &page).map(no_store)?, wait));
    }
    let (id, token) = management::create(&state.db, &member.actor(), member.workspace_id, request).await?;
    let pending = PendingToken { token_id: id, token: token.expose().to_owned() };
    session.set_pending_token(&pending).map_err(anyhow::Error::from)?;
    Ok(no_store(see_other(&format!("{PATH}/{id}/token"))))
}

#[derive(Template)]
#[template(path = "management_tokens/reveal.html")]
pub struct RevealPage {
    pub ctx: PageCtx,
    pub name: String,
    pub scopes: String,
    /// `None` once it was shown.
    pub token: Option<String>,
    pub base_url: String,
}

/// Shows a new token once: the session holds it only until this page renders.
pub async fn token_reveal(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageTokens)?;
    let row = management::find(&state.db, member.workspace_id, parse_id(&path)?).await?;
    let token = session.take_pending_token(row.id);
    let base_url = crate::config::public_link(state.settings.public_url.as_ref(), "")
        .unwrap_or_else(|| "https://keyward.example".to_owned());
    let page = RevealPage {
        ctx: PageCtx::for_member(&member, &session, ACTIVE),
        scopes: row.scopes().to_string(),
        name: row.name,
        token,
        base_url,
    };
    render(&page).map(no_store)
}

// ---------------------------------------------------------------- revoking one

#[derive(Template)]
#[template(path = "management_tokens/revoke.html")]
pub struct RevokePage {
    pub ctx: PageCtx,
    pub token: TokenView,
}

pub async fn token_revoke_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageTokens)?;
    let row = management::find(&state.db, member.workspace_id, parse_id(&path)?).await?;
    let now = Utc::now().naive_utc();
    render(&RevokePage {
        ctx: PageCtx::for_member(&member, &session, ACTIVE),
        token: TokenView::new(&row, now),
    })
}

pub async fn token_revoke(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageTokens)?;
    let id = parse_id(&path)?;
    let (level, message) = match management::revoke(&state.db, &member.actor(), member.workspace_id, id).await
    {
        Ok(row) => (
            Level::Success,
            format!(
                "Revoked \u{201c}{}\u{201d} ({}). Scripts using it are refused from now on.",
                row.name,
                row.masked()
            ),
        ),
        Err(e @ TokenError::AlreadyRevoked { .. }) => (Level::Error, e.to_string()),
        Err(e) => return Err(e.into()),
    };
    flash::push(session.inner(), level, message);
    Ok(see_other(PATH))
}
