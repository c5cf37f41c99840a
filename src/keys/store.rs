//! Queries about API keys. Every function takes the workspace id and filters by it, so a key
//! id from another workspace behaves exactly like a missing one.
//!
//! Status is derived, never stored: `revoked_at` set → revoked; `expires_at` ≤ now → expired;
//! otherwise active. The list pages by `(workspace_id, id)` (the `api_keys_by_workspace`
//! index), newest first. Its name search compares `search_name` (the name folded by
//! [`search_form`] when the key is stored) with the folded query, through a trigram index on
//! each backend (migration `key_search`).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::{AllowedIps, Environment, KeyHash, PermissionSet, search_form};
use crate::db::DbConnection;
use crate::db::schema::{api_keys, users, workspaces};

/// The query backend of [`DbConnection`] (SQLite or PostgreSQL, chosen at run time).
type Backend = <DbConnection as diesel::Connection>::Backend;

/// Keys shown on one page of the table.
pub const PAGE_SIZE: i64 = 50;

/// One stored key: everything except its hash.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct KeyRow {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    pub permissions: String,
    pub expiry_rule: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<i64>,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
    pub rate_limit_per_minute: Option<i32>,
    pub regenerated_at: Option<NaiveDateTime>,
    pub rate_limit_burst: Option<i32>,
    pub description: String,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_by: Option<i64>,
    pub previous_last4: Option<String>,
    pub previous_expires_at: Option<NaiveDateTime>,
    /// Canonical ranges, one per line (`keys::AllowList`); `None`: anywhere.
    pub allowed_ips: Option<String>,
}

/// Where a key stands, derived from its times. Revoked and expired are final for the secret;
/// disabled is a stop its owners can lift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
    Expired,
    Revoked,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Disabled => "Disabled",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
        }
    }
}

impl KeyRow {
    pub fn status(&self, now: NaiveDateTime) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            Status::Expired
        } else if self.disabled_at.is_some() {
            Status::Disabled
        } else {
            Status::Active
        }
    }

    /// The replaced secret that still verifies, as `(masked, until)`, while its grace period
    /// runs and the key is neither revoked nor disabled.
    pub fn previous_secret(&self, now: NaiveDateTime) -> Option<(String, NaiveDateTime)> {
        let until = self.previous_expires_at.filter(|until| *until > now)?;
        let last4 = self.previous_last4.as_deref()?;
        (self.status(now) == Status::Active).then(|| (super::secret::masked(&self.prefix, last4), until))
    }

    pub fn masked(&self) -> String {
        super::secret::masked(&self.prefix, &self.last4)
    }

    pub fn environment(&self) -> Environment {
        Environment::of_prefix(&self.prefix)
    }

    /// The key's IP allowlist; `None`: it may be used from anywhere.
    pub fn allow_list(&self) -> Option<super::AllowList> {
        self.allowed_ips.as_deref().map(super::AllowList::from_stored)
    }

    pub fn key_ref(&self) -> crate::audit::KeyRef {
        crate::audit::KeyRef { id: self.id, name: self.name.clone(), masked: self.masked() }
    }
}

/// The table's status tabs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusFilter {
    #[default]
    All,
    Active,
    Disabled,
    Expired,
    Revoked,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 5] =
        [Self::All, Self::Active, Self::Disabled, Self::Expired, Self::Revoked];

    /// Unknown values read as `All`, so a mangled link still shows the table.
    pub fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "disabled" => Self::Disabled,
            "expired" => Self::Expired,
            "revoked" => Self::Revoked,
            _ => Self::All,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::Active => "Active",
            Self::Disabled => "Disabled",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
        }
    }
}

/// The table's environment filter: every key, or only live or only test keys (by prefix).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnvFilter {
    #[default]
    All,
    Only(Environment),
}

impl EnvFilter {
    pub const ALL: [EnvFilter; 3] = [Self::All, Self::Only(Environment::Live), Self::Only(Environment::Test)];

    /// Unknown values read as `All`, like the status tabs.
    pub fn parse(s: &str) -> Self {
        match s {
            "live" => Self::Only(Environment::Live),
            "test" => Self::Only(Environment::Test),
            _ => Self::All,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Only(env) => env.as_str(),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::All => "Live and test",
            Self::Only(Environment::Live) => "Live keys",
            Self::Only(Environment::Test) => "Test keys",
        }
    }
}

