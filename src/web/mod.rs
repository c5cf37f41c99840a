//! Pieces of the HTTP shell shared by the console and the verifier: security headers,
//! health checks, the metrics scrape, JSON errors and fallbacks, the request log, the deadline for request bodies,
//! who the client is and which origin the site has. Nothing here knows the console or the
//! verifier.

pub mod api_error;
pub mod body_deadline;
pub mod client_ip;
pub mod headers;
pub mod health;
pub mod host_check;
pub mod metrics;
pub mod not_found;
pub mod request_log;
pub mod site_origin;
