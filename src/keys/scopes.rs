//! Permissions: the scope catalogue offered by the picker, and the set a key holds.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

/// Stored in place of a list when a key may do everything.
pub const FULL_ACCESS: &str = "*";

/// One permission, e.g. `records:read`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Scope {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub description: String,
}

/// Scopes that belong together in the picker, e.g. *Records*.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ScopeGroup {
    pub name: String,
    #[serde(rename = "scope")]
    pub scopes: Vec<Scope>,
}

/// Every scope an operator's API knows, grouped for the picker.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Catalogue {
    #[serde(rename = "group")]
    pub groups: Vec<ScopeGroup>,
}

const DEFAULT_CATALOGUE: &str = r#"
[[group]]
name = "Records"
[[group.scope]]
id = "records:read"
label = "Read records"
description = "List and fetch records."
[[group.scope]]
id = "records:write"
label = "Create & update records"
description = "Create new records and change existing ones."
[[group.scope]]
id = "records:delete"
label = "Delete records"
description = "Permanently delete records."

[[group]]
name = "Files"
[[group.scope]]
id = "files:read"
label = "Read files"
description = "List and download files."
[[group.scope]]
id = "files:upload"
label = "Upload files"
description = "Upload new files and replace existing ones."
"#;

impl Default for Catalogue {
    fn default() -> Self {
        Self::from_toml(DEFAULT_CATALOGUE).expect("the built-in catalogue is valid")
    }
}

/// Why a scope catalogue was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read scope catalogue {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("scope catalogue {path}: {error}")]
    InFile { path: String, error: Box<CatalogueError> },
    #[error("{0}")]
    Toml(String),
    #[error("scope id `{0}` must be 1-64 characters of a-z, 0-9, `:`, `.`, `_`, `-`")]
    BadId(String),
    #[error("scope id `{0}` appears twice")]
    Duplicate(String),
    #[error("the catalogue defines no scopes")]
    Empty,
}

impl Catalogue {
    /// Reads and checks a catalogue file (`KEYWARD_SCOPES`).
    pub fn load(path: &Path) -> Result<Self, CatalogueError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| CatalogueError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
        Self::from_toml(&text).map_err(|e| CatalogueError::InFile { path: shown, error: Box::new(e) })
    }

    pub fn from_toml(text: &str) -> Result<Self, CatalogueError> {
        let cat: Catalogue = toml::from_str(text).map_err(|e| CatalogueError::Toml(e.to_string()))?;
        let mut seen = BTreeSet::new();
        for scope in cat.scopes() {
            if !is_valid_scope_id(&scope.id) {
                return Err(CatalogueError::BadId(scope.id.clone()));
            }
            if !seen.insert(scope.id.as_str()) {
                return Err(CatalogueError::Duplicate(scope.id.clone()));
            }
        }
        if seen.is_empty() {
            return Err(CatalogueError::Empty);
        }
        Ok(cat)
    }

    pub fn scopes(&self) -> impl Iterator<Item = &Scope> {
        self.groups.iter().flat_map(|g| g.scopes.iter())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.scopes().any(|s| s.id == id)
    }

    pub fn label(&self, id: &str) -> Option<&str> {
        self.scopes().find(|s| s.id == id).map(|s| s.label.as_str())
    }
}

/// A scope id as accepted anywhere (catalogue, verify requests).
pub fn is_valid_scope_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":._-".contains(&b))
}

/// What a key may do: everything, or a non-empty set of scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PermissionSet {
    Full,
    Scopes(BTreeSet<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    #[error("Choose at least one permission, or Full access.")]
    Empty,
    #[error("Unknown permission `{0}`.")]
    Unknown(String),
}

impl PermissionSet {
    /// From the picker: `full` wins over individual boxes; each scope must be in the catalogue.
    pub fn from_choices(
        full: bool,
        chosen: &[String],
        catalogue: &Catalogue,
    ) -> Result<Self, PermissionError> {
        if full {
            return Ok(Self::Full);
        }
        let mut set = BTreeSet::new();
        for id in chosen {
            if !catalogue.contains(id) {
                return Err(PermissionError::Unknown(id.clone()));
            }
            set.insert(id.clone());
        }
        if set.is_empty() {
            return Err(PermissionError::Empty);
        }
        Ok(Self::Scopes(set))
    }

