//! Management tokens: what scripts, CI jobs and Terraform present to the management API.
//!
//! A token belongs to a workspace (not to the owner who made it, so it keeps working when they
//! leave, as Stripe's and Cloudflare's account tokens do) and carries scopes: `keys:read`,
//! `keys:write`, `members:read`. It looks like an API key with its own prefix, `kw_mgmt_` + 32
//! random base62 characters + a checksum, so secret scanners tell the two apart, and it is
//! stored the same way: SHA-256 and the last four characters. Only owners make and revoke
//! tokens, in the console; no token can make or change one, so a leaked token cannot mint
//! itself a successor.

use std::fmt;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};

use super::secret::{MalformedKey, check_shape, masked, random_secret};
use super::{Expiry, KeyHash, KeyName};
use crate::audit::{self, Actor, Event};
use crate::db::schema::management_tokens;
use crate::db::{Db, DbConnection, DbError};

/// The prefix of management tokens (the length of the API keys' prefixes).
pub const TOKEN_PREFIX: &str = "kw_mgmt_";

/// How long after its last recorded use a token's `last_used_at` is written again: one write
/// per token per minute at most, however busy the script.
const LAST_USED_EVERY_SECONDS: i64 = 60;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenScope {
    KeysRead,
    KeysWrite,
    MembersRead,
}

impl TokenScope {
    pub const ALL: [TokenScope; 3] = [Self::KeysRead, Self::KeysWrite, Self::MembersRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeysRead => "keys:read",
            Self::KeysWrite => "keys:write",
            Self::MembersRead => "members:read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s.trim())
    }

    /// What the console's picker says about it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::KeysRead => "List keys and read their details, usage and the audit log",
            Self::KeysWrite => {
                "Create, edit, regenerate, disable, enable, revoke and delete keys (includes keys:read)"
            }
            Self::MembersRead => "List the workspace's members and their roles",
        }
    }
}

/// A token's scopes: at least one, each once. `keys:write` implies `keys:read` (a script that
/// may change a key may see it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenScopes(Vec<TokenScope>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenScopesError {
    #[error("Choose at least one scope.")]
    Empty,
    #[error("Unknown scope `{0}`.")]
    Unknown(String),
}

impl TokenScopes {
    pub fn parse<'a>(choices: impl IntoIterator<Item = &'a str>) -> Result<Self, TokenScopesError> {
        let mut scopes = Vec::new();
        for choice in choices.into_iter().map(str::trim).filter(|c| !c.is_empty()) {
            let scope =
                TokenScope::parse(choice).ok_or_else(|| TokenScopesError::Unknown(choice.to_owned()))?;
            scopes.push(scope);
        }
        if scopes.contains(&TokenScope::KeysWrite) {
            scopes.push(TokenScope::KeysRead);
        }
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(TokenScopesError::Empty);
        }
        Ok(Self(scopes))
    }

    /// The stored form: space-separated. Unknown words (from a later version) are dropped, so
    /// they grant nothing.
    pub fn from_stored(text: &str) -> Self {
        let mut scopes: Vec<TokenScope> = text.split_whitespace().filter_map(TokenScope::parse).collect();
        scopes.sort_unstable();
        scopes.dedup();
        Self(scopes)
    }

    pub fn to_stored(&self) -> String {
        self.iter().map(TokenScope::as_str).collect::<Vec<_>>().join(" ")
    }

    pub fn allows(&self, scope: TokenScope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = TokenScope> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for TokenScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iter().map(TokenScope::as_str).collect::<Vec<_>>().join(", "))
    }
}

/// A full management token. Like [`super::ApiKey`]: in memory only between generation and the
/// response that reveals it, and while a presented token is checked; never printed by `Debug`.
pub struct ManagementToken(SecretString);

impl ManagementToken {
    pub fn generate() -> Self {
        Self(random_secret(TOKEN_PREFIX))
    }

    /// Exactly the shape [`ManagementToken::generate`] makes, with a matching checksum.
    pub fn parse(raw: &str) -> Result<Self, MalformedKey> {
        check_shape(raw, &[TOKEN_PREFIX])?;
        Ok(Self(raw.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self.expose())
    }

    pub fn last4(&self) -> &str {
        let s = self.expose();
        &s[s.len() - 4..]
    }
}

impl fmt::Debug for ManagementToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManagementToken({})", masked(TOKEN_PREFIX, self.last4()))
    }
}

/// A stored token, as the console's list shows it.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = management_tokens)]
pub struct TokenRow {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub last4: String,
    pub scopes: String,
    pub created_by_label: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
        }
    }
}

impl TokenRow {
    pub fn status(&self, now: NaiveDateTime) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    pub fn masked(&self) -> String {
        masked(TOKEN_PREFIX, &self.last4)
    }

    pub fn scopes(&self) -> TokenScopes {
        TokenScopes::from_stored(&self.scopes)
    }
}

/// What a new token is made of (validated at the edge).
#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: KeyName,
    pub scopes: TokenScopes,
    pub expiry: Expiry,
}

