//! The database behind the console's back: seeding workspaces, members, keys, usage and audit
//! events straight into the store, and reading back rows the pages do not show. Every test that
//! writes to the database directly does it through this file.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use keyward::accounts::password::hash_password;
use keyward::accounts::{Password, Role, store as accounts};
use keyward::audit::{self, Actor, Event};
use keyward::db::schema::{
    api_keys, audit_events, invitations, key_client_addresses, key_usage_daily, memberships, user_sessions,
    users, workspaces,
};
use keyward::db::{Db, DbConnection, DbError};
use keyward::keys::ApiKey;
use keyward::keys::store::{self as key_store, NewKey};

use super::app::{MEMBER_PASSWORD, TestApp};

// ---------------------------------------------------------------- workspaces and members

/// The first workspace's id (made by `setup_owner`).
pub async fn first_workspace(app: &TestApp) -> i64 {
    app.state
        .db
        .run(|conn| -> Result<i64, DbError> {
            Ok(workspaces::table.select(workspaces::id).order(workspaces::id).first(conn)?)
        })
        .await
        .unwrap()
}

/// A second workspace, "Globex", with its own owner `owner_email` (password
/// [`MEMBER_PASSWORD`]).
pub async fn second_workspace(app: &TestApp, owner_email: &str) -> i64 {
    let ws = app
        .state
        .db
        .write(|conn| -> Result<i64, DbError> {
            Ok(accounts::insert_workspace(conn, "Globex", Utc::now().naive_utc())?)
        })
        .await
        .unwrap();
    insert_member(app, owner_email, ws, Role::Owner).await;
    ws
}

/// Adds a user (password [`MEMBER_PASSWORD`]) with a role in a workspace; returns the user's id.
pub async fn insert_member(app: &TestApp, email: &str, workspace_id: i64, role: Role) -> i64 {
    let hash = hash_password(&Password::parse(MEMBER_PASSWORD).unwrap());
    let email = email.to_owned();
    app.state
        .db
        .write(move |conn| -> Result<i64, DbError> {
            let now = Utc::now().naive_utc();
            let id = accounts::insert_user(conn, &email, &hash, now)?;
            accounts::insert_membership(conn, id, workspace_id, role, now)?;
            Ok(id)
        })
        .await
        .unwrap()
}

/// Whether an account has this email.
pub async fn user_exists(app: &TestApp, email: &str) -> bool {
    let email = email.to_owned();
    app.state
        .db
        .run(move |c| accounts::find_user_by_email(c, &email).map_err(DbError::from))
        .await
        .unwrap()
        .is_some()
}

/// The emails of a workspace's members, sorted.
pub async fn member_emails(app: &TestApp, workspace_id: i64) -> Vec<String> {
    app.state
        .db
        .run(move |c| -> Result<Vec<String>, DbError> {
            Ok(memberships::table
                .inner_join(users::table)
                .filter(memberships::workspace_id.eq(workspace_id))
                .select(users::email)
                .order(users::email)
                .load(c)?)
        })
        .await
        .unwrap()
}

/// Moves the end of every invitation of `email` into the past.
pub async fn expire_invitations_of(app: &TestApp, email: &str) {
    let email = email.to_owned();
    let past = Utc::now().naive_utc() - chrono::TimeDelta::minutes(1);
    let n = app
        .state
        .db
        .write(move |c| -> Result<usize, DbError> {
            Ok(diesel::update(invitations::table.filter(invitations::email.eq(email)))
                .set(invitations::expires_at.eq(past))
                .execute(c)?)
        })
        .await
        .unwrap();
    assert!(n > 0, "no invitation to expire");
}

/// The id of the user with this email.
pub async fn user_id(app: &TestApp, email: &str) -> i64 {
    let email = email.to_owned();
    app.state
        .db
        .run(move |c| accounts::find_user_by_email(c, &email).map_err(DbError::from))
        .await
        .unwrap()
        .unwrap()
        .id
}

// ---------------------------------------------------------------- keys

pub struct SeedKey {
    pub name: &'static str,
    pub permissions: &'static str,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked: bool,
    pub rate_limit: Option<i32>,
    pub burst: Option<i32>,
}

impl Default for SeedKey {
    fn default() -> Self {
        Self {
            name: "Deploy bot",
            permissions: "*",
            expires_at: None,
            revoked: false,
            rate_limit: None,
            burst: None,
        }
    }
}

