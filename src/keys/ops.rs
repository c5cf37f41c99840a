//! Every change to a key, one function each: create, regenerate (with a grace period for the
//! old secret), edit, disable and enable, revoke, delete, the bulk revoke and disable, the
//! one-time reveal of a new secret, and what a leak report does to the key it names. The
//! console calls these, and so will any other entry point (a JSON API, the command line,
//! lifecycle rules), so a key's rules live here once.
//!
//! Each operation takes typed input (already validated at the edge), runs the whole change in
//! one transaction (the name check under the workspace lock, the write, the audit event) and
//! answers a typed result or a [`KeyError`]. Each change that other systems hear about also
//! writes its webhook event ([`events::emit`]) in that transaction. Every one is scoped to a workspace: a key id from
//! another workspace is [`KeyError::NotFound`], exactly like a missing one.

use chrono::{NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::policy::{self, LeakAction, PolicyRefusal};
use super::store::{self, KeyEdit, KeyRow, NewKey, Status};
use super::{
    AllowList, ApiKey, Burst, Environment, Expiry, Grace, KeyDescription, KeyHash, KeyName, PermissionSet,
    RateLimit,
};
use crate::audit::{self, Actor, Event, KeyRef};
use crate::db::{Db, DbConnection, DbError};
use crate::events::{self, EventType};
use crate::text::exact_utc;

/// Why a key operation did not happen. Each message is written for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key with that id in this workspace.
    #[error("There is no such key in this workspace.")]
    NotFound,
    /// Another active key has the name (in any case); `existing` as that key spells it.
    #[error(
        "An active key named \u{201c}{existing}\u{201d} already exists. Choose another name, or revoke that key first."
    )]
    NameTaken { existing: String },
    /// Regenerating would give a second active key the name of an existing one.
    #[error(
        "Another active key is now named \u{201c}{existing}\u{201d}. Revoke or rename that one first, or create a new key."
    )]
    NameTakenSince { existing: String },
    #[error("\u{201c}{name}\u{201d} is already revoked.")]
    AlreadyRevoked { name: String },
    #[error("\u{201c}{name}\u{201d} is revoked, so it cannot be regenerated. Create a new key instead.")]
    RevokedCannotRegenerate { name: String },
    #[error("\u{201c}{name}\u{201d} is revoked, so it cannot be changed.")]
    RevokedCannotChange { name: String },
    #[error("\u{201c}{name}\u{201d} is already disabled.")]
    AlreadyDisabled { name: String },
    #[error("\u{201c}{name}\u{201d} is not disabled.")]
    NotDisabled { name: String },
    /// The key's expiry rule is a fixed date that has passed: a new secret would be born expired.
    #[error(
        "\u{201c}{name}\u{201d} was set to expire on a fixed date ({}) that has passed. Create a new key with a new date instead.",
        until.format("%-d %b %Y")
    )]
    FixedDatePassed { name: String, until: chrono::NaiveDate },
    /// The workspace's policy does not allow it (`keys::policy`); the message names the rule.
    #[error(transparent)]
    Policy(#[from] PolicyRefusal),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for KeyError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

impl KeyError {
    /// A stable machine-readable code, for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "key_not_found",
            Self::NameTaken { .. } | Self::NameTakenSince { .. } => "name_taken",
            Self::AlreadyRevoked { .. } => "already_revoked",
            Self::RevokedCannotRegenerate { .. } | Self::RevokedCannotChange { .. } => "key_revoked",
            Self::AlreadyDisabled { .. } => "already_disabled",
            Self::NotDisabled { .. } => "not_disabled",
            Self::FixedDatePassed { .. } => "expiry_date_passed",
            Self::Policy(refusal) => refusal.code(),
            Self::Db(DbError::Unavailable(_)) => "unavailable",
            Self::Db(_) => "internal_error",
        }
    }
}

/// What a new key is made of.
#[derive(Clone, Debug)]
pub struct NewKeyRequest {
    pub name: KeyName,
    pub description: KeyDescription,
    pub permissions: PermissionSet,
    pub expiry: Expiry,
    /// `None`: the server's default limit.
    pub rate_limit: Option<RateLimit>,
    /// `None`: the default burst (at least one second's worth of the rate).
    pub burst: Option<Burst>,
    /// Live or test: the secret's prefix, fixed for the key's life.
    pub environment: Environment,
    /// `None`: the key may be used from any address.
    pub allowed_ips: Option<AllowList>,
}

