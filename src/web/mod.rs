//! Pieces of the HTTP shell shared by the console and the verifier: security headers,
//! health checks, static files, the fallback pages, the request log and who the client is.

pub mod api_error;
pub mod assets;
pub mod client_ip;
pub mod headers;
pub mod health;
pub mod not_found;
pub mod request_log;
pub mod site_origin;
