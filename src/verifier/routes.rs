//! The verifier's HTTP endpoints, under `/api`:
//! `POST /v1/keys/verify`, `GET /v1/auth` (forward-auth), `GET /v1/whoami`, and `GET /v1/ping`
//! (a do-nothing handler the benchmark compares against); `POST /v1/leaks` is in `leaks`.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::error::Denial;
use super::extract::{key_from_headers, parse_key, refuse_key_in_query, required_permissions};
use super::ratelimit::RateState;
use super::{Outcome, Verifier};
use crate::config::Settings;
use crate::keys::scopes::is_valid_scope_id;
use crate::keys::store::KeyRecord;
use crate::metrics::Entry;
use crate::web::api_error::{json_error, json_error_ascii};

/// The largest `POST /v1/keys/verify` body read.
pub const MAX_VERIFY_BODY: usize = 16 * 1024;

/// Registers the endpoints inside the `/api` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes), so another method gets the scope's JSON 405.
    cfg.service(
        web::resource("/v1/keys/verify")
            .wrap(from_fn(|req, next| counted(Entry::Verify, req, next)))
            .route(web::post().to(verify)),
    )
    .service(
        web::resource("/v1/auth")
            .wrap(from_fn(|req, next| counted(Entry::Auth, req, next)))
            .route(web::get().to(auth)),
    )
    .service(
        web::resource("/v1/whoami")
            .wrap(from_fn(|req, next| counted(Entry::Whoami, req, next)))
            .route(web::get().to(whoami)),
    )
    .service(web::resource("/v1/ping").route(web::get().to(ping)))
    .configure(super::leaks::configure);
}

