//! The management API under `/api/v1/manage/`: what the console does to keys, for scripts,
//! CI jobs and Terraform, authenticated by management tokens (`keys::management`).
//!
//! Thin handlers over `keys::ops`, like the console's: [`auth`] turns the bearer token into a
//! caller with scopes, [`problem`] turns every error into RFC 9457 problem details,
//! [`idempotency`] replays the first answer to a retried create or regenerate, and [`openapi`]
//! describes it all (`/api/v1/openapi.json`).

pub mod auth;
pub mod idempotency;
pub mod keys;
pub mod log;
pub mod openapi;
pub mod problem;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{HttpRequest, HttpResponse, web};

use problem::ManageError;

/// The routes, inside the `/api` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/openapi.json", web::get().to(openapi_json)).service(
        web::scope("/v1/manage")
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .app_data(web::JsonConfig::default().error_handler(json_error))
            .route("/keys", web::get().to(keys::list_keys))
            .route("/keys", web::post().to(keys::create_key))
            .route("/keys/{id}", web::get().to(keys::get_key))
            .route("/keys/{id}", web::patch().to(keys::update_key))
            .route("/keys/{id}", web::delete().to(keys::delete_key))
            .route("/keys/{id}/regenerate", web::post().to(keys::regenerate_key))
            .route("/keys/{id}/disable", web::post().to(keys::disable_key))
            .route("/keys/{id}/enable", web::post().to(keys::enable_key))
            .route("/keys/{id}/revoke", web::post().to(keys::revoke_key))
            .route("/keys/{id}/usage", web::get().to(keys::key_usage))
            .route("/audit-log", web::get().to(log::audit_log))
            .route("/members", web::get().to(log::members))
            .default_service(web::to(not_found)),
    );
}

async fn openapi_json(state: web::Data<crate::state::AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(openapi::document_for(&state.catalogue))
}

async fn not_found() -> Result<HttpResponse, ManageError> {
    Err(ManageError::NotFound)
}

fn query_error(e: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ManageError::BadRequest(format!("A query parameter is invalid: {e}")).into()
}

fn path_error(_: PathError, _: &HttpRequest) -> actix_web::Error {
    ManageError::NotFound.into()
}

fn json_error(e: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    ManageError::BadRequest(format!("The body is not valid JSON for this request: {e}")).into()
}
