//! Pure code about keys: the secret's format and hash, names, expiry rules and permissions.
//! Nothing here but `store` (the key queries) touches the database, and nothing touches the
//! web, so all of it is unit-tested in place.

pub mod expiry;
pub mod name;
pub mod scopes;
pub mod secret;
pub mod store;

pub use expiry::Expiry;
pub use name::{KeyName, search_form};
pub use scopes::{Catalogue, PermissionSet};
pub use secret::{ApiKey, KeyHash, MalformedKey};
