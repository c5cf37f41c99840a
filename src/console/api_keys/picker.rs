//! The permission picker's layout. Where the catalogue names its scopes `resource:action`
//! (one resource per group), the picker is a grid: a row per resource, a column per action,
//! the way GitHub's and Cloudflare's token pages read. Any other catalogue keeps the plain
//! list of boxes, grouped, with descriptions.

use crate::keys::Catalogue;
use crate::keys::scopes::Scope;

/// A scope's checkbox id: `records:read` → `perm-records-read`.
pub fn perm_id(scope: &str) -> String {
    format!("perm-{}", scope.replace([':', '.'], "-"))
}

/// More actions than this and the grid is wider than a phone: the list reads better.
const MAX_COLUMNS: usize = 5;

/// One column: the action part of the ids (`read`) and its heading (`Read`).
pub struct Column {
    pub action: String,
    pub heading: String,
}

/// One resource (a catalogue group) and its scope per column, if it has one.
pub struct Row {
    pub resource: String,
    pub cells: Vec<Option<Scope>>,
}

pub struct Grid {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// `records:read` → `("records", "read")`; anything else (no colon, two colons) is `None`.
fn split(id: &str) -> Option<(&str, &str)> {
    let (resource, action) = id.split_once(':')?;
    (!resource.is_empty() && !action.is_empty() && !action.contains(':')).then_some((resource, action))
}

impl Grid {
    /// The grid for a catalogue, or `None` when its ids do not fit one.
    pub fn of(catalogue: &Catalogue) -> Option<Self> {
        let mut columns: Vec<Column> = Vec::new();
        for group in &catalogue.groups {
            let mut resource = None;
            for scope in &group.scopes {
                let (res, action) = split(&scope.id)?;
                if *resource.get_or_insert(res) != res {
                    return None;
                }
                if !columns.iter().any(|c| c.action == action) {
                    columns.push(Column { action: action.to_owned(), heading: heading(action) });
                }
            }
        }
        if columns.is_empty() || columns.len() > MAX_COLUMNS {
            return None;
        }
        let rows = catalogue
            .groups
            .iter()
            .map(|group| Row {
                resource: group.name.clone(),
                cells: columns
                    .iter()
                    .map(|c| {
                        group.scopes.iter().find(|s| split(&s.id).map(|(_, a)| a) == Some(&c.action)).cloned()
                    })
                    .collect(),
            })
            .collect();
        Some(Self { columns, rows })
    }
}

/// `read` → `Read`, `read_write` → `Read write`.
fn heading(action: &str) -> String {
    let words = action.replace(['_', '-', '.'], " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The "Read only" preset: every scope whose action is `read`. Empty when the catalogue has
/// none, and the preset is then not offered.
pub fn read_only(catalogue: &Catalogue) -> Vec<String> {
    catalogue
        .scopes()
        .filter(|s| split(&s.id).is_some_and(|(_, a)| a == "read"))
        .map(|s| s.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalogue_is_a_grid_of_resources_by_actions() {
        let grid = Grid::of(&Catalogue::default()).expect("a grid");
        let headings: Vec<_> = grid.columns.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(headings, ["Read", "Write", "Delete", "Upload"]);
        let records: Vec<_> = grid.rows[0].cells.iter().map(|c| c.as_ref().map(|s| s.id.as_str())).collect();
        assert_eq!(records, [Some("records:read"), Some("records:write"), Some("records:delete"), None]);
        let files: Vec<_> = grid.rows[1].cells.iter().map(|c| c.as_ref().map(|s| s.id.as_str())).collect();
        assert_eq!(files, [Some("files:read"), None, None, Some("files:upload")]);
        assert_eq!(read_only(&Catalogue::default()), ["records:read", "files:read"]);
    }

    #[test]
    fn ids_that_are_not_resource_action_keep_the_list() {
        let odd = |ids: &[&str]| {
            let scopes: String =
                ids.iter().map(|id| format!("[[group.scope]]\nid = \"{id}\"\nlabel = \"x\"\n")).collect();
            Catalogue::from_toml(&format!("[[group]]\nname = \"G\"\n{scopes}")).unwrap()
        };
        assert!(Grid::of(&odd(&["shipping.labels"])).is_none());
        assert!(Grid::of(&odd(&["billing:invoices:read"])).is_none());
        assert!(Grid::of(&odd(&["a:read", "b:read"])).is_none(), "two resources in one group");
        assert!(Grid::of(&odd(&["a:1", "a:2", "a:3", "a:4", "a:5", "a:6"])).is_none(), "too wide");
        assert!(Grid::of(&odd(&["a:read", "a:write"])).is_some());
    }
}
