//! `Idempotency-Key` on create and regenerate: a retried request gets the first answer again,
//! not a second key.
//!
//! The first request with a key claims it (a row inserted in its own transaction, so of two
//! racing requests exactly one claims it), does the work, and stores its answer. A retry with
//! the same key and the same request replays that answer; with another request it is refused
//! (422), and while the first is still running it is told to wait (409). An answer that was an
//! error is not kept: the operation did nothing, so the retry runs it again. Keys are per
//! token and kept 24 hours.
//!
//! The answer to a create holds the new secret, so it is stored sealed (AES-256-GCM under a key
//! derived from the instance's secret key): a copy of the database alone does not reveal it.

use actix_web::HttpRequest;
use chrono::{NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::problem::{FieldError, ManageError};
use crate::accounts::two_factor::SecretCipher;
use crate::db::schema::idempotent_requests;
use crate::db::{Db, DbError};

pub const HEADER: &str = "Idempotency-Key";
/// How long an answer is replayed.
const KEPT: TimeDelta = TimeDelta::hours(24);
/// A claim whose request has not answered in this long is taken to have died with its
/// instance, and may be claimed again.
const CLAIM_EXPIRES: TimeDelta = TimeDelta::minutes(2);
const MAX_KEY_LEN: usize = 255;

/// The header's value: 1–255 visible ASCII characters.
#[derive(Clone, Debug)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The request's key, if it sent one.
    pub fn of(req: &HttpRequest) -> Result<Option<Self>, ManageError> {
        let Some(value) = req.headers().get(HEADER) else { return Ok(None) };
        let refused = || {
            ManageError::invalid(vec![FieldError::new(
                HEADER,
                format!("Use 1 to {MAX_KEY_LEN} visible ASCII characters, such as a UUID."),
            )])
        };
        let text = value.to_str().map_err(|_| refused())?.trim();
        if text.is_empty() || text.len() > MAX_KEY_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refused());
        }
        Ok(Some(Self(text.to_owned())))
    }
}

/// What a request is, for telling a retry from another request under the same key.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n", body] {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// A stored answer.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// How a request with a key begins.
pub enum Begin {
    /// This request holds the claim: do the work, then [`finish`] or [`abandon`].
    Claimed,
    /// The first request's answer, to send again.
    Replay(Answer),
}

#[derive(Insertable)]
#[diesel(table_name = idempotent_requests)]
struct Claim<'a> {
    token_id: i64,
    idempotency_key: &'a str,
    fingerprint: &'a str,
    status: i32,
    sealed_body: &'a str,
    created_at: NaiveDateTime,
}

/// Claims `key` for this request, or finds the answer a first request left.
pub async fn begin(
    db: &Db,
    cipher: &SecretCipher,
    token_id: i64,
    key: &IdempotencyKey,
    fingerprint: String,
) -> Result<Begin, ManageError> {
    let key = key.0.clone();
    let ours = fingerprint.clone();
    let found = db
        .write(move |conn| -> Result<Option<(String, i32, String, NaiveDateTime)>, DbError> {
            let now = Utc::now().naive_utc();
            // Old answers go as new ones come: bounded by the index on the time.
            diesel::delete(idempotent_requests::table.filter(idempotent_requests::created_at.lt(now - KEPT)))
                .execute(conn)?;
            let mine = || {
                idempotent_requests::table
                    .filter(idempotent_requests::token_id.eq(token_id))
                    .filter(idempotent_requests::idempotency_key.eq(key.clone()))
            };
            let existing = mine()
                .select((
                    idempotent_requests::fingerprint,
                    idempotent_requests::status,
                    idempotent_requests::sealed_body,
                    idempotent_requests::created_at,
                ))
                .first::<(String, i32, String, NaiveDateTime)>(conn)
                .optional()?;
            match existing {
                Some((_, 0, _, at)) if at < now - CLAIM_EXPIRES => {
                    diesel::delete(mine()).execute(conn)?;
                }
                Some(found) => return Ok(Some(found)),
                None => {}
            }
            diesel::insert_into(idempotent_requests::table)
                .values(Claim {
                    token_id,
                    idempotency_key: &key,
                    fingerprint: &fingerprint,
                    status: 0,
                    sealed_body: "",
                    created_at: now,
                })
                .execute(conn)?;
            Ok(None)
        })
        .await;
    let found = match found {
        // Another request claimed the key between this one's look and its insert.
        Err(DbError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => return Err(ManageError::IdempotencyInProgress),
        other => other?,
    };
    let Some((stored, status, sealed, _)) = found else { return Ok(Begin::Claimed) };
    if stored != ours {
        return Err(ManageError::IdempotencyKeyReused);
    }
    if status == 0 {
        return Err(ManageError::IdempotencyInProgress);
    }
    let body = cipher.open_bytes(&sealed).ok().and_then(|b| String::from_utf8(b).ok());
    match body {
        Some(body) => Ok(Begin::Replay(Answer { status: status as u16, body })),
        // Sealed under another instance secret (rotated since): the answer cannot be given
        // again, and running the request again would make a second key.
        None => Err(ManageError::IdempotencyAnswerLost),
    }
}

/// Stores the answer of the request that holds the claim.
pub async fn finish(
    db: &Db,
    cipher: &SecretCipher,
    token_id: i64,
    key: &IdempotencyKey,
    answer: &Answer,
) -> Result<(), ManageError> {
    let (key, status, sealed) =
        (key.0.clone(), i32::from(answer.status), cipher.seal_bytes(answer.body.as_bytes()));
    db.write(move |conn| -> Result<(), DbError> {
        diesel::update(
            idempotent_requests::table
                .filter(idempotent_requests::token_id.eq(token_id))
                .filter(idempotent_requests::idempotency_key.eq(key)),
        )
        .set((idempotent_requests::status.eq(status), idempotent_requests::sealed_body.eq(sealed)))
        .execute(conn)?;
        Ok(())
    })
    .await
    .map_err(ManageError::from)
}

/// Gives the claim up: the request failed and changed nothing, so a retry may run it again.
pub async fn abandon(db: &Db, token_id: i64, key: &IdempotencyKey) -> Result<(), ManageError> {
    let key = key.0.clone();
    db.write(move |conn| -> Result<(), DbError> {
        diesel::delete(
            idempotent_requests::table
                .filter(idempotent_requests::token_id.eq(token_id))
                .filter(idempotent_requests::idempotency_key.eq(key))
                .filter(idempotent_requests::status.eq(0)),
        )
        .execute(conn)?;
        Ok(())
    })
    .await
    .map_err(ManageError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_tells_requests_apart() {
        let a = fingerprint("POST", "/api/v1/manage/keys", br#"{"name":"a"}"#);
        assert_eq!(a, fingerprint("POST", "/api/v1/manage/keys", br#"{"name":"a"}"#));
        assert_ne!(a, fingerprint("POST", "/api/v1/manage/keys", br#"{"name":"b"}"#));
        assert_ne!(a, fingerprint("POST", "/api/v1/manage/keys/1/regenerate", br#"{"name":"a"}"#));
    }
}