    /// Reads the stored form (`*` or space-separated ids). Not validated against the
    /// catalogue: an operator may have retired a scope since the key was made.
    pub fn from_stored(text: &str) -> Self {
        if text.trim() == FULL_ACCESS {
            Self::Full
        } else {
            Self::Scopes(text.split_whitespace().map(str::to_owned).collect())
        }
    }

    pub fn to_stored(&self) -> String {
        match self {
            Self::Full => FULL_ACCESS.into(),
            Self::Scopes(s) => s.iter().map(String::as_str).collect::<Vec<_>>().join(" "),
        }
    }

    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full)
    }

    /// True when every `required` scope is granted.
    pub fn allows<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> bool {
        match self {
            Self::Full => true,
            Self::Scopes(s) => required.into_iter().all(|r| s.contains(r)),
        }
    }

    /// The scopes as a list (`["*"]` for full access), for JSON and headers.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            Self::Full => vec![FULL_ACCESS.into()],
            Self::Scopes(s) => s.iter().cloned().collect(),
        }
    }

    /// For people (the audit log): "Full access", or the ids separated by commas.
    pub fn describe(&self) -> String {
        match self {
            Self::Full => "Full access".into(),
            Self::Scopes(s) => s.iter().map(String::as_str).collect::<Vec<_>>().join(", "),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        match self {
            Self::Full => true,
            Self::Scopes(s) => s.contains(id),
        }
    }
}

/// The stored text, as a column deserializes (`#[diesel(deserialize_as = String)]`).
impl From<String> for PermissionSet {
    fn from(stored: String) -> Self {
        Self::from_stored(&stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented example (`examples/scopes.toml`, linked from the README) loads, and is
    /// exactly the built-in catalogue, so neither can drift from the other.
    #[test]
    fn the_example_catalogue_loads_and_is_the_built_in_one() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scopes.toml");
        assert_eq!(Catalogue::load(&path), Ok(Catalogue::default()));
    }

    #[test]
    fn the_default_catalogue_has_records_and_files() {
        let cat = Catalogue::default();
        let names: Vec<_> = cat.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["Records", "Files"]);
        assert_eq!(cat.scopes().count(), 5);
        assert_eq!(cat.label("files:upload"), Some("Upload files"));
    }

    #[test]
    fn catalogues_with_bad_or_duplicate_ids_are_refused() {
        let dup = "[[group]]\nname='A'\n[[group.scope]]\nid='a:r'\nlabel='x'\n[[group.scope]]\nid='a:r'\nlabel='y'\n";
        assert!(Catalogue::from_toml(dup).unwrap_err().to_string().contains("twice"));
        let bad = "[[group]]\nname='A'\n[[group.scope]]\nid='A R'\nlabel='x'\n";
        assert!(Catalogue::from_toml(bad).is_err());
    }

    #[test]
    fn choices_become_a_set_that_round_trips() {
        let cat = Catalogue::default();
        let set =
            PermissionSet::from_choices(false, &["records:read".into(), "files:read".into()], &cat).unwrap();
        assert_eq!(set.to_stored(), "files:read records:read");
        assert_eq!(PermissionSet::from_stored(&set.to_stored()), set);
        assert!(set.allows(["records:read"]));
        assert!(!set.allows(["records:read", "records:write"]));
        assert_eq!(PermissionSet::from_choices(false, &[], &cat), Err(PermissionError::Empty));
        assert!(matches!(
            PermissionSet::from_choices(false, &["x:y".into()], &cat),
            Err(PermissionError::Unknown(_))
        ));
        let full = PermissionSet::from_choices(true, &[], &cat).unwrap();
        assert!(full.allows(["anything:at-all"]));
        assert_eq!(PermissionSet::from_stored("*"), PermissionSet::Full);
    }
}