/// What the table asks for.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub status: StatusFilter,
    pub env: EnvFilter,
    /// Case-insensitive substring of the name; empty for no search.
    pub search: String,
    /// 1-based.
    pub page: i64,
    /// One of the workspace figures above the table, as a filter.
    pub insight: InsightFilter,
    /// Only keys this user created (the management API's filter).
    pub created_by: Option<i64>,
    /// Only keys that expire before this moment (and have not yet).
    pub expiring_before: Option<NaiveDateTime>,
}

/// One page of keys with the emails of their creators and revokers.
pub struct KeyPage {
    pub keys: Vec<KeyRow>,
    pub emails: HashMap<i64, String>,
    pub has_next: bool,
    /// Requests in the last [`WEEK_DAYS`] days per key, for the busiest filter (its order).
    pub requests_this_week: HashMap<i64, i64>,
}

// ---------------------------------------------------------------- workspace insight filters

/// Active keys unused this many days (never used: created this long ago) are stale.
pub const STALE_DAYS: i64 = 30;
/// The window of "expiring this week" and "busiest this week", in days.
pub const WEEK_DAYS: i64 = 7;
/// How many keys "busiest this week" lists.
pub const BUSIEST_TOP: i64 = 10;

/// The workspace figures above the key table, each a filter of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InsightFilter {
    #[default]
    None,
    /// Active, and unused for [`STALE_DAYS`] (never used: created that long ago).
    Stale,
    /// Not revoked, expiring within [`WEEK_DAYS`].
    Expiring,
    /// Not revoked, and never expiring on its own.
    NoExpiry,
    /// The [`BUSIEST_TOP`] keys by requests (allowed and denied) in the last [`WEEK_DAYS`]
    /// UTC days, busiest first.
    Busiest,
}

impl InsightFilter {
    pub const ALL: [InsightFilter; 4] = [Self::Stale, Self::Expiring, Self::NoExpiry, Self::Busiest];

    /// Unknown values read as no filter.
    pub fn parse(s: &str) -> Self {
        match s {
            "stale" => Self::Stale,
            "expiring" => Self::Expiring,
            "no_expiry" => Self::NoExpiry,
            "busiest" => Self::Busiest,
            _ => Self::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Stale => "stale",
            Self::Expiring => "expiring",
            Self::NoExpiry => "no_expiry",
            Self::Busiest => "busiest",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::None => "All keys",
            Self::Stale => "Stale (unused 30+ days)",
            Self::Expiring => "Expiring this week",
            Self::NoExpiry => "Without an expiration",
            Self::Busiest => "Busiest this week",
        }
    }
}

/// The first UTC day of the busiest window ending today.
fn busiest_since(now: NaiveDateTime) -> chrono::NaiveDate {
    now.date() - chrono::TimeDelta::days(WEEK_DAYS - 1)
}

/// `query` narrowed to an insight filter. Each is an index range: stale by `api_keys_idle`
/// (workspace, the last use or else the creation), expiring and without expiry by
/// `api_keys_by_workspace_status`, busiest by `key_usage_daily_by_day` over the window.
fn with_insight<'a>(
    query: api_keys::BoxedQuery<'a, Backend>,
    workspace_id: i64,
    filter: InsightFilter,
    now: NaiveDateTime,
) -> api_keys::BoxedQuery<'a, Backend> {
    use diesel::sql_types::{BigInt, Date, Timestamp};
    match filter {
        InsightFilter::None => query,
        InsightFilter::Stale => query
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::disabled_at.is_null())
            .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
            // The expression `api_keys_idle` indexes, written the same way.
            .filter(
                sql::<Bool>("coalesce(api_keys.last_used_at, api_keys.created_at) <= ")
                    .bind::<Timestamp, _>(now - chrono::TimeDelta::days(STALE_DAYS)),
            ),
        InsightFilter::Expiring => query
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::expires_at.gt(now))
            .filter(api_keys::expires_at.le(now + chrono::TimeDelta::days(WEEK_DAYS))),
        InsightFilter::NoExpiry => {
            query.filter(api_keys::revoked_at.is_null()).filter(api_keys::expires_at.is_null())
        }
        InsightFilter::Busiest => query.filter(
            sql::<Bool>(
                "api_keys.id IN (SELECT u.key_id FROM key_usage_daily u \
                 INNER JOIN api_keys w ON w.id = u.key_id WHERE w.workspace_id = ",
            )
            .bind::<BigInt, _>(workspace_id)
            .sql(" AND u.day >= ")
            .bind::<Date, _>(busiest_since(now))
            .sql(&format!(
                " GROUP BY u.key_id ORDER BY SUM(u.allowed + u.denied) DESC, u.key_id DESC LIMIT {BUSIEST_TOP})"
            )),
        ),
    }
}

