//! The lookup and the ordered decision: unknown, revoked, expired, permission. (The rate limit
//! comes last, in [`super::Verifier::check`], so refused keys do not use up their allowance.)

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::error::Denial;
use crate::db::DbConnection;
use crate::db::schema::{api_keys, workspaces};
use crate::keys::{KeyHash, PermissionSet};

/// What the verifier needs to know about a stored key.
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub id: i64,
    pub workspace_id: i64,
    pub workspace_name: String,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    pub permissions: PermissionSet,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub rate_limit_per_minute: Option<i32>,
}

impl KeyRecord {
    pub fn masked(&self) -> String {
        crate::keys::secret::masked(&self.prefix, &self.last4)
    }
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<i32>,
);

/// One indexed lookup by the key's hash (`api_keys.key_hash` is unique).
pub fn find_by_hash(conn: &mut DbConnection, hash: &KeyHash) -> QueryResult<Option<KeyRecord>> {
    let row: Option<Row> = api_keys::table
        .inner_join(workspaces::table)
        .filter(api_keys::key_hash.eq(hash.as_str()))
        .select((
            api_keys::id,
            api_keys::workspace_id,
            workspaces::name,
            api_keys::name,
            api_keys::prefix,
            api_keys::last4,
            api_keys::permissions,
            api_keys::expires_at,
            api_keys::revoked_at,
            api_keys::rate_limit_per_minute,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|r| KeyRecord {
        id: r.0,
        workspace_id: r.1,
        workspace_name: r.2,
        name: r.3,
        prefix: r.4,
        last4: r.5,
        permissions: PermissionSet::from_stored(&r.6),
        expires_at: r.7,
        revoked_at: r.8,
        rate_limit_per_minute: r.9,
    }))
}

/// The checks that need no state besides the row, in the documented order.
pub fn decide(record: Option<&KeyRecord>, required: &[String], now: NaiveDateTime) -> Result<(), Denial> {
    let Some(key) = record else { return Err(Denial::UnknownKey) };
    if key.revoked_at.is_some() {
        return Err(Denial::RevokedKey);
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return Err(Denial::ExpiredKey);
    }
    let missing: Vec<String> = required.iter().filter(|r| !key.permissions.contains(r)).cloned().collect();
    if !missing.is_empty() {
        return Err(Denial::InsufficientPermission(missing));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap().and_hms_opt(12, 0, 0).unwrap()
    }

    fn key(perms: &str) -> KeyRecord {
        KeyRecord {
            id: 1,
            workspace_id: 1,
            workspace_name: "Acme".into(),
            name: "bot".into(),
            prefix: "kw_live_".into(),
            last4: "ABCD".into(),
            permissions: PermissionSet::from_stored(perms),
            expires_at: None,
            revoked_at: None,
            rate_limit_per_minute: None,
        }
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        let req = vec!["records:write".to_owned()];
        assert_eq!(decide(None, &req, now()), Err(Denial::UnknownKey));
        // Revoked and expired and lacking: revoked is reported.
        let mut k = key("records:read");
        k.revoked_at = Some(now());
        k.expires_at = Some(now());
        assert_eq!(decide(Some(&k), &req, now()), Err(Denial::RevokedKey));
        k.revoked_at = None;
        assert_eq!(decide(Some(&k), &req, now()), Err(Denial::ExpiredKey));
        k.expires_at = Some(now() + chrono::Duration::seconds(1));
        assert_eq!(
            decide(Some(&k), &req, now()),
            Err(Denial::InsufficientPermission(vec!["records:write".into()]))
        );
        assert_eq!(decide(Some(&k), &["records:read".into()], now()), Ok(()));
        assert_eq!(decide(Some(&k), &[], now()), Ok(()));
        assert_eq!(decide(Some(&key("*")), &req, now()), Ok(()));
    }
}
