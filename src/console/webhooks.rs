//! *Settings → Webhooks* (owners): the workspace's endpoints, adding one (its signing secret
//! shown once), an endpoint's page with its recent deliveries, "Send test event" and
//! "Redeliver", editing, disabling and enabling, a new signing secret, and deleting. Adding an
//! endpoint, pointing one at a new URL and replacing its secret ask for re-authentication
//! (`console::sudo`): each decides where the workspace's events go, or who can sign for them.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::api_keys::no_store;
use super::csrf::CsrfForm;
use super::dates::Moment;
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::member::Member;
use super::pages::{PageCtx, render, render_status};
use super::see_other;
use super::session::{PendingWebhookSecret, TypedSession};
use super::sudo::{self, SudoField};
use crate::accounts::Capability;
use crate::db::DbError;
use crate::events::EventType;
use crate::state::AppState;
use crate::webhooks::endpoints::{self, DeliveryRow, Endpoint, EndpointInput, InputErrors, Queued};

pub const PATH: &str = "/settings/webhooks";
const ACTIVE: &str = "webhooks";

/// Registers the webhook pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PATH).route(web::get().to(webhook_list)).route(web::post().to(webhook_create)))
        .route("/settings/webhooks/new", web::get().to(webhook_new))
        .route("/settings/webhooks/{id}", web::get().to(webhook_show))
        .route("/settings/webhooks/{id}/secret", web::get().to(webhook_secret))
        .service(
            web::resource("/settings/webhooks/{id}/edit")
                .route(web::get().to(webhook_edit_form))
                .route(web::post().to(webhook_edit)),
        )
        .route("/settings/webhooks/{id}/test", web::post().to(webhook_test))
        .route("/settings/webhooks/{id}/deliveries/{delivery}/redeliver", web::post().to(webhook_redeliver))
        .route("/settings/webhooks/{id}/enable", web::post().to(webhook_enable))
        .route("/settings/webhooks/{id}/disable", web::post().to(webhook_disable))
        .service(
            web::resource("/settings/webhooks/{id}/delete")
                .route(web::get().to(webhook_delete_form))
                .route(web::post().to(webhook_delete)),
        )
        .service(
            web::resource("/settings/webhooks/{id}/rotate-secret")
                .route(web::get().to(webhook_rotate_form))
                .route(web::post().to(webhook_rotate)),
        );
}

fn parse_id(raw: &str) -> Result<i64, ConsoleError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(ConsoleError::NotFound)
}

fn endpoint_path(id: i64) -> String {
    format!("{PATH}/{id}")
}

/// An endpoint as the pages show it.
pub struct EndpointView {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub events: Vec<&'static str>,
    pub all_events: bool,
    pub enabled: bool,
    /// "Active", "Failing", "Disabled".
    pub status: &'static str,
    pub status_class: &'static str,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<Moment>,
    pub created: Moment,
}

impl EndpointView {
    fn new(e: Endpoint, now: chrono::NaiveDateTime) -> Self {
        let (status, status_class) = match (e.enabled(), e.failing_since.is_some()) {
            (false, _) => ("Disabled", "status-revoked"),
            (true, true) => ("Failing", "status-expired"),
            (true, false) => ("Active", "status-active"),
        };
        Self {
            id: e.id,
            all_events: EventType::SUBSCRIBABLE.iter().all(|t| e.subscribes(*t)),
            events: e.events.iter().map(|t| t.as_str()).collect(),
            enabled: e.enabled(),
            status,
            status_class,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since.filter(|_| e.disabled_at.is_none()).map(|t| Moment::new(t, now)),
            created: Moment::new(e.created_at, now),
            url: e.url,
            description: e.description,
        }
    }
}

async fn find(state: &AppState, member: &Member, id: i64) -> Result<Endpoint, ConsoleError> {
    let ws = member.workspace_id;
    state
        .db
        .run(move |conn| endpoints::find(conn, ws, id).map_err(DbError::from))
        .await?
        .ok_or(ConsoleError::NotFound)
}