/// A stored key and its plaintext (which only the test holds).
pub struct Seeded {
    pub key: ApiKey,
    pub id: i64,
    pub workspace_id: i64,
}

impl Seeded {
    pub fn secret(&self) -> &str {
        self.key.expose()
    }
}

/// Inserts a workspace "Seeded" (the first time: with a user) and a key row.
pub async fn seed_key(app: &TestApp, seed: SeedKey) -> Seeded {
    let key = ApiKey::generate(keyward::keys::Environment::Live);
    let (hash, last4) = (key.hash().as_str().to_owned(), key.last4().to_owned());
    let (id, workspace_id) = app
        .state
        .db
        .write(move |conn: &mut DbConnection| -> Result<(i64, i64), DbError> {
            let now = Utc::now().naive_utc();
            let user = match accounts::find_user_by_email(conn, "seed@example.com")? {
                Some(u) => u.id,
                None => accounts::insert_user(conn, "seed@example.com", "not-a-hash", now)?,
            };
            let ws: Option<i64> = workspaces::table
                .filter(workspaces::name.eq("Seeded"))
                .select(workspaces::id)
                .first(conn)
                .optional()?;
            let ws = match ws {
                Some(w) => w,
                None => {
                    let w = accounts::insert_workspace(conn, "Seeded", now)?;
                    accounts::insert_membership(conn, user, w, Role::Owner, now)?;
                    w
                }
            };
            let id = diesel::insert_into(api_keys::table)
                .values((
                    api_keys::workspace_id.eq(ws),
                    api_keys::search_name.eq(keyward::keys::search_form(seed.name)),
                    api_keys::name.eq(seed.name),
                    api_keys::prefix.eq("kw_live_"),
                    api_keys::last4.eq(last4),
                    api_keys::key_hash.eq(hash),
                    api_keys::permissions.eq(seed.permissions),
                    api_keys::expiry_rule.eq("never"),
                    api_keys::created_by.eq(Some(user)),
                    api_keys::created_at.eq(now),
                    api_keys::expires_at.eq(seed.expires_at),
                    api_keys::revoked_at.eq(seed.revoked.then_some(now)),
                    api_keys::rate_limit_per_minute.eq(seed.rate_limit),
                    api_keys::rate_limit_burst.eq(seed.burst),
                ))
                .returning(api_keys::id)
                .get_result(conn)?;
            Ok((id, ws))
        })
        .await
        .expect("seed a key");
    Seeded { key, id, workspace_id }
}

/// Inserts keys into a workspace through the key store, `(name, expires_at, revoked)` each
/// (`records:read`, secrets thrown away); returns their ids in order.
pub async fn insert_keys(
    app: &TestApp,
    ws: i64,
    keys: Vec<(String, Option<NaiveDateTime>, bool)>,
) -> Vec<i64> {
    app.state
        .db
        .write(move |conn| -> Result<Vec<i64>, DbError> {
            let now = Utc::now().naive_utc();
            let mut ids = Vec::new();
            for (name, expires_at, revoked) in keys {
                let secret = ApiKey::generate(keyward::keys::Environment::Live);
                let id = key_store::insert(
                    conn,
                    &NewKey {
                        workspace_id: ws,
                        name: &name,
                        description: "",
                        prefix: secret.prefix(),
                        last4: secret.last4(),
                        key_hash: secret.hash().as_str(),
                        permissions: "records:read",
                        expiry_rule: "30d",
                        created_by: None,
                        created_at: now,
                        expires_at,
                        rate_limit_per_minute: None,
                        rate_limit_burst: None,
                        allowed_ips: None,
                    },
                )?;
                if revoked {
                    key_store::revoke(conn, ws, id, Some(1), now)?;
                }
                ids.push(id);
            }
            Ok(ids)
        })
        .await
        .unwrap()
}

/// Sets a key's stored IP allowlist (canonical ranges, one per line; `None`: anywhere), without
/// an audit entry.
pub async fn set_allowed_ips(app: &TestApp, id: i64, allowed: Option<&'static str>) {
    app.state
        .db
        .write(move |conn: &mut DbConnection| -> Result<usize, DbError> {
            Ok(diesel::update(api_keys::table.find(id))
                .set(api_keys::allowed_ips.eq(allowed))
                .execute(conn)?)
        })
        .await
        .unwrap();
}

