//! Fallbacks: JSON for `/api/` paths, the HTML 404 page elsewhere.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse};

use crate::console::pages::render_not_found;
use crate::web::api_error::json_error;

/// The app's default service.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        json_error(StatusCode::NOT_FOUND, "not_found", "No such API endpoint. See the README for the routes.")
    } else {
        render_not_found(&req).await
    }
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
