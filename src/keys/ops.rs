//! Every change to a key, one function each: create, regenerate, revoke, delete, and the
//! one-time reveal of a new secret. The console calls these, and so will any other entry point
//! (a JSON API, the command line, lifecycle rules), so a key's rules live here once.
//!
//! Each operation takes typed input (already validated at the edge), runs the whole change in
//! one transaction (the name check under the workspace lock, the write, the audit event) and
//! answers a typed result or a [`KeyError`]. Every one is scoped to a workspace: a key id from
//! another workspace is [`KeyError::NotFound`], exactly like a missing one.

use chrono::{NaiveDateTime, Utc};

use super::secret::LIVE_PREFIX;
use super::store::{self, KeyRow, NewKey, Status};
use super::{ApiKey, Burst, Expiry, KeyHash, KeyName, PermissionSet, RateLimit};
use crate::audit::{self, Actor, Event, KeyRef};
use crate::db::{Db, DbError};
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
    /// The key's expiry rule is a fixed date that has passed: a new secret would be born expired.
    #[error(
        "\u{201c}{name}\u{201d} was set to expire on a fixed date ({}) that has passed. Create a new key with a new date instead.",
        until.format("%-d %b %Y")
    )]
    FixedDatePassed { name: String, until: chrono::NaiveDate },
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
            Self::RevokedCannotRegenerate { .. } => "key_revoked",
            Self::FixedDatePassed { .. } => "expiry_date_passed",
            Self::Db(DbError::Unavailable(_)) => "unavailable",
            Self::Db(_) => "internal_error",
        }
    }
}

/// What a new key is made of.
#[derive(Clone, Debug)]
pub struct NewKeyRequest {
    pub name: KeyName,
    pub permissions: PermissionSet,
    pub expiry: Expiry,
    /// `None`: the server's default limit.
    pub rate_limit: Option<RateLimit>,
    /// `None`: the default burst (at least one second's worth of the rate).
    pub burst: Option<Burst>,
}

/// A key that was just made or given a new secret. The only place its secret exists in full:
/// hand it to the person once, never store or log it.
pub struct Issued {
    pub id: i64,
    pub secret: ApiKey,
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
    let secret = ApiKey::generate();
    let (hash, last4, masked) = (secret.hash(), secret.last4().to_owned(), secret.masked());
    let actor = actor.clone();
    let id = db
        .write(move |conn| -> Result<i64, KeyError> {
            let now = now();
            let name = request.name.as_str();
            if let Some(existing) = store::active_name_clash(conn, workspace_id, name, now, None)? {
                return Err(KeyError::NameTaken { existing });
            }
            let expires_at = request.expiry.expires_at(now);
            let rate_limit = request.rate_limit.map(RateLimit::per_minute);
            let burst = request.burst.map(Burst::requests);
            let id = store::insert(
                conn,
                &NewKey {
                    workspace_id,
                    name,
                    prefix: LIVE_PREFIX,
                    last4: &last4,
                    key_hash: hash.as_str(),
                    permissions: &request.permissions.to_stored(),
                    expiry_rule: &request.expiry.to_rule(),
                    created_by: actor.user_id,
                    created_at: now,
                    expires_at,
                    rate_limit_per_minute: rate_limit,
                    rate_limit_burst: burst,
                },
            )?;
            let details = format!(
                "Permissions: {}; expires: {}; rate limit: {}; burst: {}",
                request.permissions.describe(),
                never_or(expires_at),
                request.rate_limit.map_or_else(|| "default".to_owned(), |r| r.to_string()),
                request.burst.map_or_else(|| "default".to_owned(), |b| b.requests().to_string()),
            );
            let key_ref = Some(KeyRef { id, name: name.to_owned(), masked });
            let event =
                Event { workspace_id: Some(workspace_id), action: "key.created", key: key_ref, details };
            audit::record(conn, &actor, event, now)?;
            Ok(id)
        })
        .await?;
    Ok(Issued { id, secret })
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

/// Gives a key a new secret with the same name, permissions and expiry rule. The old hash is
/// overwritten in the same statement, so the old secret stops working at once.
pub async fn regenerate(db: &Db, actor: &Actor, workspace_id: i64, id: i64) -> Result<Issued, KeyError> {
    let secret = ApiKey::generate();
    let (new_secret, new_masked) = (secret.clone(), secret.masked());
    let actor = actor.clone();
    db.write(move |conn| -> Result<(), KeyError> {
        let now = now();
        let key = store::find(conn, workspace_id, id)?.ok_or(KeyError::NotFound)?;
        if let Some(refusal) = regenerate_refusal(&key, now) {
            return Err(refusal);
        }
        // An expired key's name may have been taken by a newer active key since.
        if let Some(existing) = store::active_name_clash(conn, workspace_id, &key.name, now, Some(id))? {
            return Err(KeyError::NameTakenSince { existing });
        }
        let expires_at = Expiry::from_rule(&key.expiry_rule).expires_at(now);
        if store::regenerate(conn, workspace_id, id, &new_secret, expires_at, now)? == 0 {
            return Err(KeyError::NotFound);
        }
        let details = format!("Replaced secret {}; new expiry: {}", key.masked(), never_or(expires_at));
        let key_ref = Some(KeyRef { id, name: key.name, masked: new_masked });
        let event =
            Event { workspace_id: Some(workspace_id), action: "key.regenerated", key: key_ref, details };
        audit::record(conn, &actor, event, now)?;
        Ok(())
    })
    .await?;
    Ok(Issued { id, secret })
}

/// Why `key` cannot be revoked now, if it cannot (shown on the confirmation page; [`revoke`]
/// answers the same when a revocation got there first).
pub fn revoke_refusal(key: &KeyRow, now: NaiveDateTime) -> Option<KeyError> {
    (key.status(now) == Status::Revoked).then(|| KeyError::AlreadyRevoked { name: key.name.clone() })
}

/// Revokes a key: it stops working at once and stays listed, with when and by whom.
pub async fn revoke(db: &Db, actor: &Actor, workspace_id: i64, id: i64) -> Result<Gone, KeyError> {
    let actor = actor.clone();
    db.write(move |conn| -> Result<Gone, KeyError> {
        let now = now();
        let key = store::find(conn, workspace_id, id)?.ok_or(KeyError::NotFound)?;
        let by = actor.user_id;
        if store::revoke(conn, workspace_id, id, by, now)? == 0 {
            return Err(KeyError::AlreadyRevoked { name: key.name });
        }
        let event = Event {
            workspace_id: Some(workspace_id),
            action: "key.revoked",
            key: Some(key.key_ref()),
            details: String::new(),
        };
        audit::record(conn, &actor, event, now)?;
        Ok(Gone { masked: key.masked(), name: key.name })
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
