//! The HTTP client every test uses: one browser without JavaScript, with its own cookie jar,
//! that does not follow redirects (tests assert them). It reads pages, posts forms with the
//! CSRF token of the page holding them, signs in, and creates, regenerates, revokes and
//! deletes keys through the real console forms; it also asks the verifier about keys.
//!
//! Each key step comes twice: `try_…` returns a [`Failure`] that tells a transport error (no
//! answer) from a status or a page the step did not expect, for the reliability tests that
//! must classify what went wrong; the plain version panics on any failure and is built on it.
//!
//! Needs only reqwest and std: `examples/console_traffic.rs` includes this file too.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response};

/// Why a console step did not succeed.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The server answered, with a status the step did not expect.
    Status { step: &'static str, status: u16, body: String },
    /// No answer: connection refused or reset, or a timeout.
    Transport { step: &'static str, error: String },
    /// The answer was not the page the step expected.
    Page { step: &'static str, why: String },
}

impl Failure {
    /// A 5xx answer: what must never reach a user while the database is up.
    pub fn is_server_error(&self) -> bool {
        matches!(self, Failure::Status { status, .. } if *status >= 500)
    }

    pub fn is_transport(&self) -> bool {
        matches!(self, Failure::Transport { .. })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status { step, status, body } => {
                let snippet: String = body.chars().take(300).collect();
                write!(f, "{step}: status {status}: {snippet}")
            }
            Failure::Transport { step, error } => write!(f, "{step}: no answer: {error}"),
            Failure::Page { step, why } => write!(f, "{step}: {why}"),
        }
    }
}

/// A key the console revealed.
#[derive(Debug, Clone)]
pub struct Revealed {
    pub id: i64,
    pub secret: String,
}

/// The verifier's answer about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// Refused, with the verifier's code (`revoked_key`, `unknown_key`, …).
    Refused(String),
    /// 503: the verifier could not reach the database.
    Unavailable,
}

/// A browser on one keyward server. Clones share the cookie jar, so they are the same browser.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// The session's CSRF token, for the key steps, which post without fetching the form page
    /// first (many of them may run at once on one session). Read from the create form when
    /// first needed; forgotten when the session changes (sign-in, setup, sign-out).
    csrf: Arc<Mutex<Option<String>>>,
}

fn transport(step: &'static str) -> impl Fn(reqwest::Error) -> Failure {
    move |e| Failure::Transport { step, error: e.to_string() }
}

async fn expect_status(step: &'static str, res: Response, want: u16) -> Result<Response, Failure> {
    let status = res.status().as_u16();
    if status == want {
        Ok(res)
    } else {
        let body = res.text().await.unwrap_or_default();
        Err(Failure::Status { step, status, body })
    }
}

fn location(step: &'static str, res: &Response) -> Result<String, Failure> {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| Failure::Page { step, why: "redirect without a Location".into() })
}

/// `/settings/api-keys/ID/reveal` → ID.
fn reveal_id(step: &'static str, loc: &str) -> Result<i64, Failure> {
    loc.strip_prefix("/settings/api-keys/")
        .and_then(|r| r.strip_suffix("/reveal"))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Failure::Page { step, why: format!("unexpected redirect to {loc}") })
}

/// The CSRF token in the first form of a page.
pub fn extract_csrf(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The `value` of the `<input>` with the given id.
pub fn input_value(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let len = tag[v..].find('"')?;
    Some(tag[v..v + len].replace("&#95;", "_").replace("&#x5f;", "_"))
}

#[track_caller]
pub fn assert_is_redirect_to(res: &Response, location: &str) {
    assert_eq!(res.status(), 303, "expected a 303 to {location}");
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some(location));
}

