//! `GET /metrics` for Prometheus, registered only when `KEYWARD_METRICS_TOKEN` is set, and
//! answered only to a request bearing that token (`Authorization: Bearer …`). Like the health
//! checks it answers any host: a scraper reaches each instance by its own address.

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::state::AppState;
use crate::web::api_error::json_error;

pub const PATH: &str = "/metrics";

pub async fn scrape(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(token) = &state.settings.metrics_token else {
        // Not registered without a token; answer as if absent should it ever be reached.
        return json_error(StatusCode::NOT_FOUND, "not_found", "There is nothing here.");
    };
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !presented.is_some_and(|p| token.matches(p)) {
        let mut res = json_error(
            StatusCode::UNAUTHORIZED,
            "metrics_token_required",
            "Send the metrics token (KEYWARD_METRICS_TOKEN) as Authorization: Bearer <token>.",
        );
        res.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"keyward metrics\""));
        return res;
    }
    let (in_use, idle, max) = state.db.pool_state();
    state.metrics.set_pool(in_use, idle, max);
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .insert_header(("Cache-Control", "no-store"))
        .body(state.metrics.render())
}
