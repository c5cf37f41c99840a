//! Liveness and readiness probes for load balancers and orchestrators.

use actix_web::{HttpResponse, get, web};

use crate::state::AppState;
use crate::web::api_error::json_error;

/// Alive: the process answers. Never touches the database.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({"status": "ok"}))
}

/// Ready: a database connection can be had and answers.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.db.is_ready().await {
        HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({"status": "ready", "database": state.db.url().backend_name()}))
    } else {
        json_error(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The database cannot be reached.",
        )
    }
}
