//! A workspace's key policy, set by its owners on *Settings → Policies*: how long a key may
//! live at most, whether every key must expire, after how many idle days a key is revoked,
//! who may make keys with full access, and what a leak report does to a key (revoke or
//! disable it).
//!
//! The rules are pure ([`Policy::allows_expiry`], [`Policy::allows_full_access`], and what the
//! forms offer: [`Policy::offered_presets`], [`Policy::offers_never`],
//! [`Policy::latest_date`]; and [`Policy::clamp`], a regenerated key's expiry under it); [`read`] and [`write`] keep the policy in the workspace's row.
//! Key operations read the policy inside their own transaction ([`check_new_key`]), so a form,
//! an API and a script meet the same rule at the same moment.

use chrono::{Days, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::expiry::{DEFAULT_DAYS, Expiry, PRESET_DAYS, latest_custom_date};
use crate::accounts::{Role, members};
use crate::db::DbConnection;
use crate::db::schema::workspaces;
use crate::text::day_in_words;

/// The longest maximum lifetime a policy may set, in days.
pub const MAX_LIFETIME_LIMIT: u32 = 365;
/// The maximum lifetimes the policies page offers besides "no maximum" and a number of days.
pub const LIFETIME_CHOICES: [u32; 6] = [7, 30, 60, 90, 180, 365];
/// How long before an idle key is revoked its creator and the owners are warned, in days.
pub const UNUSED_WARNING_DAYS: u32 = 7;
/// The fewest idle days a policy may revoke keys after: the warning must come after at least
/// one idle day.
pub const UNUSED_MIN_DAYS: u32 = UNUSED_WARNING_DAYS + 1;
/// The most idle days a policy may name (ten years).
pub const UNUSED_MAX_DAYS: u32 = 3650;

/// Who may create (or widen a key to) full access.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FullAccessBy {
    /// Owners only.
    Owners,
    /// Owners and admins (the default).
    #[default]
    Admins,
}

impl FullAccessBy {
    /// The stored form (`workspaces.full_access_keys_by`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owners => "owners",
            Self::Admins => "admins",
        }
    }

    /// Reads the stored form; anything unknown reads as the stricter rule.
    pub fn parse(s: &str) -> Self {
        match s {
            "admins" => Self::Admins,
            _ => Self::Owners,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Owners => "owners only",
            Self::Admins => "owners and admins",
        }
    }
}

/// What a leak report (`POST /api/v1/leaks`) does to a reported key of the workspace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeakAction {
    /// Revoke it (the default): final, the secret never works again.
    #[default]
    Revoke,
    /// Disable it: it stops at once, and an owner who finds the report mistaken may enable it.
    Disable,
}

impl LeakAction {
    /// The stored form (`workspaces.key_leak_action`) and the form's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoke => "revoke",
            Self::Disable => "disable",
        }
    }

    /// Reads the stored form; anything unknown reads as the final rule, revoking.
    pub fn parse(s: &str) -> Self {
        match s {
            "disable" => Self::Disable,
            _ => Self::Revoke,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Revoke => "revoke it",
            Self::Disable => "disable it",
        }
    }
}

/// A workspace's key policy. The default is no rule at all (and leaked keys revoked).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Keys live at most this many days (1 to [`MAX_LIFETIME_LIMIT`]).
    pub max_lifetime_days: Option<u32>,
    /// Every key must have an expiration date.
    pub expiry_required: bool,
    /// Keys unused for this many days are revoked (at least [`UNUSED_MIN_DAYS`]).
    pub unused_revoke_days: Option<u32>,
    pub full_access_by: FullAccessBy,
    /// What a leak report does to a reported key.
    pub leak_action: LeakAction,
}

/// Why a policy refuses a key. Each message names the rule and what to choose instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error(
        "This workspace\u{2019}s policy allows keys to live at most {}. Choose {} or less, or a date up to {}.",
        days_in_words(*.days), days_in_words(*.days), day_in_words(*.latest)
    )]
    MaxLifetime { days: u32, latest: NaiveDate },
    #[error(
        "This workspace\u{2019}s policy requires every key to have an expiration date. Choose a period or a date."
    )]
    ExpiryRequired,
    #[error(
        "This workspace\u{2019}s policy lets only owners give a key full access. Choose the permissions the key needs, or ask an owner."
    )]
    FullAccessOwnersOnly,
}

