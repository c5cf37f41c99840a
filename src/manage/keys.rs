//! `/api/v1/manage/keys`: the key operations of the console, for scripts. Each handler checks
//! the token's scope, validates its input into the domain's types (so a refusal says what the
//! console says) and calls one `keys::ops` operation.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::idempotency::{self, Answer, Begin, IdempotencyKey};
use super::problem::{FieldError, ManageError};
use crate::db::DbError;
use crate::keys::management::TokenScope;
use crate::keys::store::{EnvFilter, KeyRow, ListQuery, Status, StatusFilter};
use crate::keys::usage::Outcome;
use crate::keys::{
    self, AllowList, Burst, Environment, Expiry, Grace, KeyChanges, KeyDescription, KeyName, NewKeyRequest,
    PermissionSet, RateLimit,
};
use crate::state::AppState;

/// Most keys one page lists; the default is [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: i64 = 100;
pub const DEFAULT_LIMIT: i64 = 50;

pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A key as the API shows it: everything its page shows but the secret (and its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct Key {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// The prefix and the last four characters: `kw_live_…x7Qa`.
    #[schema(example = "kw_live_…x7Qa")]
    pub masked_key: String,
    pub environment: EnvironmentName,
    pub status: KeyStatus,
    /// Permission ids; empty when `full_access` is true.
    pub permissions: Vec<String>,
    pub full_access: bool,
    /// The expiry rule regeneration keeps: `7`, `30`, `60`, `90`, `180` (days), a date
    /// (`2027-03-01`, through the end of that UTC day) or `never`.
    #[schema(example = "30")]
    pub expiry: String,
    /// Requests per minute; `null`: the server's default.
    pub rate_limit_per_minute: Option<i32>,
    /// Requests at once; `null`: the default.
    pub burst: Option<i32>,
    /// Addresses and CIDR ranges the key may be used from; `null`: anywhere.
    pub allowed_ips: Option<Vec<String>>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The user who created it; `null` when made by a token, a rule or the command line.
    pub created_by: Option<i64>,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    #[schema(format = DateTime)]
    pub disabled_at: Option<String>,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    #[schema(format = DateTime)]
    pub regenerated_at: Option<String>,
    /// Until when a replaced secret still works, after a regeneration with a grace period.
    #[schema(format = DateTime)]
    pub old_secret_expires_at: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Disabled,
    Expired,
    Revoked,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentName {
    Live,
    Test,
}

impl From<Environment> for EnvironmentName {
    fn from(env: Environment) -> Self {
        match env {
            Environment::Live => Self::Live,
            Environment::Test => Self::Test,
        }
    }
}

impl Key {
    pub fn of(row: &KeyRow, now: NaiveDateTime) -> Self {
        let permissions = PermissionSet::from_stored(&row.permissions);
        let status = match row.status(now) {
            Status::Active => KeyStatus::Active,
            Status::Disabled => KeyStatus::Disabled,
            Status::Expired => KeyStatus::Expired,
            Status::Revoked => KeyStatus::Revoked,
        };
        let expiry = match Expiry::from_rule(&row.expiry_rule) {
            Expiry::Until(date) => date.to_string(),
            other => other.choice(),
        };
        Self {
            id: row.id,
            name: row.name.clone(),
            description: row.description.clone(),
            masked_key: row.masked(),
            environment: row.environment().into(),
            status,
            full_access: permissions.is_full(),
            permissions: match permissions {
                PermissionSet::Full => Vec::new(),
                PermissionSet::Scopes(ids) => ids.into_iter().collect(),
            },
            expiry,
            rate_limit_per_minute: row.rate_limit_per_minute,
            burst: row.rate_limit_burst,
            allowed_ips: row.allowed_ips.as_ref().map(|s| s.lines().map(str::to_owned).collect()),
            created_at: rfc3339(row.created_at),
            created_by: row.created_by,
            expires_at: row.expires_at.map(rfc3339),
            last_used_at: row.last_used_at.map(rfc3339),
            last_used_ip: row.last_used_ip.clone(),
            disabled_at: row.disabled_at.map(rfc3339),
            revoked_at: row.revoked_at.map(rfc3339),
            regenerated_at: row.regenerated_at.map(rfc3339),
            old_secret_expires_at: row.previous_expires_at.filter(|t| *t > now).map(rfc3339),
        }
    }
}

/// One page of keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub data: Vec<Key>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A key with its new secret: the only answer that holds it. Store it now; it is never shown
/// again.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKey {
    pub key: Key,
    #[schema(example = "kw_live_6Jz0mX0yDqf3bTnYv9KQe2LwR8sHa1Pc0Bf3Ke")]
    pub secret: String,
    /// After a regeneration with a grace period: until when the replaced secret still works.
    #[schema(format = DateTime)]
    pub old_secret_expires_at: Option<String>,
}

/// A new key. Every field but `name` may be left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(example = "CI deploys", min_length = 1, max_length = 64)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Permission ids from the server's catalogue. Required unless `full_access` is true.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    #[serde(default)]
    pub full_access: Option<bool>,
    /// `7`, `30` (the default), `60`, `90`, `180` days, a date up to a year ahead
    /// (`2027-03-01`), or `never`.
    #[serde(default)]
    #[schema(example = "30", pattern = "^(7|30|60|90|180|never|[0-9]{4}-[0-9]{2}-[0-9]{2})$")]
    pub expiry: Option<String>,
    /// Requests per minute, 1 to 100000; left out: the server's default.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100000)]
    pub rate_limit_per_minute: Option<i64>,
    /// Requests at once, at most the rate limit; left out: the default.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub burst: Option<i64>,
    /// Addresses and CIDR ranges, IPv4 or IPv6, at most 100; left out or empty: anywhere.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub allowed_ips: Option<Vec<String>>,
    #[serde(default)]
    pub environment: Option<EnvironmentName>,
}

