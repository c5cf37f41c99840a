//! An issued key is shown once, to the session that created it, and stored nowhere in plain
//! text.

use diesel::prelude::*;
use keyward::db::DbError;
use keyward::db::schema::{
    api_keys, audit_events, instance_settings, memberships, user_sessions, users, workspaces,
};
use keyward::keys::ApiKey;

use super::post_create;
use crate::both_backends;
use crate::helpers::db;
use crate::helpers::pages::{reveal_id, secret_on};
use crate::helpers::{Backend, Revealed, TestApp, spawn_app};

both_backends! {
    a_copy_of_the_cookie_cannot_show_a_key_again,
    no_text_column_of_any_table_contains_an_issued_key,
}

/// The key rides to its reveal page in the encrypted session cookie. A copy of that cookie
/// taken before the reveal (a stolen cookie, a second tab restoring an old one) still holds
/// it, so the server also refuses a second showing of the same secret.
async fn a_copy_of_the_cookie_cannot_show_a_key_again(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let owner = app.client();
    let res =
        post_create(owner, &[("name", "Once"), ("permissions", "records:read"), ("expiry", "30")]).await;
    let copied: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    assert!(!copied.is_empty(), "the create response sets the session cookie");
    let id = reveal_id(&res);
    let reveal = format!("/settings/api-keys/{id}/reveal");
    let secret = secret_on(&owner.get_text(&reveal).await).expect("the first reveal shows the key");

    let replayed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(owner.url(&reveal))
        .header("Cookie", copied.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 200, "the copied cookie is still a signed-in session");
    let html = replayed.text().await.unwrap();
    assert!(!html.contains(&secret) && secret_on(&html).is_none(), "the key is not shown twice");
    assert!(html.contains("can no longer be displayed"), "{html}");
    let shown = db::audit_actions(&app).await.iter().filter(|(a, _)| a == "key.revealed").count();
    assert_eq!(shown, 1);
}

/// Every text column of every table, as stored.
async fn every_stored_text(app: &TestApp) -> Vec<String> {
    app.state
        .db
        .run(|conn| -> Result<Vec<String>, DbError> {
            let mut all: Vec<String> = Vec::new();
            for (a, b, c, d, e, f, g) in api_keys::table
                .select((
                    api_keys::name,
                    api_keys::prefix,
                    api_keys::last4,
                    api_keys::key_hash,
                    api_keys::permissions,
                    api_keys::expiry_rule,
                    api_keys::last_used_ip,
                ))
                .load::<(String, String, String, String, String, String, Option<String>)>(conn)?
            {
                all.extend([a, b, c, d, e, f]);
                all.extend(g);
            }
            for (a, b, c, d, e, f, g) in audit_events::table
                .select((
                    audit_events::actor,
                    audit_events::action,
                    audit_events::key_name,
                    audit_events::key_masked,
                    audit_events::ip,
                    audit_events::user_agent,
                    audit_events::details,
                ))
                .load::<(String, String, Option<String>, Option<String>, Option<String>, Option<String>, String)>(
                    conn,
                )?
            {
                all.extend([a, b, g]);
                all.extend([c, d, e, f].into_iter().flatten());
            }
            for (a, b) in users::table.select((users::email, users::password_hash)).load::<(String, String)>(conn)? {
                all.extend([a, b]);
            }
            all.extend(workspaces::table.select(workspaces::name).load::<String>(conn)?);
            all.extend(memberships::table.select(memberships::role).load::<String>(conn)?);
            all.extend(user_sessions::table.select(user_sessions::id).load::<String>(conn)?);
            for (a, b) in instance_settings::table
                .select((instance_settings::name, instance_settings::value))
                .load::<(String, String)>(conn)?
            {
                all.extend([a, b]);
            }
            Ok(all)
        })
        .await
        .unwrap()
}

async fn no_text_column_of_any_table_contains_an_issued_key(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let mut secrets = Vec::new();
    for (name, expiry) in [("One", "7"), ("Two", "never"), ("Three", "180")] {
        let Revealed { id, secret } = web.create_key(name, &["records:read", "files:read"], expiry).await;
        secrets.push(secret);
        if name == "Two" {
            secrets.push(web.regenerate(id).await.secret);
            web.revoke(id).await;
        }
    }
    let stored = every_stored_text(&app).await;
    // The dump is real: it holds the hashes and the masked forms of these keys.
    for s in &secrets[..2] {
        let key = ApiKey::parse(s).unwrap();
        assert!(stored.iter().any(|t| t.contains(&key.masked())), "masked form not in the audit log");
    }
    assert!(stored.iter().any(|t| t == ApiKey::parse(&secrets[0]).unwrap().hash().as_str()));
    for s in &secrets {
        // Neither the whole key nor its random body appears anywhere.
        let body = &s[8..40];
        for t in &stored {
            assert!(!t.contains(s.as_str()) && !t.contains(body), "a key was stored in plain text");
        }
    }
    // On SQLite, the raw file and its write-ahead log are searched byte for byte too.
    if let Some(path) = app.database_url.sqlite_path() {
        let mut bytes = std::fs::read(path).unwrap();
        if let Ok(wal) = std::fs::read(format!("{}-wal", path.display())) {
            bytes.extend(wal);
        }
        for s in &secrets {
            let needle = &s.as_bytes()[8..40];
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "a key is in the SQLite file");
        }
    }
    app.stop().await;
}