/// A key's stored IP allowlist and prefix.
pub async fn access_of(app: &TestApp, id: i64) -> (Option<String>, String) {
    app.state
        .db
        .run(move |conn: &mut DbConnection| -> Result<_, DbError> {
            Ok(api_keys::table.find(id).select((api_keys::allowed_ips, api_keys::prefix)).first(conn)?)
        })
        .await
        .unwrap()
}

/// Marks a key revoked now, without an audit entry.
pub async fn revoke_key(app: &TestApp, id: i64) {
    app.state
        .db
        .write(move |conn: &mut DbConnection| -> Result<usize, DbError> {
            Ok(diesel::update(api_keys::table.find(id))
                .set(api_keys::revoked_at.eq(Some(Utc::now().naive_utc())))
                .execute(conn)?)
        })
        .await
        .expect("revoke");
}

/// Deletes a key's row, without an audit entry.
pub async fn delete_key(app: &TestApp, id: i64) {
    app.state
        .db
        .write(move |conn: &mut DbConnection| -> Result<usize, DbError> {
            Ok(diesel::delete(api_keys::table.find(id)).execute(conn)?)
        })
        .await
        .expect("delete");
}

/// Moves a key's expiry, or the end of its replaced secret's grace period, as time passing
/// would (a test cannot wait days).
pub async fn set_key_times(
    app: &TestApp,
    id: i64,
    expires_at: Option<Option<NaiveDateTime>>,
    previous_expires_at: Option<NaiveDateTime>,
) {
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            if let Some(expires_at) = expires_at {
                diesel::update(api_keys::table.find(id))
                    .set(api_keys::expires_at.eq(expires_at))
                    .execute(conn)?;
            }
            if let Some(until) = previous_expires_at {
                diesel::update(api_keys::table.find(id))
                    .set(api_keys::previous_expires_at.eq(Some(until)))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
        .unwrap()
}

/// A key's replaced secret's grace end, and its own expiry.
pub async fn grace_of(app: &TestApp, id: i64) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
    app.state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(api_keys::table
                .find(id)
                .select((api_keys::previous_expires_at, api_keys::expires_at))
                .first(conn)?)
        })
        .await
        .unwrap()
}

/// The details of the newest audit event with this action about the key.
pub async fn audit_details(app: &TestApp, key_id: i64, action: &'static str) -> Option<String> {
    app.state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(audit_events::table
                .filter(audit_events::key_id.eq(key_id))
                .filter(audit_events::action.eq(action))
                .order(audit_events::id.desc())
                .select(audit_events::details)
                .first(conn)
                .optional()?)
        })
        .await
        .unwrap()
}

/// Sets a key's last use, as a usage flush would.
pub async fn set_last_used(app: &TestApp, id: i64, at: NaiveDateTime, ip: &'static str) {
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            diesel::update(api_keys::table.find(id))
                .set((api_keys::last_used_at.eq(Some(at)), api_keys::last_used_ip.eq(Some(ip))))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap()
}

/// A key's stored (name, key_hash, permissions, revoked_at), if the row exists.
pub async fn key_row(app: &TestApp, id: i64) -> Option<(String, String, String, Option<NaiveDateTime>)> {
    app.state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(api_keys::table
                .find(id)
                .select((api_keys::name, api_keys::key_hash, api_keys::permissions, api_keys::revoked_at))
                .first(conn)
                .optional()?)
        })
        .await
        .unwrap()
}

/// (allowed, denied) summed over days, and last_used_at / last_used_ip.
pub async fn usage_of(app: &TestApp, id: i64) -> (i64, i64, Option<NaiveDateTime>, Option<String>) {
    usage_in(&app.state.db, id).await
}

/// [`usage_of`] on any database handle (e.g. one opened after the server has exited).
pub async fn usage_in(db: &Db, id: i64) -> (i64, i64, Option<NaiveDateTime>, Option<String>) {
    db.run(move |conn: &mut DbConnection| -> Result<_, DbError> {
        let rows: Vec<(i64, i64)> = key_usage_daily::table
            .filter(key_usage_daily::key_id.eq(id))
            .select((key_usage_daily::allowed, key_usage_daily::denied))
            .load(conn)?;
        let (used_at, ip): (Option<NaiveDateTime>, Option<String>) =
            api_keys::table.find(id).select((api_keys::last_used_at, api_keys::last_used_ip)).first(conn)?;
        let (a, d) = rows.iter().fold((0, 0), |(a, d), (x, y)| (a + x, d + y));
        Ok((a, d, used_at, ip))
    })
    .await
    .expect("read usage")
}

