//! `keyward keys list|create|revoke`: a workspace's keys from the server's command line, for
//! operators and scripts that have the database but no browser session.
//!
//! Every change goes through `keys::ops`, exactly as the console's do: the name check under
//! the workspace lock, the workspace's policy, the audit entry (actor `system`) and the
//! webhook event. Input is parsed by the same functions as the console's create form
//! (`KeyName::parse`, `PermissionSet::from_choices`, `Expiry::parse`, …), so a refused value
//! gets the console's message, prefixed with the flag it came from. The full secret of a new
//! key is printed once, on standard output, and nowhere else (never logged).
//!
//! `--workspace` takes a workspace's id or its exact name in any case; a number is taken as an
//! id when a workspace has it. An unknown or ambiguous one is refused with the workspaces
//! there are.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{NaiveDateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::accounts::store as accounts;
use crate::config::Settings;
use crate::db::{Db, DbConnection, DbError};
use crate::keys::expiry::{DEFAULT_DAYS, ExpiryError};
use crate::keys::scopes::FULL_ACCESS;
use crate::keys::store::{self, EnvFilter, KeyRow, ListQuery, StatusFilter};
use crate::keys::{
    Catalogue, Environment, Expiry, KeyDescription, KeyError, KeyName, NewKeyRequest, PermissionSet, ops,
    policy,
};
use crate::lifecycle::notices;
use crate::startup::{StartError, open_database};
use crate::text::{NameProblem, display_name};

/// Why a `keys` command did nothing. Each reads as the one line the command prints.
#[derive(Debug, thiserror::Error)]
pub enum KeysCommandError {
    /// An argument was refused; the message names the flag and why.
    #[error("{0}")]
    Invalid(String),
    /// The key operation refused (a name taken, a key already revoked, the workspace's policy,
    /// no such key), in the console's words.
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Start(#[from] StartError),
}

impl From<diesel::result::Error> for KeysCommandError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// A key's status, as `--status` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Active,
    Expired,
    Revoked,
    Disabled,
    All,
}

impl StatusArg {
    fn filter(self) -> StatusFilter {
        match self {
            Self::Active => StatusFilter::Active,
            Self::Expired => StatusFilter::Expired,
            Self::Revoked => StatusFilter::Revoked,
            Self::Disabled => StatusFilter::Disabled,
            Self::All => StatusFilter::All,
        }
    }
}

/// A key's environment, as `--environment` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EnvArg {
    Live,
    Test,
}

