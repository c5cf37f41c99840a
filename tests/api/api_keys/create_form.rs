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
    the_read_only_preset_and_the_error_summary_work_without_javascript,
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
    // The allowed days, as the messages write them ("2 Dec 2026").
    let words = |d: chrono::NaiveDate| d.format("%-d %b %Y").to_string();
    let first = words(today + Days::new(1));
    let last = words(today.checked_add_months(chrono::Months::new(12)).unwrap());
    let bad_date = format!("Pick a date from {first} to {last}.");
    let not_future = format!("Pick a date after today: from {first} to {last}.");
    let too_far_msg = format!("Pick a date at most one year ahead: {last} at the latest.");
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
            bad_date.as_str(),
        ),
        (
            vec![
                ("name", "k"),
                ("permissions", "records:read"),
                ("expiry", "custom"),
                ("expiry_date", &today_s),
            ],
            "expiry",
            not_future.as_str(),
        ),
        (
            vec![
                ("name", "k"),
                ("permissions", "records:read"),
                ("expiry", "custom"),
                ("expiry_date", &too_far),
            ],
            "expiry",
            too_far_msg.as_str(),
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
    let burst_range =
        "Enter a whole number of requests from 1 to 1000000, or leave it blank for the default.";
    for bad in ["0", "1000001", "many", "1.5"] {
        cases.push((
            vec![("name", "k"), ("permissions", "records:read"), ("expiry", "30"), ("rate_limit_burst", bad)],
            "rate_limit_burst",
            burst_range,
        ));
    }
    // With a rate of its own, a key's burst is at most that rate.
    cases.push((
        vec![
            ("name", "k"),
            ("permissions", "records:read"),
            ("expiry", "30"),
            ("rate_limit_per_minute", "60"),
            ("rate_limit_burst", "61"),
        ],
        "rate_limit_burst",
        "The burst cannot be more than the rate limit (60 per minute). Enter a whole number from 1 to 60, or \
         leave it blank for the default.",
    ));
    for (fields, field, message) in &cases {
        let res = post_create(web, fields).await;
        assert_eq!(res.status(), 422, "{field}: {message}");
        assert!(no_store(&res));
        let html = res.text().await.unwrap();
        let doc = Html::parse_document(&html);
        let err = select(&doc, &format!("p.field-error#{field}-error"));
        assert_eq!(err.len(), 1, "no error beside {field} for {message}");
        assert_eq!(text_of(&err[0]), *message);
        if ["name", "rate_limit_per_minute", "rate_limit_burst"].contains(field) {
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
            ("rate_limit_burst", "500"),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let doc = Html::parse_document(&res.text().await.unwrap());
    assert_eq!(select(&doc, "input#name")[0].value().attr("value"), Some("My <key> & \"co\""));
    assert_eq!(select(&doc, "input#perm-files-read[checked]").len(), 1);
    assert_eq!(select(&doc, "input#perm-records-delete[checked]").len(), 1);
    assert_eq!(select(&doc, "input#perm-records-read[checked]").len(), 0);
    assert_eq!(select(&doc, "select#expiry option[value=\"custom\"][selected]").len(), 1);
    assert_eq!(select(&doc, "select#expiry option[selected]").len(), 1);
    assert_eq!(select(&doc, "input#expiry_date")[0].value().attr("value"), Some(today_s.as_str()));
    assert_eq!(select(&doc, "input#rate_limit_per_minute")[0].value().attr("value"), Some("77"));
    assert_eq!(select(&doc, "input#rate_limit_burst")[0].value().attr("value"), Some("500"));
    assert_eq!(select(&doc, "input#rate_limit_burst[aria-invalid=\"true\"]").len(), 1, "500 is above 77/min");
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
        Html::parse_document(&html)
            .select(&Selector::parse("#expiry option[value=\"never\"][selected]").unwrap())
            .count()
            == 1
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

    // A fresh form has 30 days selected and shows the resulting dates server-side.
    let html = web.get_text("/settings/api-keys/new").await;
    let doc = Html::parse_document(&html);
    let selected: Vec<_> = select(&doc, "select#expiry option[selected]").iter().map(text_of).collect();
    let in_30 = (Utc::now().naive_utc() + Days::new(30)).format("%-d %b %Y").to_string();
    assert_eq!(selected, [format!("30 days (until {in_30})")]);
    let values: Vec<_> = select(&doc, "select#expiry option")
        .iter()
        .map(|o| o.value().attr("value").unwrap().to_owned())
        .collect();
    assert_eq!(values, ["7", "30", "60", "90", "180", "custom", "never"]);
    assert!(html.contains("never revoked automatically"));
    for id in ["expiry", "expiry_date", "full_access"] {
        assert_eq!(select(&doc, &format!("#{id}")).len(), 1, "{id}");
        assert_eq!(select(&doc, &format!("label[for=\"{id}\"]")).len(), 1, "{id} has no label");
    }
    // The default catalogue is a grid of resources by actions, each box labelled.
    let heads: Vec<_> = select(&doc, "table.perm-grid thead th").iter().map(text_of).collect();
    assert_eq!(heads, ["Resource", "Read", "Write", "Delete", "Upload"]);
    for scope in ["records-read", "records-write", "records-delete", "files-read", "files-upload"] {
        assert_eq!(
            select(&doc, &format!("label[for=\"perm-{scope}\"] input#perm-{scope}")).len(),
            1,
            "{scope}"
        );
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
    // The label shows, the id is on hover.
    assert!(table.contains("title=\"billing:refunds\">Issue refunds</span>"), "{table}");
}

async fn the_read_only_preset_and_the_error_summary_work_without_javascript(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    // The preset is a submit button: the form comes back with the read boxes ticked, the rest
    // as typed, and nothing created.
    let res = post_create(
        web,
        &[
            ("name", "Reporting"),
            ("full_access", "on"),
            ("permissions", "records:delete"),
            ("expiry", "90"),
            ("preset", "read-only"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(no_store(&res));
    let doc = Html::parse_document(&res.text().await.unwrap());
    let ticked: Vec<_> = select(&doc, "input[name=\"permissions\"][checked]")
        .iter()
        .map(|i| i.value().attr("value").unwrap().to_owned())
        .collect();
    assert_eq!(ticked, ["records:read", "files:read"]);
    assert!(select(&doc, "input#full_access[checked]").is_empty(), "the preset replaces Full access");
    assert_eq!(select(&doc, "input#name")[0].value().attr("value"), Some("Reporting"));
    assert_eq!(select(&doc, "select#expiry option[value=\"90\"][selected]").len(), 1);
    assert!(select(&doc, "[data-error-summary]").is_empty());
    assert!(row_ids(&web.get_text("/settings/api-keys").await).is_empty(), "nothing was created");
    // Enter in a field submits with the form's first button: it must create, not apply a preset.
    let first = select(&doc, "form[action=\"/settings/api-keys\"] button[type=\"submit\"]");
    assert_eq!(text_of(&first[0]), "Create key");
    assert_eq!(first[0].value().attr("name"), None);

    // Errors are summed up above the form, each linking to the control to fix, in form order.
    let res = post_create(
        web,
        &[("name", " "), ("expiry", "custom"), ("rate_limit_per_minute", "0"), ("rate_limit_burst", "-1")],
    )
    .await;
    assert_eq!(res.status(), 422);
    let doc = Html::parse_document(&res.text().await.unwrap());
    let summary = select(&doc, "[data-error-summary][role=\"alert\"][tabindex=\"-1\"]");
    assert_eq!(summary.len(), 1);
    let links: Vec<_> = select(&doc, "[data-error-summary] a")
        .iter()
        .map(|a| (a.value().attr("href").unwrap().to_owned(), text_of(a)))
        .collect();
    let expected = [
        ("#name", "Name"),
        ("#full_access", "Permissions"),
        ("#expiry", "Expiration"),
        ("#rate_limit_per_minute", "Rate limit"),
        ("#rate_limit_burst", "Burst"),
    ];
    assert_eq!(links.len(), expected.len(), "{links:?}");
    for ((href, text), (want_href, want_text)) in links.iter().zip(expected) {
        assert_eq!((href.as_str(), text.as_str()), (want_href, want_text));
        assert_eq!(select(&doc, want_href).len(), 1, "{want_href} is on the page");
    }
}
