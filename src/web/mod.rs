//! Pieces of the HTTP shell shared by the console and the verifier: security headers,
//! health checks, static files, the fallback pages and the request log.

pub mod api_error;
pub mod assets;
pub mod headers;
pub mod health;
pub mod not_found;
pub mod request_log;