/// Requests (allowed and denied) per key over the busiest window, for these keys.
fn requests_this_week(
    conn: &mut DbConnection,
    ids: &[i64],
    now: NaiveDateTime,
) -> QueryResult<HashMap<i64, i64>> {
    use crate::db::schema::key_usage_daily as u;
    let rows: Vec<(i64, i64, i64)> = u::table
        .filter(u::key_id.eq_any(ids))
        .filter(u::day.ge(busiest_since(now)))
        .select((u::key_id, u::allowed, u::denied))
        .load(conn)?;
    let mut totals = HashMap::new();
    for (id, allowed, denied) in rows {
        *totals.entry(id).or_insert(0) += allowed + denied;
    }
    Ok(totals)
}

/// Counting stops here: "1,000+" says enough, and bounds every count above the table to a
/// short index walk however big the workspace.
pub const INSIGHT_COUNT_CAP: i64 = 1000;

/// One insight figure: how many keys its filter matches, or that it is more than
/// [`INSIGHT_COUNT_CAP`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsightCount {
    pub filter: InsightFilter,
    pub count: i64,
    pub more: bool,
}

/// How many keys each insight filter matches in the workspace (whatever the tab and search),
/// each count bounded.
pub fn insight_counts(
    conn: &mut DbConnection,
    workspace_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<InsightCount>> {
    use crate::db::schema::key_usage_daily as u;
    let mut counts = Vec::with_capacity(InsightFilter::ALL.len());
    for filter in InsightFilter::ALL {
        let count = if filter == InsightFilter::Busiest {
            // Not the ranking itself (the filter's view does that), only whether there are
            // ten: a key has at most one row a day, so rows for ten keys are within the first
            // 10 × 7 of the window, and the walk stops there.
            let ids: Vec<i64> = u::table
                .inner_join(api_keys::table)
                .filter(api_keys::workspace_id.eq(workspace_id))
                .filter(u::day.ge(busiest_since(now)))
                .select(u::key_id)
                .limit(BUSIEST_TOP * WEEK_DAYS)
                .load(conn)?;
            let distinct: std::collections::HashSet<i64> = ids.into_iter().collect();
            (distinct.len() as i64).min(BUSIEST_TOP)
        } else {
            let q = ListQuery { insight: filter, ..ListQuery::default() };
            match matching(conn, workspace_id, &q, now) {
                Some(query) => {
                    query.select(api_keys::id).limit(INSIGHT_COUNT_CAP + 1).load::<i64>(conn)?.len() as i64
                }
                None => 0,
            }
        };
        counts.push(InsightCount {
            filter,
            count: count.min(INSIGHT_COUNT_CAP),
            more: count > INSIGHT_COUNT_CAP,
        });
    }
    Ok(counts)
}

// ---------------------------------------------------------------- the table

/// Searches this long or longer use SQLite's trigram index: a trigram is 3 characters.
const MIN_TRIGRAM_CHARS: usize = 3;

/// The LIKE pattern for a folded search (see [`search_form`]), matched against `search_name`,
/// with `%`, `_` and `\` taken as literal text, not wildcards.
fn like_pattern(folded: &str) -> String {
    let mut p = String::with_capacity(folded.len() + 2);
    p.push('%');
    for c in folded.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// One page of a workspace's keys, newest first.
pub fn list(
    conn: &mut DbConnection,
    workspace_id: i64,
    q: &ListQuery,
    now: NaiveDateTime,
) -> QueryResult<KeyPage> {
    let Some(query) = matching(conn, workspace_id, q, now) else {
        return Ok(KeyPage {
            keys: Vec::new(),
            emails: HashMap::new(),
            has_next: false,
            requests_this_week: HashMap::new(),
        });
    };
    let page = q.page.max(1);
    let mut keys: Vec<KeyRow> = query
        .select(KeyRow::as_select())
        .order(api_keys::id.desc())
        .limit(PAGE_SIZE + 1)
        .offset((page - 1).saturating_mul(PAGE_SIZE))
        .load(conn)?;
    let has_next = keys.len() as i64 > PAGE_SIZE;
    keys.truncate(PAGE_SIZE as usize);
    let mut requests = HashMap::new();
    if q.insight == InsightFilter::Busiest {
        let ids: Vec<i64> = keys.iter().map(|k| k.id).collect();
        requests = requests_this_week(conn, &ids, now)?;
        keys.sort_by_key(|k| {
            (std::cmp::Reverse(requests.get(&k.id).copied().unwrap_or(0)), std::cmp::Reverse(k.id))
        });
    }
    let mut ids: Vec<i64> =
        keys.iter().flat_map(|k| [k.created_by, k.revoked_by, k.disabled_by]).flatten().collect();
    ids.sort_unstable();
    ids.dedup();
    let emails = if ids.is_empty() {
        HashMap::new()
    } else {
        users::table
            .filter(users::id.eq_any(ids))
            .select((users::id, users::email))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .collect()
    };
    Ok(KeyPage { keys, emails, has_next, requests_this_week: requests })
}

/// The workspace's keys a table query matches (status tab and name search), unordered and
/// unpaged: the table pages it, and a bulk action over "every key matching" takes its ids.
/// `None` when nothing can match.
fn matching<'a>(
    conn: &DbConnection,
    workspace_id: i64,
    q: &ListQuery,
    now: NaiveDateTime,
) -> Option<api_keys::BoxedQuery<'a, Backend>> {
    let mut query = api_keys::table.filter(api_keys::workspace_id.eq(workspace_id)).into_boxed();
    let unexpired = api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now));
    query = match q.status {
        StatusFilter::All => query,
        StatusFilter::Active => query
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::disabled_at.is_null())
            .filter(unexpired),
        StatusFilter::Disabled => query
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::disabled_at.is_not_null())
            .filter(unexpired),
        StatusFilter::Expired => {
            query.filter(api_keys::revoked_at.is_null()).filter(api_keys::expires_at.le(now))
        }
        StatusFilter::Revoked => query.filter(api_keys::revoked_at.is_not_null()),
    };
    if let EnvFilter::Only(env) = q.env {
        query = query.filter(api_keys::prefix.eq(env.prefix()));
    }
    query = with_insight(query, workspace_id, q.insight, now);
    if let Some(user_id) = q.created_by {
        query = query.filter(api_keys::created_by.eq(user_id));
    }
    if let Some(before) = q.expiring_before {
        query = query.filter(api_keys::expires_at.gt(now)).filter(api_keys::expires_at.lt(before));
    }
    let search = search_form(q.search.trim());
    // Names never hold control characters (`KeyName` refuses them), so such a search matches
    // nothing; and PostgreSQL would refuse a NUL in a text parameter with an error (a 500).
    if search.chars().any(char::is_control) {
        return None;
    }
    if !search.is_empty() {
        query = match conn {
            DbConnection::Sqlite(_) if search.chars().count() >= MIN_TRIGRAM_CHARS => {
                query.filter(sqlite_fts_contains(&search))
            }
            // PostgreSQL's pg_trgm index serves this LIKE itself; on SQLite a 1–2 character
            // search walks the (workspace_id, id, search_name) index.
            _ => query.filter(api_keys::search_name.like(like_pattern(&search)).escape('\\')),
        };
    }
    Some(query)
}