// ---------------------------------------------------------------- usage and insight

/// A key row for the insight figures: its times as the test needs them, secret thrown away.
pub struct KeyAt {
    pub name: &'static str,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked: bool,
}

/// Inserts a key into workspace `ws` with the given times; returns its id.
pub async fn insert_key_at(app: &TestApp, ws: i64, k: KeyAt) -> i64 {
    app.state
        .db
        .write(move |conn| -> Result<i64, DbError> {
            let secret = ApiKey::generate(keyward::keys::Environment::Live);
            let id = key_store::insert(
                conn,
                &NewKey {
                    workspace_id: ws,
                    name: k.name,
                    description: "",
                    prefix: secret.prefix(),
                    last4: secret.last4(),
                    key_hash: secret.hash().as_str(),
                    permissions: "records:read",
                    expiry_rule: "30d",
                    created_by: None,
                    created_at: k.created_at,
                    expires_at: k.expires_at,
                    rate_limit_per_minute: None,
                    rate_limit_burst: None,
                    allowed_ips: None,
                },
            )?;
            diesel::update(api_keys::table.find(id))
                .set((
                    api_keys::last_used_at.eq(k.last_used_at),
                    api_keys::revoked_at.eq(k.revoked.then_some(k.created_at)),
                ))
                .execute(conn)?;
            Ok(id)
        })
        .await
        .unwrap()
}

/// Sets a key's own rate limit and burst.
pub async fn set_key_limits(app: &TestApp, id: i64, per_minute: i32, burst: i32) {
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            diesel::update(api_keys::table.find(id))
                .set((
                    api_keys::rate_limit_per_minute.eq(Some(per_minute)),
                    api_keys::rate_limit_burst.eq(Some(burst)),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap()
}

/// Writes a day of usage for a key: `allowed`, and `denied_permission` refusals (the denied
/// total), as an earlier flush would have.
pub async fn seed_usage_day(
    app: &TestApp,
    key_id: i64,
    day: chrono::NaiveDate,
    allowed: i64,
    denied_permission: i64,
) {
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            diesel::insert_into(key_usage_daily::table)
                .values((
                    key_usage_daily::key_id.eq(key_id),
                    key_usage_daily::day.eq(day),
                    key_usage_daily::allowed.eq(allowed),
                    key_usage_daily::denied.eq(denied_permission),
                    key_usage_daily::denied_permission.eq(denied_permission),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap()
}

/// Records a client address of a key, seen at `at`.
pub async fn seed_client_address(app: &TestApp, key_id: i64, ip: &'static str, at: NaiveDateTime) {
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            diesel::insert_into(key_client_addresses::table)
                .values((
                    key_client_addresses::key_id.eq(key_id),
                    key_client_addresses::ip.eq(ip),
                    key_client_addresses::last_seen_at.eq(at),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap()
}

/// The days a key has usage rows for, oldest first.
pub async fn usage_days_of(app: &TestApp, key_id: i64) -> Vec<chrono::NaiveDate> {
    app.state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(key_usage_daily::table
                .filter(key_usage_daily::key_id.eq(key_id))
                .order(key_usage_daily::day.asc())
                .select(key_usage_daily::day)
                .load(conn)?)
        })
        .await
        .unwrap()
}

/// A key's stored client addresses, most recently seen first.
pub async fn client_addresses_of(app: &TestApp, key_id: i64) -> Vec<(String, NaiveDateTime)> {
    app.state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(key_client_addresses::table
                .filter(key_client_addresses::key_id.eq(key_id))
                .order(key_client_addresses::last_seen_at.desc())
                .select((key_client_addresses::ip, key_client_addresses::last_seen_at))
                .load(conn)?)
        })
        .await
        .unwrap()
}

// ---------------------------------------------------------------- the audit log

/// The audit log's (action, details), oldest first (every workspace).
pub async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    app.state
        .db
        .run(|conn| -> Result<Vec<(String, String)>, DbError> {
            Ok(audit_events::table
                .order(audit_events::id.asc())
                .select((audit_events::action, audit_events::details))
                .load(conn)?)
        })
        .await
        .expect("audit query")
}

/// The actions recorded about one key, newest first.
pub async fn actions_for(app: &TestApp, key_id: i64) -> Vec<String> {
    app.state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(audit_events::table
                .filter(audit_events::key_id.eq(key_id))
                .order(audit_events::id.desc())
                .select(audit_events::action)
                .load::<String>(conn)?)
        })
        .await
        .unwrap()
}

