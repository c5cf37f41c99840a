//! The ordered decision on a looked-up key: unknown (or a replaced secret past its grace
//! period), revoked, expired, disabled, permission. (The IP allowlist and then the rate limit
//! come last, in [`super::Verifier::check`], so refused keys do not use up their allowance.)

use chrono::NaiveDateTime;

use super::error::Denial;
use crate::keys::store::KeyRecord;

/// The checks that need no state besides the row, in the documented order.
pub fn decide(record: Option<&KeyRecord>, required: &[String], now: NaiveDateTime) -> Result<(), Denial> {
    let Some(key) = record else { return Err(Denial::UnknownKey) };
    // A replaced secret past its grace period is no longer the key's: as unknown as a secret
    // replaced without one.
    if key.replaced_until.is_some_and(|until| until <= now) {
        return Err(Denial::UnknownKey);
    }
    if key.revoked_at.is_some() {
        return Err(Denial::RevokedKey);
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return Err(Denial::ExpiredKey);
    }
    if key.disabled_at.is_some() {
        return Err(Denial::DisabledKey);
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
    use crate::keys::PermissionSet;

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
            disabled_at: None,
            rate_limit_per_minute: None,
            rate_limit_burst: None,
            replaced_until: None,
            allowed_ips: Default::default(),
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

    #[test]
    fn a_disabled_key_and_a_replaced_secret() {
        let mut k = key("*");
        k.disabled_at = Some(now());
        assert_eq!(decide(Some(&k), &[], now()), Err(Denial::DisabledKey));
        // Revoked says more than disabled; so does expired (enabling would not help).
        k.expires_at = Some(now());
        assert_eq!(decide(Some(&k), &[], now()), Err(Denial::ExpiredKey));
        let mut old = key("*");
        old.replaced_until = Some(now() + chrono::Duration::seconds(1));
        assert_eq!(decide(Some(&old), &[], now()), Ok(()));
        old.replaced_until = Some(now());
        assert_eq!(decide(Some(&old), &[], now()), Err(Denial::UnknownKey));
        old.revoked_at = Some(now());
        old.replaced_until = Some(now() + chrono::Duration::seconds(1));
        assert_eq!(decide(Some(&old), &[], now()), Err(Denial::RevokedKey));
    }
}
