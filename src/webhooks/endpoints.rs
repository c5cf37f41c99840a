//! Endpoints and their deliveries: one function per change, each inside the caller's
//! transaction with its audit event, and the queries the console's pages read. Every query
//! names the workspace, so an id from another workspace finds nothing.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::signing::SigningSecret;
use super::url::{UrlError, WebhookUrl, redacted};
use crate::accounts::two_factor::SecretCipher;
use crate::audit::{self, Actor, Event};
use crate::db::DbConnection;
use crate::db::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_events};
use crate::events::{self, EventType};

/// A description longer than this is refused.
pub const MAX_DESCRIPTION: usize = 200;
/// How many deliveries an endpoint's page lists.
pub const RECENT_DELIVERIES: i64 = 50;

/// What an owner chose for an endpoint, checked.
#[derive(Clone, Debug)]
pub struct EndpointInput {
    pub url: WebhookUrl,
    pub description: String,
    pub events: Vec<EventType>,
}

/// The form's problems, one message per field.
#[derive(Clone, Debug, Default)]
pub struct InputErrors {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<String>,
}

impl InputErrors {
    pub fn any(&self) -> bool {
        self.url.is_some() || self.description.is_some() || self.events.is_some()
    }
}

impl EndpointInput {
    /// Parses the form's fields: the URL ([`WebhookUrl::parse`]), a short description, and
    /// at least one event type (`all` stands for every one).
    pub fn parse(
        url: &str,
        description: &str,
        events: &[String],
        allow_private: bool,
    ) -> Result<Self, InputErrors> {
        let mut errors = InputErrors::default();
        let url = WebhookUrl::parse(url, allow_private)
            .map_err(|e: UrlError| errors.url = Some(e.to_string()))
            .ok();
        let description = description.trim().to_owned();
        if description.chars().count() > MAX_DESCRIPTION {
            errors.description = Some(format!("A description is at most {MAX_DESCRIPTION} characters."));
        }
        let chosen: Vec<EventType> = if events.iter().any(|e| e == "all") {
            EventType::SUBSCRIBABLE.to_vec()
        } else {
            EventType::SUBSCRIBABLE.into_iter().filter(|t| events.iter().any(|e| e == t.as_str())).collect()
        };
        if chosen.is_empty() {
            errors.events = Some("Choose at least one event to send.".into());
        }
        match url {
            Some(url) if !errors.any() => Ok(Self { url, description, events: chosen }),
            _ => Err(errors),
        }
    }

    fn events_text(&self) -> String {
        self.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// An endpoint as its pages show it (never its secret).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub events: Vec<EventType>,
    pub created_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<NaiveDateTime>,
}

impl Endpoint {
    pub fn enabled(&self) -> bool {
        self.disabled_at.is_none()
    }

    pub fn subscribes(&self, t: EventType) -> bool {
        self.events.contains(&t)
    }
}

type EndpointRow = (
    i64,
    String,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<String>,
    Option<NaiveDateTime>,
);

fn endpoint_of(row: EndpointRow) -> Endpoint {
    let (id, url, description, events, created_at, disabled_at, disabled_reason, failing_since) = row;
    Endpoint {
        id,
        url,
        description,
        events: events.split_whitespace().filter_map(EventType::parse).collect(),
        created_at,
        disabled_at,
        disabled_reason,
        failing_since,
    }
}

macro_rules! endpoint_columns {
    () => {
        (
            webhook_endpoints::id,
            webhook_endpoints::url,
            webhook_endpoints::description,
            webhook_endpoints::events,
            webhook_endpoints::created_at,
            webhook_endpoints::disabled_at,
            webhook_endpoints::disabled_reason,
            webhook_endpoints::failing_since,
        )
    };
}

/// The workspace's endpoints, oldest first.
pub fn list(conn: &mut DbConnection, workspace_id: i64) -> QueryResult<Vec<Endpoint>> {
    let rows: Vec<EndpointRow> = webhook_endpoints::table
        .filter(webhook_endpoints::workspace_id.eq(workspace_id))
        .order(webhook_endpoints::id.asc())
        .select(endpoint_columns!())
        .load(conn)?;
    Ok(rows.into_iter().map(endpoint_of).collect())
}

pub fn find(conn: &mut DbConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Endpoint>> {
    let row: Option<EndpointRow> = webhook_endpoints::table
        .filter(webhook_endpoints::workspace_id.eq(workspace_id))
        .filter(webhook_endpoints::id.eq(id))
        .select(endpoint_columns!())
        .first(conn)
        .optional()?;
    Ok(row.map(endpoint_of))
}

/// One delivery as the endpoint's page lists it.
#[derive(Clone, Debug)]
pub struct DeliveryRow {
    pub id: i64,
    pub message_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// Each attempt's answer, oldest first (`None`: no answer).
    pub answers: Vec<Option<i32>>,
}

type DeliveryTuple = (
    i64,
    String,
    String,
    String,
    i32,
    Option<i32>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

/// The endpoint's latest deliveries, newest first.
pub fn recent_deliveries(
    conn: &mut DbConnection,
    workspace_id: i64,
    endpoint_id: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let rows: Vec<DeliveryTuple> = webhook_deliveries::table
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_events::workspace_id.eq(workspace_id))
        .order(webhook_deliveries::id.desc())
        .limit(RECENT_DELIVERIES)
        .select((
            webhook_deliveries::id,
            webhook_events::message_id,
            webhook_events::event_type,
            webhook_deliveries::status,
            webhook_deliveries::attempts,
            webhook_deliveries::response_status,
            webhook_deliveries::last_error,
            webhook_deliveries::last_attempt_at,
            webhook_deliveries::next_attempt_at,
            webhook_deliveries::created_at,
        ))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let attempts: Vec<(i64, Option<i32>)> = webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(&ids))
        .order((webhook_attempts::delivery_id.asc(), webhook_attempts::id.asc()))
        .select((webhook_attempts::delivery_id, webhook_attempts::response_status))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryRow {
            answers: attempts.iter().filter(|(d, _)| *d == r.0).map(|(_, s)| *s).collect(),
            id: r.0,
            message_id: r.1,
            event_type: r.2,
            status: r.3,
            attempts: r.4,
            response_status: r.5,
            last_error: r.6,
            last_attempt_at: r.7,
            next_attempt_at: r.8,
            created_at: r.9,
        })
        .collect())
}