/// Records audit events by `actor`, each `(workspace_id, action, details, at)`, in one
/// transaction.
pub async fn record_audit_events(
    app: &TestApp,
    actor: &str,
    events: Vec<(i64, &'static str, String, NaiveDateTime)>,
) {
    let actor = Actor { label: actor.into(), ..Default::default() };
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            for (workspace_id, action, details, at) in events {
                let event = Event { workspace_id: Some(workspace_id), action, key: None, details };
                audit::record(conn, &actor, event, at)?;
            }
            Ok(())
        })
        .await
        .unwrap()
}

// ---------------------------------------------------------------- two-factor and re-authentication

/// Moves every session's last proof of identity of the user `minutes` into the past, as if
/// they had signed in that long ago.
pub async fn age_confirmation(app: &TestApp, email: &str, minutes: i64) {
    let user = user_id(app, email).await;
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            let at = Utc::now().naive_utc() - chrono::TimeDelta::minutes(minutes);
            diesel::update(user_sessions::table.filter(user_sessions::user_id.eq(user)))
                .set(user_sessions::confirmed_at.eq(at))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap()
}

/// The user's stored (encrypted) TOTP secret, when there is one.
pub async fn stored_totp_secret(app: &TestApp, email: &str) -> Option<String> {
    let user = user_id(app, email).await;
    app.state
        .db
        .run(move |conn| -> Result<Option<String>, DbError> {
            Ok(users::table.find(user).select(users::totp_secret).first(conn)?)
        })
        .await
        .unwrap()
}

/// How many sign-in sessions the user has (ended or not).
pub async fn session_count(app: &TestApp, email: &str) -> i64 {
    let user = user_id(app, email).await;
    app.state
        .db
        .run(move |conn| -> Result<i64, DbError> {
            Ok(user_sessions::table.filter(user_sessions::user_id.eq(user)).count().get_result(conn)?)
        })
        .await
        .unwrap()
}

/// Whether the workspace requires two-factor sign-in.
pub async fn two_factor_required(app: &TestApp, workspace_id: i64) -> bool {
    app.state
        .db
        .run(move |conn| -> Result<Option<NaiveDateTime>, DbError> {
            Ok(workspaces::table.find(workspace_id).select(workspaces::two_factor_required_at).first(conn)?)
        })
        .await
        .unwrap()
        .is_some()
}

/// The user's role in a workspace, if a member.
pub async fn role_of(app: &TestApp, email: &str, workspace_id: i64) -> Option<String> {
    let user = user_id(app, email).await;
    app.state
        .db
        .run(move |conn| -> Result<Option<String>, DbError> {
            Ok(memberships::table
                .filter(memberships::user_id.eq(user))
                .filter(memberships::workspace_id.eq(workspace_id))
                .select(memberships::role)
                .first(conn)
                .optional()?)
        })
        .await
        .unwrap()
}

// ---------------------------------------------------------------- policies and key notices

/// Moves a key's creation and expiry, as if it had been made at `created_at`.
pub async fn set_key_made_at(
    app: &TestApp,
    id: i64,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
) {
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            diesel::update(api_keys::table.find(id))
                .set((api_keys::created_at.eq(created_at), api_keys::expires_at.eq(expires_at)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap()
}

/// Sets a workspace's key policy directly.
pub async fn set_policy(app: &TestApp, workspace_id: i64, policy: keyward::keys::policy::Policy) {
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            keyward::keys::policy::write(conn, workspace_id, &policy, Utc::now().naive_utc())?;
            Ok(())
        })
        .await
        .unwrap()
}

/// A workspace's key policy as stored.
pub async fn policy_of(app: &TestApp, workspace_id: i64) -> keyward::keys::policy::Policy {
    app.state
        .db
        .run(move |conn| keyward::keys::policy::read(conn, workspace_id).map_err(DbError::from))
        .await
        .unwrap()
}

/// Every key notice as (key id, kind, about), in key and kind order.
pub async fn key_notices(app: &TestApp) -> Vec<(i64, String, NaiveDateTime)> {
    use keyward::db::schema::key_notices as n;
    app.state
        .db
        .run(|conn| -> Result<_, DbError> {
            Ok(n::table.order((n::key_id, n::kind)).select((n::key_id, n::kind, n::about)).load(conn)?)
        })
        .await
        .unwrap()
}

