//! Liveness and readiness probes for load balancers and orchestrators.

use std::future::Future;
use std::pin::Pin;

use actix_web::{HttpResponse, get, web};

use crate::state::AppState;
use crate::web::api_error::json_error;

/// Where per-key rate limits are kept right now, for `/readyz` to report. The verifier answers
/// it (it sits above this layer; `startup` hands it in).
pub trait RateLimitReport: Send + Sync {
    /// `memory`, `redis` or `memory (redis unreachable)`.
    fn rate_limits(&self) -> Pin<Box<dyn Future<Output = &'static str> + Send + '_>>;
}

/// Alive: the process answers. Never touches the database.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({"status": "ok"}))
}

/// Ready: a database connection can be had and answers. Where rate limits are kept, and
/// whether verifications are answered from memory, are reported, never reasons to be unready:
/// without Redis each instance still limits keys, and without its lease an instance still
/// answers every verification from the database.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>, limits: web::Data<dyn RateLimitReport>) -> HttpResponse {
    if state.db.is_ready().await {
        HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({
            "status": "ready",
            "database": state.db.url().backend_name(),
            "rate_limits": limits.rate_limits().await,
            "key_cache": state.db.key_cache_mode(),
        }))
    } else {
        json_error(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The database cannot be reached.",
        )
    }
}