/// Up to `limit` keys a query matches, newest first, after the key `after` (a cursor: ids only
/// grow, so a key made meanwhile never shifts the pages still to come). `page` is ignored.
pub fn list_after(
    conn: &mut DbConnection,
    workspace_id: i64,
    q: &ListQuery,
    after: Option<i64>,
    limit: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<KeyRow>> {
    let Some(mut query) = matching(conn, workspace_id, q, now) else { return Ok(Vec::new()) };
    if let Some(after) = after {
        query = query.filter(api_keys::id.lt(after));
    }
    query.select(KeyRow::as_select()).order(api_keys::id.desc()).limit(limit).load(conn)
}

/// Every key a table query matches (all pages), newest first, at most `limit`: the keys a bulk
/// action on "all N matching" applies to.
pub fn matching_keys(
    conn: &mut DbConnection,
    workspace_id: i64,
    q: &ListQuery,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<KeyRow>> {
    let Some(query) = matching(conn, workspace_id, q, now) else { return Ok(Vec::new()) };
    query.select(KeyRow::as_select()).order(api_keys::id.desc()).limit(limit).load(conn)
}

/// How many keys a table query matches, over all pages.
pub fn count_matching(
    conn: &mut DbConnection,
    workspace_id: i64,
    q: &ListQuery,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let Some(query) = matching(conn, workspace_id, q, now) else { return Ok(0) };
    query.count().get_result(conn)
}

/// Keys of the workspace, by id (ids of other workspaces are left out), newest first.
pub fn find_many(conn: &mut DbConnection, workspace_id: i64, ids: &[i64]) -> QueryResult<Vec<KeyRow>> {
    api_keys::table
        .filter(api_keys::workspace_id.eq(workspace_id))
        .filter(api_keys::id.eq_any(ids))
        .select(KeyRow::as_select())
        .order(api_keys::id.desc())
        .load(conn)
}

/// Active keys of the workspace created by this user: what removing them from the workspace
/// offers to revoke.
pub fn live_keys_created_by(
    conn: &mut DbConnection,
    workspace_id: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<KeyRow>> {
    api_keys::table
        .filter(api_keys::workspace_id.eq(workspace_id))
        .filter(api_keys::created_by.eq(user_id))
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
        .select(KeyRow::as_select())
        .order(api_keys::id.desc())
        .load(conn)
}

/// SQLite only: the key's `search_name` contains `folded` (3 or more characters), looked up in
/// the trigram full-text table `api_keys_fts` (migration `key_search`), where a `LIKE '%…%'`
/// would test every row of the workspace. A quoted FTS5 phrase is a run of consecutive
/// trigrams, which is exactly a substring; inside the quotes only `"` is special (written
/// twice), so `%`, `_`, `*` and the rest are literal.
fn sqlite_fts_contains(folded: &str) -> Box<dyn BoxableExpression<api_keys::table, Backend, SqlType = Bool>> {
    let phrase = format!("\"{}\"", folded.replace('"', "\"\""));
    Box::new(
        sql::<Bool>("api_keys.id IN (SELECT rowid FROM api_keys_fts WHERE api_keys_fts MATCH ")
            .bind::<Text, _>(phrase)
            .sql(")"),
    )
}

/// True when the workspace has no keys at all (the empty state, as opposed to an empty filter).
pub fn workspace_has_keys(conn: &mut DbConnection, workspace_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        api_keys::table.filter(api_keys::workspace_id.eq(workspace_id)).select(api_keys::id),
    ))
    .get_result(conn)
}

/// What the verifier needs to know about a stored key, found by the hash of its secret.
#[derive(Clone, Debug, Queryable)]
pub struct KeyRecord {
    pub id: i64,
    pub workspace_id: i64,
    pub workspace_name: String,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    #[diesel(deserialize_as = String)]
    pub permissions: PermissionSet,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub disabled_at: Option<NaiveDateTime>,
    pub rate_limit_per_minute: Option<i32>,
    pub rate_limit_burst: Option<i32>,
    /// Set when the hash was the key's replaced secret: it verifies until then (the rotation's
    /// grace period), and the answer says so.
    pub replaced_until: Option<NaiveDateTime>,
    /// Parsed here, once per read, so a request only walks the ranges.
    #[diesel(deserialize_as = Option<String>)]
    pub allowed_ips: AllowedIps,
}

impl KeyRecord {
    pub fn masked(&self) -> String {
        super::secret::masked(&self.prefix, &self.last4)
    }

    pub fn environment(&self) -> Environment {
        Environment::of_prefix(&self.prefix)
    }
}

/// The key whose secret has this hash, from any workspace: one lookup by the unique index on
/// `api_keys.key_hash`, and only when that finds nothing, one by the unique index on
/// `previous_key_hash` (a secret replaced with a grace period).
pub fn find_by_hash(conn: &mut DbConnection, hash: &KeyHash) -> QueryResult<Option<KeyRecord>> {
    let current = api_keys::table
        .inner_join(workspaces::table)
        .filter(api_keys::key_hash.eq(hash.as_str()))
        .select((
            api_keys::id,
            api_keys::workspace_id,
            workspaces::name,
            api_keys::name,
            api_keys::prefix,
            api_keys::last4,
            api_keys::permissions,
            api_keys::expires_at,
            api_keys::revoked_at,
            api_keys::disabled_at,
            api_keys::rate_limit_per_minute,
            api_keys::rate_limit_burst,
            None::<NaiveDateTime>.into_sql::<diesel::sql_types::Nullable<diesel::sql_types::Timestamp>>(),
            api_keys::allowed_ips,
        ))
        // No `.first()`: its bound `LIMIT ?` makes SQLite re-plan the cached statement on every
        // execution (a bound LIMIT expires the statement), which profiling showed to be a third
        // of the request's CPU. `key_hash` is unique, so there is at most one row anyway.
        .load::<KeyRecord>(conn)?
        .pop();
    if current.is_some() {
        return Ok(current);
    }
    Ok(api_keys::table
        .inner_join(workspaces::table)
        .filter(api_keys::previous_key_hash.eq(hash.as_str()))
        .select((
            api_keys::id,
            api_keys::workspace_id,
            workspaces::name,
            api_keys::name,
            api_keys::prefix,
            api_keys::previous_last4.assume_not_null(),
            api_keys::permissions,
            api_keys::expires_at,
            api_keys::revoked_at,
            api_keys::disabled_at,
            api_keys::rate_limit_per_minute,
            api_keys::rate_limit_burst,
            api_keys::previous_expires_at,
            api_keys::allowed_ips,
        ))
        .load::<KeyRecord>(conn)?
        .pop())
}

/// The key whose secret has this hash, from any workspace, as (workspace, key id, whether the
/// hash is the key's replaced secret rather than its current one): the two unique indexes
/// [`find_by_hash`] uses, without the verifier's record.
pub fn find_id_by_hash(conn: &mut DbConnection, hash: &KeyHash) -> QueryResult<Option<(i64, i64, bool)>> {
    let current: Option<(i64, i64)> = api_keys::table
        .filter(api_keys::key_hash.eq(hash.as_str()))
        .select((api_keys::workspace_id, api_keys::id))
        .first(conn)
        .optional()?;
    if let Some((workspace_id, id)) = current {
        return Ok(Some((workspace_id, id, false)));
    }
    let replaced: Option<(i64, i64)> = api_keys::table
        .filter(api_keys::previous_key_hash.eq(hash.as_str()))
        .select((api_keys::workspace_id, api_keys::id))
        .first(conn)
        .optional()?;
    Ok(replaced.map(|(workspace_id, id)| (workspace_id, id, true)))
}

/// Ends the grace period of a key's replaced secret now, while that secret is the one with
/// `previous_hash`: the replaced secret stops working, the current one is untouched. 0 rows
/// when the key has no such replaced secret (any more).
pub fn end_grace(
    conn: &mut DbConnection,
    workspace_id: i64,
    id: i64,
    previous_hash: &KeyHash,
) -> QueryResult<usize> {
    diesel::update(
        api_keys::table
            .filter(api_keys::workspace_id.eq(workspace_id))
            .filter(api_keys::id.eq(id))
            .filter(api_keys::previous_key_hash.eq(previous_hash.as_str())),
    )
    .set((
        api_keys::previous_key_hash.eq(None::<String>),
        api_keys::previous_last4.eq(None::<String>),
        api_keys::previous_expires_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
}

/// A key of this workspace, or `None` (also for another workspace's id).
pub fn find(conn: &mut DbConnection, workspace_id: i64, id: i64) -> QueryResult<Option<KeyRow>> {
    api_keys::table
        .filter(api_keys::workspace_id.eq(workspace_id))
        .filter(api_keys::id.eq(id))
        .select(KeyRow::as_select())
        .first(conn)
        .optional()
}

/// Claims the one showing of a freshly issued secret: true for exactly one caller, and only
/// while `key_hash` is still the key's (active) secret. The session cookie carries the new key
/// to its reveal page; this makes that a one-time trip on the server's side too, so neither a
/// copy of the cookie nor a burst of requests with it can show the key again. One conditional
/// UPDATE: atomic on both backends, where a check followed by a write let two concurrent
/// requests on PostgreSQL both pass.
pub fn claim_reveal(
    conn: &mut DbConnection,
    key_id: i64,
    key_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let claimed = diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(key_id))
            .filter(api_keys::key_hash.eq(key_hash))
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::revealed_at.is_null()),
    )
    .set(api_keys::revealed_at.eq(Some(now)))
    .execute(conn)?;
    Ok(claimed == 1)
}

