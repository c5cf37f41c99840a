//! The stylesheet and script, compiled into the binary so it runs from any folder.
//! Their URLs carry a content hash, so they can be cached for a year.

use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, get, web};
use sha2::{Digest, Sha256};

use crate::web::not_found::not_found;

const APP_CSS: &str = include_str!("../../static/app.css");
const APP_JS: &str = include_str!("../../static/app.js");

/// A short hash of both assets, appended as `?v=` by the layout.
pub static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    h.update(APP_CSS);
    h.update(APP_JS);
    hex::encode(&h.finalize()[..6])
});

#[get("/static/{file}")]
pub async fn asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let (body, mime) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        // The same HTML 404 page as any other unknown address outside `/api/`.
        _ => return not_found(req).await,
    };
    HttpResponse::Ok()
        .content_type(mime)
        .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
        .body(body)
}