/// Panics with the step that failed.
fn must<T>(result: Result<T, Failure>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

impl Client {
    /// A fresh browser on the server at `base`: no cookies, not signed in.
    pub fn new(base: &str) -> Self {
        Self::with_default_headers(base, HeaderMap::new())
    }

    /// A fresh browser that sends `headers` with every request.
    pub fn with_default_headers(base: &str, headers: HeaderMap) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .default_headers(headers)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self { base: base.trim_end_matches('/').to_owned(), http, csrf: Arc::default() }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    // ---------------------------------------------------------------- pages and forms

    /// A GET to send after adding headers; it carries this browser's cookies.
    pub fn get_request(&self, path: &str) -> RequestBuilder {
        self.http.get(self.url(path))
    }

    /// A POST to send after adding headers or a body; it carries this browser's cookies.
    pub fn post_request(&self, path: &str) -> RequestBuilder {
        self.http.post(self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.get_request(path).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    /// POSTs a form as-is (the caller supplies any CSRF token).
    pub async fn post_form_raw(&self, path: &str, form: &[(&str, &str)]) -> Response {
        if matches!(path.split('?').next(), Some("/login" | "/login/two-factor" | "/setup" | "/logout")) {
            // A new session, with a new token, or none.
            self.forget_csrf();
        }
        self.post_request(path).form(form).send().await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// POSTs a form with the CSRF token taken from `form_page` (the page holding the form).
    pub async fn post_form(&self, form_page: &str, action: &str, form: &[(&str, &str)]) -> Response {
        let token = self.csrf_token(form_page).await;
        let mut fields: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        self.post_form_raw(action, &fields).await
    }

    /// The CSRF token in the first form of the page at `page`.
    pub async fn csrf_token(&self, page: &str) -> String {
        let html = self.get_text(page).await;
        extract_csrf(&html).unwrap_or_else(|| panic!("no csrf_token on {page}:\n{html}"))
    }

    /// Submits the sign-in form; the answer is the caller's to check.
    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.post_form("/login", "/login", &[("email", email), ("password", password)]).await
    }

    /// Completes first-run setup with the server's setup `code`; this browser is signed in as
    /// the owner afterwards.
    pub async fn setup(&self, code: &str, email: &str, password: &str, workspace: &str) {
        must(self.try_setup(code, email, password, workspace).await)
    }

    /// GETs a console page that must answer 200; returns its HTML.
    pub async fn try_page_text(&self, step: &'static str, path: &str) -> Result<String, Failure> {
        let res = self.get_request(path).send().await.map_err(transport(step))?;
        let res = expect_status(step, res, 200).await?;
        res.text().await.map_err(transport(step))
    }

    /// Completes first-run setup; `Ok` once signed in as the owner.
    pub async fn try_setup(
        &self,
        code: &str,
        email: &str,
        password: &str,
        workspace: &str,
    ) -> Result<(), Failure> {
        let token = self.try_form_token("setup form", "/setup").await?;
        let form = [
            ("csrf_token", token.as_str()),
            ("setup_code", code),
            ("email", email),
            ("password", password),
            ("password_confirm", password),
            ("workspace_name", workspace),
        ];
        self.forget_csrf();
        self.try_post_303("setup", "/setup", &form).await?;
        self.try_refresh_csrf().await
    }

    /// Signs in; `Ok` once the sign-in form answered with its redirect.
    pub async fn try_sign_in(&self, email: &str, password: &str) -> Result<(), Failure> {
        let token = self.try_form_token("sign-in form", "/login").await?;
        let form = [("csrf_token", token.as_str()), ("email", email), ("password", password)];
        self.forget_csrf();
        self.try_post_303("sign in", "/login", &form).await?;
        self.try_refresh_csrf().await
    }

    /// The CSRF token in the form on the page at `path`.
    async fn try_form_token(&self, step: &'static str, path: &str) -> Result<String, Failure> {
        let page = self.try_page_text(step, path).await?;
        extract_csrf(&page).ok_or(Failure::Page { step, why: "no CSRF token".into() })
    }

    fn forget_csrf(&self) {
        *self.csrf.lock().unwrap() = None;
    }

    /// Reads the session's CSRF token from the create form.
    async fn try_refresh_csrf(&self) -> Result<(), Failure> {
        let token = self.try_form_token("create form", "/settings/api-keys/new").await?;
        *self.csrf.lock().unwrap() = Some(token);
        Ok(())
    }

    /// The session's CSRF token, read once per session.
    async fn try_session_csrf(&self) -> Result<String, Failure> {
        if let Some(token) = self.csrf.lock().unwrap().clone() {
            return Ok(token);
        }
        self.try_refresh_csrf().await?;
        Ok(self.csrf.lock().unwrap().clone().unwrap_or_default())
    }

    /// POSTs a form that must answer with a redirect (303, as every console form does).
    async fn try_post_303(
        &self,
        step: &'static str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Response, Failure> {
        let res = self.post_request(path).form(form).send().await.map_err(transport(step))?;
        expect_status(step, res, 303).await
    }

    /// POSTs a form with the session's token that must redirect; returns the response.
    async fn try_post_action(
        &self,
        step: &'static str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<Response, Failure> {
        let token = self.try_session_csrf().await?;
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        form.extend_from_slice(fields);
        self.try_post_303(step, path, &form).await
    }

    /// POSTs a form that redirects to a reveal page; returns that page's path and key id.
    async fn try_post_to_reveal(
        &self,
        step: &'static str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<(String, i64), Failure> {
        let res = self.try_post_action(step, path, fields).await?;
        let loc = location(step, &res)?;
        let id = reveal_id(step, &loc)?;
        Ok((loc, id))
    }

    async fn try_reveal(&self, path: &str) -> Result<String, Failure> {
        let html = self.try_page_text("reveal", path).await?;
        input_value(&html, "secret-key")
            .filter(|s| !s.is_empty())
            .ok_or(Failure::Page { step: "reveal", why: "no key on the reveal page".into() })
    }

    // ---------------------------------------------------------------- keys

    /// Creates a key through the form (`expiry`: days, `never` or …) and reads it off the
    /// reveal page.
    pub async fn try_create_key(
        &self,
        name: &str,
        permissions: &[&str],
        expiry: &str,
    ) -> Result<Revealed, Failure> {
        let mut fields = vec![("name", name), ("expiry", expiry)];
        fields.extend(permissions.iter().map(|p| ("permissions", *p)));
        let (loc, id) = self.try_post_to_reveal("create key", "/settings/api-keys", &fields).await?;
        let secret = self.try_reveal(&loc).await?;
        Ok(Revealed { id, secret })
    }

    pub async fn create_key(&self, name: &str, permissions: &[&str], expiry: &str) -> Revealed {
        must(self.try_create_key(name, permissions, expiry).await)
    }

    /// Creates a key (`records:read`, 30 days) and stops at the redirect (the reveal page is
    /// not fetched): for many concurrent creations in one session, where each would replace
    /// the pending reveal.
    pub async fn try_create_key_unrevealed(&self, name: &str) -> Result<i64, Failure> {
        let fields = [("name", name), ("permissions", "records:read"), ("expiry", "30")];
        Ok(self.try_post_to_reveal("create key", "/settings/api-keys", &fields).await?.1)
    }

    /// Regenerates a key; returns the new secret (the old one stops working).
    pub async fn try_regenerate(&self, id: i64) -> Result<Revealed, Failure> {
        let (loc, new_id) = self.try_post_regenerate(id).await?;
        let secret = self.try_reveal(&loc).await?;
        Ok(Revealed { id: new_id, secret })
    }

    pub async fn regenerate(&self, id: i64) -> Revealed {
        must(self.try_regenerate(id).await)
    }

    /// Regenerates a key and stops at the redirect; returns the id the reveal page names.
    pub async fn try_regenerate_unrevealed(&self, id: i64) -> Result<i64, Failure> {
        Ok(self.try_post_regenerate(id).await?.1)
    }

    async fn try_post_regenerate(&self, id: i64) -> Result<(String, i64), Failure> {
        let path = format!("/settings/api-keys/{id}/regenerate");
        self.try_post_to_reveal("regenerate key", &path, &[]).await
    }

    /// Regenerates a key, the old secret working on for `grace` (`now`, `1h`, `24h`, `7d`).
    pub async fn regenerate_with_grace(&self, id: i64, grace: &str) -> Revealed {
        let path = format!("/settings/api-keys/{id}/regenerate");
        let (loc, new_id) =
            must(self.try_post_to_reveal("regenerate key", &path, &[("old_secret_stops", grace)]).await);
        Revealed { id: new_id, secret: must(self.try_reveal(&loc).await) }
    }

    /// POSTs a console action with the session's token; the answer must be a redirect.
    pub async fn action(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        must(self.try_post_action("action", path, fields).await)
    }

    /// Revokes a key; `Ok` once the server has answered that it is revoked.
    pub async fn try_revoke(&self, id: i64) -> Result<(), Failure> {
        let path = format!("/settings/api-keys/{id}/revoke");
        self.try_post_action("revoke key", &path, &[]).await.map(drop)
    }

    pub async fn revoke(&self, id: i64) {
        must(self.try_revoke(id).await)
    }

    /// Deletes a key; `Ok` once the server has answered that it is deleted.
    pub async fn try_delete(&self, id: i64) -> Result<(), Failure> {
        let path = format!("/settings/api-keys/{id}/delete");
        self.try_post_action("delete key", &path, &[]).await.map(drop)
    }

    pub async fn delete(&self, id: i64) {
        must(self.try_delete(id).await)
    }

    // ---------------------------------------------------------------- the verifier

    /// Asks the verifier about a key.
    pub async fn try_verify(&self, secret: &str) -> Result<Verdict, Failure> {
        let body = format!("{{\"key\":\"{secret}\"}}");
        let res = self
            .post_request("/api/v1/keys/verify")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(transport("verify"))?;
        match res.status().as_u16() {
            200 => {
                let text = res.text().await.map_err(transport("verify"))?;
                if text.contains("\"valid\":true") {
                    Ok(Verdict::Valid)
                } else {
                    let code = text
                        .split("\"code\":\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .unwrap_or("?")
                        .to_owned();
                    Ok(Verdict::Refused(code))
                }
            }
            503 => Ok(Verdict::Unavailable),
            status => {
                Err(Failure::Status { step: "verify", status, body: res.text().await.unwrap_or_default() })
            }
        }
    }

    pub async fn verify(&self, secret: &str) -> Verdict {
        must(self.try_verify(secret).await)
    }
}
