//! Reading a presented key and required permissions from a request, before any lookup.

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};

use super::error::Denial;
use crate::keys::ApiKey;
use crate::keys::scopes::is_valid_scope_id;

/// Longest header value looked at; anything longer is malformed outright.
pub const MAX_KEY_BYTES: usize = 512;
/// Query parameters that look like someone put a key in the URL.
pub const QUERY_KEY_NAMES: [&str; 5] = ["key", "api_key", "apikey", "token", "access_token"];
/// The forward-auth header naming the permissions a route needs (comma-separated).
pub const REQUIRE_HEADER: &str = "x-keyward-require";

/// Refuses a key-like parameter in the query string, whatever its value.
pub fn refuse_key_in_query(query: &str) -> Result<(), Denial> {
    if query.is_empty() {
        return Ok(());
    }
    for (name, _) in url::form_urlencoded::parse(query.as_bytes()) {
        if let Some(found) = QUERY_KEY_NAMES.iter().find(|n| name.eq_ignore_ascii_case(n)) {
            return Err(Denial::KeyInQuery((*found).to_owned()));
        }
    }
    Ok(())
}

/// The key from `X-Api-Key` or `Authorization: Bearer`, parsed and checksummed.
pub fn key_from_headers(headers: &HeaderMap) -> Result<ApiKey, Denial> {
    let mut found: Option<&[u8]> = None;
    let bearer = headers.get_all(AUTHORIZATION).filter_map(|v| {
        let b = v.as_bytes();
        (b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"bearer ")).then(|| &b[7..])
    });
    for value in headers.get_all("x-api-key").map(|v| v.as_bytes()).chain(bearer) {
        let value = trim(value);
        match found {
            None => found = Some(value),
            Some(seen) if seen == value => {}
            Some(_) => return Err(Denial::ConflictingKeys),
        }
    }
    parse_key(found.ok_or(Denial::MissingKey)?)
}

/// Empty, too long, non-ASCII or wrongly shaped input is malformed; no lookup happens.
pub fn parse_key(raw: &[u8]) -> Result<ApiKey, Denial> {
    if raw.is_empty() || raw.len() > MAX_KEY_BYTES || !raw.is_ascii() {
        return Err(Denial::MalformedKey);
    }
    let text = std::str::from_utf8(raw).map_err(|_| Denial::MalformedKey)?;
    ApiKey::parse(text).map_err(|_| Denial::MalformedKey)
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Permissions a forward-auth request needs: `X-Keyward-Require` (comma-separated, may repeat)
/// and `?require=` (comma-separated, may repeat), combined. Any other query parameter is
/// refused.
pub fn required_permissions(req: &HttpRequest) -> Result<Vec<String>, Denial> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |list: &str| -> Result<(), Denial> {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !is_valid_scope_id(item) {
                return Err(Denial::InvalidRequire(item.chars().take(64).collect()));
            }
            if !out.iter().any(|s| s == item) {
                out.push(item.to_owned());
            }
        }
        Ok(())
    };
    for value in req.headers().get_all(REQUIRE_HEADER) {
        add(value.to_str().map_err(|_| Denial::InvalidRequire("(not ASCII)".into()))?)?;
    }
    let query = req.query_string();
    // A key in the URL is the graver mistake, so it is named first.
    refuse_key_in_query(query)?;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name != "require" {
            // A misspelt `require` would otherwise let the request through with no requirement.
            return Err(Denial::UnknownParameter(name.chars().take(64).collect()));
        }
        add(&value)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn either_header_carries_the_key() {
        let key = ApiKey::generate(crate::keys::Environment::Live);
        let k = key.expose().as_bytes();
        assert_eq!(key_from_headers(&headers(&[("x-api-key", k)])).unwrap(), key);
        let bearer = [b"Bearer ".as_slice(), k].concat();
        assert_eq!(key_from_headers(&headers(&[("authorization", &bearer)])).unwrap(), key);
        let lower = [b"bearer ".as_slice(), k].concat();
        assert_eq!(key_from_headers(&headers(&[("authorization", &lower)])).unwrap(), key);
        // The same key twice is fine; two different keys are refused.
        assert!(key_from_headers(&headers(&[("x-api-key", k), ("authorization", &bearer)])).is_ok());
        let other = ApiKey::generate(crate::keys::Environment::Live);
        let other_bearer = [b"Bearer ".as_slice(), other.expose().as_bytes()].concat();
        assert_eq!(
            key_from_headers(&headers(&[("x-api-key", k), ("authorization", &other_bearer)])),
            Err(Denial::ConflictingKeys)
        );
    }

    #[test]
    fn missing_and_malformed_keys_are_told_apart() {
        assert_eq!(key_from_headers(&HeaderMap::new()), Err(Denial::MissingKey));
        assert_eq!(
            key_from_headers(&headers(&[("authorization", b"Basic dXNlcjpwYXNz")])),
            Err(Denial::MissingKey)
        );
        assert_eq!(key_from_headers(&headers(&[("x-api-key", b"")])), Err(Denial::MalformedKey));
        assert_eq!(key_from_headers(&headers(&[("x-api-key", &[b'a'; 600])])), Err(Denial::MalformedKey));
        assert_eq!(
            key_from_headers(&headers(&[("x-api-key", "kw_live_é".as_bytes())])),
            Err(Denial::MalformedKey)
        );
        let key = ApiKey::generate(crate::keys::Environment::Live);
        let mut typo = key.expose().to_owned().into_bytes();
        typo[20] = if typo[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(key_from_headers(&headers(&[("x-api-key", &typo)])), Err(Denial::MalformedKey));
    }

    #[test]
    fn key_like_query_parameters_are_refused() {
        assert!(refuse_key_in_query("").is_ok());
        assert!(refuse_key_in_query("require=records:read&page=2").is_ok());
        for q in ["key=x", "a=1&api_key=", "APIKEY=x", "token=t", "access_token=t"] {
            assert!(matches!(refuse_key_in_query(q), Err(Denial::KeyInQuery(_))), "{q}");
        }
    }
}