/// The outcome code an answer carries for the metrics (`ok` or the refusal's code), set by
/// the handlers on every answer they make. Answers made elsewhere (a wrong method, a body
/// that never arrived) carry none and are not counted as verifications.
#[derive(Clone, Copy)]
struct Answered(&'static str);

fn answered(mut res: HttpResponse, code: &'static str) -> HttpResponse {
    res.extensions_mut().insert(Answered(code));
    res
}

/// Counts each verification by entry point and outcome, with its time.
async fn counted(
    entry: Entry,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let res = next.call(req).await?;
    let code = res.response().extensions().get::<Answered>().map(|a| a.0);
    if let (Some(code), Some(verifier)) = (code, res.request().app_data::<web::Data<Verifier>>()) {
        verifier.metrics.verification(entry, code, started.elapsed());
    }
    Ok(res)
}

/// The address recorded as a key's last use.
fn client_ip(settings: &Settings, req: &HttpRequest) -> Option<String> {
    crate::web::client_ip::client_ip(req, &settings.trusted_proxies).map(|ip| ip.to_string())
}

fn rate_headers(res: &mut HttpResponse, rate: Option<&RateState>) {
    let Some(r) = rate else { return };
    let h = res.headers_mut();
    h.insert(HeaderName::from_static("ratelimit-limit"), HeaderValue::from(r.limit));
    h.insert(HeaderName::from_static("ratelimit-remaining"), HeaderValue::from(r.remaining));
    h.insert(HeaderName::from_static("ratelimit-reset"), HeaderValue::from(r.reset));
    if let Ok(v) = HeaderValue::from_str(&format!("{};w=60;burst={}", r.per_minute, r.limit)) {
        h.insert(HeaderName::from_static("ratelimit-policy"), v);
    }
}

/// `X-Keyward-Environment: live|test` on every answer about a good key, so a service (or the
/// proxy in front of it) can send test keys to its sandbox.
fn environment_header(res: &mut HttpResponse, key: &KeyRecord) {
    res.headers_mut().insert(
        HeaderName::from_static("x-keyward-environment"),
        HeaderValue::from_static(key.environment().as_str()),
    );
}

/// `X-Keyward-Key-Deprecated: <RFC 3339>` on answers to a replaced secret in its grace period:
/// when it stops working, so the caller's logs say it must move to the key's new secret.
fn deprecation_header(res: &mut HttpResponse, key: &KeyRecord) {
    if let Some(value) = iso(key.replaced_until).and_then(|t| HeaderValue::from_str(&t).ok()) {
        res.headers_mut().insert(HeaderName::from_static("x-keyward-key-deprecated"), value);
    }
}

/// The JSON error for a refusal, with `WWW-Authenticate` on 401s and `Retry-After` on 429s.
fn refusal(denial: &Denial, rate: Option<&RateState>) -> HttpResponse {
    let mut res = answered(json_error(denial.status(), denial.code(), &denial.message()), denial.code());
    rate_headers(&mut res, rate);
    let h = res.headers_mut();
    if denial.status() == StatusCode::UNAUTHORIZED {
        let challenge = match denial {
            Denial::MissingKey => "Bearer realm=\"keyward\"",
            _ => "Bearer realm=\"keyward\", error=\"invalid_token\"",
        };
        h.insert(actix_web::http::header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    if let Denial::RateLimited { retry_after } = denial {
        h.insert(actix_web::http::header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    res
}

fn ok_builder() -> HttpResponseBuilder {
    let mut b = HttpResponse::Ok();
    b.insert_header(("Cache-Control", "no-store"));
    b
}

/// Reads the key from the headers and runs the whole decision.
async fn check_headers(
    verifier: &Verifier,
    settings: &Settings,
    req: &HttpRequest,
    required: &[String],
) -> Result<Outcome, Denial> {
    refuse_key_in_query(req.query_string())?;
    let key = key_from_headers(req.headers())?;
    let ip = client_ip(settings, req);
    Ok(verifier.check(key, required, ip.as_deref()).await)
}

/// A forward-auth refusal: the JSON refusal, plus its code and body in headers. nginx's
/// `auth_request` drops the body of the answer (and every status but 401 and 403); the
/// headers let the proxy's error page give the client keyward's own answer.
fn auth_refusal(denial: &Denial, rate: Option<&RateState>) -> HttpResponse {
    let mut res = refusal(denial, rate);
    let h = res.headers_mut();
    h.insert(HeaderName::from_static("x-keyward-error"), HeaderValue::from_static(denial.code()));
    if let Ok(body) = HeaderValue::from_str(&json_error_ascii(denial.code(), &denial.message())) {
        h.insert(HeaderName::from_static("x-keyward-error-body"), body);
    }
    res
}

/// Forward-auth: 200 with the key's identity in headers, or the refusal.
async fn auth(
    verifier: web::Data<Verifier>,
    settings: web::Data<Settings>,
    req: HttpRequest,
) -> HttpResponse {
    let required = match required_permissions(&req) {
        Ok(r) => r,
        Err(d) => return auth_refusal(&d, None),
    };
    let outcome = match check_headers(&verifier, &settings, &req, &required).await {
        Ok(o) => o,
        Err(d) => return auth_refusal(&d, None),
    };
    let rate = outcome.rate.as_ref();
    match (&outcome.result, &outcome.record) {
        (Ok(()), Some(key)) => {
            let mut res = ok_builder()
                .insert_header(("X-Keyward-Key-Id", key.id.to_string()))
                .insert_header(("X-Keyward-Workspace", key.workspace_id.to_string()))
                .insert_header(("X-Keyward-Permissions", key.permissions.to_list().join(",")))
                .finish();
            rate_headers(&mut res, rate);
            deprecation_header(&mut res, key);
            environment_header(&mut res, key);
            answered(res, "ok")
        }
        (Err(d), _) => auth_refusal(d, rate),
        (Ok(()), None) => auth_refusal(&Denial::UnknownKey, None),
    }
}

#[derive(Serialize)]
struct WorkspaceJson<'a> {
    id: i64,
    name: &'a str,
}

#[derive(Serialize)]
struct RateJson {
    limit: u32,
    remaining: u32,
    reset: u64,
    per_minute: u32,
}

impl From<&RateState> for RateJson {
    fn from(r: &RateState) -> Self {
        Self { limit: r.limit, remaining: r.remaining, reset: r.reset, per_minute: r.per_minute }
    }
}

#[derive(Serialize)]
struct WhoamiJson<'a> {
    key_id: i64,
    name: &'a str,
    masked_key: String,
    workspace: WorkspaceJson<'a>,
    /// `live` or `test`.
    environment: &'static str,
    permissions: Vec<String>,
    expires_at: Option<String>,
    /// A replaced secret in its grace period: when it stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecated_until: Option<String>,
    ratelimit: Option<RateJson>,
}

fn iso(at: Option<chrono::NaiveDateTime>) -> Option<String> {
    at.map(|t| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// "Test your key": what the key is and what it may do.
async fn whoami(
    verifier: web::Data<Verifier>,
    settings: web::Data<Settings>,
    req: HttpRequest,
) -> HttpResponse {
    let outcome = match check_headers(&verifier, &settings, &req, &[]).await {
        Ok(o) => o,
        Err(d) => return refusal(&d, None),
    };
    let rate = outcome.rate.as_ref();
    match (&outcome.result, &outcome.record) {
        (Ok(()), Some(key)) => {
            let mut res = ok_builder().json(WhoamiJson {
                key_id: key.id,
                name: &key.name,
                masked_key: key.masked(),
                workspace: WorkspaceJson { id: key.workspace_id, name: &key.workspace_name },
                environment: key.environment().as_str(),
                permissions: key.permissions.to_list(),
                expires_at: iso(key.expires_at),
                deprecated_until: iso(key.replaced_until),
                ratelimit: rate.map(RateJson::from),
            });
            rate_headers(&mut res, rate);
            deprecation_header(&mut res, key);
            environment_header(&mut res, key);
            answered(res, "ok")
        }
        (Err(d), _) => refusal(d, rate),
        (Ok(()), None) => refusal(&Denial::UnknownKey, None),
    }
}

#[derive(Deserialize)]
struct VerifyBody {
    key: String,
    #[serde(default)]
    permissions: Option<Vec<String>>,
    /// The address of the caller's own client, checked against the key's IP allowlist in
    /// place of the address this request came from.
    #[serde(default)]
    ip: Option<String>,
}

/// The verdict. The key's identity (id, workspace, name, environment, permissions, expiry) is
/// told only for a key that is good, even if refused here for a permission or its rate limit:
/// the holder of a revoked, expired or unknown secret learns the code and nothing about the
/// key. A key used from outside its IP allowlist is told the same way: whoever presents it
/// from the wrong place may have taken it, so they learn the code and the address, not whose
/// key it is.
#[derive(Serialize)]
struct VerifyJson<'a> {
    valid: bool,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(flatten)]
    key: Option<KeyJson<'a>>,
}

#[derive(Serialize)]
struct KeyJson<'a> {
    key_id: i64,
    workspace_id: i64,
    name: &'a str,
    /// `live` or `test`.
    environment: &'static str,
    permissions: Vec<String>,
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecated_until: Option<String>,
    ratelimit: Option<RateJson>,
}

/// Reads at most [`MAX_VERIFY_BODY`] bytes; more is refused with a JSON 413.
async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            let res =
                json_error(StatusCode::BAD_REQUEST, "invalid_body", "The request body could not be read.");
            answered(res, "invalid_body")
        })?;
        if body.len() + chunk.len() > MAX_VERIFY_BODY {
            let res = json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                &format!("The request body is larger than {MAX_VERIFY_BODY} bytes."),
            );
            return Err(answered(res, "body_too_large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// For services that check keys themselves: always 200 once the request itself is sound;
/// `valid` and `code` carry the verdict.
async fn verify(
    verifier: web::Data<Verifier>,
    settings: web::Data<Settings>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    if let Err(d) = refuse_key_in_query(req.query_string()) {
        return refusal(&d, None);
    }
    let body = match read_body(payload).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let parsed: VerifyBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return refusal(&Denial::InvalidBody(e.to_string()), None),
    };
    let required = parsed.permissions.unwrap_or_default();
    if let Some(bad) = required.iter().find(|p| !is_valid_scope_id(p)) {
        return refusal(&Denial::InvalidRequire(bad.chars().take(64).collect()), None);
    }
    // Checked before the key, like the permissions: a caller's mistake, not a verdict.
    let given_ip = match parsed.ip.as_deref().map(str::trim).map(str::parse::<IpAddr>) {
        None => None,
        Some(Ok(ip)) => Some(ip.to_canonical().to_string()),
        Some(Err(_)) => {
            let shown: String = parsed.ip.unwrap_or_default().chars().take(64).collect();
            return refusal(&Denial::InvalidIp(shown), None);
        }
    };
    let key = match parse_key(parsed.key.trim().as_bytes()) {
        Ok(k) => k,
        Err(d) => return verdict(&Err(d), None, None),
    };
    let ip = given_ip.or_else(|| client_ip(&settings, &req));
    let outcome = verifier.check(key, &required, ip.as_deref()).await;
    if outcome.result == Err(Denial::Unavailable) {
        return refusal(&Denial::Unavailable, None);
    }
    verdict(&outcome.result, outcome.record.as_deref(), outcome.rate.as_ref())
}

fn verdict(
    result: &Result<(), Denial>,
    record: Option<&KeyRecord>,
    rate: Option<&RateState>,
) -> HttpResponse {
    let (valid, code, message) = match result {
        Ok(()) => (true, "ok", None),
        Err(d) => (false, d.code(), Some(d.message())),
    };
    let key_is_good =
        matches!(result, Ok(()) | Err(Denial::InsufficientPermission(_) | Denial::RateLimited { .. }));
    let key = record.filter(|_| key_is_good).map(|k| KeyJson {
        key_id: k.id,
        workspace_id: k.workspace_id,
        name: k.name.as_str(),
        environment: k.environment().as_str(),
        permissions: k.permissions.to_list(),
        expires_at: iso(k.expires_at),
        deprecated_until: iso(k.replaced_until),
        ratelimit: rate.map(RateJson::from),
    });
    let replaced = key.is_some().then_some(()).and(record);
    let mut res = ok_builder().json(VerifyJson { valid, code, message, key });
    rate_headers(&mut res, rate);
    if let Some(record) = replaced {
        deprecation_header(&mut res, record);
        environment_header(&mut res, record);
    }
    if let Err(Denial::RateLimited { retry_after }) = result {
        res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    answered(res, code)
}

/// Does nothing, for the benchmark's baseline through the same server and middleware.
async fn ping() -> HttpResponse {
    ok_builder().finish()
}