/// Changes to a key: each field left out stays as it is; `null` clears the limits and the
/// allowlist.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    #[serde(default)]
    pub full_access: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 100000)]
    pub rate_limit_per_minute: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub burst: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>, max_items = 100)]
    pub allowed_ips: Option<Option<Vec<String>>>,
}

/// A field that is present, `null` included (`Some(None)`); absent fields stay `None`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// How long the replaced secret keeps working.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateKey {
    /// Seconds, 0 (the default: it stops at once) to 604800 (7 days).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only keys in this state.
    pub status: Option<KeyStatus>,
    /// Only live or only test keys.
    pub environment: Option<EnvironmentName>,
    /// Part of the name, any case.
    pub q: Option<String>,
    /// Only keys this user (id) created.
    pub created_by: Option<i64>,
    /// Only keys that expire before this moment (and have not yet).
    #[param(value_type = Option<String>, format = DateTime)]
    pub expiring_before: Option<DateTime<Utc>>,
    /// Keys per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The key a path names.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Only its derived description is used; handlers read the id as text.
pub struct KeyPath {
    /// The key's id.
    id: i64,
}

/// Reads a page size.
pub fn limit_of(limit: Option<i64>) -> Result<i64, ManageError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ManageError::invalid(vec![FieldError::new(
            "limit",
            format!("Enter a whole number from 1 to {MAX_LIMIT}."),
        )])),
    }
}

/// A cursor is the last id of the page before, opaque to clients.
pub fn cursor_of(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

/// One page out of up to `limit + 1` rows read: the first `limit`, and the cursor after the
/// last of them when the extra row shows there is more.
pub fn page_of<T>(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(|row| cursor_of(id(row))) } else { None };
    (rows, next_cursor)
}

pub fn read_cursor(cursor: Option<&str>) -> Result<Option<i64>, ManageError> {
    let Some(cursor) = cursor else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("id:").and_then(|id| id.parse::<i64>().ok()))
        .map(Some)
        .ok_or_else(|| {
            ManageError::BadRequest("The cursor is not one this API gave. Start from the first page.".into())
        })
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status).insert_header((CACHE_CONTROL, "no-store")).json(body)
}

/// The id in the path: a number, or no such key.
fn key_id(raw: &str) -> Result<i64, ManageError> {
    raw.parse::<i64>().map_err(|_| ManageError::Key(keys::KeyError::NotFound))
}