/// The name of an active key of the workspace that already has this name in any case
/// ("Billing" clashes with "billing"; names are compared as [`search_form`] folds them), or
/// `None`. Revoked and expired keys free their names. `except` skips one key, for checks about
/// an existing key.
///
/// Call it inside the write transaction that then stores the name: it first takes the
/// workspace's row lock, so a racing create or regenerate waits until this one commits. On
/// PostgreSQL (READ COMMITTED) both would otherwise find the name free; SQLite serialises
/// writers anyway.
pub fn active_name_clash(
    conn: &mut DbConnection,
    workspace_id: i64,
    name: &str,
    now: NaiveDateTime,
    except: Option<i64>,
) -> QueryResult<Option<String>> {
    crate::accounts::members::lock_workspace(conn, workspace_id)?;
    let rows: Vec<(i64, String)> = api_keys::table
        .filter(api_keys::workspace_id.eq(workspace_id))
        .filter(api_keys::search_name.eq(search_form(name)))
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
        .select((api_keys::id, api_keys::name))
        .limit(2)
        .load(conn)?;
    Ok(rows.into_iter().find(|(id, _)| Some(*id) != except).map(|(_, name)| name))
}

/// A key about to be stored: the hash of its secret, never the secret.
#[derive(Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewKey<'a> {
    pub workspace_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub prefix: &'a str,
    pub last4: &'a str,
    pub key_hash: &'a str,
    pub permissions: &'a str,
    pub expiry_rule: &'a str,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub rate_limit_per_minute: Option<i32>,
    pub rate_limit_burst: Option<i32>,
    pub allowed_ips: Option<&'a str>,
}

