//! Who is calling: the management token in `Authorization: Bearer`, as a [`Caller`] with its
//! workspace, scopes and audit actor.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{AUTHORIZATION, USER_AGENT};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::problem::ManageError;
use crate::keys::management::{self, Principal, TokenRefusal, TokenScope};
use crate::keys::secret::{LIVE_PREFIX, TEST_PREFIX};
use crate::state::AppState;
use crate::web::client_ip::client_ip;

/// An authenticated management request.
pub struct Caller(pub Principal);

impl Caller {
    /// The caller, if its token has `scope`; else 403 with the scope named.
    pub fn require(&self, scope: TokenScope) -> Result<&Principal, ManageError> {
        if self.0.scopes.allows(scope) { Ok(&self.0) } else { Err(ManageError::InsufficientScope(scope)) }
    }
}

/// The bearer credential, as sent: `None` when there is none.
fn presented(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credential) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credential.trim().to_owned())
}

impl FromRequest for Caller {
    type Error = ManageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ManageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone();
            // An API key in either place the verifier reads: say plainly what to use instead.
            let credential = presented(&req);
            let api_key = |s: &str| s.starts_with(LIVE_PREFIX) || s.starts_with(TEST_PREFIX);
            if credential.as_deref().is_some_and(api_key) || req.headers().contains_key("x-api-key") {
                return Err(ManageError::ApiKeyNotAccepted);
            }
            let credential = credential.ok_or(ManageError::Unauthenticated)?;
            let mut principal = match management::authenticate(&state.db, &credential).await {
                Ok(principal) => principal,
                Err(TokenRefusal::Db(e)) => return Err(ManageError::Db(e)),
                Err(refusal) => {
                    tracing::info!(reason = %refusal, "management token refused");
                    return Err(ManageError::Unauthenticated);
                }
            };
            principal.actor.ip = client_ip(&req, &state.settings.trusted_proxies).map(|ip| ip.to_string());
            principal.actor.user_agent =
                req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
            Ok(Caller(principal))
        })
    }
}
