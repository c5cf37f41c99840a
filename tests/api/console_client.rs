//! A console user over HTTP, as a browser without JavaScript would be: signs in, reads the
//! CSRF token from a form, creates, regenerates and revokes keys through the real forms, and
//! asks the verifier about keys. Shared by the crash test and the soak client
//! (`examples/console_traffic.rs` includes this file), so it needs only reqwest and std.
#![allow(dead_code)]

use std::time::Duration;

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

pub struct Console {
    base: String,
    client: reqwest::Client,
    csrf: String,
}

fn transport(step: &'static str) -> impl Fn(reqwest::Error) -> Failure {
    move |e| Failure::Transport { step, error: e.to_string() }
}

async fn expect_status(
    step: &'static str,
    res: reqwest::Response,
    want: u16,
) -> Result<reqwest::Response, Failure> {
    let status = res.status().as_u16();
    if status == want {
        Ok(res)
    } else {
        let body = res.text().await.unwrap_or_default();
        Err(Failure::Status { step, status, body })
    }
}

fn location(step: &'static str, res: &reqwest::Response) -> Result<String, Failure> {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| Failure::Page { step, why: "redirect without a Location".into() })
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

fn csrf_of(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// `/settings/api-keys/ID/reveal` → ID.
fn reveal_id(step: &'static str, loc: &str) -> Result<i64, Failure> {
    loc.strip_prefix("/settings/api-keys/")
        .and_then(|r| r.strip_suffix("/reveal"))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Failure::Page { step, why: format!("unexpected redirect to {loc}") })
}

impl Console {
    /// A fresh client with its own cookie jar, not signed in yet.
    fn fresh(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self { base: base.trim_end_matches('/').to_owned(), client, csrf: String::new() }
    }

    /// A fresh client signed in as `email`.
    pub async fn sign_in(base: &str, email: &str, password: &str) -> Result<Self, Failure> {
        let mut console = Self::fresh(base);
        let token = console.form_token("sign-in form", "/login").await?;
        let form = [("csrf_token", token.as_str()), ("email", email), ("password", password)];
        console.post_303("sign in", "/login", &form).await?;
        console.refresh_csrf().await?;
        Ok(console)
    }

    /// Completes first-run setup and returns the signed-in owner.
    pub async fn setup(base: &str, email: &str, password: &str, workspace: &str) -> Result<Self, Failure> {
        let mut console = Self::fresh(base);
        let token = console.form_token("setup form", "/setup").await?;
        let form = [
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", password),
            ("password_confirm", password),
            ("workspace_name", workspace),
        ];
        console.post_303("setup", "/setup", &form).await?;
        console.refresh_csrf().await?;
        Ok(console)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The CSRF token in the form on the page at `path`.
    async fn form_token(&self, step: &'static str, path: &str) -> Result<String, Failure> {
        let page = self.page_text(step, path).await?;
        csrf_of(&page).ok_or(Failure::Page { step, why: "no CSRF token".into() })
    }

    /// The session's CSRF token, read from the create form.
    async fn refresh_csrf(&mut self) -> Result<(), Failure> {
        self.csrf = self.form_token("create form", "/settings/api-keys/new").await?;
        Ok(())
    }

    /// GETs a console page that must answer 200; returns its HTML.
    pub async fn page_text(&self, step: &'static str, path: &str) -> Result<String, Failure> {
        let res = self.client.get(self.url(path)).send().await.map_err(transport(step))?;
        let res = expect_status(step, res, 200).await?;
        res.text().await.map_err(transport(step))
    }

    /// POSTs a form that must answer with a redirect (303, as every console form does).
    async fn post_303(
        &self,
        step: &'static str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<reqwest::Response, Failure> {
        let res = self.client.post(self.url(path)).form(form).send().await.map_err(transport(step))?;
        expect_status(step, res, 303).await
    }

    /// POSTs a form that redirects to a reveal page; returns that page's path and key id.
    async fn post_to_reveal(
        &self,
        step: &'static str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<(String, i64), Failure> {
        let res = self.post_303(step, path, form).await?;
        let loc = location(step, &res)?;
        let id = reveal_id(step, &loc)?;
        Ok((loc, id))
    }

    /// Creates a key through the form; returns it as the reveal page showed it.
    pub async fn create_key(&self, name: &str) -> Result<Revealed, Failure> {
        self.create_key_with(name, &[("permissions", "records:read"), ("expiry", "never")]).await
    }

    /// Creates a key with the given form fields (besides the name and the CSRF token).
    pub async fn create_key_with(&self, name: &str, fields: &[(&str, &str)]) -> Result<Revealed, Failure> {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", &self.csrf), ("name", name)];
        form.extend_from_slice(fields);
        let (loc, id) = self.post_to_reveal("create key", "/settings/api-keys", &form).await?;
        let secret = self.reveal(&loc).await?;
        Ok(Revealed { id, secret })
    }

    /// Creates a key and stops at the redirect (the reveal page is not fetched): for many
    /// concurrent creations in one session, where each would replace the pending reveal.
    pub async fn create_key_unrevealed(&self, name: &str) -> Result<i64, Failure> {
        let form = [
            ("csrf_token", self.csrf.as_str()),
            ("name", name),
            ("permissions", "records:read"),
            ("expiry", "30"),
        ];
        Ok(self.post_to_reveal("create key", "/settings/api-keys", &form).await?.1)
    }

    async fn reveal(&self, path: &str) -> Result<String, Failure> {
        let html = self.page_text("reveal", path).await?;
        input_value(&html, "secret-key")
            .filter(|s| !s.is_empty())
            .ok_or(Failure::Page { step: "reveal", why: "no key on the reveal page".into() })
    }

    /// Regenerates a key; returns the new secret (the old one stops working).
    pub async fn regenerate(&self, id: i64) -> Result<Revealed, Failure> {
        let (loc, new_id) = self.post_regenerate(id).await?;
        let secret = self.reveal(&loc).await?;
        Ok(Revealed { id: new_id, secret })
    }

    /// Regenerates a key and stops at the redirect; returns the id the reveal page names.
    pub async fn regenerate_unrevealed(&self, id: i64) -> Result<i64, Failure> {
        Ok(self.post_regenerate(id).await?.1)
    }

    async fn post_regenerate(&self, id: i64) -> Result<(String, i64), Failure> {
        let path = format!("/settings/api-keys/{id}/regenerate");
        self.post_to_reveal("regenerate key", &path, &[("csrf_token", self.csrf.as_str())]).await
    }

    /// Revokes a key; `Ok` once the server has answered that it is revoked.
    pub async fn revoke(&self, id: i64) -> Result<(), Failure> {
        let path = format!("/settings/api-keys/{id}/revoke");
        self.post_303("revoke key", &path, &[("csrf_token", self.csrf.as_str())]).await.map(drop)
    }

    /// Asks the verifier about a key.
    pub async fn verify(&self, secret: &str) -> Result<Verdict, Failure> {
        verify(&self.client, &self.base, secret).await
    }
}

/// Asks the verifier about a key with any client.
pub async fn verify(client: &reqwest::Client, base: &str, secret: &str) -> Result<Verdict, Failure> {
    let body = format!("{{\"key\":\"{secret}\"}}");
    let res = client
        .post(format!("{}/api/v1/keys/verify", base.trim_end_matches('/')))
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
        status => Err(Failure::Status { step: "verify", status, body: res.text().await.unwrap_or_default() }),
    }
}
