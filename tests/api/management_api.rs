//! The management API (`/api/v1/manage/`) over HTTP, with management tokens: every endpoint,
//! each scope refusal as problem details, cursor pagination across 250 keys, idempotent create
//! and regenerate, the console's validation messages, and the token pages of the console.

use keyward::keys::management::{self, NewToken, TokenScopes};
use keyward::keys::{Expiry, KeyName};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::db::{first_workspace, insert_keys, insert_member, second_workspace, user_id};
use crate::helpers::{Backend, Client, MEMBER_PASSWORD, OWNER_EMAIL, TestApp, spawn_app};

both_backends! {
    requests_without_a_valid_management_token_are_refused_as_problems,
    each_scope_is_enforced_with_a_403_problem,
    a_key_goes_through_its_whole_life_over_the_api,
    invalid_input_is_a_422_with_the_consoles_messages_and_creates_nothing,
    the_list_pages_through_250_keys_with_a_cursor_and_filters,
    a_retried_create_or_regenerate_with_one_idempotency_key_makes_one_key,
    a_token_sees_only_its_own_workspace,
    the_audit_log_usage_and_members_endpoints_answer,
    owners_make_and_revoke_tokens_in_the_console_and_see_each_only_once,
    the_openapi_document_and_its_reference_page_describe_every_operation,
}

/// A management token for `ws` with `scopes`, made through the domain as an owner would.
async fn token(app: &TestApp, ws: i64, scopes: &[&str]) -> String {
    let request = NewToken {
        name: KeyName::parse("CI").unwrap(),
        scopes: TokenScopes::parse(scopes.iter().copied()).unwrap(),
        expiry: Expiry::Days(30),
    };
    let actor = keyward::audit::Actor { label: OWNER_EMAIL.into(), ..Default::default() };
    let (_, token) = management::create(&app.state.db, &actor, ws, request).await.unwrap();
    token.expose().to_owned()
}

/// Sends a request with `token` (if any); returns the status, the content type and the body
/// as JSON (`Null` when empty).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut req = reqwest::Client::new().request(method, app.client().url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let content_type =
        res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
    (status, content_type, body)
}

/// Asserts a problem details answer with this status and code.
fn assert_problem(answer: &(u16, String, Value), status: u16, code: &str) {
    let (got, content_type, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["type"], format!("urn:keyward:problem:{code}"), "{body}");
    assert_eq!(body["code"], code);
    assert_eq!(body["status"], status);
    assert!(!body["title"].as_str().unwrap().is_empty() && !body["detail"].as_str().unwrap().is_empty());
}

/// Asks the verifier about `secret`: status and code (`""` when allowed).
async fn verify(app: &TestApp, secret: &str) -> (u16, String) {
    let res = app.client().get_request("/api/v1/auth").header("X-Api-Key", secret).send().await.unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

async fn owner_app(backend: Backend) -> (TestApp, i64) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let ws = first_workspace(&app).await;
    (app, ws)
}

async fn requests_without_a_valid_management_token_are_refused_as_problems(backend: Backend) {
    let (app, ws) = owner_app(backend).await;
    let answer = call(&app, Method::GET, "/api/v1/manage/keys", None, None).await;
    assert_problem(&answer, 401, "unauthenticated");
    let res = app.client().get_request("/api/v1/manage/keys").send().await.unwrap();
    assert!(res.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer"));
    // A well-formed token nobody issued, and garbage.
    let forged = keyward::keys::management::ManagementToken::generate();
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/keys", Some(forged.expose()), None).await,
        401,
        "unauthenticated",
    );
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/keys", Some("kw_mgmt_nope"), None).await,
        401,
        "unauthenticated",
    );
    // An API key, as a bearer token or in X-Api-Key, is told to use a management token.
    let (_, _, created) = call(
        &app,
        Method::POST,
        "/api/v1/manage/keys",
        Some(&token(&app, ws, &["keys:write"]).await),
        Some(json!({"name": "service", "full_access": true})),
    )
    .await;
    let api_key = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(verify(&app, &api_key).await.0, 200);
    let answer = call(&app, Method::GET, "/api/v1/manage/keys", Some(&api_key), None).await;
    assert_problem(&answer, 401, "api_key_not_accepted");
    let res =
        app.client().get_request("/api/v1/manage/keys").header("X-Api-Key", &api_key).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // A revoked token stops at once.
    let t = token(&app, ws, &["keys:read"]).await;
    assert_eq!(call(&app, Method::GET, "/api/v1/manage/keys", Some(&t), None).await.0, 200);
    let id = management::list(&app.state.db, ws).await.unwrap()[0].id;
    management::revoke(&app.state.db, &Default::default(), ws, id).await.unwrap();
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/keys", Some(&t), None).await,
        401,
        "unauthenticated",
    );
    // Unknown addresses under the API are problems too.
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/nothing", Some(&t), None).await,
        404,
        "not_found",
    );
}