/// List keys
///
/// Newest first, filtered, one page at a time: pass `next_cursor` back as `cursor` until it
/// is `null`.
#[utoipa::path(
    get, path = "/api/v1/manage/keys", tag = "Keys",
    params(ListParams),
    responses(
        (status = 200, description = "One page of keys", body = KeyList),
        super::problem::ClientErrors,
    ),
    security(("management_token" = ["keys:read"]))
)]
pub async fn list_keys(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::KeysRead)?;
    let params = params.into_inner();
    let limit = limit_of(params.limit)?;
    let after = read_cursor(params.cursor.as_deref())?;
    let query = ListQuery {
        status: match params.status {
            None => StatusFilter::All,
            Some(KeyStatus::Active) => StatusFilter::Active,
            Some(KeyStatus::Disabled) => StatusFilter::Disabled,
            Some(KeyStatus::Expired) => StatusFilter::Expired,
            Some(KeyStatus::Revoked) => StatusFilter::Revoked,
        },
        env: match params.environment {
            None => EnvFilter::All,
            Some(EnvironmentName::Live) => EnvFilter::Only(Environment::Live),
            Some(EnvironmentName::Test) => EnvFilter::Only(Environment::Test),
        },
        search: params.q.unwrap_or_default(),
        created_by: params.created_by,
        expiring_before: params.expiring_before.map(|t| t.naive_utc()),
        ..ListQuery::default()
    };
    let workspace_id = principal.workspace_id;
    let now = now();
    let rows = state
        .db
        .run(move |conn| {
            keys::store::list_after(conn, workspace_id, &query, after, limit + 1, now).map_err(DbError::from)
        })
        .await?;
    let (rows, next_cursor) = page_of(rows, limit, |k| k.id);
    let data = rows.iter().map(|row| Key::of(row, now)).collect();
    Ok(json(StatusCode::OK, &KeyList { data, next_cursor }))
}

/// Get a key
#[utoipa::path(
    get, path = "/api/v1/manage/keys/{id}", tag = "Keys",
    params(KeyPath),
    responses((status = 200, description = "The key", body = Key), super::problem::ClientErrors),
    security(("management_token" = ["keys:read"]))
)]
pub async fn get_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::KeysRead)?;
    let row = keys::ops::find(&state.db, principal.workspace_id, key_id(&id)?).await?;
    Ok(json(StatusCode::OK, &Key::of(&row, now())))
}

/// Parses a body that may be empty (then `T::default()`).
fn body_of<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, ManageError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ManageError::BadRequest(format!("The body is not valid JSON for this request: {e}")))
}

/// The request's fields as a new key, or every field's error at once.
fn new_key_request(
    body: CreateKey,
    state: &AppState,
    now: NaiveDateTime,
) -> Result<NewKeyRequest, ManageError> {
    let mut errors = Vec::new();
    let mut refuse = |field: &str, message: String| errors.push(FieldError::new(field, message));
    let name = KeyName::parse(&body.name).map_err(|e| refuse("name", e.to_string())).ok();
    let description = KeyDescription::parse(body.description.as_deref().unwrap_or_default())
        .map_err(|e| refuse("description", e.to_string()))
        .ok();
    let full = body.full_access.unwrap_or(false);
    let permissions =
        PermissionSet::from_choices(full, body.permissions.as_deref().unwrap_or_default(), &state.catalogue)
            .map_err(|e| refuse("permissions", e.to_string()))
            .ok();
    let expiry = expiry_of(body.expiry.as_deref(), now).map_err(|m| refuse("expiry", m)).ok();
    let (rate_limit, burst) = match limits_of(body.rate_limit_per_minute, body.burst) {
        Ok(limits) => (Some(limits.0), Some(limits.1)),
        Err(fields) => {
            for (field, message) in fields {
                refuse(field, message);
            }
            (None, None)
        }
    };
    let allowed_ips = allow_list_of(body.allowed_ips.as_deref()).map_err(|m| refuse("allowed_ips", m)).ok();
    let environment = match body.environment {
        Some(EnvironmentName::Test) => Environment::Test,
        _ => Environment::Live,
    };
    match (name, description, permissions, expiry, rate_limit, burst, allowed_ips) {
        (
            Some(name),
            Some(description),
            Some(permissions),
            Some(expiry),
            Some(rate_limit),
            Some(burst),
            Some(allowed_ips),
        ) if errors.is_empty() => Ok(NewKeyRequest {
            name,
            description,
            permissions,
            expiry,
            rate_limit,
            burst,
            environment,
            allowed_ips,
        }),
        _ => Err(ManageError::invalid(errors)),
    }
}

/// `7` … `180`, `never`, or a date: the console's picker in one field.
fn expiry_of(raw: Option<&str>, now: NaiveDateTime) -> Result<Expiry, String> {
    let raw = raw.unwrap_or("30").trim();
    let parsed =
        if raw.contains('-') { Expiry::parse("custom", raw, now) } else { Expiry::parse(raw, "", now) };
    parsed.map_err(|e| e.to_string())
}