// ---------------------------------------------------------------- the list

#[derive(Template)]
#[template(path = "webhooks/list.html")]
pub struct ListPage {
    pub ctx: PageCtx,
    pub workspace_name: String,
    pub endpoints: Vec<EndpointView>,
}

pub async fn webhook_list(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let ws = member.workspace_id;
    let list = state.db.run(move |conn| endpoints::list(conn, ws).map_err(DbError::from)).await?;
    let now = Utc::now().naive_utc();
    render(&ListPage {
        ctx: PageCtx::for_member(&member, &session, ACTIVE),
        workspace_name: member.workspace_name.clone(),
        endpoints: list.into_iter().map(|e| EndpointView::new(e, now)).collect(),
    })
}

// ---------------------------------------------------------------- add and edit

/// One event's checkbox.
pub struct EventChoice {
    pub value: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "webhooks/form.html")]
pub struct FormPage {
    pub ctx: PageCtx,
    /// The endpoint being edited; `None` when adding one.
    pub editing: Option<i64>,
    pub url: String,
    pub description: String,
    pub all_events: bool,
    pub choices: Vec<EventChoice>,
    pub errors: InputErrors,
    pub sudo: SudoField,
    pub allow_private: bool,
}

impl FormPage {
    pub fn has_errors(&self) -> bool {
        self.errors.any() || self.sudo.error.is_some()
    }