/// Stores a key with its `search_name`, derived here so no caller can forget it.
pub fn insert(conn: &mut DbConnection, key: &NewKey<'_>) -> QueryResult<i64> {
    diesel::insert_into(api_keys::table)
        .values((key, api_keys::search_name.eq(search_form(key.name))))
        .returning(api_keys::id)
        .get_result(conn)
}

/// Sets every key's `search_name` to [`search_form`] of its name where it differs; returns how
/// many changed. The migration that added the column could fold only with the database's
/// `lower()` (ASCII-only on SQLite), so `startup::migrate` calls this right after it.
pub fn refold_search_names(conn: &mut DbConnection) -> QueryResult<usize> {
    let rows: Vec<(i64, String, String)> =
        api_keys::table.select((api_keys::id, api_keys::name, api_keys::search_name)).load(conn)?;
    let mut changed = 0;
    for (id, name, stored) in rows {
        let folded = search_form(&name);
        if folded != stored {
            changed += diesel::update(api_keys::table.find(id))
                .set(api_keys::search_name.eq(folded))
                .execute(conn)?;
        }
    }
    Ok(changed)
}

/// Key `id` of the workspace while it is not revoked: what every change to a live key targets.
#[diesel::dsl::auto_type]
fn live_key(workspace_id: i64, id: i64) -> _ {
    api_keys::table
        .filter(api_keys::workspace_id.eq(workspace_id))
        .filter(api_keys::id.eq(id))
        .filter(api_keys::revoked_at.is_null())
}