fn audit_event(
    conn: &mut DbConnection,
    actor: &Actor,
    ws: i64,
    action: &str,
    details: String,
    now: NaiveDateTime,
) -> QueryResult<()> {
    audit::record(conn, actor, Event { workspace_id: Some(ws), action, key: None, details }, now)
}

/// Adds an endpoint; answers its id and its signing secret, which is stored only sealed.
pub fn create(
    conn: &mut DbConnection,
    cipher: &SecretCipher,
    actor: &Actor,
    workspace_id: i64,
    input: &EndpointInput,
    now: NaiveDateTime,
) -> QueryResult<(i64, SigningSecret)> {
    let secret = SigningSecret::generate();
    let id: i64 = diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::workspace_id.eq(workspace_id),
            webhook_endpoints::url.eq(input.url.as_str()),
            webhook_endpoints::description.eq(&input.description),
            webhook_endpoints::events.eq(input.events_text()),
            webhook_endpoints::secret.eq(cipher.seal_bytes(secret.bytes())),
            webhook_endpoints::created_by.eq(actor.user_id),
            webhook_endpoints::created_at.eq(now),
        ))
        .returning(webhook_endpoints::id)
        .get_result(conn)?;
    let details =
        format!("Webhook endpoint {} added ({})", redacted(input.url.as_str()), input.events_text());
    audit_event(conn, actor, workspace_id, "webhook.created", details, now)?;
    Ok((id, secret))
}