/// Records a key notice as if it had been sent at `sent_at`.
pub async fn record_notice(
    app: &TestApp,
    key_id: i64,
    kind: &'static str,
    about: NaiveDateTime,
    sent_at: NaiveDateTime,
) {
    use keyward::db::schema::key_notices as n;
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            diesel::insert_into(n::table)
                .values((n::key_id.eq(key_id), n::kind.eq(kind), n::about.eq(about), n::sent_at.eq(sent_at)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap()
}

/// A webhook endpoint of the workspace subscribed to `events` (space-separated); its id.
pub async fn insert_webhook_endpoint(app: &TestApp, workspace_id: i64, events: &'static str) -> i64 {
    use keyward::db::schema::webhook_endpoints as w;
    app.state
        .db
        .write(move |conn| -> Result<i64, DbError> {
            Ok(diesel::insert_into(w::table)
                .values((
                    w::workspace_id.eq(workspace_id),
                    w::url.eq("https://hooks.example.com/keyward"),
                    w::events.eq(events),
                    w::secret.eq("sealed"),
                    w::created_at.eq(Utc::now().naive_utc()),
                ))
                .returning(w::id)
                .get_result(conn)?)
        })
        .await
        .unwrap()
}

/// Every webhook event written, as (type, payload), oldest first.
pub async fn webhook_events(app: &TestApp) -> Vec<(String, String)> {
    use keyward::db::schema::webhook_events as e;
    app.state
        .db
        .run(|conn| -> Result<_, DbError> {
            Ok(e::table.order(e::id).select((e::event_type, e::payload)).load(conn)?)
        })
        .await
        .unwrap()
}

/// The audit log's (actor, action, key id, details), oldest first (every workspace).
pub async fn audit_rows(app: &TestApp) -> Vec<(String, String, Option<i64>, String)> {
    app.state
        .db
        .run(|conn| -> Result<_, DbError> {
            Ok(audit_events::table
                .order(audit_events::id.asc())
                .select((
                    audit_events::actor,
                    audit_events::action,
                    audit_events::key_id,
                    audit_events::details,
                ))
                .load(conn)?)
        })
        .await
        .unwrap()
}

// ---------------------------------------------------------------- webhooks

/// An endpoint's stored signing secret, as the database holds it.
pub async fn stored_webhook_secret(app: &TestApp, endpoint_id: i64) -> String {
    use keyward::db::schema::webhook_endpoints;
    app.state
        .db
        .run(move |conn| -> Result<String, DbError> {
            Ok(webhook_endpoints::table.find(endpoint_id).select(webhook_endpoints::secret).first(conn)?)
        })
        .await
        .unwrap()
}

/// Points an endpoint elsewhere behind the console's checks (as a URL stored before a rule
/// changed, or a name that resolves differently now).
pub async fn set_webhook_url(app: &TestApp, endpoint_id: i64, url: &str) {
    use keyward::db::schema::webhook_endpoints;
    let url = url.to_owned();
    app.state
        .db
        .write(move |conn| -> Result<usize, DbError> {
            Ok(diesel::update(webhook_endpoints::table.find(endpoint_id))
                .set(webhook_endpoints::url.eq(url))
                .execute(conn)?)
        })
        .await
        .unwrap();
}

/// One delivery row: (status, attempts, response status, last error).
pub type DeliveryState = (String, i32, Option<i32>, Option<String>);

/// An endpoint's deliveries, oldest first.
pub async fn webhook_deliveries(app: &TestApp, endpoint_id: i64) -> Vec<DeliveryState> {
    use keyward::db::schema::webhook_deliveries as d;
    app.state
        .db
        .run(move |conn| -> Result<Vec<DeliveryState>, DbError> {
            Ok(d::table
                .filter(d::endpoint_id.eq(endpoint_id))
                .order(d::id.asc())
                .select((d::status, d::attempts, d::response_status, d::last_error))
                .load(conn)?)
        })
        .await
        .unwrap()
}

/// Whether the endpoint is disabled, and why.
pub async fn webhook_disabled(app: &TestApp, endpoint_id: i64) -> Option<String> {
    use keyward::db::schema::webhook_endpoints as e;
    app.state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let row: Option<(Option<NaiveDateTime>, Option<String>)> = e::table
                .find(endpoint_id)
                .select((e::disabled_at, e::disabled_reason))
                .first(conn)
                .optional()?;
            Ok(row)
        })
        .await
        .unwrap()
        .and_then(|(at, reason)| at.map(|_| reason.unwrap_or_default()))
}