/// A key that was just made or given a new secret. The only place its secret exists in full:
/// hand it to the person once, never store or log it.
pub struct Issued {
    pub id: i64,
    pub secret: ApiKey,
    /// After a regeneration with a grace period: until when the replaced secret still works.
    pub old_secret_until: Option<NaiveDateTime>,
}

/// What an edit sets: every field of the edit form.
#[derive(Clone, Debug)]
pub struct KeyChanges {
    pub name: KeyName,
    pub description: KeyDescription,
    pub permissions: PermissionSet,
    pub rate_limit: Option<RateLimit>,
    pub burst: Option<Burst>,
    /// `None`: from any address.
    pub allowed_ips: Option<AllowList>,
}

/// What a bulk action did: the keys it changed, and those it left as they were (already
/// revoked, or already disabled), each by name and masked key.
#[derive(Clone, Debug, Default)]
pub struct Bulk {
    pub changed: Vec<Gone>,
    pub skipped: Vec<Gone>,
}

/// A key as it was when it was revoked or deleted, for the message that says so.
#[derive(Clone, Debug)]
pub struct Gone {
    pub name: String,
    pub masked: String,
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn never_or(t: Option<NaiveDateTime>) -> String {
    t.map_or_else(|| "never".to_owned(), exact_utc)
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A key as webhook receivers see it: what its table row shows, never its secret or hash.
pub fn event_data(key: &KeyRow, now: NaiveDateTime) -> Value {
    json!({
        "key": {
            "id": key.id,
            "name": key.name,
            "description": key.description,
            "masked": key.masked(),
            "environment": key.environment().as_str(),
            "permissions": PermissionSet::from_stored(&key.permissions).to_list(),
            "status": key.status(now).label().to_lowercase(),
            "created_at": rfc3339(key.created_at),
            "expires_at": key.expires_at.map(rfc3339),
            "disabled_at": key.disabled_at.map(rfc3339),
            "revoked_at": key.revoked_at.map(rfc3339),
            "rate_limit_per_minute": key.rate_limit_per_minute,
            "rate_limit_burst": key.rate_limit_burst,
            "allowed_ips": key.allow_list().map(|l| l.to_list()),
        },
        "workspace_id": key.workspace_id,
    })
}

/// Writes the webhook event about key `id` as it now stands, with `extra` fields merged into
/// the data (`changes`, `old_secret_expires_at`, …). In the change's transaction, after the
/// change and before a deletion. The key is read back only when an endpoint listens, so a
/// workspace without webhooks pays one small read per change.
fn emit_key_event(
    conn: &mut DbConnection,
    workspace_id: i64,
    id: i64,
    event_type: EventType,
    extra: Value,
    now: NaiveDateTime,
) -> Result<(), KeyError> {
    let targets = events::subscribers(conn, workspace_id, event_type)?;
    if targets.is_empty() {
        return Ok(());
    }
    let key = store::find(conn, workspace_id, id)?.ok_or(KeyError::NotFound)?;
    let mut data = event_data(&key, now);
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    events::emit_to(conn, workspace_id, event_type, data, &targets, now)?;
    Ok(())
}

/// A key of the workspace, or [`KeyError::NotFound`].
pub async fn find(db: &Db, workspace_id: i64, id: i64) -> Result<KeyRow, KeyError> {
    db.run(move |conn| store::find(conn, workspace_id, id).map_err(KeyError::from))
        .await?
        .ok_or(KeyError::NotFound)
}

/// Makes a key. Its name must not be that of another active key of the workspace (checked
/// under the workspace lock, so two racing creates of one name cannot both succeed).
pub async fn create(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    request: NewKeyRequest,
) -> Result<Issued, KeyError> {
    let secret = ApiKey::generate(request.environment);
    let (hash, last4, masked) = (secret.hash(), secret.last4().to_owned(), secret.masked());
    let prefix = secret.prefix();
    let actor = actor.clone();
    let id = db
        .write(move |conn| -> Result<i64, KeyError> {
            let now = now();
            let name = request.name.as_str();
            if let Some(existing) = store::active_name_clash(conn, workspace_id, name, now, None)? {
                return Err(KeyError::NameTaken { existing });
            }
            // Under the workspace lock the name check took: the policy in force now.
            let full = request.permissions.is_full();
            policy::check_new_key(conn, workspace_id, actor.user_id, Some(&request.expiry), full, now)?
                .map_err(KeyError::Policy)?;
            let expires_at = request.expiry.expires_at(now);
            let rate_limit = request.rate_limit.map(RateLimit::per_minute);
            let burst = request.burst.map(Burst::requests);
            let allowed_ips = request.allowed_ips.as_ref().map(AllowList::to_stored);
            let id = store::insert(
                conn,
                &NewKey {
                    workspace_id,
                    name,
                    description: request.description.as_str(),
                    prefix,
                    last4: &last4,
                    key_hash: hash.as_str(),
                    permissions: &request.permissions.to_stored(),
                    expiry_rule: &request.expiry.to_rule(),
                    created_by: actor.user_id,
                    created_at: now,
                    expires_at,
                    rate_limit_per_minute: rate_limit,
                    rate_limit_burst: burst,
                    allowed_ips: allowed_ips.as_deref(),
                },
            )?;
            let mut details = format!(
                "{}Permissions: {}; expires: {}; rate limit: {}; burst: {}",
                if request.environment == Environment::Test { "Test key. " } else { "" },
                request.permissions.describe(),
                never_or(expires_at),
                request.rate_limit.map_or_else(|| "default".to_owned(), |r| r.to_string()),
                request.burst.map_or_else(|| "default".to_owned(), |b| b.requests().to_string()),
            );
            if let Some(list) = &request.allowed_ips {
                details.push_str(&format!("; IP allowlist: {list}"));
            }
            let key_ref = Some(KeyRef { id, name: name.to_owned(), masked });
            let event =
                Event { workspace_id: Some(workspace_id), action: "key.created", key: key_ref, details };
            audit::record(conn, &actor, event, now)?;
            emit_key_event(conn, workspace_id, id, EventType::KeyCreated, Value::Null, now)?;
            Ok(id)
        })
        .await?;
    Ok(Issued { id, secret, old_secret_until: None })
}

/// Why `key` cannot be given a new secret now, if it cannot (the confirmation page shows the
/// same refusal that [`regenerate`] would answer).
pub fn regenerate_refusal(key: &KeyRow, now: NaiveDateTime) -> Option<KeyError> {
    if key.status(now) == Status::Revoked {
        return Some(KeyError::RevokedCannotRegenerate { name: key.name.clone() });
    }
    match Expiry::from_rule(&key.expiry_rule) {
        Expiry::Until(until) if until < now.date() => {
            Some(KeyError::FixedDatePassed { name: key.name.clone(), until })
        }
        _ => None,
    }
}

/// Gives a key a new secret with the same name, permissions and expiry rule. With no grace the
/// old secret stops working at once; with one it keeps working until `now + grace` (never past
/// the key's expiry at the time), answered with a deprecation header. A secret still in the
/// grace period of an earlier regeneration stops now either way.
pub async fn regenerate(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    grace: Grace,
) -> Result<Issued, KeyError> {
    let actor = actor.clone();
    let (old_secret_until, secret) = db
        .write(move |conn| -> Result<(Option<NaiveDateTime>, ApiKey), KeyError> {
            let now = now();
            let key = store::find(conn, workspace_id, id)?.ok_or(KeyError::NotFound)?;
            if let Some(refusal) = regenerate_refusal(&key, now) {
                return Err(refusal);
            }
            // The environment is the prefix: a test key's new secret is a test key too.
            let new_secret = ApiKey::generate(key.environment());
            let new_masked = new_secret.masked();
            // An expired key's name may have been taken by a newer active key since.
            if let Some(existing) = store::active_name_clash(conn, workspace_id, &key.name, now, Some(id))? {
                return Err(KeyError::NameTakenSince { existing });
            }
            // A rule longer than the workspace's policy now allows is shortened to its limit.
            let rule = Expiry::from_rule(&key.expiry_rule);
            let shortened = policy::read(conn, workspace_id)?.clamp(&rule, now);
            let expires_at = shortened.unwrap_or(rule).expires_at(now);
            let old_until = grace.old_secret_until(now, key.expires_at);
            if store::regenerate(conn, workspace_id, id, &new_secret, expires_at, old_until, now)? == 0 {
                return Err(KeyError::NotFound);
            }
            let old = match old_until {
                Some(until) => format!("{} works until {}", key.masked(), exact_utc(until)),
                None => format!("{} stopped working at once", key.masked()),
            };
            let by_policy =
                if shortened.is_some() { " (shortened by the workspace\u{2019}s policy)" } else { "" };
            let details = format!("Replaced secret {old}; new expiry: {}{by_policy}", never_or(expires_at));
            let key_ref = Some(KeyRef { id, name: key.name, masked: new_masked });
            let event =
                Event { workspace_id: Some(workspace_id), action: "key.regenerated", key: key_ref, details };
            audit::record(conn, &actor, event, now)?;
            let extra = json!({ "old_secret_expires_at": old_until.map(rfc3339) });
            emit_key_event(conn, workspace_id, id, EventType::KeyRegenerated, extra, now)?;
            Ok((old_until, new_secret))
        })
        .await?;
    Ok(Issued { id, secret, old_secret_until })
}

/// Changes a key's name, description, permissions and rate limit (each validated at the edge
/// like a new key's; the name checked against the workspace's other active keys). A permission
/// change is in force on every instance by the time this returns (see `db::key_changes`).
/// Answers whether anything changed; an edit that changes nothing records nothing.
pub async fn edit(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    changes: KeyChanges,
) -> Result<bool, KeyError> {
    let actor = actor.clone();
    db.write(move |conn| -> Result<bool, KeyError> {
        let now = now();
        let key = store::find(conn, workspace_id, id)?.ok_or(KeyError::NotFound)?;
        if key.status(now) == Status::Revoked {
            return Err(KeyError::RevokedCannotChange { name: key.name });
        }
        if changes.permissions.is_full() && !PermissionSet::from_stored(&key.permissions).is_full() {
            policy::check_new_key(conn, workspace_id, actor.user_id, None, true, now)?
                .map_err(KeyError::Policy)?;
        }
        let name = changes.name.as_str();
        if name != key.name
            && let Some(existing) = store::active_name_clash(conn, workspace_id, name, now, Some(id))?
        {
            return Err(KeyError::NameTaken { existing });
        }
        let permissions = changes.permissions.to_stored();
        let rate_limit = changes.rate_limit.map(RateLimit::per_minute);
        let burst = changes.burst.map(Burst::requests);
        let allowed_ips = changes.allowed_ips.as_ref().map(AllowList::to_stored);
        let (details, changed) = describe_edit(&key, &changes, rate_limit, burst);
        if changed.is_empty() {
            return Ok(false);
        }
        let edit = KeyEdit {
            name,
            description: changes.description.as_str(),
            permissions: &permissions,
            rate_limit_per_minute: rate_limit,
            rate_limit_burst: burst,
            allowed_ips: allowed_ips.as_deref(),
        };
        if store::edit(conn, workspace_id, id, &edit)? == 0 {
            return Err(KeyError::NotFound);
        }
        // The log names the key by its new name.
        let key_ref = KeyRef { id, name: name.to_owned(), masked: key.masked() };
        let event =
            Event { workspace_id: Some(workspace_id), action: "key.updated", key: Some(key_ref), details };
        audit::record(conn, &actor, event, now)?;
        emit_key_event(conn, workspace_id, id, EventType::KeyUpdated, json!({ "changes": changed }), now)?;
        Ok(true)
    })
    .await
}

/// An allowlist as the audit log writes it: its ranges, or "any address".
fn allow_list_text(list: Option<&AllowList>) -> String {
    list.map_or_else(|| "any address".to_owned(), AllowList::to_string)
}

/// An edit's audit details ("Name: “a” → “b”; permissions: …", only what changed) and the
/// webhook event's `changes` (field → `{from, to}`; empty when nothing changed).
fn describe_edit(
    key: &KeyRow,
    changes: &KeyChanges,
    rate_limit: Option<i32>,
    burst: Option<i32>,
) -> (String, serde_json::Map<String, Value>) {
    let quoted = |s: &str| format!("\u{201c}{s}\u{201d}");
    let limit_text = |rate: Option<i32>, burst: Option<i32>| {
        let rate = rate.map_or_else(|| "default".to_owned(), |r| format!("{r}/min"));
        let burst = burst.map_or_else(|| "default".to_owned(), |b| b.to_string());
        format!("{rate} (burst {burst})")
    };
    let before = PermissionSet::from_stored(&key.permissions);
    let (name, description) = (changes.name.as_str(), changes.description.as_str());
    let mut diff: Vec<String> = Vec::new();
    let mut changed = serde_json::Map::new();
    if name != key.name {
        diff.push(format!("name: {} \u{2192} {}", quoted(&key.name), quoted(name)));
        changed.insert("name".into(), json!({ "from": key.name, "to": name }));
    }
    if description != key.description {
        diff.push(format!("description: {} \u{2192} {}", quoted(&key.description), quoted(description)));
        changed.insert("description".into(), json!({ "from": key.description, "to": description }));
    }
    if changes.permissions.to_stored() != before.to_stored() {
        diff.push(format!("permissions: {} \u{2192} {}", before.describe(), changes.permissions.describe()));
        let (from, to) = (before.to_list(), changes.permissions.to_list());
        changed.insert("permissions".into(), json!({ "from": from, "to": to }));
    }
    if (rate_limit, burst) != (key.rate_limit_per_minute, key.rate_limit_burst) {
        diff.push(format!(
            "rate limit: {} \u{2192} {}",
            limit_text(key.rate_limit_per_minute, key.rate_limit_burst),
            limit_text(rate_limit, burst)
        ));
        changed.insert(
            "rate_limit".into(),
            json!({
                "from": { "per_minute": key.rate_limit_per_minute, "burst": key.rate_limit_burst },
                "to": { "per_minute": rate_limit, "burst": burst },
            }),
        );
    }
    let before_ips = key.allow_list();
    if changes.allowed_ips != before_ips {
        diff.push(format!(
            "IP allowlist: {} \u{2192} {}",
            allow_list_text(before_ips.as_ref()),
            allow_list_text(changes.allowed_ips.as_ref())
        ));
        let list = |l: Option<&AllowList>| l.map(AllowList::to_list);
        changed.insert(
            "allowed_ips".into(),
            json!({ "from": list(before_ips.as_ref()), "to": list(changes.allowed_ips.as_ref()) }),
        );
    }
    let mut details = diff.join("; ");
    if let Some(first) = details.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    (details, changed)
}

/// Stops a key until it is enabled again: it answers 401 `disabled_key` meanwhile. Unlike
/// revocation this can be undone, and the key keeps its secret.
pub async fn disable(db: &Db, actor: &Actor, workspace_id: i64, id: i64) -> Result<Gone, KeyError> {
    set_disabled(db, actor, workspace_id, id, true).await
}

/// Lets a disabled key work again (unless it has expired meanwhile).
pub async fn enable(db: &Db, actor: &Actor, workspace_id: i64, id: i64) -> Result<Gone, KeyError> {
    set_disabled(db, actor, workspace_id, id, false).await
}

async fn set_disabled(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    disable: bool,
) -> Result<Gone, KeyError> {
    let actor = actor.clone();
    db.write(move |conn| -> Result<Gone, KeyError> {
        let now = now();
        let key = store::find(conn, workspace_id, id)?.ok_or(KeyError::NotFound)?;
        disable_one(conn, &actor, &key, disable, now)?;
        Ok(Gone { masked: key.masked(), name: key.name })
    })
    .await
}

/// Disables or enables one key in the caller's transaction, with its audit entry and event.
fn disable_one(
    conn: &mut DbConnection,
    actor: &Actor,
    key: &KeyRow,
    disable: bool,
    now: NaiveDateTime,
) -> Result<(), KeyError> {
    if key.revoked_at.is_some() {
        return Err(KeyError::RevokedCannotChange { name: key.name.clone() });
    }
    let state = disable.then_some((actor.user_id, now));
    if store::set_disabled(conn, key.workspace_id, key.id, state)? == 0 {
        return Err(if disable {
            KeyError::AlreadyDisabled { name: key.name.clone() }
        } else {
            KeyError::NotDisabled { name: key.name.clone() }
        });
    }
    let (action, event_type) = if disable {
        ("key.disabled", EventType::KeyDisabled)
    } else {
        ("key.enabled", EventType::KeyEnabled)
    };
    let event = Event {
        workspace_id: Some(key.workspace_id),
        action,
        key: Some(key.key_ref()),
        details: String::new(),
    };
    audit::record(conn, actor, event, now)?;
    emit_key_event(conn, key.workspace_id, key.id, event_type, Value::Null, now)
}

/// Why `key` cannot be revoked now, if it cannot (shown on the confirmation page; [`revoke`]
/// answers the same when a revocation got there first).
pub fn revoke_refusal(key: &KeyRow, now: NaiveDateTime) -> Option<KeyError> {
    (key.status(now) == Status::Revoked).then(|| KeyError::AlreadyRevoked { name: key.name.clone() })
}

/// Revokes a key: it stops working at once (a replaced secret in its grace period too) and
/// stays listed, with when and by whom.
pub async fn revoke(db: &Db, actor: &Actor, workspace_id: i64, id: i64) -> Result<Gone, KeyError> {
    revoke_with_reason(db, actor, workspace_id, id, String::new()).await
}

/// [`revoke`], with a reason for the audit log (a lifecycle rule says why it acted).
pub async fn revoke_with_reason(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    id: i64,
    reason: String,
) -> Result<Gone, KeyError> {
    let actor = actor.clone();
    db.write(move |conn| -> Result<Gone, KeyError> {
        let now = now();
        let key = store::find(conn, workspace_id, id)?.ok_or(KeyError::NotFound)?;
        revoke_one(conn, &actor, &key, reason, now)?;
        Ok(Gone { masked: key.masked(), name: key.name })
    })
    .await
}

/// Revokes one key in the caller's transaction, with its audit entry and event.
fn revoke_one(
    conn: &mut DbConnection,
    actor: &Actor,
    key: &KeyRow,
    details: String,
    now: NaiveDateTime,
) -> Result<(), KeyError> {
    if store::revoke(conn, key.workspace_id, key.id, actor.user_id, now)? == 0 {
        return Err(KeyError::AlreadyRevoked { name: key.name.clone() });
    }
    let event = Event {
        workspace_id: Some(key.workspace_id),
        action: "key.revoked",
        key: Some(key.key_ref()),
        details,
    };
    audit::record(conn, actor, event, now)?;
    emit_key_event(conn, key.workspace_id, key.id, EventType::KeyRevoked, Value::Null, now)
}

/// What a bulk action does to each key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkAction {
    Revoke,
    Disable,
}

/// The most keys one bulk action takes (a "select all matching" beyond it is refused at the
/// edge, so one transaction stays short).
pub const BULK_MAX: usize = 1000;

/// Revokes or disables many keys of the workspace in one transaction (so on several instances
/// one wait covers them all). Keys already in that state (or revoked, for disabling) are
/// skipped and listed; ids of other workspaces are ignored.
pub async fn bulk(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    ids: Vec<i64>,
    action: BulkAction,
) -> Result<Bulk, KeyError> {
    let actor = actor.clone();
    db.write(move |conn| -> Result<Bulk, KeyError> {
        let now = now();
        let mut done = Bulk::default();
        for key in store::find_many(conn, workspace_id, &ids)? {
            let gone = Gone { masked: key.masked(), name: key.name.clone() };
            let outcome = match action {
                BulkAction::Revoke => {
                    revoke_one(conn, &actor, &key, "Revoked together with other keys".into(), now)
                }
                BulkAction::Disable => disable_one(conn, &actor, &key, true, now),
            };
            match outcome {
                Ok(()) => done.changed.push(gone),
                Err(
                    KeyError::AlreadyRevoked { .. }
                    | KeyError::AlreadyDisabled { .. }
                    | KeyError::RevokedCannotChange { .. },
                ) => done.skipped.push(gone),
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    })
    .await
}

/// Where a secret scanner found a key: what a leak report says besides the secret itself,
/// which is never kept (see [`report_leaked`]).
#[derive(Clone, Debug, Default)]
pub struct LeakReport {
    /// The scanner's name for the kind of secret (GitHub's `type`).
    pub token_type: String,
    /// Where it was found, when the scanner says.
    pub url: Option<String>,
    /// The kind of place (GitHub: `content`, `commit`, `gist`, …).
    pub source: Option<String>,
}

/// The longest URL, source or type a leak report's audit entry and event keep, in characters.
pub const LEAK_FIELD_MAX: usize = 2048;

impl LeakReport {
    /// "Type: …; found at …; source: …", each bounded.
    pub(super) fn describe(&self) -> String {
        let bound = |s: &str| crate::text::truncate_chars(s, LEAK_FIELD_MAX).to_owned();
        let mut parts = Vec::new();
        if !self.token_type.is_empty() {
            parts.push(format!("type: {}", bound(&self.token_type)));
        }
        if let Some(url) = self.url.as_deref().filter(|u| !u.is_empty()) {
            parts.push(format!("found at {}", bound(url)));
        }
        if let Some(source) = self.source.as_deref().filter(|s| !s.is_empty()) {
            parts.push(format!("source: {}", bound(source)));
        }
        parts.join("; ")
    }

    fn to_json(&self) -> Value {
        let bound = |s: &str| crate::text::truncate_chars(s, LEAK_FIELD_MAX).to_owned();
        json!({
            "token_type": bound(&self.token_type),
            "url": self.url.as_deref().map(bound),
            "source": self.source.as_deref().map(bound),
        })
    }
}

/// What a leak report did to the key whose secret it held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeakOutcome {
    /// Revoked now (the workspace's policy: revoke).
    Revoked,
    /// Disabled now (the workspace's policy: disable).
    Disabled,
    /// The secret was a replaced one still in its rotation grace period: the grace period
    /// ended now; the key's current secret keeps working.
    GraceEnded,
    /// The key was revoked already, or the replaced secret's grace period had ended.
    AlreadyRevoked,
    /// The key was disabled already, and the policy disables.
    AlreadyDisabled,
    /// No key has that secret.
    Unknown,
}

impl LeakOutcome {
    /// Whether the report changed the key (and its owners are to be told).
    pub fn changed(self) -> bool {
        matches!(self, Self::Revoked | Self::Disabled | Self::GraceEnded)
    }
}

/// A leak report's result: the outcome and, when a key was found, that key as it was before.
#[derive(Clone, Debug)]
pub struct Leaked {
    pub outcome: LeakOutcome,
    pub key: Option<KeyRow>,
}

/// Acts on a report that the secret with `hash` was found in public. A key's current secret is
/// revoked, or disabled where the workspace's policy says so (`policy::LeakAction`); a replaced
/// secret still in its grace period has the grace period ended instead (the current secret,
/// which was not reported, keeps working, whatever the policy: disabling would stop that one
/// too). One transaction with its audit entry (`key.leaked`, with where it was found, never the
/// secret) and its webhook events: `key.revoked` or `key.disabled` as for any such change,
/// and `key.leaked` with the report. Nothing changes for a key already in that state, or an
/// unknown secret.
pub async fn report_leaked(
    db: &Db,
    actor: &Actor,
    hash: KeyHash,
    report: LeakReport,
) -> Result<Leaked, KeyError> {
    let unknown = Leaked { outcome: LeakOutcome::Unknown, key: None };
    // A read first: an unknown secret (most of what a scanner may send) costs no write.
    let lookup = hash.clone();
    if db.run(move |conn| store::find_id_by_hash(conn, &lookup).map_err(KeyError::from)).await?.is_none() {
        return Ok(unknown);
    }
    let actor = actor.clone();
    db.write(move |conn| -> Result<Leaked, KeyError> {
        let now = now();
        let Some((workspace_id, id, replaced)) = store::find_id_by_hash(conn, &hash)? else {
            return Ok(unknown);
        };
        let key = store::find(conn, workspace_id, id)?.ok_or(KeyError::NotFound)?;
        let policy = policy::read(conn, workspace_id)?;
        let already = |outcome: LeakOutcome| -> Result<Leaked, KeyError> {
            Ok(Leaked { outcome, key: Some(key.clone()) })
        };
        if key.revoked_at.is_some() {
            return already(LeakOutcome::AlreadyRevoked);
        }
        let (outcome, done, event_type) = if replaced {
            if key.previous_expires_at.is_none_or(|until| until <= now)
                || store::end_grace(conn, workspace_id, id, &hash)? == 0
            {
                return already(LeakOutcome::AlreadyRevoked);
            }
            let masked = key
                .previous_last4
                .as_deref()
                .map_or_else(String::new, |l| format!(" {}", super::secret::masked(&key.prefix, l)));
            let done = format!(
                "the replaced secret{masked} stopped working now, ending its grace period; the current \
                 secret {} keeps working",
                key.masked()
            );
            (LeakOutcome::GraceEnded, done, None)
        } else {
            match policy.leak_action {
                LeakAction::Revoke => {
                    if store::revoke(conn, workspace_id, id, actor.user_id, now)? == 0 {
                        return already(LeakOutcome::AlreadyRevoked);
                    }
                    (LeakOutcome::Revoked, "revoked".to_owned(), Some(EventType::KeyRevoked))
                }
                LeakAction::Disable => {
                    if key.disabled_at.is_some()
                        || store::set_disabled(conn, workspace_id, id, Some((actor.user_id, now)))? == 0
                    {
                        return already(LeakOutcome::AlreadyDisabled);
                    }
                    let done = "disabled (the workspace\u{2019}s policy disables leaked keys)".to_owned();
                    (LeakOutcome::Disabled, done, Some(EventType::KeyDisabled))
                }
            }
        };
        let found = report.describe();
        let found = if found.is_empty() { String::new() } else { format!(" ({found})") };
        let details = format!("Reported leaked by a secret scanner{found}: {done}");
        let event = Event {
            workspace_id: Some(workspace_id),
            action: "key.leaked",
            key: Some(key.key_ref()),
            details,
        };
        audit::record(conn, &actor, event, now)?;
        if let Some(event_type) = event_type {
            emit_key_event(conn, workspace_id, id, event_type, Value::Null, now)?;
        }
        let action = match outcome {
            LeakOutcome::Revoked => "revoked",
            LeakOutcome::Disabled => "disabled",
            _ => "grace_ended",
        };
        let extra = json!({ "action": action, "report": report.to_json() });
        emit_key_event(conn, workspace_id, id, EventType::KeyLeaked, extra, now)?;
        Ok(Leaked { outcome, key: Some(key) })
    })
    .await
}

/// Deletes a key: it stops working and leaves the table; its audit trail stays.
pub async fn delete(db: &Db, actor: &Actor, workspace_id: i64, id: i64) -> Result<Gone, KeyError> {
    let actor = actor.clone();
    db.write(move |conn| -> Result<Gone, KeyError> {
        let now = now();
        let key = store::find(conn, workspace_id, id)?.ok_or(KeyError::NotFound)?;
        let event = Event {
            workspace_id: Some(workspace_id),
            action: "key.deleted",
            key: Some(key.key_ref()),
            details: format!("Status when deleted: {}", key.status(now).label()),
        };
        audit::record(conn, &actor, event, now)?;
        emit_key_event(conn, workspace_id, id, EventType::KeyDeleted, Value::Null, now)?;
        store::delete(conn, workspace_id, id)?;
        Ok(Gone { masked: key.masked(), name: key.name })
    })
    .await
}

/// Claims the one showing of a new secret: true (and recorded in the audit log) only while
/// `secret` is still the key's secret and it has not been shown since it was issued. A copy of
/// an older session cookie can therefore show neither the key again nor a replaced secret.
pub async fn claim_reveal(db: &Db, actor: &Actor, key: &KeyRow, secret: &str) -> Result<bool, KeyError> {
    let (actor, key, hash) = (actor.clone(), key.clone(), KeyHash::of(secret));
    db.write(move |conn| -> Result<bool, KeyError> {
        if !store::claim_reveal(conn, key.id, hash.as_str(), now())? {
            return Ok(false);
        }
        let event = Event {
            workspace_id: Some(key.workspace_id),
            action: "key.revealed",
            key: Some(key.key_ref()),
            details: "The full key was shown once, on its reveal page".into(),
        };
        audit::record(conn, &actor, event, now())?;
        Ok(true)
    })
    .await
}
