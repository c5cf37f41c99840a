//! The outbox of workspace events for webhooks. A change that other systems should hear about
//! calls [`emit`] inside its own transaction, so an event exists exactly when its change does;
//! the webhook dispatcher (`webhooks::dispatch`) delivers what is written here, after commit,
//! with retries.
//!
//! [`emit`] writes the event once (`webhook_events`) and one pending delivery for every enabled
//! endpoint of the workspace subscribed to its type (`webhook_deliveries`). A workspace with no
//! such endpoint writes nothing. Payloads never hold a secret: callers pass what a key's table
//! row shows (name, masked key, permissions, times), never a key, hash or signing secret.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::db::DbConnection;
use crate::db::schema::{webhook_deliveries, webhook_endpoints, webhook_events};

/// What happened. The strings are the event types receivers see (`type` in the payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    KeyCreated,
    KeyUpdated,
    KeyRegenerated,
    KeyDisabled,
    KeyEnabled,
    KeyRevoked,
    KeyDeleted,
    KeyExpiring,
    KeyExpired,
    /// A secret scanner reported a key's secret found in public (`POST /api/v1/leaks`), and
    /// the key was revoked or disabled (or a replaced secret's grace period ended).
    KeyLeaked,
    /// Sent by an owner from the endpoint's page ("Send test event"), to that endpoint only.
    WebhookTest,
}

impl EventType {
    /// Every type an endpoint can subscribe to, in the order the console lists them.
    pub const SUBSCRIBABLE: [EventType; 10] = [
        Self::KeyCreated,
        Self::KeyUpdated,
        Self::KeyRegenerated,
        Self::KeyDisabled,
        Self::KeyEnabled,
        Self::KeyRevoked,
        Self::KeyDeleted,
        Self::KeyExpiring,
        Self::KeyExpired,
        Self::KeyLeaked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyCreated => "key.created",
            Self::KeyUpdated => "key.updated",
            Self::KeyRegenerated => "key.regenerated",
            Self::KeyDisabled => "key.disabled",
            Self::KeyEnabled => "key.enabled",
            Self::KeyRevoked => "key.revoked",
            Self::KeyDeleted => "key.deleted",
            Self::KeyExpiring => "key.expiring",
            Self::KeyExpired => "key.expired",
            Self::KeyLeaked => "key.leaked",
            Self::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::SUBSCRIBABLE.into_iter().chain([Self::WebhookTest]).find(|t| t.as_str() == s)
    }

    /// One line for the endpoint form's checkboxes.
    pub fn describe(self) -> &'static str {
        match self {
            Self::KeyCreated => "A key was created",
            Self::KeyUpdated => "A key's name, description, permissions or rate limit changed",
            Self::KeyRegenerated => "A key was given a new secret",
            Self::KeyDisabled => "A key was disabled",
            Self::KeyEnabled => "A disabled key was enabled again",
            Self::KeyRevoked => "A key was revoked",
            Self::KeyDeleted => "A key was deleted",
            Self::KeyExpiring => "A key expires in 7 days, or in 1 day",
            Self::KeyExpired => "A key expired",
            Self::KeyLeaked => "A key was reported leaked and revoked or disabled",
            Self::WebhookTest => "A test event sent from the console",
        }
    }
}

/// The Standard Webhooks message id of a new event: `msg_` and 128 random bits. Receivers use
/// it to ignore a redelivery they have already processed.
pub fn new_message_id() -> String {
    let token = crate::text::random_token();
    format!("msg_{}", &token[..22])
}

/// The body receivers get: `{"type", "timestamp", "data"}`, the Standard Webhooks shape.
pub fn payload(event_type: EventType, data: Value, now: NaiveDateTime) -> String {
    json!({
        "type": event_type.as_str(),
        "timestamp": now.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": data,
    })
    .to_string()
}

/// Whether an endpoint's stored event list (space-separated types) takes this type.
pub fn subscribes(events: &str, event_type: EventType) -> bool {
    events.split_whitespace().any(|e| e == event_type.as_str())
}

/// The enabled endpoints of the workspace subscribed to this type: whom [`emit`] writes for.
/// A caller with costly data checks this first and builds the data only when it is not empty.
pub fn subscribers(
    conn: &mut DbConnection,
    workspace_id: i64,
    event_type: EventType,
) -> QueryResult<Vec<i64>> {
    let endpoints: Vec<(i64, String)> = webhook_endpoints::table
        .filter(webhook_endpoints::workspace_id.eq(workspace_id))
        .filter(webhook_endpoints::disabled_at.is_null())
        .select((webhook_endpoints::id, webhook_endpoints::events))
        .load(conn)?;
    Ok(endpoints.into_iter().filter(|(_, events)| subscribes(events, event_type)).map(|(id, _)| id).collect())
}

/// Records an event of the workspace for every enabled endpoint subscribed to it, in the
/// caller's transaction. Returns the event's row id, or `None` when no endpoint wants it.
pub fn emit(
    conn: &mut DbConnection,
    workspace_id: i64,
    event_type: EventType,
    data: Value,
    now: NaiveDateTime,
) -> QueryResult<Option<i64>> {
    let targets = subscribers(conn, workspace_id, event_type)?;
    if targets.is_empty() {
        return Ok(None);
    }
    emit_to(conn, workspace_id, event_type, data, &targets, now).map(Some)
}

/// Records an event for the given endpoints only (a test event; a redelivery makes a new
/// delivery of the same event instead). Returns the event's row id.
pub fn emit_to(
    conn: &mut DbConnection,
    workspace_id: i64,
    event_type: EventType,
    data: Value,
    endpoint_ids: &[i64],
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let event_id: i64 = diesel::insert_into(webhook_events::table)
        .values((
            webhook_events::workspace_id.eq(workspace_id),
            webhook_events::message_id.eq(new_message_id()),
            webhook_events::event_type.eq(event_type.as_str()),
            webhook_events::payload.eq(payload(event_type, data, now)),
            webhook_events::created_at.eq(now),
        ))
        .returning(webhook_events::id)
        .get_result(conn)?;
    for endpoint_id in endpoint_ids {
        queue_delivery(conn, event_id, *endpoint_id, now)?;
    }
    Ok(event_id)
}

/// A new pending delivery of a stored event to one endpoint, due at once.
pub fn queue_delivery(
    conn: &mut DbConnection,
    event_id: i64,
    endpoint_id: i64,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::event_id.eq(event_id),
            webhook_deliveries::endpoint_id.eq(endpoint_id),
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(Some(now)),
            webhook_deliveries::created_at.eq(now),
        ))
        .returning(webhook_deliveries::id)
        .get_result(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip() {
        for t in EventType::SUBSCRIBABLE.into_iter().chain([EventType::WebhookTest]) {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("key.nope"), None);
    }

    #[test]
    fn subscription_matches_whole_types() {
        assert!(subscribes("key.created key.revoked", EventType::KeyRevoked));
        assert!(!subscribes("key.created", EventType::KeyRevoked));
        assert!(!subscribes("key.expiring", EventType::KeyExpired));
    }

    #[test]
    fn payload_has_the_standard_shape() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap().and_hms_opt(9, 30, 0).unwrap();
        let v: Value = serde_json::from_str(&payload(EventType::KeyCreated, json!({"id": 7}), now)).unwrap();
        assert_eq!(v["type"], "key.created");
        assert_eq!(v["timestamp"], "2026-12-03T09:30:00Z");
        assert_eq!(v["data"]["id"], 7);
        assert!(new_message_id().starts_with("msg_"));
        assert_eq!(new_message_id().len(), 26);
    }
}
