//! Security headers on every response, whatever produced it (pages, JSON, static, errors).
//! Each is added only where the response has not set its own.

use actix_web::middleware::DefaultHeaders;

/// No inline script or style anywhere, so the policy can be this strict.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=()"))
        // Console pages name keys, members and addresses: nothing may keep a copy, not even the
        // back/forward cache after signing out. The static assets set their own (a year).
        .add(("Cache-Control", "no-store"))
}

/// A year: browsers that once reached the console over TLS refuse plain HTTP to it from then
/// on. Only sent when the public URL is https (then the browser really talks TLS). Without
/// `includeSubDomains`: other services on sibling hosts are not ours to decide for.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// HSTS, for a public URL that is https.
pub fn strict_transport() -> DefaultHeaders {
    DefaultHeaders::new().add(("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY))
}

/// The session cookie's name. Over TLS the `__Host-` prefix makes the browser refuse the cookie
/// unless it is `Secure`, has `Path=/` and no `Domain`: a sibling subdomain cannot plant or
/// shadow it.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-keyward_session" } else { "keyward_session" }
}