/// Replaces a key's secret. With `old_until`, the old secret moves to `previous_key_hash` and
/// keeps verifying until then (a secret already in its grace period is dropped); without, the
/// old hash is overwritten and the old secret stops at once. Refuses (returns 0 rows) for
/// revoked keys.
pub fn regenerate(
    conn: &mut DbConnection,
    workspace_id: i64,
    id: i64,
    secret: &super::ApiKey,
    expires_at: Option<NaiveDateTime>,
    old_until: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let target = live_key(workspace_id, id);
    let moved = match old_until {
        Some(until) => diesel::update(target)
            .set((
                api_keys::previous_key_hash.eq(api_keys::key_hash.nullable()),
                api_keys::previous_last4.eq(api_keys::last4.nullable()),
                api_keys::previous_expires_at.eq(Some(until)),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                api_keys::previous_key_hash.eq(None::<String>),
                api_keys::previous_last4.eq(None::<String>),
                api_keys::previous_expires_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?,
    };
    if moved == 0 {
        return Ok(0);
    }
    diesel::update(live_key(workspace_id, id))
        .set((
            api_keys::key_hash.eq(secret.hash().as_str()),
            api_keys::prefix.eq(secret.prefix()),
            api_keys::last4.eq(secret.last4()),
            api_keys::expires_at.eq(expires_at),
            api_keys::regenerated_at.eq(Some(now)),
            // The new secret has not been shown yet.
            api_keys::revealed_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

/// What an edit sets on a key (every field, as the edit form submits them all).
pub struct KeyEdit<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub permissions: &'a str,
    pub rate_limit_per_minute: Option<i32>,
    pub rate_limit_burst: Option<i32>,
    pub allowed_ips: Option<&'a str>,
}

/// Edits a live key's name, description, permissions, limits and IP allowlist; 0 rows when it
/// is missing or revoked.
pub fn edit(conn: &mut DbConnection, workspace_id: i64, id: i64, e: &KeyEdit<'_>) -> QueryResult<usize> {
    diesel::update(live_key(workspace_id, id))
        .set((
            api_keys::name.eq(e.name),
            api_keys::search_name.eq(search_form(e.name)),
            api_keys::description.eq(e.description),
            api_keys::permissions.eq(e.permissions),
            api_keys::rate_limit_per_minute.eq(e.rate_limit_per_minute),
            api_keys::rate_limit_burst.eq(e.rate_limit_burst),
            api_keys::allowed_ips.eq(e.allowed_ips),
        ))
        .execute(conn)
}

/// Disables (`Some((by, now))`) or enables (`None`) a live key; 0 rows when it is missing,
/// revoked or already in that state.
pub fn set_disabled(
    conn: &mut DbConnection,
    workspace_id: i64,
    id: i64,
    disabled: Option<(Option<i64>, NaiveDateTime)>,
) -> QueryResult<usize> {
    let target = live_key(workspace_id, id);
    match disabled {
        Some((by, now)) => diesel::update(target.filter(api_keys::disabled_at.is_null()))
            .set((api_keys::disabled_at.eq(Some(now)), api_keys::disabled_by.eq(by)))
            .execute(conn),
        None => diesel::update(target.filter(api_keys::disabled_at.is_not_null()))
            .set((api_keys::disabled_at.eq(None::<NaiveDateTime>), api_keys::disabled_by.eq(None::<i64>)))
            .execute(conn),
    }
}

/// Marks a key revoked by `by` (a user, or `None` for the system) at `now`; a key already
/// revoked keeps its first revocation. A replaced secret still in its grace period stops with
/// it: the verifier finds it on the same row, revoked.
pub fn revoke(
    conn: &mut DbConnection,
    workspace_id: i64,
    id: i64,
    by: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(live_key(workspace_id, id))
        .set((api_keys::revoked_at.eq(Some(now)), api_keys::revoked_by.eq(by)))
        .execute(conn)
}

/// Removes a key (its usage rows go with it; its audit events stay).
pub fn delete(conn: &mut DbConnection, workspace_id: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(
        api_keys::table.filter(api_keys::workspace_id.eq(workspace_id)).filter(api_keys::id.eq(id)),
    )
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_wildcards_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn insight_filters_read_back_and_unknown_ones_are_none() {
        for f in InsightFilter::ALL {
            assert_eq!(InsightFilter::parse(f.as_str()), f);
        }
        assert_eq!(InsightFilter::parse("bogus"), InsightFilter::None);
        assert_eq!(InsightFilter::parse(""), InsightFilter::None);
    }

    #[test]
    fn unknown_status_filters_read_as_all() {
        assert_eq!(StatusFilter::parse("revoked"), StatusFilter::Revoked);
        assert_eq!(StatusFilter::parse("bogus"), StatusFilter::All);
        for f in StatusFilter::ALL {
            assert_eq!(StatusFilter::parse(f.as_str()), f);
        }
    }

    #[test]
    fn environment_filters_read_back_and_unknown_ones_are_all() {
        assert_eq!(EnvFilter::parse("test"), EnvFilter::Only(Environment::Test));
        assert_eq!(EnvFilter::parse("bogus"), EnvFilter::All);
        for f in EnvFilter::ALL {
            assert_eq!(EnvFilter::parse(f.as_str()), f);
        }
    }
}