async fn each_scope_is_enforced_with_a_403_problem(backend: Backend) {
    let (app, ws) = owner_app(backend).await;
    let key = insert_keys(&app, ws, vec![("existing".into(), None, false)]).await[0];
    let read = token(&app, ws, &["keys:read"]).await;
    let members = token(&app, ws, &["members:read"]).await;
    let write = token(&app, ws, &["keys:write"]).await;
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/api/v1/manage/keys".into(), Some(json!({"name": "x", "full_access": true}))),
        (Method::PATCH, format!("/api/v1/manage/keys/{key}"), Some(json!({"name": "y"}))),
        (Method::POST, format!("/api/v1/manage/keys/{key}/regenerate"), None),
        (Method::POST, format!("/api/v1/manage/keys/{key}/disable"), None),
        (Method::POST, format!("/api/v1/manage/keys/{key}/enable"), None),
        (Method::POST, format!("/api/v1/manage/keys/{key}/revoke"), None),
        (Method::DELETE, format!("/api/v1/manage/keys/{key}"), None),
    ];
    for (method, path, body) in writes {
        let answer = call(&app, method.clone(), &path, Some(&read), body).await;
        assert_problem(&answer, 403, "insufficient_scope");
        assert!(answer.2["detail"].as_str().unwrap().contains("keys:write"), "{method} {path}");
    }
    let reads = [
        "/api/v1/manage/keys".to_owned(),
        format!("/api/v1/manage/keys/{key}"),
        format!("/api/v1/manage/keys/{key}/usage"),
        "/api/v1/manage/audit-log".to_owned(),
    ];
    for path in &reads {
        assert_problem(&call(&app, Method::GET, path, Some(&members), None).await, 403, "insufficient_scope");
        assert_eq!(call(&app, Method::GET, path, Some(&read), None).await.0, 200, "{path}");
        // keys:write includes keys:read.
        assert_eq!(call(&app, Method::GET, path, Some(&write), None).await.0, 200, "{path}");
    }
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/members", Some(&read), None).await,
        403,
        "insufficient_scope",
    );
    assert_eq!(call(&app, Method::GET, "/api/v1/manage/members", Some(&members), None).await.0, 200);
    // Nothing was changed by the refused writes.
    let (_, _, got) = call(&app, Method::GET, &format!("/api/v1/manage/keys/{key}"), Some(&read), None).await;
    assert_eq!((got["name"].as_str(), got["status"].as_str()), (Some("existing"), Some("active")));
}