type Limits = (Option<RateLimit>, Option<Burst>);

/// The rate limit and burst, with the console's messages.
fn limits_of(rate: Option<i64>, burst: Option<i64>) -> Result<Limits, Vec<(&'static str, String)>> {
    let text = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let rate =
        RateLimit::parse_optional(&text(rate)).map_err(|e| vec![("rate_limit_per_minute", e.to_string())])?;
    let burst = Burst::parse_optional(&text(burst), rate).map_err(|e| vec![("burst", e.to_string())])?;
    Ok((rate, burst))
}

fn allow_list_of(entries: Option<&[String]>) -> Result<Option<AllowList>, String> {
    AllowList::parse(&entries.unwrap_or_default().join("\n")).map_err(|e| e.to_string())
}

/// Runs `work` once per `Idempotency-Key` (when the request has one), replaying its first
/// answer to retries.
async fn once<F, Fut>(
    req: &HttpRequest,
    state: &AppState,
    token_id: i64,
    body: &[u8],
    work: F,
) -> Result<HttpResponse, ManageError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Answer, ManageError>>,
{
    let respond = |answer: Answer, replayed: bool| {
        let mut response = HttpResponse::build(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK));
        response.insert_header((CACHE_CONTROL, "no-store")).content_type("application/json");
        if replayed {
            response.insert_header(("Idempotent-Replayed", "true"));
        }
        response.body(answer.body)
    };
    let Some(key) = IdempotencyKey::of(req)? else { return work().await.map(|a| respond(a, false)) };
    let print = idempotency::fingerprint(req.method().as_str(), req.path(), body);
    let cipher = &state.answers_cipher;
    match idempotency::begin(&state.db, cipher, token_id, &key, print).await? {
        Begin::Replay(answer) => Ok(respond(answer, true)),
        Begin::Claimed => match work().await {
            Ok(answer) => {
                idempotency::finish(&state.db, cipher, token_id, &key, &answer).await?;
                Ok(respond(answer, false))
            }
            Err(e) => {
                idempotency::abandon(&state.db, token_id, &key).await?;
                Err(e)
            }
        },
    }
}

fn answer<T: Serialize>(status: StatusCode, body: &T) -> Answer {
    Answer { status: status.as_u16(), body: serde_json::to_string(body).expect("the answer serializes") }
}

/// Create a key
///
/// The answer holds the new secret, the only time it is shown. With an `Idempotency-Key`, a
/// retry of the same request gets this same answer (with `Idempotent-Replayed: true`) and no
/// second key is made.
#[utoipa::path(
    post, path = "/api/v1/manage/keys", tag = "Keys",
    params(("Idempotency-Key" = Option<String>, Header, description = "Any unique string, such as a UUID; a retry with the same one gets the first answer")),
    request_body = CreateKey,
    responses((status = 201, description = "The key and its secret", body = IssuedKey), super::problem::ClientErrors),
    security(("management_token" = ["keys:write"]))
)]
pub async fn create_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::KeysWrite)?.clone();
    once(&req, &state, principal.token_id, &body, || async {
        let fields: CreateKey = serde_json::from_slice(&body).map_err(|e| {
            ManageError::BadRequest(format!("The body is not valid JSON for this request: {e}"))
        })?;
        let request = new_key_request(fields, &state, now())?;
        let issued = keys::ops::create(&state.db, &principal.actor, principal.workspace_id, request).await?;
        let row = keys::ops::find(&state.db, principal.workspace_id, issued.id).await?;
        let body = IssuedKey {
            key: Key::of(&row, now()),
            secret: issued.secret.expose().to_owned(),
            old_secret_expires_at: None,
        };
        Ok(answer(StatusCode::CREATED, &body))
    })
    .await
}

/// Update a key
///
/// Name, description, permissions, rate limit, burst and IP allowlist; fields left out stay as
/// they are. The change is in force for the next request the verifier checks.
#[utoipa::path(
    patch, path = "/api/v1/manage/keys/{id}", tag = "Keys",
    params(KeyPath),
    request_body = UpdateKey,
    responses((status = 200, description = "The key as it is now", body = Key), super::problem::ClientErrors),
    security(("management_token" = ["keys:write"]))
)]
pub async fn update_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::KeysWrite)?;
    let id = key_id(&id)?;
    let fields: UpdateKey = body_of(&body)?;
    let current = keys::ops::find(&state.db, principal.workspace_id, id).await?;
    let changes = changes_of(fields, &current, &state)?;
    keys::ops::edit(&state.db, &principal.actor, principal.workspace_id, id, changes).await?;
    let row = keys::ops::find(&state.db, principal.workspace_id, id).await?;
    Ok(json(StatusCode::OK, &Key::of(&row, now())))
}

