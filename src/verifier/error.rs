//! Every way a verification can fail, with its HTTP status, machine code and a message a
//! developer can act on.

use actix_web::http::StatusCode;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No `X-Api-Key` and no `Authorization: Bearer` header.
    MissingKey,
    /// Empty, too long, not ASCII, or not the shape of a keyward key (checked without the database).
    MalformedKey,
    /// Both headers present with different keys.
    ConflictingKeys,
    /// A key-like query parameter (`?key=`, `?api_key=`, …).
    KeyInQuery(String),
    /// A required permission that is not a valid scope id.
    InvalidRequire(String),
    /// A query parameter forward-auth does not know (only `require` is).
    UnknownParameter(String),
    /// A request body that is not the expected JSON.
    InvalidBody(String),
    /// The verify body's `ip` is not an IP address (as given, cut short).
    InvalidIp(String),
    UnknownKey,
    RevokedKey,
    ExpiredKey,
    /// Disabled by a workspace admin: stopped until it is enabled again.
    DisabledKey,
    InsufficientPermission(Vec<String>),
    /// The client's address is outside the key's IP allowlist (the address, as seen).
    IpNotAllowed(Option<String>),
    RateLimited {
        retry_after: u64,
    },
    /// The database cannot be reached: the verifier fails closed.
    Unavailable,
}

impl Denial {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::ConflictingKeys
            | Self::KeyInQuery(_)
            | Self::InvalidRequire(_)
            | Self::UnknownParameter(_)
            | Self::InvalidBody(_)
            | Self::InvalidIp(_) => StatusCode::BAD_REQUEST,
            Self::MissingKey
            | Self::MalformedKey
            | Self::UnknownKey
            | Self::RevokedKey
            | Self::ExpiredKey
            | Self::DisabledKey => StatusCode::UNAUTHORIZED,
            Self::InsufficientPermission(_) | Self::IpNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingKey => "missing_key",
            Self::MalformedKey => "malformed_key",
            Self::ConflictingKeys => "conflicting_keys",
            Self::KeyInQuery(_) => "key_in_query",
            Self::InvalidRequire(_) => "invalid_permission",
            Self::UnknownParameter(_) => "unknown_parameter",
            Self::InvalidBody(_) => "invalid_body",
            Self::InvalidIp(_) => "invalid_ip",
            Self::UnknownKey => "unknown_key",
            Self::RevokedKey => "revoked_key",
            Self::ExpiredKey => "expired_key",
            Self::DisabledKey => "disabled_key",
            Self::InsufficientPermission(_) => "insufficient_permission",
            Self::IpNotAllowed(_) => "ip_not_allowed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::MissingKey => {
                "No API key was sent. Send it in the X-Api-Key header or as Authorization: Bearer <key>."
                    .into()
            }
            Self::MalformedKey => {
                "The API key is not a valid keyward key: it should be kw_live_ or kw_test_ followed \
                by 38 letters and digits. Check that it was copied whole, without spaces or quotes."
                    .into()
            }
            Self::ConflictingKeys => {
                "X-Api-Key and Authorization: Bearer carry different keys. Send one key, \
                in one of the two headers."
                    .into()
            }
            Self::KeyInQuery(name) => format!(
                "Do not put API keys in the URL (query parameter `{name}`): URLs end up in logs and browser \
                 history. Send the key in the X-Api-Key header instead, and regenerate this key if the URL \
                 was shared or logged."
            ),
            Self::InvalidRequire(what) => format!(
                "`{what}` is not a valid permission: use ids like records:read (a-z, 0-9, `:`, `.`, `_`, `-`)."
            ),
            Self::UnknownParameter(name) => format!(
                "`{name}` is not a parameter of the forward-auth endpoint: the only one is `require`, \
                 e.g. ?require=records:read (or send the X-Keyward-Require header)."
            ),
            Self::InvalidBody(why) => format!(
                "The request body must be JSON like {{\"key\": \"kw_live_…\", \"permissions\": [\"records:read\"]}}: {why}"
            ),
            Self::InvalidIp(ip) => format!(
                "`{ip}` is not an IP address: `ip` must be the address of your client, like \
                 203.0.113.7 or 2001:db8::7, without a port or a prefix length."
            ),
            Self::UnknownKey => "This API key does not exist. It may have been deleted or regenerated; \
                ask a workspace admin for a current key."
                .into(),
            Self::RevokedKey => "This API key has been revoked. Ask a workspace admin for a new key.".into(),
            Self::ExpiredKey => {
                "This API key has expired. Ask a workspace admin for a new key or a longer-lived one.".into()
            }
            Self::DisabledKey => {
                "This API key has been disabled by a workspace admin. It works again once they enable it."
                    .into()
            }
            Self::InsufficientPermission(missing) => format!(
                "This API key lacks the permission {} needed here. Ask a workspace admin for a key that has it.",
                missing.join(", ")
            ),
            Self::IpNotAllowed(Some(ip)) => format!(
                "This API key may not be used from {ip}: the address is outside the key's IP allowlist. \
                 Ask a workspace admin to add it."
            ),
            Self::IpNotAllowed(None) => "This API key may only be used from the addresses on its IP \
                allowlist, and this request's address is not known. Ask a workspace admin."
                .into(),
            Self::RateLimited { retry_after } => format!(
                "Too many requests with this API key. Retry after {retry_after} second{}.",
                if *retry_after == 1 { "" } else { "s" }
            ),
            Self::Unavailable => {
                "Keys cannot be checked right now because the database is unreachable. Retry shortly.".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metrics count verifications by code from a fixed list: a new code must join it, or
    /// it would be counted as `other`.
    #[test]
    fn every_code_has_its_own_metrics_series() {
        let all = [
            Denial::MissingKey,
            Denial::MalformedKey,
            Denial::ConflictingKeys,
            Denial::KeyInQuery("key".into()),
            Denial::InvalidRequire("x".into()),
            Denial::UnknownParameter("x".into()),
            Denial::InvalidBody("x".into()),
            Denial::InvalidIp("x".into()),
            Denial::UnknownKey,
            Denial::RevokedKey,
            Denial::ExpiredKey,
            Denial::DisabledKey,
            Denial::InsufficientPermission(vec![]),
            Denial::IpNotAllowed(None),
            Denial::RateLimited { retry_after: 1 },
            Denial::Unavailable,
        ];
        for d in all {
            // A new variant makes this match fail to compile, pointing here.
            match d {
                Denial::MissingKey
                | Denial::MalformedKey
                | Denial::ConflictingKeys
                | Denial::KeyInQuery(_)
                | Denial::InvalidRequire(_)
                | Denial::UnknownParameter(_)
                | Denial::InvalidBody(_)
                | Denial::InvalidIp(_)
                | Denial::UnknownKey
                | Denial::RevokedKey
                | Denial::ExpiredKey
                | Denial::DisabledKey
                | Denial::InsufficientPermission(_)
                | Denial::IpNotAllowed(_)
                | Denial::RateLimited { .. }
                | Denial::Unavailable => {}
            }
            assert!(crate::metrics::OUTCOMES.contains(&d.code()), "{} is not in metrics::OUTCOMES", d.code());
        }
    }
}