async fn a_key_goes_through_its_whole_life_over_the_api(backend: Backend) {
    let (app, ws) = owner_app(backend).await;
    let t = token(&app, ws, &["keys:write"]).await;
    let body = json!({
        "name": "Billing sync",
        "description": "nightly job",
        "permissions": ["records:read"],
        "expiry": "90",
        "rate_limit_per_minute": 600,
        "burst": 20,
        "allowed_ips": ["127.0.0.1", "10.0.0.0/8"],
        "environment": "test",
    });
    let (status, _, created) = call(&app, Method::POST, "/api/v1/manage/keys", Some(&t), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("kw_test_"));
    let key = &created["key"];
    let id = key["id"].as_i64().unwrap();
    assert_eq!(key["name"], "Billing sync");
    assert_eq!(key["permissions"], json!(["records:read"]));
    assert_eq!((key["full_access"].as_bool(), key["environment"].as_str()), (Some(false), Some("test")));
    assert_eq!(key["expiry"], "90");
    assert_eq!(key["allowed_ips"], json!(["127.0.0.1/32", "10.0.0.0/8"]), "canonical, in the order given");
    assert_eq!((key["rate_limit_per_minute"].as_i64(), key["burst"].as_i64()), (Some(600), Some(20)));
    assert!(key["masked_key"].as_str().unwrap().ends_with(&secret[secret.len() - 4..]));
    assert!(!key.to_string().contains(&secret), "the key object never holds the secret");
    assert_eq!(verify(&app, &secret).await, (200, String::new()));

    // Get: the same key, without its secret.
    let (status, _, got) =
        call(&app, Method::GET, &format!("/api/v1/manage/keys/{id}"), Some(&t), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["masked_key"], key["masked_key"]);
    assert!(got.get("secret").is_none());

    // Update: fields left out stay; null clears the allowlist.
    let patch = json!({"name": "Billing sync v2", "permissions": ["records:write"], "allowed_ips": null});
    let (status, _, updated) =
        call(&app, Method::PATCH, &format!("/api/v1/manage/keys/{id}"), Some(&t), Some(patch)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Billing sync v2");
    assert_eq!(updated["permissions"], json!(["records:write"]));
    assert_eq!(updated["allowed_ips"], Value::Null);
    assert_eq!((updated["description"].as_str(), updated["burst"].as_i64()), (Some("nightly job"), Some(20)));

    // Regenerate with a grace period: both secrets work until it ends.
    let (status, _, regenerated) = call(
        &app,
        Method::POST,
        &format!("/api/v1/manage/keys/{id}/regenerate"),
        Some(&t),
        Some(json!({"grace_seconds": 3600})),
    )
    .await;
    assert_eq!(status, 200, "{regenerated}");
    let new_secret = regenerated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(regenerated["old_secret_expires_at"].is_string());
    assert_eq!(verify(&app, &secret).await.0, 200);
    assert_eq!(verify(&app, &new_secret).await.0, 200);
    let answer = call(
        &app,
        Method::POST,
        &format!("/api/v1/manage/keys/{id}/regenerate"),
        Some(&t),
        Some(json!({"grace_seconds": 8 * 24 * 3600})),
    )
    .await;
    assert_problem(&answer, 422, "validation_failed");
    assert_eq!(answer.2["errors"][0]["field"], "grace_seconds");

    // Disable, enable, revoke: each in force on the next verification.
    let (status, _, disabled) =
        call(&app, Method::POST, &format!("/api/v1/manage/keys/{id}/disable"), Some(&t), None).await;
    assert_eq!((status, disabled["status"].as_str()), (200, Some("disabled")));
    assert_eq!(verify(&app, &new_secret).await, (401, "disabled_key".to_owned()));
    let answer = call(&app, Method::POST, &format!("/api/v1/manage/keys/{id}/disable"), Some(&t), None).await;
    assert_problem(&answer, 409, "already_disabled");
    let (status, _, enabled) =
        call(&app, Method::POST, &format!("/api/v1/manage/keys/{id}/enable"), Some(&t), None).await;
    assert_eq!((status, enabled["status"].as_str()), (200, Some("active")));
    assert_eq!(verify(&app, &new_secret).await.0, 200);
    let (status, _, revoked) =
        call(&app, Method::POST, &format!("/api/v1/manage/keys/{id}/revoke"), Some(&t), None).await;
    assert_eq!((status, revoked["status"].as_str()), (200, Some("revoked")));
    assert_eq!(verify(&app, &new_secret).await, (401, "revoked_key".to_owned()));
    assert_eq!(verify(&app, &secret).await.0, 401, "revoking ends the grace period too");
    let answer = call(&app, Method::POST, &format!("/api/v1/manage/keys/{id}/revoke"), Some(&t), None).await;
    assert_problem(&answer, 409, "already_revoked");
    let answer =
        call(&app, Method::PATCH, &format!("/api/v1/manage/keys/{id}"), Some(&t), Some(json!({"name": "z"})))
            .await;
    assert_problem(&answer, 409, "key_revoked");

    // Delete: gone from the API; the audit log names the token as the actor of every step.
    let (status, _, body) =
        call(&app, Method::DELETE, &format!("/api/v1/manage/keys/{id}"), Some(&t), None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_problem(
        &call(&app, Method::GET, &format!("/api/v1/manage/keys/{id}"), Some(&t), None).await,
        404,
        "key_not_found",
    );
    let (_, _, log) =
        call(&app, Method::GET, &format!("/api/v1/manage/audit-log?key_id={id}"), Some(&t), None).await;
    let actions: Vec<&str> =
        log["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "key.deleted",
            "key.revoked",
            "key.enabled",
            "key.disabled",
            "key.regenerated",
            "key.updated",
            "key.created"
        ]
    );
    for entry in log["data"].as_array().unwrap() {
        assert!(
            entry["actor"].as_str().unwrap().starts_with("token \u{201c}CI\u{201d} (kw_mgmt_…"),
            "{entry}"
        );
    }
    assert!(!log.to_string().contains(&new_secret) && !log.to_string().contains(&secret));
}

async fn invalid_input_is_a_422_with_the_consoles_messages_and_creates_nothing(backend: Backend) {
    let (app, ws) = owner_app(backend).await;
    let t = token(&app, ws, &["keys:write"]).await;
    let body = json!({
        "name": " ",
        "permissions": ["nope:read"],
        "expiry": "45",
        "rate_limit_per_minute": 0,
        "allowed_ips": ["10.0.0.1/8"],
    });
    let answer = call(&app, Method::POST, "/api/v1/manage/keys", Some(&t), Some(body)).await;
    assert_problem(&answer, 422, "validation_failed");
    let errors: Vec<(String, String)> = answer.2["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned()))
        .collect();
    let message = |field: &str| errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.clone()).unwrap();
    // The console's own words, from the same parsers.
    assert_eq!(message("name"), KeyName::parse(" ").unwrap_err().to_string());
    assert_eq!(message("name"), "Enter a name for the key.");
    assert_eq!(message("permissions"), "Unknown permission `nope:read`.");
    assert_eq!(message("expiry"), "Choose one of the offered expiration periods.");
    assert!(message("rate_limit_per_minute").starts_with("Enter a whole number of requests per minute"));
    assert!(message("allowed_ips").contains("10.0.0.0/8"), "{}", message("allowed_ips"));
    // A taken name is a 409 naming the field; malformed JSON and unknown fields are 400.
    let ok = json!({"name": "Only", "full_access": true});
    assert_eq!(call(&app, Method::POST, "/api/v1/manage/keys", Some(&t), Some(ok.clone())).await.0, 201);
    let answer = call(&app, Method::POST, "/api/v1/manage/keys", Some(&t), Some(ok)).await;
    assert_problem(&answer, 409, "name_taken");
    assert_eq!(answer.2["errors"][0]["field"], "name");
    let answer = call(
        &app,
        Method::POST,
        "/api/v1/manage/keys",
        Some(&t),
        Some(json!({"name": "a", "expires": "30"})),
    )
    .await;
    assert_problem(&answer, 400, "bad_request");
    assert!(answer.2["detail"].as_str().unwrap().contains("expires"));
    let res = reqwest::Client::new()
        .post(app.client().url("/api/v1/manage/keys"))
        .bearer_auth(&t)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Only the one good key exists.
    let (_, _, list) = call(&app, Method::GET, "/api/v1/manage/keys", Some(&t), None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

async fn the_list_pages_through_250_keys_with_a_cursor_and_filters(backend: Backend) {
    let (app, ws) = owner_app(backend).await;
    let soon = chrono::Utc::now().naive_utc() + chrono::TimeDelta::days(3);
    let keys: Vec<_> =
        (0..250).map(|i| (format!("key {i:03}"), (i % 50 == 0).then_some(soon), i % 10 == 1)).collect();
    let ids = insert_keys(&app, ws, keys).await;
    let t = token(&app, ws, &["keys:read"]).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/manage/keys?limit=100&cursor={c}"),
            None => "/api/v1/manage/keys?limit=100".to_owned(),
        };
        let (status, _, page) = call(&app, Method::GET, &path, Some(&t), None).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(page["data"].as_array().unwrap().iter().map(|k| k["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected, "every key once, newest first");
    // Filters.
    let count = |v: &Value| v["data"].as_array().unwrap().len();
    let (_, _, revoked) =
        call(&app, Method::GET, "/api/v1/manage/keys?status=revoked&limit=100", Some(&t), None).await;
    assert_eq!(count(&revoked), 25);
    assert!(revoked["data"].as_array().unwrap().iter().all(|k| k["status"] == "revoked"));
    let (_, _, named) = call(&app, Method::GET, "/api/v1/manage/keys?q=KEY%2012", Some(&t), None).await;
    assert_eq!(count(&named), 10, "key 120 … key 129");
    let before =
        (chrono::Utc::now() + chrono::TimeDelta::days(7)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, _, expiring) =
        call(&app, Method::GET, &format!("/api/v1/manage/keys?expiring_before={before}"), Some(&t), None)
            .await;
    assert_eq!(count(&expiring), 5);
    let (_, _, test_keys) =
        call(&app, Method::GET, "/api/v1/manage/keys?environment=test", Some(&t), None).await;
    assert_eq!(count(&test_keys), 0);
    let owner = user_id(&app, OWNER_EMAIL).await;
    let (_, _, by_owner) =
        call(&app, Method::GET, &format!("/api/v1/manage/keys?created_by={owner}"), Some(&t), None).await;
    assert_eq!(count(&by_owner), 0, "the seeded keys have no creator");
    // Bad parameters are problems, not errors.
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/keys?limit=500", Some(&t), None).await,
        422,
        "validation_failed",
    );
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/keys?cursor=zzz", Some(&t), None).await,
        400,
        "bad_request",
    );
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/keys?status=gone", Some(&t), None).await,
        400,
        "bad_request",
    );
}

async fn a_retried_create_or_regenerate_with_one_idempotency_key_makes_one_key(backend: Backend) {
    let (app, ws) = owner_app(backend).await;
    let t = token(&app, ws, &["keys:write"]).await;
    let send = |key: &'static str, body: Value, path: String| {
        let (url, t) = (app.client().url(&path), t.clone());
        async move {
            let res = reqwest::Client::new()
                .post(url)
                .bearer_auth(t)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let replayed = res.headers().get("idempotent-replayed").is_some();
            (res.status().as_u16(), replayed, res.json::<Value>().await.unwrap())
        }
    };
    let body = json!({"name": "From CI", "full_access": true});
    let first = send("create-1", body.clone(), "/api/v1/manage/keys".into()).await;
    let second = send("create-1", body.clone(), "/api/v1/manage/keys".into()).await;
    assert_eq!((first.0, first.1), (201, false));
    assert_eq!((second.0, second.1), (201, true));
    assert_eq!(first.2, second.2, "the retry gets the first answer, secret included");
    let (_, _, list) = call(&app, Method::GET, "/api/v1/manage/keys", Some(&t), None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "one key");
    // The same key with another request is refused; another key makes another key.
    let other =
        send("create-1", json!({"name": "Other", "full_access": true}), "/api/v1/manage/keys".into()).await;
    assert_eq!((other.0, other.2["code"].as_str()), (422, Some("idempotency_key_reused")));
    let failed = send("create-2", json!({"name": ""}), "/api/v1/manage/keys".into()).await;
    assert_eq!(failed.0, 422);
    // A failure is not kept: the corrected retry runs.
    let fixed = send("create-2", json!({"name": ""}), "/api/v1/manage/keys".into()).await;
    assert_eq!((fixed.0, fixed.1), (422, false));
    // Regenerate: one new secret for two requests.
    let id = first.2["key"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/manage/keys/{id}/regenerate");
    let a = send("regen-1", json!({}), path.clone()).await;
    let b = send("regen-1", json!({}), path).await;
    assert_eq!((a.0, b.0, b.1), (200, 200, true));
    assert_eq!(a.2["secret"], b.2["secret"]);
    assert_eq!(verify(&app, a.2["secret"].as_str().unwrap()).await.0, 200);
    assert_eq!(verify(&app, first.2["secret"].as_str().unwrap()).await.0, 401, "one regeneration, no grace");
    // The stored answer is sealed: the secret is not in the database as text.
    let secret = a.2["secret"].as_str().unwrap().to_owned();
    let stored: Vec<String> = app
        .state
        .db
        .run(|conn| -> Result<Vec<String>, keyward::db::DbError> {
            use diesel::prelude::*;
            use keyward::db::schema::idempotent_requests as r;
            Ok(r::table.select(r::sealed_body).load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|s| !s.contains(&secret) && !s.contains("kw_live_")));
}

async fn a_token_sees_only_its_own_workspace(backend: Backend) {
    let (app, ws) = owner_app(backend).await;
    let other_ws = second_workspace(&app, "globex@example.com").await;
    let theirs = insert_keys(&app, other_ws, vec![("theirs".into(), None, false)]).await[0];
    let t = token(&app, ws, &["keys:write"]).await;
    for (method, path) in [
        (Method::GET, format!("/api/v1/manage/keys/{theirs}")),
        (Method::POST, format!("/api/v1/manage/keys/{theirs}/revoke")),
        (Method::DELETE, format!("/api/v1/manage/keys/{theirs}")),
        (Method::GET, format!("/api/v1/manage/keys/{theirs}/usage")),
    ] {
        assert_problem(&call(&app, method, &path, Some(&t), None).await, 404, "key_not_found");
    }
    let (_, _, list) = call(&app, Method::GET, "/api/v1/manage/keys", Some(&t), None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let (_, _, log) = call(&app, Method::GET, "/api/v1/manage/audit-log", Some(&t), None).await;
    assert!(log["data"].as_array().unwrap().iter().all(|e| e["key_name"] != "theirs"));
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/keys/abc", Some(&t), None).await,
        404,
        "key_not_found",
    );
}

async fn the_audit_log_usage_and_members_endpoints_answer(backend: Backend) {
    let (app, ws) = owner_app(backend).await;
    insert_member(&app, "viewer@example.com", ws, keyward::accounts::Role::Viewer).await;
    let t = token(&app, ws, &["keys:write", "members:read"]).await;
    let (_, _, created) = call(
        &app,
        Method::POST,
        "/api/v1/manage/keys",
        Some(&t),
        Some(json!({"name": "Used", "full_access": true})),
    )
    .await;
    let (id, secret) =
        (created["key"]["id"].as_i64().unwrap(), created["secret"].as_str().unwrap().to_owned());
    for _ in 0..3 {
        assert_eq!(verify(&app, &secret).await.0, 200);
    }
    app.verifier.flush_now().await;
    let (status, _, usage) =
        call(&app, Method::GET, &format!("/api/v1/manage/keys/{id}/usage"), Some(&t), None).await;
    assert_eq!(status, 200);
    let days = usage["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days.last().unwrap()["allowed"], 3);
    assert_eq!(usage["total_allowed"], 3);
    assert_eq!(days.last().unwrap()["denied_by_code"]["revoked_key"], 0);
    let (status, _, members) = call(&app, Method::GET, "/api/v1/manage/members", Some(&t), None).await;
    assert_eq!(status, 200);
    let roles: Vec<(&str, &str)> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [(OWNER_EMAIL, "owner"), ("viewer@example.com", "viewer")]);
    // The log pages by cursor and filters by action.
    let (_, _, page) = call(&app, Method::GET, "/api/v1/manage/audit-log?limit=1", Some(&t), None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, _, next) =
        call(&app, Method::GET, &format!("/api/v1/manage/audit-log?limit=1&cursor={cursor}"), Some(&t), None)
            .await;
    assert!(next["data"][0]["id"].as_i64().unwrap() < page["data"][0]["id"].as_i64().unwrap());
    let (_, _, created_only) =
        call(&app, Method::GET, "/api/v1/manage/audit-log?action=key.created", Some(&t), None).await;
    assert_eq!(created_only["data"].as_array().unwrap().len(), 1);
    assert_eq!(created_only["data"][0]["key_id"], id);
}

async fn owners_make_and_revoke_tokens_in_the_console_and_see_each_only_once(backend: Backend) {
    let (app, ws) = owner_app(backend).await;
    let owner = app.client();
    let page = owner.get_text("/settings/management-tokens").await;
    assert!(page.contains("No management tokens yet"));
    // Errors keep the input and create nothing.
    let res = owner
        .post_form(
            "/settings/management-tokens/new",
            "/settings/management-tokens",
            &[("name", "Terraform"), ("expiry", "30")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Choose at least one scope.") && html.contains("value=\"Terraform\""));
    assert!(management::list(&app.state.db, ws).await.unwrap().is_empty());
    let res = owner
        .post_form(
            "/settings/management-tokens/new",
            "/settings/management-tokens",
            &[("name", "Terraform"), ("scopes", "keys:write"), ("expiry", "30")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let reveal = res.headers()["location"].to_str().unwrap().to_owned();
    let res = owner.get(&reveal).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let token = crate::helpers::client::input_value(&html, "management-token").expect("the token is shown");
    assert!(token.starts_with("kw_mgmt_"));
    let again = owner.get_text(&reveal).await;
    assert!(!again.contains(&token) && again.contains("can no longer be displayed"));
    // It works, with the scopes chosen (keys:write includes keys:read).
    assert_eq!(call(&app, Method::GET, "/api/v1/manage/keys", Some(&token), None).await.0, 200);
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/members", Some(&token), None).await,
        403,
        "insufficient_scope",
    );
    let list = owner.get_text("/settings/management-tokens").await;
    assert!(list.contains("Terraform") && list.contains(&format!("kw_mgmt_…{}", &token[token.len() - 4..])));
    assert!(!list.contains(&token));
    // Revoked from the console: refused from the next request.
    let id = management::list(&app.state.db, ws).await.unwrap()[0].id;
    let path = format!("/settings/management-tokens/{id}/revoke");
    assert_eq!(owner.post_form(&path, &path, &[]).await.status(), 303);
    assert_problem(
        &call(&app, Method::GET, "/api/v1/manage/keys", Some(&token), None).await,
        401,
        "unauthenticated",
    );
    let actions = crate::helpers::db::audit_actions(&app).await;
    assert!(
        actions.iter().any(|(a, _)| a == "token.created")
            && actions.iter().any(|(a, _)| a == "token.revoked")
    );
    // Admins and viewers may not manage tokens.
    insert_member(&app, "admin@example.com", ws, keyward::accounts::Role::Admin).await;
    let admin = Client::new(&app.address);
    admin.sign_in("admin@example.com", MEMBER_PASSWORD).await;
    assert_eq!(admin.get("/settings/management-tokens").await.status(), 403);
    assert_eq!(admin.get("/settings/management-tokens/new").await.status(), 403);
}

async fn the_openapi_document_and_its_reference_page_describe_every_operation(backend: Backend) {
    let (app, _) = owner_app(backend).await;
    let res = app.client().get("/api/v1/openapi.json").await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/manage/keys",
        "/api/v1/manage/keys/{id}",
        "/api/v1/manage/keys/{id}/regenerate",
        "/api/v1/manage/keys/{id}/disable",
        "/api/v1/manage/keys/{id}/enable",
        "/api/v1/manage/keys/{id}/revoke",
        "/api/v1/manage/keys/{id}/usage",
        "/api/v1/manage/audit-log",
        "/api/v1/manage/members",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["management_token"]["scheme"], "bearer");
    let html = app.client().get_text("/docs/api").await;
    for op in [
        "GET /api/v1/manage/keys",
        "POST /api/v1/manage/keys/{id}/regenerate",
        "DELETE /api/v1/manage/keys/{id}",
    ] {
        assert!(html.contains(op), "{op}");
    }
    assert!(html.contains("Idempotency-Key") && html.contains("id=\"schema-Problem\""));
    assert!(!html.contains("<script>"), "the page works without its own script");
}
