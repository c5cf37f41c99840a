//! CSRF protection. Every state-changing console form is read through [`CsrfForm`], which
//! refuses the request (403, nothing changed) unless the form's `csrf_token` matches the one
//! in the session and any `Origin`/`Referer` header names this site.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::error::ConsoleError;
use super::session::CSRF;
use crate::state::AppState;
use crate::web::site_origin::SiteOrigin;

/// Largest form body accepted by the console.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The session's CSRF token, created on first use (so anonymous forms such as sign-in and
/// setup are covered too).
pub fn token(session: &Session) -> String {
    if let Ok(Some(t)) = session.get::<String>(CSRF) {
        return t;
    }
    let t = crate::text::random_token();
    let _ = session.insert(CSRF, &t);
    t
}

/// A form body of type `T` whose CSRF token and origin have been checked.
pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct TokenOnly {
    csrf_token: Option<String>,
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ConsoleError::PayloadTooLarge
                } else {
                    ConsoleError::BadForm("the request body could not be read".into())
                }
            })?;
            if !same_origin(&req) {
                return Err(ConsoleError::Csrf);
            }
            let expected = req.get_session().get::<String>(CSRF).ok().flatten();
            let given = serde_html_form::from_bytes::<TokenOnly>(&bytes).ok().and_then(|t| t.csrf_token);
            match (expected, given) {
                (Some(e), Some(g)) if bool::from(e.as_bytes().ct_eq(g.as_bytes())) => {}
                _ => return Err(ConsoleError::Csrf),
            }
            serde_html_form::from_bytes::<T>(&bytes)
                .map(CsrfForm)
                .map_err(|e| ConsoleError::BadForm(e.to_string()))
        })
    }
}

/// True unless an `Origin` (or, failing that, `Referer`) header names another site: one that
/// is neither the scheme and host this request came in on nor the configured public URL's.
/// The scheme counts too: a page served over plain HTTP on the same host is another origin.
fn same_origin(req: &HttpRequest) -> bool {
    let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered");
    let ours = SiteOrigin::of_request(req, &state.settings.trusted_proxies);
    let public = state.settings.public_url.as_ref().and_then(SiteOrigin::of_public_url);
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let claimed = match (header("origin"), header("referer")) {
        (Some(origin), _) => origin,
        (None, Some(referer)) => referer,
        (None, None) => return true,
    };
    match url::Url::parse(&claimed) {
        Ok(u) => {
            let authority = match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => return false,
            };
            let is = |site: &SiteOrigin| {
                u.scheme().eq_ignore_ascii_case(&site.scheme)
                    && authority.eq_ignore_ascii_case(&site.authority)
            };
            is(&ours) || public.as_ref().is_some_and(is)
        }
        // `Origin: null` (sandboxed frames, some redirects) and garbage are refused.
        Err(_) => false,
    }
}