/// The key's fields with the request's changes applied, or every field's error.
fn changes_of(fields: UpdateKey, current: &KeyRow, state: &AppState) -> Result<KeyChanges, ManageError> {
    let mut errors = Vec::new();
    let name = KeyName::parse(fields.name.as_deref().unwrap_or(&current.name))
        .map_err(|e| errors.push(FieldError::new("name", e.to_string())))
        .ok();
    let description = KeyDescription::parse(fields.description.as_deref().unwrap_or(&current.description))
        .map_err(|e| errors.push(FieldError::new("description", e.to_string())))
        .ok();
    let stored = PermissionSet::from_stored(&current.permissions);
    let permissions = match (fields.full_access, fields.permissions) {
        (None, None) => Some(stored),
        (full, chosen) => {
            let full = full.unwrap_or(chosen.is_none() && stored.is_full());
            let chosen = chosen.unwrap_or_default();
            PermissionSet::from_choices(full, &chosen, &state.catalogue)
                .map_err(|e| errors.push(FieldError::new("permissions", e.to_string())))
                .ok()
        }
    };
    let rate = match fields.rate_limit_per_minute {
        None => current.rate_limit_per_minute.map(i64::from),
        Some(new) => new,
    };
    let burst = match fields.burst {
        None => current.rate_limit_burst.map(i64::from),
        Some(new) => new,
    };
    let limits = limits_of(rate, burst)
        .map_err(|fields| {
            errors.extend(fields.into_iter().map(|(field, message)| FieldError::new(field, message)));
        })
        .ok();
    let allowed_ips = match fields.allowed_ips {
        None => Some(current.allow_list()),
        Some(new) => {
            allow_list_of(new.as_deref()).map_err(|m| errors.push(FieldError::new("allowed_ips", m))).ok()
        }
    };
    match (name, description, permissions, limits, allowed_ips) {
        (Some(name), Some(description), Some(permissions), Some((rate_limit, burst)), Some(allowed_ips))
            if errors.is_empty() =>
        {
            Ok(KeyChanges { name, description, permissions, rate_limit, burst, allowed_ips })
        }
        _ => Err(ManageError::invalid(errors)),
    }
}

/// Regenerate a key
///
/// A new secret under the same name, permissions and expiry rule. The old secret stops at
/// once, or after `grace_seconds` (at most 7 days). Takes an `Idempotency-Key` like create.
#[utoipa::path(
    post, path = "/api/v1/manage/keys/{id}/regenerate", tag = "Keys",
    params(
        KeyPath,
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same one gets the first answer"),
    ),
    request_body(content = Option<RegenerateKey>, description = "Optional; without it the old secret stops at once"),
    responses((status = 200, description = "The key and its new secret", body = IssuedKey), super::problem::ClientErrors),
    security(("management_token" = ["keys:write"]))
)]
pub async fn regenerate_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::KeysWrite)?.clone();
    let id = key_id(&id)?;
    once(&req, &state, principal.token_id, &body, || async {
        let fields: RegenerateKey = body_of(&body)?;
        let grace = Grace::from_seconds(fields.grace_seconds.unwrap_or(0))
            .map_err(|e| ManageError::invalid(vec![FieldError::new("grace_seconds", e.to_string())]))?;
        let issued =
            keys::ops::regenerate(&state.db, &principal.actor, principal.workspace_id, id, grace).await?;
        let row = keys::ops::find(&state.db, principal.workspace_id, id).await?;
        let body = IssuedKey {
            key: Key::of(&row, now()),
            secret: issued.secret.expose().to_owned(),
            old_secret_expires_at: issued.old_secret_until.map(rfc3339),
        };
        Ok(answer(StatusCode::OK, &body))
    })
    .await
}

/// What a state change does, for the three that share a handler's shape.
#[derive(Clone, Copy)]
enum Change {
    Disable,
    Enable,
    Revoke,
}

