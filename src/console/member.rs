//! The signed-in member of the current workspace, extracted once per request.
//! Authorization lives here: handlers call [`Member::require`] with a capability.

use std::sync::atomic::Ordering;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{NaiveDateTime, TimeDelta, Utc};
use futures_util::future::LocalBoxFuture;

use super::error::ConsoleError;
use crate::accounts::store::{self, WorkspaceMembership};
use crate::accounts::two_factor;
use crate::accounts::{Capability, Role};
use crate::audit::Actor;
use crate::db::DbError;
use crate::state::AppState;

/// Who is acting, in which workspace, with which role.
#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub session_id: String,
    pub workspace_id: i64,
    pub workspace_name: String,
    pub role: Role,
    /// Every workspace the user belongs to, for the switcher.
    pub workspaces: Vec<WorkspaceMembership>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When this session last proved who the user is (`console::sudo`).
    pub confirmed_at: Option<NaiveDateTime>,
    /// The current workspace requires two-factor sign-in and the user has not set it up:
    /// [`Member`] refuses every page; only [`SignedIn`] pages (enrolment, switching) go on.
    pub two_factor_due: bool,
}

/// The signed-in member, even while their workspace waits for them to set up two-factor
/// sign-in: for the few pages they still need then (the enrolment page, switching workspace).
pub struct SignedIn(pub Member);

/// A signed-in account, whether or not it still belongs to a workspace: one whose every
/// membership was removed can still sign in, and do one thing, accept an invitation.
#[derive(Clone, Debug)]
pub struct Account {
    pub user_id: i64,
    pub email: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Account {
    /// The audit log's view of this account.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            label: self.email.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

impl Member {
    pub fn can(&self, cap: Capability) -> bool {
        self.role.can(cap)
    }

    /// 403 unless the member's role grants `cap`.
    pub fn require(&self, cap: Capability) -> Result<(), ConsoleError> {
        if self.can(cap) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(match cap {
                Capability::ManageKeys => {
                    "Your role in this workspace is read-only. Ask an owner or admin to manage keys."
                }
                Capability::ManageMembers => "Only owners of this workspace can manage members.",
                Capability::ManagePolicies => "Only owners of this workspace can change its policies.",
                Capability::ManageWebhooks => "Only owners of this workspace can manage its webhooks.",
                Capability::ManageTokens => "Only owners of this workspace can manage its management tokens.",
                Capability::ViewKeys => "You cannot view this workspace.",
            }))
        }
    }

    /// The account behind the membership.
    pub fn account(&self) -> Account {
        Account {
            user_id: self.user_id,
            email: self.email.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }

    /// The audit log's view of this member.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            label: self.email.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// The client's address and user agent, as the audit log and the sign-in throttle see them.
pub fn client_of(req: &HttpRequest) -> (Option<std::net::IpAddr>, Option<String>) {
    let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered");
    let ip = crate::web::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let ua = req.headers().get("user-agent").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (ip, ua)
}

/// `last_seen_at` is written at most this often, so browsing is not a stream of writes.
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(60);

enum Loaded {
    NoSession,
    Member(Box<Member>, bool),
    /// A valid session of an account that belongs to no workspace.
    NoWorkspace(Account),
}

impl FromRequest for Member {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let member = load(&req).await?.map_err(|_| ConsoleError::NoWorkspace)?;
            if member.two_factor_due {
                let message = format!(
                    "{} requires two-factor sign-in. Set it up to continue working there.",
                    member.workspace_name
                );
                super::flash::push(&req.get_session(), super::flash::Level::Error, message);
                return Err(ConsoleError::TwoFactorSetupRequired);
            }
            Ok(member)
        })
    }
}

impl FromRequest for SignedIn {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(SignedIn(load(&req).await?.map_err(|_| ConsoleError::NoWorkspace)?)) })
    }
}

/// Whoever is signed in: a member of a workspace, or an account that belongs to none.
pub enum Visitor {
    Member(Box<Member>),
    Account(Account),
}

impl Visitor {
    /// The member, when the account belongs to a workspace.
    pub fn member(&self) -> Option<&Member> {
        match self {
            Self::Member(m) => Some(m),
            Self::Account(_) => None,
        }
    }

