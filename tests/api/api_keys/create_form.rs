//! The create form: every validation message beside its field with the input kept, unique
//! names among active keys, the offered expiry choices, and a custom scope catalogue.

use chrono::{Days, Utc};
use scraper::{Html, Selector};

use super::post_create;
use crate::both_backends;
use crate::helpers::db;
use crate::helpers::pages::{no_store, row_ids, select, text_of};
use crate::helpers::{Backend, spawn_app, spawn_app_with};

both_backends! {
    every_validation_message_is_shown_beside_its_field_with_input_kept,
    a_custom_scope_catalogue_replaces_the_default,
}

/// Form fields, the field whose error shows, the message.
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);

async fn every_validation_message_is_shown_beside_its_field_with_input_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
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
        let res = post_create(web, fields).await;
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
        web,
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
    let first = web.create_key("Billing", &["records:read"], "30").await.id;
    let res = post_create(web, &[("name", " Billing "), ("full_access", "on"), ("expiry", "never")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("An active key named “Billing” already exists."), "{html}");
    assert!(html.contains("id=\"full_access\" name=\"full_access\" value=\"on\" checked"));
    assert!(
        Html::parse_document(&html).select(&Selector::parse("#expiry-never[checked]").unwrap()).count() == 1
    );
    // In any case: "billing" clashes with "Billing", and the message names the existing key.
    for other in ["billing", "BILLING"] {
        let res = post_create(web, &[("name", other), ("full_access", "on"), ("expiry", "never")]).await;
        assert_eq!(res.status(), 422, "{other}");
        let html = res.text().await.unwrap();
        assert!(html.contains("An active key named “Billing” already exists."), "{other}: {html}");
        assert!(html.contains(&format!("value=\"{other}\"")), "{other} is kept in the field");
    }
    web.revoke(first).await;
    let second = web.create_key("billing", &["records:read"], "never").await.id;
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
    let web = app.client();
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
        post_create(web, &[("name", "Old scope"), ("permissions", "records:read"), ("expiry", "30")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Unknown permission `records:read`."));
    let id = web.create_key("Refunds", &["billing:refunds", "shipping.labels"], "60").await.id;
    assert_eq!(db::key_row(&app, id).await.unwrap().2, "billing:refunds shipping.labels");
    let table = web.get_text("/settings/api-keys").await;
    assert!(table.contains("title=\"Issue refunds\""));
}