    pub fn error_count(&self) -> usize {
        [
            self.errors.url.is_some(),
            self.errors.description.is_some(),
            self.errors.events.is_some(),
            self.sudo.error.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }

    pub fn action(&self) -> String {
        match self.editing {
            Some(id) => format!("{PATH}/{id}/edit"),
            None => PATH.to_owned(),
        }
    }
}

#[derive(Default, Deserialize)]
pub struct EndpointFormData {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub confirm_identity: String,
}

fn form_page(
    state: &AppState,
    member: &Member,
    session: &TypedSession,
    editing: Option<i64>,
    form: &EndpointFormData,
    errors: InputErrors,
    sudo: SudoField,
) -> FormPage {
    let all_events = form.events.iter().any(|e| e == "all");
    FormPage {
        ctx: PageCtx::for_member(member, session, ACTIVE),
        editing,
        url: form.url.clone(),
        description: form.description.clone(),
        all_events,
        choices: EventType::SUBSCRIBABLE
            .iter()
            .map(|t| EventChoice {
                value: t.as_str(),
                description: t.describe(),
                checked: !all_events && form.events.iter().any(|e| e == t.as_str()),
            })
            .collect(),
        errors,
        sudo,
        allow_private: state.settings.webhooks.allow_private,
    }
}

pub async fn webhook_new(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let form = EndpointFormData { events: vec!["all".into()], ..EndpointFormData::default() };
    let sudo = SudoField::for_member(&member);
    render(&form_page(&state, &member, &session, None, &form, InputErrors::default(), sudo))
}

pub async fn webhook_create(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<EndpointFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let allow_private = state.settings.webhooks.allow_private;
    let input = match EndpointInput::parse(&form.url, &form.description, &form.events, allow_private) {
        Ok(input) => input,
        Err(errors) => {
            let page =
                form_page(&state, &member, &session, None, &form, errors, SudoField::for_member(&member));
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (code, wait) = (field.status(), field.retry_after);
        let page = form_page(&state, &member, &session, None, &form, InputErrors::default(), field);
        return Ok(sudo::with_wait(render_status(code, &page)?, wait));
    }
    let (actor, ws, now) = (member.actor(), member.workspace_id, Utc::now().naive_utc());
    let cipher = state.webhooks.cipher().clone();
    let (id, secret) = state
        .db
        .write(move |conn| {
            endpoints::create(conn, &cipher, &actor, ws, &input, now).map_err(ConsoleError::from)
        })
        .await?;
    let pending = PendingWebhookSecret { endpoint_id: id, secret: secret.reveal() };
    session.set_pending_webhook_secret(&pending).map_err(anyhow::Error::from)?;
    Ok(no_store(see_other(&format!("{PATH}/{id}/secret"))))
}

pub async fn webhook_edit_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let endpoint = find(&state, &member, parse_id(&path)?).await?;
    let all = EventType::SUBSCRIBABLE.iter().all(|t| endpoint.subscribes(*t));
    let form = EndpointFormData {
        url: endpoint.url.clone(),
        description: endpoint.description.clone(),
        events: if all {
            vec!["all".into()]
        } else {
            endpoint.events.iter().map(|t| t.as_str().to_owned()).collect()
        },
        confirm_identity: String::new(),
    };
    let page = form_page(
        &state,
        &member,
        &session,
        Some(endpoint.id),
        &form,
        InputErrors::default(),
        edit_sudo(&member),
    );
    render(&page)
}

/// Pointing an endpoint elsewhere sends the workspace's events there: asked like adding one.
const URL_CHANGE_ONLY: &str = "Asked only when the URL changes.";

fn edit_sudo(member: &Member) -> SudoField {
    SudoField { only_for: Some(URL_CHANGE_ONLY), ..SudoField::for_member(member) }
}

pub async fn webhook_edit(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<EndpointFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let id = parse_id(&path)?;
    let allow_private = state.settings.webhooks.allow_private;
    let input = match EndpointInput::parse(&form.url, &form.description, &form.events, allow_private) {
        Ok(input) => input,
        Err(errors) => {
            find(&state, &member, id).await?;
            let page = form_page(&state, &member, &session, Some(id), &form, errors, edit_sudo(&member));
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let current = find(&state, &member, id).await?;
    if current.url != input.url.as_str()
        && let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await?
    {
        let (code, wait) = (field.status(), field.retry_after);
        let field = SudoField { only_for: Some(URL_CHANGE_ONLY), ..field };
        let page = form_page(&state, &member, &session, Some(id), &form, InputErrors::default(), field);
        return Ok(sudo::with_wait(render_status(code, &page)?, wait));
    }
    let (actor, ws, now) = (member.actor(), member.workspace_id, Utc::now().naive_utc());
    state
        .db
        .write(move |conn| endpoints::update(conn, &actor, ws, id, &input, now).map_err(ConsoleError::from))
        .await?
        .ok_or(ConsoleError::NotFound)?;
    flash::push(session.inner(), Level::Success, "Saved the endpoint.");
    Ok(see_other(&endpoint_path(id)))
}

// ---------------------------------------------------------------- the secret, once

#[derive(Template)]
#[template(path = "webhooks/secret.html")]
pub struct SecretPage {
    pub ctx: PageCtx,
    pub id: i64,
    pub url: String,
    /// The secret, on the first view only.
    pub secret: Option<String>,
}

pub async fn webhook_secret(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let endpoint = find(&state, &member, parse_id(&path)?).await?;
    let secret = session.take_pending_webhook_secret(endpoint.id);
    let page = SecretPage {
        ctx: PageCtx::for_member(&member, &session, ACTIVE),
        id: endpoint.id,
        url: endpoint.url,
        secret,
    };
    render(&page).map(no_store)
}

// ---------------------------------------------------------------- an endpoint and its deliveries

/// One delivery as the endpoint's page lists it.
pub struct DeliveryView {
    pub id: i64,
    pub event_type: String,
    pub message_id: String,
    pub status: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub attempts: i32,
    pub response: String,
    /// Every attempt's answer, oldest first, when there was more than one: "500 → 500 → 204".
    pub history: Option<String>,
    pub last_error: Option<String>,
    pub last_attempt: Option<Moment>,
    pub next_attempt: Option<Moment>,
    pub created: Moment,
}

impl DeliveryView {
    fn new(d: DeliveryRow, now: chrono::NaiveDateTime) -> Self {
        let (status_label, status_class) = match d.status.as_str() {
            "succeeded" => ("Succeeded", "status-active"),
            "failed" => ("Failed", "status-revoked"),
            _ if d.attempts > 0 => ("Retrying", "status-expired"),
            _ => ("Pending", "status-pending"),
        };
        Self {
            id: d.id,
            event_type: d.event_type,
            message_id: d.message_id,
            status_label,
            status_class,
            status: d.status,
            attempts: d.attempts,
            response: d.response_status.map_or_else(|| "—".to_owned(), |c| c.to_string()),
            history: (d.answers.len() > 1).then(|| {
                let each: Vec<String> = d
                    .answers
                    .iter()
                    .map(|a| a.map_or_else(|| "no answer".to_owned(), |c| c.to_string()))
                    .collect();
                each.join(" → ")
            }),
            last_error: d.last_error,
            last_attempt: d.last_attempt_at.map(|t| Moment::new(t, now)),
            next_attempt: d.next_attempt_at.filter(|_| d.attempts > 0).map(|t| Moment::new(t, now)),
            created: Moment::new(d.created_at, now),
        }
    }
}

#[derive(Template)]
#[template(path = "webhooks/endpoint.html")]
pub struct EndpointPage {
    pub ctx: PageCtx,
    pub endpoint: EndpointView,
    pub deliveries: Vec<DeliveryView>,
}

pub async fn webhook_show(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let id = parse_id(&path)?;
    let ws = member.workspace_id;
    let (endpoint, deliveries) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let Some(endpoint) = endpoints::find(conn, ws, id)? else { return Ok(None) };
            Ok(Some((endpoint, endpoints::recent_deliveries(conn, ws, id)?)))
        })
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let now = Utc::now().naive_utc();
    render(&EndpointPage {
        ctx: PageCtx::for_member(&member, &session, ACTIVE),
        endpoint: EndpointView::new(endpoint, now),
        deliveries: deliveries.into_iter().map(|d| DeliveryView::new(d, now)).collect(),
    })
}

#[derive(Deserialize)]
pub struct EmptyForm {}

fn queued_message(queued: Queued, what: &str) -> Result<(Level, String), ConsoleError> {
    match queued {
        Queued::Queued => {
            Ok((Level::Success, format!("{what} It is listed below; refresh to see how it went.")))
        }
        Queued::EndpointDisabled => {
            Ok((Level::Error, "This endpoint is disabled: enable it first, then send again.".to_owned()))
        }
        Queued::NotFound => Err(ConsoleError::NotFound),
    }
}

pub async fn webhook_test(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let id = parse_id(&path)?;
    let (actor, ws, now) = (member.actor(), member.workspace_id, Utc::now().naive_utc());
    let queued = state
        .db
        .write(move |conn| endpoints::send_test(conn, &actor, ws, id, now).map_err(ConsoleError::from))
        .await?;
    state.webhooks.nudge();
    let (level, message) = queued_message(queued, "A test event is on its way.")?;
    flash::push(session.inner(), level, message);
    Ok(see_other(&endpoint_path(id)))
}

pub async fn webhook_redeliver(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let (id, delivery) = (parse_id(&path.0)?, parse_id(&path.1)?);
    let (ws, now) = (member.workspace_id, Utc::now().naive_utc());
    let queued = state
        .db
        .write(move |conn| endpoints::redeliver(conn, ws, id, delivery, now).map_err(ConsoleError::from))
        .await?;
    state.webhooks.nudge();
    let (level, message) =
        queued_message(queued, "The event is being sent again, with the same webhook-id.")?;
    flash::push(session.inner(), level, message);
    Ok(see_other(&endpoint_path(id)))
}

async fn set_enabled(
    state: &AppState,
    member: &Member,
    session: &TypedSession,
    raw_id: &str,
    enabled: bool,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let id = parse_id(raw_id)?;
    let (actor, ws, now) = (member.actor(), member.workspace_id, Utc::now().naive_utc());
    let changed = state
        .db
        .write(move |conn| {
            endpoints::set_enabled(conn, &actor, ws, id, enabled, now).map_err(ConsoleError::from)
        })
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let message = match (changed, enabled) {
        (false, _) => "Nothing changed.",
        (true, true) => "Enabled the endpoint: new events are sent to it again.",
        (true, false) => "Disabled the endpoint: no events are sent to it until it is enabled.",
    };
    flash::push(session.inner(), Level::Success, message);
    if enabled {
        state.webhooks.nudge();
    }
    Ok(see_other(&endpoint_path(id)))
}

pub async fn webhook_enable(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, ConsoleError> {
    set_enabled(&state, &member, &session, &path, true).await
}

pub async fn webhook_disable(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, ConsoleError> {
    set_enabled(&state, &member, &session, &path, false).await
}

// ---------------------------------------------------------------- delete, new secret

#[derive(Template)]
#[template(path = "webhooks/confirm.html")]
pub struct ConfirmPage {
    pub ctx: PageCtx,
    pub id: i64,
    pub url: String,
    /// `delete` or `rotate-secret`.
    pub action: &'static str,
    pub sudo: SudoField,
}

async fn confirm_page(
    state: &AppState,
    member: &Member,
    session: &TypedSession,
    raw_id: &str,
    action: &'static str,
    sudo: SudoField,
) -> Result<ConfirmPage, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let endpoint = find(state, member, parse_id(raw_id)?).await?;
    Ok(ConfirmPage {
        ctx: PageCtx::for_member(member, session, ACTIVE),
        id: endpoint.id,
        url: endpoint.url,
        action,
        sudo,
    })
}

pub async fn webhook_delete_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    render(&confirm_page(&state, &member, &session, &path, "delete", SudoField::default()).await?)
}

pub async fn webhook_delete(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let id = parse_id(&path)?;
    let (actor, ws, now) = (member.actor(), member.workspace_id, Utc::now().naive_utc());
    let url = state
        .db
        .write(move |conn| endpoints::delete(conn, &actor, ws, id, now).map_err(ConsoleError::from))
        .await?
        .ok_or(ConsoleError::NotFound)?;
    flash::push(
        session.inner(),
        Level::Success,
        format!("Deleted the endpoint {url}: no more events are sent to it."),
    );
    Ok(see_other(PATH))
}

#[derive(Default, Deserialize)]
pub struct RotateFormData {
    #[serde(default)]
    pub confirm_identity: String,
}

pub async fn webhook_rotate_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let sudo = SudoField::for_member(&member);
    render(&confirm_page(&state, &member, &session, &path, "rotate-secret", sudo).await?)
}

pub async fn webhook_rotate(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<RotateFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageWebhooks)?;
    let id = parse_id(&path)?;
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (code, wait) = (field.status(), field.retry_after);
        let page = confirm_page(&state, &member, &session, &path, "rotate-secret", field).await?;
        return Ok(sudo::with_wait(render_status(code, &page)?, wait));
    }
    let (actor, ws, now) = (member.actor(), member.workspace_id, Utc::now().naive_utc());
    let cipher = state.webhooks.cipher().clone();
    let secret = state
        .db
        .write(move |conn| {
            endpoints::rotate_secret(conn, &cipher, &actor, ws, id, now).map_err(ConsoleError::from)
        })
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let pending = PendingWebhookSecret { endpoint_id: id, secret: secret.reveal() };
    session.set_pending_webhook_secret(&pending).map_err(anyhow::Error::from)?;
    Ok(no_store(see_other(&format!("{PATH}/{id}/secret"))))
}
