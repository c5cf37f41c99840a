//! The JSON fallbacks of `/api/` paths (the console has its own HTML 404 page).

use actix_web::HttpResponse;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;

use crate::web::api_error::json_error;

/// An `/api/` path that no endpoint serves.
pub fn api_not_found() -> HttpResponse {
    json_error(StatusCode::NOT_FOUND, "not_found", "No such API endpoint. See the README for the routes.")
}

/// Turns actix's bare 405 on an `/api/` resource into the JSON error body.
pub fn api_method_not_allowed<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let (req, _) = res.into_parts();
    let body = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This endpoint does not accept that HTTP method.",
    );
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, body).map_into_right_body()))
}
