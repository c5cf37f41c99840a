//! `POST /api/v1/leaks`: where secret scanners report keyward keys found in public. The body is
//! GitHub's secret scanning partner payload, a JSON array of `{"token", "type", "url",
//! "source"}` (other fields ignored); the answer is GitHub's too, one entry per token in order:
//! `{"token_hash", "token_type", "label", "outcome"}`, never the token itself.
//!
//! With `KEYWARD_LEAK_REPORT_KEYS` set, a report must be signed (`config::LeakReportKeys`),
//! checked over the exact bytes before the body is parsed. Without it reports are taken
//! unsigned: a report acts only on a key whose whole secret it holds, and whoever holds it could
//! as well have used it; stopping it is what its owners want then. See docs/SECURITY.md.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::keys::KeyError;
use crate::lifecycle::Outbox;
use crate::lifecycle::leaks::{self, Reported};
use crate::state::AppState;
use crate::web::api_error::json_error;

/// The largest report body read (a report of [`MAX_LEAK_TOKENS`] tokens with long URLs fits).
pub const MAX_LEAK_BODY: usize = 1024 * 1024;
/// The most tokens one report may hold.
pub const MAX_LEAK_TOKENS: usize = 1000;

pub const IDENTIFIER_HEADER: &str = "Github-Public-Key-Identifier";
pub const SIGNATURE_HEADER: &str = "Github-Public-Key-Signature";

/// Registers the endpoint inside the `/api` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/leaks").route(web::post().to(report)));
}

/// One reported token as sent; only `token` is required.
#[derive(Deserialize)]
struct TokenJson {
    token: String,
    #[serde(default, rename = "type")]
    token_type: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Serialize)]
struct AnswerJson {
    token_hash: String,
    token_type: String,
    label: &'static str,
    outcome: &'static str,
}

fn too_large() -> HttpResponse {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        &format!("A leak report may be at most {MAX_LEAK_BODY} bytes. Send the tokens in several reports."),
    )
}

/// Reads at most [`MAX_LEAK_BODY`] bytes; more is refused (before any is read when the length
/// is announced).
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<web::BytesMut, HttpResponse> {
    let announced = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|n| n > MAX_LEAK_BODY) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            json_error(StatusCode::BAD_REQUEST, "invalid_body", "The request body could not be read.")
        })?;
        if body.len() + chunk.len() > MAX_LEAK_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Takes a report: size, signature (when required), shape, count; then each token in order.
async fn report(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let body = match read_body(&req, payload).await {
        Ok(body) => body,
        Err(res) => return res,
    };
    if let Some(keys) = &state.settings.leak_report_keys
        && let Err(refusal) =
            keys.verify(header(&req, IDENTIFIER_HEADER), header(&req, SIGNATURE_HEADER), &body)
    {
        tracing::warn!(code = refusal.code(), "a leak report was refused for its signature");
        return json_error(StatusCode::UNAUTHORIZED, refusal.code(), &refusal.to_string());
    }
    let tokens: Vec<TokenJson> = match serde_json::from_slice(&body) {
        Ok(tokens) => tokens,
        Err(e) => {
            let message = format!(
                "The body must be a JSON array of {{\"token\", \"type\", \"url\", \"source\"}} objects: {e}"
            );
            return json_error(StatusCode::BAD_REQUEST, "invalid_body", &message);
        }
    };
    if tokens.len() > MAX_LEAK_TOKENS {
        let message = format!(
            "A leak report may hold at most {MAX_LEAK_TOKENS} tokens; this one holds {}. Send them in \
             several reports.",
            tokens.len()
        );
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "too_many_tokens", &message);
    }
    let types: Vec<String> = tokens.iter().map(|t| t.token_type.clone().unwrap_or_default()).collect();
    let reported = tokens
        .into_iter()
        .map(|t| Reported {
            token: t.token,
            token_type: t.token_type.unwrap_or_default(),
            url: t.url,
            source: t.source,
        })
        .collect();
    let actor = Actor {
        user_id: None,
        label: "system".to_owned(),
        ip: crate::web::client_ip::client_ip(&req, &state.settings.trusted_proxies).map(|ip| ip.to_string()),
        user_agent: header(&req, "user-agent").map(str::to_owned),
    };
    let outbox = Outbox { mailer: state.mailer.clone(), public_url: state.settings.public_url.clone() };
    match leaks::handle(&state.db, &outbox, &actor, reported).await {
        Ok(answers) => {
            let json: Vec<AnswerJson> = answers
                .into_iter()
                .zip(types)
                .map(|(a, token_type)| AnswerJson {
                    token_hash: a.token_hash,
                    token_type,
                    label: a.outcome.label(),
                    outcome: a.outcome.as_str(),
                })
                .collect();
            HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json)
        }
        Err(error) => {
            tracing::error!(%error, "a leak report could not be handled");
            let (status, message) = match error {
                KeyError::Db(crate::db::DbError::Unavailable(_)) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable. Send the report again.")
                }
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "The report could not be handled. Send it again."),
            };
            json_error(status, error.code(), message)
        }
    }
}
