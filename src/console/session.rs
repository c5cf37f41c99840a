//! A typed view of the encrypted session cookie. Only ids and short-lived values live here:
//! who is signed in (and which `user_sessions` row vouches for it), the current workspace,
//! the CSRF token, pending flash messages and, for one request, a key or an invitation link to
//! reveal.

use actix_session::{Session, SessionExt, SessionInsertError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};
use std::future::{Ready, ready};

const USER_ID: &str = "uid";
const SESSION_ID: &str = "sid";
const WORKSPACE_ID: &str = "ws";
pub(crate) const CSRF: &str = "csrf";
pub(crate) const FLASH: &str = "flash";
const REVEAL: &str = "reveal";
const INVITATION_LINK: &str = "invite";
const WEBHOOK_SECRET: &str = "whsecret";
const MANAGEMENT_TOKEN: &str = "mgmttoken";

pub struct TypedSession(Session);

/// A freshly issued key waiting for its reveal page. Removed as the page renders.
#[derive(Serialize, Deserialize)]
pub struct PendingReveal {
    pub key_id: i64,
    pub secret: String,
}

/// A fresh invitation link waiting for the page that shows it once, and what became of its
/// email. Removed as the page renders.
#[derive(Serialize, Deserialize)]
pub struct PendingInvitationLink {
    pub invitation_id: i64,
    pub link: String,
    pub delivery: Delivery,
    /// An earlier pending invitation of the same email was revoked for this one.
    pub replaced: bool,
}

pub use crate::mail::Delivery;

/// A webhook endpoint's new signing secret waiting for the page that shows it once.
#[derive(Serialize, Deserialize)]
pub struct PendingWebhookSecret {
    pub endpoint_id: i64,
    pub secret: String,
}

/// A new management token waiting for the page that shows it once.
#[derive(Serialize, Deserialize)]
pub struct PendingToken {
    pub token_id: i64,
    pub token: String,
}

impl TypedSession {
    pub fn inner(&self) -> &Session {
        &self.0
    }

    /// Signs in: a new cookie identity, a new CSRF token, the server-side session row id.
    pub fn sign_in(
        &self,
        user_id: i64,
        session_id: &str,
        workspace_id: Option<i64>,
    ) -> Result<(), SessionInsertError> {
        self.0.renew();
        self.0.clear();
        self.0.insert(USER_ID, user_id)?;
        self.0.insert(SESSION_ID, session_id)?;
        // None: an account with no workspace left, which may still accept an invitation.
        if let Some(workspace_id) = workspace_id {
            self.0.insert(WORKSPACE_ID, workspace_id)?;
        }
        self.0.insert(CSRF, crate::text::random_token())?;
        Ok(())
    }

    pub fn user_id(&self) -> Option<i64> {
        self.0.get(USER_ID).ok().flatten()
    }

    pub fn session_id(&self) -> Option<String> {
        self.0.get(SESSION_ID).ok().flatten()
    }

    pub fn workspace_id(&self) -> Option<i64> {
        self.0.get(WORKSPACE_ID).ok().flatten()
    }

    pub fn set_workspace_id(&self, id: i64) -> Result<(), SessionInsertError> {
        self.0.insert(WORKSPACE_ID, id)
    }

    pub fn set_pending_reveal(&self, reveal: &PendingReveal) -> Result<(), SessionInsertError> {
        self.0.insert(REVEAL, reveal)
    }

    /// Takes the pending key out of the session if it belongs to `key_id`.
    pub fn take_pending_reveal(&self, key_id: i64) -> Option<String> {
        let pending: PendingReveal = self.0.get(REVEAL).ok().flatten()?;
        self.0.remove(REVEAL);
        (pending.key_id == key_id).then_some(pending.secret)
    }

    pub fn set_pending_invitation_link(
        &self,
        pending: &PendingInvitationLink,
    ) -> Result<(), SessionInsertError> {
        self.0.insert(INVITATION_LINK, pending)
    }

    /// Takes the pending invitation link out of the session if it belongs to `invitation_id`.
    pub fn take_pending_invitation_link(&self, invitation_id: i64) -> Option<PendingInvitationLink> {
        let pending: PendingInvitationLink = self.0.get(INVITATION_LINK).ok().flatten()?;
        self.0.remove(INVITATION_LINK);
        (pending.invitation_id == invitation_id).then_some(pending)
    }

    pub fn set_pending_webhook_secret(
        &self,
        pending: &PendingWebhookSecret,
    ) -> Result<(), SessionInsertError> {
        self.0.insert(WEBHOOK_SECRET, pending)
    }

    /// Takes the pending signing secret out of the session if it belongs to `endpoint_id`.
    pub fn take_pending_webhook_secret(&self, endpoint_id: i64) -> Option<String> {
        let pending: PendingWebhookSecret = self.0.get(WEBHOOK_SECRET).ok().flatten()?;
        self.0.remove(WEBHOOK_SECRET);
        (pending.endpoint_id == endpoint_id).then_some(pending.secret)
    }

    /// Keeps a new management token for the page that shows it once.
    pub fn set_pending_token(&self, pending: &PendingToken) -> Result<(), SessionInsertError> {
        self.0.insert(MANAGEMENT_TOKEN, pending)
    }

    /// Takes the pending management token out of the session if it is `token_id`'s.
    pub fn take_pending_token(&self, token_id: i64) -> Option<String> {
        let pending: PendingToken = self.0.get(MANAGEMENT_TOKEN).ok().flatten()?;
        self.0.remove(MANAGEMENT_TOKEN);
        (pending.token_id == token_id).then_some(pending.token)
    }

    /// Signs out: the cookie is emptied and expired.
    pub fn purge(&self) {
        self.0.purge();
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(req.get_session())))
    }
}
