//! API keys: the domain layer every entry point shares.
//!
//! - [`ops`]: every change to a key (create, regenerate with a grace period, edit, disable and
//!   enable, revoke, delete, bulk revoke and disable, the one-time reveal, a leak report), each one
//!   transaction with its audit event and webhook event, answering a typed [`KeyError`].
//! - `store`, `usage` and `insight` (a key's page: usage by code, client addresses, history):
//!   the key queries. Everything else is pure and unit-tested in place: the secret's format
//!   and hash (and its environment, live or test), names, expiry rules, rate limits,
//!   permissions and IP allowlists.
//!
//! Nothing here knows the web: handlers parse their input into these types, call an
//! operation and render its answer.

pub mod allowlist;
pub mod expiry;
pub mod grace;
pub mod insight;
pub mod management;
pub mod name;
pub mod ops;
pub mod policy;
pub mod rate_limit;
pub mod scopes;
pub mod secret;
pub mod store;
pub mod usage;

pub use crate::text::search_form;
pub use allowlist::{AllowList, AllowListError, AllowedIps};
pub use expiry::Expiry;
pub use grace::Grace;
pub use name::{KeyDescription, KeyName};
pub use ops::{
    Bulk, BulkAction, Gone, Issued, KeyChanges, KeyError, LeakOutcome, LeakReport, Leaked, NewKeyRequest,
};
pub use rate_limit::{Burst, RateLimit};
pub use scopes::{Catalogue, PermissionSet};
pub use secret::{ApiKey, Environment, KeyHash, MalformedKey};