async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: Change,
) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::KeysWrite)?;
    let (db, actor, workspace_id, id) = (&state.db, &principal.actor, principal.workspace_id, key_id(id)?);
    match change {
        Change::Disable => keys::ops::disable(db, actor, workspace_id, id).await?,
        Change::Enable => keys::ops::enable(db, actor, workspace_id, id).await?,
        Change::Revoke => keys::ops::revoke(db, actor, workspace_id, id).await?,
    };
    let row = keys::ops::find(db, workspace_id, id).await?;
    Ok(json(StatusCode::OK, &Key::of(&row, now())))
}

/// Disable a key
///
/// Refused by the verifier (401 `disabled_key`) until enabled again.
#[utoipa::path(
    post, path = "/api/v1/manage/keys/{id}/disable", tag = "Keys",
    params(KeyPath),
    responses((status = 200, description = "The key as it is now", body = Key), super::problem::ClientErrors),
    security(("management_token" = ["keys:write"]))
)]
pub async fn disable_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ManageError> {
    change(&state, &caller, &id, Change::Disable).await
}

/// Enable a key
#[utoipa::path(
    post, path = "/api/v1/manage/keys/{id}/enable", tag = "Keys",
    params(KeyPath),
    responses((status = 200, description = "The key as it is now", body = Key), super::problem::ClientErrors),
    security(("management_token" = ["keys:write"]))
)]
pub async fn enable_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ManageError> {
    change(&state, &caller, &id, Change::Enable).await
}

/// Revoke a key
///
/// It stops working at once (a replaced secret in its grace period too), for good, and stays
/// listed.
#[utoipa::path(
    post, path = "/api/v1/manage/keys/{id}/revoke", tag = "Keys",
    params(KeyPath),
    responses((status = 200, description = "The key as it is now", body = Key), super::problem::ClientErrors),
    security(("management_token" = ["keys:write"]))
)]
pub async fn revoke_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ManageError> {
    change(&state, &caller, &id, Change::Revoke).await
}

/// Delete a key
///
/// It stops working at once and disappears from lists; its audit entries stay.
#[utoipa::path(
    delete, path = "/api/v1/manage/keys/{id}", tag = "Keys",
    params(KeyPath),
    responses((status = 204, description = "Deleted"), super::problem::ClientErrors),
    security(("management_token" = ["keys:write"]))
)]
pub async fn delete_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::KeysWrite)?;
    keys::ops::delete(&state.db, &principal.actor, principal.workspace_id, key_id(&id)?).await?;
    Ok(HttpResponse::NoContent().insert_header((CACHE_CONTROL, "no-store")).finish())
}

/// A key's usage on one UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDay {
    #[schema(format = Date)]
    pub date: String,
    pub allowed: i64,
    pub denied: i64,
    /// The denials by the verifier's code (`revoked_key`, `expired_key`, `disabled_key`,
    /// `insufficient_permission`, `rate_limited`, `ip_not_allowed`, `other`).
    pub denied_by_code: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyUsage {
    pub key_id: i64,
    /// The last 30 UTC days, oldest first, days without requests included.
    pub days: Vec<UsageDay>,
    pub total_allowed: i64,
    pub total_denied: i64,
}

/// A key's usage
///
/// Requests allowed and denied per UTC day over the last 30 days. Counts reach the database
/// within the verifier's flush interval (10 seconds by default).
#[utoipa::path(
    get, path = "/api/v1/manage/keys/{id}/usage", tag = "Keys",
    params(KeyPath),
    responses((status = 200, description = "Daily counts", body = KeyUsage), super::problem::ClientErrors),
    security(("management_token" = ["keys:read"]))
)]
pub async fn key_usage(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::KeysRead)?;
    let id = keys::ops::find(&state.db, principal.workspace_id, key_id(&id)?).await?.id;
    let today = now().date();
    let days =
        state.db.run(move |conn| keys::insight::usage_days(conn, id, today).map_err(DbError::from)).await?;
    let days: Vec<UsageDay> = days
        .iter()
        .map(|d| UsageDay {
            date: d.day.to_string(),
            allowed: d.counts.allowed(),
            denied: d.counts.denied(),
            denied_by_code: Outcome::DENIALS
                .iter()
                .map(|o| (o.code().to_owned(), d.counts.get(*o)))
                .collect(),
        })
        .collect();
    let (total_allowed, total_denied) =
        days.iter().fold((0, 0), |(a, d), day| (a + day.allowed, d + day.denied));
    Ok(json(StatusCode::OK, &KeyUsage { key_id: id, days, total_allowed, total_denied }))
}
