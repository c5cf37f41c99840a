//! Seeding keys straight into the database, independent of the console's key pages.
#![allow(dead_code)]

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use keyward::accounts::store;
use keyward::db::schema::{api_keys, key_usage_daily};
use keyward::db::{Db, DbConnection, DbError};
use keyward::keys::ApiKey;

use crate::helpers::TestApp;

pub struct SeedKey {
    pub name: &'static str,
    pub permissions: &'static str,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked: bool,
    pub rate_limit: Option<i32>,
}

impl Default for SeedKey {
    fn default() -> Self {
        Self { name: "Deploy bot", permissions: "*", expires_at: None, revoked: false, rate_limit: None }
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

/// Inserts a workspace (the first time: with a user) and a key row.
pub async fn seed_key(app: &TestApp, seed: SeedKey) -> Seeded {
    let key = ApiKey::generate();
    let (hash, last4) = (key.hash().as_str().to_owned(), key.last4().to_owned());
    let (id, workspace_id) = app
        .state
        .db
        .write(move |conn: &mut DbConnection| -> Result<(i64, i64), DbError> {
            let now = Utc::now().naive_utc();
            let user = match store::find_user_by_email(conn, "seed@example.com")? {
                Some(u) => u.id,
                None => store::insert_user(conn, "seed@example.com", "not-a-hash", now)?,
            };
            let ws: Option<i64> = keyward::db::schema::workspaces::table
                .filter(keyward::db::schema::workspaces::name.eq("Seeded"))
                .select(keyward::db::schema::workspaces::id)
                .first(conn)
                .optional()?;
            let ws = match ws {
                Some(w) => w,
                None => {
                    let w = store::insert_workspace(conn, "Seeded", now)?;
                    store::insert_membership(conn, user, w, keyward::accounts::Role::Owner, now)?;
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
                ))
                .returning(api_keys::id)
                .get_result(conn)?;
            Ok((id, ws))
        })
        .await
        .expect("seed a key");
    Seeded { key, id, workspace_id }
}

pub async fn revoke(app: &TestApp, id: i64) {
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

pub async fn delete_key(app: &TestApp, id: i64) {
    app.state
        .db
        .write(move |conn: &mut DbConnection| -> Result<usize, DbError> {
            Ok(diesel::delete(api_keys::table.find(id)).execute(conn)?)
        })
        .await
        .expect("delete");
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