impl EnvArg {
    fn environment(self) -> Environment {
        match self {
            Self::Live => Environment::Live,
            Self::Test => Environment::Test,
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct ListArgs {
    /// The workspace: its id, or its name (in any case).
    #[arg(long)]
    pub workspace: String,
    /// Only keys in this state.
    #[arg(long, value_enum, default_value = "all")]
    pub status: StatusArg,
    /// Only live or only test keys (default: both).
    #[arg(long, value_enum)]
    pub environment: Option<EnvArg>,
    /// A JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Clone, Debug)]
pub struct CreateArgs {
    /// The workspace: its id, or its name (in any case).
    #[arg(long)]
    pub workspace: String,
    /// The key's name (unique among the workspace's active keys).
    #[arg(long)]
    pub name: String,
    /// A permission the key gets, e.g. records:read; repeat for several. `*` is full access.
    #[arg(long = "permission", value_name = "SCOPE")]
    pub permission: Vec<String>,
    /// Several permissions at once, separated by commas: "records:read,files:read".
    #[arg(long = "permissions", value_name = "SCOPES")]
    pub permissions: Vec<String>,
    /// Every permission, present and future.
    #[arg(long)]
    pub full_access: bool,
    /// 7d, 30d, 60d, 90d or 180d; a last day, YYYY-MM-DD (UTC, at most a year ahead); or
    /// never. Default: 30d, or the longest period the workspace's policy allows.
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// A live key (kw_live_…) or a test key (kw_test_…).
    #[arg(long, value_enum, default_value = "live")]
    pub environment: EnvArg,
    /// Where the key is used, for the people who see it later.
    #[arg(long, default_value = "")]
    pub description: String,
    /// A JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Clone, Debug)]
pub struct RevokeArgs {
    /// The workspace: its id, or its name (in any case).
    #[arg(long)]
    pub workspace: String,
    /// The key's id (the ID column of `keyward keys list`).
    #[arg(value_name = "ID")]
    pub id: i64,
    /// Why, for the audit log.
    #[arg(long, default_value = "")]
    pub reason: String,
    /// A JSON object (the key as it now stands) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The workspace a command acts in.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Workspace {
    id: i64,
    name: String,
}

/// How many workspaces an error about `--workspace` names before "and N more".
const WORKSPACES_NAMED: usize = 20;

/// The workspace `wanted` names among `all` (id, name): a workspace with that id, else the one
/// with that name in any case. The error lists what there is to choose from.
fn pick_workspace(all: &[(i64, String)], wanted: &str) -> Result<Workspace, String> {
    let wanted = wanted.trim();
    let found = |(id, name): &(i64, String)| Workspace { id: *id, name: name.clone() };
    if let Ok(id) = wanted.parse::<i64>()
        && let Some(ws) = all.iter().find(|(i, _)| *i == id)
    {
        return Ok(found(ws));
    }
    let folded = wanted.to_lowercase();
    let named: Vec<&(i64, String)> = all.iter().filter(|(_, n)| n.to_lowercase() == folded).collect();
    match named.as_slice() {
        [one] => Ok(found(one)),
        [] if all.is_empty() => Err(format!(
            "--workspace \u{201c}{wanted}\u{201d}: there are no workspaces yet (make one with `keyward admin create`)"
        )),
        [] => Err(format!(
            "--workspace \u{201c}{wanted}\u{201d}: no workspace has this id or name; the workspaces are {}",
            listing(all.iter())
        )),
        many => Err(format!(
            "--workspace \u{201c}{wanted}\u{201d}: {} workspaces have this name ({}); give the id instead",
            many.len(),
            listing(many.iter().copied())
        )),
    }
}

/// `1 “Acme”, 2 “Globex”`, at most [`WORKSPACES_NAMED`] of them.
fn listing<'a>(workspaces: impl ExactSizeIterator<Item = &'a (i64, String)>) -> String {
    let total = workspaces.len();
    let mut out: Vec<String> =
        workspaces.take(WORKSPACES_NAMED).map(|(id, name)| format!("{id} \u{201c}{name}\u{201d}")).collect();
    if total > WORKSPACES_NAMED {
        out.push(format!("and {} more", total - WORKSPACES_NAMED));
    }
    out.join(", ")
}

fn find_workspace(conn: &mut DbConnection, wanted: &str) -> Result<Workspace, KeysCommandError> {
    let all = accounts::all_workspaces(conn)?;
    pick_workspace(&all, wanted).map_err(KeysCommandError::Invalid)
}

async fn workspace(db: &Db, wanted: &str) -> Result<Workspace, KeysCommandError> {
    let wanted = wanted.to_owned();
    db.run(move |conn| find_workspace(conn, &wanted)).await
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A moment in the table: `2026-12-22 15:30 UTC`.
fn moment(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Who made a key: their email, or `system` for a key made by no user (this command).
fn creator(key: &KeyRow, emails: &HashMap<i64, String>) -> String {
    match key.created_by {
        Some(id) => emails.get(&id).cloned().unwrap_or_else(|| "a removed user".to_owned()),
        None => "system".to_owned(),
    }
}

/// A key as `--json` gives it: what the table shows, never its secret or hash.
#[derive(Debug, Serialize)]
struct KeyJson {
    id: i64,
    name: String,
    masked_key: String,
    environment: &'static str,
    permissions: Vec<String>,
    status: String,
    created_at: String,
    created_by: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl KeyJson {
    fn new(key: &KeyRow, emails: &HashMap<i64, String>, now: NaiveDateTime) -> Self {
        Self {
            id: key.id,
            name: key.name.clone(),
            masked_key: key.masked(),
            environment: key.environment().as_str(),
            permissions: PermissionSet::from_stored(&key.permissions).to_list(),
            status: key.status(now).label().to_lowercase(),
            created_at: rfc3339(key.created_at),
            created_by: creator(key, emails),
            expires_at: key.expires_at.map(rfc3339),
            last_used_at: key.last_used_at.map(rfc3339),
            revoked_at: key.revoked_at.map(rfc3339),
        }
    }
}

/// A new key as `keys create --json` gives it: the listed fields and, this once, the key.
#[derive(Serialize)]
struct CreatedJson<'a> {
    #[serde(flatten)]
    listed: KeyJson,
    key: &'a str,
}

fn to_json(value: &impl Serialize) -> String {
    // Plain data of strings and numbers: serialising cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Columns padded to their widest cell, two spaces apart, no trailing spaces.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count();
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn table(keys: &[KeyRow], emails: &HashMap<i64, String>, now: NaiveDateTime) -> String {
    let header = ["ID", "NAME", "KEY", "PERMISSIONS", "STATUS", "EXPIRES", "LAST USED", "CREATED BY"];
    let mut rows = vec![header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    rows.extend(keys.iter().map(|k| {
        vec![
            k.id.to_string(),
            k.name.clone(),
            k.masked(),
            PermissionSet::from_stored(&k.permissions).describe(),
            k.status(now).label().to_owned(),
            k.expires_at.map_or_else(|| "never".to_owned(), moment),
            k.last_used_at.map_or_else(|| "never".to_owned(), moment),
            creator(k, emails),
        ]
    }));
    aligned(&rows)
}

fn emails_of(conn: &mut DbConnection, keys: &[KeyRow]) -> Result<HashMap<i64, String>, KeysCommandError> {
    let mut ids: Vec<i64> = keys.iter().filter_map(|k| k.created_by).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(accounts::user_emails(conn, &ids)?.into_iter().collect())
}

// ---------------------------------------------------------------- keys list

/// `keys list`: the workspace's keys, newest first (all of them, not a page).
pub async fn list(db: &Db, args: &ListArgs) -> Result<String, KeysCommandError> {
    let query = ListQuery {
        status: args.status.filter(),
        env: args.environment.map_or(EnvFilter::All, |e| EnvFilter::Only(e.environment())),
        ..ListQuery::default()
    };
    let wanted = args.workspace.clone();
    let now = now();
    let (keys, emails) = db
        .run(move |conn| -> Result<_, KeysCommandError> {
            let ws = find_workspace(conn, &wanted)?;
            let keys = store::matching_keys(conn, ws.id, &query, now, i64::MAX)?;
            let emails = emails_of(conn, &keys)?;
            Ok((keys, emails))
        })
        .await?;
    if args.json {
        let listed: Vec<KeyJson> = keys.iter().map(|k| KeyJson::new(k, &emails, now)).collect();
        return Ok(to_json(&listed));
    }
    if keys.is_empty() {
        return Ok("No keys match.".to_owned());
    }
    Ok(table(&keys, &emails, now).trim_end().to_owned())
}

/// Opens the database (applying migrations) and runs `keys list`.
pub async fn list_command(settings: &Settings, args: ListArgs) -> Result<String, KeysCommandError> {
    let (db, _) = open_database(settings).await?;
    list(&db, &args).await
}

// ---------------------------------------------------------------- keys create

/// `--expires` as the console's expiry picker posts it: (choice, custom date).
fn expiry_fields(text: &str) -> (String, String) {
    let text = text.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(days) = text.strip_suffix(['d', 'D'])
        && digits(days)
    {
        (days.to_owned(), String::new())
    } else if text.eq_ignore_ascii_case("never") {
        ("never".to_owned(), String::new())
    } else if digits(text) {
        (text.to_owned(), String::new())
    } else if text.contains('-') || text.contains('/') {
        ("custom".to_owned(), text.to_owned())
    } else {
        // Nothing the picker offers: the console's "choose one of the offered periods".
        (String::new(), String::new())
    }
}

/// The expiry a create without `--expires` gets, as the console's fresh form selects it: 30
/// days, or the longest preset the policy offers; `None` when it offers none.
fn default_expiry(policy: &policy::Policy) -> Option<String> {
    let offered = policy.offered_presets();
    if offered.contains(&DEFAULT_DAYS) {
        Some(DEFAULT_DAYS.to_string())
    } else {
        offered.last().map(u32::to_string)
    }
}

/// The arguments as a [`NewKeyRequest`], or every refused argument's message (the console's
/// words), one a line.
fn parse_request(
    args: &CreateArgs,
    expires: &str,
    catalogue: &Catalogue,
    now: NaiveDateTime,
) -> Result<NewKeyRequest, String> {
    let mut errors: Vec<String> = Vec::new();
    let mut refused = |flag: &str, message: String| errors.push(format!("{flag}: {message}"));
    let name = KeyName::parse(&args.name).map_err(|e| refused("--name", e.to_string()));
    let description =
        KeyDescription::parse(&args.description).map_err(|e| refused("--description", e.to_string()));
    let mut chosen: Vec<String> = args
        .permission
        .iter()
        .map(String::as_str)
        .chain(args.permissions.iter().flat_map(|list| list.split(',')))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let full = args.full_access || chosen.iter().any(|p| p == FULL_ACCESS);
    chosen.retain(|p| p != FULL_ACCESS);
    let permissions = PermissionSet::from_choices(full, &chosen, catalogue)
        .map_err(|e| refused("--permission", e.to_string()));
    let (choice, date) = expiry_fields(expires);
    let expiry = Expiry::parse(&choice, &date, now).map_err(|e| {
        let hint = match e {
            ExpiryError::UnknownChoice => " Use 7d, 30d, 60d, 90d or 180d, a date (YYYY-MM-DD) or never.",
            _ => "",
        };
        refused(&format!("--expires \u{201c}{}\u{201d}", expires.trim()), format!("{e}{hint}"));
    });
    match (name, description, permissions, expiry) {
        (Ok(name), Ok(description), Ok(permissions), Ok(expiry)) => Ok(NewKeyRequest {
            name,
            description,
            permissions,
            expiry,
            rate_limit: None,
            burst: None,
            environment: args.environment.environment(),
            allowed_ips: None,
        }),
        _ => Err(errors.join("\n")),
    }
}

/// `keys create`: makes the key through `keys::ops::create` and answers the text to print,
/// the full key in it (this once).
pub async fn create(db: &Db, catalogue: &Catalogue, args: &CreateArgs) -> Result<String, KeysCommandError> {
    let wanted = args.workspace.clone();
    let (ws, policy) = db
        .run(move |conn| -> Result<_, KeysCommandError> {
            let ws = find_workspace(conn, &wanted)?;
            let policy = policy::read(conn, ws.id)?;
            Ok((ws, policy))
        })
        .await?;
    let expires = match &args.expires {
        Some(text) => text.clone(),
        None => default_expiry(&policy).ok_or_else(|| {
            let rule = policy.expiry_hint().unwrap_or_default();
            KeysCommandError::Invalid(format!(
                "--expires: no preset period fits the workspace\u{2019}s policy. {rule} Give a last day, YYYY-MM-DD."
            ))
        })?,
    };
    let request = parse_request(args, &expires, catalogue, now()).map_err(KeysCommandError::Invalid)?;
    let issued = ops::create(db, &notices::system(), ws.id, request).await?;
    let key = ops::find(db, ws.id, issued.id).await?;
    let secret = issued.secret.expose();
    let now = now();
    if args.json {
        let listed = KeyJson::new(&key, &HashMap::new(), now);
        return Ok(to_json(&CreatedJson { listed, key: secret }));
    }
    let expires = key.expires_at.map_or_else(|| "never".to_owned(), moment);
    Ok(format!(
        "Created key {id} \u{201c}{name}\u{201d} in workspace \u{201c}{ws}\u{201d} ({env}; {perms}; expires: {expires}).\n\
         \n    {secret}\n\n\
         Copy it now: it will not be shown again (keyward keeps only its hash).",
        id = key.id,
        name = key.name,
        ws = ws.name,
        env = key.environment().as_str(),
        perms = PermissionSet::from_stored(&key.permissions).describe(),
    ))
}

/// Opens the database (applying migrations), reads the scope catalogue as `keyward serve`
/// does, and runs `keys create`.
pub async fn create_command(settings: &Settings, args: CreateArgs) -> Result<String, KeysCommandError> {
    let catalogue = match &settings.scopes_file {
        Some(path) => Catalogue::load(path).map_err(StartError::from)?,
        None => Catalogue::default(),
    };
    let (db, _) = open_database(settings).await?;
    create(&db, &catalogue, &args).await
}

// ---------------------------------------------------------------- keys revoke

/// `--reason`, trimmed: at most 500 characters on one line; empty when none was given.
fn parse_reason(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    match display_name(raw, 500) {
        Ok(reason) => Ok(reason.to_owned()),
        Err(NameProblem::TooLong(n)) => {
            Err(format!("--reason: use at most 500 characters (this one has {n})."))
        }
        Err(_) => Err("--reason: the reason cannot contain line breaks or control characters.".to_owned()),
    }
}

/// `keys revoke`: revokes the key through `keys::ops::revoke_with_reason`.
pub async fn revoke(db: &Db, args: &RevokeArgs) -> Result<String, KeysCommandError> {
    let reason = parse_reason(&args.reason).map_err(KeysCommandError::Invalid)?;
    let ws = workspace(db, &args.workspace).await?;
    let gone = ops::revoke_with_reason(db, &notices::system(), ws.id, args.id, reason).await?;
    if args.json {
        let id = args.id;
        let (key, emails) = db
            .run(move |conn| -> Result<_, KeysCommandError> {
                let key = store::find(conn, ws.id, id)?.ok_or(KeyError::NotFound)?;
                let emails = emails_of(conn, std::slice::from_ref(&key))?;
                Ok((key, emails))
            })
            .await?;
        return Ok(to_json(&KeyJson::new(&key, &emails, now())));
    }
    Ok(format!(
        "Revoked key {} \u{201c}{}\u{201d} ({}) in workspace \u{201c}{}\u{201d}: it stops working at once.",
        args.id, gone.name, gone.masked, ws.name
    ))
}

/// Opens the database (applying migrations) and runs `keys revoke`.
pub async fn revoke_command(settings: &Settings, args: RevokeArgs) -> Result<String, KeysCommandError> {
    let (db, _) = open_database(settings).await?;
    revoke(&db, &args).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<(i64, String)> {
        vec![(1, "Acme".into()), (2, "Globex".into()), (3, "globex".into()), (4, "7".into())]
    }

    #[test]
    fn a_workspace_is_picked_by_id_or_by_its_name_in_any_case() {
        assert_eq!(pick_workspace(&all(), "1").unwrap(), Workspace { id: 1, name: "Acme".into() });
        assert_eq!(pick_workspace(&all(), " aCME ").unwrap().id, 1);
        // A number is an id first; a name made of digits is found when no workspace has that id.
        assert_eq!(pick_workspace(&all(), "4").unwrap().id, 4);
        assert_eq!(pick_workspace(&all(), "7").unwrap().id, 4);
    }

    #[test]
    fn an_unknown_or_ambiguous_workspace_is_refused_with_what_there_is() {
        let unknown = pick_workspace(&all(), "Initech").unwrap_err();
        assert!(unknown.contains("Initech") && unknown.contains("1 \u{201c}Acme\u{201d}"), "{unknown}");
        let twice = pick_workspace(&all(), "GLOBEX").unwrap_err();
        assert!(twice.contains("2 workspaces") && twice.contains("give the id"), "{twice}");
        assert!(twice.contains("2 \u{201c}Globex\u{201d}, 3 \u{201c}globex\u{201d}"), "{twice}");
        assert!(pick_workspace(&[], "Acme").unwrap_err().contains("no workspaces yet"));
        let many: Vec<(i64, String)> = (1..=25).map(|i| (i, format!("W{i}"))).collect();
        assert!(pick_workspace(&many, "X").unwrap_err().ends_with("20 \u{201c}W20\u{201d}, and 5 more"));
    }

    #[test]
    fn the_commands_flags_do_not_clash_with_the_global_ones() {
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
    }

    #[test]
    fn expires_reads_as_the_console_picker_fields() {
        let f = expiry_fields;
        assert_eq!(f("7d"), ("7".into(), String::new()));
        assert_eq!(f(" 180D "), ("180".into(), String::new()));
        assert_eq!(f("30"), ("30".into(), String::new()));
        assert_eq!(f("Never"), ("never".into(), String::new()));
        assert_eq!(f("2027-01-31"), ("custom".into(), "2027-01-31".into()));
        assert_eq!(f("soon"), (String::new(), String::new()));
        assert_eq!(f("d"), (String::new(), String::new()));
    }

    #[test]
    fn the_default_expiry_is_the_consoles() {
        assert_eq!(default_expiry(&policy::Policy::default()).as_deref(), Some("30"));
        let short = policy::Policy { max_lifetime_days: Some(14), ..policy::Policy::default() };
        assert_eq!(default_expiry(&short).as_deref(), Some("7"));
        let shorter = policy::Policy { max_lifetime_days: Some(3), ..policy::Policy::default() };
        assert_eq!(default_expiry(&shorter), None);
    }

    #[test]
    fn a_table_is_aligned_without_trailing_spaces() {
        let rows = vec![
            vec!["ID".to_owned(), "NAME".to_owned(), "BY".to_owned()],
            vec!["10".to_owned(), "Zürich bot".to_owned(), "system".to_owned()],
            vec!["9".to_owned(), "x".to_owned(), String::new()],
        ];
        assert_eq!(aligned(&rows), "ID  NAME        BY\n10  Zürich bot  system\n9   x\n");
    }

    #[test]
    fn a_reason_is_one_line_of_at_most_500_characters() {
        assert_eq!(parse_reason("  ").unwrap(), "");
        assert_eq!(parse_reason(" leaked in a log ").unwrap(), "leaked in a log");
        assert!(parse_reason("two\nlines").unwrap_err().contains("line breaks"));
        assert!(parse_reason(&"x".repeat(501)).unwrap_err().contains("501"));
    }
}