/// Changes an endpoint's URL, description and events. `None`: no such endpoint here.
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    input: &EndpointInput,
    now: NaiveDateTime,
) -> QueryResult<Option<()>> {
    let n = diesel::update(
        webhook_endpoints::table
            .filter(webhook_endpoints::workspace_id.eq(workspace_id))
            .filter(webhook_endpoints::id.eq(id)),
    )
    .set((
        webhook_endpoints::url.eq(input.url.as_str()),
        webhook_endpoints::description.eq(&input.description),
        webhook_endpoints::events.eq(input.events_text()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    let details =
        format!("Webhook endpoint {} changed ({})", redacted(input.url.as_str()), input.events_text());
    audit_event(conn, actor, workspace_id, "webhook.updated", details, now)?;
    Ok(Some(()))
}

/// Disables or enables an endpoint. Enabling starts afresh: the failure clock is reset.
/// Answers whether it changed; `None`: no such endpoint.
pub fn set_enabled(
    conn: &mut DbConnection,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    enabled: bool,
    now: NaiveDateTime,
) -> QueryResult<Option<bool>> {
    let Some(endpoint) = find(conn, workspace_id, id)? else { return Ok(None) };
    if endpoint.enabled() == enabled {
        return Ok(Some(false));
    }
    let target = webhook_endpoints::table.filter(webhook_endpoints::id.eq(id));
    if enabled {
        diesel::update(target)
            .set((
                webhook_endpoints::disabled_at.eq(None::<NaiveDateTime>),
                webhook_endpoints::disabled_reason.eq(None::<String>),
                webhook_endpoints::failing_since.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set((
                webhook_endpoints::disabled_at.eq(Some(now)),
                webhook_endpoints::disabled_reason.eq(Some(format!("Disabled by {}", actor.label))),
            ))
            .execute(conn)?;
        drop_pending(conn, id)?;
    }
    let (action, verb) =
        if enabled { ("webhook.enabled", "enabled") } else { ("webhook.disabled", "disabled") };
    audit_event(
        conn,
        actor,
        workspace_id,
        action,
        format!("Webhook endpoint {} {verb}", redacted(&endpoint.url)),
        now,
    )?;
    Ok(Some(true))
}

/// Marks the endpoint's waiting deliveries failed: a disabled endpoint is sent nothing, and its
/// page should not promise retries. Each can still be redelivered once it is enabled again.
pub fn drop_pending(conn: &mut DbConnection, endpoint_id: i64) -> QueryResult<usize> {
    let pending = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::status.eq("pending"));
    // Those never tried say why; the others keep their last attempt's error.
    diesel::update(pending.filter(webhook_deliveries::last_error.is_null()))
        .set(webhook_deliveries::last_error.eq(Some("Not sent: the endpoint was disabled.")))
        .execute(conn)?;
    diesel::update(pending)
        .set((
            webhook_deliveries::status.eq("failed"),
            webhook_deliveries::next_attempt_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

/// Deletes an endpoint with its deliveries. Answers its URL; `None`: no such endpoint.
pub fn delete(
    conn: &mut DbConnection,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<String>> {
    let Some(endpoint) = find(conn, workspace_id, id)? else { return Ok(None) };
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id))).execute(conn)?;
    diesel::delete(webhook_endpoints::table.filter(webhook_endpoints::id.eq(id))).execute(conn)?;
    audit_event(
        conn,
        actor,
        workspace_id,
        "webhook.deleted",
        format!("Webhook endpoint {} deleted", redacted(&endpoint.url)),
        now,
    )?;
    Ok(Some(endpoint.url))
}

/// A new signing secret for the endpoint; the old one stops signing at once.
pub fn rotate_secret(
    conn: &mut DbConnection,
    cipher: &SecretCipher,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<SigningSecret>> {
    let Some(endpoint) = find(conn, workspace_id, id)? else { return Ok(None) };
    let secret = SigningSecret::generate();
    diesel::update(webhook_endpoints::table.filter(webhook_endpoints::id.eq(id)))
        .set(webhook_endpoints::secret.eq(cipher.seal_bytes(secret.bytes())))
        .execute(conn)?;
    let details = format!("Webhook endpoint {}: new signing secret", redacted(&endpoint.url));
    audit_event(conn, actor, workspace_id, "webhook.secret_rotated", details, now)?;
    Ok(Some(secret))
}

/// What sending a test event or a redelivery came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    Queued,
    /// The endpoint is disabled: nothing would be sent.
    EndpointDisabled,
    NotFound,
}

/// Queues a `webhook.test` event for this endpoint only.
pub fn send_test(
    conn: &mut DbConnection,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    now: NaiveDateTime,
) -> QueryResult<Queued> {
    let Some(endpoint) = find(conn, workspace_id, id)? else { return Ok(Queued::NotFound) };
    if !endpoint.enabled() {
        return Ok(Queued::EndpointDisabled);
    }
    let data = json!({
        "message": "A test event sent from the keyward console.",
        "endpoint_id": id,
        "sent_by": actor.label,
    });
    events::emit_to(conn, workspace_id, EventType::WebhookTest, data, &[id], now)?;
    Ok(Queued::Queued)
}

/// Sends a stored delivery's event again, as a new delivery with the same `webhook-id` (so a
/// receiver that already processed it can tell).
pub fn redeliver(
    conn: &mut DbConnection,
    workspace_id: i64,
    endpoint_id: i64,
    delivery_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Queued> {
    let Some(endpoint) = find(conn, workspace_id, endpoint_id)? else { return Ok(Queued::NotFound) };
    let event_id: Option<i64> = webhook_deliveries::table
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::id.eq(delivery_id))
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_events::workspace_id.eq(workspace_id))
        .select(webhook_events::id)
        .first(conn)
        .optional()?;
    let Some(event_id) = event_id else { return Ok(Queued::NotFound) };
    if !endpoint.enabled() {
        return Ok(Queued::EndpointDisabled);
    }
    events::queue_delivery(conn, event_id, endpoint_id, now)?;
    Ok(Queued::Queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_needs_a_url_and_an_event() {
        let err = EndpointInput::parse("", "", &[], false).unwrap_err();
        assert!(err.url.is_some() && err.events.is_some() && err.description.is_none());
        let all = EndpointInput::parse("https://example.com/h", " note ", &["all".into()], false).unwrap();
        assert_eq!(all.events.len(), EventType::SUBSCRIBABLE.len());
        assert_eq!(all.description, "note");
        let some =
            EndpointInput::parse("https://example.com/h", "", &["key.revoked".into(), "nope".into()], false)
                .unwrap();
        assert_eq!(some.events, [EventType::KeyRevoked]);
        assert_eq!(some.events_text(), "key.revoked");
        let long = "x".repeat(MAX_DESCRIPTION + 1);
        assert!(EndpointInput::parse("https://example.com/h", &long, &["all".into()], false).is_err());
    }
}
