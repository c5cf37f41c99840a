//! Settings → API Keys over HTTP, by behaviour: one key's whole life, the create form, the
//! show-once reveal and what is never stored, the table with its filters and pages, search,
//! and who may do what to which workspace's keys.

mod access;
mod create_form;
mod lifecycle;
mod search;
mod secrecy;
mod table;

use reqwest::Response;

use crate::helpers::{Client, TestApp};

/// POSTs the create form as typed; the CSRF token comes from the form page.
async fn post_create(web: &Client, fields: &[(&str, &str)]) -> Response {
    web.post_form("/settings/api-keys/new", "/settings/api-keys", fields).await
}

/// The status `/api/v1/whoami` answers for this key.
async fn whoami_status(app: &TestApp, secret: &str) -> u16 {
    let res = app.client().get_request("/api/v1/whoami").header("X-Api-Key", secret).send().await.unwrap();
    res.status().as_u16()
}
