//! Settings → API Keys over HTTP: the table, the create form, the show-once reveal,
//! regenerate / revoke / delete, who may do what, and that no issued key is ever stored.

use chrono::{Days, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use keyward::accounts::password::hash_password;
use keyward::accounts::{Password, Role, store as accounts};
use keyward::db::DbError;
use keyward::db::schema::{
    api_keys, audit_events, instance_settings, memberships, user_sessions, users, workspaces,
};
use keyward::keys::ApiKey;
use keyward::keys::store::{self as key_store, NewKey};
use reqwest::Response;
use scraper::{Html, Selector};

use crate::both_backends;
use crate::helpers::{
    Backend, OWNER_EMAIL, TestApp, assert_is_redirect_to, extract_csrf, new_client, spawn_app, spawn_app_with,
};

both_backends! {
    the_key_lifecycle_walks_from_create_to_delete,
    a_copy_of_the_cookie_cannot_show_a_key_again,
    every_validation_message_is_shown_beside_its_field_with_input_kept,
    no_text_column_of_any_table_contains_an_issued_key,
    viewers_see_no_actions_and_are_refused,
    another_workspaces_key_is_not_found,
    filters_search_and_pagination_work_newest_first,
    search_matches_any_case_and_character_literally,
    search_pages_and_filters_with_short_and_long_queries,
    search_follows_created_regenerated_and_deleted_keys,
    the_table_shows_usage_expiry_and_full_access,
    a_custom_scope_catalogue_replaces_the_default,
}

pub const MEMBER_PASSWORD: &str = "another long passphrase";

// ------------------------------------------------------------------ helpers

/// A browser on the running app: its own cookie jar (or the test app's, shared).
pub struct Browser {
    pub address: String,
    pub client: reqwest::Client,
}

impl Browser {
    /// The test app's own client: same cookies, same signed-in user.
    pub fn of(app: &TestApp) -> Self {
        Self { address: app.address.clone(), client: app.client.clone() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    /// POSTs a form with the CSRF token of `form_page`.
    pub async fn post_form(&self, form_page: &str, action: &str, form: &[(&str, &str)]) -> Response {
        let html = self.get_text(form_page).await;
        let token = extract_csrf(&html).unwrap_or_else(|| panic!("no csrf_token on {form_page}"));
        let mut fields = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        self.client.post(self.url(action)).form(&fields).send().await.expect("request")
    }
}

pub fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

pub fn text_of(el: &scraper::ElementRef<'_>) -> String {
    el.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of the cell labelled `label` in the table row of key `id`.
pub fn cell(html: &str, id: i64, label: &str) -> String {
    let doc = Html::parse_document(html);
    let cells = select(&doc, &format!("tr[data-key-id=\"{id}\"] td[data-label=\"{label}\"]"));
    assert_eq!(cells.len(), 1, "no {label} cell for key {id} in:\n{html}");
    text_of(&cells[0])
}

pub fn row_ids(html: &str) -> Vec<i64> {
    let doc = Html::parse_document(html);
    select(&doc, "table.keys-table tr[data-key-id]")
        .iter()
        .map(|r| r.value().attr("data-key-id").unwrap().parse().unwrap())
        .collect()
}

/// POSTs the create form; the CSRF token comes from the form page.
pub async fn post_create(app: &Browser, fields: &[(&str, &str)]) -> Response {
    app.post_form("/settings/api-keys/new", "/settings/api-keys", fields).await
}

/// The id in a `303 → /settings/api-keys/ID/reveal`.
pub fn reveal_id(res: &Response) -> i64 {
    assert_eq!(res.status(), 303, "expected a redirect to the reveal page");
    let loc = res.headers().get("location").unwrap().to_str().unwrap();
    let id = loc.strip_prefix("/settings/api-keys/").and_then(|r| r.strip_suffix("/reveal"));
    id.unwrap_or_else(|| panic!("not a reveal URL: {loc}")).parse().unwrap()
}

/// The full key on a reveal page, if it shows one.
pub fn secret_on(html: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    select(&doc, "input#secret-key").first().map(|i| i.value().attr("value").unwrap().to_owned())
}

/// Creates a key through the form and reads its secret off the reveal page.
pub async fn create_key(app: &Browser, name: &str, permissions: &[&str], expiry: &str) -> (i64, String) {
    let mut fields = vec![("name", name), ("expiry", expiry)];
    fields.extend(permissions.iter().map(|p| ("permissions", *p)));
    let res = post_create(app, &fields).await;
    let id = reveal_id(&res);
    let html = app.get_text(&format!("/settings/api-keys/{id}/reveal")).await;
    let secret = secret_on(&html).expect("the first reveal shows the key");
    (id, secret)
}

/// Adds a user with a role in a workspace, straight through the store.
pub async fn add_member(app: &TestApp, email: &str, workspace_id: i64, role: Role) -> i64 {
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

/// A second workspace with its own owner, made directly (no UI needed).
pub async fn second_workspace(app: &TestApp, owner_email: &str) -> i64 {
    let ws = app
        .state
        .db
        .write(|conn| -> Result<i64, DbError> {
            Ok(accounts::insert_workspace(conn, "Globex", Utc::now().naive_utc())?)
        })
        .await
        .unwrap();
    add_member(app, owner_email, ws, Role::Owner).await;
    ws
}

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

/// A client signed in as `email`.
pub async fn sign_in_as(app: &TestApp, email: &str) -> Browser {
    let other = Browser { address: app.address.clone(), client: new_client() };
    let res = other.post_form("/login", "/login", &[("email", email), ("password", MEMBER_PASSWORD)]).await;
    assert_eq!(res.status(), 303, "sign-in as {email}");
    other
}

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

/// The status `/api/v1/whoami` answers for this key.
async fn whoami_status(app: &TestApp, secret: &str) -> u16 {
    let res = app.client.get(app.url("/api/v1/whoami")).header("X-Api-Key", secret).send().await.unwrap();
    res.status().as_u16()
}

fn no_store(res: &Response) -> bool {
    res.headers().get("cache-control").and_then(|v| v.to_str().ok()) == Some("no-store")
}

// ------------------------------------------------------------------ tests

async fn the_key_lifecycle_walks_from_create_to_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = Browser::of(&app);

    // Empty state.
    let html = web.get_text("/settings/api-keys").await;
    assert!(html.contains("<h1>API Keys</h1>"));
    assert!(html.contains("No API keys yet"));
    assert!(html.contains("href=\"/settings/api-keys/new\""));

    // Create.
    let res = post_create(
        &web,
        &[
            ("name", "  Deploy bot  "),
            ("permissions", "records:read"),
            ("permissions", "files:upload"),
            ("expiry", "30"),
            ("expiry_date", ""),
            ("rate_limit_per_minute", "250"),
        ],
    )
    .await;
    assert!(no_store(&res), "the create response must not be cached");
    let id = reveal_id(&res);

    // Reveal, once.
    let res = web.get(&format!("/settings/api-keys/{id}/reveal")).await;
    assert_eq!(res.status(), 200);
    assert!(no_store(&res));
    let html = res.text().await.unwrap();
    let secret = secret_on(&html).expect("the key is shown");
    let key = ApiKey::parse(&secret).expect("a well-formed key");
    let doc = Html::parse_document(&html);
    assert!(select(&doc, "input#secret-key[readonly]").len() == 1);
    let copy = select(&doc, "button[data-copy-target=\"secret-key\"]");
    assert_eq!(copy.len(), 1);
    assert_eq!(text_of(&copy[0]), "Copy");
    assert_eq!(select(&doc, ".copy-status[role=\"status\"]").len(), 1);
    assert!(html.contains("This key will not be shown again"));
    let pre = text_of(&select(&doc, "pre")[0]);
    assert!(pre.contains(&format!("X-Api-Key: {secret}")), "{pre}");
    assert!(pre.contains(&format!("http://127.0.0.1:{}/api/v1/whoami", app.port)), "{pre}");

    // Reload: gone, masked form only.
    let res = web.get(&format!("/settings/api-keys/{id}/reveal")).await;
    assert!(no_store(&res));
    let html = res.text().await.unwrap();
    assert!(html.contains("This key can no longer be displayed"));
    assert!(html.contains(&key.masked()));
    assert!(!html.contains(&secret));
    assert_eq!(secret_on(&html), None);

    // The stored row: the hash, the trimmed name, the rule and the limit.
    let (name, hash, perms, revoked) = key_row(&app, id).await.unwrap();
    assert_eq!(name, "Deploy bot");
    assert_eq!(hash, key.hash().as_str());
    assert_eq!(perms, "files:upload records:read");
    assert_eq!(revoked, None);

    // The table.
    let table = web.get_text("/settings/api-keys").await;
    assert_eq!(row_ids(&table), vec![id]);
    assert!(cell(&table, id, "Name").contains("Deploy bot"));
    assert_eq!(cell(&table, id, "Key"), format!("kw_live_…{}", key.last4()));
    assert_eq!(cell(&table, id, "Status"), "Active");
    assert_eq!(cell(&table, id, "Last used"), "Never");
    let perms = cell(&table, id, "Permissions");
    assert!(perms.contains("records:read") && perms.contains("files:upload"), "{perms}");
    let in_30 = (Utc::now().naive_utc() + Days::new(30)).format("%-d %b %Y").to_string();
    assert!(cell(&table, id, "Expires").contains(&in_30));
    let created = cell(&table, id, "Created");
    assert!(created.contains(OWNER_EMAIL), "{created}");
    for action in ["regenerate", "revoke", "delete"] {
        let href = format!("href=\"/settings/api-keys/{id}/{action}\" data-dialog");
        assert!(table.contains(&href), "{href} missing");
    }
    assert!(table.contains("aria-label=\"Revoke key Deploy bot\""));

    // The first secret works (and, on SQLite, now sits in the verifier's cache).
    assert_eq!(whoami_status(&app, &secret).await, 200);

    // Regenerate: confirm page, then a new secret; the old hash is gone.
    let confirm = web.get_text(&format!("/settings/api-keys/{id}/regenerate")).await;
    let doc = Html::parse_document(&confirm);
    let panel = select(&doc, "section.panel[data-confirm-panel]");
    assert_eq!(panel.len(), 1);
    let panel_text = text_of(&panel[0]);
    assert!(panel_text.contains("Deploy bot") && panel_text.contains("stops working immediately"));
    assert_eq!(select(&doc, "[data-confirm-panel] a[data-cancel][href=\"/settings/api-keys\"]").len(), 1);
    assert!(confirm.contains(">Regenerate key</button>"));
    let res = app
        .post_form(
            &format!("/settings/api-keys/{id}/regenerate"),
            &format!("/settings/api-keys/{id}/regenerate"),
            &[],
        )
        .await;
    assert!(no_store(&res));
    assert_eq!(reveal_id(&res), id);
    let html = web.get_text(&format!("/settings/api-keys/{id}/reveal")).await;
    let new_secret = secret_on(&html).expect("the regenerated key is shown");
    assert_ne!(new_secret, secret);
    let (name, hash, perms, _) = key_row(&app, id).await.unwrap();
    assert_eq!((name.as_str(), perms.as_str()), ("Deploy bot", "files:upload records:read"));
    assert_eq!(hash, ApiKey::parse(&new_secret).unwrap().hash().as_str());
    assert_ne!(hash, key.hash().as_str());
    // The old secret stops at once; the new one works.
    assert_eq!(whoami_status(&app, &secret).await, 401, "the old secret still works");
    assert_eq!(whoami_status(&app, &new_secret).await, 200);

    // Revoke: stays listed as Revoked, with when and by whom.
    let confirm = web.get_text(&format!("/settings/api-keys/{id}/revoke")).await;
    assert!(confirm.contains(">Revoke key</button>") && confirm.contains("data-confirm-panel"));
    let res = app
        .post_form(
            &format!("/settings/api-keys/{id}/revoke"),
            &format!("/settings/api-keys/{id}/revoke"),
            &[],
        )
        .await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    let table = web.get_text("/settings/api-keys").await;
    assert!(table.contains("Revoked “Deploy bot”"), "flash missing");
    assert_eq!(cell(&table, id, "Status"), "Revoked");
    let name_cell = cell(&table, id, "Name");
    assert!(name_cell.contains("Revoked") && name_cell.contains(OWNER_EMAIL), "{name_cell}");
    assert!(!table.contains(&format!("/settings/api-keys/{id}/regenerate")));
    assert!(key_row(&app, id).await.unwrap().3.is_some());

    // Regenerating a revoked key is refused, clearly, and changes nothing.
    let confirm = web.get_text(&format!("/settings/api-keys/{id}/regenerate")).await;
    assert!(confirm.contains("is revoked, so it cannot be regenerated"));
    assert!(!confirm.contains(">Regenerate key</button>"));
    let res = app.post_form("/settings/api-keys", &format!("/settings/api-keys/{id}/regenerate"), &[]).await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    assert!(web.get_text("/settings/api-keys").await.contains("is revoked, so it cannot be regenerated"));
    assert_eq!(key_row(&app, id).await.unwrap().1, hash);

    // Delete: the row goes, the audit trail stays.
    let confirm = web.get_text(&format!("/settings/api-keys/{id}/delete")).await;
    assert!(confirm.contains(">Delete key</button>") && confirm.contains("cannot be undone"));
    let res = app
        .post_form(
            &format!("/settings/api-keys/{id}/delete"),
            &format!("/settings/api-keys/{id}/delete"),
            &[],
        )
        .await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    assert!(key_row(&app, id).await.is_none());
    let table = web.get_text("/settings/api-keys").await;
    assert!(row_ids(&table).is_empty());
    assert!(table.contains("Deleted “Deploy bot”"));
    assert_eq!(
        actions_for(&app, id).await,
        ["key.deleted", "key.revoked", "key.revealed", "key.regenerated", "key.revealed", "key.created"]
    );
    assert_eq!(web.get(&format!("/settings/api-keys/{id}/revoke")).await.status(), 404);
}

/// Form fields, the field whose error shows, the message.
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);

async fn every_validation_message_is_shown_beside_its_field_with_input_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = Browser::of(&app);
    let today = Utc::now().naive_utc().date();
    let today_s = today.to_string();
    let too_far = (today + Days::new(366)).to_string();
    let long = "x".repeat(65);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("name", "  "), ("permissions", "records:read"), ("expiry", "30")],
            "name",
            "Enter a name for the key.",
        ),
        (
            vec![("name", &long), ("permissions", "records:read"), ("expiry", "30")],
            "name",
            "Use at most 64 characters (this name has 65).",
        ),
        (
            vec![("name", "a\u{7}b"), ("permissions", "records:read"), ("expiry", "30")],
            "name",
            "The name cannot contain line breaks or control characters.",
        ),
        (
            vec![("name", "k"), ("expiry", "30")],
            "permissions",
            "Choose at least one permission, or Full access.",
        ),
        (
            vec![("name", "k"), ("permissions", "x:y"), ("expiry", "30")],
            "permissions",
            "Unknown permission `x:y`.",
        ),
        (
            vec![("name", "k"), ("permissions", "records:read"), ("expiry", "45")],
            "expiry",
            "Choose one of the offered expiration periods.",
        ),
        (
            vec![("name", "k"), ("permissions", "records:read"), ("expiry", "custom"), ("expiry_date", "")],
            "expiry",
            "Enter a date as YYYY-MM-DD.",
        ),
        (
            vec![
                ("name", "k"),
                ("permissions", "records:read"),
                ("expiry", "custom"),
                ("expiry_date", &today_s),
            ],
            "expiry",
            "Choose a date after today.",
        ),
        (
            vec![
                ("name", "k"),
                ("permissions", "records:read"),
                ("expiry", "custom"),
                ("expiry_date", &too_far),
            ],
            "expiry",
            "Choose a date at most one year from today.",
        ),
    ];
    let rate_msg =
        "Enter a whole number of requests per minute from 1 to 100000, or leave it blank for the default.";
    let mut cases = cases;
    for bad in ["0", "100001", "ten", "2.5"] {
        cases.push((
            vec![
                ("name", "k"),
                ("permissions", "records:read"),
                ("expiry", "30"),
                ("rate_limit_per_minute", bad),
            ],
            "rate_limit_per_minute",
            rate_msg,
        ));
    }
    for (fields, field, message) in &cases {
        let res = post_create(&web, fields).await;
        assert_eq!(res.status(), 422, "{field}: {message}");
        assert!(no_store(&res));
        let html = res.text().await.unwrap();
        let doc = Html::parse_document(&html);
        let err = select(&doc, &format!("p.field-error#{field}-error"));
        assert_eq!(err.len(), 1, "no error beside {field} for {message}");
        assert_eq!(text_of(&err[0]), *message);
        if *field == "name" || *field == "rate_limit_per_minute" {
            let input = select(&doc, &format!("input#{field}[aria-invalid=\"true\"]"));
            assert_eq!(input.len(), 1, "{field} not marked invalid");
            assert!(input[0].value().attr("aria-describedby").unwrap().contains(&format!("{field}-error")));
        }
    }

    // Everything typed is kept: name, boxes, expiry choice, date, limit.
    let res = post_create(
        &web,
        &[
            ("name", "My <key> & \"co\""),
            ("permissions", "files:read"),
            ("permissions", "records:delete"),
            ("expiry", "custom"),
            ("expiry_date", &today_s),
            ("rate_limit_per_minute", "77"),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let doc = Html::parse_document(&res.text().await.unwrap());
    assert_eq!(select(&doc, "input#name")[0].value().attr("value"), Some("My <key> & \"co\""));
    assert_eq!(select(&doc, "input#perm-files-read[checked]").len(), 1);
    assert_eq!(select(&doc, "input#perm-records-delete[checked]").len(), 1);
    assert_eq!(select(&doc, "input#perm-records-read[checked]").len(), 0);
    assert_eq!(select(&doc, "input#expiry-custom[checked]").len(), 1);
    assert_eq!(select(&doc, "input#expiry-30[checked]").len(), 0);
    assert_eq!(select(&doc, "input#expiry_date")[0].value().attr("value"), Some(today_s.as_str()));
    assert_eq!(select(&doc, "input#rate_limit_per_minute")[0].value().attr("value"), Some("77"));
    assert_eq!(select(&doc, "input#expiry_date[aria-invalid=\"true\"]").len(), 1);

    // Nothing was created by any of that.
    assert!(row_ids(&web.get_text("/settings/api-keys").await).is_empty());

    // Names are unique among active keys only.
    let (first, _) = create_key(&web, "Billing", &["records:read"], "30").await;
    let res = post_create(&web, &[("name", " Billing "), ("full_access", "on"), ("expiry", "never")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("An active key named “Billing” already exists."), "{html}");
    assert!(html.contains("id=\"full_access\" name=\"full_access\" value=\"on\" checked"));
    assert!(
        Html::parse_document(&html).select(&Selector::parse("#expiry-never[checked]").unwrap()).count() == 1
    );
    // In any case: "billing" clashes with "Billing", and the message names the existing key.
    for other in ["billing", "BILLING"] {
        let res = post_create(&web, &[("name", other), ("full_access", "on"), ("expiry", "never")]).await;
        assert_eq!(res.status(), 422, "{other}");
        let html = res.text().await.unwrap();
        assert!(html.contains("An active key named “Billing” already exists."), "{other}: {html}");
        assert!(html.contains(&format!("value=\"{other}\"")), "{other} is kept in the field");
    }
    web.post_form("/settings/api-keys", &format!("/settings/api-keys/{first}/revoke"), &[]).await;
    let (second, _) = create_key(&web, "billing", &["records:read"], "never").await;
    assert_ne!(first, second);

    // A fresh form has 30 days checked and shows the resulting dates server-side.
    let html = web.get_text("/settings/api-keys/new").await;
    let doc = Html::parse_document(&html);
    assert_eq!(select(&doc, "input#expiry-30[checked]").len(), 1);
    let in_7 = (Utc::now().naive_utc() + Days::new(7)).format("%-d %b %Y").to_string();
    assert!(html.contains(&format!("Expires on {in_7}")), "{in_7}");
    assert!(html.contains("never revoked automatically"));
    for id in
        ["expiry-7", "expiry-60", "expiry-90", "expiry-180", "expiry-custom", "expiry-never", "full_access"]
    {
        assert_eq!(select(&doc, &format!("input#{id}")).len(), 1, "{id}");
        assert_eq!(select(&doc, &format!("label[for=\"{id}\"]")).len(), 1, "{id} has no label");
    }
    assert!(html.contains(">Create key</button>"));
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
    let web = Browser::of(&app);
    let mut secrets = Vec::new();
    for (name, expiry) in [("One", "7"), ("Two", "never"), ("Three", "180")] {
        let (id, secret) = create_key(&web, name, &["records:read", "files:read"], expiry).await;
        secrets.push(secret);
        if name == "Two" {
            web.post_form("/settings/api-keys", &format!("/settings/api-keys/{id}/regenerate"), &[]).await;
            let html = web.get_text(&format!("/settings/api-keys/{id}/reveal")).await;
            secrets.push(secret_on(&html).unwrap());
            web.post_form("/settings/api-keys", &format!("/settings/api-keys/{id}/revoke"), &[]).await;
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

async fn viewers_see_no_actions_and_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = Browser::of(&app);
    let (id, _) = create_key(&web, "Deploy bot", &["records:read"], "30").await;
    let ws = first_workspace(&app).await;
    add_member(&app, "viewer@example.com", ws, Role::Viewer).await;
    let viewer = sign_in_as(&app, "viewer@example.com").await;

    let table = viewer.get_text("/settings/api-keys").await;
    assert_eq!(row_ids(&table), vec![id]);
    assert_eq!(cell(&table, id, "Status"), "Active");
    assert!(!table.contains("Create API key"));
    for word in ["/regenerate", "/revoke", "/delete", "data-dialog"] {
        assert!(!table.contains(word), "a viewer sees {word}");
    }
    // Only the key's history, which viewers may read.
    assert_eq!(cell(&table, id, "Actions"), "History");
    assert_eq!(viewer.get("/settings/api-keys/new").await.status(), 403);
    for action in ["regenerate", "revoke", "delete"] {
        assert_eq!(viewer.get(&format!("/settings/api-keys/{id}/{action}")).await.status(), 403);
        let res =
            viewer.post_form("/settings/api-keys", &format!("/settings/api-keys/{id}/{action}"), &[]).await;
        assert_eq!(res.status(), 403, "viewer POST {action}");
    }
    let res = viewer
        .post_form(
            "/settings/api-keys",
            "/settings/api-keys",
            &[("name", "Mine"), ("full_access", "on"), ("expiry", "30")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let (name, _, _, revoked) = key_row(&app, id).await.unwrap();
    assert_eq!((name.as_str(), revoked), ("Deploy bot", None));
    assert_eq!(row_ids(&web.get_text("/settings/api-keys").await), vec![id]);
    // Viewers may read the audit log.
    assert_eq!(viewer.get("/settings/audit-log").await.status(), 200);
    assert_eq!(viewer.get("/settings/audit-log.csv").await.status(), 200);

    // An empty workspace shows a viewer no Create button either.
    let other_ws = second_workspace(&app, "boss@example.com").await;
    add_member(&app, "reader@example.com", other_ws, Role::Viewer).await;
    let reader = sign_in_as(&app, "reader@example.com").await;
    let html = reader.get_text("/settings/api-keys").await;
    assert!(html.contains("No API keys yet") && !html.contains("Create API key"));
}

async fn another_workspaces_key_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = Browser::of(&app);
    let (mine, _) = create_key(&web, "Mine", &["records:read"], "30").await;
    second_workspace(&app, "globex@example.com").await;
    let other = sign_in_as(&app, "globex@example.com").await;
    let (theirs, _) = create_key(&other, "Theirs", &["files:read"], "30").await;

    let table = web.get_text("/settings/api-keys").await;
    assert_eq!(row_ids(&table), vec![mine]);
    assert!(!table.contains("Theirs"));
    assert_eq!(row_ids(&other.get_text("/settings/api-keys").await), vec![theirs]);
    for action in ["reveal", "regenerate", "revoke", "delete"] {
        assert_eq!(web.get(&format!("/settings/api-keys/{theirs}/{action}")).await.status(), 404, "{action}");
    }
    for action in ["regenerate", "revoke", "delete"] {
        let res =
            web.post_form("/settings/api-keys", &format!("/settings/api-keys/{theirs}/{action}"), &[]).await;
        assert_eq!(res.status(), 404, "POST {action}");
    }
    for bad in ["abc", "0", "-1", "99999999999999999999"] {
        assert_eq!(web.get(&format!("/settings/api-keys/{bad}/revoke")).await.status(), 404, "{bad}");
    }
    let (name, _, _, revoked) = key_row(&app, theirs).await.unwrap();
    assert_eq!((name.as_str(), revoked), ("Theirs", None));
    assert_eq!(actions_for(&app, theirs).await, ["key.revealed", "key.created"]);
}

/// Inserts keys straight into the store: `(name, expires_at, revoked)`.
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
                let secret = ApiKey::generate();
                let id = key_store::insert(
                    conn,
                    &NewKey {
                        workspace_id: ws,
                        name: &name,
                        prefix: secret.prefix(),
                        last4: secret.last4(),
                        key_hash: secret.hash().as_str(),
                        permissions: "records:read",
                        expiry_rule: "30d",
                        created_by: None,
                        created_at: now,
                        expires_at,
                        rate_limit_per_minute: None,
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

async fn filters_search_and_pagination_work_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = Browser::of(&app);
    let ws = first_workspace(&app).await;
    let now = Utc::now().naive_utc();
    let keys = (0..120)
        .map(|i| {
            let expires =
                if i % 10 == 1 { Some(now - TimeDelta::hours(1)) } else { Some(now + TimeDelta::days(30)) };
            let name = if i % 7 == 0 { format!("Alpha service {i}") } else { format!("key {i}") };
            (name, expires, i % 10 == 2)
        })
        .collect();
    let ids = insert_keys(&app, ws, keys).await;
    insert_keys(&app, ws, vec![("100%_off".into(), None, false)]).await;

    let page1 = web.get_text("/settings/api-keys").await;
    let got = row_ids(&page1);
    assert_eq!(got.len(), 50);
    assert!(got.windows(2).all(|w| w[0] > w[1]), "newest first");
    let doc = Html::parse_document(&page1);
    let next = select(&doc, "nav.pagination a[rel=\"next\"]");
    assert_eq!(text_of(&next[0]), "Next");
    assert_eq!(next[0].value().attr("href"), Some("?status=all&page=2"));
    assert!(!page1.contains(">Previous<"));
    let page3 = web.get_text("/settings/api-keys?status=all&page=3").await;
    assert_eq!(row_ids(&page3).len(), 21);
    assert!(page3.contains(">Previous<") && !page3.contains(">Next<"));
    assert_eq!(*row_ids(&page3).last().unwrap(), ids[0]);

    let count = |status: &str| {
        let web = &web;
        let status = status.to_owned();
        async move {
            let mut total = 0;
            for page in 1..=3 {
                let html = web.get_text(&format!("/settings/api-keys?status={status}&page={page}")).await;
                total += row_ids(&html).len();
            }
            total
        }
    };
    assert_eq!(count("revoked").await, 12);
    assert_eq!(count("expired").await, 12);
    assert_eq!(count("active").await, 97);
    let revoked = web.get_text("/settings/api-keys?status=revoked").await;
    assert!(row_ids(&revoked).iter().all(|id| cell(&revoked, *id, "Status") == "Revoked"));
    assert!(revoked.contains("href=\"?status=revoked\" aria-current=\"page\""));
    let expired = web.get_text("/settings/api-keys?status=expired").await;
    assert!(row_ids(&expired).iter().all(|id| cell(&expired, *id, "Status") == "Expired"));

    // Search: case-insensitive substring; % and _ are literal.
    let found = web.get_text("/settings/api-keys?q=ALPHA").await;
    assert_eq!(row_ids(&found).len(), 18);
    assert!(found.contains("value=\"ALPHA\""));
    let literal = web.get_text("/settings/api-keys?q=0%25_").await;
    assert_eq!(row_ids(&literal).len(), 1);
    let none = web.get_text("/settings/api-keys?q=zzz").await;
    assert!(none.contains("No matching keys") && !none.contains("No API keys yet"));
    // Search combines with the status tab.
    let both = web.get_text("/settings/api-keys?status=revoked&q=alpha").await;
    assert!(row_ids(&both).iter().all(|id| cell(&both, *id, "Status") == "Revoked"));
    assert_eq!(row_ids(&both).len(), 2);
}

/// The ids a search shows on its first page, newest first.
async fn search(web: &Browser, query: &str) -> Vec<i64> {
    let html = web.get_text(&format!("/settings/api-keys?q={}", urlencode(query))).await;
    assert!(!html.contains(">Next<"), "{query:?} has a second page");
    row_ids(&html)
}

/// Every search's ids over all its pages, following the Next links as the browser would.
async fn all_pages(web: &Browser, first: &str) -> (Vec<i64>, usize) {
    let (mut ids, mut pages, mut path) = (Vec::new(), 0, first.to_owned());
    loop {
        let html = web.get_text(&path).await;
        ids.extend(row_ids(&html));
        pages += 1;
        let doc = Html::parse_document(&html);
        let next = select(&doc, "nav.pagination a[rel=\"next\"]");
        let Some(href) = next.first().and_then(|a| a.value().attr("href")) else { break };
        path = format!("/settings/api-keys{}", href.replace("&amp;", "&"));
    }
    (ids, pages)
}

/// SQLite's full-text index must agree with the table it indexes, whatever happened to the keys.
async fn assert_search_index_intact(app: &TestApp, backend: Backend) {
    if backend != Backend::Sqlite {
        return;
    }
    app.state
        .db
        .run(|conn| -> Result<(), DbError> {
            diesel::sql_query("INSERT INTO api_keys_fts (api_keys_fts, rank) VALUES ('integrity-check', 1)")
                .execute(conn)?;
            Ok(())
        })
        .await
        .expect("the full-text index matches api_keys");
}

async fn search_matches_any_case_and_character_literally(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = Browser::of(&app);
    let ws = first_workspace(&app).await;
    let names = [
        "Ärger Bot",
        "Ключ Доступа",
        "argentina sync",
        "100%_off",
        "1000 off",
        "back\\slash",
        "say \"hi\" now",
        "star*key",
        "plain",
    ];
    let ids = insert_keys(&app, ws, names.iter().map(|n| (n.to_string(), None, false)).collect()).await;
    let id = |name: &str| ids[names.iter().position(|n| *n == name).unwrap()];
    // Another workspace's key with the same words is never shown.
    let other = second_workspace(&app, "globex@example.com").await;
    insert_keys(&app, other, vec![("ärger elsewhere".into(), None, false)]).await;

    // Non-ASCII case folding, with short (1–2 characters) and trigram-length queries alike.
    for q in ["är", "Är", "ÄRG", "ärger", "GER B", "r b"] {
        assert_eq!(search(&web, q).await, vec![id("Ärger Bot")], "{q:?}");
    }
    for q in ["ключ", "КЛЮЧ Д", "ДО"] {
        assert_eq!(search(&web, q).await, vec![id("Ключ Доступа")], "{q:?}");
    }
    // Folding is case only: "a" does not stand for "ä".
    assert_eq!(search(&web, "arge").await, vec![id("argentina sync")]);
    assert_eq!(search(&web, "ar").await, vec![id("star*key"), id("argentina sync")]);
    // LIKE's metacharacters, FTS5's quote and star, all literal, short and long.
    assert_eq!(search(&web, "%").await, vec![id("100%_off")]);
    assert_eq!(search(&web, "_").await, vec![id("100%_off")]);
    assert_eq!(search(&web, "0%_o").await, vec![id("100%_off")]);
    assert_eq!(search(&web, "00 o").await, vec![id("1000 off")]);
    assert_eq!(search(&web, "\\").await, vec![id("back\\slash")]);
    assert_eq!(search(&web, "K\\S").await, vec![id("back\\slash")]);
    assert_eq!(search(&web, "\"").await, vec![id("say \"hi\" now")]);
    assert_eq!(search(&web, "\"hi\"").await, vec![id("say \"hi\" now")]);
    assert_eq!(search(&web, "*").await, vec![id("star*key")]);
    assert_eq!(search(&web, "r*k").await, vec![id("star*key")]);
    assert_eq!(search(&web, "OFF").await, vec![id("1000 off"), id("100%_off")]);
    // Query syntax of either index is plain text: no match rather than an error or every row.
    for q in ["NEAR(a b)", "a OR b", "pla*", "^pla", "%%%", "___", "pl\u{0}ain", "plain\u{7}"] {
        let html = web.get_text(&format!("/settings/api-keys?q={}", urlencode(q))).await;
        assert!(html.contains("No matching keys"), "{q:?} matched:\n{:?}\n{html}", row_ids(&html));
    }
    // Spaces around the query are ignored; an empty query is no search.
    assert_eq!(search(&web, "  plain ").await, vec![id("plain")]);
    assert_eq!(row_ids(&web.get_text("/settings/api-keys?q=+++").await).len(), names.len());
    assert_search_index_intact(&app, backend).await;
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn search_pages_and_filters_with_short_and_long_queries(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = Browser::of(&app);
    let ws = first_workspace(&app).await;
    let now = Utc::now().naive_utc();
    // 130 keys: "Deploy n" for every other one, every 4th of those revoked, every 3rd expired.
    let keys = (0..130)
        .map(|i| {
            let name = if i % 2 == 0 { format!("Deploy {i}") } else { format!("other {i}") };
            let expires = (i % 3 == 0).then(|| now - TimeDelta::hours(1));
            (name, expires, i % 8 == 0)
        })
        .collect();
    let ids = insert_keys(&app, ws, keys).await;
    let deploy: Vec<i64> = ids.iter().step_by(2).rev().copied().collect();
    let revoked: Vec<i64> = ids.iter().step_by(8).rev().copied().collect();
    let expired: Vec<i64> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 && i % 3 == 0 && i % 8 != 0)
        .map(|(_, id)| *id)
        .rev()
        .collect();
    let active: Vec<i64> =
        deploy.iter().filter(|id| !revoked.contains(id) && !expired.contains(id)).copied().collect();
    assert_eq!(deploy.len(), 65);

    // A long query (trigram index) and a short one (scan) page alike: 50, then 15, newest first.
    for q in ["deploy", "DEP", "ep"] {
        let (got, pages) = all_pages(&web, &format!("/settings/api-keys?q={q}")).await;
        assert_eq!((got, pages), (deploy.clone(), 2), "{q:?}");
        let page2 = web.get_text(&format!("/settings/api-keys?status=all&q={q}&page=2")).await;
        assert_eq!(row_ids(&page2), deploy[50..].to_vec(), "{q:?}");
        assert!(page2.contains(">Previous<") && !page2.contains(">Next<"));
    }
    // Search within each status tab.
    for (status, want) in [("revoked", &revoked), ("expired", &expired), ("active", &active)] {
        for q in ["ploy", "De"] {
            let (got, _) = all_pages(&web, &format!("/settings/api-keys?status={status}&q={q}")).await;
            assert_eq!(&got, want, "{status} {q:?}");
        }
    }
    // A number in the name: "deploy 1" is in "deploy 1", "deploy 10", "deploy 12", …
    let ones: Vec<i64> = (0..130)
        .filter(|i| i % 2 == 0 && format!("deploy {i}").contains("deploy 1"))
        .map(|i| ids[i])
        .rev()
        .collect();
    assert_eq!(search(&web, "Deploy 1").await, ones);
    assert!(ones.len() > 10);
}

async fn search_follows_created_regenerated_and_deleted_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = Browser::of(&app);
    // Created through the form: the stored search form comes from the same code as the query's.
    let (kept, _) = create_key(&web, "Überweisung Sync", &["records:read"], "30").await;
    let (gone, _) = create_key(&web, "Überweisung Alt", &["records:read"], "30").await;
    assert_eq!(search(&web, "überweisung").await, vec![gone, kept]);
    assert_eq!(search(&web, "üb").await, vec![gone, kept]);

    // Regenerating keeps the name (names never change), so the key is still found.
    let res = web
        .post_form(
            &format!("/settings/api-keys/{kept}/regenerate"),
            &format!("/settings/api-keys/{kept}/regenerate"),
            &[],
        )
        .await;
    assert_eq!(reveal_id(&res), kept);
    assert_eq!(search(&web, "ÜBERWEISUNG SYNC").await, vec![kept]);
    assert_search_index_intact(&app, backend).await;

    // Revoked: found in the Revoked tab only.
    web.post_form("/settings/api-keys", &format!("/settings/api-keys/{gone}/revoke"), &[]).await;
    let revoked = web.get_text("/settings/api-keys?status=revoked&q=weisung").await;
    assert_eq!(row_ids(&revoked), vec![gone]);
    let active = web.get_text("/settings/api-keys?status=active&q=weisung").await;
    assert_eq!(row_ids(&active), vec![kept]);

    // Deleted: gone from every search, and a new key with the same name is found instead.
    let res = web
        .post_form(
            &format!("/settings/api-keys/{gone}/delete"),
            &format!("/settings/api-keys/{gone}/delete"),
            &[],
        )
        .await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    assert!(key_row(&app, gone).await.is_none());
    assert_eq!(search(&web, "Alt").await, Vec::<i64>::new());
    let (again, _) = create_key(&web, "Überweisung Alt", &["records:read"], "30").await;
    assert_eq!(search(&web, "ung alt").await, vec![again]);
    assert_eq!(search(&web, "über").await, vec![again, kept]);
    assert_search_index_intact(&app, backend).await;
}

async fn the_table_shows_usage_expiry_and_full_access(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = Browser::of(&app);
    let (used, _) = create_key(&web, "Used", &["records:read"], "7").await;
    let (never, _) = create_key(&web, "Forever", &["files:read"], "never").await;
    let res = post_create(
        &web,
        &[("name", "Root"), ("full_access", "on"), ("permissions", "files:read"), ("expiry", "90")],
    )
    .await;
    let root = reveal_id(&res);
    let three_hours_ago = Utc::now().naive_utc() - TimeDelta::hours(3);
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            diesel::update(api_keys::table.find(used))
                .set((
                    api_keys::last_used_at.eq(Some(three_hours_ago)),
                    api_keys::last_used_ip.eq(Some("203.0.113.9")),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let table = web.get_text("/settings/api-keys").await;
    assert_eq!(row_ids(&table), vec![root, never, used]);
    let doc = Html::parse_document(&table);
    let time = select(&doc, &format!("tr[data-key-id=\"{used}\"] td[data-label=\"Last used\"] time"));
    assert_eq!(text_of(&time[0]), "3 hours ago");
    let exact = three_hours_ago.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    assert_eq!(time[0].value().attr("title"), Some(exact.as_str()));
    assert!(time[0].value().attr("datetime").unwrap().ends_with('Z'));
    assert!(cell(&table, used, "Last used").contains("203.0.113.9"));
    // Within 7 days: highlighted, in words.
    let soon = select(&doc, &format!("tr[data-key-id=\"{used}\"] td[data-label=\"Expires\"] .soon"));
    assert!(text_of(&soon[0]).contains("in 7 days"), "{}", text_of(&soon[0]));
    assert!(select(&doc, &format!("tr[data-key-id=\"{root}\"] .soon")).is_empty());
    assert_eq!(cell(&table, never, "Expires"), "⚠ Never");
    assert_eq!(cell(&table, root, "Permissions"), "Full access");
    // "Full access" wins over single boxes.
    assert_eq!(key_row(&app, root).await.unwrap().2, "*");
}

async fn a_custom_scope_catalogue_replaces_the_default(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scopes.toml");
    std::fs::write(
        &path,
        r#"
[[group]]
name = "Billing"
[[group.scope]]
id = "billing:invoices:read"
label = "Read invoices"
description = "List and download invoices."
[[group.scope]]
id = "billing:refunds"
label = "Issue refunds"
description = "Refund a payment, in full or in part."

[[group]]
name = "Shipping"
[[group.scope]]
id = "shipping.labels"
label = "Print labels"
"#,
    )
    .unwrap();
    let scopes = path.clone();
    let app = spawn_app_with(backend, move |s| s.scopes_file = Some(scopes)).await;
    app.setup_owner().await;
    let web = Browser::of(&app);
    let html = web.get_text("/settings/api-keys/new").await;
    let doc = Html::parse_document(&html);
    let legends: Vec<String> = select(&doc, "fieldset.scope-group > legend").iter().map(text_of).collect();
    assert_eq!(legends, ["Billing", "Shipping"]);
    assert!(html.contains("Refund a payment, in full or in part."));
    assert_eq!(
        select(
            &doc,
            "input#perm-billing-invoices-read[name=\"permissions\"][value=\"billing:invoices:read\"]"
        )
        .len(),
        1
    );
    assert_eq!(select(&doc, "input#perm-shipping-labels").len(), 1);
    assert!(!html.contains("records:read"));

    let res =
        post_create(&web, &[("name", "Old scope"), ("permissions", "records:read"), ("expiry", "30")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Unknown permission `records:read`."));
    let (id, _) = create_key(&web, "Refunds", &["billing:refunds", "shipping.labels"], "60").await;
    assert_eq!(key_row(&app, id).await.unwrap().2, "billing:refunds shipping.labels");
    let table = web.get_text("/settings/api-keys").await;
    assert!(table.contains("title=\"Issue refunds\""));
}

/// The key rides to its reveal page in the encrypted session cookie. A copy of that cookie
/// taken before the reveal (a stolen cookie, a second tab restoring an old one) still holds
/// it, so the server also refuses a second showing of the same secret.
async fn a_copy_of_the_cookie_cannot_show_a_key_again(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let owner = Browser::of(&app);
    let res =
        post_create(&owner, &[("name", "Once"), ("permissions", "records:read"), ("expiry", "30")]).await;
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
    let shown = app.audit_actions().await.iter().filter(|(a, _)| a == "key.revealed").count();
    assert_eq!(shown, 1);
}
