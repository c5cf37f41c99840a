//! Hostile input in key names and in the verifier's headers and bodies.
//!
//! Key names with markup, quotes, SQL, right-to-left marks, emoji, 64 and 65 characters, empty
//! and control characters: each is stored exactly (trimmed) or refused with a 422 beside the
//! field, and wherever it is shown it is escaped. The verifier's header extraction is checked
//! by property tests, and the live endpoints with random garbage: never a 200, never a 5xx.

use diesel::prelude::*;
use keyward::db::schema::api_keys;
use keyward::keys::ApiKey;
use keyward::verifier::error::Denial;
use keyward::verifier::extract::{key_from_headers, refuse_key_in_query};
use proptest::prelude::*;
use rand::Rng;

use crate::both_backends;
use crate::helpers::{Backend, OWNER_EMAIL, OWNER_PASSWORD, TestApp, Verdict, spawn_app};

both_backends! {
    hostile_key_names_are_stored_exactly_or_refused_and_always_escaped,
    garbage_keys_and_bodies_never_get_a_200_or_a_5xx_from_the_verifier,
}

/// askama's HTML escaping, to know what an escaped name looks like.
fn escaped(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

const STORED: &[&str] = &[
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script>",
    "\"double\" & 'single' quotes",
    "'; DROP TABLE api_keys; --",
    "Robert'); DELETE FROM audit_events WHERE ('1'='1",
    "\u{202E}gpj.exe\u{202C} right-to-left",
    "\u{200F}\u{200E} marks \u{2066}isolate\u{2069}",
    "🔑 deploy 🚀 bot 👩‍💻",
    "=HYPERLINK(\"http://evil\")",
    "  padded name  ",
    "%3Cb%3E not decoded twice",
    "{{ template }} {% tag %}",
];

async fn hostile_key_names_are_stored_exactly_or_refused_and_always_escaped(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let owner = app.new_client();
    owner.setup(&app.setup_code(), OWNER_EMAIL, OWNER_PASSWORD, "Hostile").await;
    let a64 = "a".repeat(64);
    let emoji64 = "🙂".repeat(64);
    let mut stored: Vec<String> = STORED.iter().map(|s| s.to_string()).collect();
    stored.push(a64.clone());
    stored.push(emoji64.clone());

    for name in &stored {
        let key = owner
            .try_create_key(name, &["records:read"], "never")
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        let db_name: String = {
            let mut conn = app.state.db.get().unwrap();
            api_keys::table.find(key.id).select(api_keys::name).first(&mut *conn).unwrap()
        };
        assert_eq!(db_name, name.trim(), "stored exactly (trimmed)");
        // The verifier's JSON gives the name back byte for byte.
        let res = web
            .post_request("/api/v1/keys/verify")
            .json(&serde_json::json!({ "key": key.secret }))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["valid"], true);
        assert_eq!(body["name"], name.trim());
    }

    // Shown escaped everywhere: the table, the audit log and the confirm pages.
    let table = owner.try_page_text("table", "/settings/api-keys").await.unwrap();
    let audit = owner.try_page_text("audit", "/settings/audit-log").await.unwrap();
    for page in [&table, &audit] {
        assert!(!page.contains("<img src=x"), "raw markup in a page");
        assert!(!page.contains("<script>alert"), "raw markup in a page");
        for name in &stored {
            assert!(page.contains(&escaped(name.trim())), "{name:?} is not shown escaped");
        }
    }
    let first_id: i64 = {
        let mut conn = app.state.db.get().unwrap();
        api_keys::table.select(api_keys::id).order(api_keys::id.asc()).first(&mut *conn).unwrap()
    };
    let confirm =
        owner.try_page_text("revoke form", &format!("/settings/api-keys/{first_id}/revoke")).await.unwrap();
    assert!(!confirm.contains("<img src=x") && confirm.contains(&escaped(STORED[0])));
    // The CSV export neutralises the formula.
    let csv = owner.try_page_text("csv", "/settings/audit-log.csv").await.unwrap();
    assert!(csv.contains("'=HYPERLINK"), "a formula-looking name is neutralised in the CSV");

    // Refused clearly: a 422 with the message beside the field, the input kept, nothing stored.
    let count = |app: &TestApp| -> i64 {
        let mut conn = app.state.db.get().unwrap();
        api_keys::table.count().get_result(&mut *conn).unwrap()
    };
    let before = count(&app);
    assert_eq!(web.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
    let a65 = "a".repeat(65);
    for name in ["", "   ", a65.as_str(), "null\u{0}byte", "line\nbreak", "tab\there", "bell\u{7}"] {
        let token = web.csrf_token("/settings/api-keys/new").await;
        let res = web
            .post_form_raw(
                "/settings/api-keys",
                &[("csrf_token", &token), ("name", name), ("permissions", "records:read"), ("expiry", "30")],
            )
            .await;
        assert_eq!(res.status(), 422, "{name:?} must be refused");
        let html = res.text().await.unwrap();
        assert!(html.contains("id=\"name-error\""), "{name:?}: the message sits beside the field");
        assert!(html.contains("aria-invalid=\"true\""));
    }
    assert_eq!(count(&app), before, "nothing was stored");
    app.stop().await;
}

async fn garbage_keys_and_bodies_never_get_a_200_or_a_5xx_from_the_verifier(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let owner = app.new_client();
    owner.setup(&app.setup_code(), OWNER_EMAIL, OWNER_PASSWORD, "Garbage").await;
    let real = owner.create_key("real", &["records:read"], "never").await;
    let mut rng = rand::rng();
    for round in 0..150 {
        // Random printable header bytes, sometimes shaped like a key, sometimes a real key
        // with one character changed.
        let value: String = match round % 3 {
            0 => (0..rng.random_range(0..200)).map(|_| rng.random_range(0x20u8..0x7f) as char).collect(),
            1 => format!(
                "kw_live_{}",
                (0..38).map(|_| rng.random_range(b'0'..=b'z') as char).collect::<String>()
            ),
            _ => {
                let mut bytes = real.secret.clone().into_bytes();
                let i = rng.random_range(0..bytes.len());
                let old = bytes[i];
                while bytes[i] == old {
                    bytes[i] = rng.random_range(0x21u8..0x7f);
                }
                String::from_utf8(bytes).unwrap()
            }
        };
        let header = if round % 2 == 0 { "x-api-key" } else { "authorization" };
        let sent = if header == "authorization" { format!("Bearer {value}") } else { value.clone() };
        let res = web.get_request("/api/v1/auth").header(header, &sent).send().await.unwrap();
        let status = res.status().as_u16();
        assert!(matches!(status, 400 | 401), "{value:?} got {status}");
        let body: serde_json::Value = res.json().await.expect("a JSON refusal");
        assert!(body["error"]["code"].is_string());

        let verdict = web.try_verify(&value.replace(['"', '\\'], "")).await;
        assert!(matches!(verdict, Ok(Verdict::Refused(_))), "{value:?}: {verdict:?}");
    }
    // Bodies that are not what the endpoint expects.
    let bodies: [&[u8]; 7] = [
        b"",
        b"{",
        b"[]",
        b"{\"key\":42}",
        b"{\"key\":null}",
        b"\xff\xfe\x00",
        b"{\"key\":\"x\",\"permissions\":\"*\"}",
    ];
    for body in bodies {
        let res = web
            .post_request("/api/v1/keys/verify")
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!((400..500).contains(&status) || status == 200, "{body:?} got {status}");
        let json: serde_json::Value = res.json().await.expect("JSON");
        assert_ne!(json["valid"], true, "{body:?}");
    }
    // The real key is still fine after all that (garbage does not count against it).
    assert_eq!(owner.verify(&real.secret).await, Verdict::Valid);
    app.stop().await;
}

fn headers(pairs: &[(&str, Vec<u8>)]) -> actix_web::http::header::HeaderMap {
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            h.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), v);
        }
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever bytes arrive, extraction never panics, and whatever it accepts is a key that
    /// parses and is exactly what was sent (after trimming).
    #[test]
    fn header_extraction_accepts_only_well_formed_keys(
        api in proptest::collection::vec(any::<u8>(), 0..120),
        bearer in proptest::collection::vec(any::<u8>(), 0..120),
        use_api in any::<bool>(),
        use_bearer in any::<bool>(),
    ) {
        let mut pairs = Vec::new();
        if use_api { pairs.push(("x-api-key", api.clone())); }
        if use_bearer { pairs.push(("authorization", [b"Bearer ".as_slice(), &bearer].concat())); }
        if let Ok(key) = key_from_headers(&headers(&pairs)) {
            prop_assert!(ApiKey::parse(key.expose()).is_ok());
            let sent: Vec<&[u8]> = [use_api.then_some(api.trim_ascii()), use_bearer.then_some(bearer.trim_ascii())]
                .into_iter().flatten().collect();
            prop_assert!(sent.contains(&key.expose().as_bytes()));
        }
    }

    /// A real key is found in either header, whatever the padding and the case of "Bearer";
    /// any one-character change to it is refused as malformed.
    #[test]
    fn a_real_key_is_found_and_any_one_character_change_refused(
        pad_left in "[ \t]{0,3}", pad_right in "[ \t]{0,3}", upper in any::<bool>(),
        pos in 0usize..46, replacement in 0x21u8..0x7f,
    ) {
        let key = ApiKey::generate(keyward::keys::Environment::Live);
        let padded = format!("{pad_left}{}{pad_right}", key.expose());
        let scheme = if upper { "BEARER " } else { "bearer " };
        prop_assert_eq!(key_from_headers(&headers(&[("x-api-key", padded.clone().into_bytes())])).unwrap(), key.clone());
        let auth = format!("{scheme}{padded}").into_bytes();
        prop_assert_eq!(key_from_headers(&headers(&[("authorization", auth)])).unwrap(), key.clone());

        let mut changed = key.expose().as_bytes().to_vec();
        let pos = pos % changed.len();
        prop_assume!(changed[pos] != replacement);
        changed[pos] = replacement;
        prop_assert_eq!(key_from_headers(&headers(&[("x-api-key", changed)])), Err(Denial::MalformedKey));
    }

    /// A key-like parameter in the query string is refused whatever its case and value.
    #[test]
    fn a_key_in_the_query_string_is_always_refused(
        name in prop::sample::select(vec!["key", "api_key", "apikey", "token", "access_token"]),
        upper in any::<bool>(), value in "[A-Za-z0-9_%]{0,40}", other in "[a-z]{1,8}=[a-z0-9]{0,8}",
    ) {
        let name = if upper { name.to_uppercase() } else { name.to_owned() };
        let query = format!("{other}&{name}={value}");
        prop_assert!(refuse_key_in_query(&query).is_err());
    }
}