impl PolicyRefusal {
    /// A stable machine-readable code, for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MaxLifetime { .. } => "policy_max_lifetime",
            Self::ExpiryRequired => "policy_expiry_required",
            Self::FullAccessOwnersOnly => "policy_full_access_owners_only",
        }
    }
}

/// `1 day`, `30 days`.
pub fn days_in_words(days: u32) -> String {
    if days == 1 { "1 day".to_owned() } else { format!("{days} days") }
}

impl Policy {
    /// Whether a key may be given this expiry now: never when a maximum is set or an
    /// expiration is required; a preset or a date no further than the maximum.
    pub fn allows_expiry(&self, expiry: &Expiry, now: NaiveDateTime) -> Result<(), PolicyRefusal> {
        let too_long = |days| PolicyRefusal::MaxLifetime { days, latest: self.latest_date(now.date()) };
        match (*expiry, self.max_lifetime_days) {
            (Expiry::Never, Some(max)) => Err(too_long(max)),
            (Expiry::Never, None) if self.expiry_required => Err(PolicyRefusal::ExpiryRequired),
            (Expiry::Days(d), Some(max)) if d > max => Err(too_long(max)),
            (Expiry::Until(date), Some(max)) if date > self.latest_date(now.date()) => Err(too_long(max)),
            _ => Ok(()),
        }
    }

    /// Whether someone with `role` may give a key full access. `None` is the system (a
    /// scheduled rule, an operator's command), which no policy restricts.
    pub fn allows_full_access(&self, role: Option<Role>) -> Result<(), PolicyRefusal> {
        match (self.full_access_by, role) {
            (FullAccessBy::Owners, Some(role)) if role != Role::Owner => {
                Err(PolicyRefusal::FullAccessOwnersOnly)
            }
            _ => Ok(()),
        }
    }

    /// The expiry presets (in days) a form offers under this policy.
    pub fn offered_presets(&self) -> Vec<u32> {
        PRESET_DAYS.into_iter().filter(|d| self.max_lifetime_days.is_none_or(|max| *d <= max)).collect()
    }

    /// Whether a form offers "No expiration".
    pub fn offers_never(&self) -> bool {
        self.max_lifetime_days.is_none() && !self.expiry_required
    }

    /// The last day a custom expiry date may name from `today`: one year ahead, or the day
    /// the maximum lifetime ends on when that is sooner.
    pub fn latest_date(&self, today: NaiveDate) -> NaiveDate {
        let year = latest_custom_date(today);
        match self.max_lifetime_days {
            Some(max) => year.min(today.checked_add_days(Days::new(u64::from(max))).unwrap_or(year)),
            None => year,
        }
    }

    /// Whether a form offers full access to someone with `role`.
    pub fn offers_full_access(&self, role: Role) -> bool {
        self.allows_full_access(Some(role)).is_ok()
    }

    /// The expiry rule in one sentence, for the hint beside the key form's expiration; `None`
    /// when the policy leaves expiry free.
    pub fn expiry_hint(&self) -> Option<String> {
        let rule = match self.max_lifetime_days {
            Some(max) => format!("keys expire within {}", days_in_words(max)),
            None if self.expiry_required => "every key must have an expiration date".to_owned(),
            None => return None,
        };
        Some(format!("This workspace\u{2019}s policy: {rule}."))
    }

    /// The expiry a regenerated key gets under this policy: its own rule, or the longest the
    /// policy allows when the rule (set before the policy) asks for more. A rotation is how a
    /// leaked key is replaced, so the policy shortens it rather than refusing it. `None` when
    /// the rule is within the policy.
    pub fn clamp(&self, expiry: &Expiry, now: NaiveDateTime) -> Option<Expiry> {
        self.allows_expiry(expiry, now).err()?;
        Some(match (self.max_lifetime_days, *expiry) {
            (Some(_), Expiry::Until(_)) => Expiry::Until(self.latest_date(now.date())),
            (Some(max), _) => Expiry::Days(max),
            (None, _) => Expiry::Days(DEFAULT_DAYS),
        })
    }