/// Who called the management API: the token's workspace and scopes, and the actor its changes
/// are audited under.
#[derive(Clone, Debug)]
pub struct Principal {
    pub token_id: i64,
    pub workspace_id: i64,
    pub scopes: TokenScopes,
    pub actor: Actor,
}

/// Why a presented token was refused. The API answers every one with the same 401, so a
/// caller learns nothing about which tokens exist; the variants are for the log.
#[derive(Debug, thiserror::Error)]
pub enum TokenRefusal {
    #[error("not a management token")]
    Malformed,
    #[error("no such management token")]
    Unknown,
    #[error("the management token was revoked")]
    Revoked,
    #[error("the management token has expired")]
    Expired,
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("There is no such management token in this workspace.")]
    NotFound,
    #[error("\u{201c}{name}\u{201d} is already revoked.")]
    AlreadyRevoked { name: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for TokenError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// The actor label of a token's changes in the audit log.
pub fn actor_label(name: &str, last4: &str) -> String {
    format!("token \u{201c}{name}\u{201d} ({})", masked(TOKEN_PREFIX, last4))
}

#[derive(Insertable)]
#[diesel(table_name = management_tokens)]
struct NewTokenRow<'a> {
    workspace_id: i64,
    name: &'a str,
    token_hash: &'a str,
    last4: &'a str,
    scopes: &'a str,
    created_by: Option<i64>,
    created_by_label: &'a str,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
}

/// Makes a token; the returned secret is shown once and never again.
pub async fn create(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    request: NewToken,
) -> Result<(i64, ManagementToken), TokenError> {
    let token = ManagementToken::generate();
    let (hash, last4) = (token.hash(), token.last4().to_owned());
    let actor = actor.clone();
    let id = db
        .write(move |conn| -> Result<i64, TokenError> {
            let now = Utc::now().naive_utc();
            let expires_at = request.expiry.expires_at(now);
            let scopes = request.scopes.to_stored();
            let id = diesel::insert_into(management_tokens::table)
                .values(NewTokenRow {
                    workspace_id,
                    name: request.name.as_str(),
                    token_hash: hash.as_str(),
                    last4: &last4,
                    scopes: &scopes,
                    created_by: actor.user_id,
                    created_by_label: &actor.label,
                    created_at: now,
                    expires_at,
                })
                .returning(management_tokens::id)
                .get_result(conn)?;
            let details = format!(
                "Management token \u{201c}{}\u{201d} ({}). Scopes: {}; expires: {}",
                request.name.as_str(),
                masked(TOKEN_PREFIX, &last4),
                request.scopes,
                expires_at.map_or_else(|| "never".to_owned(), crate::text::exact_utc),
            );
            let event =
                Event { workspace_id: Some(workspace_id), action: "token.created", key: None, details };
            audit::record(conn, &actor, event, now)?;
            Ok(id)
        })
        .await?;
    Ok((id, token))
}

/// The workspace's tokens, newest first, revoked ones included.
pub async fn list(db: &Db, workspace_id: i64) -> Result<Vec<TokenRow>, TokenError> {
    db.run(move |conn| {
        management_tokens::table
            .filter(management_tokens::workspace_id.eq(workspace_id))
            .select(TokenRow::as_select())
            .order(management_tokens::id.desc())
            .load(conn)
            .map_err(TokenError::from)
    })
    .await
}

/// One token of the workspace, or [`TokenError::NotFound`].
pub async fn find(db: &Db, workspace_id: i64, id: i64) -> Result<TokenRow, TokenError> {
    db.run(move |conn| find_in(conn, workspace_id, id)).await
}

fn find_in(conn: &mut DbConnection, workspace_id: i64, id: i64) -> Result<TokenRow, TokenError> {
    management_tokens::table
        .filter(management_tokens::workspace_id.eq(workspace_id))
        .filter(management_tokens::id.eq(id))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(TokenError::NotFound)
}

