//! One log line per request: method, path (never the query string), status, time taken.
//! Header values and bodies are never logged, so a key cannot reach the log this way; nor
//! are tokens in a path (an invitation or password-reset link), which become `[token]`.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.path());
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    tracing::info!(
        target: "keyward::request",
        %method,
        path = %path,
        status,
        micros = started.elapsed().as_micros() as u64,
    );
    res
}

/// The path with every segment that looks like a random token ([`crate::text::random_token`]:
/// 32 or more base64url characters) replaced, since a link such as `/invitations/{token}` is
/// itself the credential. Ids, names of static files and words are never that long and plain.
fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let token_like = segment.len() >= 32
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if token_like { "[token]" } else { segment }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_a_path_are_not_logged() {
        let token = crate::text::random_token();
        assert_eq!(loggable_path(&format!("/invitations/{token}")), "/invitations/[token]");
        assert_eq!(loggable_path("/settings/api-keys/12/reveal"), "/settings/api-keys/12/reveal");
        assert_eq!(
            loggable_path("/static/app.0123456789abcdef0123456789abcdef.css"),
            "/static/app.0123456789abcdef0123456789abcdef.css"
        );
        assert_eq!(loggable_path("/"), "/");
    }
}