    /// Each rule in words, for the audit log's before → after.
    pub fn describe(&self) -> [(&'static str, String); 5] {
        [
            ("Maximum key lifetime", self.max_lifetime_days.map_or_else(|| "none".to_owned(), days_in_words)),
            ("Expiration required", if self.expiry_required { "yes" } else { "no" }.to_owned()),
            (
                "Revoke keys unused for",
                self.unused_revoke_days.map_or_else(|| "off".to_owned(), days_in_words),
            ),
            ("Full-access keys by", self.full_access_by.label().to_owned()),
            ("When a key is reported leaked", self.leak_action.label().to_owned()),
        ]
    }

    /// What changed from `before` to `self`, as `Rule: before → after` lines joined by `; `
    /// (empty when nothing did).
    pub fn changes_from(&self, before: &Policy) -> String {
        before
            .describe()
            .into_iter()
            .zip(self.describe())
            .filter(|((_, b), (_, a))| a != b)
            .map(|((rule, b), (_, a))| format!("{rule}: {b} \u{2192} {a}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn to_days(stored: Option<i32>) -> Option<u32> {
    stored.and_then(|d| u32::try_from(d).ok()).filter(|d| *d > 0)
}

fn to_stored(days: Option<u32>) -> Option<i32> {
    days.and_then(|d| i32::try_from(d).ok())
}

/// The policy columns of a workspace's row: maximum lifetime, expiry required since, unused
/// days, full access by, leak action.
type StoredPolicy = (Option<i32>, Option<NaiveDateTime>, Option<i32>, String, String);

/// The workspace's policy (the default for a missing workspace).
pub fn read(conn: &mut DbConnection, workspace_id: i64) -> QueryResult<Policy> {
    let row: Option<StoredPolicy> = workspaces::table
        .find(workspace_id)
        .select((
            workspaces::key_max_lifetime_days,
            workspaces::key_expiry_required_at,
            workspaces::key_unused_revoke_days,
            workspaces::full_access_keys_by,
            workspaces::key_leak_action,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map_or_else(Policy::default, |(max, required_at, unused, by, leak)| Policy {
        max_lifetime_days: to_days(max),
        expiry_required: required_at.is_some(),
        unused_revoke_days: to_days(unused),
        full_access_by: FullAccessBy::parse(&by),
        leak_action: LeakAction::parse(&leak),
    }))
}

/// Stores the workspace's policy. Requiring an expiration records since when (kept while it
/// stays on).
pub fn write(
    conn: &mut DbConnection,
    workspace_id: i64,
    policy: &Policy,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let required_at: Option<NaiveDateTime> =
        workspaces::table.find(workspace_id).select(workspaces::key_expiry_required_at).first(conn)?;
    let required_at = if policy.expiry_required { Some(required_at.unwrap_or(now)) } else { None };
    diesel::update(workspaces::table.find(workspace_id))
        .set((
            workspaces::key_max_lifetime_days.eq(to_stored(policy.max_lifetime_days)),
            workspaces::key_expiry_required_at.eq(required_at),
            workspaces::key_unused_revoke_days.eq(to_stored(policy.unused_revoke_days)),
            workspaces::full_access_keys_by.eq(policy.full_access_by.as_str()),
            workspaces::key_leak_action.eq(policy.leak_action.as_str()),
        ))
        .execute(conn)
        .map(drop)
}

/// The role of `user_id` in the workspace; `None` for the system (no user) and for someone
/// who is no longer a member (who then gets the strictest answer from [`Policy`] checks that
/// name a role: see [`check_new_key`]).
fn role_of(conn: &mut DbConnection, workspace_id: i64, user_id: Option<i64>) -> QueryResult<Option<Role>> {
    let Some(user_id) = user_id else { return Ok(None) };
    Ok(Some(members::find(conn, workspace_id, user_id)?.map_or(Role::Viewer, |m| m.role)))
}

/// The workspace's policy applied to a key about to be made (or given a new expiry or full
/// access) by `user_id` (`None`: the system): `Ok(Err(refusal))` when the policy refuses it.
/// Call it inside the transaction that stores the key, so the policy read is the one in force.
pub fn check_new_key(
    conn: &mut DbConnection,
    workspace_id: i64,
    user_id: Option<i64>,
    expiry: Option<&Expiry>,
    full_access: bool,
    now: NaiveDateTime,
) -> QueryResult<Result<(), PolicyRefusal>> {
    let policy = read(conn, workspace_id)?;
    if let Some(expiry) = expiry
        && let Err(refusal) = policy.allows_expiry(expiry, now)
    {
        return Ok(Err(refusal));
    }
    if full_access && policy.full_access_by == FullAccessBy::Owners {
        let role = role_of(conn, workspace_id, user_id)?;
        return Ok(policy.allows_full_access(role));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_opt(15, 30, 0).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn max(days: u32) -> Policy {
        Policy { max_lifetime_days: Some(days), ..Policy::default() }
    }

    #[test]
    fn no_policy_allows_everything() {
        let p = Policy::default();
        for e in [Expiry::Never, Expiry::Days(180), Expiry::Until(day(2027, 12, 2))] {
            assert_eq!(p.allows_expiry(&e, now()), Ok(()));
        }
        assert_eq!(p.allows_full_access(Some(Role::Admin)), Ok(()));
        assert_eq!(p.offered_presets(), PRESET_DAYS);
        assert!(p.offers_never());
        assert_eq!(p.latest_date(now().date()), day(2027, 12, 2));
        assert_eq!(p.expiry_hint(), None);
        assert_eq!(p.clamp(&Expiry::Never, now()), None);
    }

    #[test]
    fn a_maximum_refuses_longer_presets_later_dates_and_never() {
        let p = max(30);
        assert_eq!(p.allows_expiry(&Expiry::Days(30), now()), Ok(()));
        assert_eq!(p.allows_expiry(&Expiry::Days(7), now()), Ok(()));
        let refusal = PolicyRefusal::MaxLifetime { days: 30, latest: day(2027, 1, 1) };
        assert_eq!(p.allows_expiry(&Expiry::Days(90), now()), Err(refusal.clone()));
        assert_eq!(p.allows_expiry(&Expiry::Never, now()), Err(refusal.clone()));
        // A date: up to the day the 30-day preset ends on.
        assert_eq!(p.allows_expiry(&Expiry::Until(day(2027, 1, 1)), now()), Ok(()));
        assert_eq!(p.allows_expiry(&Expiry::Until(day(2027, 1, 2)), now()), Err(refusal.clone()));
        assert_eq!(
            refusal.to_string(),
            "This workspace\u{2019}s policy allows keys to live at most 30 days. Choose 30 days or less, \
             or a date up to 1 Jan 2027."
        );
        assert_eq!(refusal.code(), "policy_max_lifetime");
    }

    #[test]
    fn forms_offer_only_what_the_maximum_allows() {
        assert_eq!(max(30).offered_presets(), [7, 30]);
        assert_eq!(max(45).offered_presets(), [7, 30]);
        assert_eq!(max(3).offered_presets(), Vec::<u32>::new());
        assert_eq!(max(365).offered_presets(), PRESET_DAYS);
        assert!(!max(365).offers_never());
        assert_eq!(max(30).latest_date(now().date()), day(2027, 1, 1));
        // Never beyond one year ahead, whatever the maximum.
        assert_eq!(max(365).latest_date(day(2027, 3, 1)), day(2028, 2, 29));
        assert_eq!(max(365).latest_date(now().date()), day(2027, 12, 2));
        assert_eq!(
            max(30).expiry_hint().as_deref(),
            Some("This workspace\u{2019}s policy: keys expire within 30 days.")
        );
    }

    #[test]
    fn requiring_an_expiration_refuses_only_never() {
        let p = Policy { expiry_required: true, ..Policy::default() };
        assert_eq!(p.allows_expiry(&Expiry::Never, now()), Err(PolicyRefusal::ExpiryRequired));
        assert_eq!(p.allows_expiry(&Expiry::Days(180), now()), Ok(()));
        assert_eq!(p.allows_expiry(&Expiry::Until(day(2027, 12, 2)), now()), Ok(()));
        assert!(!p.offers_never());
        assert_eq!(p.offered_presets(), PRESET_DAYS);
        assert_eq!(PolicyRefusal::ExpiryRequired.code(), "policy_expiry_required");
    }

    #[test]
    fn full_access_by_owners_only_refuses_admins_but_not_owners_or_the_system() {
        let p = Policy { full_access_by: FullAccessBy::Owners, ..Policy::default() };
        assert_eq!(p.allows_full_access(Some(Role::Admin)), Err(PolicyRefusal::FullAccessOwnersOnly));
        assert_eq!(p.allows_full_access(Some(Role::Viewer)), Err(PolicyRefusal::FullAccessOwnersOnly));
        assert_eq!(p.allows_full_access(Some(Role::Owner)), Ok(()));
        assert_eq!(p.allows_full_access(None), Ok(()));
        assert!(!p.offers_full_access(Role::Admin) && p.offers_full_access(Role::Owner));
        assert_eq!(PolicyRefusal::FullAccessOwnersOnly.code(), "policy_full_access_owners_only");
        assert_eq!(p.expiry_hint(), None);
    }

    #[test]
    fn a_regenerated_key_is_shortened_to_what_the_policy_allows() {
        let p = max(30);
        assert_eq!(p.clamp(&Expiry::Days(30), now()), None);
        assert_eq!(p.clamp(&Expiry::Days(90), now()), Some(Expiry::Days(30)));
        assert_eq!(p.clamp(&Expiry::Never, now()), Some(Expiry::Days(30)));
        assert_eq!(p.clamp(&Expiry::Until(day(2027, 6, 1)), now()), Some(Expiry::Until(day(2027, 1, 1))));
        let required = Policy { expiry_required: true, ..Policy::default() };
        assert_eq!(required.clamp(&Expiry::Never, now()), Some(Expiry::Days(DEFAULT_DAYS)));
        assert_eq!(required.clamp(&Expiry::Days(180), now()), None);
        assert_eq!(
            required.expiry_hint().as_deref(),
            Some("This workspace\u{2019}s policy: every key must have an expiration date.")
        );
    }

    #[test]
    fn changes_are_described_before_and_after() {
        let before = Policy::default();
        let after = Policy {
            max_lifetime_days: Some(30),
            unused_revoke_days: Some(90),
            full_access_by: FullAccessBy::Owners,
            leak_action: LeakAction::Disable,
            ..before
        };
        assert_eq!(
            after.changes_from(&before),
            "Maximum key lifetime: none \u{2192} 30 days; Revoke keys unused for: off \u{2192} 90 days; \
             Full-access keys by: owners and admins \u{2192} owners only; \
             When a key is reported leaked: revoke it \u{2192} disable it"
        );
        assert_eq!(after.changes_from(&after), "");
    }

    #[test]
    fn stored_values_read_back() {
        for by in [FullAccessBy::Owners, FullAccessBy::Admins] {
            assert_eq!(FullAccessBy::parse(by.as_str()), by);
        }
        assert_eq!(FullAccessBy::parse("garbage"), FullAccessBy::Owners);
        for action in [LeakAction::Revoke, LeakAction::Disable] {
            assert_eq!(LeakAction::parse(action.as_str()), action);
        }
        assert_eq!(LeakAction::parse("garbage"), LeakAction::Revoke);
        assert_eq!(Policy::default().leak_action, LeakAction::Revoke);
        assert_eq!(to_days(Some(0)), None);
        assert_eq!(to_days(Some(-3)), None);
        assert_eq!(to_days(Some(30)), Some(30));
    }
}