/// Revokes the token unless it already is; false when it was.
fn revoke_row(conn: &mut DbConnection, id: i64, by: Option<i64>, now: NaiveDateTime) -> QueryResult<bool> {
    let unrevoked = management_tokens::table
        .filter(management_tokens::id.eq(id))
        .filter(management_tokens::revoked_at.is_null());
    let changed = diesel::update(unrevoked)
        .set((management_tokens::revoked_at.eq(now), management_tokens::revoked_by.eq(by)))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Revokes a token: its next request is refused.
pub async fn revoke(db: &Db, actor: &Actor, workspace_id: i64, id: i64) -> Result<TokenRow, TokenError> {
    let actor = actor.clone();
    db.write(move |conn| -> Result<TokenRow, TokenError> {
        let now = Utc::now().naive_utc();
        let row = find_in(conn, workspace_id, id)?;
        if !revoke_row(conn, id, actor.user_id, now)? {
            return Err(TokenError::AlreadyRevoked { name: row.name });
        }
        let details = format!("Management token \u{201c}{}\u{201d} ({})", row.name, row.masked());
        let event = Event { workspace_id: Some(workspace_id), action: "token.revoked", key: None, details };
        audit::record(conn, &actor, event, now)?;
        Ok(TokenRow { revoked_at: Some(now), ..row })
    })
    .await
}

/// What a leak report did to a management token.
#[derive(Debug)]
pub enum TokenLeak {
    /// Revoked now; the row as it was.
    Revoked(TokenRow),
    AlreadyRevoked,
    /// No token has that secret.
    Unknown,
}

/// A secret scanner found `token` in public: it is revoked at once (expired too, as keys are),
/// audited as `token.leaked` with where it was found.
pub async fn report_leaked(
    db: &Db,
    actor: &Actor,
    token: &ManagementToken,
    report: super::ops::LeakReport,
) -> Result<TokenLeak, TokenError> {
    let (actor, hash) = (actor.clone(), token.hash());
    db.write(move |conn| -> Result<TokenLeak, TokenError> {
        let now = Utc::now().naive_utc();
        let Some(row) = management_tokens::table
            .filter(management_tokens::token_hash.eq(hash.as_str()))
            .select(TokenRow::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(TokenLeak::Unknown);
        };
        if !revoke_row(conn, row.id, actor.user_id, now)? {
            return Ok(TokenLeak::AlreadyRevoked);
        }
        let details = format!(
            "Management token \u{201c}{}\u{201d} ({}) was reported found in public and revoked. {}",
            row.name,
            row.masked(),
            report.describe()
        );
        let event =
            Event { workspace_id: Some(row.workspace_id), action: "token.leaked", key: None, details };
        audit::record(conn, &actor, event, now)?;
        Ok(TokenLeak::Revoked(row))
    })
    .await
}

/// The caller of a management request, from the token it presented. The hash lookup is by a
/// unique index, so it compares the whole digest in the database rather than in a loop here;
/// the time it takes does not depend on how much of a guess matched.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Principal, TokenRefusal> {
    let token = ManagementToken::parse(presented).map_err(|_| TokenRefusal::Malformed)?;
    let hash = token.hash();
    let row = db
        .run(move |conn| -> Result<Option<TokenRow>, DbError> {
            Ok(management_tokens::table
                .filter(management_tokens::token_hash.eq(hash.as_str()))
                .select(TokenRow::as_select())
                .first(conn)
                .optional()?)
        })
        .await?
        .ok_or(TokenRefusal::Unknown)?;
    let now = Utc::now().naive_utc();
    match row.status(now) {
        TokenStatus::Active => {}
        TokenStatus::Revoked => return Err(TokenRefusal::Revoked),
        TokenStatus::Expired => return Err(TokenRefusal::Expired),
    }
    if row.last_used_at.is_none_or(|t| (now - t).num_seconds() >= LAST_USED_EVERY_SECONDS) {
        let id = row.id;
        let written = db
            .write(move |conn| -> Result<usize, DbError> {
                Ok(diesel::update(management_tokens::table.filter(management_tokens::id.eq(id)))
                    .set(management_tokens::last_used_at.eq(now))
                    .execute(conn)?)
            })
            .await;
        // A courtesy for the token list: a failure to note it must not refuse the request.
        if let Err(error) = written {
            tracing::warn!(%error, "could not record a management token's last use");
        }
    }
    // The system as far as policies go: only owners make tokens, and no policy restricts
    // owners, so a token may do what its maker could.
    let actor =
        Actor { user_id: None, label: actor_label(&row.name, &row.last4), ip: None, user_agent: None };
    Ok(Principal { token_id: row.id, workspace_id: row.workspace_id, scopes: row.scopes(), actor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_has_the_key_shape_with_its_own_prefix() {
        let token = ManagementToken::generate();
        let s = token.expose();
        assert_eq!(s.len(), super::super::secret::KEY_LEN);
        assert!(s.starts_with("kw_mgmt_"));
        assert!(ManagementToken::parse(s).is_ok());
        // Not an API key, and an API key is not a token.
        assert_eq!(super::super::ApiKey::parse(s).unwrap_err(), MalformedKey::Prefix);
        let key = super::super::ApiKey::generate(super::super::Environment::Live);
        assert_eq!(ManagementToken::parse(key.expose()).unwrap_err(), MalformedKey::Prefix);
        // Relabelled, the checksum fails.
        let relabelled = s.replacen("kw_mgmt_", "kw_live_", 1);
        assert_eq!(super::super::ApiKey::parse(&relabelled).unwrap_err(), MalformedKey::Checksum);
        assert!(!format!("{token:?}").contains(&s[8..]));
    }

    #[test]
    fn scopes_parse_imply_read_from_write_and_refuse_unknown_ones() {
        let s = TokenScopes::parse(["keys:write"]).unwrap();
        assert!(s.allows(TokenScope::KeysRead) && s.allows(TokenScope::KeysWrite));
        assert!(!s.allows(TokenScope::MembersRead));
        assert_eq!(s.to_stored(), "keys:read keys:write");
        assert_eq!(TokenScopes::parse(["", " "]), Err(TokenScopesError::Empty));
        assert_eq!(TokenScopes::parse(["keys:admin"]), Err(TokenScopesError::Unknown("keys:admin".into())));
        assert_eq!(
            TokenScopes::from_stored("members:read tokens:write"),
            TokenScopes(vec![TokenScope::MembersRead])
        );
    }
}