    pub fn account(&self) -> Account {
        match self {
            Self::Member(m) => m.account(),
            Self::Account(a) => a.clone(),
        }
    }

    pub fn email(&self) -> &str {
        match self {
            Self::Member(m) => &m.email,
            Self::Account(a) => &a.email,
        }
    }
}

impl FromRequest for Visitor {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            Ok(match load(&req).await? {
                Ok(member) => Self::Member(Box::new(member)),
                Err(account) => Self::Account(account),
            })
        })
    }
}

/// The session's member, or the account alone when it belongs to no workspace.
async fn load(req: &HttpRequest) -> Result<Result<Member, Account>, ConsoleError> {
    let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone();
    let session = req.get_session();
    let next = match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    };
    let user_id: Option<i64> = session.get("uid").ok().flatten();
    let sid: Option<String> = session.get("sid").ok().flatten();
    let ws: Option<i64> = session.get("ws").ok().flatten();
    let (Some(user_id), Some(sid)) = (user_id, sid) else {
        return Err(if has_users(&state).await? {
            ConsoleError::SignInRequired { next }
        } else {
            ConsoleError::SetupRequired
        });
    };
    let (ip, user_agent) = client_of(req);
    let ip = ip.map(|c| c.to_string());
    let settings = state.settings.clone();
    let now = Utc::now().naive_utc();
    let loaded = state
        .db
        .run(move |conn| -> Result<Loaded, DbError> {
            let Some(row) = store::find_session(conn, &sid)? else { return Ok(Loaded::NoSession) };
            let idle = TimeDelta::from_std(settings.session_idle_timeout).unwrap_or(TimeDelta::hours(12));
            let absolute =
                TimeDelta::from_std(settings.session_absolute_timeout).unwrap_or(TimeDelta::days(7));
            if row.user_id != user_id || row.revoked_at.is_some() || expired(&row, now, idle, absolute) {
                return Ok(Loaded::NoSession);
            }
            let Some(user) = store::find_user(conn, user_id)? else { return Ok(Loaded::NoSession) };
            if now - row.last_seen_at > TOUCH_EVERY {
                store::touch_session(conn, &sid, now)?;
            }
            let workspaces = store::memberships_of(conn, user_id)?;
            let Some(current) = workspaces
                .iter()
                .find(|m| Some(m.workspace_id) == ws)
                .or_else(|| workspaces.first())
                .cloned()
            else {
                return Ok(Loaded::NoWorkspace(Account { user_id, email: user.email, ip, user_agent }));
            };
            let two_factor_due = two_factor::store::enrolment_due(conn, user_id, current.workspace_id)?;
            let switched = Some(current.workspace_id) != ws;
            Ok(Loaded::Member(
                Box::new(Member {
                    user_id,
                    email: user.email,
                    session_id: sid,
                    workspace_id: current.workspace_id,
                    workspace_name: current.workspace_name,
                    role: current.role,
                    workspaces,
                    ip,
                    user_agent,
                    confirmed_at: row.confirmed_at,
                    two_factor_due,
                }),
                switched,
            ))
        })
        .await?;
    match loaded {
        Loaded::NoSession => {
            session.purge();
            Err(ConsoleError::SignInRequired { next })
        }
        Loaded::Member(m, switched) => {
            if switched {
                // The remembered workspace is gone (membership removed): fall back.
                let _ = session.insert("ws", m.workspace_id);
            }
            Ok(Ok(*m))
        }
        Loaded::NoWorkspace(account) => Ok(Err(account)),
    }
}

fn expired(row: &store::SessionRow, now: NaiveDateTime, idle: TimeDelta, absolute: TimeDelta) -> bool {
    now - row.last_seen_at > idle || now - row.created_at > absolute
}

/// Whether setup has happened. Once true it stays true, so the query runs only until then.
pub async fn has_users(state: &AppState) -> Result<bool, ConsoleError> {
    if state.has_users.load(Ordering::Relaxed) {
        return Ok(true);
    }
    let exists = state.db.run(|conn| store::any_user_exists(conn).map_err(DbError::from)).await?;
    if exists {
        state.has_users.store(true, Ordering::Relaxed);
    }
    Ok(exists)
}
